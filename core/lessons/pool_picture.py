"""The pooling lesson's pictures: pooling window by window, and pooling across the channels of a stack.

Numbers from ``core.lessons.pooling``; ``core.lessons.picture`` turns them into the browser's payload.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from core.lessons.picture import OUTSIDE, PADDING, VALUE, Box, Picture, Step, box, fmt, grid, labels, scale_for
from core.lessons.pooling import PoolResult, channel_pool, window_cells

SIDE_CELL_PX = 30  # the side pictures (channels, shift, strided conv): a phone scrolls past them, not through them
OP_WORDS = {"max": "max", "avg": "average", "sum": "sum", "gap": "global average"}


def padded_input(x: np.ndarray, res: PoolResult, op: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The input with its padding and any ceil_mode overhang: (values, kinds, texts); padding holds −∞
    for max pooling (it never wins) and 0 otherwise, the overhang nothing."""
    h, w = res.shape.height, res.shape.width
    oh, ow = res.values.shape
    H, W = x.shape
    eh, ew = max(h.padded, (oh - 1) * h.s + h.k), max(w.padded, (ow - 1) * w.s + w.k)
    z = np.zeros((eh, ew))
    kind = np.full((eh, ew), OUTSIDE)
    kind[:h.padded, :w.padded] = PADDING
    kind[h.pad_lo:h.pad_lo + H, w.pad_lo:w.pad_lo + W] = VALUE
    z[h.pad_lo:h.pad_lo + H, w.pad_lo:w.pad_lo + W] = x
    text = np.vectorize(fmt, otypes=[object])(z)
    text[kind == PADDING] = "−∞" if op == "max" else "0"
    text[kind == OUTSIDE] = ""
    return z, kind, text


def _result(op: str, window: np.ndarray, value: float, div: int | None) -> str:
    if op == "max":
        return f"max = {fmt(value)}"
    if op == "sum":
        return f"sum = {fmt(value)}"
    return f"sum {fmt(window.sum())} ÷ {div} = {fmt(value)}"


def pool_picture(x: np.ndarray, res: PoolResult, op: str, selected: int, decisive: np.ndarray | None = None) -> Picture:
    """Input (padded) and output of a pooling layer, one step per window. ``decisive`` (max pooling): the
    windows whose winner is not a tie of one repeated value; their winning cell is marked."""
    h, w = res.shape.height, res.shape.width
    oh, ow = res.values.shape
    z, kind, text = padded_input(x, res, op)
    steps = []
    win_r, win_c = res.argmax_rc() if res.argmax is not None else (None, None)
    for index in range(oh * ow):
        r, c, top, left = window_cells(res.shape, index)
        cells = z[top:top + h.k, left:left + w.k] * (kind[top:top + h.k, left:left + w.k] == VALUE)
        div = int(res.divisors[r, c]) if res.divisors is not None else None
        mark = None
        if win_r is not None and (decisive is None or decisive[r, c]):
            mark = Box(0, int(win_r[r, c]) + h.pad_lo, 1, 1, int(win_c[r, c]) + w.pad_lo, 1, 1)
        steps.append(Step((box(0, range(top, top + h.k), range(left, left + w.k)), Box(1, r, 1, 1, c, 1, 1)),
                          (), _result(op, cells, float(res.values[r, c]), div), mark))
    H, W = x.shape
    padded = " with padding" if (h.pad_lo or w.pad_lo) else ""
    grids = (
        grid(f"Input {H}×{W}{padded}", z, kind=kind, text=text, row_labels=labels(z.shape[0], h.pad_lo, H),
             col_labels=labels(z.shape[1], w.pad_lo, W), scale=scale_for(x),
             frame=(h.pad_lo, w.pad_lo, h.pad_lo + H - 1, w.pad_lo + W - 1) if z.shape != x.shape else None),
        grid(f"Output {oh}×{ow}", res.values, scale=scale_for(res.values)),
    )
    frames: tuple[Box, ...] = ()
    if op != "gap" and oh * ow > 1 and h.s >= h.k and w.s >= w.k:  # windows tile the input: outline them all
        frames = tuple(s.boxes[0] for s in steps)
    winners = tuple(s.mark for s in steps if s.mark is not None)
    aria = (f"{OP_WORDS[op].capitalize()} pooling: a {H}×{W} input, {h.k}×{w.k} windows at stride {h.s}, "
            f"a {oh}×{ow} output. Move over an output cell to see its window; arrow keys move the selected cell.")
    return Picture(grids, 1, tuple(steps), selected, aria, products_label="", play=oh * ow > 1, frames=frames,
                   winners=winners, padding_label="padding (−∞: it never wins)" if op == "max" else "zero padding")


