"""The convolution-arithmetic page's settings and its sentences and formulas (no Streamlit calls)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.arithmetic import PADDING_MODES, Shape2D
from core.lessons import conv_layer
from core.lessons.conv_layer import Conv2dSpec
from core.links.settings import Settings, choice, flag, integer

OPS = {"conv": "Convolution", "transposed": "Transposed convolution"}
PADDING_LABELS = {"explicit": "Explicit", "valid": "Valid (none)", "same": "Same", "full": "Full"}
assert tuple(PADDING_LABELS) == PADDING_MODES
WIDTH_OF = {"h": "w", "k": "kw", "s": "sw", "p": "pw", "d": "dw"}  # a height field -> its width field
# What the page shows under the picture, one at a time (each costs the browser elements on every step).
MORE = {"colour": "🎨 Colour input", "matrix": "🧮 As a matrix", "rf": "🧱 Stack it", "torch": "🔥 PyTorch check"}


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
    more: str = choice("colour", MORE, label="section under the picture")

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


def summary_markdown(cfg: ArithmeticSettings, shape: Shape2D) -> str:
    """Output shape, values, parameters and multiply-adds on one line (four metrics cost the browser ten
    elements on every slider step)."""
    cost = cfg.spec().cost(shape)
    kh, kw = cfg.spec().kernel
    return (f"Output shape **{conv_layer.shape_text(shape)}** · output values **{cost.output_values:,}** · "
            f"parameters **{cost.params:,}** ({cfg.cout}×{cfg.cin}×{kh}×{kw} weights + {cfg.cout} biases) · "
            f"multiply-adds **{cost.macs:,}**")
