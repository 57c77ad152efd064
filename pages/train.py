"""Train a CNN: pick or build an architecture, read its layer table, train it live, then look inside.

The page reads as its sections; ``ui.train_session`` runs the training (start, stop, the comparison queue),
``ui.train_settings`` holds the settings that are also the share link, ``ui.train_views`` draws results.
"""

import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

TITLE = "🏋️ Train a CNN"
import core.train  # noqa: E402

if not core.train.available():  # the inference-only install explains itself
    st.title(TITLE)
    st.error("Training needs PyTorch: `pip install -r requirements.txt`", icon="📦")
    st.stop()

from core.arch import recipes  # noqa: E402
from core.arch import spec as archspec  # noqa: E402
from core.arch.jobs import lower_priority, time_limit_from_env  # noqa: E402
from core.data import registry as cds  # noqa: E402
from core.train import devices  # noqa: E402
from ui import state  # noqa: E402
from ui import train_results  # noqa: E402
from ui import train_views as tv  # noqa: E402
from ui.export_panel import render_export_panel  # noqa: E402
from ui.train_data import dataset_controls  # noqa: E402
from ui.train_session import TrainingSession  # noqa: E402
from ui.train_settings import (  # noqa: E402
    ARCH_CHOICES, BATCH_SIZES, LAYERS, PAGE, TRAIN_SIZES, TrainSettings, apply_recommended, comparison_pair, current,
    use_optimizer_default_lr,
)

CUSTOM = "train._custom_layers"  # the layers the custom editor starts from (its edits live in the editor)
EDITOR = "train._custom.editor"
SESSION = TrainingSession()


# ---------------------------------------------------------------------------------------------
# Settings


def custom_base() -> tuple[archspec.LayerSpec, ...]:
    """The layers the custom editor starts from. Its edits live in its own widget state, relative to
    this base; when that state is gone (the editor was not drawn last run) or the linked layers were
    changed from outside the editor (a share link, "Start from"), the base becomes the linked layers."""
    if EDITOR not in st.session_state or state.changed_since_last_run(PAGE, LAYERS):
        st.session_state[CUSTOM] = tuple(current().layers)
        st.session_state.pop(EDITOR, None)
    return st.session_state[CUSTOM]


def remember_custom(layers: tuple[archspec.LayerSpec, ...]) -> None:
    """What the link carries next: the custom layers as now edited."""
    state.put(TrainSettings, layers=tuple(layers))


def custom_section(keys: state.Keys, busy: bool) -> archspec.ArchSpec:
    base = custom_base()
    if not keys.offered("layers"):  # the teacher's network, as the link describes it: shown, not editable
        layers, activation = base, current().act
        st.caption(f"The network from your teacher's link ({archspec.ACTIVATIONS[activation]} activations).")
    else:
        left, right = st.columns([3, 1])
        with right:
            activation = st.selectbox("Activation", tuple(archspec.ACTIVATIONS), key=keys.act, disabled=busy,
                                      format_func=archspec.ACTIVATIONS.get)
            start_from = st.selectbox("Start from", archspec.PRESET_KEYS, index=None, placeholder="a preset…",
                                      key="train._start_from", disabled=busy,
                                      format_func=lambda k: archspec.PRESETS[k].title)
            if start_from is not None:
                remember_custom(archspec.PRESETS[start_from].layers)  # custom_base rebuilds the editor from it
                del st.session_state["train._start_from"]
                st.rerun()
        with left:
            layers = tv.render_custom_editor("train._custom", base, busy)
    remember_custom(layers)
    return current().with_(layers=tuple(layers), act=activation).network()


