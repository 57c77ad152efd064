"""Pooling: max, average, sum and global average pooling, window by window, and what they buy a CNN."""

import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

import uuid  # noqa: E402
from functools import partial  # noqa: E402
from math import isqrt  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from core import arithmetic, filters, share  # noqa: E402
from core.data import load_shipped_train, sample_digit  # noqa: E402
from ui.errors import shipped_data  # noqa: E402
from core.pooling import (  # noqa: E402
    PoolResult, PoolingError, downsample_costs, global_avg_pool, mean_kernel, pool2d, translation_demo,
)
from ui import state  # noqa: E402
from ui.pooling_views import (  # noqa: E402
    View, input_figure, legend, output_figure, small_grid, torch_pool_code, window_story,
)

PAGE = "pooling"
SOURCES = {"matrix": "Small matrix (editable)", "digit": "MNIST digit", "feature": "Feature map of a digit"}
OPS = {"max": "Max", "avg": "Average", "sum": "Sum", "gap": "Global average"}
FEATURES = {"sobel_x": "Sobel x (vertical edges)", "sobel_y": "Sobel y (horizontal edges)",
            "sobel_magnitude": "Sobel magnitude (any edge)", "laplacian": "Laplacian"}
CHANNELS = ("1", "3", "16", "32", "64", "128", "256", "512")
CONV_KERNELS = {"mean": "1/k² everywhere (what average pooling does)", "random": "random (an untrained conv)"}
CS231N = (1, 1, 2, 4, 5, 6, 7, 8, 3, 2, 1, 0, 1, 2, 3, 4)  # the classic 4×4 max-pooling example
MATRIX_LO, MATRIX_HI = -99, 99
TICK_S = 0.9  # seconds per window while playing


def default_matrix(n: int) -> tuple[int, ...]:
    if n == 4:
        return CS231N
    return tuple(int(v) for v in np.random.default_rng(n).integers(0, 10, n * n))


SCHEMA = (
    share.ChoiceParam("src", "matrix", "input", choices=tuple(SOURCES)),
    share.IntParam("n", 4, "matrix size", lo=4, hi=8),
    share.IntListParam("m", CS231N, "matrix values", lengths=(16, 25, 36, 49, 64), lo=MATRIX_LO, hi=MATRIX_HI),
    share.IntParam("digit", 3, "digit", lo=0, hi=9),
    share.IntParam("idx", 0, "sample", lo=0, hi=499),
    share.ChoiceParam("feat", "sobel_x", "feature map", choices=tuple(FEATURES)),
    share.BoolParam("relu", True, "ReLU"),
    share.ChoiceParam("op", "max", "pooling", choices=tuple(OPS)),
    share.IntParam("k", 2, "pool size", lo=1, hi=8),
    share.IntParam("s", 2, "stride", lo=1, hi=8),
    share.IntParam("p", 0, "padding", lo=0, hi=4),
    share.BoolParam("ceil", False, "ceil_mode"),
    share.BoolParam("cip", True, "count_include_pad"),
    share.IntParam("step", 1, "window", lo=1, hi=2000),
    share.IntParam("dx", 1, "shift right", lo=-3, hi=3),
    share.IntParam("dy", 0, "shift down", lo=-3, hi=3),
    share.ChoiceParam("ch", "64", "channels", choices=CHANNELS),
    share.ChoiceParam("ck", "mean", "conv kernel", choices=tuple(CONV_KERNELS)),
)
K = {p.key: state.wkey(PAGE, p.key) for p in SCHEMA}
PLAY = state.wkey(PAGE, "play")
ANIM = "pooling._anim"  # the window shown while playing (the slider holds it when paused)


# ---------------------------------------------------------------------------------------------
# Input


@st.cache_data(show_spinner=False)
def digit_image(label: int, index: int) -> np.ndarray:
    return sample_digit(load_shipped_train(), label, index).astype(np.float64)  # (28, 28), 0..255


@st.cache_data(show_spinner=False)
def feature_map(label: int, index: int, kernel: str, relu: bool) -> np.ndarray:
    fm = filters.apply_filter(digit_image(label, index), kernel, padding="same")  # (28, 28)
    return np.maximum(fm, 0.0) if relu else fm


