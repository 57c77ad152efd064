"""Convolution arithmetic: how kernel, stride, padding and dilation decide the output size."""

import pandas as pd
import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

from core import arithmetic as ar  # noqa: E402
from core import share  # noqa: E402
from ui import state  # noqa: E402
from ui.arithmetic_views import (  # noqa: E402
    INPUT_COLORS, LEGEND_INPUT, conv_input_figure, legend_html, output_figure, transposed_input_figure,
    transposed_output_figure,
)

PAGE = "arithmetic"
P = share
SCHEMA = (
    P.ChoiceParam("op", "conv", "operation", choices=("conv", "transposed")),
    P.IntParam("h", 5, "input height", lo=1, hi=64), P.IntParam("w", 5, "input width", lo=1, hi=64),
    P.BoolParam("rect", False, "separate height/width"),
    P.IntParam("k", 3, "kernel", lo=1, hi=11), P.IntParam("kw", 3, "kernel width", lo=1, hi=11),
    P.IntParam("s", 2, "stride", lo=1, hi=6), P.IntParam("sw", 2, "stride width", lo=1, hi=6),
    P.ChoiceParam("pm", "explicit", "padding mode", choices=ar.PADDING_MODES),
    P.IntParam("p", 1, "padding", lo=0, hi=8), P.IntParam("pw", 1, "padding width", lo=0, hi=8),
    P.IntParam("d", 1, "dilation", lo=1, hi=5), P.IntParam("dw", 1, "dilation width", lo=1, hi=5),
    P.IntParam("cin", 1, "input channels", lo=1, hi=64), P.IntParam("cout", 1, "output channels", lo=1, hi=64),
    P.IntParam("op_pad", 0, "output padding", lo=0, hi=5),
    P.IntParam("step", 0, "kernel position", lo=0, hi=64 * 64 * 4),
    P.BoolParam("torch", False, "PyTorch check"), P.BoolParam("quiz", False, "predict-first mode"),
    P.IntParam("depth", 3, "stack depth", lo=1, hi=6),
)
STEP = SCHEMA[16]
PADDING_LABELS = {"explicit": "Explicit", "valid": "Valid (none)", "same": "Same", "full": "Full"}


def key(name: str) -> str:
    return state.wkey(PAGE, name)


def axis_controls(label: str, name: str, lo: int, hi: int, rect: bool, help: str = "") -> tuple[int, int]:
    """One slider when square, two (height, width) when rectangular."""
    if not rect:
        v = st.slider(label, lo, hi, key=key(name), help=help)
        return v, v
    a, b = st.columns(2)
    with a:
        vh = st.slider(f"{label} (height)", lo, hi, key=key(name), help=help)
    with b:
        vw = st.slider(f"{label} (width)", lo, hi, key=key(name + "w" if name != "h" else "w"))
    return vh, vw


def controls() -> dict:
    classroom = state.is_classroom()
    v: dict = {}
    v["op"] = st.radio("Layer", ("conv", "transposed"), key=key("op"), horizontal=True,
                       format_func={"conv": "Convolution", "transposed": "Transposed convolution"}.get)
    v["rect"] = False if classroom else st.session_state[key("rect")]
    v["h"], v["w"] = axis_controls("Input size", "h", 1, 64, v["rect"])
    v["k"], v["kw"] = axis_controls("Kernel size", "k", 1, 11, v["rect"])
    v["s"], v["sw"] = axis_controls("Stride", "s", 1, 6, v["rect"], "How many cells the kernel jumps each step.")
    if v["op"] == "conv":
        v["pm"] = st.radio("Padding", ar.PADDING_MODES, key=key("pm"), horizontal=True, format_func=PADDING_LABELS.get)
    else:
        v["pm"] = st.session_state[key("pm")]
    if v["op"] == "transposed" or v["pm"] == "explicit":
        v["p"], v["pw"] = axis_controls("Padding amount", "p", 0, 8, v["rect"], "Zeros added on every side.")
    else:
        v["p"], v["pw"] = st.session_state[key("p")], st.session_state[key("pw")]
    v["d"], v["dw"] = st.session_state[key("d")], st.session_state[key("dw")]
    v["cin"], v["cout"] = st.session_state[key("cin")], st.session_state[key("cout")]
    v["op_pad"] = st.session_state[key("op_pad")]
    if not classroom:
        with st.expander("Advanced: dilation, channels, rectangular"):
            v["rect"] = st.toggle("Separate height and width", key=key("rect"))
            v["d"], v["dw"] = axis_controls("Dilation", "d", 1, 5, v["rect"], "Gaps between kernel taps (atrous conv).")
            c1, c2 = st.columns(2)
            v["cin"] = c1.number_input("Input channels", 1, 64, key=key("cin"))
            v["cout"] = c2.number_input("Output channels", 1, 64, key=key("cout"))
            if v["op"] == "transposed":
                v["op_pad"] = st.slider("Output padding", 0, 5, key=key("op_pad"),
                                        help="Extra cells on one side of the output; must be < stride.")
    if not v["rect"]:
        v["w"], v["kw"], v["sw"], v["pw"], v["dw"] = v["h"], v["k"], v["s"], v["p"], v["d"]
    v["quiz"] = st.toggle("Predict before you see", key=key("quiz"),
                          help="Hide the answer until you have typed your own prediction.")
    return v


