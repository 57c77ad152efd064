"""Clicks on plotly grids: one way to make grid cells clickable, one way to read which cell was clicked.

Plotly heatmaps send no selection events, so a lesson that lets a student click a cell (the output grid
of the arithmetic lesson, a layer on the network page, the confusion matrix) lays an almost invisible
marker on every cell and reads the point selection Streamlit hands back.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def clicked_cell(selection: Any) -> tuple[int, int] | None:
    """(row, col) of the first point of a plotly point selection, if any.

    Streamlit hands the selection back as a dict in session state and as an attribute object from
    ``st.plotly_chart``; both shapes are read the same way."""
    if selection is None:
        return None
    sel = selection.get("selection", {}) if isinstance(selection, dict) else getattr(selection, "selection", {})
    points = sel.get("points", []) if isinstance(sel, dict) else getattr(sel, "points", [])
    for point in points or []:
        x, y = point.get("x"), point.get("y")
        if x is not None and y is not None:
            return int(round(float(y))), int(round(float(x)))
    return None


def cell_targets(rows: np.ndarray, cols: np.ndarray, *, size: int, hovertemplate: str,
                 customdata: np.ndarray | None = None) -> dict[str, Any]:
    """A scatter trace (a plain dict, for a figure dict or ``fig.add_trace``) with a marker on each given
    cell, transparent but clickable."""
    trace: dict[str, Any] = {
        "type": "scatter", "x": cols, "y": rows, "mode": "markers", "showlegend": False,
        "marker": {"size": size, "symbol": "square", "color": "rgba(0,0,0,0.01)"},
        "hovertemplate": hovertemplate,
    }
    if customdata is not None:
        trace["customdata"] = customdata
    return trace
