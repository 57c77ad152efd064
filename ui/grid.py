"""Plotly figures shared by the pages: numeric grids with outlined windows, and image heatmaps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
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


def grid_figure(
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
) -> go.Figure:
    """A heatmap of ``z`` (row 0 at the top) with optional per-cell text and rectangles."""
    z = np.asarray(z, dtype=float)
    rows, cols = z.shape
    size = int(min(max_px, max(160, cell_px * max(rows, cols))))
    fig = go.Figure(
        go.Heatmap(
            z=z, colorscale=colorscale, zmin=zmin, zmax=zmax, zmid=zmid, showscale=show_scale,
            text=None if text is None else np.asarray(text, dtype=object),
            texttemplate="%{text}" if text is not None else None,
            textfont={"size": font_size or (12 if max(rows, cols) <= 12 else 9)},
            hovertemplate=hover, xgap=1, ygap=1,
        )
    )
    for b in boxes:
        fig.add_shape(
            type="rect", x0=b.c0 - 0.5, x1=b.c1 + 0.5, y0=b.r0 - 0.5, y1=b.r1 + 0.5,
            line={"color": b.color, "width": b.width, "dash": b.dash},
            fillcolor=b.fill or "rgba(0,0,0,0)", layer="above",
        )
    fig.update_yaxes(autorange="reversed", showgrid=False, zeroline=False, constrain="domain",
                     scaleanchor="x", showticklabels=max(rows, cols) <= 32, dtick=1 if rows <= 16 else None)
    fig.update_xaxes(showgrid=False, zeroline=False, constrain="domain",
                     showticklabels=max(rows, cols) <= 32, dtick=1 if cols <= 16 else None, side="top")
    fig.update_layout(
        title={"text": title, "y": 0.99, "x": 0.0, "font": {"size": 14}} if title else None,
        height=size + (40 if title else 10), width=None,
        margin={"l": 10, "r": 10, "t": 45 if title else 25, "b": 10},
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def image_figure(img: np.ndarray, *, title: str = "", diverging: bool = False, max_px: int = 360,
                 zmin: float | None = None, zmax: float | None = None, show_scale: bool = True) -> go.Figure:
    """An image as a heatmap: grey for intensities, blue-white-red (centred at 0) for signed values."""
    img = np.asarray(img, dtype=float)
    if diverging:
        bound = float(np.max(np.abs(img))) or 1.0
        return grid_figure(img, colorscale="RdBu_r", zmin=-bound if zmin is None else zmin,
                           zmax=bound if zmax is None else zmax, zmid=None, title=title, cell_px=3,
                           max_px=max_px, show_scale=show_scale)
    return grid_figure(img, colorscale="gray", zmin=zmin, zmax=zmax, title=title, cell_px=3, max_px=max_px,
                       show_scale=show_scale)


def fig_z(fig: go.Figure) -> np.ndarray:
    """The heatmap values of a figure built here (tests compare them with core results)."""
    return np.asarray(fig.data[0].z, dtype=float)


def categorical_scale(colors: Sequence[str]) -> list[list]:
    """A stepped colourscale so integer codes 0..len(colors)-1 map to exactly those colours."""
    n = len(colors)
    scale: list[list] = []
    for i, color in enumerate(colors):
        scale.append([i / n, color])
        scale.append([(i + 1) / n, color])
    return scale


def category_figure(codes: np.ndarray, colors: Sequence[str], **kwargs) -> go.Figure:
    """A grid whose cells are coloured by integer category (e.g. input / padding / read by the kernel)."""
    n = len(colors)
    return grid_figure(codes, colorscale=categorical_scale(colors), zmin=-0.5, zmax=n - 0.5,
                       hover=kwargs.pop("hover", "row %{y}, col %{x}<extra></extra>"), **kwargs)