def resized(m: tuple[int, ...], n: int) -> tuple[int, ...]:
    """The stored matrix as n×n: keep the overlapping top-left values, fill the rest by default."""
    old = isqrt(len(m))
    out = np.array(default_matrix(n)).reshape(n, n)
    c = min(old, n)
    out[:c, :c] = np.array(m).reshape(old, old)[:c, :c]
    return tuple(int(v) for v in out.ravel())


def _randomise() -> None:
    n = st.session_state[K["n"]]
    rng = np.random.default_rng()
    st.session_state[K["m"]] = tuple(int(v) for v in rng.integers(0, 10, n * n))


def _reset() -> None:
    st.session_state[K["m"]] = default_matrix(st.session_state[K["n"]])


def matrix_editor(n: int) -> np.ndarray:
    """An n×n editable grid. Its values live in state (and the link); the editor is re-keyed when they
    change from outside (link, size, buttons) so it never shows stale edits."""
    ss = st.session_state
    m = ss[K["m"]]
    gen = ss.get("pooling._ed_gen", 0)
    if ss.get("pooling._ed_out") != m or f"pooling.editor{gen}" not in ss:
        gen += 1
        ss["pooling._ed_gen"], ss["pooling._ed_base"] = gen, m
    base = np.array(ss["pooling._ed_base"]).reshape(n, n)
    cols = [str(c) for c in range(n)]
    edited = st.data_editor(
        pd.DataFrame(base, columns=cols), key=f"pooling.editor{gen}", hide_index=False,
        column_config={c: st.column_config.NumberColumn(c, min_value=MATRIX_LO, max_value=MATRIX_HI, step=1,
                                                        format="%d", width=40) for c in cols},
    )
    vals = pd.DataFrame(edited).apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy(dtype=float)
    vals = np.clip(np.rint(vals), MATRIX_LO, MATRIX_HI).astype(int)
    new = tuple(int(v) for v in vals.ravel())
    ss["pooling._ed_out"] = ss[K["m"]] = new
    return vals.astype(np.float64)


def input_controls(classroom: bool) -> tuple[np.ndarray, str]:
    """Draw the input widgets; return the (H, W) map and a short description."""
    src = st.radio("Input", list(SOURCES), format_func=SOURCES.get, key=K["src"])
    if src != "matrix":
        st.session_state.pop("pooling._ed_out", None)  # the editor's edits are dropped while hidden
    if src == "matrix":
        n = st.slider("Matrix size", 4, 8, key=K["n"])
        if len(st.session_state[K["m"]]) != n * n:
            st.session_state[K["m"]] = resized(st.session_state[K["m"]], n)
        x = matrix_editor(n)
        b1, b2 = st.columns(2)
        b1.button("🎲 Random values", on_click=_randomise, width="stretch")
        b2.button("↺ Reset", on_click=_reset, width="stretch")
        return x, f"your {n}×{n} matrix"
    c1, c2 = st.columns(2)
    label = c1.number_input("Digit", 0, 9, key=K["digit"])
    index = c2.number_input("Sample", 0, 499, key=K["idx"], help="Which of the 500 shipped examples.")
    if src == "digit":
        with shipped_data():
            return digit_image(label, index), f"a {label} (pixel values 0–255)"
    kernel = st.selectbox("Filter", list(FEATURES), format_func=FEATURES.get, key=K["feat"])
    relu = st.session_state[K["relu"]]  # classroom links keep the link's choice, without the control
    if not classroom:
        relu = st.checkbox("ReLU first (as a CNN does before pooling)", key=K["relu"])
    with shipped_data():
        return feature_map(label, index, kernel, bool(relu)), f"the {FEATURES[kernel]} map of a {label}"


def pooling_controls(classroom: bool) -> tuple[str, int, int, int, bool, bool]:
    op = st.radio("Pooling", list(OPS), format_func=OPS.get, key=K["op"], horizontal=True)
    gap = op == "gap"
    if gap:
        st.caption("Global average pooling uses one window as big as the whole map, so it has no size, "
                   "stride or padding to set.")
    c1, c2 = st.columns(2)
    k = c1.slider("Pool size k", 1, 8, key=K["k"], disabled=gap)
    s = c2.slider("Stride s", 1, 8, key=K["s"], disabled=gap)
    ss = st.session_state  # classroom links keep the link's advanced settings, without the controls
    p, ceil, cip = ss[K["p"]], ss[K["ceil"]], ss[K["cip"]]
    if not classroom:
        c3, c4 = st.columns(2)
        p = c3.slider("Padding p", 0, 4, key=K["p"], disabled=gap,
                      help="PyTorch allows at most k // 2: every window must hold a real value.")
        with c4:
            ceil = st.checkbox("ceil_mode", key=K["ceil"], disabled=gap,
                               help="Round the output size up: keep a last, partial window at the edge.")
            cip = st.checkbox("count_include_pad", key=K["cip"], disabled=op != "avg",
                              help="Average pooling: do padding zeros count in the divisor? (PyTorch default: yes)")
    return op, k, s, p, ceil, cip


