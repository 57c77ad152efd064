"""Convolution arithmetic: how kernel, stride, padding and dilation decide the output size."""

import dataclasses

import pandas as pd
import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

from core import arithmetic as ar  # noqa: E402
from core import train  # noqa: E402  (availability only: this page never imports torch itself)
from core.lessons import conv_layer, conv_picture  # noqa: E402
from core.lessons.picture import Picture, PictureTooLarge  # noqa: E402
from ui import state  # noqa: E402
from ui.arithmetic_views import (  # noqa: E402
    CHANNEL_NAMES, MORE, OPS, PADDING_LABELS, WIDTH_OF, ArithmeticSettings, channel_latex, colour_example,
    summary_markdown, total_latex,
)
from ui.formula import formula_markdown  # noqa: E402
from ui.lesson_picture import lesson_picture, picked  # noqa: E402
from ui.page_style import lesson_css  # noqa: E402

Cfg = ArithmeticSettings
PICTURE = "arithmetic.picture"
MATRIX = "arithmetic.matrix"
SCATTER = "arithmetic.scatter"
COLOUR = "arithmetic.colour"
SCATTER_CELL = "arithmetic.scatter_cell"  # UI state: the input cell the scatter picture shows (not in the link)
REVEALED = "arithmetic.revealed"  # the layer (spec, input size) the student has answered for
INTRO = "Slide a setting and the output size follows one formula; move over an output cell to see its sum."
# Less empty space above the title, so the picture and the formula fit the first screen at 1280×900.
COMPACT_CSS = "<style>[data-testid='stMainBlockContainer'] { padding-top: 2.5rem; }</style>"


def axis_controls(keys: state.Keys, label: str, name: str, lo: int, hi: int, rect: bool, help: str = "") -> None:
    """One slider when square, two (height, width) when rectangular; none when a classroom link hides it."""
    if not keys.offered(name):
        return
    st.slider(f"{label} (height)" if rect else label, lo, hi, key=keys.key(name), help=help)
    if rect:
        st.slider(f"{label} (width)", lo, hi, key=keys.key(WIDTH_OF[name]))


def controls(keys: state.Keys) -> None:
    """The settings a student slides most, beside the picture (inside the lesson's fragment)."""
    now = state.current(Cfg)  # this run's values (widgets already hold the browser's latest)
    axis_controls(keys, "Input size", "h", 1, 64, now.rect)
    axis_controls(keys, "Kernel size", "k", 1, 11, now.rect)
    axis_controls(keys, "Stride", "s", 1, 6, now.rect, "How many cells the kernel jumps each step.")
    if not now.transposed:
        st.radio("Padding", list(PADDING_LABELS), key=keys.pm, horizontal=True, format_func=PADDING_LABELS.get)
    if now.transposed or now.pm == "explicit":
        axis_controls(keys, "Padding amount", "p", 0, 8, now.rect, "Zeros added on every side.")


def advanced_controls(keys: state.Keys) -> None:
    """Settings changed rarely: outside the fragment (a change reruns the page), so a slider step above
    does not send them again."""
    now = state.current(Cfg)
    advanced = [name for name in ("rect", "d", "cin", "cout", "op_pad") if keys.offered(name)]
    if not advanced:
        return
    with st.expander("Advanced settings"):
        if keys.offered("rect"):
            st.toggle("Separate height and width", key=keys.rect)
        axis_controls(keys, "Dilation", "d", 1, 5, now.rect, "Gaps between kernel taps (atrous conv).")
        c1, c2 = st.columns(2)
        if keys.offered("cin"):
            c1.number_input("Input channels", 1, 64, key=keys.cin)
        if keys.offered("cout"):
            c2.number_input("Output channels", 1, 64, key=keys.cout)
        if now.transposed and keys.offered("op_pad"):
            st.slider("Output padding", 0, 5, key=keys.op_pad,
                      help="Extra cells on one side of the output; must be < stride.")


@st.cache_data(show_spinner=False, max_entries=64)
def build_picture(spec: conv_layer.Conv2dSpec, in_hw: tuple[int, int], kind: str) -> Picture:
    """The picture of a layer (selected step 0); ``kind`` "main" or "matrix"."""
    shape = spec.shape(in_hw)
    x, kernel = conv_picture.example_layer(shape)
    if kind == "matrix":
        return conv_picture.matrix_picture(shape, x, kernel, 0)
    if spec.transposed:
        return conv_picture.transposed_picture(shape, x, kernel, spec.output_padding, 0)
    return conv_picture.conv_picture(shape, x, kernel, 0)


def selected_step(key: str, cells: int) -> int:
    """The output cell shown: a new pick from the picture, else the link's step (kept inside the output)."""
    cell = picked(key, cells)
    step = min(state.current(Cfg).step, cells - 1) if cell is None else cell
    if step != state.current(Cfg).step:
        state.put(Cfg, step=step)
    return step


