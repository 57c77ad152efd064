"""Draw a digit: a trained CNN reads your handwriting, and you see every step it takes (no torch here)."""

import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

from ui.server_resources import memory_budget  # noqa: E402

import random  # noqa: E402

import numpy as np  # noqa: E402

from core.data.mnist import load_test  # noqa: E402
from core.infer.runtime import LoadedModel, ModelEntry, ModelRefused, list_models, load_model  # noqa: E402
from core.infer.model_card import ENSEMBLE_KEY  # noqa: E402
from core.links.network import digit_link  # noqa: E402
from core.infer.predict import classify_images, classify_variants  # noqa: E402
from ui import draw_views as dv  # noqa: E402
from ui.pictures import png_data_uri  # noqa: E402
from ui import state  # noqa: E402
from ui import image_picker as ti  # noqa: E402
from ui.canvas import drawing_canvas  # noqa: E402
from ui.errors import shipped_data  # noqa: E402
from ui.export_panel import session_token  # noqa: E402
from ui.text import literal_code  # noqa: E402

INTRO = ("Draw a digit with your finger or mouse: a trained CNN (run with onnxruntime) reads it each time you "
         "lift the pen. See how your drawing becomes the 28×28 image the network was trained on, and what its "
         "filters see.")


@st.cache_resource(show_spinner=False, max_entries=16)
def _model(path: str, size: int, mtime_ns: int) -> LoadedModel:
    return load_model(path, budget=memory_budget())  # size/mtime are only part of the cache key: a changed file is revalidated


@st.cache_data(show_spinner=False, max_entries=64)
def _test_image(index: int) -> tuple[np.ndarray, int]:
    with shipped_data():
        test = load_test()
    return test.images[index], int(test.labels[index])


@st.cache_data(show_spinner=False)
def _test_count() -> int:
    with shipped_data():
        return len(load_test())


@st.cache_data(show_spinner=False, max_entries=64)
def _test_png(index: int) -> str:
    return png_data_uri(dv.big(_test_image(index)[0] / 255.0, dv.CANVAS_PX))


def _random_test_digit(cls: type[dv.DrawSettings]) -> None:
    state.put(cls, t=random.randrange(_test_count()))


def controls(cls: type[dv.DrawSettings], keys: state.Keys) -> None:
    """The controls a stroke never changes: input, pen and the preprocessing steps. They live outside the
    lesson fragment, so a stroke re-sends none of them (each widget is a message of its own on every
    run); changing one reruns the whole page, which is rare. A classroom link keeps the teacher's values
    and draws no widget for them."""
    st.radio("Input", tuple(dv.SOURCES), horizontal=True, key=keys.src, format_func=dv.SOURCES.get,
             label_visibility="collapsed")
    cfg = state.current(cls)
    pen = cfg.src == "draw" and keys.offered("w")
    if pen:  # stroke width | ink | the steps' switches, in one row above the canvas (a row on a phone too)
        width, ink, steps = st.container(key="cl-row-draw").columns([4, 4, 3], vertical_alignment="bottom")
        width.slider("Stroke width", 4, 48, key=keys.w)
        ink.radio("Ink", tuple(dv.INKS), horizontal=True, key=keys.ink, format_func=dv.INKS.get)
    else:
        steps = st.container()
    with steps:
        _step_toggles(keys, cfg)


def _step_toggles(keys: state.Keys, cfg: dv.DrawSettings) -> None:
    """The preprocessing switches, folded into a popover (one row, so the canvas stays near the top of a
    phone); a classroom link says which are on instead of offering them."""
    if not keys.offered("crop"):
        on = [title.lower() for field, (title, _) in dv.STEP_LABELS.items() if getattr(cfg, field)]
        st.markdown(f"**Preprocessing steps**: {', '.join(on) if on else 'none'} (set by your teacher's link)")
        return
    with st.popover(dv.STEPS_BUTTON, help="Switch a preprocessing step off to see why it is there."):
        st.markdown("**Preprocessing steps**: switch one off to see why it is there (the pictures and the "
                    "\"what if\" table under the answer follow).")
        for field, (title, help_) in dv.STEP_LABELS.items():
            st.toggle(title, key=keys.key(field), help=help_)


def _canvas(cfg: dv.DrawSettings) -> np.ndarray:
    paper, pen = cfg.pen()
    # One key for the page's life: the canvas is never remounted (Undo and Clear work in the browser).
    image = drawing_canvas("draw.canvas", cfg.w, pen=pen, paper=paper)
    return np.zeros((dv.CANVAS_PX, dv.CANVAS_PX), np.float32) if image is None else image


