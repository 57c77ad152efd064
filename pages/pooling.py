"""Pooling: max, average, sum and global average pooling, window by window, and what they buy a CNN."""

import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from core.lessons import filters  # noqa: E402
from core.lessons import kernels as kernel_lib  # noqa: E402
from core.data.mnist import load_shipped_train, sample_digit  # noqa: E402
from core.lessons.pool_picture import channel_picture, pool_picture, shift_picture, versus_picture  # noqa: E402
from core.lessons.pooling import (  # noqa: E402
    CHANNEL_OPS, PoolingError, PoolResult, PoolSpec, layer_costs, mean_kernel, pool2d, translation_demo,
)
from ui import state  # noqa: E402
from ui.errors import shipped_data  # noqa: E402
from ui.formula import formula_block  # noqa: E402
from ui.lesson_picture import lesson_picture, picked  # noqa: E402
from ui.page_style import lesson_css  # noqa: E402
from ui.pooling_views import (  # noqa: E402
    CHANNELS, CONV_KERNELS, FEATURES, MATRIX_HI, MATRIX_LO, OPS, SOURCES, STACK, PoolingSettings, View,
    default_matrix, legend, resized, window_story,
)

Cfg = PoolingSettings
PICTURE = "pooling.picture"
CHANNEL_PICTURE = "pooling.channels"
INTRO = ("Pooling summarises each window with one number, the **max**, the **average** or the **sum**, and has "
         "no weights. Move over an output cell to see its window.")
# Less empty space above the title, so the picture and a control fit the first screen.
COMPACT_CSS = "<style>[data-testid='stMainBlockContainer'] { padding-top: 2.5rem; }</style>"


# ---------------------------------------------------------------------------------------------
# Input


@st.cache_data(show_spinner=False)
def digit_image(label: int, index: int) -> np.ndarray:
    return sample_digit(load_shipped_train(), label, index).astype(np.float64)  # (28, 28), 0..255


@st.cache_data(show_spinner=False)
def feature_map(label: int, index: int, kernel: str, relu: bool) -> np.ndarray:
    fm = kernel_lib.apply_filter(digit_image(label, index), kernel, padding="same")  # (28, 28)
    return np.maximum(fm, 0.0) if relu else fm


def _randomise() -> None:
    n = state.current(Cfg).n
    state.put(Cfg, m=tuple(int(v) for v in np.random.default_rng().integers(0, 10, n * n)))


def _reset() -> None:
    state.put(Cfg, m=default_matrix(state.current(Cfg).n))


def matrix_editor(cfg: Cfg) -> np.ndarray:
    """An n×n editable grid. Its values live in the settings (and the link); the editor is re-keyed when
    they change from outside (link, size, buttons) so it never shows stale edits."""
    ss = st.session_state  # the editor's generation and base: UI state, not settings
    n, m = cfg.n, cfg.m
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
    ss["pooling._ed_out"] = new
    state.put(Cfg, m=new)
    return vals.astype(np.float64)


def input_controls(keys: state.Keys) -> tuple[np.ndarray, str]:
    """Draw the input widgets; return the (H, W) map and a short description."""
    src = st.radio("Input", list(SOURCES), format_func=SOURCES.get, key=keys.src)
    if src != "matrix":
        st.session_state.pop("pooling._ed_out", None)  # the editor's edits are dropped while hidden
    if src == "matrix":
        n = st.slider("Matrix size", 4, 8, key=keys.n)
        now = state.current(Cfg)
        if len(now.m) != n * n:
            state.put(Cfg, m=resized(now.m, n))
        x = matrix_editor(state.current(Cfg))
        b1, b2 = st.columns(2)
        b1.button("🎲 Random", on_click=_randomise, width="stretch", help="Random values 0–9")
        b2.button("↺ Reset", on_click=_reset, width="stretch")
        return x, f"your {n}×{n} matrix"
    c1, c2 = st.columns(2)
    label = c1.number_input("Digit", 0, 9, key=keys.digit)
    index = c2.number_input("Sample", 0, 499, key=keys.idx, help="Which of the 500 shipped examples.")
    if src == "digit":
        with shipped_data():
            return digit_image(label, index), f"a {label} (pixel values 0–255)"
    kernel = st.selectbox("Filter", list(FEATURES), format_func=FEATURES.get, key=keys.feat)
    if keys.offered("relu"):
        st.checkbox("ReLU first (as a CNN does before pooling)", key=keys.relu)
    relu = state.current(Cfg).relu  # a classroom link keeps the teacher's choice, without the control
    with shipped_data():
        return feature_map(label, index, kernel, relu), f"the {FEATURES[kernel]} map of a {label}"