def picture(cfg: Cfg, shape: ar.Shape2D) -> None:
    """The lesson picture, and in words what the selected output cell reads."""
    oh, ow = shape.out_hw  # type: ignore[misc]
    step = selected_step(PICTURE, oh * ow)
    try:
        pic = build_picture(cfg.spec(), cfg.in_hw, "main")
    except PictureTooLarge as exc:
        st.info(str(exc), icon="🔍")
        return
    lesson_picture(PICTURE, dataclasses.replace(pic, selected=step))
    r, c = divmod(step, ow)
    if cfg.transposed:
        st.caption(f"Output cell ({r}, {c}): a transposed convolution is an ordinary convolution (stride 1, "
                   "kernel flipped) over the input with stride − 1 zeros inserted between its values and "
                   "d·(k−1) − p zeros around it. Rows and columns count from 0, as in PyTorch.")
        return
    window = ar.conv_window(shape, r, c)
    st.caption(f"Output cell ({r}, {c}) reads padded-input rows {list(window.rows)} and columns "
               f"{list(window.cols)} (example numbers; rows and columns count from 0, as in PyTorch).")


def formula(cfg: Cfg, shape: ar.Shape2D) -> None:
    axes = [shape.height] if not cfg.rect else [shape.height, shape.width]
    op_pad = cfg.op_pad if cfg.transposed else None
    texts = [formula_markdown(ax, op_pad, title=ax.axis.capitalize() if cfg.rect else "") for ax in axes]
    same = "" if cfg.rect else "\n\n<small>Height and width use the same numbers here.</small>"
    st.markdown("\n\n".join(texts) + same, unsafe_allow_html=True)


@st.cache_data(show_spinner=False, max_entries=32)
def build_colour_picture(spec: conv_layer.Conv2dSpec, in_hw: tuple[int, int]) -> Picture:
    shape = spec.shape(in_hw)
    x, kernel, bias = colour_example(shape)
    return conv_picture.channels_picture(shape, x, kernel, bias, CHANNEL_NAMES, 0)


def colour_channels(cfg: Cfg, shape: ar.Shape2D) -> None:
    """A 3-channel (R, G, B) input and a 3-channel kernel: each channel's window × its kernel slice, the three
    sums added, plus the bias (example numbers; the layer's size, stride, padding and dilation)."""
    if cfg.transposed:
        st.caption("The colour example is for an ordinary convolution.")
        return
    oh, ow = shape.out_hw  # type: ignore[misc]
    step = selected_step(COLOUR, oh * ow)
    r, c = divmod(step, ow)
    x, kernel, bias = colour_example(shape)
    sums = conv_layer.channel_sums(x, kernel, bias, shape, r, c)
    lines = [f"$$\n{channel_latex(name, window, k.tolist(), total)}\n$$"
             for name, window, k, total in zip(CHANNEL_NAMES, sums.windows, kernel, sums.sums)]
    st.markdown(f"A colour image has three channels, so each kernel has three slices, one per channel. Output cell "
                f"({r}, {c}) is every channel's window times its slice, added up over the three channels, plus one "
                "bias (made-up numbers; the window is the selected cell's).\n\n" + "\n\n".join(lines)
                + f"\n\n$$\n{total_latex(sums.sums, sums.bias, sums.total)}\n$$")
    try:
        pic = build_colour_picture(cfg.spec(), cfg.in_hw)
    except PictureTooLarge as exc:
        st.caption(str(exc))
        return
    lesson_picture(COLOUR, dataclasses.replace(pic, selected=step))


def matrix_section(cfg: Cfg, shape: ar.Shape2D) -> None:
    h, w = cfg.in_hw
    if max(h, w) > conv_picture.MATRIX_MAX_SIDE:
        st.caption(f"The matrix view is for inputs up to {conv_picture.MATRIX_MAX_SIDE}×"
                   f"{conv_picture.MATRIX_MAX_SIDE} (C would have {h * w:,} columns here).")
        return
    if cfg.transposed:
        transposed_matrix_section(cfg)
        return
    oh, ow = shape.out_hw  # type: ignore[misc]
    step = selected_step(MATRIX, oh * ow)
    pic = build_picture(cfg.spec(), cfg.in_hw, "matrix")
    st.markdown("**y = C·x**: the input flattened row by row is x; C has one row per output cell and one column "
                "per input cell, holding the kernel's values where the window covers the input (padding reads "
                "zeros, so it drops out). The transposed convolution multiplies by **Cᵀ**.")
    lesson_picture(MATRIX, dataclasses.replace(pic, selected=step))


