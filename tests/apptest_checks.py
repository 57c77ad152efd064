"""Shared AppTest helpers for the robustness tests (widget sweep, hostile links, inference-only install).

Imports only the standard library and streamlit, so the inference-only venv (no torch, no onnx, no
hypothesis) can use it too.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO

APP = str(REPO / "streamlit_app.py")
WIDGET_KINDS = ("slider", "number_input", "selectbox", "radio", "toggle", "checkbox", "select_slider", "text_input")
TRACEBACK_RE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")
_HEAVY = {"plotly_chart", "imgs", "arrow_data_frame", "bidi_component", "arrow_vega_lite_chart"}


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120)


def open_page(file: str, params: Mapping[str, Any] | None = None, token: str | None = None) -> AppTest:
    """A fresh session opened on ``file`` (a deep link carrying ``params`` when given; ``token``: the
    browser's anonymous token the session starts with)."""
    at = new_app()
    for k, v in (params or {}).items():
        at.query_params[k] = v
    if token:
        at.session_state["convlab.session_token"] = token
    at.run()
    at.switch_page(file)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    return at.run()


def open_clean(file: str, **params: Any) -> AppTest:
    """``open_page`` with keyword parameters, asserting the page ran without an exception."""
    at = open_page(file, {k: str(v) for k, v in params.items()})
    assert not at.exception, [e.value for e in at.exception]
    return at


def plotly_array(v: Any):
    """A plotly 7 JSON array ({"dtype", "bdata", "shape"} base64, or a plain list) as a NumPy array."""
    import base64

    import numpy as np

    if isinstance(v, dict) and "bdata" in v:
        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        shape = v.get("shape")
        if isinstance(shape, str):  # plotly writes "4, 4"
            shape = [int(n) for n in shape.split(",")]
        return arr.reshape(shape) if shape else arr
    return np.array(v, dtype=float)


def exception_text(at: AppTest) -> list[str]:
    return [f"{e.proto.type}: {e.proto.message}\n" + "\n".join(e.proto.stack_trace[-4:]) for e in at.exception]


def traceback_texts(at: AppTest) -> list[str]:
    """Text elements that show traceback-looking text (a page must explain, never dump a stack)."""
    found = []
    for node in at._tree:
        if getattr(node, "type", None) in _HEAVY or not hasattr(node, "proto") or node.type == "exception":
            continue
        text = str(node.proto)
        if TRACEBACK_RE.search(text):
            found.append(text[:500])
    return found


def assert_clean(at: AppTest, context: str) -> None:
    """No exception element and no traceback text anywhere on the page."""
    assert not at.exception, f"{context}: exception\n" + "\n---\n".join(exception_text(at))
    tb = traceback_texts(at)
    assert not tb, f"{context}: traceback text on the page\n" + "\n---\n".join(tb)


def texts(elements: Iterable) -> str:
    return "\n".join(str(e.value) for e in elements)


def widget_count(at: AppTest) -> int:
    return sum(len(getattr(at, kind)) for kind in WIDGET_KINDS)


def widget_keys(at: AppTest) -> set[str]:
    return {w.key or f"{kind}:{w.label}" for kind in WIDGET_KINDS for w in getattr(at, kind)}


# ---------------------------------------------------------------------------------------------
# Choosing an option by its label, exactly as the browser does

_LABEL_SENDERS: dict[type, type] = {}


def choose_label(widget, label: str):
    """Make a radio/selectbox send ``label`` (the formatted option text, what the frontend sends).

    ``set_value`` wants the raw option, which a test cannot always recover from the label when the page
    uses a ``format_func`` such as ``dict.get``; sending the label works for every format function.
    """
    widget._assert_can_interact()
    base = type(widget)
    sender = _LABEL_SENDERS.get(base)
    if sender is None:

        class Sender(base):  # type: ignore[misc, valid-type]
            @property
            def _widget_state(self) -> WidgetState:
                ws = WidgetState()
                ws.id = self.id
                ws.string_value = self._sent_label
                return ws

        sender = _LABEL_SENDERS[base] = Sender
    widget.__class__ = sender
    widget._sent_label = label
    return widget


def fragment_deltas(monkeypatch, name: str) -> list:
    """The deltas the page's ``@st.fragment def <name>`` sends on its latest run, one per element the browser
    applies (what a change costs the student's browser). Install before the page's first run."""
    import functools

    import streamlit as st
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext

    sent: list = []
    inside = [False]
    enqueue, fragment = ScriptRunContext.enqueue, st.fragment

    def recording(self, msg):
        if inside[0] and msg.WhichOneof("type") == "delta":
            sent.append(msg.delta)
        return enqueue(self, msg)

    def watched(func=None, **k):
        if func is None:
            return lambda f: watched(f, **k)
        if func.__name__ != name:
            return fragment(func, **k)

        @functools.wraps(func)
        def body(*a, **kw):
            sent.clear()
            inside[0] = True
            try:
                return func(*a, **kw)
            finally:
                inside[0] = False
        return fragment(body, **k)

    monkeypatch.setattr(ScriptRunContext, "enqueue", recording)
    monkeypatch.setattr(st, "fragment", watched)
    return sent


def delta_kinds(sent: list) -> list[str]:
    """Each delta's element type ("markdown", "bidi_component", …), "block" for a container."""
    return [d.new_element.WhichOneof("type") if d.WhichOneof("type") == "new_element" else "block" for d in sent]
