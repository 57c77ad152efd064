"""The pooling page's settings, figures and sentences (plotly + text; no Streamlit calls)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from core.lessons.pooling import PoolResult, PoolSpec, window_cells
from core.links.settings import Settings, choice, flag, int_list, integer
from ui.fastfig import from_spec
from ui.grid import Box, grid_spec, rect_shape

MAX_TEXT_CELLS = 16  # grids larger than this per side show colours only (values on hover)
SOURCES = {"matrix": "Small matrix (editable)", "digit": "MNIST digit", "feature": "Feature map of a digit"}
OPS = {"max": "Max", "avg": "Average", "sum": "Sum", "gap": "Global average"}
FEATURES = {"sobel_x": "Sobel x (vertical edges)", "sobel_y": "Sobel y (horizontal edges)",
            "sobel_magnitude": "Sobel magnitude (any edge)", "laplacian": "Laplacian"}
CHANNELS = ("1", "3", "16", "32", "64", "128", "256", "512")
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
    signed: bool
    token: str  # new on every page run: tells a fragment tick from the page's own run
    playing: bool
    decisive: np.ndarray | None = None  # (OH, OW) max pooling: the window is not one value repeated


def fmt(v: float) -> str:
    if not np.isfinite(v):
        return "−∞" if v < 0 else "∞"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}".rstrip("0").rstrip(".")


def _colours(x: np.ndarray, signed: bool) -> dict:
    if signed:
        bound = float(np.max(np.abs(x))) or 1.0
        return {"colorscale": "RdBu_r", "zmin": -bound, "zmax": bound}
    return {"colorscale": "Blues", "zmin": float(min(0.0, x.min())), "zmax": float(x.max()) or 1.0}


def _outline_trace(rects: list[tuple[int, int, int, int]], color: str, dash: str | None = None,
                   inset: float = 0.0, width: float = 1.2, name: str = "windows") -> dict:
    """Many rectangles (r0, c0, r1, c1) as one line trace: far lighter than one shape each."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    e = 0.5 - inset
    for r0, c0, r1, c1 in rects:
        xs += [c0 - e, c1 + e, c1 + e, c0 - e, c0 - e, None]
        ys += [r0 - e, r0 - e, r1 + e, r1 + e, r0 - e, None]
    return {"type": "scatter", "x": xs, "y": ys, "mode": "lines", "line": {"color": color, "width": width, "dash": dash},
            "hoverinfo": "skip", "showlegend": False, "name": name}


def input_figure(v: View, index: int) -> go.Figure:
    """The padded input (plus any ceil_mode overhang) with windows, current window and argmax cells."""
    x, res = v.x, v.res
    h, w = res.shape.height, res.shape.width
    oh, ow = res.values.shape
    H, W = x.shape
    eh, ew = max(h.padded, (oh - 1) * h.s + h.k), max(w.padded, (ow - 1) * w.s + w.k)
    z = np.full((eh, ew), np.nan)
    z[h.pad_lo:h.pad_lo + H, w.pad_lo:w.pad_lo + W] = x
    text = None
    if max(eh, ew) <= MAX_TEXT_CELLS:
        inside = np.zeros((eh, ew), bool)
        inside[:h.padded, :w.padded] = True
        pad_txt = "−∞" if v.op == "max" else "0"
        text = np.where(np.isnan(z), np.where(inside, pad_txt, ""), np.vectorize(fmt)(np.nan_to_num(z)))
    boxes = []
    if (eh, ew) != (H, W):
        boxes.append(Box(h.pad_lo, w.pad_lo, h.pad_lo + H - 1, w.pad_lo + W - 1, "#64748b", 1.5))
    r, c, top, left = window_cells(res.shape, index)
    fill = None if v.op == "gap" else "rgba(245,158,11,0.18)"  # a fill over the whole map would hide it
    boxes.append(Box(top, left, top + h.k - 1, left + w.k - 1, "#f59e0b", 4, fill))
    spec = grid_spec(z, text=text, boxes=boxes, cell_px=80, max_px=440, **_colours(x, v.signed))
    starts = [(i * h.s, j * w.s) for i in range(oh) for j in range(ow)]
    if v.op != "gap" and oh * ow > 1:
        if h.s >= h.k and w.s >= w.k:  # windows tile: outline them all
            big = max(eh, ew) > MAX_TEXT_CELLS
            spec["data"].append(_outline_trace([(a, b, a + h.k - 1, b + w.k - 1) for a, b in starts],
                                               "rgba(17,24,39,0.45)" if big else "#111827", width=1 if big else 2))
        elif index + 1 < len(starts):  # overlapping: show the current window's neighbour, dashed
            a, b = starts[index + 1]
            spec["data"].append(_outline_trace([(a, b, a + h.k - 1, b + w.k - 1)], "#2563eb", "dot", width=2.5))
    if v.op == "max":
        _mark_winners(spec, v, r, c)
    # Axis labels and hover in input coordinates (padding cells get no label).
    rr, cc = np.arange(eh) - h.pad_lo, np.arange(ew) - w.pad_lo
    heat = spec["data"][0]
    heat["customdata"] = np.dstack(np.meshgrid(rr, cc, indexing="ij"))
    heat["hovertemplate"] = "input row %{customdata[0]}, col %{customdata[1]}: %{z:.4g}<extra></extra>"
    lay = spec["layout"]
    lay["xaxis"] |= {"tickmode": "array", "tickvals": list(range(ew)), "ticktext": [_tick(c, W) for c in cc]}
    lay["yaxis"] |= {"tickmode": "array", "tickvals": list(range(eh)), "ticktext": [_tick(r, H) for r in rr]}
    lay["title"] = {"text": f"Input {H}×{W}" + (" with padding" if (h.pad_lo or w.pad_lo) else ""),
                    "x": 0, "y": 0.995, "yanchor": "top", "font": {"size": 14}}
    lay["margin"]["t"] = 50
    lay["plot_bgcolor"] = "#e2e8f0"  # padding / overhang cells are empty: they show this grey
    return from_spec(spec)