def run_pooling(x: np.ndarray, op: str, k: int, s: int, p: int, ceil: bool, cip: bool) -> PoolResult:
    if op == "gap":
        return global_avg_pool(x)
    return pool2d(x, k, s, p, ceil, op, cip)


def pool_fn(op: str, k: int, s: int, p: int, ceil: bool, cip: bool):
    if op == "gap":
        return global_avg_pool
    return partial(pool2d, k=k, stride=s, padding=p, ceil_mode=ceil, op=op, count_include_pad=cip)


# ---------------------------------------------------------------------------------------------
# Sections


def _on_play() -> None:
    """Play starts from the slider's window; pause puts the slider where the animation stopped."""
    ss = st.session_state
    if ss.get(PLAY):
        ss[ANIM] = ss.get(K["step"], 1)
    else:
        ss[K["step"]] = ss.get(ANIM, 1)


def step_controls(n: int, playing: bool) -> None:
    """Play/pause and the window slider. They live outside the fragment, so a click reruns the page."""
    if n < 2:
        return
    b, sl = st.columns([1, 6], vertical_alignment="bottom")
    b.toggle("▶ Play", key=PLAY, on_change=_on_play, help="Step through the windows automatically.")
    if not playing:  # while playing, the fragment shows the position instead
        sl.slider("Window", 1, n, key=K["step"])


def walkthrough(v: View) -> None:
    """The current window's arithmetic and the two grids. A fragment: while playing it reruns alone
    every TICK_S seconds and advances one window (looping), without rerunning the page."""
    ss = st.session_state
    tick = ss.get("pooling._token") == v.token  # a rerun of this fragment, not the page's run
    ss["pooling._token"] = v.token
    n = v.res.values.size
    step = v.step
    if v.playing:
        step = min(max(int(ss.get(ANIM, step)), 1), n)
        if tick:
            step = step % n + 1
        ss[ANIM] = step
        st.progress(step / n, text=f"Playing: window {step} of {n}")
    st.markdown(window_story(v, step - 1))
    c_in, c_out = st.columns([3, 2], gap="large")
    c_in.plotly_chart(input_figure(v, step - 1), key="pooling.input_fig", config={"displayModeBar": False})
    c_out.plotly_chart(output_figure(v, step - 1), key="pooling.output_fig", config={"displayModeBar": False})
    c_out.caption(legend(v))


def formula_section(res: PoolResult, op: str, x: np.ndarray, ceil: bool) -> None:
    h, w = res.shape.height, res.shape.width
    oh, ow = res.values.shape
    if op == "gap":
        st.markdown(f"**Output: 1×1**: global average pooling averages all {x.size} cells of the "
                    f"{x.shape[0]}×{x.shape[1]} map into one number. In a real network this happens per "
                    "channel: a 7×7×512 stack becomes 512 numbers whatever the image size, which is why it "
                    "usually sits right before the classifier.")
        return
    left, right = st.columns([2, 3], gap="large")
    left.markdown(f"**Output: {oh}×{ow}** from a {h.n}×{w.n} input with a {h.k}×{w.k} window, stride {h.s}, "
                  f"padding {h.pad_lo}{', ceil_mode' if ceil else ''}. Pooling uses the same size formula as "
                  "a convolution (`core.arithmetic.pool_axis`); only ceil_mode is extra.")
    same = (h.n, h.numerator, h.out, h.ceil_extra) == (w.n, w.numerator, w.out, w.ceil_extra)
    for ax in [h] if same else [h, w]:
        steps = arithmetic.conv_formula_steps(ax)
        lines = [_align(stp.latex) for stp in steps if stp.latex]
        with right:
            st.caption("Height and width (the same numbers):" if same else f"{ax.axis.capitalize()}:")
            st.latex(r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}")
        for stp in steps:
            if stp.note:
                left.caption(("" if same else f"{ax.axis.capitalize()}: ") + stp.note)


