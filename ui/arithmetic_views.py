"""The convolution-arithmetic page's settings and figures: the padded input, the kernel footprint, the output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from core.arithmetic import PADDING_MODES, Shape2D, conv_window, never_visited
from core.lessons.conv_layer import Conv2dSpec, transposed_footprint
from core.links.settings import Settings, choice, flag, integer
from ui.fastfig import from_spec
from ui.grid import Box, category_spec
from ui.plot_click import cell_targets

OPS = {"conv": "Convolution", "transposed": "Transposed convolution"}
PADDING_LABELS = {"explicit": "Explicit", "valid": "Valid (none)", "same": "Same", "full": "Full"}
assert tuple(PADDING_LABELS) == PADDING_MODES
WIDTH_OF = {"h": "w", "k": "kw", "s": "sw", "p": "pw", "d": "dw"}  # a height field -> its width field


@dataclass(frozen=True)
class ArithmeticSettings(Settings, page="arithmetic"):
    """One conv layer and how the page shows it. Field names are the share-link keys (keep them)."""

    op: str = choice("conv", OPS, label="operation")
    h: int = integer(5, lo=1, hi=64, label="input height")
    w: int = integer(5, lo=1, hi=64, label="input width")
    rect: bool = flag(False, label="separate height/width", hidden=True)
    k: int = integer(3, lo=1, hi=11, label="kernel")
    kw: int = integer(3, lo=1, hi=11, label="kernel width")
    s: int = integer(2, lo=1, hi=6, label="stride")
    sw: int = integer(2, lo=1, hi=6, label="stride width")
    pm: str = choice("explicit", PADDING_LABELS, label="padding mode")
    p: int = integer(1, lo=0, hi=8, label="padding")
    pw: int = integer(1, lo=0, hi=8, label="padding width")
    d: int = integer(1, lo=1, hi=5, label="dilation", hidden=True)
    dw: int = integer(1, lo=1, hi=5, label="dilation width", hidden=True)
    cin: int = integer(1, lo=1, hi=64, label="input channels", hidden=True)
    cout: int = integer(1, lo=1, hi=64, label="output channels", hidden=True)
    op_pad: int = integer(0, lo=0, hi=5, label="output padding", hidden=True)
    step: int = integer(0, lo=0, hi=64 * 64 * 4, label="kernel position")
    torch: bool = flag(False, label="PyTorch check")
    quiz: bool = flag(False, label="predict-first mode")
    depth: int = integer(3, lo=1, hi=6, label="stack depth")

    @property
    def transposed(self) -> bool:
        return self.op == "transposed"

    def squared(self) -> "ArithmeticSettings":
        """Without separate height/width, every width value follows its height value (as the link says)."""
        if self.rect:
            return self
        return self.with_(**{wide: getattr(self, tall) for tall, wide in WIDTH_OF.items()})

    @property
    def in_hw(self) -> tuple[int, int]:
        return (self.h, self.w) if self.rect else (self.h, self.h)

    def spec(self) -> Conv2dSpec:
        sq = self.squared()
        return Conv2dSpec(kernel=(sq.k, sq.kw), stride=(sq.s, sq.sw), padding=(sq.p, sq.pw),
                          padding_mode="explicit" if self.transposed else self.pm, dilation=(sq.d, sq.dw),
                          in_channels=self.cin, out_channels=self.cout, transposed=self.transposed,
                          output_padding=self.op_pad)

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


MAX_ZERO_TEXT = 12  # padded grids larger than this per side leave the padding zeros out: too small to read
# Heights that fit the picture's columns at 1280 px (wider figures only add empty space under the grid).
INPUT_PX, OUTPUT_PX = 380, 300


def conv_input_figure(shape: Shape2D, out_row: int, out_col: int) -> go.Figure:
    codes, taps = padded_input_codes(shape, out_row, out_col)
    rows, cols = zip(*taps)
    k_eff_box = Box(min(rows), min(cols), max(rows), max(cols), "#1d4ed8", 2.5, dash="dot")
    h, w = shape.height, shape.width
    inner = Box(h.pad_lo, w.pad_lo, h.pad_lo + h.n - 1, w.pad_lo + w.n - 1, "#334155", 1.5)
    text = _tap_text(codes) if max(codes.shape) <= MAX_ZERO_TEXT else None
    title = f"Input {h.n}×{w.n}" + (f", padded to {h.padded}×{w.padded}" if h.padded != h.n or w.padded != w.n else "")
    spec = category_spec(codes, INPUT_COLORS, boxes=[inner, k_eff_box], text=text, title=title, max_px=INPUT_PX)
    if text is not None:
        spec["data"][0]["textfont"]["color"] = "#334155"  # dark zeros on the pale padding, readable
    return from_spec(spec)


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
    spec = category_spec(codes, OUTPUT_COLORS, title=title, max_px=OUTPUT_PX)
    _add_click_targets(spec, codes.shape)
    return from_spec(spec)


def _add_click_targets(spec: dict, hw: tuple[int, int]) -> None:
    rows, cols = np.divmod(np.arange(hw[0] * hw[1]), hw[1])
    spec["data"].append(cell_targets(rows, cols, size=18,
                                     hovertemplate="output row %{y}, col %{x}: click to select<extra></extra>"))


def transposed_input_figure(shape: Shape2D, in_row: int, in_col: int) -> go.Figure:
    h, w = shape.height, shape.width
    codes = np.full((h.n, w.n), 0, dtype=int)
    codes.flat[: in_row * w.n + in_col] = 1
    codes[in_row, in_col] = 2
    spec = category_spec(codes, OUTPUT_COLORS[:1] + ("#bbf7d0", "#2563eb"), title=f"Input {h.n}×{w.n}")
    _add_click_targets(spec, codes.shape)
    return from_spec(spec)


def transposed_output_figure(shape: Shape2D, in_row: int, in_col: int) -> go.Figure:
    oh, ow = shape.out_hw  # type: ignore[misc]
    codes = np.zeros((oh, ow), dtype=int)
    for idx in range(in_row * shape.width.n + in_col):
        r, c = divmod(idx, shape.width.n)
        for cell in transposed_footprint(shape, r, c):
            codes[cell] = 1
    for cell in transposed_footprint(shape, in_row, in_col):
        codes[cell] = 2
    return from_spec(category_spec(codes, ("#e2e8f0", "#bbf7d0", "#2563eb"), title=f"Output {oh}×{ow}"))


def legend_html(labels: tuple[str, ...], colors: tuple[str, ...]) -> str:
    chips = " ".join(
        f"<span style='display:inline-block;width:0.9em;height:0.9em;background:{c};border:1px solid #94a3b8;"
        f"vertical-align:middle;margin:0 0.3em 0 0.8em'></span>{label}" for label, c in zip(labels, colors)
    )
    return f"<div style='font-size:0.85rem;color:#475569'>{chips}</div>"



CHANNEL_NAMES = ("R", "G", "B")
MAX_MATRIX_TAPS = 5  # kernels larger than this per side show only the channel sums


def colour_example(shape: Shape2D) -> tuple[np.ndarray, np.ndarray, float]:
    """A small colour image (3, H, W) of digits 0–9, one output channel's kernel (3, kh, kw) of −1/0/1 and
    a bias: fixed numbers (seeded), so every student sees the same sums for the same layer."""
    rng = np.random.default_rng(7)
    h, w = shape.height, shape.width
    return (rng.integers(0, 10, (3, h.n, w.n)).astype(float), rng.integers(-1, 2, (3, h.k, w.k)).astype(float), 1.0)


def _matrix(m) -> str:
    rows = [" & ".join(f"{v:g}" for v in row) for row in m]
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


def channel_latex(name: str, window, kernel, total: float) -> str:
    """One channel's part: its window ⊙ its kernel slice, summed."""
    if max(len(window), len(window[0])) > MAX_MATRIX_TAPS:
        return rf"\textstyle\sum_\text{{{name}}} \text{{window}} \times \text{{kernel}} = {total:g}"
    return rf"{name}:\ {_matrix(window)} \odot {_matrix(kernel)} \to {total:g}"


def total_latex(sums: tuple[float, ...], bias: float, total: float) -> str:
    terms = " + ".join(f"({s:g})" if s < 0 else f"{s:g}" for s in sums)
    return rf"\text{{output}} = {terms} + {bias:g}\ (\text{{bias}}) = {total:g}"
