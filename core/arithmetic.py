"""Convolution arithmetic: the one implementation of every size formula in ConvLab.

Pages, models, the exporter and the tests all call these functions, so the numbers a student sees
are the numbers the networks are built from. Every formula matches PyTorch's:

* ``nn.Conv2d``:           out = floor((n + p_lo + p_hi - d*(k-1) - 1) / s) + 1
* ``nn.MaxPool2d/AvgPool2d``: the same, optionally with ceil instead of floor (``ceil_mode``), where a
  last window that would start in the right-hand padding is dropped
* ``nn.ConvTranspose2d``:  out = (n-1)*s - 2p + d*(k-1) + output_padding + 1

Invalid settings never raise here: results carry a ``reason`` a student can read ("the dilated kernel
(7) is larger than the padded input (5)"). Functions that *build* things (models) call ``require`` to
turn that reason into a ``ValueError``. The arithmetic lesson's layer (spec, formula steps, cost, code)
is in ``core.lessons.conv_layer``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

PaddingMode = Literal["explicit", "valid", "same", "full"]


PADDING_MODES: tuple[str, ...] = ("explicit", "valid", "same", "full")


@dataclass(frozen=True)
class AxisResult:
    """Output size along one axis (height or width) and how it came about."""

    axis: str  # "height" or "width"
    n: int  # input length
    k: int  # kernel length
    s: int  # stride
    pad_lo: int  # padding before (top/left)
    pad_hi: int  # padding after (bottom/right)
    d: int  # dilation
    out: int | None  # output length, None when invalid
    reason: str | None = None  # why the setting is impossible
    numerator: int = 0  # n + p_lo + p_hi - d*(k-1) - 1 (conv/pool) or the transposed sum
    unused: int = 0  # trailing padded-input cells no window ever reads (what the floor drops)
    ceil_extra: bool = False  # pooling with ceil_mode added a partial last window

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def effective_kernel(self) -> int:
        """The dilated kernel's span: d*(k-1) + 1."""
        return self.d * (self.k - 1) + 1

    @property
    def padded(self) -> int:
        return self.n + self.pad_lo + self.pad_hi


@dataclass(frozen=True)
class Shape2D:
    """Result for a 2-D layer: per-axis results plus channel bookkeeping."""

    height: AxisResult
    width: AxisResult
    in_channels: int = 1
    out_channels: int = 1
    problem: str | None = None  # a reason beyond the axes (e.g. 'same' padding with stride 2)

    @property
    def ok(self) -> bool:
        return self.height.ok and self.width.ok and self.reason is None

    @property
    def reason(self) -> str | None:
        if self.problem:
            return self.problem
        for ax in (self.height, self.width):
            if ax.reason:
                return ax.reason
        return None

    @property
    def out_hw(self) -> tuple[int, int] | None:
        if not (self.height.ok and self.width.ok):
            return None
        return (int(self.height.out), int(self.width.out))  # type: ignore[arg-type]


def _basic_reason(axis: str, n: int, k: int, s: int, p_lo: int, p_hi: int, d: int) -> str | None:
    if n < 1:
        return f"The input {axis} must be at least 1 (got {n})."
    if k < 1:
        return f"The kernel {axis} must be at least 1 (got {k})."
    if s < 1:
        return f"The stride must be at least 1 (got {s}): a stride of {s} would never move the kernel."
    if d < 1:
        return f"The dilation must be at least 1 (got {d}); 1 means no gaps between kernel taps."
    if p_lo < 0 or p_hi < 0:
        return f"Padding cannot be negative (got {min(p_lo, p_hi)})."
    return None


def conv_axis(
    n: int, k: int, s: int = 1, p: int | tuple[int, int] = 0, d: int = 1, axis: str = "width"
) -> AxisResult:
    """Output length of a convolution along one axis, as ``torch.nn.Conv2d`` computes it.

    ``p`` is either symmetric padding or ``(before, after)``, which is what ``padding='same'`` uses
    for even kernels.
    """
    p_lo, p_hi = (p, p) if isinstance(p, int) else p
    reason = _basic_reason(axis, n, k, s, p_lo, p_hi, d)
    if reason:
        return AxisResult(axis, n, k, s, p_lo, p_hi, d, None, reason)
    span = d * (k - 1) + 1
    padded = n + p_lo + p_hi
    if span > padded:
        what = "dilated kernel" if d > 1 else "kernel"
        pad_txt = "padded input" if (p_lo or p_hi) else "input"
        return AxisResult(
            axis, n, k, s, p_lo, p_hi, d, None,
            f"The {what} ({span}) is larger than the {pad_txt} ({padded}) along the {axis}: "
            f"there is nowhere to put even one window. Use a smaller kernel or dilation, or more padding.",
        )
    numerator = padded - span
    out = numerator // s + 1
    unused = numerator - (out - 1) * s
    return AxisResult(axis, n, k, s, p_lo, p_hi, d, out, None, numerator, unused)