def _align(latex: str) -> str:
    """One line of an aligned block: align at the first '=' (the ceil_mode line gets an 'o' of its own)."""
    tag = r"\text{ceil mode: }"
    if latex.startswith(tag):
        latex = "o = " + latex[len(tag):].strip() + r" \quad \text{(ceil mode)}"
    return latex.replace("=", "&=", 1)


def translation_section(x: np.ndarray, op: str, fn, signed: bool) -> None:
    st.subheader("Does pooling make the network tolerant to small shifts?")
    st.markdown("Move the input a few pixels and compare how much the map changes **before** pooling "
                "with how much the **pooled** output changes. Cells moved in from the edge are zeros.")
    c1, c2 = st.columns(2)
    dx = c1.slider("Shift right (pixels, negative = left)", -3, 3, key=K["dx"])
    dy = c2.slider("Shift down (pixels, negative = up)", -3, 3, key=K["dy"])
    demo = translation_demo(x, dy, dx, fn)
    cols = st.columns(4)
    pairs = ((demo.pooled, "pooled original"), (demo.pooled_shifted, "pooled shifted"))
    for col, (z, title) in zip(cols, ((x, "original"), (demo.shifted, f"shifted ({dy:+d}, {dx:+d})")) + pairs):
        col.plotly_chart(small_grid(z, signed, title, x if op != "sum" else demo.pooled),
                         config={"displayModeBar": False})
    m1, m2 = st.columns(2)
    for col, name, cm in ((m1, "Before pooling (the map itself)", demo.before_pool),
                          (m2, "After pooling", demo.after_pool)):
        l2 = "—" if np.isnan(cm.rel_l2) else f"{cm.rel_l2:.0%}"
        col.metric(name, f"{cm.unchanged_fraction:.0%} unchanged",
                   help="Share of non-zero cells (in either map) that kept their exact value.")
        col.caption(f"{cm.active - cm.changed} of {cm.active} non-zero cells unchanged · relative L2 change "
                    f"‖after − before‖ / ‖before‖ = {l2}")
    rows = []
    for d in (1, 2, 3):
        t = translation_demo(x, 0, d, fn)
        rows.append({"shift right": f"{d} px", "unchanged before pooling": f"{t.before_pool.unchanged_fraction:.0%}",
                     "unchanged after pooling": f"{t.after_pool.unchanged_fraction:.0%}",
                     "L2 change before": f"{t.before_pool.rel_l2:.0%}", "L2 change after": f"{t.after_pool.rel_l2:.0%}"})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="content")
    st.caption("The tolerance is only approximate: a shift that stays inside a window leaves the max in "
               "place, but a shift by a whole stride just moves the pooled output by one cell, and a shift "
               "that carries the maximum into the next window changes it. Average pooling smooths rather "
               "than ignores shifts; global average pooling ignores them completely unless something "
               "leaves the map.")


