"""Pooling: the one implementation of max / average / sum / global-average pooling in ConvLab.

Vectorised NumPy (a strided window view, no per-pixel loops), checked against PyTorch in
``tests/test_pooling_core.py``. Output sizes come from ``core.arithmetic.pool2d_shape``, so the page,
the formula and the numbers always agree.

Padding and ``ceil_mode`` semantics (exactly PyTorch's):

* **max**: padding cells hold -inf, so they never win; a ``ceil_mode`` window that hangs over the
  bottom/right edge simply has fewer cells. ``argmax`` is the flat index ``row * W + col`` into the
  *unpadded* input (what ``max_pool2d(..., return_indices=True)`` returns); ties go to the first cell
  in row-major order inside the window, as in torch.
* **avg** (``count_include_pad=True``, torch's default): padding cells count as zeros *and* count in
  the divisor, but a ``ceil_mode`` window that hangs beyond the padded input is clipped to the padded
  input, and divides by that clipped size. With ``count_include_pad=False`` it divides by the number of
  real input cells in the window.
* **sum**: the plain sum of the window's real cells (padding adds zeros), i.e. torch's
  ``avg_pool2d(..., divisor_override=1)``. Without ``ceil_mode`` every window is complete, so
  sum = avg × window area; with ``ceil_mode`` the clipped edge windows differ (avg divides by the
  clipped size, sum does not multiply back).

Torch's rule that every window holds at least one real cell (padding ≤ half the window, and a
``ceil_mode`` window may not start in the right-hand padding) is enforced by ``pool_axis``, so max
pooling never returns -inf and no average divides by zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core.arithmetic import Shape2D, conv2d_macs, conv2d_params, conv2d_shape, pool2d_shape

PoolOp = Literal["max", "avg", "sum"]
POOL_OPS: tuple[str, ...] = ("max", "avg", "sum")
IntPair = int | tuple[int, int]


class PoolingError(ValueError):
    """An impossible pooling setting; the message is a sentence a student can read."""


def _pair(v: IntPair) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))  # type: ignore[index]


@dataclass(frozen=True)
class PoolResult:
    """Pooled values plus everything a page needs to explain them."""

    values: np.ndarray  # (..., OH, OW) float64
    shape: Shape2D  # the arithmetic behind the output size
    op: str
    argmax: np.ndarray | None  # (..., OH, OW) int64, row*W + col into the unpadded input; max only
    divisors: np.ndarray | None  # (OH, OW) int64, what each average divides by; avg only

    @property
    def in_hw(self) -> tuple[int, int]:
        return (self.shape.height.n, self.shape.width.n)

    def argmax_rc(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of each window's winning input cell, unpadded coordinates."""
        if self.argmax is None:
            raise ValueError("Only max pooling has a winning cell per window.")
        return np.divmod(self.argmax, self.in_hw[1])


def pool_shape(in_hw: tuple[int, int], k: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               ceil_mode: bool = False) -> Shape2D:
    """``pool2d_shape`` with int-or-pair arguments (stride defaults to the pool size, as in torch)."""
    kk = _pair(k)
    return pool2d_shape(in_hw, kk, _pair(stride) if stride is not None else kk, _pair(padding), ceil_mode)


def window_counts(n: int, k: int, s: int, p: int, out: int, include_pad: bool) -> np.ndarray:
    """Cells per window along one axis: clipped to the padded input, or to the real input."""
    start = np.arange(out) * s  # in padded coordinates
    end = np.minimum(start + k, n + 2 * p)
    if include_pad:
        return end - start
    return np.minimum(end, n + p) - np.maximum(start, p)


