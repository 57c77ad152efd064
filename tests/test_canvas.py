"""ConvLab's drawing canvas, server side: the payload the browser sends (core.drawing) and the component's
refusal of anything else (ui.canvas under AppTest). Real drawing is tested in tests/test_draw_browser.py."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from core.drawing import MAX_PNG_BYTES, PREFIX, SIZE, DrawingRefused, ink_from_payload, on_paper
from core.preprocess import preprocess


def canvas_png(size: tuple[int, int] = (SIZE, SIZE), fmt: str = "PNG") -> tuple[bytes, np.ndarray]:
    """What the browser sends for a drawn 7: white anti-aliased strokes on transparent; and its alpha."""
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(60, 50), (215, 45), (120, 240)], fill=(255, 255, 255, 255), width=22, joint="curve")
    small = img.resize((size[0] // 4, size[1] // 4), Image.Resampling.BOX)  # soft (anti-aliased) edges
    img = small.resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    (img if fmt == "PNG" else img.convert("RGB")).save(buf, fmt)
    return buf.getvalue(), np.asarray(img)[..., 3].astype(np.float32) / 255


def url(data: bytes, prefix: str = PREFIX) -> str:
    return prefix + base64.b64encode(data).decode("ascii")


def test_the_payload_is_the_ink_coverage() -> None:
    data, alpha = canvas_png()
    ink = ink_from_payload(url(data))
    assert ink.shape == (SIZE, SIZE) and ink.dtype == np.float32
    assert 0 < (alpha > 0).mean() < 1 and ((alpha > 0) & (alpha < 1)).any()  # soft edges are there
    np.testing.assert_allclose(ink, alpha, atol=1e-6)


@pytest.mark.parametrize("pen, paper", [("white", 1.0), ("black", 0.0)])
def test_ink_on_paper_is_what_the_old_canvas_gave(pen, paper) -> None:
    """The page lays the ink on its paper: the preprocessing then sees what streamlit-drawable-canvas's
    opaque RGBA image showed it (pen on paper), so every step's picture and the answer stay the same."""
    data, alpha = canvas_png()
    ink_level = 1.0 if pen == "white" else 0.0
    grey = on_paper(ink_from_payload(url(data)), ink_level, 1.0 - ink_level)
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


def _png(size: tuple[int, int]) -> bytes:
    return canvas_png(size)[0]


@pytest.mark.parametrize("payload, words", [
    (123, "did not arrive as a PNG"),
    ({"png": "x"}, "did not arrive as a PNG"),
    ("data:image/jpeg;base64,AAAA", "did not arrive as a PNG"),
    (PREFIX + "A" * (4 * MAX_PNG_BYTES // 3 + 64), "larger than 320 KB"),
    (PREFIX + "not base64!", "not valid base64"),
    (url(b"\x89PNG\r\n\x1a\n" + b"\0" * 40), "could not be read"),
    (url(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), "could not be read"),
    (url(_png((100, 100))), "100×100 PNG"),
    (url(_png((SIZE, SIZE + 4))), "could not be read"),  # more pixels than a canvas: refused from the header
    (url(canvas_png(fmt="JPEG")[0]), f"{SIZE}×{SIZE} JPEG"),
])
def test_anything_else_is_refused_with_a_reason(payload, words) -> None:
    with pytest.raises(DrawingRefused, match=words):
        ink_from_payload(payload)


def test_a_header_claiming_millions_of_pixels_is_refused_before_decoding() -> None:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    with pytest.raises(DrawingRefused, match="megapixels"):
        ink_from_payload(url(bomb))


def _page() -> None:  # an AppTest script (AppTest runs it in this process: the tests patch ui.canvas)
    import streamlit as st

    from ui.canvas import drawing_canvas

    image = drawing_canvas("t.canvas", 22, pen="#000000", paper="#FFFFFF")
    st.write("none" if image is None else f"{image.shape} {image.min():.2f} {image.max():.2f}")


def _with_payload(monkeypatch, payload: object) -> AppTest:
    """The page run as if the browser had sent ``payload`` as the canvas's state value."""
    import ui.canvas

    monkeypatch.setattr(ui.canvas, "_renderer", lambda: (lambda **kwargs: {"png": payload}))
    return AppTest.from_function(_page).run()


def test_the_page_warns_and_reads_nothing_for_a_strange_payload(monkeypatch) -> None:
    at = _with_payload(monkeypatch, "data:text/html;base64,PGI+")
    assert not at.exception
    assert "did not arrive as a PNG" in at.warning[0].value
    assert at.markdown[0].value == "none"


def test_the_page_gets_pen_on_paper(monkeypatch) -> None:
    at = _with_payload(monkeypatch, url(_png((SIZE, SIZE))))
    assert not at.exception and not at.warning
    assert at.markdown[0].value == "(280, 280) 0.00 1.00"  # black ink on white paper


def test_the_real_component_reads_nothing_under_apptest() -> None:
    at = AppTest.from_function(_page).run()
    assert not at.exception
    assert at.get("bidi_component") and at.markdown[0].value == "none"