def pooling_controls(keys: state.Keys) -> None:
    gap = state.current(Cfg).op == "gap"
    if gap:
        st.caption("Global average pooling uses one window as big as the whole map, so it has no size, "
                   "stride or padding to set.")
    st.slider("Pool size k", 1, 8, key=keys.k, disabled=gap)
    st.slider("Stride s", 1, 8, key=keys.s, disabled=gap)
    if keys.offered("p"):
        st.slider("Padding p", 0, 4, key=keys.p, disabled=gap,
                  help="PyTorch allows at most k // 2: every window must hold a real value.")
    if keys.offered("ceil"):
        st.checkbox("Partial last window (ceil_mode)", key=keys.ceil, disabled=gap,
                    help="Round the output size up: keep a last, partial window at the edge.")
    if keys.offered("cip"):
        st.checkbox("Zeros count (count_include_pad)", key=keys.cip, disabled=state.current(Cfg).op != "avg",
                    help="Average pooling: do padding zeros count in the divisor? (PyTorch default: yes)")


# ---------------------------------------------------------------------------------------------
# Sections


@st.cache_data(show_spinner=False, max_entries=32)
def walk_picture(x: np.ndarray, spec: PoolSpec):
    res = spec(x)
    decisive = None
    if spec.op == "max":  # the max beats the min: windows holding one repeated value have no real winner
        decisive = res.values > -pool2d(-x, spec.k, spec.s, spec.p, spec.ceil_mode, "max").values
    return pool_picture(x, res, spec.op, 0, decisive)


def walkthrough(v: View, spec: PoolSpec) -> None:
    """The lesson picture (hover, Play and Step run in the browser) and the selected window in words.

    An ``st.fragment``: a click, Step or an arrow key in the picture reruns only this, and ``state.sync``
    puts the window into the link."""
    n = v.res.values.size
    cell = picked(PICTURE, n)
    if cell is not None:
        state.put(Cfg, step=cell + 1)
    step = min(max(state.current(Cfg).step, 1), n)
    lesson_picture(PICTURE, dataclasses.replace(walk_picture(v.x, spec), selected=step - 1))
    st.markdown(window_story(v, step - 1))
    st.caption(legend(v))
    state.sync(Cfg)


def formula_section(res: PoolResult, spec: PoolSpec, x: np.ndarray) -> None:
    h, w = res.shape.height, res.shape.width
    oh, ow = res.values.shape
    if spec.is_global:
        st.markdown(f"**Output: 1×1**: global average pooling averages all {x.size} cells of the "
                    f"{x.shape[0]}×{x.shape[1]} map into one number. In a real network this happens per "
                    "channel: a 7×7×512 stack becomes 512 numbers whatever the image size, which is why it "
                    "usually sits right before the classifier.")
        return
    left, right = st.columns([2, 3], gap="large")
    left.markdown(f"**Output: {oh}×{ow}** from a {h.n}×{w.n} input with a {h.k}×{w.k} window, stride {h.s}, "
                  f"padding {h.pad_lo}{', ceil_mode' if spec.ceil_mode else ''}. Pooling uses the same size "
                  "formula as a convolution; only ceil_mode is extra.")
    same = (h.n, h.numerator, h.out, h.ceil_extra) == (w.n, w.numerator, w.out, w.ceil_extra)
    with right:
        for ax in [h] if same else [h, w]:
            formula_block(ax, title="Height and width (the same numbers)" if same else ax.axis.capitalize())


