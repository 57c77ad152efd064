"""Figures for the convolution-arithmetic page: the padded input, the kernel footprint, the output."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.arithmetic import Shape2D, conv_window, never_visited, transposed_footprint
from ui.grid import Box, category_figure

# Category codes and their colours for the input grid.
INPUT, PADDING, TAP_INPUT, TAP_PADDING, UNVISITED = range(5)
INPUT_COLORS = ("#dbeafe", "#f1f5f9", "#2563eb", "#93c5fd", "#fecaca")
# Output grid: not yet computed, already computed, current.
TODO, DONE, CURRENT = range(3)
OUTPUT_COLORS = ("#e2e8f0", "#bbf7d0", "#16a34a")
LEGEND_INPUT = ("input cell", "zero padding", "read by the kernel", "kernel over padding", "never visited")


def padded_input_codes(shape: Shape2D, out_row: int, out_col: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Category of every cell of the padded input for output cell (out_row, out_col); plus its taps."""
    h, w = shape.height, shape.width
    codes = np.full((h.padded, w.padded), INPUT, dtype=int)
    codes[: h.pad_lo, :] = PADDING
    codes[h.pad_lo + h.n:, :] = PADDING
    codes[:, : w.pad_lo] = PADDING
    codes[:, w.pad_lo + w.n:] = PADDING
    for r in never_visited(h):
        codes[r, :] = UNVISITED
    for c in never_visited(w):
        codes[:, c] = UNVISITED
    taps = conv_window(shape, out_row, out_col).cells()
    for r, c in taps:
        codes[r, c] = TAP_PADDING if _is_padding(shape, r, c) else TAP_INPUT
    return codes, taps


def _is_padding(shape: Shape2D, r: int, c: int) -> bool:
    h, w = shape.height, shape.width
    return not (h.pad_lo <= r < h.pad_lo + h.n and w.pad_lo <= c < w.pad_lo + w.n)


def conv_input_figure(shape: Shape2D, out_row: int, out_col: int) -> go.Figure:
    codes, taps = padded_input_codes(shape, out_row, out_col)
    rows, cols = zip(*taps)
    k_eff_box = Box(min(rows), min(cols), max(rows), max(cols), "#1d4ed8", 2.5, dash="dot")
    h, w = shape.height, shape.width
    inner = Box(h.pad_lo, w.pad_lo, h.pad_lo + h.n - 1, w.pad_lo + w.n - 1, "#334155", 1.5)
    text = _tap_text(codes) if max(codes.shape) <= 16 else None
    title = f"Input {h.n}×{w.n}" + (f", padded to {h.padded}×{w.padded}" if h.padded != h.n or w.padded != w.n else "")
    return category_figure(codes, INPUT_COLORS, boxes=[inner, k_eff_box], text=text, title=title)


def _tap_text(codes: np.ndarray) -> np.ndarray:
    text = np.full(codes.shape, "", dtype=object)
    text[codes == PADDING] = "0"
    text[codes == TAP_PADDING] = "0"
    return text


def output_codes(shape: Shape2D, step: int) -> np.ndarray:
    oh, ow = shape.out_hw  # type: ignore[misc]
    flat = np.full(oh * ow, TODO, dtype=int)
    flat[:step] = DONE
    flat[step] = CURRENT
    return flat.reshape(oh, ow)


def output_figure(shape: Shape2D, step: int, title: str) -> go.Figure:
    codes = output_codes(shape, step)
    fig = category_figure(codes, OUTPUT_COLORS, title=title)
    _add_click_targets(fig, codes.shape)
    return fig


def _add_click_targets(fig: go.Figure, hw: tuple[int, int]) -> None:
    """Invisible markers on every cell so a click selects that cell (heatmaps have no point selection)."""
    rows, cols = np.divmod(np.arange(hw[0] * hw[1]), hw[1])
    fig.add_trace(go.Scatter(
        x=cols, y=rows, mode="markers", marker={"size": 18, "opacity": 0.01, "symbol": "square"},
        hovertemplate="output row %{y}, col %{x}: click to select<extra></extra>", showlegend=False,
    ))


def transposed_input_figure(shape: Shape2D, in_row: int, in_col: int) -> go.Figure:
    h, w = shape.height, shape.width
    codes = np.full((h.n, w.n), 0, dtype=int)
    codes.flat[: in_row * w.n + in_col] = 1
    codes[in_row, in_col] = 2
    fig = category_figure(codes, OUTPUT_COLORS[:1] + ("#bbf7d0", "#2563eb"), title=f"Input {h.n}×{w.n}")
    _add_click_targets(fig, codes.shape)
    return fig


def transposed_output_figure(shape: Shape2D, in_row: int, in_col: int) -> go.Figure:
    oh, ow = shape.out_hw  # type: ignore[misc]
    codes = np.zeros((oh, ow), dtype=int)
    for idx in range(in_row * shape.width.n + in_col):
        r, c = divmod(idx, shape.width.n)
        for cell in transposed_footprint(shape, r, c):
            codes[cell] = 1
    for cell in transposed_footprint(shape, in_row, in_col):
        codes[cell] = 2
    return category_figure(codes, ("#e2e8f0", "#bbf7d0", "#2563eb"),
                           title=f"Output {oh}×{ow}")


def legend_html(labels: tuple[str, ...], colors: tuple[str, ...]) -> str:
    chips = " ".join(
        f"<span style='display:inline-block;width:0.9em;height:0.9em;background:{c};border:1px solid #94a3b8;"
        f"vertical-align:middle;margin:0 0.3em 0 0.8em'></span>{label}" for label, c in zip(labels, colors)
    )
    return f"<div style='font-size:0.85rem;color:#475569'>{chips}</div>"