def transposed_matrix_section(cfg: Cfg) -> None:
    """Cᵀ column by column: each input value times the whole kernel, scattered into the output."""
    st.markdown("A convolution is a multiplication by a matrix, **y = C·x**: one row of C per output cell, one "
                "column per input cell. This transposed convolution multiplies by **Cᵀ**, where C is the ordinary "
                "convolution with the same kernel, stride, padding and dilation: column (i, j) of Cᵀ puts input "
                "value (i, j) times the whole kernel into the output, s cells apart. Move over an input cell:")
    shape = cfg.spec().shape(cfg.in_hw)
    x, kernel = conv_picture.example_layer(shape)
    cell = picked(SCATTER, shape.height.n * shape.width.n)
    if cell is not None:
        st.session_state[SCATTER_CELL] = cell
    selected = min(st.session_state.get(SCATTER_CELL, 0), shape.height.n * shape.width.n - 1)
    lesson_picture(SCATTER, conv_picture.scatter_picture(shape, x, kernel, cfg.op_pad, selected))


def torch_section(cfg: Cfg, shape: ar.Shape2D, keys: state.Keys, revealed: bool) -> None:
    spec = cfg.spec()
    h, w = cfg.in_hw
    answer = conv_layer.shape_text(shape) if revealed else "?  (make your prediction first)"
    st.code(f"{spec.torch_code()}  # input (1, {cfg.cin}, {h}, {w}) -> {answer}", language="python")
    if not st.toggle("Run it in real PyTorch", key=keys.torch, help="Loads PyTorch the first time (about a second)."):
        return
    if not revealed:
        st.caption("PyTorch runs the layer once you have made your prediction.")
        return
    if not train.available():
        st.info("The cross-check runs the layer in real PyTorch, which this installation does not have: it "
                "needs the full install (requirements.txt). The formula above is the one PyTorch uses.", icon="ℹ️")
        return
    from core.train.torch_check import check_layer

    check = check_layer(spec, cfg.in_hw)
    formula_shape = (1, cfg.cout, *shape.out_hw) if shape.ok else None
    if check.error:
        verdict = ("✅ and the formula agrees it is impossible." if formula_shape is None
                   else "❌ but the formula says it works!")
        st.markdown(f"PyTorch refuses: `{check.error}` {verdict}")
    else:
        same = tuple(check.shape) == formula_shape
        st.markdown(f"PyTorch output shape: **{check.shape}** — " +
                    ("✅ equals the formula." if same else f"❌ differs from the formula {formula_shape}!"))
    if check.reduced_channels:
        st.caption("Ran with 1 input and 1 output channel to stay instant: channels never change height or width.")


def receptive_field_section(cfg: Cfg, keys: state.Keys, revealed: bool) -> None:
    if cfg.transposed:
        st.caption("The receptive field is for ordinary convolutions.")
        return
    depth = st.slider("Stack this layer how many times?", 1, 6, key=keys.depth,
                      help="Receptive field: how many input pixels (per side) one output unit depends on. It grows "
                           "by (k−1)·jump each layer, and stride multiplies the jump.")
    layers = [cfg.spec().rf_layer(f"layer {i + 1}") for i in range(depth)]
    rows, size = [], cfg.h
    for layer, rf in zip(layers, ar.receptive_field(layers)):
        ax = ar.conv_axis(size, layer.k, layer.s, layer.p, layer.d)
        row = {"layer": layer.name}
        if revealed:  # the first row's output size is the quiz's answer
            row["output size"] = f"{ax.out}×{ax.out}" if ax.ok else "impossible"
        row |= {"receptive field": f"{rf.rf}×{rf.rf}", "jump (input px between neighbours)": rf.jump}
        rows.append(row)
        if not ax.ok:
            break
        size = ax.out
    st.table(pd.DataFrame(rows).set_index("layer"))


def puzzle() -> None:
    st.markdown("Choose kernel, stride and padding that take a **28×28** MNIST image to **14×14**.")
    c = st.columns(3)
    k = c[0].number_input("kernel", 1, 7, 3, key="arithmetic.pz_k")
    s = c[1].number_input("stride", 1, 4, 1, key="arithmetic.pz_s")
    p = c[2].number_input("padding", 0, 3, 0, key="arithmetic.pz_p")
    if st.button("Check my layer", key="arithmetic.pz_go"):
        ok, message = conv_layer.check_downsample_puzzle(28, 14, int(k), int(s), int(p))
        (st.success if ok else st.error)(message)
        if ok:
            others = [f"k={a}, s={b}, p={c_}" for a, b, c_ in conv_layer.puzzle_solutions(28, 14) if (a, b, c_) != (k, s, p)]
            st.caption("Other answers with k ≤ 7: " + "; ".join(others))