def translation_section(x: np.ndarray, spec: PoolSpec, keys: state.Keys) -> None:
    st.subheader("Does pooling make the network tolerant to small shifts?")
    st.markdown("Move the input a few pixels and compare how much the map changes **before** pooling "
                "with how much the **pooled** output changes. Cells moved in from the edge are zeros.")
    c1, c2 = st.columns(2)
    dx = c1.slider("Shift right (pixels, negative = left)", -3, 3, key=keys.dx)
    dy = c2.slider("Shift down (pixels, negative = up)", -3, 3, key=keys.dy)
    demo = translation_demo(x, dy, dx, spec)
    lesson_picture("pooling.shift", shift_picture(x, demo.shifted, spec(x), spec(demo.shifted), spec.op, (dy, dx)))
    m1, m2 = st.columns(2)
    for col, name, cm in ((m1, "Before pooling (the map itself)", demo.before_pool),
                          (m2, "After pooling", demo.after_pool)):
        l2 = "—" if np.isnan(cm.rel_l2) else f"{cm.rel_l2:.0%}"
        col.metric(name, f"{cm.unchanged_fraction:.0%} unchanged",
                   help="Share of non-zero cells (in either map) that kept their exact value.")
        col.caption(f"{cm.active - cm.changed} of {cm.active} non-zero cells unchanged · relative L2 change "
                    f"‖after − before‖ / ‖before‖ = {l2}")
    shift_table(x, spec)
    st.caption("The tolerance is only approximate: a shift that stays inside a window leaves the max in "
               "place, but a shift by a whole stride just moves the pooled output by one cell, and a shift "
               "that carries the maximum into the next window changes it. Average pooling smooths rather "
               "than ignores shifts; global average pooling ignores them completely unless something "
               "leaves the map.")


def shift_table(x: np.ndarray, spec: PoolSpec) -> None:
    rows = []
    for d in (1, 2, 3):
        t = translation_demo(x, 0, d, spec)
        rows.append({"shift right": f"{d} px", "unchanged before pooling": f"{t.before_pool.unchanged_fraction:.0%}",
                     "unchanged after pooling": f"{t.after_pool.unchanged_fraction:.0%}",
                     "L2 change before": f"{t.before_pool.rel_l2:.0%}", "L2 change after": f"{t.after_pool.rel_l2:.0%}"})
    # Markdown, short headers: a table that wraps its header text fits a phone's width
    head = "| shift right | unchanged before | unchanged after | L2 change before | L2 change after |\n|---|---:|---:|---:|---:|\n"
    st.markdown(head + "\n".join(f"| {r['shift right']} | {r['unchanged before pooling']} | "
                                  f"{r['unchanged after pooling']} | {r['L2 change before']} | {r['L2 change after']} |"
                                  for r in rows))


def strided_conv_section(x: np.ndarray, res: PoolResult, spec: PoolSpec, keys: state.Keys) -> None:
    st.subheader("Pooling vs a strided convolution (the all-convolutional net)")
    st.markdown("A convolution with the same window and stride shrinks the map just as much. With every "
                "weight 1/k² it *is* average pooling; with learned weights it can decide what to keep.")
    kk, ss_, pp = spec.window(x.shape)
    c1, c2 = st.columns([2, 3])
    ck = c1.radio("Convolution kernel", list(CONV_KERNELS), format_func=CONV_KERNELS.get, key=keys.ck)
    kernel = mean_kernel(kk) if ck == "mean" else np.random.default_rng(0).normal(0, 1 / np.sqrt(kk[0] * kk[1]), kk)
    conv = filters.conv2d(x, kernel, stride=ss_, padding=pp)[0]  # (H', W')
    label = OPS[spec.op].lower() + " pooling"
    with c1:
        lesson_picture("pooling.versus", versus_picture(res.values, conv, label, f"conv, stride {ss_[0]}"))
    if ck == "mean" and conv.shape == res.values.shape and spec.op in ("avg", "gap"):
        gap = float(np.max(np.abs(conv - res.values)))
        c1.caption(f"Largest difference from {label}: {gap:.1e} — the same layer.")
    elif spec.ceil_mode and not spec.is_global:
        c1.caption("Convolutions have no ceil_mode, so the conv output can be smaller than the pooled one.")
    with c2:
        ch = int(st.select_slider("Channels in the layer", CHANNELS, key=keys.ch))
        cost_table(x.shape, ch, spec)
    st.info(
        "**Why many modern nets drop pooling.** Springenberg et al. (2015, *Striving for Simplicity: The "
        "All Convolutional Net*) replaced every max-pool with a stride-2 convolution and matched the "
        "accuracy of pooling nets: the network learns how to downsample instead of being told. ResNets "
        "downsample with stride-2 convolutions inside their stages, keeping one max-pool in the stem and a "
        "global average pool before the classifier. The price is parameters and compute (above), and "
        "neither choice is truly shift-invariant: both sample every s-th position, so a 1-pixel shift "
        "can change the output (Zhang, 2019, *Making Convolutional Networks Shift-Invariant Again*). For "
        "small nets like LeNet, pooling is still a cheap, parameter-free default.", icon="🧭")


