"""The arithmetic lesson's layer: a typed ``Conv2dSpec`` (also the share link's schema), the formula worked
step by step with a student's numbers, its cost and PyTorch code, the 28→14 puzzle and a colour input's
three channel sums. Every size comes from ``core.arithmetic``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.arithmetic import (
    AxisResult,
    RFLayer,
    Shape2D,
    conv2d_macs,
    conv2d_params,
    conv2d_shape,
    conv_axis,
    conv_window,
    never_visited,
    resolve_padding,
    transposed2d_macs,
    transposed2d_shape,
)

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


def formula_lines_plain(ax: AxisResult, output_padding: int | None = None) -> list[str]:
    """The formula for one axis in plain Unicode, general first, then with the numbers and worked out
    (``output_padding`` given: the transposed convolution's formula)."""
    if output_padding is None:
        return _conv_formula_lines(ax, _Notation(latex=False))
    n, k, s, p, d = ax.n, ax.k, ax.s, ax.pad_lo, ax.d
    worked = f"o = ({n}−1)·{s} − 2·{p} + {d}·({k}−1) + {output_padding} + 1" + (f" = {ax.out}" if ax.ok else "")
    return ["o = (n−1)·s − 2p + d(k−1) + output_padding + 1", worked]


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
    note = unvisited_note(ax)
    if note and not ax.ceil_extra:
        steps.append(FormulaStep("", note))
    return steps


def unvisited_note(ax: AxisResult) -> str:
    """Which rows (columns) of the padded input no tap ever reads, counted from the taps themselves
    (``never_visited``): the floor's leftover at the far edge, and with dilation the gaps that a stride
    never brings a tap onto. Empty when the kernel reads every cell."""
    missed = never_visited(ax)
    if not ax.ok or not missed:
        return ""
    what = "row" if ax.axis == "height" else "column"
    edge = "bottom" if ax.axis == "height" else "right"
    last_tap = (int(ax.out) - 1) * ax.s + ax.d * (ax.k - 1)  # type: ignore[arg-type]
    trailing = [i for i in missed if i > last_tap]
    inner = [i for i in missed if i <= last_tap]
    n = len(missed)
    parts = []
    if trailing:
        which = "padding" if len(trailing) <= ax.pad_hi else "input"
        frac = ax.numerator / ax.s - ax.numerator // ax.s
        parts.append(f"the floor drops {_fmt(frac)} of a step, so the last {_plural(len(trailing), what)} at the "
                     f"{edge} edge ({which}) {'is' if len(trailing) == 1 else 'are'} never read")
    if inner:
        shown = ", ".join(map(str, inner[:8])) + (", …" if len(inner) > 8 else "")
        parts.append(f"the taps (stride {ax.s}, dilation {ax.d}) jump over {_plural(len(inner), what)} in between "
                     f"({shown}; padded {what}s counted from 0)")
    return f"{_plural(n, what)} of the padded input {'is' if n == 1 else 'are'} never visited by the kernel: " + \
        "; ".join(parts) + "."


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


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