def quiz_gate(cfg: Cfg, shape: ar.Shape2D) -> bool:
    """In predict-first mode: True once the student has answered (or revealed) for this layer."""
    layer = (cfg.spec(), cfg.in_hw)
    if st.session_state.get(REVEALED) == layer:
        return True
    with st.form("arithmetic.quiz_form"):
        st.markdown("**Your prediction:** what size is the output? (0 if the layer is impossible) The picture "
                    "and the answer appear once you have made it.")
        c = st.columns(2)
        gh = c[0].number_input("Output height", 0, 999, 0, key="arithmetic.guess_h")
        gw = c[1].number_input("Output width", 0, 999, 0, key="arithmetic.guess_w")
        a, b = st.columns(2)
        check, reveal = a.form_submit_button("Check my answer"), b.form_submit_button("Just show me")
    truth = shape.out_hw if shape.ok else (0, 0)
    if check and (gh, gw) == truth:
        st.session_state[REVEALED] = layer
        st.success(f"Correct: {truth[0]}×{truth[1]}.")
        return True
    if check:
        st.error(f"Not quite — {gh}×{gw} is not it. Try again, or press “Just show me”.")
    if reveal:
        st.session_state[REVEALED] = layer
        return True
    return False


def square_up() -> Cfg:
    """Without separate height/width the link's width values follow the height values. Set before the
    fragment writes the link, so it and the page's end write the same link (two different links in one
    run would be two history entries, and Back would stop at the first)."""
    now = state.current(Cfg)
    end = now.squared()
    state.put(Cfg, **{name: getattr(end, name) for name in WIDTH_OF.values() if getattr(end, name) != getattr(now, name)})
    return end


def more_section(cfg: Cfg, shape: ar.Shape2D, keys: state.Keys, revealed: bool) -> None:
    """One section at a time under the picture: each would otherwise be sent again on every slider step."""
    choice = st.radio("More about this layer", list(MORE), key=keys.more, horizontal=True, format_func=MORE.get)
    if choice == "torch":
        torch_section(cfg, shape, keys, revealed)
    elif not revealed:
        if choice == "rf":
            receptive_field_section(cfg, keys, revealed)
        else:
            st.caption("Shown once you have made your prediction.")
    elif not shape.ok:
        st.caption("This layer is impossible, so there is nothing more to show.")
    elif choice == "colour":
        colour_channels(cfg, shape)
    elif choice == "matrix":
        matrix_section(cfg, shape)
    else:
        receptive_field_section(cfg, keys, revealed)


@st.fragment
def layer_view(keys: state.Keys) -> None:
    """Everything a main setting changes: a slider step reruns only this (not the header, the advanced
    settings or the puzzle), and sends one element per control, the picture, its caption, the numbers,
    the formula and one section."""
    pic_col, ctl_col = st.columns([2.1, 1], gap="medium")
    with ctl_col:
        controls(keys)
    cfg = square_up()
    shape = cfg.spec().shape(cfg.in_hw)
    with pic_col:
        revealed = not cfg.quiz or quiz_gate(cfg, shape)
        if revealed and not shape.ok:
            st.error(f"**This layer is impossible.** {shape.reason}", icon="🚫")
        elif revealed:
            picture(cfg, shape)
    with ctl_col:
        if revealed and shape.ok:
            st.markdown(summary_markdown(cfg, shape))
        if revealed:
            formula(cfg, shape)
    more_section(state.current(Cfg), shape, keys, revealed)
    state.sync(Cfg)  # a fragment run writes the link here; a full run also at the page's end (same link)


def old_torch_link() -> None:
    """A link from before the sections were one at a time: ``torch=1`` without ``more`` opens the PyTorch check."""
    params = st.query_params.to_dict()
    if params.get("torch") == "1" and "more" not in params:
        state.put(Cfg, more="torch")


def main() -> None:
    keys = state.bind(Cfg)
    old_torch_link()
    state.header(Cfg, "📐 Convolution arithmetic", INTRO)
    lesson_css()
    st.html(COMPACT_CSS)
    # Above the lesson, outside its fragment: changed rarely (each reruns the page), and a toggle here
    # never moves when the picture below it appears or goes.
    op_col, quiz_col, adv_col = st.columns([1.2, 1, 1], gap="small", vertical_alignment="center")
    op_col.radio("Layer", list(OPS), key=keys.op, horizontal=True, format_func=OPS.get, label_visibility="collapsed")
    quiz_col.toggle("Predict before you see", key=keys.quiz,
                    help="Hide the answer until you have typed your own prediction.")
    with adv_col:
        advanced_controls(keys)
    layer_view(keys)
    with st.expander("🧩 Puzzle: halve an MNIST image"):
        puzzle()
    state.finish(state.current(Cfg))  # the fragment may have moved the step during this run


main()