def pool2d(x: np.ndarray, k: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
           ceil_mode: bool = False, op: str = "max", count_include_pad: bool = True) -> PoolResult:
    """Max, average or sum pooling of ``x`` (..., H, W) over its last two axes.

    ``k``, ``stride`` and ``padding`` are ints or (height, width) pairs; ``stride`` defaults to ``k``.
    Raises ``PoolingError`` (a ``ValueError``) with the reason from ``core.arithmetic`` when the
    setting is impossible.
    """
    if op not in POOL_OPS:
        raise PoolingError(f"Unknown pooling {op!r}; choose one of {', '.join(POOL_OPS)}.")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise PoolingError(f"Pooling needs an image (…, H, W); got an array of shape {x.shape}.")
    H, W = x.shape[-2:]
    shape = pool_shape((H, W), k, stride, padding, ceil_mode)
    if not shape.ok:
        raise PoolingError(shape.reason)
    hx, wx = shape.height, shape.width
    oh, ow = shape.out_hw  # type: ignore[misc]
    (kh, kw), (sh, sw), (ph, pw) = (hx.k, wx.k), (hx.s, wx.s), (hx.pad_lo, wx.pad_lo)

    # Pad to cover every window, including ceil_mode windows hanging past the padded input.
    need_h, need_w = (oh - 1) * sh + kh, (ow - 1) * sw + kw
    pad_h_hi, pad_w_hi = max(0, need_h - H - ph), max(0, need_w - W - pw)
    fill = -np.inf if op == "max" else 0.0
    lead = [(0, 0)] * (x.ndim - 2)
    pads = lead + [(ph, pad_h_hi), (pw, pad_w_hi)]
    padded = np.pad(x, pads, constant_values=fill) if (ph or pw or pad_h_hi or pad_w_hi) else x
    # (..., OH, OW, kh, kw): a view, no copy
    win = sliding_window_view(padded, (kh, kw), axis=(-2, -1))
    win = win[..., : need_h - kh + 1 : sh, : need_w - kw + 1 : sw, :, :]

    if op == "max":
        flat = win.reshape(*win.shape[:-2], kh * kw)  # (..., OH, OW, kh*kw)
        local = np.argmax(flat, axis=-1)  # first maximum wins ties, like torch
        values = flat.max(axis=-1)  # the value at ``local`` (cheaper than gathering it)
        rows = np.arange(oh)[:, None] * sh - ph + local // kw
        cols = np.arange(ow)[None, :] * sw - pw + local % kw
        return PoolResult(values, shape, op, (rows * W + cols).astype(np.int64), None)

    sums = win.sum(axis=(-2, -1))  # (..., OH, OW)
    if op == "sum":
        return PoolResult(sums, shape, op, None, None)
    div = np.outer(window_counts(H, kh, sh, ph, oh, count_include_pad),
                   window_counts(W, kw, sw, pw, ow, count_include_pad)).astype(np.int64)
    return PoolResult(sums / div, shape, op, None, div)


