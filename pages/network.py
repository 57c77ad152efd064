"""Inside the network: every layer of a trained CNN for one digit, and any unit's arithmetic (no torch)."""

import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

import random
import time
from functools import partial

import numpy as np

from core.infer import explain as nw
from core.infer import plan as layer_plan
from core.data.mnist import load_test
from core.infer.model_card import ENSEMBLE_KEY
from core.infer.runtime import SHIPPED_DIR, LoadedModel, ModelEntry, ModelRefused, list_models, load_model, run_model
from core.links.network import LABEL_CHOICES, SOURCES, NetworkSettings, decode_digit, encode_digit
from core.infer.onnx_wire import keep_outputs
from core.infer.preprocess import Steps, preprocess
from ui import network_views as views
from ui import state
from ui import image_picker as ti
from ui.canvas import drawing_canvas
from ui.errors import shipped_data
from ui.export_panel import session_token
from ui.plot_click import clicked_cell
from ui.server_resources import memory_budget
from core.infer.plan_check import inference_bytes
from ui.text import literal

PAGE = NetworkSettings.PAGE


@st.cache_resource(show_spinner=False, max_entries=16)
def _model(path: str, size: int, mtime_ns: int) -> LoadedModel:
    return load_model(path, budget=memory_budget())  # size/mtime only key the cache: a changed file is revalidated


@st.cache_resource(show_spinner=False, max_entries=16)
def _params(path: str, size: int, mtime_ns: int, _plan: layer_plan.LayerOutputs) -> dict[str, np.ndarray]:
    """The model's weights as its graph outputs them (read once per file; never mutated)."""
    model = _model(path, size, mtime_ns)
    return layer_plan.read_params(layer_plan.session_runner(model.session), _plan, model.card.input_shape)


@st.cache_resource(show_spinner=False, max_entries=16)
def _logits_session(path: str, size: int, mtime_ns: int):
    """A copy of the model that outputs only the logits: onnxruntime fuses its layers again (big batches)."""
    import onnxruntime as ort

    from core.infer.runtime import session_options

    model = _model(path, size, mtime_ns)
    try:
        data = keep_outputs(model.path.read_bytes())
        return ort.InferenceSession(data, sess_options=session_options(1), providers=["CPUExecutionProvider"])
    except Exception:  # the file changed under us, or onnxruntime refuses the copy: the full model still works
        return model.session


def _load(entry: ModelEntry) -> tuple[LoadedModel, tuple[str, int, int]]:
    stat = entry.path.stat()
    key = (str(entry.path), stat.st_size, stat.st_mtime_ns)
    return _model(*key), key


def _pick_model(keys: state.Keys, entries: list[ModelEntry]) -> ModelEntry | None:
    usable = [e for e in entries if e.card is not None]
    names = [e.path.stem if e.source == "shipped" else f"session/{e.path.stem}" for e in usable]
    if state.current(NetworkSettings).m not in names and names:
        # "" (the default) or a model this session does not have: the best one with a chain of layers to
        # show (an ensemble, the best on accuracy, has parallel networks instead)
        chains = [n for n, e in zip(names, usable) if e.card is not None and ENSEMBLE_KEY not in e.card.extra]
        state.put(NetworkSettings, m=(chains or names)[0])
    labels = dict(zip(names, (e.label for e in usable)))
    if keys.offered("m"):
        st.selectbox("Model", names, format_func=lambda s: labels.get(s, s), key=keys.m,
                     help="The shipped models, plus any model you trained and exported in this session.")
    choice = state.current(NetworkSettings).m
    if not keys.offered("m") and choice in labels:
        st.markdown(f"Model: **{literal(labels[choice])}** (set by your teacher's link)")
    return usable[names.index(choice)] if choice in names else None


# ---------------------------------------------------------------------------------------------
# Input