def compute(v: dict) -> tuple[ar.Shape2D, str | None, tuple | str]:
    """The layer's shape, a padding-mode reason (if any), and the padding as torch takes it."""
    if v["op"] == "transposed":
        shape = ar.transposed2d_shape((v["h"], v["w"]), (v["k"], v["kw"]), (v["s"], v["sw"]), (v["p"], v["pw"]),
                                      (v["d"], v["dw"]), (v["op_pad"], v["op_pad"]), v["cin"], v["cout"])
        return shape, None, (v["p"], v["pw"])
    pad_h, why_h = ar.resolve_padding(v["pm"], v["k"], v["s"], v["d"], v["p"])
    pad_w, why_w = ar.resolve_padding(v["pm"], v["kw"], v["sw"], v["dw"], v["pw"])
    shape = ar.conv2d_shape((v["h"], v["w"]), (v["k"], v["kw"]), (v["s"], v["sw"]), (pad_h, pad_w),
                            (v["d"], v["dw"]), v["cin"], v["cout"])
    torch_pad = v["pm"] if v["pm"] in ("valid", "same") else (pad_h[0], pad_w[0])
    return shape, why_h or why_w, torch_pad


def show_summary(shape: ar.Shape2D, v: dict) -> None:
    kernel = (v["k"], v["kw"])
    cost = ar.conv_cost(shape, kernel, bias=True, transposed=v["op"] == "transposed")
    oh, ow = shape.out_hw
    c = st.columns(4)
    c[0].metric("Output shape", f"(1, {v['cout']}, {oh}, {ow})", help="(N, C, H, W): batch, channels, height, width")
    c[1].metric("Parameters", f"{cost.params:,}", help=f"{v['cout']}×{v['cin']}×{kernel[0]}×{kernel[1]} weights + {v['cout']} biases")
    c[2].metric("Multiply-adds", f"{cost.macs:,}", help="For one image: every output value needs Cin×kh×kw of them.")
    c[3].metric("Output values", f"{cost.output_values:,}")


def picture(shape: ar.Shape2D, transposed: bool) -> None:
    """The sliding window: step slider (or click a cell) picks the kernel position."""
    if transposed:
        total = shape.height.n * shape.width.n
        grid_w = shape.width.n
    else:
        oh, ow = shape.out_hw
        total, grid_w = oh * ow, ow
    _apply_click(grid_w)
    state.clamp(PAGE, "step", 0, total - 1)
    if st.session_state.get(key("play")) and total > 1:
        st.session_state[key("step")] = (st.session_state[key("step")] + 1) % total
    step = st.slider("Kernel position" if not transposed else "Input cell", 0, max(total - 1, 1), key=key("step"),
                     disabled=total == 1)
    step = min(step, total - 1)
    state.set_param(PAGE, STEP, step)
    r, c = divmod(step, grid_w)
    left, right = st.columns([1.25, 1])
    if transposed:
        left.plotly_chart(transposed_input_figure(shape, r, c), key=key("click"), on_select="rerun",
                          selection_mode="points", config={"displayModeBar": False})
        right.plotly_chart(transposed_output_figure(shape, r, c), config={"displayModeBar": False})
        st.caption(f"Input cell ({r}, {c}) is multiplied by the whole kernel and added into the blue output cells; "
                   "overlapping footprints add up. Cropping by padding removes the outer rows and columns.")
        return
    left.plotly_chart(conv_input_figure(shape, r, c), config={"displayModeBar": False})
    right.plotly_chart(output_figure(shape, step, f"Output {shape.out_hw[0]}×{shape.out_hw[1]}"), key=key("click"),
                       on_select="rerun", selection_mode="points", config={"displayModeBar": False})
    st.markdown(legend_html(LEGEND_INPUT, INPUT_COLORS), unsafe_allow_html=True)
    window = ar.conv_window(shape, r, c)
    st.caption(f"Output cell ({r}, {c}) reads padded-input rows {list(window.rows)} and columns {list(window.cols)}"
               " (click any output cell to jump there).")