def architecture_section(keys: state.Keys, busy: bool) -> tuple[archspec.ArchSpec, str | None]:
    """The network picker (read-only in a classroom link: the teacher chose it), its note, its table."""
    st.subheader("1 · Architecture")
    classroom = state.is_classroom()
    custom_label = "Your teacher's network" if classroom else "Custom (edit the layers yourself)"
    # A classroom picker offers the teacher's choice only: "Your teacher's network" is the teacher's own
    # stack, never a label on some other network.
    choices = (current().arch,) if classroom else ARCH_CHOICES
    arch = st.selectbox(
        "Network", choices, key=keys.arch, on_change=apply_recommended, disabled=busy or classroom,
        format_func=lambda k: custom_label if k == "custom" else archspec.PRESETS[k].title,
        help="Chosen by your teacher's link." if classroom else None,
    )
    if arch == "custom":
        spec = custom_section(keys, busy)
    else:
        remember_custom(custom_base())  # keep the session's custom network in the link
        spec = archspec.PRESETS[arch]
        st.caption(spec.note)
    data = cds.info(current().data)
    if data.shape != archspec.INPUT_SHAPE:
        st.caption(f"Input: {data.title}, {data.channels} channel{'s' if data.channels > 1 else ''} of "
                   f"{data.size}×{data.size} pixels.")
    reason = tv.render_layer_table(spec, data.shape)
    return spec, reason


def hyperparameter_section(keys: state.Keys, busy: bool) -> recipes.TrainConfig:
    """The training knobs; a classroom link offers only the epochs and states the teacher's values."""
    st.subheader("2 · Training settings")
    c1, c2, c3, c4 = st.columns(4)
    if keys.offered("opt"):
        c1.selectbox("Optimizer", tuple(recipes.OPTIMIZERS), key=keys.opt, format_func=recipes.OPTIMIZERS.get,
                     disabled=busy, on_change=use_optimizer_default_lr)
        c2.number_input("Learning rate", min_value=1e-6, max_value=100.0, key=keys.lr, format="%.5f",
                        step=5e-4, disabled=busy,
                        help="Adam/AdamW: about 0.001–0.005. SGD: about 0.01–0.1. Adadelta: about 1.0.")
        c3.select_slider("Batch size", tuple(str(b) for b in BATCH_SIZES), key=keys.bs, disabled=busy)
    (c4 if keys.offered("opt") else c1).slider("Epochs", 1, 50, key=keys.ep, disabled=busy)
    if keys.offered("seed"):
        c5, c6, c7, c8 = st.columns(4)
        c5.number_input("Seed", 0, 99_999, step=1, key=keys.seed, disabled=busy,
                        help="Same seed, same settings → the same curves (on the CPU).")
        c6.selectbox("Learning-rate schedule", tuple(recipes.SCHEDULES), key=keys.sch, format_func=recipes.SCHEDULES.get,
                     disabled=busy)
        c7.toggle("Augment", key=keys.aug, disabled=busy,
                  help="Each training image is shifted and rotated a little at random, every epoch.")
        c8.button("Use recommended settings", on_click=apply_recommended, disabled=busy or current().arch == "custom",
                  key="train._recommended")
        # No help tooltip here or on other "Training …" labels: its button would be one more "Train" button.
        st.select_slider("Training images", TRAIN_SIZES, key=keys.n, disabled=busy)
        st.caption("Fewer training images: the training accuracy keeps rising while the validation accuracy "
                   "stalls — overfitting. Try 1000 for 20 epochs.")
        init_controls(keys, busy)
    cfg = current()
    if warning := recipes.lr_warning(cfg.opt, float(cfg.lr)):
        st.warning(warning, icon="⚠️")
    return cfg.train_config(dataset_controls(keys, busy, cfg.data))


def init_controls(keys: state.Keys, busy: bool) -> None:
    """How the weights start, and the first conv layer's kernels as they would start (seeded: what Train
    will start from)."""
    c1, c2, c3 = st.columns([2, 1, 3])
    kind = c1.selectbox("Initial weights", tuple(recipes.INITS), key=keys.init, format_func=recipes.INITS.get,
                        disabled=busy)
    if kind == "normal":
        c2.number_input("σ", min_value=0.001, max_value=2.0, step=0.05, format="%.3f", key=keys.sigma,
                        disabled=busy)
    cfg = current()
    try:
        kernels = tv.initial_kernels(cfg.network(), cds.info(cfg.data).shape, cfg.seed, cfg.init, float(cfg.sigma))
    except ValueError:  # a stack that cannot be built: the layer table above says why
        kernels = None
    with c3:
        if kernels is None:
            st.caption("No kernels to show: the network has no convolution layer that can be built.")
        else:
            st.plotly_chart(train_results.maps_figure(kernels[:, 0], per_row=16, diverging=True, px_per_cell=8,
                                                      title="conv1 kernels before training"),
                            key="train.init_kernels", config={"displayModeBar": False})
    if kind == "zeros":
        st.caption("All weights 0: every unit of a layer computes the same thing and gets the same gradient, so "
                   "they stay identical copies of each other — train it and compare.")


