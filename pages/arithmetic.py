"""Convolution arithmetic: how kernel, stride, padding and dilation decide the output size."""

import pandas as pd
import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

from core import arithmetic as ar  # noqa: E402
from core.lessons import conv_layer  # noqa: E402
from ui import fastfig, state  # noqa: E402
from ui.arithmetic_views import (  # noqa: E402
    CHANNEL_NAMES, INPUT_COLORS, LEGEND_INPUT, OPS, PADDING_LABELS, WIDTH_OF, ArithmeticSettings, channel_latex,
    colour_example, conv_input_figure, legend_html, output_figure, total_latex, transposed_input_figure,
    transposed_output_figure,
)
from ui.formula import formula_block  # noqa: E402
from ui.plot_click import clicked_cell  # noqa: E402
from ui.page_style import lesson_css  # noqa: E402

Cfg = ArithmeticSettings
PLAY = "arithmetic.play"  # UI state, not a setting: playing is never shared
CLICK = "arithmetic.click"  # the output grid's point selection
LAST_CLICK = "arithmetic.last_click"
FULL_RUN = "arithmetic._full_run"  # Play was switched: the next fragment run asks for a full run
REVEALED = "arithmetic.revealed"  # the layer (spec, input size) the student has answered for
TICK_S = 0.8
INTRO = ("Drag the sliders: the kernel slides over the (padded) input, and the output size follows one "
         "formula. Everything here is computed by the same code that builds ConvLab's networks.")


def axis_controls(keys: state.Keys, label: str, name: str, lo: int, hi: int, rect: bool, help: str = "") -> None:
    """One slider when square, two (height, width) when rectangular; none when a classroom link hides it."""
    if not keys.offered(name):
        return
    if not rect:
        st.slider(label, lo, hi, key=keys.key(name), help=help)
        return
    a, b = st.columns(2)
    a.slider(f"{label} (height)", lo, hi, key=keys.key(name), help=help)
    b.slider(f"{label} (width)", lo, hi, key=keys.key(WIDTH_OF[name]))


def controls(keys: state.Keys) -> None:
    now = state.current(Cfg)  # this run's values (widgets already hold the browser's latest)
    st.radio("Layer", list(OPS), key=keys.op, horizontal=True, format_func=OPS.get)
    axis_controls(keys, "Input size", "h", 1, 64, now.rect)
    axis_controls(keys, "Kernel size", "k", 1, 11, now.rect)
    axis_controls(keys, "Stride", "s", 1, 6, now.rect, "How many cells the kernel jumps each step.")
    if not now.transposed:
        st.radio("Padding", list(PADDING_LABELS), key=keys.pm, horizontal=True, format_func=PADDING_LABELS.get)
    if now.transposed or now.pm == "explicit":
        axis_controls(keys, "Padding amount", "p", 0, 8, now.rect, "Zeros added on every side.")
    advanced = [name for name in ("rect", "d", "cin", "cout", "op_pad") if keys.offered(name)]
    if advanced:
        with st.expander("Advanced: dilation, channels, rectangular"):
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
    st.toggle("Predict before you see", key=keys.quiz,
              help="Hide the answer until you have typed your own prediction.")


def show_summary(cfg: Cfg, shape: ar.Shape2D) -> None:
    spec = cfg.spec()
    cost = spec.cost(shape)
    oh, ow = shape.out_hw
    kh, kw = spec.kernel
    # Two by two: at 1280 px four metrics in a row cut the shape off ("(1, 1, …").
    top, bottom = st.columns(2), st.columns(2)
    top[0].metric("Output shape", conv_layer.shape_text(shape), help="(N, C, H, W): batch, channels, height, width")
    top[1].metric("Output values", f"{cost.output_values:,}")
    bottom[0].metric("Parameters", f"{cost.params:,}", help=f"{cfg.cout}×{cfg.cin}×{kh}×{kw} weights + {cfg.cout} biases")
    bottom[1].metric("Multiply-adds", f"{cost.macs:,}",
                     help="For one image: every output value needs Cin×kh×kw of them.")


