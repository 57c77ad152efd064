"""ConvLab's drawing canvas: freehand drawing in the browser, the drawing sent the moment the pen lifts.

One Streamlit components-v2 element (no iframe; an open shadow root) holds the canvas and its Undo and
Clear buttons. Pointer Events draw with a mouse, a finger or a pen; ``touch-action: none`` keeps a
finger on the canvas from scrolling a phone's page. The strokes live in the browser (as lists of points
in 280×280 drawing coordinates, whatever size CSS shows the canvas at), so Undo, Clear and a change of
ink colour redraw there and never remount the canvas: a stroke started right after Clear is never lost.

On pointer-up (no debounce) the browser renders the strokes once more, white on transparent, at 280×280
and sends their alpha channel, deflated, as the component's state value ``ink`` (2–6 KB for a digit; the
earlier streamlit-drawable-canvas sent a full-size RGBA PNG plus the Fabric.js JSON of every stroke,
200 ms after the pen lifted). 280×280 keeps every preprocessing picture of the Draw page as it was (the
crop of a small digit is shown at up to 140 px). The server checks and unpacks it with ``core.infer.drawing``
and lays the ink on the page's paper colour. Under AppTest (no browser) the canvas returns None, like an
empty canvas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from core.infer.drawing import SIZE, DrawingRefused, ink_from_payload, on_paper
from ui.text import literal

CANVAS_PX = SIZE  # the canvas's drawing coordinates, and its size on a desktop page (CSS pixels)
# Where a browser test or benchmark finds the drawing surface (Playwright's CSS pierces the shadow root).
SELECTOR = "[data-testid='stBidiComponentIsolated'] canvas.cl-canvas"

_HTML = """
<div class="cl-pad">
  <canvas class="cl-canvas" width="280" height="280" role="img"
          aria-label="Drawing canvas: draw a digit with the mouse, a finger or a pen"></canvas>
  <div class="cl-tools">
    <button type="button" class="cl-undo" title="Take back the last stroke">↶ Undo</button>
    <button type="button" class="cl-clear" title="Empty the canvas">🧽 Clear</button>
  </div>
</div>
"""



def _asset(ext: str) -> str:
    """The element's own JavaScript or CSS file, beside this module (read once, with the element)."""
    return (Path(__file__).parent / f"canvas.{ext}").read_text()


@st.cache_resource(show_spinner=False)
def _renderer():
    """Registered once per server process (registering again each run would log a warning)."""
    return st.components.v2.component("convlab_canvas", html=_HTML, css=_asset("css"), js=_asset("js"))


def _grey(colour: str) -> float:
    """'#RRGGBB' → its grey level in [0, 1] (ITU-R 601 luma, as the preprocessing's grayscale step)."""
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b


def drawing_canvas(key: str, width: int, pen: str = "#FFFFFF", paper: str = "#000000") -> np.ndarray | None:
    """The canvas, with strokes ``width`` px wide (in 280×280 drawing coordinates) in ``pen`` on ``paper``
    ('#RRGGBB'). Returns the drawing as (280, 280) float32 grey in [0, 1], pen on paper as the student
    sees it, or None when nothing is drawn (or under AppTest). A payload that is not a drawing from this
    canvas is refused with a warning, and counts as nothing drawn."""
    result = _renderer()(key=key, data={"width": int(width), "pen": pen, "paper": paper})
    try:
        ink = ink_from_payload(result.get("ink"))
    except DrawingRefused as exc:
        st.warning(literal(exc, 400), icon="✏️")  # our own words: the payload itself is never echoed
        return None
    return None if ink is None else on_paper(ink, _grey(pen), _grey(paper))
