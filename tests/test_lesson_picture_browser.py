"""The lesson picture in a real Chromium: hovering output cells reads core's numbers, and the picture and a
control are on the first screen of the Arithmetic and Pooling lessons at 1280×900 and on a 390×844 phone."""

from __future__ import annotations

import numpy as np
import pytest

from core.lessons import conv_picture
from core.lessons.picture import fmt
from tests.conftest import wait_for_app_idle
from tests.picture_checks import hover_readout
from ui.arithmetic_views import ArithmeticSettings
from ui.lesson_picture import CANVAS

pytestmark = pytest.mark.browser

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True},
}
CONTROLS = "[data-testid='stSlider'], [data-testid='stRadio'], [data-testid='stCheckbox']"


def test_hovering_arithmetic_output_cells_shows_core_numbers(module_server, page):
    """Three output cells of a layer with padding, stride 2 and dilation 2: the window values, their products
    with the kernel and the sum, as core computes them, with no script run."""
    cfg = ArithmeticSettings(h=9, k=3, s=2, p=2, d=2)
    page.goto(f"{module_server.url}/arithmetic?h=9&k=3&s=2&p=2&d=2")
    wait_for_app_idle(page)
    canvas = page.locator(CANVAS).first
    canvas.wait_for()
    shape = cfg.spec().shape(cfg.in_hw)
    x, kernel = conv_picture.example_layer(shape)
    pic = conv_picture.conv_picture(shape, x, kernel, 0)
    data = pic.payload()
    page.evaluate("""() => { window.__runs = 0; const app = document.querySelector('[data-testid="stApp"]');
        new MutationObserver(() => { if (app.getAttribute('data-test-script-state') === 'running') window.__runs++; })
          .observe(app, {attributes: true}); }""")
    padded = np.pad(x, 2)
    oh, ow = shape.out_hw
    for step in (0, ow + 1, oh * ow - 1):
        r, c = divmod(step, ow)
        window = padded[2 * r:2 * r + 5:2, 2 * c:2 * c + 5:2]  # dilation 2: every other cell
        seen = hover_readout(page, canvas, data, step)
        assert seen["window"] == [fmt(v) for v in window.ravel()]
        assert seen["products"] == [fmt(v) for v in (window * kernel).ravel()]
        assert seen["result"] == f"sum = {fmt((window * kernel).sum())}"
    assert page.evaluate("window.__runs") == 0


def test_a_click_selects_the_cell_through_the_server(module_server, page):
    page.goto(f"{module_server.url}/arithmetic?h=5&k=3&s=2&p=1&step=0")
    wait_for_app_idle(page)
    canvas = page.locator(CANVAS).first
    canvas.wait_for()
    box = canvas.evaluate("""(canvas) => { const st = canvas.closest('.lp-root').__lp;
        const b = st.lay.boxes[2]; return {x: b.x, y: b.y, cell: st.lay.cell}; }""")
    origin = canvas.bounding_box()
    page.mouse.click(origin["x"] + box["x"] + 2.5 * box["cell"], origin["y"] + box["y"] + 1.5 * box["cell"])
    page.wait_for_function("() => new URLSearchParams(location.search).get('step') === '5'")  # cell (1, 2)
    page.get_by_text("Output cell (1, 2) reads padded-input rows [2, 3, 4]").wait_for()
    canvas.press("ArrowDown")
    page.wait_for_function("() => new URLSearchParams(location.search).get('step') === '8'")


@pytest.mark.parametrize("kind", list(VIEWPORTS))
@pytest.mark.parametrize("path", ["arithmetic", "pooling"])
def test_the_picture_and_a_control_are_on_the_first_screen(browser, module_server, path, kind):
    context = browser.new_context(**VIEWPORTS[kind])
    pg = context.new_page()
    try:
        pg.goto(f"{module_server.url}/{path}")
        wait_for_app_idle(pg, 120_000)
        canvas = pg.locator(CANVAS).first
        canvas.wait_for()
        pg.locator(CONTROLS).first.wait_for()
        height = VIEWPORTS[kind]["viewport"]["height"]
        picture = canvas.bounding_box()
        assert picture and picture["height"] > 100 and picture["y"] + picture["height"] <= height, picture
        tops = [b["y"] + b["height"] for b in (c.bounding_box() for c in pg.locator(CONTROLS).all()) if b]
        assert tops and min(tops) <= height, tops
        scrolled = pg.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTop")
        assert scrolled == 0
    finally:
        context.close()


def test_predict_first_toggle_does_not_move(module_server, page):
    """Switching "Predict before you see" on and off hides and shows the picture below it; the switch itself
    and the page's scroll position stay where they were."""
    page.goto(f"{module_server.url}/arithmetic")
    wait_for_app_idle(page)
    page.locator(CANVAS).first.wait_for()
    toggle = page.get_by_text("Predict before you see").first
    before = toggle.bounding_box()
    toggle.click()
    page.get_by_text("Your prediction:").first.wait_for()
    wait_for_app_idle(page)
    assert toggle.bounding_box()["y"] == before["y"]
    toggle.click()
    page.locator(CANVAS).first.wait_for()
    wait_for_app_idle(page)
    assert toggle.bounding_box()["y"] == before["y"]
    assert page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTop") == 0