def picture(shape: ar.Shape2D, transposed: bool, keys: state.Keys) -> None:
    """The sliding window: the step slider (or a click on a cell) picks the kernel position.

    Runs as an ``st.fragment``: a step or a click reruns only this, and ``state.sync`` keeps the link current.
    """
    if transposed:
        total, grid_w = shape.height.n * shape.width.n, shape.width.n
    else:
        (oh, ow) = shape.out_hw
        total, grid_w = oh * ow, ow
    step = min(_clicked_step(grid_w, state.current(Cfg).step), total - 1)
    if st.session_state.get(PLAY) and total > 1:
        step = (step + 1) % total
    if step != state.current(Cfg).step:
        state.put(Cfg, step=step)
    st.slider("Kernel position" if not transposed else "Input cell", 0, max(total - 1, 1),
              key=keys.step, disabled=total == 1)
    state.sync(Cfg)
    r, c = divmod(step, grid_w)
    left, right = st.columns([1.25, 1])
    no_bar = {"displayModeBar": False}
    if transposed:
        left.plotly_chart(transposed_input_figure(shape, r, c), key=CLICK, on_select="rerun",
                          selection_mode="points", config=no_bar)
        with right:
            fastfig.show(transposed_output_figure(shape, r, c), "arithmetic.output_fig")
        st.caption(f"Input cell ({r}, {c}) is multiplied by the whole kernel and added into the blue output cells; "
                   "overlapping footprints add up. Cropping by padding removes the outer rows and columns. "
                   "Rows and columns count from 0, as in PyTorch.")
        return
    with left:
        fastfig.show(conv_input_figure(shape, r, c), "arithmetic.input_fig")
    right.plotly_chart(output_figure(shape, step, f"Output {oh}×{ow}"), key=CLICK, on_select="rerun",
                       selection_mode="points", config=no_bar)
    st.markdown(legend_html(LEGEND_INPUT, INPUT_COLORS), unsafe_allow_html=True)
    window = ar.conv_window(shape, r, c)
    st.caption(f"Output cell ({r}, {c}) reads padded-input rows {list(window.rows)} and columns {list(window.cols)}"
               " (click any output cell to jump there; rows and columns count from 0, as in PyTorch).")
    with st.expander("🎨 A colour input: three channels, one output value"):
        colour_channels(shape, r, c)


def colour_channels(shape: ar.Shape2D, r: int, c: int) -> None:
    """A 3-channel (R, G, B) input and a 3-channel kernel: each channel's window × its kernel slice, the three
    sums added, plus the bias (example numbers; the layer's size, stride, padding and dilation)."""
    x, kernel, bias = colour_example(shape)
    sums = conv_layer.channel_sums(x, kernel, bias, shape, r, c)
    st.caption("A colour image has three channels, so each kernel has three slices, one per channel. Output cell "
               f"({r}, {c}) is every channel's window times its slice, added up over the three channels, plus one "
               "bias. Made-up numbers; the window follows the picture above.")
    for name, window, k, total in zip(CHANNEL_NAMES, sums.windows, kernel, sums.sums):
        st.latex(channel_latex(name, window, k.tolist(), total))
    st.latex(total_latex(sums.sums, sums.bias, sums.total))


def _clicked_step(grid_w: int, step: int) -> int:
    """The step a new click on a grid cell (a plotly point selection) asks for, else ``step``."""
    cell = clicked_cell(st.session_state.get(CLICK))
    if cell is None or cell == st.session_state.get(LAST_CLICK):
        return step
    st.session_state[LAST_CLICK] = cell
    return cell[0] * grid_w + cell[1]


