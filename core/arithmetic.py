"""Convolution arithmetic: the one implementation of every size formula in ConvLab.

Pages, models, the exporter and the tests all call these functions, so the numbers a student sees
are the numbers the networks are built from. Every formula matches PyTorch's:

* ``nn.Conv2d``:           out = floor((n + p_lo + p_hi - d*(k-1) - 1) / s) + 1
* ``nn.MaxPool2d/AvgPool2d``: the same, optionally with ceil instead of floor (``ceil_mode``), where a
  last window that would start in the right-hand padding is dropped
* ``nn.ConvTranspose2d``:  out = (n-1)*s - 2p + d*(k-1) + output_padding + 1

Invalid settings never raise here: results carry a ``reason`` a student can read ("the dilated kernel
(7) is larger than the padded input (5)"). Functions that *build* things (models) call ``require`` to
turn that reason into a ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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


# ---------------------------------------------------------------------------------------------
# Formula with the student's numbers substituted


@dataclass(frozen=True)
class FormulaStep:
    latex: str
    note: str = ""


@dataclass(frozen=True)
class _Notation:
    """How the one conv/pool formula is written: LaTeX for st.latex, plain Unicode for sentences."""

    latex: bool

    def floor_frac(self, num: str, den: object, simple: bool = False) -> str:
        if self.latex:
            return rf"\left\lfloor \frac{{{num}}}{{{den}}} \right\rfloor"
        return f"⌊{num}/{den}⌋" if simple else f"⌊({num}) / {den}⌋"

    def sub(self, text: str) -> str:  # the minus sign and the multiplication dot
        return text if self.latex else text.replace("-", "−").replace(r"\cdot", "·")


def _general_line(nt: _Notation, symmetric: bool = True) -> str:
    pad_sym = "2p" if symmetric else ("p_{lo} + p_{hi}" if nt.latex else "p_before + p_after")
    return "o = " + nt.floor_frac(nt.sub(f"n + {pad_sym} - d(k-1) - 1"), "s") + " + 1"


def general_formula(latex: bool = True, symmetric: bool = True) -> str:
    """The conv/pool output-size formula in symbols, as every lesson writes it (``symmetric``: one padding
    on both sides, written 2p)."""
    return _general_line(_Notation(latex=latex), symmetric)


def _conv_formula_lines(ax: AxisResult, notation: _Notation) -> list[str]:
    """The conv/pool output-size formula for one axis: general, with the numbers, worked out.

    The only place the formula is written out; LaTeX and plain text come from the same terms.
    """
    n, k, s, d, lo, hi = ax.n, ax.k, ax.s, ax.d, ax.pad_lo, ax.pad_hi
    pad_num = f"2\\cdot{lo}" if lo == hi else f"{lo} + {hi}"
    nt = notation
    lines = [
        _general_line(nt, symmetric=lo == hi),
        "o = " + nt.floor_frac(nt.sub(f"{n} + {pad_num} - {d}\\cdot({k}-1) - 1"), s) + " + 1",
    ]
    if ax.ok:
        frac = ax.numerator / s
        floor = (rf"\lfloor {_fmt(frac)} \rfloor" if nt.latex else f"⌊{_fmt(frac)}⌋")
        lines.append("o = " + nt.floor_frac(str(ax.numerator), s, simple=True)
                     + f" + 1 = {floor} + 1 = {ax.numerator // s} + 1 = {ax.numerator // s + 1}")
    return lines


def conv_formula_text(ax: AxisResult) -> str:
    """The formula with the numbers, worked out, as one line of plain text (for captions and messages)."""
    lines = _conv_formula_lines(ax, _Notation(latex=False))
    worked = [line.removeprefix("o = ") for line in lines[1:]]
    return " = ".join(worked)


def conv_formula_steps(ax: AxisResult) -> list[FormulaStep]:
    """The conv/pool formula for one axis, worked step by step with the given numbers (LaTeX)."""
    general, *rest = _conv_formula_lines(ax, _Notation(latex=True))
    steps = [FormulaStep(general, "n = input size, p = padding, d = dilation, k = kernel size, s = stride")]
    steps += [FormulaStep(line) for line in rest]
    if not ax.ok:
        return steps
    frac = ax.numerator / ax.s
    if ax.ceil_extra:
        steps.append(FormulaStep(
            rf"\text{{ceil mode: }} \lceil {_fmt(frac)} \rceil + 1 = {ax.out}",
            "ceil_mode keeps a last, partial window that hangs over the edge.",
        ))
    if ax.unused and not ax.ceil_extra:
        what = "row" if ax.axis == "height" else "column"
        plural = "s" if ax.unused > 1 else ""
        edge = "bottom" if ax.axis == "height" else "right"
        which = "padding" if ax.unused <= ax.pad_hi else "input"
        steps.append(FormulaStep(
            "",
            f"The floor drops {_fmt(frac - ax.numerator // ax.s)} of a step: the last {ax.unused} {what}{plural} "
            f"at the {edge} edge ({which}) {'is' if ax.unused == 1 else 'are'} never visited by the kernel.",
        ))
    return steps


def transposed_formula_steps(ax: AxisResult, output_padding: int) -> list[FormulaStep]:
    n, k, s, p, d = ax.n, ax.k, ax.s, ax.pad_lo, ax.d
    steps = [
        FormulaStep(r"o = (n-1)\,s - 2p + d(k-1) + \text{output\_padding} + 1",
                    "the transposed convolution runs the conv formula backwards"),
        FormulaStep(rf"o = ({n}-1)\cdot{s} - 2\cdot{p} + {d}\cdot({k}-1) + {output_padding} + 1"
                    + (rf" = {ax.out}" if ax.ok else "")),
    ]
    return steps


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.3g}"


# ---------------------------------------------------------------------------------------------
# Exercises


def check_downsample_puzzle(n_in: int, n_target: int, k: int, s: int, p: int, d: int = 1) -> tuple[bool, str]:
    """Does a conv with (k, s, p, d) take an n_in-wide input to exactly n_target? Returns (ok, message)."""
    ax = conv_axis(n_in, k, s, p, d)
    if not ax.ok:
        return False, ax.reason or ""
    if ax.out == n_target:
        return True, (f"Yes: {conv_formula_text(ax)}. "
                      f"kernel {k}, stride {s}, padding {p} takes {n_in} to {n_target}.")
    return False, f"Not quite: that gives {ax.out}, not {n_target}. Try a different stride or padding."


def puzzle_solutions(n_in: int, n_target: int, max_k: int = 7, max_s: int = 4, max_p: int = 3) -> list[tuple[int, int, int]]:
    """All (k, s, p) in a small range that map n_in to n_target (dilation 1)."""
    found = []
    for k in range(1, max_k + 1):
        for s in range(1, max_s + 1):
            for p in range(0, max_p + 1):
                if conv_axis(n_in, k, s, p).out == n_target:
                    found.append((k, s, p))
    return found


def shape_text(shape: Shape2D) -> str:
    """'(N, C, H, W)'-style text of an output shape for a single image."""
    if not shape.ok:
        return "invalid"
    h, w = shape.out_hw  # type: ignore[misc]
    return f"(1, {shape.out_channels}, {h}, {w})"


@dataclass(frozen=True)
class LayerCost:
    params: int
    macs: int
    input_values: int
    output_values: int
    extra: dict[str, int] = field(default_factory=dict)


def conv_cost(shape: Shape2D, kernel: tuple[int, int], bias: bool = True, transposed: bool = False) -> LayerCost | None:
    if not shape.ok:
        return None
    out_hw = shape.out_hw
    in_hw = (shape.height.n, shape.width.n)
    params = conv2d_params(shape.in_channels, shape.out_channels, kernel, bias)
    if transposed:
        macs = transposed2d_macs(in_hw, shape.in_channels, shape.out_channels, kernel)
    else:
        macs = conv2d_macs(out_hw, shape.in_channels, shape.out_channels, kernel)  # type: ignore[arg-type]
    return LayerCost(params, macs, in_hw[0] * in_hw[1] * shape.in_channels,
                     out_hw[0] * out_hw[1] * shape.out_channels)  # type: ignore[index]



def transposed_footprint(shape: Shape2D, in_row: int, in_col: int) -> list[tuple[int, int]]:
    """Output cells that input cell (in_row, in_col) of a transposed conv writes into.

    A transposed conv scatters each input value through the kernel: output index
    ``i*s - p + d*m`` for kernel tap m (cells cropped away by padding are left out).
    """
    if not shape.ok:
        raise ValueError(shape.reason)
    h, w = shape.height, shape.width
    rows = [in_row * h.s - h.pad_lo + h.d * m for m in range(h.k)]
    cols = [in_col * w.s - w.pad_lo + w.d * m for m in range(w.k)]
    return [(r, c) for r in rows for c in cols if 0 <= r < int(h.out) and 0 <= c < int(w.out)]  # type: ignore[arg-type]


def torch_layer_code(
    transposed: bool, in_channels: int, out_channels: int, kernel: tuple[int, int], stride: tuple[int, int],
    padding: tuple[int, int] | str, dilation: tuple[int, int], output_padding: tuple[int, int] = (0, 0),
) -> str:
    """The one line of PyTorch that builds this layer (square values written once)."""

    def pair(v: tuple[int, int]) -> str:
        return str(v[0]) if v[0] == v[1] else f"({v[0]}, {v[1]})"

    args = [str(in_channels), str(out_channels), f"kernel_size={pair(kernel)}"]
    if stride != (1, 1):
        args.append(f"stride={pair(stride)}")
    if isinstance(padding, str):
        args.append(f"padding={padding!r}")
    elif padding != (0, 0):
        args.append(f"padding={pair(padding)}")
    if dilation != (1, 1):
        args.append(f"dilation={pair(dilation)}")
    if transposed and output_padding != (0, 0):
        args.append(f"output_padding={pair(output_padding)}")
    return f"nn.{'ConvTranspose2d' if transposed else 'Conv2d'}({', '.join(args)})"


# ---------------------------------------------------------------------------------------------
# One layer as a config: what pages and the PyTorch check take instead of 6-9 positional numbers

Pair = tuple[int, int]  # (height, width)


@dataclass(frozen=True)
class Conv2dSpec:
    """One ``nn.Conv2d`` (or ``nn.ConvTranspose2d``) layer, every value as a (height, width) pair."""

    kernel: Pair = (3, 3)
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)  # zeros on each side; used by padding_mode "explicit" and by transposed convs
    padding_mode: str = "explicit"  # "explicit" | "valid" | "same" | "full" (conv only)
    dilation: Pair = (1, 1)
    in_channels: int = 1
    out_channels: int = 1
    transposed: bool = False
    output_padding: int = 0  # transposed only: extra cells on one side of the output

    def resolved_padding(self) -> tuple[tuple[Pair, Pair], str | None]:
        """((top, bottom), (left, right)) padding and the reason the padding mode does not apply, if any."""
        if self.transposed:
            return ((self.padding[0],) * 2, (self.padding[1],) * 2), None
        pads, reasons = [], []
        for ax in (0, 1):
            pad, why = resolve_padding(self.padding_mode, self.kernel[ax], self.stride[ax], self.dilation[ax],
                                       self.padding[ax])
            pads.append(pad)
            reasons.append(why)
        return (pads[0], pads[1]), reasons[0] or reasons[1]

    def torch_padding(self) -> Pair | str:
        """The ``padding=`` argument PyTorch takes for this layer ('valid'/'same' by name)."""
        if not self.transposed and self.padding_mode in ("valid", "same"):
            return self.padding_mode
        (top, _), (left, _) = self.resolved_padding()[0]
        return (top, left)

    def shape(self, in_hw: Pair) -> Shape2D:
        """The output shape for an (H, W) input; ``problem`` carries a padding mode PyTorch refuses."""
        if self.transposed:
            op = (self.output_padding, self.output_padding)
            return transposed2d_shape(in_hw, self.kernel, self.stride, self.padding, self.dilation, op,
                                      self.in_channels, self.out_channels)
        pads, why = self.resolved_padding()
        shape = conv2d_shape(in_hw, self.kernel, self.stride, pads, self.dilation, self.in_channels,
                             self.out_channels)
        return replace(shape, problem=why) if why else shape

    def cost(self, shape: Shape2D) -> LayerCost | None:
        return conv_cost(shape, self.kernel, bias=True, transposed=self.transposed)

    def torch_code(self) -> str:
        return torch_layer_code(self.transposed, self.in_channels, self.out_channels, self.kernel, self.stride,
                                self.torch_padding(), self.dilation, (self.output_padding, self.output_padding))

    def rf_layer(self, name: str) -> RFLayer:
        """This layer (height axis) as one step of a receptive-field stack."""
        (top, _), _ = self.resolved_padding()[0]
        return RFLayer(name, self.kernel[0], self.stride[0], top, self.dilation[0])


# ---------------------------------------------------------------------------------------------
# Several input channels: one output value is the sum over channels (plus the bias)


@dataclass(frozen=True)
class ChannelSums:
    """How output cell (row, col) of a multi-channel convolution adds up.

    ``windows[c]`` are the input values channel c's kernel slice meets (kh, kw; padding zeros included),
    ``sums[c]`` = Σ windows[c] × kernel[c]; the output value is Σ sums + bias.
    """

    windows: tuple  # (C, kh, kw) nested tuples of floats
    sums: tuple[float, ...]
    bias: float

    @property
    def total(self) -> float:
        return float(sum(self.sums) + self.bias)


def channel_sums(x, kernel, bias: float, shape: Shape2D, row: int, col: int) -> ChannelSums:
    """Output (row, col) of a conv with input ``x`` (C, H, W), one output channel's ``kernel`` (C, kh, kw)
    and ``bias``, channel by channel; the taps (stride, padding, dilation) come from ``shape``."""
    import numpy as np

    x, kernel = np.asarray(x, dtype=float), np.asarray(kernel, dtype=float)
    h, w = shape.height, shape.width
    if x.shape[1:] != (h.n, w.n) or kernel.shape != (x.shape[0], h.k, w.k):
        raise ValueError(f"Input {x.shape} and kernel {kernel.shape} do not fit the layer "
                         f"({h.n}×{w.n} input, {h.k}×{w.k} kernel).")
    padded = np.pad(x, ((0, 0), (h.pad_lo, h.pad_hi), (w.pad_lo, w.pad_hi)))  # (C, H + pads, W + pads)
    win = conv_window(shape, row, col)
    windows = padded[:, list(win.rows)][:, :, list(win.cols)]  # (C, kh, kw)
    sums = tuple(float(v) for v in (windows * kernel).sum(axis=(1, 2)))
    return ChannelSums(tuple(map(lambda m: tuple(map(tuple, m.tolist())), windows)), sums, float(bias))