def _canvas_digit() -> np.ndarray | None:
    st.caption("Draw one digit; every layer below updates when you lift the pen.")
    drawing = drawing_canvas("network.canvas", 22)  # white on black, as the Draw page's default
    if drawing is None:
        return None
    pre = preprocess(drawing, Steps())
    return None if pre.empty else pre.image


def _random_test_digit() -> None:
    state.put(NetworkSettings, t=random.randrange(len(load_test())))


def _test_digit(keys: state.Keys) -> tuple[np.ndarray, int]:
    with shipped_data():
        test = load_test()
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    index = int(c1.number_input("Test digit number (0–9999)", 0, len(test) - 1, step=1, key=keys.t))
    c2.button("🎲 Another", on_click=_random_test_digit, key="network.random")
    return test.images[index].astype(np.float32) / 255.0, int(test.labels[index])


def _input_picture(keys: state.Keys, model: LoadedModel) -> tuple[np.ndarray | None, int | None, str]:
    """A model that does not read drawn digits: one of its dataset's test images, (H, W) or (H, W, 3) in
    0..1, and its label. The test-image number is the page's ``t`` setting, so a link carries it."""
    test = ti.test_set(model.card)
    if test is None:
        return None, None, "test"
    index = ti.pick_index(test, keys.t, lambda i: state.put(NetworkSettings, t=i), "network.random_image")
    st.image(ti.picture(test.images[index], 168), caption=ti.caption(test, index), width=168)
    return test.images[index].astype(np.float32) / 255.0, int(test.labels[index]), "test"


def _input_digit(keys: state.Keys) -> tuple[np.ndarray | None, int | None, str]:
    """The 28×28 digit (0..1) the network reads, its label if known, and the source."""
    src = st.radio("Input", list(SOURCES), horizontal=True, key=keys.src, format_func=SOURCES.get)
    if src == "draw":
        return _canvas_digit(), None, src
    if src == "link":
        text = state.current(NetworkSettings).img
        if not text:
            st.info("This link carries no digit. Open this page from the Draw page's link, or pick another input.")
            return None, None, src
        st.caption("The digit the link carries (e.g. a drawing from the Draw page).")
        return decode_digit(text), None, src
    image, label = _test_digit(keys)
    return image, label, src


# ---------------------------------------------------------------------------------------------
# Sections


def _plan(model: LoadedModel) -> layer_plan.LayerOutputs | None:
    """The model's layer outputs, or None with an explanation of why this model cannot show them."""
    why = ""
    try:
        plan = layer_plan.plan_of(model.card.extra)
    except layer_plan.PlanError as exc:
        plan, why = None, f"its sidecar's description of the layers is damaged ({exc})"
    if plan is not None and layer_plan.missing_outputs(plan, model.output_names):
        plan, why = None, "its sidecar lists layer outputs that the graph does not have"
    if plan is None and ENSEMBLE_KEY in model.card.extra:
        st.info(f"**{literal(model.card.title)}** is an ensemble: several networks whose probabilities are "
                "averaged, so there is no single chain of layers to show. Pick **BN conv net** (one of its "
                "members' architecture) to look inside. The softmax and occlusion sections below use the "
                "ensemble's own scores.", icon="🧱")
        return None
    if plan is None:
        why = why or "it was exported before ConvLab recorded every layer's output"
        st.warning(f"The layers of **{literal(model.card.title)}** cannot be shown: {literal(why)}. Export it again "
                   "from the Train page, or pick a shipped model. The softmax and occlusion sections below "
                   "only need the final scores, so they still work.", icon="🧱")
    return plan


