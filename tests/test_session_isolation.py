"""Two students on one server never see each other's things: an uploaded picture, a trained model.

Real browser, two browser contexts (two students), one server with its own session-model folder.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.conftest import StreamlitServer, wait_for_app_idle

pytestmark = pytest.mark.system  # students on one server, each in a browser

SESSION_MARK = "(trained this session)"  # core.infer.runtime.ModelEntry.label of a session's own model
SLOW_MS = 90_000  # a loaded 2-core machine renders slowly


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    models = tmp_path_factory.mktemp("session-models")
    srv = StreamlitServer(env={"CONVLAB_SESSION_MODELS": str(models), "CONVLAB_TRAIN_SUBSET": "300"})
    srv.models = models
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def two_students(browser):
    a = browser.new_context(viewport={"width": 1400, "height": 1000})
    b = browser.new_context(viewport={"width": 1400, "height": 1000})
    pages = a.new_page(), b.new_page()
    for pg in pages:
        pg.set_default_timeout(SLOW_MS)
    try:
        yield pages
    finally:
        a.close()
        b.close()


def _choose(page, label: str, option: str) -> None:
    page.locator("[data-testid='stSelectbox']").filter(has_text=label).first.click()
    page.get_by_role("option", name=option).click()


def _model_options(page) -> list[str]:
    """Open the draw page's model picker and read its options."""
    page.locator("[data-testid='stSelectbox']").filter(has_text="Model").first.click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible(timeout=SLOW_MS)
    texts = [t.strip() for t in options.all_inner_texts()]
    page.keyboard.press("Escape")
    return texts


def _png(name: str, tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    path = tmp_path / name
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (48, 64), dtype=np.uint8)).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.browser
def test_an_upload_stays_in_the_session_that_uploaded_it(server, two_students, tmp_path) -> None:
    a, b = two_students
    a.goto(f"{server.url}/filters")
    wait_for_app_idle(a, SLOW_MS)
    _choose(a, "Image", "Upload your own…")
    expect(a.get_by_text("Until you upload a picture, the landscape is shown.")).to_be_visible(timeout=SLOW_MS)
    wait_for_app_idle(a, SLOW_MS)  # the uploader is drawn by a finished run, not replaced mid-upload
    a.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(_png("only-for-a.png", tmp_path))
    expect(a.get_by_text("Using “only-for-a.png” (PNG, 64×48)")).to_be_visible(timeout=SLOW_MS)

    b.goto(f"{server.url}/filters")
    wait_for_app_idle(b, SLOW_MS)
    _choose(b, "Image", "Upload your own…")
    expect(b.get_by_text("Until you upload a picture, the landscape is shown.")).to_be_visible(timeout=SLOW_MS)
    wait_for_app_idle(b, SLOW_MS)
    expect(b.get_by_text("only-for-a.png")).to_have_count(0)
    expect(a.get_by_text("Using “only-for-a.png”")).to_have_count(1)  # A still has it


@pytest.mark.browser
@pytest.mark.slow
def test_a_trained_model_is_offered_only_to_the_session_that_trained_it(server, two_students) -> None:
    a, b = two_students
    b.goto(f"{server.url}/draw")
    wait_for_app_idle(b, SLOW_MS)
    shipped = _model_options(b)
    assert shipped and not any(SESSION_MARK in o for o in shipped)

    a.goto(f"{server.url}/train?arch=linear&ep=1")
    expect(a.get_by_text("1 · Architecture")).to_be_visible(timeout=SLOW_MS)
    wait_for_app_idle(a, SLOW_MS)
    a.get_by_role("button", name="Train").click()
    expect(a.get_by_text("4 · Results")).to_be_visible(timeout=SLOW_MS)
    a.get_by_role("button", name="Export to ONNX").click()
    expect(a.get_by_text(": pick it on the Draw page")).to_be_visible(timeout=SLOW_MS)
    assert len(list(Path(server.models).glob("*/*.onnx"))) == 1

    a.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Draw a digit").click()
    expect(a).to_have_url(re.compile(r"/draw(\?|$)"), timeout=SLOW_MS)
    wait_for_app_idle(a, SLOW_MS)
    mine = _model_options(a)
    assert [o for o in mine if SESSION_MARK in o], mine  # A is offered its own model...

    b.reload()
    wait_for_app_idle(b, SLOW_MS)
    assert _model_options(b) == shipped  # ...B, on the same server, is not
