"""The arithmetic lesson's pictures: a convolution on example numbers, a transposed convolution (as a scatter
and as zero insertion followed by an ordinary convolution) and the convolution as a matrix, y = C·x.

Every number comes from here (``core.lessons.picture`` turns it into the browser's payload); the sizes come
from ``core.arithmetic``.
"""

from __future__ import annotations

import numpy as np

from core.arithmetic import Shape2D, never_visited
from core.lessons.picture import (
    INSERTED, PADDING, UNVISITED, VALUE, Box, Picture, Step, box, fmt, grid, labels, products_allowed,
    products_note,
)

MATRIX_MAX_SIDE = 7  # the matrix view: an input up to 7×7 (C is then at most 49×49)


def example_layer(shape: Shape2D) -> tuple[np.ndarray, np.ndarray]:
    """Fixed example numbers for a layer: an input (H, W) of digits 0–9 and a kernel (kh, kw) of −1/0/1
    (seeded, so every student sees the same numbers for the same layer)."""
    rng = np.random.default_rng(7)
    h, w = shape.height, shape.width
    return rng.integers(0, 10, (h.n, w.n)).astype(float), rng.integers(-1, 2, (h.k, w.k)).astype(float)


def tap_indices(out: int, k: int, s: int, d: int) -> np.ndarray:
    """(out, k) padded-grid positions each output reads along one axis."""
    return (np.arange(out) * s)[:, None] + d * np.arange(k)[None, :]