def show_formula(cfg: Cfg, shape: ar.Shape2D) -> None:
    axes = [shape.height] if not cfg.rect else [shape.height, shape.width]
    for col, ax in zip(st.columns(len(axes)), axes):
        with col:
            formula_block(ax, cfg.op_pad if cfg.transposed else None, title=ax.axis.capitalize() if cfg.rect else "")
    if not cfg.rect:
        st.caption("Height and width use the same numbers here; switch on *Separate height and width* to vary them.")


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
    from core.train.torch_check import check_layer

    check = check_layer(spec, cfg.in_hw)
    formula = (1, cfg.cout, *shape.out_hw) if shape.ok else None
    if check.error:
        verdict = "✅ and the formula agrees it is impossible." if formula is None else "❌ but the formula says it works!"
        st.markdown(f"PyTorch refuses: `{check.error}` {verdict}")
    else:
        same = tuple(check.shape) == formula
        st.markdown(f"PyTorch output shape: **{check.shape}** — " +
                    ("✅ equals the formula." if same else f"❌ differs from the formula {formula}!"))
    if check.reduced_channels:
        st.caption("Ran with 1 input and 1 output channel to stay instant: channels never change height or width.")


def receptive_field_section(cfg: Cfg, keys: state.Keys, revealed: bool) -> None:
    depth = st.slider("Stack this layer how many times?", 1, 6, key=keys.depth)
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
    # a plain table: six rows need no sorting or scrolling, and a data grid cost the browser more to draw
    # on every slider step than the rest of this section (answer-time breakdown in docs/benchmarks.md)
    st.table(pd.DataFrame(rows).set_index("layer"))
    st.caption("Receptive field: how many input pixels (per side) one output unit depends on. It grows by "
               "(k−1)·jump each layer, and stride multiplies the jump — which is why deep nets see whole objects.")


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
        st.markdown("**Your prediction:** what size is the output? (0 if the layer is impossible)")
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


def lesson(cfg: Cfg, shape: ar.Shape2D, keys: state.Keys) -> bool:
    """The right-hand column: the quiz, the numbers and the sliding window. True once revealed."""
    revealed = not cfg.quiz or quiz_gate(cfg, shape)
    if not revealed:
        st.info("The picture and the answer appear once you have made your prediction.")
        return False
    if not shape.ok:
        st.error(f"**This layer is impossible.** {shape.reason}", icon="🚫")
        return True
    show_summary(cfg, shape)
    playing = st.toggle("▶ Play (move the kernel automatically)", key=PLAY, on_change=_play_changed)
    st.fragment(run_every=TICK_S if playing else None)(picture)(shape, cfg.transposed, keys)
    return True


def square_up() -> Cfg:
    """Without separate height/width the link's width values follow the height values. Set before the
    sliding-window fragment writes the link, so it and the page's end write the same link (two different
    links in one run would be two history entries, and Back would stop at the first)."""
    now = state.current(Cfg)
    end = now.squared()
    state.put(Cfg, **{name: getattr(end, name) for name in WIDTH_OF.values() if getattr(end, name) != getattr(now, name)})
    return end


def _play_changed() -> None:
    st.session_state[FULL_RUN] = True


@st.fragment
def layer_view(keys: state.Keys) -> None:
    """Everything a setting changes: a slider step reruns only this, not the header or the puzzle.

    Play's timer is the sliding window's ``run_every``, which the browser (re)arms on a full run of the
    page: starting or stopping Play therefore asks for one (as the pooling page does)."""
    if st.session_state.pop(FULL_RUN, False):
        st.rerun(scope="app")
    left, right = st.columns([1, 2.3], gap="large")
    with left, st.container(border=True):
        controls(keys)
    cfg = square_up()
    shape = cfg.spec().shape(cfg.in_hw)
    with right:
        revealed = lesson(cfg, shape, keys)
    if revealed:
        st.subheader("The formula, with your numbers")
        show_formula(cfg, shape)
    st.subheader("Check it in PyTorch")
    torch_section(cfg, shape, keys, revealed)
    if not cfg.transposed and (shape.ok or not revealed):
        st.subheader("Stack it: receptive field")
        receptive_field_section(cfg, keys, revealed)
    state.sync(Cfg)  # a fragment run writes the link here; a full run also at the page's end (same link)


def main() -> None:
    keys = state.bind(Cfg)
    state.header(Cfg, "📐 Convolution arithmetic", INTRO)
    lesson_css()
    layer_view(keys)
    with st.expander("🧩 Puzzle: halve an MNIST image"):
        puzzle()
    state.finish(state.current(Cfg))  # the fragment may have moved the step during this run


main()
