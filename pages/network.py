"""Inside the network: every layer of a trained CNN for one digit, and any unit's arithmetic (no torch)."""

import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

import random
import time
from functools import partial

import numpy as np

from core import network as nw
from core import share
from core.data import load_test
from core.inference import SHIPPED_DIR, LoadedModel, ModelEntry, ModelRefused, list_models, load_model, run_model
from core.preprocess import Steps, preprocess
from ui import network_views as views
from ui import state
from ui.errors import shipped_data
from ui.export_panel import session_token
from ui.text import literal

PAGE = "network"
CANVAS_PX = 280
SOURCES = {"test": "🔢 A test digit", "draw": "✏️ Draw", "link": "🔗 From the link"}
LABEL_CHOICES = ("pred", *(str(d) for d in range(10)))


@st.cache_resource(show_spinner=False, max_entries=16)
def _model(path: str, size: int, mtime_ns: int) -> LoadedModel:
    return load_model(path)  # size/mtime only key the cache: a changed file is revalidated


@st.cache_resource(show_spinner=False, max_entries=16)
def _params(path: str, size: int, mtime_ns: int, _plan: nw.LayerOutputs) -> dict[str, np.ndarray]:
    """The model's weights as its graph outputs them (read once per file; never mutated)."""
    return nw.read_params(nw.session_runner(_model(path, size, mtime_ns).session), _plan)


def _load(entry: ModelEntry) -> tuple[LoadedModel, tuple[str, int, int]]:
    stat = entry.path.stat()
    key = (str(entry.path), stat.st_size, stat.st_mtime_ns)
    return _model(*key), key


def _schema(shipped: list[str]) -> tuple[share.Param, ...]:
    return (
        share.ChoiceParam("m", shipped[0] if shipped else "", label="model", choices=tuple(shipped)),
        share.ChoiceParam("src", "test", label="input", choices=tuple(SOURCES)),
        share.IntParam("t", 0, lo=0, hi=9999, label="test digit"),
        nw.DigitParam("img", "", label="digit"),
        nw.LayerKeyParam("L", "", label="layer"),
        share.IntParam("c", 0, lo=0, hi=4095, label="channel or unit"),
        share.IntParam("r", 0, lo=0, hi=27, label="row"),
        share.IntParam("q", 0, lo=0, hi=27, label="column"),
        share.FloatParam("T", 1.0, lo=0.1, hi=10.0, label="temperature"),
        share.ChoiceParam("y", "pred", label="label for the loss", choices=LABEL_CHOICES),
        share.IntParam("p", 6, lo=2, hi=12, label="occlusion patch"),
    )


def _param(schema, key: str) -> share.Param:
    return next(p for p in schema if p.key == key)


def _pick_model(entries: list[ModelEntry]) -> ModelEntry | None:
    usable = [e for e in entries if e.card is not None]
    keys = [e.path.stem if e.source == "shipped" else f"session/{e.path.stem}" for e in usable]
    k = state.wkey(PAGE, "m")
    if st.session_state.get(k) not in keys and keys:
        st.session_state[k] = keys[0]
    labels = dict(zip(keys, (e.label for e in usable)))
    choice = st.selectbox("Model", keys, format_func=lambda s: labels.get(s, s), key=k,
                          help="The shipped models, plus any model you trained and exported in this session.")
    return usable[keys.index(choice)] if choice in keys else None


# ---------------------------------------------------------------------------------------------
# Input


def _canvas_digit() -> np.ndarray | None:
    from streamlit_drawable_canvas import st_canvas  # only inside a running page (0.13 needs the runtime)

    n = st.session_state.setdefault("network.canvas_n", 0)
    st.caption("Draw one digit; every layer below updates when you lift the pen.")
    result = st_canvas(stroke_width=22, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS_PX,
                       width=CANVAS_PX, drawing_mode="freedraw", return_image_data=True, key=f"network.canvas.{n}")
    if st.button("🧽 Clear", key="network.clear"):
        st.session_state["network.canvas_n"] = n + 1
        st.rerun()
    if result.image_data is None:
        return None
    pre = preprocess(result.image_data, Steps())
    return None if pre.empty else pre.image


def _random_test_digit() -> None:
    st.session_state[state.wkey(PAGE, "t")] = random.randrange(len(load_test()))


def _test_digit() -> tuple[np.ndarray, int]:
    with shipped_data():
        test = load_test()
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    index = int(c1.number_input("Test digit number (0–9999)", 0, len(test) - 1, step=1, key=state.wkey(PAGE, "t")))
    c2.button("🎲 Another", on_click=_random_test_digit, key="network.random")
    return test.images[index].astype(np.float32) / 255.0, int(test.labels[index])