def channel_picture(stack: np.ndarray, names: Sequence[str], op: str, selected: int) -> Picture:
    """A stack (C, H, W) and its pooling across channels: one step per position, reading that position in
    every channel."""
    stack = np.asarray(stack, dtype=np.float64)
    C, H, W = stack.shape
    out = channel_pool(stack, op)
    steps = []
    for index in range(H * W):
        r, c = divmod(index, W)
        boxes = tuple(Box(i, r, 1, 1, c, 1, 1) for i in range(C)) + (Box(C, r, 1, 1, c, 1, 1),)
        column = stack[:, r, c]
        result = (f"mean = sum {fmt(column.sum())} ÷ {C} = {fmt(out[r, c])}" if op == "mean"
                  else f"{op} = {fmt(out[r, c])}")
        steps.append(Step(boxes, (), result))
    bound = float(np.max(np.abs(stack))) or 1.0
    grids = tuple(grid(name, stack[i], scale="diverging" if stack.min() < 0 else "blues")
                  for i, name in enumerate(names)) + (grid(f"{op} over {C} channels", out, scale=scale_for(out)),)
    aria = (f"Pooling across channels: {C} feature maps of {H}×{W}; each output cell is the {op} of the {C} "
            f"values at its position (largest magnitude {fmt(bound)}).")
    return Picture(grids, C, tuple(steps), selected, aria, cell_title="Position", values_label="channels",
                   products_label="", value_boxes=C, play=False, max_cell=SIDE_CELL_PX,
                   hint="Hover a cell of the last map · click to select")


def _real_window(res: PoolResult, index: int) -> tuple[range, range]:
    """Window ``index`` clipped to the unpadded input (every window holds at least one real cell)."""
    h, w = res.shape.height, res.shape.width
    H, W = res.in_hw
    _, _, top, left = window_cells(res.shape, index)
    return (range(max(top - h.pad_lo, 0), min(top - h.pad_lo + h.k, H)),
            range(max(left - w.pad_lo, 0), min(left - w.pad_lo + w.k, W)))


def shift_picture(x: np.ndarray, shifted: np.ndarray, before: PoolResult, after: PoolResult, op: str,
                  shift: tuple[int, int]) -> Picture:
    """The map, its shifted copy and both pooled: hovering a pooled cell shows its window in both maps and
    the value before and after the shift."""
    oh, ow = after.values.shape
    steps = []
    for index in range(oh * ow):
        r, c = divmod(index, ow)
        rows, cols = _real_window(after, index)
        steps.append(Step((box(1, rows, cols), Box(3, r, 1, 1, c, 1, 1), Box(2, r, 1, 1, c, 1, 1), box(0, rows, cols)),
                          (), f"{OP_WORDS[op]} = {fmt(after.values[r, c])} (before the shift {fmt(before.values[r, c])})"))
    scale = "diverging" if min(x.min(), shifted.min()) < 0 else "blues"
    grids = (grid("original", x, scale=scale), grid(f"shifted ({shift[0]:+d}, {shift[1]:+d})", shifted, scale=scale),
             grid("pooled original", before.values, scale=scale), grid("pooled shifted", after.values, scale=scale))
    aria = (f"The map and the map shifted by {shift[0]:+d} rows and {shift[1]:+d} columns, each pooled to "
            f"{oh}×{ow}; move over a pooled cell to compare its value before and after the shift.")
    return Picture(grids, 3, tuple(steps), 0, aria, cell_title="Pooled cell", values_label="shifted window",
                   products_label="", play=False, max_cell=SIDE_CELL_PX, hint="Hover a cell of “pooled shifted”")


def versus_picture(pooled: np.ndarray, conv: np.ndarray, pool_title: str, conv_title: str) -> Picture:
    """Pooling's output beside a strided convolution's (which may be smaller: it has no ceil_mode)."""
    oh, ow = conv.shape
    steps = tuple(Step((Box(0, r, 1, 1, c, 1, 1), Box(1, r, 1, 1, c, 1, 1)), (),
                       f"conv = {fmt(conv[r, c])}, pooling = {fmt(pooled[r, c])}")
                  for r in range(oh) for c in range(ow))
    grids = (grid(pool_title, pooled), grid(conv_title, conv))
    aria = f"{pool_title} ({pooled.shape[0]}×{pooled.shape[1]}) beside {conv_title} ({oh}×{ow})."
    return Picture(grids, 1, steps, 0, aria, cell_title="Cell", values_label="pooling", products_label="", play=False,
                   max_cell=SIDE_CELL_PX, hint="Hover a cell of the convolution's output")
