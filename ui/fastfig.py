"""Plotly figures whose wire form is computed once, and heat maps built without plotly's validation.

``st.plotly_chart`` turns a figure into a dict, then into JSON with plotly's encoder, then hashes that
JSON for the element's id, on every run that draws it, also when the figure came from a cache. Plotly's
encoder is slow on pictures for a silly reason: after encoding it searches the text for "NaN" and
"Infinity" and, if found, parses and re-encodes everything; a base64 picture of a few hundred kB almost
always contains "NaN" by chance, so a 192×192 picture cost ~4 ms of JSON alone, and the Filters page
draws up to nine of them per change (measured with py-spy on the real server).

Here a heat map's *frame* (layout, axes, outlines, colours: everything but its numbers) is built once
with ``ui.grid.grid_figure`` and cached; a new picture of the same shape only puts its numbers into a
copy of that frame. A ``Finished`` figure is never changed after it is built, so its JSON and a digest
of it are computed once (lazily) and ``show`` hands them to the page without re-encoding. Pictures
travel as float32 (hover shows 4 significant digits; float32 keeps 7) to halve their bytes.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import json
import threading
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io
import streamlit as st
from ui import private_apis
from ui.grid import grid_figure

NO_BAR = {"displayModeBar": False}
_ARRAYS = private_apis.plotly_arrays()  # plotly's base64 encoders, or None: then arrays travel as lists


def _encode_arrays(spec: dict) -> None:
    if _ARRAYS is not None:
        _ARRAYS.to_base64(spec)


def _typed(z: np.ndarray) -> Any:
    return _ARRAYS.typed_array(z) if _ARRAYS is not None else z.tolist()


def _plain(obj: Any) -> Any:
    """Arrays plotly does not encode as base64 (cell labels, dtype object) as plain lists, once."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def wire(fig: go.Figure) -> dict:
    """The dict ``st.plotly_chart`` would send for ``fig``, with arrays already encoded."""
    out = fig.to_dict()
    _encode_arrays(out)
    return _plain(out)


class Finished(go.Figure):
    """A figure that is never changed after it is built (share it freely between runs and students).

    Only ``to_dict`` (what st.plotly_chart reads) and the properties below are for use: the plotly
    Figure machinery is deliberately not initialised (``go.Figure.__init__`` sets up a layout and a
    template, ~0.5 ms a figure, for nothing). It subclasses go.Figure so that st.plotly_chart takes it
    as a figure (charts with selections still go through st.plotly_chart)."""

    def __init__(self, sent: dict) -> None:  # noqa: D107 - no super().__init__ on purpose (see above)
        self._sent = sent
        self._json: str | None = None
        self._digest = ""

    def to_dict(self) -> dict:  # what st.plotly_chart serialises: read-only, already encoded
        return self._sent

    @property
    def json(self) -> str:
        """The spec as st.plotly_chart would send it, encoded once (plain JSON: the dict holds only
        str, numbers, lists and dicts; anything else goes through plotly's own encoder)."""
        if self._json is None:
            try:
                self._json = json.dumps(self._sent, separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError):
                self._json = plotly.io.to_json(self._sent, validate=False)
            self._digest = hashlib.blake2b(self._json.encode(), digest_size=16).hexdigest()
        return self._json

    @property
    def digest(self) -> str:
        self.json  # noqa: B018 - computes both once
        return self._digest

    @property
    def height(self) -> int | str:
        return self._sent.get("layout", {}).get("height") or "content"


@functools.lru_cache(maxsize=1)  # the same for every student: plotly's default template
def _template() -> dict:
    """The template plotly puts into every figure's layout (the current default), once."""
    return wire(go.Figure())["layout"]["template"]


def from_spec(spec: dict) -> Finished:
    """A plain figure dict (``ui.grid.grid_spec`` and friends) as the figure ``go.Figure(spec).to_dict()``
    would give, without the deep copy and the template set-up that cost ~10 ms a figure: arrays to
    base64 in place, the default template added. ``spec`` is consumed (do not reuse it)."""
    _encode_arrays(spec)
    spec = _plain(spec)
    spec.setdefault("layout", {}).setdefault("template", _template())
    return Finished(spec)


def _frame(shape: tuple[int, int], labelled: bool, options: tuple) -> dict:
    """The cached frame (``_cached_frame``); options that cannot be hashed (a colour scale given as a list)
    are built each time."""
    try:
        return _cached_frame(shape, labelled, options)
    except TypeError:
        return _cached_frame.__wrapped__(shape, labelled, options)