def _input_digit() -> tuple[np.ndarray | None, int | None, str]:
    """The 28×28 digit (0..1) the network reads, its label if known, and the source."""
    src = st.radio("Input", list(SOURCES), horizontal=True, key=state.wkey(PAGE, "src"), format_func=SOURCES.get)
    if src == "draw":
        return _canvas_digit(), None, src
    if src == "link":
        text = state.get(PAGE, "img")
        if not text:
            st.info("This link carries no digit. Open this page from the Draw page's link, or pick another input.")
            return None, None, src
        st.caption("The digit the link carries (e.g. a drawing from the Draw page).")
        return nw.decode_digit(text), None, src
    image, label = _test_digit()
    return image, label, src


# ---------------------------------------------------------------------------------------------
# Sections


def _plan(model: LoadedModel) -> nw.LayerOutputs | None:
    """The model's layer outputs, or None with an explanation of why this model cannot show them."""
    why = ""
    try:
        plan = nw.plan_of(model.card.extra)
    except nw.PlanError as exc:
        plan, why = None, f"its sidecar's description of the layers is damaged ({exc})"
    if plan is not None and nw.missing_outputs(plan, model.output_names):
        plan, why = None, "its sidecar lists layer outputs that the graph does not have"
    if plan is None:
        why = why or "it was exported before ConvLab recorded every layer's output"
        st.warning(f"The layers of **{literal(model.card.title)}** cannot be shown: {literal(why)}. Export it again "
                   "from the Train page, or pick a shipped model. The softmax and occlusion sections below "
                   "only need the final scores, so they still work.", icon="🧱")
    return plan


@st.fragment
def _unit_section(schema, plan: nw.LayerOutputs, values, params, image: np.ndarray) -> None:
    st.subheader("2. Open any unit: its arithmetic, on the trained weights")
    all_views = plan.views()
    pickable = [v for v in all_views if v.key not in ("input", "softmax")]
    keys = [v.key for v in pickable]
    k = state.wkey(PAGE, "L")
    if st.session_state.get(k) not in keys:
        st.session_state[k] = keys[0]
    titles = {v.key: v.title for v in pickable}
    key = st.selectbox("Layer", keys, format_func=lambda s: titles.get(s, s), key=k)
    view = next(v for v in pickable if v.key == key)
    value = values[view.output]
    unit = _unit_inputs(view)
    st.caption("Click a cell below (or set the numbers above) to open that unit.")
    on_pick = partial(_on_pick, f"network.pick.{key}", tuple(value.shape))
    left, right = st.columns([3, 2])
    with left:
        views.clickable_layer(view, value, unit, f"network.pick.{key}", on_pick)
    step = plan.steps[view.step]
    box = nw.receptive_box(plan, view.step, unit[1], unit[2]) if len(unit) == 3 else None
    with right:
        st.image(views.input_picture(image, box), output_format="PNG", width=240,
                 caption="Red box: the input pixels this unit can see (its receptive field)." if box else
                 "This unit sees the whole image: it comes after the flatten.")
    _unit_detail(plan, all_views, step, view, values, params, unit)
    for name in ("L", "c", "r", "q"):
        state.set_param(PAGE, _param(schema, name), state.get(PAGE, name))


def _unit_inputs(view: nw.LayerView) -> tuple[int, ...]:
    if len(view.shape) == 3:
        c, h, w = view.shape
        for name, hi in (("c", c - 1), ("r", h - 1), ("q", w - 1)):
            state.clamp(PAGE, name, 0, hi)
        a, b, d = st.columns(3)
        return (int(a.number_input("Channel", 0, c - 1, key=state.wkey(PAGE, "c"))),
                int(b.number_input("Row", 0, h - 1, key=state.wkey(PAGE, "r"))),
                int(d.number_input("Column", 0, w - 1, key=state.wkey(PAGE, "q"))))
    state.clamp(PAGE, "c", 0, view.shape[0] - 1)
    return (int(st.number_input("Unit", 0, view.shape[0] - 1, key=state.wkey(PAGE, "c"))),)


def _on_pick(chart_key: str, shape: tuple[int, ...]) -> None:
    points = (st.session_state.get(chart_key) or {}).get("selection", {}).get("points", [])
    if not points:
        return
    unit = views.unit_at(shape, int(round(points[0]["y"])), int(round(points[0]["x"])))
    if unit is None:
        return
    for name, v in zip(("c", "r", "q"), unit):
        st.session_state[state.wkey(PAGE, name)] = int(v)