def cost_table(in_hw: tuple[int, int], ch: int, spec: PoolSpec) -> None:
    """Pooling and the strided convolution side by side, one row per property: two narrow value columns
    fit a phone (five columns in a row were cut off)."""
    (kh, kw), (s, _), (p, _) = spec.window(in_hw)
    pool_cost, conv_cost = layer_costs(in_hw, ch, spec)
    conv = f"nn.Conv2d({ch}, {ch}, {kh}, stride={s}{f', padding={p}' if p else ''})"
    st.markdown(
        "| | pooling | strided conv |\n|---|---|---|\n"
        f"| PyTorch | `{spec.torch_code()}` | `{conv}` |\n"
        f"| output | {_hw(pool_cost.out_hw, ch)} | {_hw(conv_cost.out_hw, ch)} |\n"
        f"| learnable parameters | **0** | **{conv_cost.params:,}** = {ch}·{ch}·{kh}·{kw} + {ch} |\n"
        f"| work per image | {pool_cost.ops:,} compares/adds | {conv_cost.ops:,} multiply-adds |")
    st.caption("Learnable parameters: out·in·k·k weights plus one bias per output channel. Work is for one "
               "image of this size.")


def _hw(hw: tuple[int, int] | None, ch: int) -> str:
    return "invalid" if hw is None else f"{ch}×{hw[0]}×{hw[1]}"


# ---------------------------------------------------------------------------------------------
# Page


def walk_view(x: np.ndarray, res: PoolResult, spec: PoolSpec) -> View:
    n = res.values.size
    step = state.current(Cfg).step
    if not 1 <= step <= n:  # fewer windows than before: keep the selected window inside the output
        state.put(Cfg, step=min(max(step, 1), n))
    decisive = None
    if spec.op == "max":  # the max beats the min: windows holding one repeated value have no real winner
        decisive = res.values > -pool2d(-x, spec.k, spec.s, spec.p, spec.ceil_mode, "max").values
    return View(x, res, spec.op, decisive)


@st.cache_data(show_spinner=False, max_entries=16)
def feature_stack(x: np.ndarray) -> np.ndarray:
    """Three feature maps of the input, as a conv layer with three kernels would make: (3, H, W)."""
    return np.stack([kernel_lib.apply_filter(x, name, padding="same") for name in STACK])


def channel_section(x: np.ndarray, keys: state.Keys) -> None:
    """Pooling across channels: max, mean or sum over a stack of feature maps at every position.

    An ``st.fragment``: the choice and a click on the picture rerun only this."""
    st.subheader("Pooling across channels")
    st.markdown("Pooling can also run *across* the channels of a stack of feature maps instead of over a window: "
                "at every position it keeps the **max** (as maxout units do), the **mean** (a 1×1 convolution "
                "with every weight 1/C) or the **sum** of the C values there. The map keeps its size; the "
                "channels become one. Here the stack is three filters of the input above.")
    op = st.radio("Over the channels", list(CHANNEL_OPS), key=keys.cp, horizontal=True)
    stack = feature_stack(x)
    cell = picked(CHANNEL_PICTURE, x.size)
    pic = channel_picture(stack, [STACK[name] for name in STACK], op, cell or 0)
    lesson_picture(CHANNEL_PICTURE, pic)


def main() -> None:
    keys = state.bind(Cfg)
    state.header(Cfg, "🧮 Pooling", INTRO)
    lesson_css()
    st.html(COMPACT_CSS)
    st.radio("Pooling", list(OPS), format_func=OPS.get, key=keys.op, horizontal=True, label_visibility="collapsed")
    pic_col, ctl_col = st.columns([2.1, 1], gap="medium")
    with ctl_col:
        pooling_controls(keys)
        with st.container(border=True):
            x, desc = input_controls(keys)
    spec = state.current(Cfg).spec()
    try:
        res = spec(x)
    except PoolingError as exc:
        res = None
        pic_col.error(f"**These settings do not work:** {exc}", icon="🚫")
    if res is not None:
        view = walk_view(x, res, spec)
        with pic_col:
            st.fragment(walkthrough)(view, spec)
            st.caption(f"Input: {desc}.")
        formula_section(res, spec, x)
        st.divider()
        st.fragment(channel_section)(x, keys)
        st.divider()
        translation_section(x, spec, keys)
        st.divider()
        strided_conv_section(x, res, spec, keys)
    state.finish(state.current(Cfg))


main()