@functools.lru_cache(maxsize=256)  # a pure function of its arguments (hashed in microseconds, unlike st.cache_*)
def _cached_frame(shape: tuple[int, int], labelled: bool, options: tuple) -> dict:
    kwargs = dict(options)
    gaps = kwargs.pop("gaps", True)
    fig = grid_figure(np.zeros(shape), text=np.full(shape, "", dtype=object) if labelled else None, **kwargs)
    if not gaps:
        fig.update_traces(xgap=0, ygap=0)
    return wire(fig)


def grid(z: np.ndarray, *, text: np.ndarray | None = None, zmin: float | None = None, zmax: float | None = None,
         gaps: bool = True, **options: Any) -> Finished:
    """``ui.grid.grid_figure(z, text=..., zmin=..., zmax=..., **options)``, same figure, built from a cached
    frame (``gaps=False``: no gap between cells, for pictures). Grids without cell labels (pictures) are
    sent as float32; labelled ones (small, exact numbers) as float64."""
    z = np.asarray(z, dtype=float)
    frame = _frame(z.shape, text is not None, tuple(sorted({**options, "gaps": gaps}.items())))
    sent_z = z if text is not None else z.astype(np.float32)
    trace = {**frame["data"][0], "z": _typed(sent_z),
             "zmin": None if zmin is None else float(zmin), "zmax": None if zmax is None else float(zmax)}
    if text is not None:
        trace["text"] = np.asarray(text, dtype=object).tolist()
    return Finished({**frame, "data": [trace]})


class Memo:
    """A bounded, thread-safe LRU of figures keyed by an explicit key that *names* their inputs (an image
    token, kernel bytes, settings), never by the pixels: a hit costs a tuple hash instead of rebuilding the
    figure and JSON-encoding its picture again (~1–2 ms for a 188×188 picture; py-spy: a third of a Filters
    kernel change's script time went to that JSON). The figures are pure functions of the key, so students
    share them safely (a class trying the same presets on the same image hits)."""

    def __init__(self, maxsize: int) -> None:
        self._items: collections.OrderedDict = collections.OrderedDict()
        self._maxsize = maxsize
        self._lock = threading.Lock()

    def get(self, key: tuple, build):
        """The value stored for ``key``, or ``build()`` stored (built outside the lock: two students may
        build the same value once each, never a wrong one)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        if isinstance(value, Finished):
            value.json  # noqa: B018 - encode now, so a hit never encodes
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)
        return value


# ---------------------------------------------------------------------------------------------
# Putting a Finished figure on the page


@dataclasses.dataclass
class _FastPath:
    parts: private_apis.PlotlyParts | None
    off: bool = False  # set once a Streamlit internal failed: st.plotly_chart from then on


@st.cache_resource(show_spinner=False)
def _fast_path() -> _FastPath:
    """One switch per server process (a failed internal fails the same way for every student)."""
    return _FastPath(private_apis.plotly_parts())


def show(fig: go.Figure, key: str, config: dict | None = None) -> None:
    """``st.plotly_chart(fig, key=key, config=config)`` (no selection), without re-encoding a Finished figure.

    What st.plotly_chart does for a figure without selections, minus the work already done once: the
    spec is the figure's cached JSON, and the element id hashes the JSON's digest instead of the JSON
    itself (same rule: the id changes exactly when the spec, config or key change). Any error in that
    path switches it off for the process and the figure goes through st.plotly_chart."""
    config = NO_BAR if config is None else config
    path = _fast_path()
    if path.parts is None or path.off or not isinstance(fig, Finished):
        st.plotly_chart(fig, key=key, config=config)
        return
    try:
        _enqueue(fig, key, config, path.parts)
    except Exception:  # noqa: BLE001 - a changed internal: fall back, and stay on the public API
        path.off = True
        st.plotly_chart(fig, key=key, config=config)


def _enqueue(fig: Finished, key: str, config: dict, parts: private_apis.PlotlyParts) -> None:
    dg = parts.main_dg()
    proto = parts.chart_proto()
    proto.theme = "streamlit"
    proto.form_id = parts.current_form_id(dg)
    proto.spec = fig.json
    proto.config = json.dumps(config)
    proto.id = parts.element_id("plotly_chart", user_key=key, key_as_main_identity=False, dg=dg,
                                plotly_spec_digest=fig.digest, plotly_config=proto.config, theme="streamlit",
                                width="stretch", height="content")
    dg._enqueue("plotly_chart", proto, layout_config=parts.layout_config(width="stretch", height=fig.height))