def _test_digit(cls: type[dv.DrawSettings], keys: state.Keys) -> tuple[np.ndarray, int]:
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    c1.number_input("Test digit number (0–9999)", 0, _test_count() - 1, step=1, key=keys.t)
    c2.button("🎲 Another", on_click=_random_test_digit, args=(cls,), key="draw.random")
    index = state.current(cls).t
    image, label = _test_image(index)
    st.image(_test_png(index), caption=f"Official MNIST test digit #{index}: labelled {label}")
    return image, label


@st.fragment
def lesson(cls: type[dv.DrawSettings], model: LoadedModel, trusted: bool) -> None:
    """Everything a stroke changes, and nothing else: a stroke reruns only this (the header, the model's
    facts and the controls above stay as they are)."""
    cfg = state.current(cls)
    # The answer sits right of the canvas, and right under it on a phone (columns stack there).
    left, right = st.columns([1, 1], gap="medium")
    with left:
        if cfg.src == "draw":
            image, label = _canvas(cfg), None
        else:
            image, label = _test_digit(cls, state.Keys(cls))
            cfg = state.current(cls)  # the test digit's number may just have changed
    steps = cfg.steps()
    switched = steps.each_switched()  # the "what if a step were skipped" table: one onnxruntime run for all
    try:
        pred, *others = classify_variants(model, image, (steps, *switched.values()), activations=True)
    except ModelRefused as exc:  # the model fails on this input (onnxruntime error, NaN/inf outputs)
        st.error(f"This model cannot be used: {literal_code(exc, 300)}")
        return
    with right:
        dv.prediction(pred, label)  # with the 28×28 picture the model read
    dv.prob_chart(pred)
    dv.details(pred, steps, dict(zip(switched, others)))  # timing, the steps' pictures, the "what if" table
    dv.feature_maps(pred, model, trusted)
    ensemble = ENSEMBLE_KEY in model.card.extra  # parallel networks: the network page shows its default instead
    if pred.digit is not None:  # the digit (and a shipped model) travel in the link: nothing stays on the server
        st.page_link("pages/network.py", icon="🔬", label="Inside the network: every layer and unit for this digit",
                     query_params=digit_link(pred.pre.image, model.path.stem if trusted and not ensemble else ""))
    if cfg.src == "test":  # the test digit's number is the only setting a run of this fragment can change
        state.sync(cls)


@st.fragment
def picture_lesson(cls: type[dv.DrawSettings], model: LoadedModel) -> None:
    """A model that does not read handwritten digits (Fashion-MNIST, CIFAR-10): one of its dataset's
    own test images instead of the canvas, and the model's probabilities with its class names."""
    card = model.card
    st.caption(f"This model reads {card.input_shape[1]}×{card.input_shape[2]} "
               f"{'colour photos' if card.input_shape[0] == 3 else 'grey images'}, not drawn digits: "
               "pick one of its dataset's test images.")
    test = ti.test_set(card)
    if test is None:
        return
    left, right = st.columns([1, 1], gap="medium")
    with left:
        index = ti.pick_index(test, state.Keys(cls).t, lambda i: state.put(cls, t=i), "draw.random_image")
        st.image(ti.picture(test.images[index]), caption=ti.caption(test, index), width=ti.PICTURE_PX)
    try:
        probs = classify_images(model, test.images[index:index + 1])[0]
    except (ModelRefused, ValueError) as exc:  # onnxruntime failed, or a shape the sidecar promised wrongly
        st.error(f"This model cannot be used: {literal_code(exc, 300)}")
        return
    with right:
        ti.verdict(probs, card.labels, int(test.labels[index]))
        ti.prob_chart(probs, card.labels, "draw.image_probs")
    state.sync(cls)


def main() -> None:
    entries: list[ModelEntry] = list_models(session_token())  # small JSON files: a new export shows at once
    cls = dv.settings_for(entries)
    keys = state.bind(cls)
    state.header(cls, "✏️ Draw a digit", INTRO)
    link_note = st.empty()  # under the Share control: what its link cannot carry
    entry = dv.pick_model(cls, keys, entries)
    if entry is None:
        st.error("No usable model: run `python -m scripts.train_shipped_models` to create the shipped ones.")
        return
    if entry.source != "shipped":
        link_note.caption("🔗 " + dv.SESSION_MODEL_NOTE)
    try:
        stat = entry.path.stat()
        model = _model(str(entry.path), stat.st_size, stat.st_mtime_ns)
    except (ModelRefused, OSError) as exc:
        st.error(f"This model cannot be used: {literal_code(exc, 300)}")
        return
    dv.model_facts(entry, model)
    if model.card.reads_digits:
        controls(cls, keys)
        dv.crisp_pictures()
        lesson(cls, model, entry.source == "shipped")
    else:
        picture_lesson(cls, model)
    state.finish(state.current(cls))


main()
