"""ConvLab's drawing canvas, server side: the payload the browser sends (core.infer.drawing) and the component's
refusal of anything else (ui.canvas under AppTest). Real drawing is tested in tests/test_draw_browser.py."""

from __future__ import annotations

import base64
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from core.infer.drawing import DEFLATE, MAX_PAYLOAD_CHARS, PIXELS, RAW, SIZE, DrawingRefused, ink_from_payload, on_paper, pack
from core.infer.preprocess import preprocess


def drawn_seven() -> np.ndarray:
    """The ink of a drawn 7 as a browser renders it: anti-aliased strokes, alpha 0..255 → (SIZE, SIZE) 0..1."""
    img = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(img).line([(60, 50), (215, 45), (120, 240)], fill=255, width=22, joint="curve")
    soft = img.resize((SIZE // 4, SIZE // 4), Image.Resampling.BOX).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return np.asarray(soft, np.float32) / 255


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_the_payload_is_the_ink_coverage_in_either_form() -> None:
    ink = drawn_seven()
    assert 0 < (ink > 0).mean() < 1 and ((ink > 0) & (ink < 1)).any()  # soft edges are there
    packed = pack(ink)
    assert packed.startswith(DEFLATE) and len(packed) < 8000  # a digit is a few KB
    for payload in (packed, RAW + b64(np.round(ink * 255).astype(np.uint8).tobytes())):
        got = ink_from_payload(payload)
        assert got.shape == (SIZE, SIZE) and got.dtype == np.float32
        np.testing.assert_allclose(got, ink, atol=0.5 / 255)


@pytest.mark.parametrize("pen", ["white", "black"])
def test_ink_on_paper_is_what_the_old_canvas_gave(pen) -> None:
    """The page lays the ink on its paper: the preprocessing then sees what streamlit-drawable-canvas's
    opaque RGBA image showed it (pen on paper), so every step's picture and the answer stay the same."""
    alpha = drawn_seven()
    ink_level = 1.0 if pen == "white" else 0.0
    grey = on_paper(ink_from_payload(pack(alpha)), ink_level, 1.0 - ink_level)
    old = np.zeros((SIZE, SIZE, 4), np.uint8)  # the old component: opaque, pen blended on paper
    old[..., :3] = np.round(255 * ((1 - ink_level) + (2 * ink_level - 1) * alpha))[..., None].astype(np.uint8)
    old[..., 3] = 255
    new_pre, old_pre = preprocess(grey), preprocess(old)
    assert new_pre.inverted == old_pre.inverted == (pen == "black")
    assert new_pre.bbox == old_pre.bbox
    for step in ("gray", "cropped", "scaled", "placed", "image"):
        np.testing.assert_allclose(getattr(new_pre, step), getattr(old_pre, step), atol=2 / 255, err_msg=step)


def test_an_empty_canvas_is_none() -> None:
    assert ink_from_payload(None) is None
    assert ink_from_payload("") is None


FULL = bytes(range(256)) * (PIXELS // 256) + bytes(PIXELS % 256)


@pytest.mark.parametrize("payload, words", [
    (123, "did not arrive in the form"),
    ({"ink": "x"}, "did not arrive in the form"),
    ("data:image/png;base64,AAAA", "did not arrive in the form"),
    (RAW + "A" * MAX_PAYLOAD_CHARS, "larger than ConvLab's canvas ever sends"),
    (RAW + "not base64!", "not valid base64"),
    (DEFLATE + b64(b"not zlib at all"), "not a zlib stream"),
    (DEFLATE + b64(zlib.compress(FULL)[:-2]), "incomplete zlib stream"),  # no checksum
    (DEFLATE + b64(zlib.compress(FULL)[:-300]), "pixels where"),  # cut short
    (DEFLATE + b64(zlib.compress(FULL) + b"junk"), "incomplete zlib stream"),
    (DEFLATE + b64(zlib.compress(bytes(100 * 100))), "10,000 pixels"),
    (RAW + b64(bytes(PIXELS - 1)), "78,399 pixels"),
    (DEFLATE + b64(zlib.compress(bytes(PIXELS + 5))), "78,401 pixels"),
])
def test_anything_else_is_refused_with_a_reason(payload, words) -> None:
    with pytest.raises(DrawingRefused, match=words):
        ink_from_payload(payload)


def test_a_zip_bomb_is_not_inflated() -> None:
    """50 MB of zeros deflate to ~50 KB, under the length bound: inflating stops one byte past a canvas."""
    bomb = zlib.compress(bytes(50 * 1024 * 1024), 9)
    payload = DEFLATE + b64(bomb)
    assert len(payload) < MAX_PAYLOAD_CHARS
    with pytest.raises(DrawingRefused, match="78,401 pixels"):
        ink_from_payload(payload)


def _page() -> None:  # an AppTest script (AppTest runs it in this process: the tests patch ui.canvas)
    import streamlit as st

    from ui.canvas import drawing_canvas

    image = drawing_canvas("t.canvas", 22, pen="#000000", paper="#FFFFFF")
    st.write("none" if image is None else f"{image.shape} {image.min():.2f} {image.max():.2f}")


def _with_payload(monkeypatch, payload: object) -> AppTest:
    """The page run as if the browser had sent ``payload`` as the canvas's state value."""
    import ui.canvas

    monkeypatch.setattr(ui.canvas, "_renderer", lambda: (lambda **kwargs: {"ink": payload}))
    return AppTest.from_function(_page).run()


def test_the_page_warns_and_reads_nothing_for_a_strange_payload(monkeypatch) -> None:
    at = _with_payload(monkeypatch, "data:text/html;base64,PGI+")  # a stranger's payload
    assert not at.exception
    assert "did not arrive in the form" in at.warning[0].value
    assert at.markdown[0].value == "none"


def test_the_page_gets_pen_on_paper(monkeypatch) -> None:
    at = _with_payload(monkeypatch, pack(drawn_seven()))
    assert not at.exception and not at.warning
    assert at.markdown[0].value == "(280, 280) 0.00 1.00"  # black ink on white paper


def test_the_real_component_reads_nothing_under_apptest() -> None:
    at = AppTest.from_function(_page).run()
    assert not at.exception
    assert at.get("bidi_component") and at.markdown[0].value == "none"