def global_avg_pool(x: np.ndarray) -> PoolResult:
    """Global average pooling: one window as large as the map, (..., H, W) -> (..., 1, 1).

    The same as ``pool2d(x, (H, W), op="avg")``, i.e. torch's ``adaptive_avg_pool2d(x, 1)``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or x.shape[-1] == 0 or x.shape[-2] == 0:
        raise PoolingError(f"Global average pooling needs a non-empty (…, H, W) map; got shape {x.shape}.")
    return pool2d(x, x.shape[-2:], op="avg")


def window_cells(shape: Shape2D, index: int) -> tuple[int, int, int, int]:
    """Window number ``index`` (row-major) as (out_row, out_col, top, left) in padded coordinates."""
    if not shape.ok:
        raise PoolingError(shape.reason)
    oh, ow = shape.out_hw  # type: ignore[misc]
    if not 0 <= index < oh * ow:
        raise PoolingError(f"Window {index + 1} does not exist: there are {oh * ow} windows.")
    r, c = divmod(index, ow)
    return r, c, r * shape.height.s, c * shape.width.s


@dataclass(frozen=True)
class PoolSpec:
    """One pooling layer: what the page and the shift/cost demos take instead of six loose numbers.

    ``op`` "gap" is global average pooling (one window as big as the map: size, stride and padding
    do not apply).
    """

    op: str = "max"  # "max" | "avg" | "sum" | "gap"
    k: int = 2
    s: int = 2
    p: int = 0
    ceil_mode: bool = False
    count_include_pad: bool = True

    @property
    def is_global(self) -> bool:
        return self.op == "gap"

    def __call__(self, x: np.ndarray) -> PoolResult:
        """Pool ``x`` (..., H, W); raises ``PoolingError`` with the reason for an impossible setting."""
        if self.is_global:
            return global_avg_pool(x)
        return pool2d(x, self.k, self.s, self.p, self.ceil_mode, self.op, self.count_include_pad)

    def window(self, in_hw: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """(kernel, stride, padding) pairs as applied to an (H, W) map (global: the whole map)."""
        if self.is_global:
            return in_hw, in_hw, (0, 0)
        return (self.k, self.k), (self.s, self.s), (self.p, self.p)

    def torch_code(self) -> str:
        """The PyTorch layer for this pooling (sum pooling is average pooling with divisor 1)."""
        if self.is_global:
            return "nn.AdaptiveAvgPool2d(1)"
        args = [str(self.k)] + ([f"stride={self.s}"] if self.s != self.k else [])
        args += [f"padding={self.p}"] if self.p else []
        args += ["ceil_mode=True"] if self.ceil_mode else []
        args += ["count_include_pad=False"] if self.op == "avg" and self.p and not self.count_include_pad else []
        args += ["divisor_override=1"] if self.op == "sum" else []
        return f"nn.{'MaxPool2d' if self.op == 'max' else 'AvgPool2d'}({', '.join(args)})"


# ---------------------------------------------------------------------------------------------
# Small translations: how much does a shift change the map before and after pooling?


def shift2d(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift the content of ``x`` (..., H, W) down by ``dy`` and right by ``dx`` (negative: up/left).

    Cells moved in from outside are zeros (no wrap-around), like an object moving in a black image.
    """
    x = np.asarray(x)
    H, W = x.shape[-2:]
    out = np.zeros_like(x)
    if abs(dy) >= H or abs(dx) >= W:
        return out
    src_r, dst_r = slice(max(0, -dy), H - max(0, dy)), slice(max(0, dy), H - max(0, -dy))
    src_c, dst_c = slice(max(0, -dx), W - max(0, dx)), slice(max(0, dx), W - max(0, -dx))
    out[..., dst_r, dst_c] = x[..., src_r, src_c]
    return out


@dataclass(frozen=True)
class ChangeMeasure:
    """How different two maps of the same shape are.

    ``active`` counts cells that are non-zero in either map (the zero background of a digit would
    otherwise make almost everything look "unchanged"); ``changed`` counts active cells whose value
    differs. ``rel_l2`` = ||after - before|| / ||before|| (NaN when ``before`` is all zeros).
    """

    changed: int
    active: int
    total: int
    rel_l2: float

    @property
    def unchanged_fraction(self) -> float:
        """Share of active cells that kept their value (1.0 when nothing is active)."""
        return 1.0 if self.active == 0 else 1.0 - self.changed / self.active


def change_measure(before: np.ndarray, after: np.ndarray, atol: float = 1e-9) -> ChangeMeasure:
    before = np.asarray(before, dtype=np.float64)
    after = np.asarray(after, dtype=np.float64)
    if before.shape != after.shape:
        raise ValueError(f"Cannot compare maps of shapes {before.shape} and {after.shape}.")
    delta = after - before
    active = (before != 0) | (after != 0)
    changed = active & (np.abs(delta) > atol)
    norm = float(np.linalg.norm(before))
    diff = float(np.linalg.norm(delta))
    rel = diff / norm if norm > 0 else (0.0 if diff == 0 else float("nan"))
    return ChangeMeasure(int(changed.sum()), int(active.sum()), int(before.size), rel)


@dataclass(frozen=True)
class TranslationDemo:
    """A map and its shifted copy, before and after pooling, with the change measured at both."""

    shifted: np.ndarray  # (H, W) the input shifted by (dy, dx)
    pooled: np.ndarray  # (OH, OW) pooling of the original
    pooled_shifted: np.ndarray  # (OH, OW) pooling of the shifted input
    before_pool: ChangeMeasure  # original vs shifted map
    after_pool: ChangeMeasure  # pooled original vs pooled shifted


