"""The lesson picture: one Streamlit components-v2 element (no iframe; an open shadow root) that draws a
``core.lessons.picture.Picture`` on a canvas.

Hover, Play and the readout run in the browser and send nothing; a click, Step, Pause or an arrow key sends
the selected output cell as the state value ``pick`` ({"cell": index, "nonce": text}), which
``picked`` returns once (a new nonce), so the page can put it into its settings and the link.
The JavaScript lives in ``ui/lesson_picture_draw.js`` (layout and drawing) and ``ui/lesson_picture.js`` (state,
events, readout; the module's entry point), sent as one module; the CSS in ``ui/lesson_picture.css``. Under AppTest (no
browser) the element is a ``bidi_component`` whose JSON is the payload, and it returns None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from core.lessons.picture import Picture

HERE = Path(__file__).resolve().parent
JS_FILES = ("lesson_picture_draw.js", "lesson_picture.js")  # one module: the drawing first, then the entry point
# Where a browser test finds the parts (Playwright's CSS pierces the open shadow root).
CANVAS = "[data-testid='stBidiComponentIsolated'] canvas.lp-canvas"
READOUT = "[data-testid='stBidiComponentIsolated'] [data-testid='lp-readout']"


@st.cache_resource(show_spinner=False)
def _renderer():
    """Registered once per server process (registering again each run would log a warning)."""
    return st.components.v2.component(
        "convlab_lesson_picture", html='<div class="lp-root"></div>',
        css=(HERE / "lesson_picture.css").read_text(encoding="utf-8"),
        js="\n".join((HERE / name).read_text(encoding="utf-8") for name in JS_FILES))


def new_pick(key: str, value: Any, cells: int) -> int | None:
    """The cell a state value picks when it is a new, well-formed pick of one of ``cells``, else None."""
    if not isinstance(value, dict):
        return None
    cell, nonce = value.get("cell"), value.get("nonce")
    if not isinstance(cell, int) or isinstance(cell, bool) or not 0 <= cell < cells or not isinstance(nonce, str):
        return None
    seen = f"{key}._seen"
    if st.session_state.get(seen) == nonce[:80]:
        return None
    st.session_state[seen] = nonce[:80]
    return cell


def picked(key: str, cells: int) -> int | None:
    """Before the picture is drawn: the output cell the student has just picked in the browser (clicked,
    stepped to, paused at or moved to with the keyboard), or None. Read first so that the page can put it
    into its settings (and the link) and draw the picture with it selected, in one run."""
    value = st.session_state.get(key)
    return new_pick(key, value.get("pick") if hasattr(value, "get") else None, cells)


def lesson_picture(key: str, picture: Picture) -> None:
    """Draw ``picture`` (its ``selected`` step is the one shown when nothing is hovered)."""
    _renderer()(key=key, data=picture.payload())