def correlate(padded: np.ndarray, kernel: np.ndarray, s: tuple[int, int], d: tuple[int, int],
              out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross-correlation of a padded grid: (rows (OH, kh), cols (OW, kw), products (OH, OW, kh, kw))."""
    rows = tap_indices(out_hw[0], kernel.shape[0], s[0], d[0])
    cols = tap_indices(out_hw[1], kernel.shape[1], s[1], d[1])
    windows = padded[rows[:, None, :, None], cols[None, :, None, :]]  # (OH, OW, kh, kw)
    return rows, cols, windows * kernel


def _steps(rows, cols, prods, kernel_grid: int, out_grid: int, listed: bool) -> tuple[Step, ...]:
    oh, ow, kh, kw = prods.shape
    sums = prods.sum(axis=(2, 3))
    kernel_box = Box(kernel_grid, 0, kh, 1, 0, kw, 1)
    return tuple(
        Step((box(0, rows[r], cols[c]), kernel_box, Box(out_grid, r, 1, 1, c, 1, 1)),
             tuple(fmt(v) for v in prods[r, c].ravel()) if listed else (), f"sum = {fmt(sums[r, c])}")
        for r in range(oh) for c in range(ow))


def conv_picture(shape: Shape2D, x: np.ndarray, kernel: np.ndarray, selected: int) -> Picture:
    """A convolution of ``x`` (H, W) by ``kernel`` (kh, kw) with the layer's stride, padding and dilation."""
    h, w = shape.height, shape.width
    oh, ow = shape.out_hw  # type: ignore[misc]
    padded = np.pad(x, ((h.pad_lo, h.pad_hi), (w.pad_lo, w.pad_hi)))  # (H + pads, W + pads)
    kind = np.full(padded.shape, PADDING)
    kind[h.pad_lo:h.pad_lo + h.n, w.pad_lo:w.pad_lo + w.n] = VALUE
    kind[never_visited(h), :] = UNVISITED
    kind[:, never_visited(w)] = UNVISITED
    rows, cols, prods = correlate(padded, kernel, (h.s, w.s), (h.d, w.d), (oh, ow))
    sums = prods.sum(axis=(2, 3))
    title = f"Input {h.n}×{w.n}" + (f", padded to {h.padded}×{w.padded}" if (h.padded, w.padded) != (h.n, w.n) else "")
    gap = f", dilation {h.d}" if h.d > 1 or w.d > 1 else ""
    grids = (
        grid(title, padded, kind=kind, row_labels=labels(h.padded, h.pad_lo, h.n),
             col_labels=labels(w.padded, w.pad_lo, w.n), scale="blues",
             frame=(h.pad_lo, w.pad_lo, h.pad_lo + h.n - 1, w.pad_lo + w.n - 1) if padded.shape != x.shape else None),
        grid(f"Kernel {h.k}×{w.k}{gap}", kernel, scale="diverging"),
        grid(f"Output {oh}×{ow}", sums, scale="diverging"),
    )
    listed = products_allowed(oh * ow, h.k * w.k)
    aria = (f"Convolution: {title}, a {h.k}×{w.k} kernel and a {oh}×{ow} output. Each output cell is the sum of "
            "its window times the kernel. Move over an output cell to see its window; arrow keys move the "
            "selected cell.")
    return Picture(grids, 2, _steps(rows, cols, prods, 1, 2, listed), selected, aria,
                   note=products_note(oh * ow, h.k * w.k))


# ---------------------------------------------------------------------------------------------
# Transposed convolution


def _pad_or_crop(a: np.ndarray, before: int, after: int, axis: int, fill: int | float) -> np.ndarray:
    """Pad ``a`` with ``fill`` along ``axis`` (a negative amount crops that many cells instead)."""
    n = a.shape[axis]
    a = np.take(a, range(max(0, -before), n - max(0, -after)), axis=axis)
    pads = [(0, 0)] * a.ndim
    pads[axis] = (max(0, before), max(0, after))
    return np.pad(a, pads, constant_values=fill)


def zero_inserted(shape: Shape2D, x: np.ndarray, output_padding: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The ordinary convolution's input that a transposed convolution equals: s − 1 zeros between values,
    d(k−1) − p zeros around (a negative amount crops), output_padding more at the bottom and right.
    Returns (grid, kinds, (top, left) padding)."""
    h, w = shape.height, shape.width
    z = np.zeros(((h.n - 1) * h.s + 1, (w.n - 1) * w.s + 1))
    kind = np.full(z.shape, INSERTED)
    z[::h.s, ::w.s] = x
    kind[::h.s, ::w.s] = VALUE
    pads = []
    for axis, ax in ((0, h), (1, w)):
        q = ax.d * (ax.k - 1) - ax.pad_lo
        z = _pad_or_crop(z, q, q + output_padding, axis, 0.0)
        kind = _pad_or_crop(kind, q, q + output_padding, axis, PADDING)
        pads.append(q)
    return z, kind, (pads[0], pads[1])


def _inside(kind: np.ndarray) -> tuple[int, int, int, int] | None:
    """The rows and columns the zero-inserted input spans inside its padding (None when none is left)."""
    rows, cols = np.where(kind != PADDING)
    if rows.size == 0:
        return None
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


def transposed_conv(shape: Shape2D, x: np.ndarray, kernel: np.ndarray, output_padding: int) -> np.ndarray:
    """``ConvTranspose2d`` of ``x`` (H, W) by ``kernel`` (kh, kw), as zero insertion + a stride-1 convolution
    with the flipped kernel (the picture's numbers)."""
    h, w = shape.height, shape.width
    z, _, _ = zero_inserted(shape, x, output_padding)
    _, _, prods = correlate(z, kernel[::-1, ::-1], (1, 1), (h.d, w.d), shape.out_hw)  # type: ignore[arg-type]
    return prods.sum(axis=(2, 3))


def transposed_picture(shape: Shape2D, x: np.ndarray, kernel: np.ndarray, output_padding: int,
                       selected: int) -> Picture:
    """The transposed convolution as zero insertion followed by an ordinary (stride 1) convolution."""
    h, w = shape.height, shape.width
    oh, ow = shape.out_hw  # type: ignore[misc]
    z, kind, (top, left) = zero_inserted(shape, x, output_padding)
    flipped = kernel[::-1, ::-1]
    rows, cols, prods = correlate(z, flipped, (1, 1), (h.d, w.d), (oh, ow))
    no = [""] * z.shape[1]
    grids = (
        grid(f"Input {h.n}×{w.n} with zeros inserted: {z.shape[0]}×{z.shape[1]}", z, kind=kind, scale="blues",
             row_labels=[""] * z.shape[0], col_labels=no, frame=_inside(kind)),
        grid(f"Kernel {h.k}×{w.k}, flipped", flipped, scale="diverging"),
        grid(f"Output {oh}×{ow}", prods.sum(axis=(2, 3)), scale="diverging"),
    )
    listed = products_allowed(oh * ow, h.k * w.k)
    aria = (f"Transposed convolution as an ordinary one: the {h.n}×{w.n} input with {h.s - 1} zeros inserted "
            f"between values and {top} around, convolved with the flipped kernel at stride 1, gives {oh}×{ow}.")
    return Picture(grids, 2, _steps(rows, cols, prods, 1, 2, listed), selected, aria,
                   note=products_note(oh * ow, h.k * w.k))


# ---------------------------------------------------------------------------------------------
# The convolution as a matrix: y = C·x


def conv_matrix(shape: Shape2D, kernel: np.ndarray) -> np.ndarray:
    """C (OH·OW, H·W) with flatten(conv(x)) = C · flatten(x); padding taps read zeros, so they drop out.
    Its transpose Cᵀ is the transposed convolution with the same kernel, stride, padding and dilation."""
    h, w = shape.height, shape.width
    oh, ow = shape.out_hw  # type: ignore[misc]
    rows = tap_indices(oh, h.k, h.s, h.d) - h.pad_lo  # (OH, kh) input rows
    cols = tap_indices(ow, w.k, w.s, w.d) - w.pad_lo  # (OW, kw)
    r = np.broadcast_to(rows[:, None, :, None], (oh, ow, h.k, w.k))
    c = np.broadcast_to(cols[None, :, None, :], (oh, ow, h.k, w.k))
    out = np.broadcast_to(np.arange(oh * ow).reshape(oh, ow, 1, 1), r.shape)
    k = np.broadcast_to(kernel, r.shape)
    inside = (r >= 0) & (r < h.n) & (c >= 0) & (c < w.n)
    matrix = np.zeros((oh * ow, h.n * w.n))
    np.add.at(matrix, (out[inside], r[inside] * w.n + c[inside]), k[inside])
    return matrix


def matrix_picture(shape: Shape2D, x: np.ndarray, kernel: np.ndarray, selected: int) -> Picture:
    """x, C and y = C·x side by side; an output cell's row of C multiplies the input values it is not 0 at."""
    h, w = shape.height, shape.width
    oh, ow = shape.out_hw  # type: ignore[misc]
    if max(h.n, w.n) > MATRIX_MAX_SIDE:
        raise ValueError(f"The matrix view is for inputs up to {MATRIX_MAX_SIDE}×{MATRIX_MAX_SIDE}.")
    matrix = conv_matrix(shape, kernel)
    y = matrix @ x.ravel()
    tap_rows = tap_indices(oh, h.k, h.s, h.d) - h.pad_lo  # (OH, kh) input rows, padding outside 0..H-1
    tap_cols = tap_indices(ow, w.k, w.s, w.d) - w.pad_lo
    steps = []
    for i in range(oh * ow):
        r, c = divmod(i, ow)
        rr = [int(a) for a in tap_rows[r] if 0 <= a < h.n]
        cc = [int(b) for b in tap_cols[c] if 0 <= b < w.n]
        row_box, out_box = Box(1, i, 1, 1, 0, h.n * w.n, 1), Box(2, r, 1, 1, c, 1, 1)
        if not rr or not cc:  # a window wholly over padding reads no input value
            steps.append(Step((row_box, out_box), (), f"row {i} of C is all zeros: y = 0"))
            continue
        prods = tuple(fmt(matrix[i, a * w.n + b] * x[a, b]) for a in rr for b in cc)
        steps.append(Step((box(0, rr, cc), row_box, out_box), prods, f"row {i} of C · x = {fmt(y[i])}"))
    grids = (
        grid(f"x: input {h.n}×{w.n}", x, scale="blues"),
        grid(f"C: {oh * ow}×{h.n * w.n}", matrix, scale="diverging",
             row_labels=[str(i) for i in range(oh * ow)], col_labels=[str(j) for j in range(h.n * w.n)]),
        grid(f"y = C·x: {oh}×{ow}", y.reshape(oh, ow), scale="diverging"),
    )
    aria = (f"The convolution as a matrix: C has one row per output cell ({oh * ow}) and one column per input "
            f"cell ({h.n * w.n}); each row holds the kernel's values at the input cells its window covers.")
    return Picture(grids, 2, tuple(steps), selected, aria, products_label="C row × x", play=False,
                   hint="Hover a cell of y: its row of C lights up · click to select")


def scatter_picture(shape: Shape2D, x: np.ndarray, kernel: np.ndarray, output_padding: int, selected: int) -> Picture:
    """The transposed convolution as a scatter: input cell (i, j) times the whole kernel, added into the
    output cells i·s − p + d·m (those the padding does not crop away). Column (i, j) of Cᵀ, in a picture."""
    h, w = shape.height, shape.width
    oh, ow = shape.out_hw  # type: ignore[misc]
    y = transposed_conv(shape, x, kernel, output_padding)
    steps = []
    for i in range(h.n):
        rows = [(m, i * h.s - h.pad_lo + h.d * m) for m in range(h.k)]
        rows = [(m, r) for m, r in rows if 0 <= r < oh]
        for j in range(w.n):
            cols = [(m, j * w.s - w.pad_lo + w.d * m) for m in range(w.k)]
            cols = [(m, c) for m, c in cols if 0 <= c < ow]
            boxes = [Box(0, i, 1, 1, j, 1, 1)]
            if rows and cols:
                boxes += [box(1, [m for m, _ in rows], [m for m, _ in cols]), box(2, [r for _, r in rows], [c for _, c in cols])]
            prods = tuple(fmt(x[i, j] * kernel[a, b]) for a, _ in rows for b, _ in cols)
            where = f"added into {len(prods)} output cells" if prods else "cropped away by the padding"
            steps.append(Step(tuple(boxes), prods, f"{fmt(x[i, j])} × kernel, {where}"))
    grids = (grid(f"Input {h.n}×{w.n}", x, scale="blues"), grid(f"Kernel {h.k}×{w.k}", kernel, scale="diverging"),
             grid(f"Output {oh}×{ow} (all scatters added)", y, scale="diverging"))
    aria = (f"The transposed convolution as a scatter: each of the {h.n}×{w.n} input values times the "
            f"{h.k}×{w.k} kernel is added into the {oh}×{ow} output, {h.s} cells apart.")
    return Picture(grids, 0, tuple(steps), selected, aria, cell_title="Input cell", values_label="input value",
                   products_label="value × kernel", hint="Hover an input cell · click to select · arrow keys move")


def channels_picture(shape: Shape2D, x: np.ndarray, kernel: np.ndarray, bias: float, names: tuple[str, ...],
                     selected: int) -> Picture:
    """A several-channel input (C, H, W) and one output channel's kernel (C, kh, kw): each output cell is every
    channel's window times its kernel slice, summed over the channels, plus the bias."""
    h, w = shape.height, shape.width
    oh, ow = shape.out_hw  # type: ignore[misc]
    C = x.shape[0]
    padded = np.pad(x, ((0, 0), (h.pad_lo, h.pad_hi), (w.pad_lo, w.pad_hi)))  # (C, H + pads, W + pads)
    kind = np.full(padded.shape[1:], PADDING)
    kind[h.pad_lo:h.pad_lo + h.n, w.pad_lo:w.pad_lo + w.n] = VALUE
    frame = (h.pad_lo, w.pad_lo, h.pad_lo + h.n - 1, w.pad_lo + w.n - 1) if padded.shape[1:] != x.shape[1:] else None
    parts = [correlate(padded[c], kernel[c], (h.s, w.s), (h.d, w.d), (oh, ow)) for c in range(C)]
    rows, cols = parts[0][0], parts[0][1]
    sums = np.stack([p[2].sum(axis=(2, 3)) for p in parts])  # (C, OH, OW)
    total = sums.sum(axis=0) + bias
    listed = products_allowed(oh * ow, C * h.k * w.k)
    steps = []
    for r in range(oh):
        for c in range(ow):
            boxes = tuple(box(i, rows[r], cols[c]) for i in range(C))
            boxes += tuple(Box(C + i, 0, h.k, 1, 0, w.k, 1) for i in range(C)) + (Box(2 * C, r, 1, 1, c, 1, 1),)
            prods = tuple(fmt(v) for p in parts for v in p[2][r, c].ravel()) if listed else ()
            terms = " + ".join(f"{name} {fmt(sums[i, r, c])}" for i, name in enumerate(names))
            steps.append(Step(boxes, prods, f"{terms} + bias {fmt(bias)} = {fmt(total[r, c])}"))
    grids = tuple(grid(f"{name} input", padded[i], kind=kind, scale="blues", frame=frame,
                       row_labels=labels(h.padded, h.pad_lo, h.n), col_labels=labels(w.padded, w.pad_lo, w.n))
                  for i, name in enumerate(names))
    grids += tuple(grid(f"{name} kernel", kernel[i], scale="diverging") for i, name in enumerate(names))
    grids += (grid(f"Output {oh}×{ow}", total, scale="diverging"),)
    aria = (f"A {C}-channel input and a {C}-channel kernel: each output cell adds every channel's window times its "
            f"kernel slice, over the {C} channels, plus the bias {fmt(bias)}.")
    return Picture(grids, 2 * C, tuple(steps), selected, aria, value_boxes=C, play=False,
                   note=products_note(oh * ow, C * h.k * w.k))
