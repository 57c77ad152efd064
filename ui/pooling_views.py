"""The pooling page's settings and sentences (no Streamlit calls)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.lessons.pooling import CHANNEL_OPS, PoolResult, PoolSpec, window_cells
from core.links.settings import Settings, choice, flag, int_list, integer

SOURCES = {"matrix": "Small matrix (editable)", "digit": "MNIST digit", "feature": "Feature map of a digit"}
OPS = {"max": "Max", "avg": "Average", "sum": "Sum", "gap": "Global average"}
FEATURES = {"sobel_x": "Sobel x (vertical edges)", "sobel_y": "Sobel y (horizontal edges)",
            "sobel_magnitude": "Sobel magnitude (any edge)", "laplacian": "Laplacian"}
CHANNELS = ("1", "3", "16", "32", "64", "128", "256", "512")
STACK = {"sobel_x": "Sobel x", "sobel_y": "Sobel y", "laplacian": "Laplacian"}  # the channel-pooling stack
CONV_KERNELS = {"mean": "1/k² everywhere (what average pooling does)", "random": "random (an untrained conv)"}
CS231N = (1, 1, 2, 4, 5, 6, 7, 8, 3, 2, 1, 0, 1, 2, 3, 4)  # the classic 4×4 max-pooling example
MATRIX_LO, MATRIX_HI = -99, 99


def default_matrix(n: int) -> tuple[int, ...]:
    if n == 4:
        return CS231N
    return tuple(int(v) for v in np.random.default_rng(n).integers(0, 10, n * n))


@dataclass(frozen=True)
class PoolingSettings(Settings, page="pooling"):
    """The pooling lesson's view. Field names are the share-link keys (keep them)."""

    src: str = choice("matrix", SOURCES, label="input")
    n: int = integer(4, lo=4, hi=8, label="matrix size")
    m: tuple[int, ...] = int_list(CS231N, lengths=(16, 25, 36, 49, 64), lo=MATRIX_LO, hi=MATRIX_HI,
                                  label="matrix values")
    digit: int = integer(3, lo=0, hi=9, label="digit")
    idx: int = integer(0, lo=0, hi=499, label="sample")
    feat: str = choice("sobel_x", FEATURES, label="feature map")
    relu: bool = flag(True, label="ReLU", hidden=True)
    op: str = choice("max", OPS, label="pooling")
    k: int = integer(2, lo=1, hi=8, label="pool size")
    s: int = integer(2, lo=1, hi=8, label="stride")
    p: int = integer(0, lo=0, hi=4, label="padding", hidden=True)
    ceil: bool = flag(False, label="ceil_mode", hidden=True)
    cip: bool = flag(True, label="count_include_pad", hidden=True)
    step: int = integer(1, lo=1, hi=2000, label="window")
    dx: int = integer(1, lo=-3, hi=3, label="shift right")
    dy: int = integer(0, lo=-3, hi=3, label="shift down")
    ch: str = choice("64", CHANNELS, label="channels")
    ck: str = choice("mean", CONV_KERNELS, label="conv kernel")
    cp: str = choice("max", {op: op for op in CHANNEL_OPS}, label="pooling across channels")

    def spec(self) -> PoolSpec:
        return PoolSpec(self.op, self.k, self.s, self.p, self.ceil, self.cip)

    def matrix(self) -> np.ndarray:
        """The editable matrix as n×n (a link whose values do not fit keeps the top-left ones)."""
        return np.array(resized(self.m, self.n), dtype=np.float64).reshape(self.n, self.n)


def resized(m: tuple[int, ...], n: int) -> tuple[int, ...]:
    """The stored matrix as n×n: keep the overlapping top-left values, fill the rest by default."""
    old = int(round(len(m) ** 0.5))
    if old * old == len(m) == n * n:
        return tuple(m)
    out = np.array(default_matrix(n)).reshape(n, n)
    c = min(old, n)
    out[:c, :c] = np.array(m).reshape(old, old)[:c, :c]
    return tuple(int(v) for v in out.ravel())