@st.fragment
def _unit_section(keys: state.Keys, plan: layer_plan.LayerOutputs, values, params, image: np.ndarray) -> None:
    st.subheader("2. Open any unit: its arithmetic, on the trained weights")
    all_views = plan.views(values[layer_plan.IMAGE].shape)
    pickable = [v for v in all_views if v.key not in ("input", "softmax")]
    layer_keys = [v.key for v in pickable]
    if state.current(NetworkSettings).L not in layer_keys:
        default = next((v.key for v in pickable if v.key.count(".") == 0 and v.shape[0] > 1), layer_keys[0])
        state.put(NetworkSettings, L=default)  # "" (the default) or a layer this model does not have
    titles = {v.key: v.title for v in pickable}
    key = st.selectbox("Layer", layer_keys, format_func=lambda s: titles.get(s, s), key=keys.L)
    view = next(v for v in pickable if v.key == key)
    value = values[view.output]
    unit = _unit_inputs(keys, view)
    st.caption("Click a cell of the map below (or set the numbers above) to open that unit." if len(unit) == 3
               else "Click a unit below (read row by row), or set its number above.")
    chart_key = f"network.pick.{key}.{unit[0] if len(unit) == 3 else ''}"
    left, right = st.columns([3, 2])
    with left:
        views.clickable_layer(value, unit, chart_key, partial(_on_pick, chart_key, tuple(value.shape), unit[0]))
    step = plan.steps[view.step]
    box = nw.receptive_box(plan, view.step, unit[1], unit[2]) if len(unit) == 3 else None
    with right:
        st.image(views.png(views.input_picture(image, box)), width=240,
                 caption="Red box: the input pixels this unit can see (its receptive field)." if box else
                 "This unit sees the whole image: it comes after the flatten.")
    _unit_detail(plan, all_views, step, view, values, params, unit)
    _write_link()


def _unit_inputs(keys: state.Keys, view: layer_plan.LayerView) -> tuple[int, ...]:
    if len(view.shape) == 3:
        c, h, w = view.shape
        for name, hi in (("c", c - 1), ("r", h - 1), ("q", w - 1)):
            state.clamp(PAGE, name, 0, hi)
        a, b, d = st.columns(3)
        return (int(a.number_input("Channel", 0, c - 1, key=keys.c)),
                int(b.number_input("Row", 0, h - 1, key=keys.r)),
                int(d.number_input("Column", 0, w - 1, key=keys.q)))
    state.clamp(PAGE, "c", 0, view.shape[0] - 1)
    return (int(st.number_input("Unit", 0, view.shape[0] - 1, key=keys.c)),)


def _on_pick(chart_key: str, shape: tuple[int, ...], channel: int) -> None:
    cell = clicked_cell(st.session_state.get(chart_key))
    if cell is None:
        return
    unit = views.unit_at(shape, channel, *cell)
    if unit is None:
        return
    state.put(NetworkSettings, **{name: int(v) for name, v in zip(("c", "r", "q"), unit)})


def _unit_detail(plan, all_views, step: layer_plan.Step, view: layer_plan.LayerView, values, params, unit) -> None:
    source = next((v.title for v in all_views if v.output == step.source), "the input")
    act = layer_plan.ACT_TITLES.get(step.activation, "")
    if step.kind == "conv":
        u = nw.conv_unit(step, values, params, *unit)
        order = [int(c) for c in np.argsort(-np.abs(u.per_channel), kind="stable")]
        shown = st.selectbox("Input channel drawn below (largest contribution first)", order, key="network.inch",
                             help="Every input channel's sum is in the table; pick one to see its window and kernel.")
        views.conv_detail(u, source, act, shown if shown in order else order[0])
    elif step.kind == "pool":
        views.pool_detail(nw.pool_unit(step, values, *unit))
    elif step.kind in ("dense", "logits"):
        src_shape = plan.steps[view.step - 1].shape if view.step > 0 else values[layer_plan.IMAGE].shape
        if step.source != layer_plan.IMAGE and plan.steps[view.step - 1].kind == "flatten" and view.step > 1:
            src_shape = plan.steps[view.step - 2].shape  # name inputs by the map they were flattened from
        views.dense_detail(nw.dense_unit(step, values, params, unit[0], src_shape), source, act)
    elif step.kind == "batchnorm":
        views.norm_detail(nw.batchnorm_unit(step, values, params, unit), act)
    else:  # flatten
        src = values[step.source]
        st.markdown(f"Flatten moves numbers, it computes nothing: unit {unit[0]} is "
                    f"{nw.name_of_index(src.shape, unit[0])} of *{literal(source)}* = **{float(src.reshape(-1)[unit[0]]):.4g}**.")


