"""The Filters lesson's picture: a neighbourhood of the output around one pixel, the input cells it reads
and the kernel, so hovering an output pixel shows its window, the products and their sum at once.

A whole 192×192 photograph and its output are ~74,000 cells, six times what the lesson picture sends
(``picture.MAX_CELLS``): the page draws the full image and output as pictures, and this picture zooms into
an ``NEIGHBOURHOOD``×``NEIGHBOURHOOD`` block of output pixels around the selected one, with exact values.
Also the weight-sharing count: a conv layer against a locally-connected layer of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.lessons.conv_picture import _steps, tap_indices
from core.lessons.picture import PADDING, VALUE, Picture, grid, labels, scale_for

NEIGHBOURHOOD = 8  # output pixels a side: a 7×7 kernel with dilation 4 still fits the cell cap


def block(out_n: int, centre: int, size: int = NEIGHBOURHOOD) -> tuple[int, int]:
    """(first index, length) of a block of ``size`` output indices holding ``centre``, inside 0..out_n − 1."""
    n = min(size, out_n)
    centre = min(max(centre, 0), out_n - 1)
    return min(max(centre - n // 2, 0), out_n - n), n


def origin(out_hw: tuple[int, int], r: int, c: int) -> tuple[int, int, int, int]:
    """(r0, rows, c0, cols) of the output block the picture of pixel (r, c) shows."""
    return (*block(out_hw[0], r), *block(out_hw[1], c))


def filter_picture(image: np.ndarray, kernel: np.ndarray, stride: int, padding, dilation: int,
                   out_hw: tuple[int, int], r: int, c: int, kernel_name: str) -> Picture:
    """``image`` (H, W), ``kernel`` (kh, kw), ``padding`` ((top, bottom), (left, right)) as the page resolved it;
    the block of output pixels around (r, c), each step the cross-correlation PyTorch's conv2d computes."""
    (pt, pb), (pl, pr) = padding
    H, W = image.shape
    padded = np.pad(np.asarray(image, dtype=float), ((pt, pb), (pl, pr)))  # (H + pads, W + pads)
    kind = np.full(padded.shape, PADDING)
    kind[pt:pt + H, pl:pl + W] = VALUE
    r0, nr, c0, nc = origin(out_hw, r, c)
    kh, kw = kernel.shape
    rows = tap_indices(nr, kh, stride, dilation) + r0 * stride  # (nr, kh) positions in the padded image
    cols = tap_indices(nc, kw, stride, dilation) + c0 * stride
    top, left = int(rows.min()), int(cols.min())
    bottom, right = int(rows.max()) + 1, int(cols.max()) + 1
    crop, crop_kind = padded[top:bottom, left:right], kind[top:bottom, left:right]
    rows, cols = rows - top, cols - left
    prods = crop[rows[:, None, :, None], cols[None, :, None, :]] * kernel  # (nr, nc, kh, kw)
    sums = prods.sum(axis=(2, 3))
    grids = (
        grid(f"Input rows {top - pt}–{bottom - 1 - pt}", crop, kind=crop_kind, scale="blues",
             row_labels=labels(padded.shape[0], pt, H)[top:bottom],
             col_labels=labels(padded.shape[1], pl, W)[left:right]),
        grid(f"Kernel {kernel_name}", kernel, scale="diverging"),
        grid(f"Output rows {r0}–{r0 + nr - 1}", sums, scale=scale_for(sums),
             row_labels=[str(r0 + i) for i in range(nr)], col_labels=[str(c0 + j) for j in range(nc)]),
    )
    selected = (min(max(r, r0), r0 + nr - 1) - r0) * nc + min(max(c, c0), c0 + nc - 1) - c0
    aria = (f"A {nr}×{nc} block of the {out_hw[0]}×{out_hw[1]} output from row {r0}, column {c0}, the input "
            f"cells it reads and the {kh}×{kw} kernel. Each output pixel is the sum of its window times the "
            "kernel, the same kernel at every position. Move over an output pixel to see its arithmetic.")
    return Picture(grids, 2, _steps(rows, cols, prods, 1, 2, True), selected, aria, cell_title="Output pixel",
                   hint="Hover an output pixel · click to pin it (into the link) · arrow keys move")


def absolute(out_hw: tuple[int, int], r: int, c: int, cell: int) -> tuple[int, int]:
    """The output pixel that ``cell`` of the picture drawn for pixel (r, c) is."""
    r0, _, c0, nc = origin(out_hw, r, c)
    i, j = divmod(cell, nc)
    return r0 + i, c0 + j


@dataclass(frozen=True)
class WeightSharing:
    """One conv layer's weights against a locally-connected layer (its own kernel at every position)."""

    positions: int  # output pixels, each a window position
    taps: int  # weights in one kernel (kh·kw·in channels)
    channels: int  # kernels (output channels)
    conv: int  # conv weights + biases
    local: int  # locally-connected weights + biases

    @property
    def ratio(self) -> float:
        return self.local / self.conv


def weight_sharing(out_hw: tuple[int, int], kernel_hw: tuple[int, int], in_channels: int = 1,
                   out_channels: int = 1, bias: bool = True) -> WeightSharing:
    """Parameters of a conv layer (one kernel per output channel, shared by every position) and of a
    locally-connected layer of the same shape (a kernel per output channel *and* position)."""
    positions = out_hw[0] * out_hw[1]
    taps = kernel_hw[0] * kernel_hw[1] * in_channels
    conv = out_channels * (taps + int(bias))
    local = positions * out_channels * (taps + int(bias))
    return WeightSharing(positions, taps, out_channels, conv, local)