def strided_conv_section(x: np.ndarray, res: PoolResult, op: str, k: int, s: int, p: int, ceil: bool,
                         signed: bool) -> None:
    st.subheader("Pooling vs a strided convolution (the all-convolutional net)")
    st.markdown("A convolution with the same window and stride shrinks the map just as much. With every "
                "weight 1/k² it *is* average pooling; with learned weights it can decide what to keep.")
    if op == "gap":
        kk, ss_, pp = x.shape, x.shape, (0, 0)
    else:
        kk, ss_, pp = (k, k), (s, s), (p, p)
    c1, c2 = st.columns([2, 3])
    ck = c1.radio("Convolution kernel", list(CONV_KERNELS), format_func=CONV_KERNELS.get, key=K["ck"])
    kernel = mean_kernel(kk) if ck == "mean" else np.random.default_rng(0).normal(0, 1 / np.sqrt(kk[0] * kk[1]), kk)
    conv = filters.conv2d(x, kernel, stride=ss_, padding=pp)[0]  # (H', W')
    label = OPS[op].lower() + (" pooling" if op != "gap" else " pooling")
    f1, f2 = c1.columns(2)
    f1.plotly_chart(small_grid(res.values, signed, label, res.values if op == "sum" else x),
                    config={"displayModeBar": False})
    f2.plotly_chart(small_grid(conv, signed or ck == "random", f"conv, stride {ss_[0]}", conv if ck == "random" else x),
                    config={"displayModeBar": False})
    if ck == "mean" and conv.shape == res.values.shape and op in ("avg", "gap"):
        gap = float(np.max(np.abs(conv - res.values)))
        c1.caption(f"Largest difference from {label}: {gap:.1e} — the same layer.")
    elif ceil and op != "gap":
        c1.caption("Convolutions have no ceil_mode, so the conv output can be smaller than the pooled one.")
    with c2:
        ch = int(st.select_slider("Channels in the layer", CHANNELS, key=K["ch"]))
        pool_cost, conv_cost = downsample_costs(x.shape, ch, kk, ss_, pp)
        st.markdown(
            "| layer | PyTorch | output | learnable parameters | work per image |\n|---|---|---|---:|---:|\n"
            f"| pooling | `{torch_pool_code(op, kk[0], ss_[0], pp[0], ceil and op != 'gap')}` | "
            f"{_hw(pool_cost.out_hw, ch)} | **0** | {pool_cost.ops:,} compares/adds |\n"
            f"| strided conv | `nn.Conv2d({ch}, {ch}, {kk[0]}, stride={ss_[0]}{f', padding={pp[0]}' if pp[0] else ''})` | "
            f"{_hw(conv_cost.out_hw, ch)} | **{conv_cost.params:,}** = {ch}·{ch}·{kk[0]}·{kk[1]} + {ch} | "
            f"{conv_cost.ops:,} multiply-adds |")
        st.caption("Parameters from `core.arithmetic.conv2d_params`: out·in·k·k weights plus one bias per "
                   "output channel. Work is for one image of this size.")
        st.info(
            "**Why many modern nets drop pooling.** Springenberg et al. (2015, *Striving for Simplicity: The "
            "All Convolutional Net*) replaced every max-pool with a stride-2 convolution and matched the "
            "accuracy of pooling nets: the network learns how to downsample instead of being told. ResNets "
            "downsample with stride-2 convolutions inside their stages, keeping one max-pool in the stem and a "
            "global average pool before the classifier. The price is parameters and compute (above), and "
            "neither choice is truly shift-invariant: both sample every s-th position, so a 1-pixel shift "
            "can change the output (Zhang, 2019, *Making Convolutional Networks Shift-Invariant Again*). For "
            "small nets like LeNet, pooling is still a cheap, parameter-free default.", icon="🧭")


def _hw(hw: tuple[int, int] | None, ch: int) -> str:
    return "invalid" if hw is None else f"{ch}×{hw[0]}×{hw[1]}"


# ---------------------------------------------------------------------------------------------
# Page


def main() -> None:
    state.start(PAGE, SCHEMA)
    classroom = state.is_classroom()
    head, share_slot = st.columns([5, 1], vertical_alignment="bottom")
    head.title("🧮 Pooling")
    head.markdown("Pooling shrinks a feature map by summarising each small window with one number: the "
                  "**max**, the **average** or the **sum**. It has no weights to learn. Walk the windows, "
                  "then see what pooling buys (tolerance to small shifts) and what replaces it in modern nets.")
    with st.container(border=True):
        c_in, c_op = st.columns([2, 3], gap="large")
        with c_in:
            x, desc = input_controls(classroom)
        with c_op:
            op, k, s, p, ceil, cip = pooling_controls(classroom)
    signed = bool(np.min(x) < 0)
    try:
        res = run_pooling(x, op, k, s, p, ceil, cip)
    except PoolingError as exc:
        res = None
        st.error(f"**These settings do not work:** {exc}", icon="🚫")
    if res is not None:
        formula_section(res, op, x, ceil)
        n = res.values.size
        state.clamp(PAGE, "step", 1, n)
        playing = bool(st.session_state.get(PLAY)) and n > 1
        step_controls(n, playing)
        decisive = res.values > -pool2d(-x, k, s, p, ceil, "max").values if op == "max" else None
        view = View(x, res, op, signed, uuid.uuid4().hex, int(st.session_state[K["step"]]), playing, decisive)
        st.fragment(walkthrough, run_every=TICK_S if playing else None)(view)
        st.caption(f"Input: {desc}.")
        st.divider()
        translation_section(x, op, pool_fn(op, k, s, p, ceil, cip), signed)
        st.divider()
        strided_conv_section(x, res, op, k, s, p, ceil, signed)
    values = {key: st.session_state[K[key]] for key in K}
    params = state.finish(PAGE, SCHEMA, values)
    with share_slot:
        state.share_box(params)


main()