def _unit_detail(plan, all_views, step: nw.Step, view: nw.LayerView, values, params, unit) -> None:
    source = next((v.title for v in all_views if v.output == step.source), "the input")
    act = nw.ACT_TITLES.get(step.activation, "")
    if step.kind == "conv":
        views.conv_detail(nw.conv_unit(step, values, params, *unit), source, act)
    elif step.kind == "pool":
        views.pool_detail(nw.pool_unit(step, values, *unit))
    elif step.kind in ("dense", "logits"):
        src_shape = plan.steps[view.step - 1].shape if view.step > 0 else (1, 28, 28)
        if step.source != nw.IMAGE and plan.steps[view.step - 1].kind == "flatten" and view.step > 1:
            src_shape = plan.steps[view.step - 2].shape  # name inputs by the map they were flattened from
        views.dense_detail(nw.dense_unit(step, values, params, unit[0], src_shape), source, act)
    elif step.kind == "batchnorm":
        views.norm_detail(nw.batchnorm_unit(step, values, params, unit), act)
    else:  # flatten
        src = values[step.source]
        st.markdown(f"Flatten moves numbers, it computes nothing: unit {unit[0]} is "
                    f"{nw.name_of_index(src.shape, unit[0])} of *{literal(source)}* = **{float(src.reshape(-1)[unit[0]]):.4g}**.")


@st.fragment
def _softmax_section(schema, logits: np.ndarray, label: int | None) -> None:
    st.subheader("3. Softmax, with this digit's numbers")
    st.caption("The last layer gives ten scores (logits). Softmax turns them into probabilities: divide by the "
               "temperature T, take e to the power of each, divide by the sum. Subtracting the largest first "
               "changes nothing but keeps e^z from overflowing.")
    c1, c2 = st.columns(2)
    temp = c1.slider("Temperature T", 0.1, 10.0, step=0.1, key=state.wkey(PAGE, "T"),
                     help="T < 1 sharpens (more confident), T > 1 flattens (less confident). Training uses T = 1.")
    pred = int(np.argmax(logits))
    choice = c2.selectbox("Label for the loss", LABEL_CHOICES, key=state.wkey(PAGE, "y"),
                          format_func=lambda s: f"the network's answer ({pred})" if s == "pred" else f"digit {s}",
                          help="The digit we tell the network is correct.")
    target = pred if choice == "pred" else int(choice)
    sm = nw.softmax_steps(logits, temp)
    views.softmax_table(sm, target)
    st.markdown(f"Σ e^(z/T − max) = **{sm.total:.4g}**; each probability is its e^… divided by that sum.")
    base = nw.softmax_steps(logits, 1.0).probs
    st.plotly_chart(views.prob_bars(sm.probs, f"Probabilities at T = {temp:g}", base if temp != 1.0 else None,
                                    "T = 1"), key="network.softmax.bars", config={"displayModeBar": False})
    loss = nw.cross_entropy(sm.probs, target)
    st.markdown(f"**Cross-entropy loss** for label {target}: the target is *one-hot*, a 1 for digit {target} and 0 "
                f"for the nine others (last column above), so −Σ target × log p keeps one term: "
                f"−log p({target}) = −log {sm.probs[target]:.4g} = **{loss:.4g}**." +
                ("" if label is None else f" (This test digit's true label is {label}.)"))
    st.caption("A confident right answer costs almost nothing; a confident wrong one costs a lot: this is "
               "the number training makes smaller.")
    for name in ("T", "y"):
        state.set_param(PAGE, _param(schema, name), state.get(PAGE, name))


@st.fragment
def _occlusion_section(schema, model: LoadedModel, image: np.ndarray) -> None:
    st.subheader("4. Which pixels mattered?")
    st.caption("Cover part of the digit with a blank patch and see how much the network's confidence drops. "
               "The patch is centred on every pixel in turn: all 784 covered copies go through onnxruntime in "
               "one batch. Red: covering here lowers that digit's probability; blue: raises it.")
    patch = st.slider("Patch size (pixels)", 2, 12, key=state.wkey(PAGE, "p"))
    t0 = time.perf_counter()
    occ = nw.occlusion(nw.session_runner(model.session), image, patch, model.card.mean, model.card.std)
    ms = (time.perf_counter() - t0) * 1e3
    c1, c2 = st.columns(2)
    a, b = views.occlusion_figures(occ, image)
    c1.plotly_chart(a, key="network.occ.best", config={"displayModeBar": False})
    c1.caption(f"The network's answer, {occ.classes[0]}: where are the strokes it relies on?")
    c2.plotly_chart(b, key="network.occ.second", config={"displayModeBar": False})
    c2.caption(f"The runner-up, {occ.classes[1]}: covering the red parts makes it even less likely.")
    st.caption(f"⏱ {occ.drops.shape[1] * occ.drops.shape[2] + 1} images in one onnxruntime call: {ms:.0f} ms.")
    state.set_param(PAGE, _param(schema, "p"), patch)