@st.fragment
def _softmax_section(keys: state.Keys, logits: np.ndarray, label: int | None) -> None:
    st.subheader("3. Softmax, with this digit's numbers")
    st.caption("The last layer gives ten scores (logits). Softmax turns them into probabilities: divide by the "
               "temperature T, take e to the power of each, divide by the sum. Subtracting the largest first "
               "changes nothing but keeps e^z from overflowing.")
    c1, c2 = st.columns(2)
    temp = c1.slider("Temperature T", 0.1, 10.0, step=0.1, key=keys.T,
                     help="T < 1 sharpens (more confident), T > 1 flattens (less confident). Training uses T = 1.")
    pred = int(np.argmax(logits))
    choice = c2.selectbox("Label for the loss", list(LABEL_CHOICES), key=keys.y,
                          format_func=lambda s: f"{LABEL_CHOICES[s]} ({pred})" if s == "pred" else LABEL_CHOICES[s],
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
    _write_link()


@st.fragment
def _occlusion_section(keys: state.Keys, model: LoadedModel, mkey: tuple[str, int, int], image: np.ndarray) -> None:
    st.subheader("4. Which pixels mattered?")
    st.caption("Cover part of the digit with a blank patch and see how much the network's confidence drops. "
               "The patch is centred on every pixel in turn: all 784 covered copies go through onnxruntime in "
               "one batch. Red: covering here lowers that digit's probability; blue: raises it.")
    patch = st.slider("Patch size (pixels)", 2, 12, key=keys.p)
    run = layer_plan.session_runner(_logits_session(*mkey))
    t0 = time.thread_time()  # this thread's CPU: onnxruntime runs on it (one intra-op thread)
    need = inference_bytes(model.card.architecture, model.card.input_shape, 1 + image.shape[0] * image.shape[1])
    occ = views.admitted(memory_budget(), "this occlusion map", need,  # every position in one batch
                         lambda: nw.occlusion(run, image, patch, model.card.mean, model.card.std))
    if occ is None:
        return
    ms = (time.thread_time() - t0) * 1e3
    a, b, bound = views.occlusion_pictures(occ, image)
    c1, c2 = st.columns(2)
    c1.image(a, caption=f"The network's answer, {occ.classes[0]} (p = {occ.probs[occ.classes[0]]:.1%}): "
             "the red parts are the strokes it relies on.")
    c2.image(b, caption=f"The runner-up, {occ.classes[1]} (p = {occ.probs[occ.classes[1]]:.1%}): "
             "covering its red parts makes it even less likely; blue parts speak against it.")
    st.caption(f"Deepest colour = the probability changes by {bound:.1%}; the strokes are outlined in black. "
               "Both maps share one colour scale.")
    st.caption(f"⏱ {occ.drops.shape[1] * occ.drops.shape[2] + 1} images in one onnxruntime call: {ms:.0f} ms "
               "of server CPU.")
    _write_link()


def _templates_section(plan: layer_plan.LayerOutputs | None, params, model: LoadedModel) -> None:
    if not model.card.reads_digits:  # the linear model's templates are digits: no comparison to make
        return
    st.subheader("5. What a linear model learns vs a CNN's first filters")
    lin_path = SHIPPED_DIR / "linear.onnx"
    try:
        lin = _model(str(lin_path), lin_path.stat().st_size, lin_path.stat().st_mtime_ns)
        lin_plan = layer_plan.plan_of(lin.card.extra)
        lin_params = _params(str(lin_path), lin_path.stat().st_size, lin_path.stat().st_mtime_ns, lin_plan)
        templates = nw.class_templates(lin_plan, lin_params)
    except (OSError, ModelRefused, layer_plan.PlanError, TypeError) as exc:
        st.info(f"The shipped linear model is not available ({literal(exc)}).")
        return
    c1, c2 = st.columns([3, 2])
    c1.image(views.template_mosaic(templates),
             caption=f"{literal(lin.card.title)} ({lin.card.test_accuracy:.1%} on the test digits): one weight per "
                     "pixel and class. Each of its ten rows is a 28×28 template, digits 0–9 left to right, top to "
                     "bottom; red pixels vote for the class, blue against. The score is template · image.")
    kernels = nw.first_conv_kernels(plan, params) if plan is not None else None
    if kernels is None:
        c2.info("This model has no convolution layer, so there are no kernels to compare.")
    else:
        k = kernels.shape[-1]
        c2.image(views.kernel_mosaic(kernels),
                 caption=f"{literal(model.card.title)}: its {kernels.shape[0]} first-layer {k}×{k} kernels. Each "
                         "is a small local pattern (an edge, a stroke end) looked for everywhere, instead of one "
                         "whole-digit template per class.")


def main() -> None:
    keys = state.bind(NetworkSettings)
    state.header(NetworkSettings, "🔬 Inside the network",
                 "One digit, every layer: what each convolution, ReLU, pooling and dense layer of a trained "
                 "network computes, read straight from the exported ONNX model with onnxruntime. Click any unit "
                 "to see its arithmetic on the real weights.")
    entries = list_models(session_token())
    top_left, top_right = st.columns([1, 1], gap="large")
    with top_left:
        entry = _pick_model(keys, entries)
        if entry is None:
            st.error("No usable model: run `python -m scripts.train_shipped_models` to create the shipped ones.")
            return
        try:
            model, mkey = _load(entry)
        except (ModelRefused, OSError) as exc:
            st.error(f"This model cannot be used: {literal(exc)}")
            return
        digits = model.card.reads_digits
        image, label, src = _input_digit(keys) if digits else _input_picture(keys, model)
    if image is None:
        with top_right:
            if digits:
                st.info("Draw a digit (or pick a test digit) to look inside the network.", icon="✏️")
        _write_link()
        return
    if src == "draw":  # the drawing travels in the share link, so the link reopens this very digit
        state.put(NetworkSettings, img=encode_digit(image))
    plan = _plan(model)
    x = layer_plan.normalise(image, model.card.mean, model.card.std)
    if plan is not None:
        values = layer_plan.run_layers(layer_plan.session_runner(model.session), plan, x)
        params = _params(*mkey, plan)
        logits = values[plan.steps[-1].post]
    else:
        values, params = {}, {}
        logits = run_model(model, x).logits[0]
    probs = nw.softmax_steps(logits).probs
    with top_right:
        views.prediction(image, probs, label, model.card)
    if plan is not None:
        st.subheader("1. The whole network, layer by layer")
        st.caption("Top to bottom, the digit flows through the network. Each picture is one layer's output, every "
                   "map at the same pixel size (a pooled map is smaller than the map it pools); colours per layer: "
                   "blue negative, white zero, red positive; after a ReLU, palest blue is zero and darkest blue "
                   "the layer's largest value. Every channel of every layer is shown.")
        views.overview(plan.views(model.card.input_shape), values, probs,
                       None if model.card.reads_digits else model.card.labels)
        _unit_section(keys, plan, values, params, image)
    _softmax_section(keys, logits, label)
    _occlusion_section(keys, model, mkey, image)
    _templates_section(plan, params, model)
    _write_link()


def _write_link() -> None:
    """URL := this view (also from a fragment); a drawing travels as the digit itself (``src=link``)."""
    cfg = state.current(NetworkSettings)
    state.finish(cfg.with_(src="link") if cfg.src == "draw" and cfg.img else cfg)


main()
