"""Filters: the one 2-D convolution of ConvLab, im2col, the microscope and the colour convolution.

"Convolution" here means what deep-learning libraries compute (``torch.nn.functional.conv2d``):
a **cross-correlation**, the kernel slides over the input *without* being flipped. ``true_convolution``
flips it first, for the comparison the lesson makes.

* ``conv2d(image, kernels, stride=1, padding=0, dilation=1) -> (K, H', W')``: vectorised over a strided
  sliding-window view, one whole-image multiply-add per kernel tap (no per-pixel Python loop). Output sizes
  come from ``core.arithmetic.conv2d_shape``; padding modes from ``core.arithmetic.resolve_padding``.
* ``im2col(image, kernel_hw, ...) -> (H'*W', C*kh*kw)``: the patches matrix; ``patches @ W`` is the convolution.
* ``validate_kernel(values) -> (kh, kw)`` float array, or ``KernelError`` with a readable reason.
* ``microscope(...)``: the window, kernel, products and sum behind one output pixel.

The kernels themselves (presets, Gaussian, custom, colour mixes, the bank) are in ``core.lessons.kernels``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from core import arithmetic as ar


MAX_KERNEL_SIDE = 31  # larger kernels are refused: they are never what a lesson needs


MAX_ABS_WEIGHT = 1000.0  # kernel weights outside ±1000 are refused as absurd


MAX_KERNELS = 64


EDITOR_SIZES: tuple[int, ...] = (3, 5, 7)  # sizes of the custom kernel editor


PairInt = int | tuple[int, int] | Sequence[int]


Padding = int | str | tuple[int, int] | tuple[tuple[int, int], tuple[int, int]] | Sequence


class KernelError(ValueError):
    """A kernel that cannot be used (NaN, infinite, empty, absurdly large); the message says why."""


# ---------------------------------------------------------------------------------------------
# Argument normalisation


def _pair(value: PairInt, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    vals = tuple(int(v) for v in value)
    if len(vals) != 2:
        raise ValueError(f"The {name} needs one number or two (height, width), got {len(vals)}.")
    return vals  # type: ignore[return-value]


def resolve_padding2d(
    mode: str, kernel_hw: tuple[int, int], stride: PairInt = 1, dilation: PairInt = 1, explicit: int = 0
) -> tuple[tuple[tuple[int, int], tuple[int, int]], str | None]:
    """Padding ((top, bottom), (left, right)) for a mode ('valid', 'same', 'full', 'explicit').

    Delegates each axis to ``core.arithmetic.resolve_padding``; the second item is the reason the mode
    does not apply (e.g. 'same' with stride 2), or None.
    """
    s, d = _pair(stride, "stride"), _pair(dilation, "dilation")
    ph, reason_h = ar.resolve_padding(mode, kernel_hw[0], s[0], d[0], explicit)
    pw, reason_w = ar.resolve_padding(mode, kernel_hw[1], s[1], d[1], explicit)
    return (ph, pw), reason_h or reason_w


def _normalise_padding(
    padding: Padding, kernel_hw: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(padding, str):
        pads, reason = resolve_padding2d(padding, kernel_hw, stride, dilation)
        if reason:
            raise ValueError(reason)
        return pads
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return (p, p), (p, p)
    items = list(padding)
    if len(items) != 2:
        raise ValueError("Padding is one number, (height, width) or ((top, bottom), (left, right)).")
    out = []
    for item in items:
        out.append((int(item), int(item)) if isinstance(item, (int, np.integer)) else _pair(item, "padding"))
    return out[0], out[1]


def _as_image(image: np.ndarray) -> np.ndarray:
    x = np.asarray(image, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]  # (1, H, W)
    if x.ndim != 3:
        raise ValueError(f"An image is (H, W) or (C, H, W); got an array with {x.ndim} dimensions.")
    if x.size == 0:
        raise ValueError("The image is empty.")
    if not np.all(np.isfinite(x)):
        raise ValueError("The image contains NaN or infinite values.")
    return x


def _as_weight(kernels: np.ndarray, channels: int) -> np.ndarray:
    """Kernels as a torch-style weight (K, C, kh, kw)."""
    w = np.asarray(kernels, dtype=np.float64)
    if w.ndim == 2:
        w = w[None, None]
    elif w.ndim == 3:
        if channels != 1:
            raise ValueError(
                f"The image has {channels} channels: give kernels of shape (K, {channels}, kh, kw), "
                "one slice per input channel."
            )
        w = w[:, None]
    elif w.ndim != 4:
        raise KernelError(f"Kernels are (kh, kw), (K, kh, kw) or (K, C, kh, kw); got {w.ndim} dimensions.")
    if w.shape[1] != channels:
        raise ValueError(f"The kernels expect {w.shape[1]} input channels but the image has {channels}.")
    if w.shape[0] > MAX_KERNELS:
        raise KernelError(f"At most {MAX_KERNELS} kernels at once (got {w.shape[0]}).")
    if w.shape[0] < 1 or w.shape[1] < 1:
        raise KernelError("There are no kernels to apply.")
    validate_kernel(w[0, 0])  # size limits (all slices share the shape)
    _check_values(w)
    return w


# ---------------------------------------------------------------------------------------------
# Validation


def _check_values(w: np.ndarray) -> None:
    bad = ~np.isfinite(w)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0][-2:])
        raise KernelError(
            f"The kernel has a value that is not a finite number at row {idx[0]}, column {idx[1]} "
            "(NaN or infinity): every weight must be an ordinary number."
        )
    big = np.abs(w) > MAX_ABS_WEIGHT
    if big.any():
        where = tuple(int(i) for i in np.argwhere(big)[0])
        idx = where[-2:]
        raise KernelError(
            f"The weight at row {idx[0]}, column {idx[1]} is {w[where]:g}: weights must lie "
            f"between -{MAX_ABS_WEIGHT:g} and {MAX_ABS_WEIGHT:g}."
        )


def validate_kernel(values: np.ndarray | Sequence) -> np.ndarray:
    """A usable (kh, kw) float kernel from ``values``, or ``KernelError`` saying what is wrong."""
    try:
        k = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise KernelError("The kernel must be a grid of numbers (some cells are empty or not numbers).") from exc
    if k.ndim != 2:
        raise KernelError(f"A kernel is a 2-D grid of numbers; got {k.ndim} dimensions.")
    kh, kw = k.shape
    if kh < 1 or kw < 1:
        raise KernelError("The kernel is empty: it needs at least one row and one column.")
    if kh > MAX_KERNEL_SIDE or kw > MAX_KERNEL_SIDE:
        raise KernelError(
            f"A {kh}×{kw} kernel is far larger than any CNN uses; ConvLab accepts up to "
            f"{MAX_KERNEL_SIDE}×{MAX_KERNEL_SIDE}."
        )
    _check_values(k)
    return k


# ---------------------------------------------------------------------------------------------
# Convolution



def _windows(
    x: np.ndarray, kernel_hw: tuple[int, int], stride: PairInt, padding: Padding, dilation: PairInt
) -> tuple[np.ndarray, ar.Shape2D]:
    """Strided view (C, H', W', kh, kw) of every window of ``x`` (C, H, W), and the shape it matches."""
    s, d = _pair(stride, "stride"), _pair(dilation, "dilation")
    (pt, pb), (pl, pr) = _normalise_padding(padding, kernel_hw, s, d)
    shape = ar.conv2d_shape(x.shape[1:], kernel_hw, s, ((pt, pb), (pl, pr)), d)
    ho, wo = ar.require(shape)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr))) if (pt or pb or pl or pr) else x  # zero padding
    span_h = shape.height.effective_kernel
    span_w = shape.width.effective_kernel
    view = sliding_window_view(xp, (span_h, span_w), axis=(1, 2))  # (C, Hp-span+1, Wp-span+1, span_h, span_w)
    view = view[:, : (ho - 1) * s[0] + 1 : s[0], : (wo - 1) * s[1] + 1 : s[1], :: d[0], :: d[1]]
    return view, shape  # (C, H', W', kh, kw)


def conv2d(
    image: np.ndarray, kernels: np.ndarray, stride: PairInt = 1, padding: Padding = 0, dilation: PairInt = 1
) -> np.ndarray:
    """Deep-learning convolution (cross-correlation, no flip), as ``torch.nn.functional.conv2d``.

    image:   (H, W) or (C, H, W)
    kernels: (kh, kw), (K, kh, kw) (single-channel image) or (K, C, kh, kw)
    stride, dilation: int or (sh, sw)
    padding: int, (ph, pw), ((top, bottom), (left, right)), or a mode 'valid' / 'same' / 'full'
    returns: (K, H', W') float64. Zero padding; sizes from ``core.arithmetic.conv2d_shape``.
    """
    x = _as_image(image)  # (C, H, W)
    w = _as_weight(kernels, x.shape[0])  # (K, C, kh, kw)
    view, _ = _windows(x, w.shape[2:], stride, padding, dilation)  # (C, H', W', kh, kw)
    k, c, kh, kw = w.shape
    out = np.zeros((k, *view.shape[1:3]))  # (K, H', W')
    scratch = np.empty(out.shape)  # reused for every product: no allocation per tap
    # Accumulate one kernel tap at a time: each step is one whole-image multiply-add over a strided
    # view (no copies of the windows, no per-pixel loop), which beats building the patches matrix.
    # Taps where every kernel weighs 0 add nothing (the image is finite), so they are skipped.
    for i in range(kh):
        for j in range(kw):
            if not np.any(w[:, :, i, j]):
                continue
            tap = view[:, :, :, i, j]  # (C, H', W'): the pixel under tap (i, j) for every output
            if c == 1:
                np.multiply(w[:, 0, i, j, None, None], tap[0], out=scratch)  # (K, H', W')
                out += scratch
            else:
                out += np.tensordot(w[:, :, i, j], tap, axes=(1, 0))
    return out


def true_convolution(
    image: np.ndarray, kernel: np.ndarray, stride: PairInt = 1, padding: Padding = 0, dilation: PairInt = 1
) -> np.ndarray:
    """Convolution as mathematics defines it: the kernel is flipped (both axes) before sliding."""
    return conv2d(image, flip_kernel(kernel), stride, padding, dilation)


def flip_kernel(kernel: np.ndarray) -> np.ndarray:
    """The kernel rotated by 180° (flipped up-down and left-right); works on (..., kh, kw)."""
    return np.asarray(kernel)[..., ::-1, ::-1]


def flip_relation(kernel: np.ndarray) -> str:
    """'symmetric' (flip changes nothing), 'antisymmetric' (flip negates it) or 'other'."""
    k = np.asarray(kernel, dtype=np.float64)
    f = flip_kernel(k)
    if np.allclose(f, k):
        return "symmetric"
    if np.allclose(f, -k):
        return "antisymmetric"
    return "other"


def im2col(
    image: np.ndarray, kernel_hw: tuple[int, int], stride: PairInt = 1, padding: Padding = 0,
    dilation: PairInt = 1,
) -> np.ndarray:
    """The patches matrix (H'*W', C*kh*kw): row r is the window of output pixel (r // W', r % W').

    ``im2col(x, k.shape) @ k.ravel()`` reshaped to (H', W') equals ``conv2d(x, k)[0]``: how conv layers
    turn convolution into one matrix product.
    """
    x = _as_image(image)
    view, shape = _windows(x, tuple(int(v) for v in kernel_hw), stride, padding, dilation)
    c, ho, wo, kh, kw = view.shape
    return np.ascontiguousarray(view.transpose(1, 2, 0, 3, 4)).reshape(ho * wo, c * kh * kw)


# ---------------------------------------------------------------------------------------------
# What one output pixel is made of


@dataclass(frozen=True)
class Microscope:
    """Everything behind output pixel (row, col) for one kernel."""

    row: int
    col: int
    rows: tuple[int, ...]  # input rows of the taps (negative / ≥ H inside the padding)
    cols: tuple[int, ...]
    window: np.ndarray  # (kh, kw) input values under the taps (0 in the padding)
    in_padding: np.ndarray  # (kh, kw) bool: the tap reads a padding zero
    kernel: np.ndarray  # (kh, kw)
    products: np.ndarray  # (kh, kw) window * kernel
    total: float  # products.sum(): the output value


def microscope(
    image: np.ndarray, kernel: np.ndarray, row: int, col: int, stride: PairInt = 1, padding: Padding = 0,
    dilation: PairInt = 1,
) -> Microscope:
    """The input window, kernel, element-wise products and their sum for output pixel (row, col)."""
    x = _as_image(image)
    if x.shape[0] != 1:
        raise ValueError("The microscope looks at single-channel (H, W) images.")
    k = validate_kernel(kernel)
    s, d = _pair(stride, "stride"), _pair(dilation, "dilation")
    (pt, pb), (pl, pr) = _normalise_padding(padding, k.shape, s, d)
    shape = ar.conv2d_shape(x.shape[1:], k.shape, s, ((pt, pb), (pl, pr)), d)
    win = ar.conv_window(shape, row, col)  # padded coordinates
    rows = np.asarray(win.rows) - pt
    cols = np.asarray(win.cols) - pl
    h, w = x.shape[1:]
    inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]  # (kh, kw)
    window = np.where(inside, x[0][np.clip(rows, 0, h - 1)[:, None], np.clip(cols, 0, w - 1)[None, :]], 0.0)
    products = window * k
    return Microscope(row, col, tuple(int(r) for r in rows), tuple(int(c) for c in cols), window, ~inside, k,
                      products, float(products.sum()))


@dataclass(frozen=True)
class ColourPixel:
    """One output pixel of a 3-channel kernel on a colour image: each channel's window × its kernel slice,
    the three sums added, plus the bias."""

    channels: tuple[Microscope, ...]  # R, G, B: window, slice, products, sum
    bias: float

    @property
    def total(self) -> float:
        return sum(m.total for m in self.channels) + self.bias


def colour_conv2d(image: np.ndarray, kernel: np.ndarray, bias: float = 0.0, stride: PairInt = 1,
                  padding: Padding = 0, dilation: PairInt = 1) -> np.ndarray:
    """(3, H, W) image, (3, kh, kw) kernel → (H', W'): one output channel, as torch's conv2d with a
    (1, 3, kh, kw) weight and that bias."""
    if np.asarray(image).ndim != 3 or np.asarray(kernel).shape[0] != np.asarray(image).shape[0]:
        raise ValueError("A colour kernel needs one slice per image channel: (C, H, W) and (C, kh, kw).")
    return conv2d(image, np.asarray(kernel)[None], stride, padding, dilation)[0] + float(bias)


def colour_pixel(image: np.ndarray, kernel: np.ndarray, bias: float, row: int, col: int, stride: PairInt = 1,
                 padding: Padding = 0, dilation: PairInt = 1) -> ColourPixel:
    """Output pixel (row, col) of ``colour_conv2d``, channel by channel."""
    x = np.asarray(image, dtype=np.float64)
    return ColourPixel(tuple(microscope(x[ch], kernel[ch], row, col, stride, padding, dilation)
                             for ch in range(x.shape[0])), float(bias))
