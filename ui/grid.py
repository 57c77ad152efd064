"""Plotly figures shared by the pages: numeric grids with outlined windows, and image heatmaps."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import plotly.colors
import plotly.graph_objects as go


@dataclass(frozen=True)
class Box:
    """A rectangle over grid cells [r0..r1] x [c0..c1] (inclusive), drawn as an outline or a fill."""

    r0: int
    c0: int
    r1: int
    c1: int
    color: str = "#2563eb"
    width: float = 3.0
    fill: str | None = None  # e.g. "rgba(37,99,235,0.25)"
    dash: str | None = None  # "dot", "dash"


def cell_boxes(cells: Iterable[tuple[int, int]], color: str, fill: str | None = None,
               width: float = 2.0) -> list[Box]:
    return [Box(r, c, r, c, color, width, fill) for r, c in cells]


@functools.lru_cache(maxsize=64)  # a pure function of a name: the same answer for every student
def _scale(name: str) -> tuple[tuple[float, str], ...]:
    """A named colour scale as plotly.js needs it. Python plotly's names ("Blues" light to dark,
    "RdBu_r" reversed) mean something else, or nothing, to plotly.js, and a plain dict skips the
    validation that used to translate them."""
    return tuple((float(pos), str(color)) for pos, color in plotly.colors.get_colorscale(name))


def _ticks(n: int) -> dict:
    """Tick labels every 1, 2, 5, … cells: at most about ten, never rotated or crammed."""
    step = next(d for d in (1, 2, 5, 10, 20, 50, 100, 200, 500) if n / d <= 10)
    return {"tickmode": "linear", "tick0": 0, "dtick": step, "tickangle": 0}


def rect_shape(b: Box) -> dict:
    return {"type": "rect", "x0": b.c0 - 0.5, "x1": b.c1 + 0.5, "y0": b.r0 - 0.5, "y1": b.r1 + 0.5,
            "line": {"color": b.color, "width": b.width, "dash": b.dash},
            "fillcolor": b.fill or "rgba(0,0,0,0)", "layer": "above"}


def grid_spec(
    z: np.ndarray,
    *,
    text: np.ndarray | Sequence[Sequence[str]] | None = None,
    colorscale: str | list = "Greys",
    zmin: float | None = None,
    zmax: float | None = None,
    boxes: Sequence[Box] = (),
    title: str = "",
    cell_px: int = 36,
    max_px: int = 520,
    show_scale: bool = False,
    zmid: float | None = None,
    hover: str = "row %{y}, col %{x}: %{z:.4g}<extra></extra>",
    font_size: int | None = None,
) -> dict:
    """A heatmap of ``z`` (row 0 at the top) with optional per-cell text and rectangles, as a plain
    plotly dict (building graph objects validates every property: 20+ ms a figure, paid per slider step).

    Axes are pinned to the grid (extra traces such as click targets cannot widen them), square cells
    hug the title (no gap under it), and tick labels stay horizontal and sparse.
    """
    z = np.asarray(z, dtype=float)
    rows, cols = z.shape
    size = int(min(max_px, max(160, cell_px * max(rows, cols))))
    scale = [list(stop) for stop in _scale(colorscale)] if isinstance(colorscale, str) else colorscale
    heat = {"type": "heatmap", "z": z, "colorscale": scale, "zmin": zmin, "zmax": zmax, "zmid": zmid,
            "showscale": show_scale, "hovertemplate": hover, "xgap": 1, "ygap": 1}
    if text is not None:
        heat |= {"text": np.asarray(text, dtype=object), "texttemplate": "%{text}",
                 "textfont": {"size": font_size or (12 if max(rows, cols) <= 12 else 9)}}
    show_ticks = max(rows, cols) <= 32
    axis = {"showgrid": False, "zeroline": False, "constrain": "domain", "showticklabels": show_ticks,
            "fixedrange": True, **({} if show_ticks else {"ticks": ""})}  # no tick marks without their labels
    layout = {
        "xaxis": axis | _ticks(cols) | {"side": "top", "range": [-0.5, cols - 0.5], "autorange": False,
                                        "constraintoward": "left"},
        "yaxis": axis | _ticks(rows) | {"range": [rows - 0.5, -0.5], "autorange": False, "scaleanchor": "x",
                                        "constraintoward": "top"},
        "height": size + (40 if title else 10),
        "margin": {"l": 10, "r": 10, "t": (45 if show_ticks else 30) if title else (25 if show_ticks else 10),
                   "b": 10},
        "plot_bgcolor": "rgba(0,0,0,0)",
        "shapes": [rect_shape(b) for b in boxes],
    }
    if title:
        layout["title"] = {"text": title, "y": 0.99, "yanchor": "top", "x": 0.0, "font": {"size": 14}}
    return {"data": [heat], "layout": layout}


def as_figure(spec: dict) -> go.Figure:
    """Wrap a plain figure dict for ``st.plotly_chart`` without validating it again (we built it)."""
    return go.Figure(spec, _validate=False)


def grid_figure(z: np.ndarray, **kwargs) -> go.Figure:
    """``grid_spec`` as a figure (see there for the arguments)."""
    return as_figure(grid_spec(z, **kwargs))