def translation_demo(x: np.ndarray, dy: int, dx: int, pool: Callable[[np.ndarray], PoolResult]) -> TranslationDemo:
    """Shift ``x`` (H, W) by (dy, dx) and measure the change before and after the same ``pool``.

    ``pool`` is e.g. ``functools.partial(pool2d, k=2, op="max")`` or ``global_avg_pool``.
    """
    x = np.asarray(x, dtype=np.float64)
    moved = shift2d(x, dy, dx)
    a, b = pool(x).values, pool(moved).values
    return TranslationDemo(moved, a, b, change_measure(x, moved), change_measure(a, b))


# ---------------------------------------------------------------------------------------------
# Pooling vs strided convolution ("the all-convolutional net", Springenberg et al. 2015)


def mean_kernel(k: IntPair) -> np.ndarray:
    """The (kh, kw) kernel of 1/(kh*kw): a stride-k convolution with it is exactly k×k average pooling."""
    kh, kw = _pair(k)
    return np.full((kh, kw), 1.0 / (kh * kw))


@dataclass(frozen=True)
class DownsampleCost:
    """One way to downsample C channels: learnable parameters and per-image arithmetic."""

    name: str
    out_hw: tuple[int, int] | None
    params: int
    ops: int  # comparisons/adds for pooling, multiply-adds for the convolution
    reason: str | None = None


def layer_costs(in_hw: tuple[int, int], channels: int, spec: PoolSpec) -> tuple[DownsampleCost, DownsampleCost]:
    """``downsample_costs`` for a pooling layer's spec (global pooling: one window over the whole map)."""
    kk, ss, pp = spec.window(in_hw)
    return downsample_costs(in_hw, channels, kk, ss, pp)


def downsample_costs(in_hw: tuple[int, int], channels: int, k: IntPair, stride: IntPair,
                     padding: IntPair = 0) -> tuple[DownsampleCost, DownsampleCost]:
    """Pooling vs a convolution with the same window, stride and padding, on ``channels`` maps.

    The convolution is a full ``nn.Conv2d(C, C, k, stride, padding)``: every output channel mixes all
    input channels, which is what an all-convolutional net uses in place of a pooling layer.
    """
    kk, ss, pp = _pair(k), _pair(stride), _pair(padding)
    pool = pool2d_shape(in_hw, kk, ss, pp)
    conv = conv2d_shape(in_hw, kk, ss, pp, in_channels=channels, out_channels=channels)
    pool_hw, conv_hw = pool.out_hw, conv.out_hw
    pool_ops = pool_hw[0] * pool_hw[1] * channels * kk[0] * kk[1] if pool_hw else 0
    conv_ops = conv2d_macs(conv_hw, channels, channels, kk) if conv_hw else 0
    return (
        DownsampleCost("pooling", pool_hw, 0, pool_ops, pool.reason),
        DownsampleCost("strided convolution", conv_hw, conv2d_params(channels, channels, kk), conv_ops,
                       conv.reason),
    )


# ---------------------------------------------------------------------------------------------
# Pooling across channels: one value per position from a stack of feature maps

CHANNEL_OPS: tuple[str, ...] = ("max", "mean", "sum")


def channel_pool(stack: np.ndarray, op: str) -> np.ndarray:
    """Max, mean or sum over the channels of ``stack`` (C, H, W) at every position → (H, W).

    Max over channels is what maxout units and channel max pooling do; the mean is a 1×1 convolution
    with every weight 1/C (no bias)."""
    stack = np.asarray(stack, dtype=np.float64)
    if stack.ndim != 3 or 0 in stack.shape:
        raise PoolingError(f"Pooling across channels needs a (C, H, W) stack; got shape {stack.shape}.")
    if op not in CHANNEL_OPS:
        raise PoolingError(f"Unknown channel pooling {op!r}; choose one of {', '.join(CHANNEL_OPS)}.")
    return {"max": np.max, "mean": np.mean, "sum": np.sum}[op](stack, axis=0)