def same_padding(k: int, d: int = 1) -> tuple[int, int]:
    """Padding (before, after) that keeps the size at stride 1; the extra cell goes after, as in torch."""
    total = d * (k - 1)
    return total // 2, total - total // 2


def full_padding(k: int, d: int = 1) -> int:
    """'Full' padding: every position where the kernel overlaps the input by at least one cell."""
    return d * (k - 1)


def resolve_padding(mode: str, k: int, s: int, d: int, explicit: int) -> tuple[tuple[int, int], str | None]:
    """Turn a padding mode into (before, after) padding, with a reason when the mode does not apply."""
    if mode == "valid":
        return (0, 0), None
    if mode == "same":
        pad = same_padding(k, d)
        if s != 1:
            return pad, (
                "'same' padding only keeps the output the same size as the input when the stride is 1, "
                f"and PyTorch refuses it for stride {s}. Pick explicit padding instead."
            )
        return pad, None
    if mode == "full":
        p = full_padding(k, d)
        return (p, p), None
    if mode == "explicit":
        return (explicit, explicit), None
    return (0, 0), f"Unknown padding mode {mode!r}; choose one of {', '.join(PADDING_MODES)}."


def conv2d_shape(
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int | tuple[int, int], int | tuple[int, int]] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    in_channels: int = 1,
    out_channels: int = 1,
) -> Shape2D:
    """Output shape of ``nn.Conv2d`` for an (H, W) input; rectangular everything allowed."""
    h = conv_axis(in_hw[0], kernel[0], stride[0], padding[0], dilation[0], "height")
    w = conv_axis(in_hw[1], kernel[1], stride[1], padding[1], dilation[1], "width")
    return Shape2D(h, w, in_channels, out_channels)


def pool_axis(
    n: int, k: int, s: int | None = None, p: int = 0, d: int = 1, ceil_mode: bool = False,
    axis: str = "width",
) -> AxisResult:
    """Output length of max/avg pooling along one axis, as ``torch.nn.MaxPool2d`` computes it.

    ``s`` defaults to ``k`` (torch's default stride for pooling). Torch also requires padding of at
    most half the kernel, so that every window holds at least one real value.
    """
    s = k if s is None else s
    reason = _basic_reason(axis, n, k, s, p, p, d)
    if reason:
        return AxisResult(axis, n, k, s, p, p, d, None, reason)
    if p > k // 2:
        return AxisResult(
            axis, n, k, s, p, p, d, None,
            f"Padding {p} is more than half the pooling window ({k}//2 = {k // 2}) along the {axis}: "
            "some windows would see only padding, so PyTorch forbids it.",
        )
    span = d * (k - 1) + 1
    padded = n + 2 * p
    numerator = padded - span
    floor_out = numerator // s + 1
    out = floor_out
    if ceil_mode:
        out = -(-numerator // s) + 1
        # torch: the last window must start inside the input or the left padding.
        if (out - 1) * s >= n + p:
            out -= 1
    if out < 1:
        return AxisResult(
            axis, n, k, s, p, p, d, None,
            f"The pooling window ({span}) is larger than the padded input ({padded}) along the {axis}.",
        )
    unused = max(0, numerator - (out - 1) * s)
    return AxisResult(axis, n, k, s, p, p, d, out, None, numerator, unused, ceil_extra=out > floor_out)


def pool2d_shape(
    in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int] | None = None,
    padding: tuple[int, int] = (0, 0), ceil_mode: bool = False, dilation: tuple[int, int] = (1, 1),
    channels: int = 1,
) -> Shape2D:
    stride = stride or kernel
    h = pool_axis(in_hw[0], kernel[0], stride[0], padding[0], dilation[0], ceil_mode, "height")
    w = pool_axis(in_hw[1], kernel[1], stride[1], padding[1], dilation[1], ceil_mode, "width")
    return Shape2D(h, w, channels, channels)


def transposed_axis(
    n: int, k: int, s: int = 1, p: int = 0, d: int = 1, output_padding: int = 0, axis: str = "width"
) -> AxisResult:
    """Output length of ``nn.ConvTranspose2d`` along one axis."""
    reason = _basic_reason(axis, n, k, s, p, p, d)
    if reason:
        return AxisResult(axis, n, k, s, p, p, d, None, reason)
    if output_padding < 0:
        return AxisResult(axis, n, k, s, p, p, d, None, "Output padding cannot be negative.")
    if output_padding >= max(s, d):
        return AxisResult(
            axis, n, k, s, p, p, d, None,
            f"Output padding ({output_padding}) must be smaller than the stride or the dilation "
            f"(max({s}, {d}) = {max(s, d)}): it only picks among output sizes that stride-{s} "
            "convolutions map to the same input size.",
        )
    total = (n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1
    if total < 1:
        return AxisResult(
            axis, n, k, s, p, p, d, None,
            f"Padding {p} crops away more than the transposed convolution produces "
            f"({total + 2 * p} cells before cropping), leaving {total} along the {axis}.",
        )
    return AxisResult(axis, n, k, s, p, p, d, total, None, total)


def transposed2d_shape(
    in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0), dilation: tuple[int, int] = (1, 1),
    output_padding: tuple[int, int] = (0, 0), in_channels: int = 1, out_channels: int = 1,
) -> Shape2D:
    h = transposed_axis(in_hw[0], kernel[0], stride[0], padding[0], dilation[0], output_padding[0], "height")
    w = transposed_axis(in_hw[1], kernel[1], stride[1], padding[1], dilation[1], output_padding[1], "width")
    return Shape2D(h, w, in_channels, out_channels)