@st.fragment
def settings_section(busy: bool) -> tuple[archspec.ArchSpec, recipes.TrainConfig, str | None]:
    """Architecture, layer table, training settings and the memory estimate. A widget here reruns only
    this section: the results below are not rebuilt for a slider step. Returns the network,
    the config and why training is refused (None when it may start), as of this run."""
    spec, reason = architecture_section(keys, busy)
    config = hyperparameter_section(keys, busy)
    st.markdown("**Memory**")
    if reason is None:
        reason = tv.render_memory(spec, config)
    if reason is None and not cds.is_cached(config.dataset):
        reason = f"{cds.info(config.dataset).title} is not downloaded yet: download it above first."
    state.sync(TrainSettings)  # a fragment rerun skips the page's finish: keep the link current here
    return spec, config, reason


def controls(spec: archspec.ArchSpec, reason: str | None, busy: bool) -> None:
    """The device line and the Train/Stop buttons (outside the settings fragment: they start full runs).

    Their disabled state is as of the last full run; a click re-checks everything before training."""
    dev = tv.device()
    st.caption(f"Device: **{devices.device_text(dev)}** · at most {tv.job_limiter().capacity} training jobs run at "
               f"once on this server, each for at most {time_limit_from_env():g} s.")
    c1, c2, c3 = st.columns([1, 1, 3])
    c1.button("▶️ Train", type="primary", key="train.go", on_click=SESSION.request_start, disabled=busy or reason is not None,
              help=reason or "Train this network with these settings.")
    c2.button("⏹️ Stop", key="train.stop", on_click=SESSION.request_stop, disabled=not busy,
              help="End training now and keep the model trained so far.")
    if reason is not None and not busy:
        st.caption(f"Train is off: {reason}")
    has_conv = any(layer.kind == "conv" for layer in spec.layers)
    c3.button("⚖️ Same parameters: dense vs convolutional", key="train.compare",
              on_click=lambda: SESSION.request_queue(comparison_pair()),
              disabled=busy or reason is not None or not has_conv,
              help="Trains this network, then a dense network with one hidden layer and about as many "
                   "parameters, with the same settings; both land in the runs table below." if has_conv else
                   "Choose a network with convolution layers to compare it with a dense one.")


# ---------------------------------------------------------------------------------------------
# The page


keys = state.bind(TrainSettings)
state.header(TrainSettings, TITLE, "Choose a network, check its shapes and cost layer by layer, train it on real "
                                   "MNIST digits and watch the curves, then look at what it gets wrong and what its "
                                   "kernels see.")
# Train, Stop and the progress sit in a bar that stays at the top of the screen while the settings below
# scroll (the layer table and the settings are two screens at 1280×900); it is filled once they are read.
bar = st.container(key="train-bar")
SESSION.apply_stop()
spec, config, reason = settings_section(SESSION.busy)
state.finish(current())
with bar:
    controls(spec, reason, SESSION.busy)
    SESSION.show_flash()
with lower_priority():  # this script run's torch work yields the CPU to other students' requests
    SESSION.advance(spec, config, reason, status=bar)

if SESSION.result is not None:
    train_results.dense_vs_conv(SESSION.runs)
    train_results.results_section(SESSION.result)
    render_export_panel(SESSION.result, SESSION.spec)  # torch-free panel; core.train.export loads on export
if SESSION.runs:
    st.subheader("Your runs so far")
    st.caption("Every run of this session (only you see them). Compare parameters with test accuracy: the "
               "conv nets beat the dense ones with far fewer parameters.")
    train_results.render_comparison(SESSION.runs)