def _apply_click(grid_w: int) -> None:
    """Turn a click on a grid cell (a plotly point selection) into the step, once per click."""
    sel = st.session_state.get(key("click"))
    points = (sel or {}).get("selection", {}).get("points", []) if isinstance(sel, dict) else \
        (getattr(getattr(sel, "selection", None), "points", None) or [])
    if not points:
        return
    point = points[0]
    marker = (point.get("x"), point.get("y"))
    if marker != st.session_state.get(key("last_click")) and None not in marker:
        st.session_state[key("last_click")] = marker
        st.session_state[key("step")] = int(marker[1]) * grid_w + int(marker[0])


def show_formula(shape: ar.Shape2D, v: dict) -> None:
    axes = [shape.height] if not v["rect"] else [shape.height, shape.width]
    cols = st.columns(len(axes))
    for col, ax in zip(cols, axes):
        with col:
            if v["rect"]:
                st.markdown(f"**{ax.axis.capitalize()}**")
            steps = (ar.transposed_formula_steps(ax, v["op_pad"]) if v["op"] == "transposed"
                     else ar.conv_formula_steps(ax))
            for s in steps:
                if s.latex:
                    st.latex(s.latex)
                if s.note:
                    st.caption(s.note)
    if not v["rect"]:
        st.caption("Height and width use the same numbers here; switch on *Separate height and width* to vary them.")


def torch_section(v: dict, shape: ar.Shape2D, torch_pad) -> None:
    code = ar.torch_layer_code(v["op"] == "transposed", v["cin"], v["cout"], (v["k"], v["kw"]), (v["s"], v["sw"]),
                               torch_pad, (v["d"], v["dw"]), (v["op_pad"], v["op_pad"]))
    st.code(f"{code}  # input (1, {v['cin']}, {v['h']}, {v['w']}) -> {ar.shape_text(shape)}", language="python")
    if not st.toggle("Run it in real PyTorch", key=key("torch"), help="Loads PyTorch the first time (about a second)."):
        return
    from core.torch_check import torch_output_shape

    check = torch_output_shape(v["op"] == "transposed", (v["h"], v["w"]), v["cin"], v["cout"], (v["k"], v["kw"]),
                               (v["s"], v["sw"]), torch_pad, (v["d"], v["dw"]), (v["op_pad"], v["op_pad"]))
    formula = (1, v["cout"], *shape.out_hw) if shape.ok else None
    if check.error:
        verdict = "✅ and the formula agrees it is impossible." if formula is None else "❌ but the formula says it works!"
        st.markdown(f"PyTorch refuses: `{check.error}` {verdict}")
    else:
        same = tuple(check.shape) == formula
        st.markdown(f"PyTorch output shape: **{check.shape}** — " +
                    ("✅ equals the formula." if same else f"❌ differs from the formula {formula}!"))
    if check.reduced_channels:
        st.caption("Ran with 1 input and 1 output channel to stay instant: channels never change height or width.")


def receptive_field_section(v: dict) -> None:
    depth = st.slider("Stack this layer how many times?", 1, 6, key=key("depth"))
    layers = [ar.RFLayer(f"layer {i + 1}", v["k"], v["s"], v["p"] if v["pm"] == "explicit" else
                         ar.resolve_padding(v["pm"], v["k"], v["s"], v["d"], v["p"])[0][0], v["d"]) for i in range(depth)]
    rows, size = [], v["h"]
    for layer, rf in zip(layers, ar.receptive_field(layers)):
        ax = ar.conv_axis(size, layer.k, layer.s, layer.p, layer.d)
        rows.append({"layer": layer.name, "output size": f"{ax.out}×{ax.out}" if ax.ok else "impossible",
                     "receptive field": f"{rf.rf}×{rf.rf}", "jump (input px between neighbours)": rf.jump})
        if not ax.ok:
            break
        size = ax.out
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("Receptive field: how many input pixels (per side) one output unit depends on. It grows by "
               "(k−1)·jump each layer, and stride multiplies the jump — which is why deep nets see whole objects.")