def require(shape: Shape2D) -> tuple[int, int]:
    """The (H, W) output, or ``ValueError`` with the student-readable reason."""
    if not shape.ok:
        raise ValueError(shape.reason)
    return shape.out_hw  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Cost of a layer


def conv2d_params(in_channels: int, out_channels: int, kernel: tuple[int, int], bias: bool = True,
                  groups: int = 1) -> int:
    """Learnable parameters of ``nn.Conv2d`` (also ``ConvTranspose2d``, which stores the same weights)."""
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide both channel counts ({in_channels}, {out_channels}).")
    return out_channels * (in_channels // groups) * kernel[0] * kernel[1] + (out_channels if bias else 0)


def conv2d_macs(out_hw: tuple[int, int], in_channels: int, out_channels: int, kernel: tuple[int, int],
                groups: int = 1) -> int:
    """Multiply-adds of one forward pass of a conv layer for a single image."""
    return out_hw[0] * out_hw[1] * out_channels * (in_channels // groups) * kernel[0] * kernel[1]


def transposed2d_macs(in_hw: tuple[int, int], in_channels: int, out_channels: int,
                      kernel: tuple[int, int]) -> int:
    """A transposed conv scatters every input value through the whole kernel."""
    return in_hw[0] * in_hw[1] * in_channels * out_channels * kernel[0] * kernel[1]


# ---------------------------------------------------------------------------------------------
# Receptive field


@dataclass(frozen=True)
class RFLayer:
    """One layer of a stack, for receptive-field arithmetic (square kernels)."""

    name: str
    k: int
    s: int = 1
    p: int = 0
    d: int = 1


@dataclass(frozen=True)
class RFRow:
    name: str
    rf: int  # receptive field (input pixels one output unit sees, per side)
    jump: int  # distance in input pixels between neighbouring output units
    start: float  # centre of the first output unit's field, in input coordinates


def receptive_field(layers: Sequence[RFLayer]) -> list[RFRow]:
    """Receptive field after each layer (Dumoulin & Visin / Araujo et al. recurrence).

    rf_out = rf_in + (k_eff - 1) * jump_in;  jump_out = jump_in * s;
    start_out = start_in + ((k_eff - 1) / 2 - p) * jump_in.
    """
    rf, jump, start = 1, 1, 0.5
    rows: list[RFRow] = []
    for layer in layers:
        k_eff = layer.d * (layer.k - 1) + 1
        rf = rf + (k_eff - 1) * jump
        start = start + ((k_eff - 1) / 2 - layer.p) * jump
        jump = jump * layer.s
        rows.append(RFRow(layer.name, rf, jump, start))
    return rows


# ---------------------------------------------------------------------------------------------
# Which input cells a window reads


@dataclass(frozen=True)
class Window:
    """The input taps an output cell reads, in padded-grid coordinates (padding cells included)."""

    rows: tuple[int, ...]
    cols: tuple[int, ...]

    def cells(self) -> list[tuple[int, int]]:
        return [(r, c) for r in self.rows for c in self.cols]


def window_taps(out_index: int, k: int, s: int, d: int) -> tuple[int, ...]:
    """Padded-grid positions read by output ``out_index`` along one axis (dilation leaves gaps)."""
    start = out_index * s
    return tuple(start + d * m for m in range(k))


def conv_window(shape: Shape2D, out_row: int, out_col: int) -> Window:
    """The taps of output cell (out_row, out_col) of a valid conv/pool shape, in padded coordinates."""
    h, w = shape.height, shape.width
    if not shape.ok:
        raise ValueError(shape.reason)
    if not (0 <= out_row < int(h.out) and 0 <= out_col < int(w.out)):  # type: ignore[arg-type]
        raise ValueError(f"Output cell ({out_row}, {out_col}) is outside the {h.out}x{w.out} output.")
    return Window(window_taps(out_row, h.k, h.s, h.d), window_taps(out_col, w.k, w.s, w.d))


def never_visited(ax: AxisResult) -> list[int]:
    """Padded-grid indices along an axis that no window reads (what the floor throws away)."""
    if not ax.ok:
        return []
    seen: set[int] = set()
    for i in range(int(ax.out)):  # type: ignore[arg-type]
        seen.update(window_taps(i, ax.k, ax.s, ax.d))
    return [i for i in range(ax.padded) if i not in seen]