def _templates_section(plan: nw.LayerOutputs | None, params, model: LoadedModel) -> None:
    st.subheader("5. What a linear model learns vs a CNN's first filters")
    lin_path = SHIPPED_DIR / "linear.onnx"
    try:
        lin = _model(str(lin_path), lin_path.stat().st_size, lin_path.stat().st_mtime_ns)
        lin_plan = nw.plan_of(lin.card.extra)
        lin_params = _params(str(lin_path), lin_path.stat().st_size, lin_path.stat().st_mtime_ns, lin_plan)
        templates = nw.class_templates(lin_plan, lin_params)
    except (OSError, ModelRefused, nw.PlanError, TypeError) as exc:
        st.info(f"The shipped linear model is not available ({literal(exc)}).")
        return
    c1, c2 = st.columns([3, 2])
    c1.image(views.template_mosaic(templates), output_format="PNG",
             caption=f"{literal(lin.card.title)} ({lin.card.test_accuracy:.1%} on the test digits): one weight per "
                     "pixel and class. Each of its ten rows is a 28×28 template, digits 0–9 left to right, top to "
                     "bottom; red pixels vote for the class, blue against. The score is template · image.")
    kernels = nw.first_conv_kernels(plan, params) if plan is not None else None
    if kernels is None:
        c2.info("This model has no convolution layer, so there are no kernels to compare.")
    else:
        k = kernels.shape[-1]
        c2.image(views.kernel_mosaic(kernels), output_format="PNG",
                 caption=f"{literal(model.card.title)}: its {kernels.shape[0]} first-layer {k}×{k} kernels. Each "
                         "is a small local pattern (an edge, a stroke end) looked for everywhere, instead of one "
                         "whole-digit template per class.")


def main() -> None:
    st.title("🔬 Inside the network")
    st.caption("One digit, every layer: what each convolution, ReLU, pooling and dense layer of a trained network "
               "computes, read straight from the exported ONNX model with onnxruntime. Click any unit to see its "
               "arithmetic on the real weights.")
    token = session_token()
    entries = list_models(token)
    shipped = [e.path.stem for e in entries if e.source == "shipped" and e.card is not None]
    schema = _schema(shipped)
    values0 = state.start(PAGE, schema)
    top_left, top_right = st.columns([1, 1], gap="large")
    with top_left:
        entry = _pick_model(entries)
        if entry is None:
            st.error("No usable model: run `python -m scripts.train_shipped_models` to create the shipped ones.")
            return
        try:
            model, mkey = _load(entry)
        except (ModelRefused, OSError) as exc:
            st.error(f"This model cannot be used: {literal(exc)}")
            return
        image, label, src = _input_digit()
    current = {**values0, **{p.key: state.get(PAGE, p.key) for p in schema},
               "m": entry.path.stem if entry.source == "shipped" else (shipped[0] if shipped else "")}
    if image is None:
        with top_right:
            st.info("Draw a digit (or pick a test digit) to look inside the network.", icon="✏️")
        state.share_box(state.finish(PAGE, schema, current))
        return
    if src == "draw":  # the drawing travels in the share link, so the link reopens this very digit
        current["img"] = st.session_state[state.wkey(PAGE, "img")] = nw.encode_digit(image)
        current["src"] = "link"
    plan = _plan(model)
    x = nw.normalise(image, model.card.mean, model.card.std)
    if plan is not None:
        values = nw.run_layers(nw.session_runner(model.session), plan, x)
        params = _params(*mkey, plan)
        logits = values[plan.steps[-1].post]
    else:
        values, params = {}, {}
        logits = run_model(model, x).logits[0]
    probs = nw.softmax_steps(logits).probs
    with top_right:
        _prediction(image, probs, label)
    if plan is not None:
        st.subheader("1. The whole network, layer by layer")
        st.caption("Top to bottom, the digit flows through the network. Each picture is one layer's output, "
                   "scaled on its own: blue negative, white zero, red positive; after a ReLU, black is zero and "
                   "white the layer's largest value. Every channel of every layer is shown.")
        views.overview(plan.views(), values, probs, "", None)
        _unit_section(schema, plan, values, params, image)
    _softmax_section(schema, logits, label)
    _occlusion_section(schema, model, image)
    _templates_section(plan, params, model)
    state.share_box(state.finish(PAGE, schema, current))


def _prediction(image: np.ndarray, probs: np.ndarray, label: int | None) -> None:
    digit = int(np.argmax(probs))
    verdict = "" if label is None else (" ✓" if digit == label else f" ✗ (label {label})")
    c1, c2 = st.columns([1, 1])
    c1.image(views.input_picture(image, None, 168), caption="What the network reads (28×28)", output_format="PNG")
    c2.markdown(f"<div style='font-size:4.5rem;font-weight:700;line-height:1'>{digit}</div>", unsafe_allow_html=True)
    c2.markdown(f"**Prediction: {digit}**{verdict}  \n" +
                " · ".join(f"**{d}** {probs[d]:.1%}" for d in np.argsort(-probs)[:3]))


main()