@dataclass(frozen=True)
class View:
    """What the window walkthrough fragment needs from the full run."""

    x: np.ndarray  # (H, W) the pooling input
    res: PoolResult
    op: str  # "max" | "avg" | "sum" | "gap"
    decisive: np.ndarray | None = None  # (OH, OW) max pooling: the window is not one value repeated


def fmt(v: float) -> str:
    if not np.isfinite(v):
        return "−∞" if v < 0 else "∞"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}".rstrip("0").rstrip(".")


def legend(v: View) -> str:
    h, w = v.res.shape.height, v.res.shape.width
    parts = ["Orange: the window of the output cell under the pointer (or the selected one) and that cell."]
    if h.pad_lo or w.pad_lo or h.ceil_extra or w.ceil_extra:
        parts.append("Grey cells lie outside the input: padding (" + ("−∞, so it never wins" if v.op == "max"
                     else "zeros") + ") and any ceil_mode overhang (blank, ignored).")
    if v.op != "gap" and v.res.values.size > 1 and h.s >= h.k and w.s >= w.k:
        parts.append("Dark frames: the windows, which tile the input.")
    elif v.op != "gap" and v.res.values.size > 1:
        parts.append("The windows overlap because the stride is smaller than the window.")
    if v.op == "max":
        parts.append("Red squares: each window's winning (argmax) input cell, the only one that gets a gradient "
                     "in training (windows holding one repeated value are not marked).")
    parts.append("Rows and columns are numbered from 0, as in PyTorch and NumPy; windows are counted 1, 2, 3, …")
    return " ".join(parts)


def _span(what: str, a: int, b: int) -> str:
    return f"{what} {a}" if a == b else f"{what}s {a}–{b}"


def window_story(v: View, index: int) -> str:
    """One sentence on what window ``index`` reads and how its output value is made."""
    res, H, W = v.res, *v.x.shape
    h, w = res.shape.height, res.shape.width
    r, c, top, left = window_cells(res.shape, index)
    rows = np.arange(top, top + h.k) - h.pad_lo
    cols = np.arange(left, left + w.k) - w.pad_lo
    real = v.x[np.ix_(rows[(rows >= 0) & (rows < H)], cols[(cols >= 0) & (cols < W)])]
    in_pad = int(np.sum((rows >= -h.pad_lo) & (rows < H + h.pad_hi))) * int(np.sum((cols >= -w.pad_lo) & (cols < W + w.pad_hi)))
    n_pad = in_pad - real.size
    n_over = h.k * w.k - in_pad
    listed = ", ".join(fmt(t) for t in real.ravel()) if real.size <= 16 else f"{real.size} values"
    where = (f"window {index + 1} of {res.values.size} → output row {r}, col {c}. It covers input "
             f"{_span('row', max(rows[0], 0), min(rows[-1], H - 1))}, "
             f"{_span('column', max(cols[0], 0), min(cols[-1], W - 1))}")
    extra = []
    if n_pad:
        extra.append(f"{n_pad} padding cell{'s' * (n_pad > 1)} ({'−∞' if v.op == 'max' else '0'})")
    if n_over:
        extra.append(f"{n_over} cell{'s' * (n_over > 1)} hanging past the padded edge (ceil_mode; ignored)")
    where += (" plus " + " and ".join(extra)) if extra else ""
    out = res.values[r, c]
    if v.op == "max":
        ar, ac = res.argmax_rc()
        how = f"max({listed}) = **{fmt(out)}**, from input cell ({ar[r, c]}, {ac[r, c]}) (red)."
        if not v.decisive[r, c]:  # type: ignore[index]
            how += " Every value ties, so, like PyTorch, the first cell wins."
    elif v.op == "sum":
        how = f"sum({listed}) = **{fmt(out)}**."
    else:
        div = int(res.divisors[r, c])  # type: ignore[index]
        why = ""
        if div == real.size and (n_pad or n_over):
            why = " (only the real input cells count)"
        elif n_over:
            why = " (clipped to the padded input: padding zeros count, the overhang does not)"
        elif n_pad:
            why = " (padding zeros count: count_include_pad)"
        how = f"sum({listed}) = {fmt(real.sum())}, ÷ {div}{why} = **{fmt(out)}**."
    return f"**{where[0].upper() + where[1:]}.** {how}"
