"""Plotly figures whose wire form is computed once, and heat maps built without plotly's validation.

``st.plotly_chart`` turns a figure into a dict (a deep copy), walks it to turn every NumPy array into
base64, then into JSON, on every run that draws it, also when the figure came from a cache; and
building a figure validates every property (10–15 ms a figure on a quiet core, independent of its
size). Here a heat map's *frame* (layout, axes, outlines, colours: everything but its numbers) is built
once with ``ui.grid.grid_figure`` and cached; a new picture of the same shape only puts its numbers into
a copy of that frame. A ``Finished`` figure hands ``st.plotly_chart`` the ready dict.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from _plotly_utils.utils import convert_to_base64, to_typed_array_spec

from ui.grid import grid_figure


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
    convert_to_base64(out)
    return _plain(out)


class Finished(go.Figure):
    """A figure that is never changed after it is built (share it freely between runs and students)."""

    def __init__(self, sent: dict) -> None:
        super().__init__(layout={"template": {}}, _validate=False)  # an empty shell: no template copy
        self._sent = sent

    def to_dict(self) -> dict:  # what st.plotly_chart serialises: read-only, already encoded
        return self._sent


@st.cache_resource(max_entries=128, show_spinner=False)
def _frame(shape: tuple[int, int], labelled: bool, options: tuple) -> dict:
    kwargs = dict(options)
    gaps = kwargs.pop("gaps", True)
    fig = grid_figure(np.zeros(shape), text=np.full(shape, "", dtype=object) if labelled else None, **kwargs)
    if not gaps:
        fig.update_traces(xgap=0, ygap=0)
    return wire(fig)


def grid(z: np.ndarray, *, text: np.ndarray | None = None, zmin: float | None = None, zmax: float | None = None,
         gaps: bool = True, **options: Any) -> Finished:
    """``ui.grid.grid_figure(z, text=..., zmin=..., zmax=..., **options)``, same figure, built from a cached
    frame (``gaps=False``: no gap between cells, for pictures)."""
    z = np.asarray(z, dtype=float)
    frame = _frame(z.shape, text is not None, tuple(sorted({**options, "gaps": gaps}.items())))
    trace = {**frame["data"][0], "z": to_typed_array_spec(z), "zmin": zmin, "zmax": zmax}
    if text is not None:
        trace["text"] = np.asarray(text, dtype=object).tolist()
    return Finished({**frame, "data": [trace]})