def _tick(i: int, n: int) -> str:
    """Tick label of input row/column ``i`` (0-based like PyTorch); padding gets none, big maps every 5th."""
    return str(i) if 0 <= i < n and (n <= 16 or i % 5 == 0) else ""


def _mark_winners(spec: dict, v: View, r: int, c: int) -> None:
    """Red squares on each window's winning cell; the current window's winner also gets its value in
    bold on white, readable over any colour of the map."""
    h, w = v.res.shape.height, v.res.shape.width
    rows, cols = v.res.argmax_rc()
    ar, ac = int(rows[r, c]) + h.pad_lo, int(cols[r, c]) + w.pad_lo
    spec["layout"]["shapes"].append(rect_shape(Box(ar, ac, ar, ac, "#dc2626", 4)))
    if max(spec["data"][0]["z"].shape) <= MAX_TEXT_CELLS:
        spec["layout"]["annotations"] = [{
            "x": ac, "y": ar, "text": f"<b>{fmt(v.res.values[r, c])}</b>", "showarrow": False,
            "bgcolor": "#ffffff", "bordercolor": "#dc2626", "borderwidth": 2, "font": {"color": "#111827", "size": 13},
        }]
    ws, wc = (m[v.decisive] for m in v.res.argmax_rc())  # constant windows (all ties) are not marked
    cells = sorted({(int(a) + h.pad_lo, int(b) + w.pad_lo) for a, b in zip(ws, wc)})
    spec["data"].append(_outline_trace([(a, b, a, b) for a, b in cells], "#dc2626", inset=0.12, width=2, name="argmax"))


def legend(v: View) -> str:
    h, w = v.res.shape.height, v.res.shape.width
    parts = ["Orange: the current window and the output cell it makes."]
    if h.pad_lo or w.pad_lo or v.res.shape.height.ceil_extra or v.res.shape.width.ceil_extra:
        parts.append("Grey cells lie outside the input: padding (" + ("−∞, so it never wins" if v.op == "max"
                     else "zeros") + ") and any ceil_mode overhang (blank, ignored).")
    if v.op != "gap" and v.res.values.size > 1:
        parts.append("Black lines: the windows, which tile the input." if h.s >= h.k and w.s >= w.k else
                     "Dotted blue: the next window; windows overlap because the stride is smaller than the window.")
    if v.op == "max":
        parts.append("Red squares: each window's winning (argmax) input cell, the only one that gets a gradient "
                     "in training (windows holding one repeated value are not marked).")
    parts.append("Rows and columns are numbered from 0, as in PyTorch and NumPy; windows are counted 1, 2, 3, …")
    return " ".join(parts)


def output_figure(v: View, index: int) -> go.Figure:
    vals = v.res.values
    oh, ow = vals.shape
    r, c = divmod(index, ow)
    text = np.vectorize(fmt)(vals) if max(oh, ow) <= MAX_TEXT_CELLS else None
    colours = _colours(vals if v.op == "sum" else v.x, v.signed)
    spec = grid_spec(vals, text=text, boxes=[Box(r, c, r, c, "#f59e0b", 4)], cell_px=60, max_px=320, **colours)
    spec["layout"]["title"] = {"text": f"Output {oh}×{ow}", "x": 0, "y": 0.995, "yanchor": "top", "font": {"size": 14}}
    spec["layout"]["margin"]["t"] = 50
    return from_spec(spec)


def small_grid(z: np.ndarray, signed: bool, title: str, colour_ref: np.ndarray) -> go.Figure:
    small = max(z.shape) <= 8  # room for numbers and tick labels; bigger maps show colours (hover for values)
    text = np.vectorize(fmt)(z) if small else None
    spec = grid_spec(z, text=text, max_px=260, cell_px=30, title=title, **_colours(colour_ref, signed))
    spec["layout"]["margin"] = {"l": 5, "r": 5, "t": 45 if small else 30, "b": 5}
    if not small:
        spec["layout"]["xaxis"]["showticklabels"] = False
        spec["layout"]["yaxis"]["showticklabels"] = False
    return from_spec(spec)


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