def puzzle() -> None:
    st.markdown("Choose kernel, stride and padding that take a **28×28** MNIST image to **14×14**.")
    c = st.columns(3)
    k = c[0].number_input("kernel", 1, 7, 3, key=key("pz_k"))
    s = c[1].number_input("stride", 1, 4, 1, key=key("pz_s"))
    p = c[2].number_input("padding", 0, 3, 0, key=key("pz_p"))
    if st.button("Check my layer", key=key("pz_go")):
        ok, message = ar.check_downsample_puzzle(28, 14, int(k), int(s), int(p))
        (st.success if ok else st.error)(message)
        if ok:
            others = [f"k={a}, s={b}, p={c_}" for a, b, c_ in ar.puzzle_solutions(28, 14) if (a, b, c_) != (k, s, p)]
            st.caption("Other answers with k ≤ 7: " + "; ".join(others))


def quiz_gate(shape: ar.Shape2D, v: dict) -> bool:
    """In predict-first mode: True once the student has answered (or revealed) for these settings."""
    settings = tuple(v[k] for k in ("op", "h", "w", "k", "kw", "s", "sw", "pm", "p", "pw", "d", "dw", "op_pad"))
    if st.session_state.get(key("revealed")) == settings:
        return True
    with st.form(key("quiz_form")):
        st.markdown("**Your prediction:** what size is the output? (0 if the layer is impossible)")
        c = st.columns(2)
        gh = c[0].number_input("Output height", 0, 999, 0, key=key("guess_h"))
        gw = c[1].number_input("Output width", 0, 999, 0, key=key("guess_w"))
        a, b = st.columns(2)
        check, reveal = a.form_submit_button("Check my answer"), b.form_submit_button("Just show me")
    truth = shape.out_hw or (0, 0)
    if check and (gh, gw) == truth:
        st.session_state[key("revealed")] = settings
        st.success(f"Correct: {truth[0]}×{truth[1]}.")
        return True
    if check:
        st.error(f"Not quite — {gh}×{gw} is not it. Try again, or press “Just show me”.")
    if reveal:
        st.session_state[key("revealed")] = settings
        return True
    return False


state.start(PAGE, SCHEMA)
head, share_col = st.columns([5, 1])
head.title("📐 Convolution arithmetic")
head.markdown("Drag the sliders: the kernel slides over the (padded) input, and the output size follows one "
              "formula. Everything here is computed by the same code that builds ConvLab's networks.")
left, right = st.columns([1, 2.3], gap="large")
with left, st.container(border=True):
    values = controls()
shape, padding_reason, torch_pad = compute(values)
with right:
    if padding_reason or not shape.ok:
        st.error(f"**This layer is impossible.** {padding_reason or shape.reason}", icon="🚫")
        revealed = False
    else:
        revealed = not values["quiz"] or quiz_gate(shape, values)
        if revealed:
            show_summary(shape, values)
        st.toggle("▶ Play (move the kernel automatically)", key=key("play"))
        if revealed:
            interval = 0.8 if st.session_state.get(key("play")) else None
            st.fragment(run_every=interval)(picture)(shape, values["op"] == "transposed")
        else:
            st.info("The picture and the answer appear once you have made your prediction.")

if revealed or padding_reason or not shape.ok:
    st.subheader("The formula, with your numbers")
    show_formula(shape, values)
st.subheader("Check it in PyTorch")
torch_section(values, shape, torch_pad)
if values["op"] == "conv" and shape.ok and not padding_reason:
    st.subheader("Stack it: receptive field")
    receptive_field_section(values)
with st.expander("🧩 Puzzle: halve an MNIST image"):
    puzzle()

values["step"] = st.session_state[key("step")]
values["depth"] = st.session_state[key("depth")]
values["torch"] = st.session_state[key("torch")]
with share_col:
    state.share_box(state.finish(PAGE, SCHEMA, values))
