"""The lesson picture's payload: grids of numbers, and for every output cell the cells it reads and its
arithmetic, all computed here so the browser only indexes (it never multiplies or adds a shown number).

A picture is a few grids (input with padding, kernel, output, or one grid per channel) and one *step* per
output cell in row-major order. A step lists the boxes it reads (an arithmetic progression of rows times
one of columns in one grid: a window, with dilation gaps when the step is > 1) and its readout: the
products it adds (empty where there is nothing to multiply, as in pooling) and its result sentence. The
window values are the grid's own texts at the boxes' cells. ``Picture.payload`` turns it into the JSON the
browser element (``ui/lesson_picture.js``) draws. Plain Python and NumPy: no Streamlit, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

MAX_CELLS = 12_000  # grid cells one picture draws (a 64×64 input with padding 8 and its output fit)
MAX_PRODUCTS = 20_000  # products listed over all output cells; beyond it the readout gives the sum only
MAX_CELL_PX = 44  # the largest cell the browser draws (small grids are not blown up)

# What a cell is, when it is not a plain value (the browser colours these with fixed colours).
VALUE, PADDING, OUTSIDE, UNVISITED, INSERTED = range(5)
KIND_LABELS = {PADDING: "zero padding", OUTSIDE: "outside the input (ignored)", UNVISITED: "never visited",
               INSERTED: "inserted zero"}
SCALES = ("blues", "diverging")


class PictureTooLarge(ValueError):
    """A picture with more cells than the browser element is sent; the message says what to shrink."""


def fmt(v: float) -> str:
    """A value as the picture writes it: whole numbers without a point, others to 2 decimals (0 above 100)."""
    if not np.isfinite(v):
        return "−∞" if v < 0 else "∞"
    v = float(v)
    if v.is_integer():
        return str(int(v)).replace("-", "−")
    text = f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}".rstrip("0").rstrip(".")
    return text.replace("-", "−")


@dataclass(frozen=True)
class Grid:
    """One grid of the picture: texts, colour positions and kinds, row-major."""

    title: str
    rows: int
    cols: int
    text: tuple[str, ...]  # what the cell says ("" for nothing)
    tone: tuple[int, ...]  # position on the grid's colour scale: 0..100 (blues) or −100..100 (diverging)
    kind: tuple[int, ...]  # VALUE, PADDING, ...
    row_labels: tuple[str, ...]  # "" where a row gets no label (padding)
    col_labels: tuple[str, ...]
    scale: str = "blues"
    low: str = ""  # the scale's ends, as the legend writes them
    high: str = ""
    frame: tuple[int, int, int, int] | None = None  # (top, left, bottom, right) of the input inside its padding

    def payload(self) -> dict:
        return {"title": self.title, "rows": self.rows, "cols": self.cols, "text": list(self.text),
                "tone": list(self.tone), "kind": list(self.kind), "rowLabels": list(self.row_labels),
                "colLabels": list(self.col_labels), "scale": self.scale, "low": self.low, "high": self.high,
                "frame": list(self.frame) if self.frame else None}


@dataclass(frozen=True)
class Box:
    """Cells of one grid read by a step: rows r0, r0 + rs, … (rn of them) times columns c0, c0 + cs, …"""

    grid: int
    r0: int
    rn: int
    rs: int
    c0: int
    cn: int
    cs: int

    def cells(self) -> list[tuple[int, int]]:
        return [(self.r0 + i * self.rs, self.c0 + j * self.cs) for i in range(self.rn) for j in range(self.cn)]

    def flat(self) -> list[int]:
        return [self.grid, self.r0, self.rn, self.rs, self.c0, self.cn, self.cs]


def box(grid: int, rows: Sequence[int], cols: Sequence[int]) -> Box:
    """The Box of evenly spaced ``rows`` × ``cols`` (a window's taps)."""
    rs = rows[1] - rows[0] if len(rows) > 1 else 1
    cs = cols[1] - cols[0] if len(cols) > 1 else 1
    return Box(grid, int(rows[0]), len(rows), int(rs), int(cols[0]), len(cols), int(cs))


@dataclass(frozen=True)
class Step:
    """One output cell: what it reads (the first box's cells are its window values, in order) and how it
    is computed. ``products`` pair with the window values; ``result`` is the sentence after them."""

    boxes: tuple[Box, ...]
    products: tuple[str, ...]
    result: str
    mark: Box | None = None  # one cell drawn apart (max pooling's winner)


@dataclass(frozen=True)
class Picture:
    grids: tuple[Grid, ...]
    output: int  # which grid holds the output cells (one step per cell, row-major)
    steps: tuple[Step, ...]
    selected: int  # the step shown when nothing is hovered
    aria: str  # the text alternative
    cell_title: str = "Output cell"  # "Output cell (r, c)" in the readout
    values_label: str = "window"
    products_label: str = "window × kernel"
    note: str = ""  # shown under the readout (e.g. why products are not listed)
    play: bool = True  # offer Play / Step
    value_boxes: int = 1  # the first boxes of a step whose cells are its window values (one per channel)
    frames: tuple[Box, ...] = ()  # drawn always, thin: e.g. every window when they tile the input
    winners: tuple[Box, ...] = ()  # drawn always, thin red: e.g. every window's argmax cell
    max_cell: int = MAX_CELL_PX  # a picture of several side pictures uses smaller cells on a phone
    hint: str = "Hover an output cell · click to select · arrow keys move"
    padding_label: str = KIND_LABELS[PADDING]  # max pooling pads with −∞, not zeros

    def __post_init__(self) -> None:
        cells = sum(g.rows * g.cols for g in self.grids)
        if cells > MAX_CELLS:
            raise PictureTooLarge(f"This picture would have {cells:,} cells, more than the {MAX_CELLS:,} it "
                                  "draws; make the input or the output smaller to see it.")
        out = self.grids[self.output]
        if len(self.steps) != out.rows * out.cols:
            raise ValueError(f"{len(self.steps)} steps for a {out.rows}×{out.cols} output grid.")
        if not 0 <= self.selected < len(self.steps):
            raise ValueError(f"Step {self.selected} is outside the {len(self.steps)} output cells.")

    def payload(self) -> dict:
        return {
            "grids": [g.payload() for g in self.grids], "output": self.output,
            "boxes": [[v for b in s.boxes for v in b.flat()] for s in self.steps],
            "products": [list(s.products) for s in self.steps], "results": [s.result for s in self.steps],
            "marks": [s.mark.flat() if s.mark else [] for s in self.steps], "valueBoxes": self.value_boxes,
            "frames": [v for b in self.frames for v in b.flat()], "winners": [v for b in self.winners for v in b.flat()],
            "selected": self.selected, "aria": self.aria, "cellTitle": self.cell_title,
            "valuesLabel": self.values_label, "productsLabel": self.products_label, "note": self.note,
            "play": self.play, "maxCell": self.max_cell, "hint": self.hint,
            "legend": [[k, self.padding_label if k == PADDING else KIND_LABELS[k]]
                       for k in sorted({k for g in self.grids for k in g.kind} - {VALUE})],
        }

    def window_values(self, index: int) -> list[str]:
        """The texts of the cells step ``index`` reads (its first ``value_boxes`` boxes): what the readout lists."""
        out = []
        for b in self.steps[index].boxes[: self.value_boxes]:
            g = self.grids[b.grid]
            out += [g.text[r * g.cols + c] for r, c in b.cells()]
        return out


# ---------------------------------------------------------------------------------------------
# Building grids from arrays


def tones(values: np.ndarray, scale: str, lo: float | None = None, hi: float | None = None) -> tuple[np.ndarray, str, str]:
    """Colour positions of finite ``values`` (NaN/inf → 0), and the scale's ends as text."""
    finite = values[np.isfinite(values)]
    if scale == "diverging":
        bound = float(np.max(np.abs(finite))) if finite.size else 1.0
        bound = bound or 1.0
        t = np.clip(np.nan_to_num(values / bound, posinf=0, neginf=0) * 100, -100, 100)
        return np.rint(t).astype(int), fmt(-bound), fmt(bound)
    lo = float(finite.min()) if lo is None and finite.size else (lo or 0.0)
    hi = float(finite.max()) if hi is None and finite.size else (hi if hi is not None else 1.0)
    span = (hi - lo) or 1.0
    t = np.clip(np.nan_to_num((values - lo) / span, posinf=0, neginf=0) * 100, 0, 100)
    return np.rint(t).astype(int), fmt(lo), fmt(hi)


def scale_for(values: np.ndarray) -> str:
    """Diverging when the values have both signs (a feature map, a kernel), else blues."""
    finite = values[np.isfinite(values)]
    return "diverging" if finite.size and finite.min() < 0 else "blues"


def grid(title: str, values: np.ndarray, *, kind: np.ndarray | None = None, text: np.ndarray | None = None,
         row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None,
         scale: str | None = None, frame: tuple[int, int, int, int] | None = None) -> Grid:
    """A Grid of (rows, cols) ``values``; ``text`` defaults to the formatted values."""
    values = np.asarray(values, dtype=np.float64)
    rows, cols = values.shape
    kind = np.full(values.shape, VALUE, dtype=int) if kind is None else kind
    scale = scale or scale_for(values[kind == VALUE])
    tone, low, high = tones(np.where(kind == VALUE, values, np.nan), scale)
    text = np.vectorize(fmt, otypes=[object])(values) if text is None else text
    return Grid(title, rows, cols, tuple(str(t) for t in text.ravel()), tuple(int(t) for t in tone.ravel()),
                tuple(int(k) for k in kind.ravel()),
                tuple(row_labels) if row_labels is not None else tuple(str(i) for i in range(rows)),
                tuple(col_labels) if col_labels is not None else tuple(str(j) for j in range(cols)),
                scale, low, high, frame)


def labels(total: int, offset: int, n: int) -> tuple[str, ...]:
    """Axis labels of a padded axis of ``total`` cells: input index i at cell i + offset, none elsewhere."""
    return tuple(str(i - offset) if 0 <= i - offset < n else "" for i in range(total))


def products_allowed(n_steps: int, per_step: int) -> bool:
    return n_steps * per_step <= MAX_PRODUCTS


def products_note(n_steps: int, per_step: int) -> str:
    if products_allowed(n_steps, per_step):
        return ""
    return (f"{n_steps:,} output cells × {per_step} products each are more than the picture lists "
            f"({MAX_PRODUCTS:,}): the readout gives the window and the sum.")
