"""Train a CNN: pick or build an architecture, read its layer table, train it live, then look inside.

Training runs inside the script run and updates the page a few times a second. Any click (the Stop
button, or leaving the page) interrupts the run at its next page update; the model, its place in the
epoch and the history live in ``st.session_state``, so the next run of the script either stops the
training and keeps the partial model (Stop) or carries on where it was (any other interaction).
"""

import time
from contextlib import ExitStack

import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

TITLE = "🏋️ Train a CNN"
import core.train  # noqa: E402

if not core.train.available():  # the inference-only install explains itself
    st.title(TITLE)
    st.error("Training needs PyTorch: `pip install -r requirements.txt`", icon="📦")
    st.stop()

from core.data import mnist as cdata  # noqa: E402
from core.data import registry as cds  # noqa: E402
from core.arch import spec as archspec  # noqa: E402
from core.arch import layer_table as lt  # noqa: E402
from core.arch import recipes  # noqa: E402
from core.train import devices  # noqa: E402
from core.train import runner  # noqa: E402
from core.arch.jobs import lower_priority, time_limit_from_env  # noqa: E402
from ui import state  # noqa: E402
from ui import train_views as tv  # noqa: E402
from ui.export_panel import render_export_panel  # noqa: E402
from ui.server_resources import memory_budget  # noqa: E402
from ui.train_data import dataset_controls  # noqa: E402
from ui.train_settings import ARCH_CHOICES, BATCH_SIZES, PAGE, TRAIN_SIZES, TrainSettings  # noqa: E402
from core.arch.budget import MemoryRefused  # noqa: E402

LAYERS = TrainSettings.param("layers")
RUN, RESULT, SPEC, RUNS = "train.run", "train.result", "train.spec", "train.runs"
START, STOP, FLASH = "train._start", "train._stop", "train._flash"
QUEUE = "train._queue"  # networks still to train after this run (the dense-vs-conv comparison)
CUSTOM = "train._custom_layers"  # the layers the custom editor starts from (its edits live in the editor)
EDITOR = "train._custom.editor"
UI_EVERY_S = 0.3  # progress-bar updates (and interrupt points) at most this often
CHART_EVERY_S = 1.0  # mid-epoch curve redraws (the first one right after the first batch)


def current() -> TrainSettings:
    return state.current(TrainSettings)


def flash(kind: str, text: str) -> None:
    """A message that survives the st.rerun() after training ends."""
    st.session_state[FLASH] = (kind, text)


def apply_recommended() -> None:
    """Preset changed (or the button): load that preset's recommended hyperparameters."""
    cfg = recipes.RECOMMENDED.get(current().arch)
    if cfg is None:
        return
    state.put(TrainSettings, opt=cfg.optimizer, lr=cfg.lr, bs=str(cfg.batch_size), ep=cfg.epochs, aug=cfg.augment,
              sch=cfg.schedule)


def use_optimizer_default_lr() -> None:
    """Optimizer changed: start from its own usual learning rate (Adadelta's is 500× Adam's)."""
    state.put(TrainSettings, lr=recipes.DEFAULT_LR[current().opt])


def request_start() -> None:
    st.session_state[START] = True


def chosen_network(cfg: "TrainSettings") -> archspec.ArchSpec:
    """The network the settings describe (a preset, or the custom layers with their activation)."""
    if cfg.arch == "custom":
        return archspec.ArchSpec("custom", "Custom network", tuple(cfg.layers), activation=cfg.act,
                           note="Your own stack of layers.")
    return archspec.PRESETS[cfg.arch]


def request_comparison() -> None:
    """Train the chosen network and a dense one with about as many parameters, one after the other (read
    from the settings now: the button sits outside the settings fragment)."""
    spec = chosen_network(current())
    st.session_state[QUEUE] = [spec, archspec.matched_dense(lt.count_params(spec))]


def next_queued() -> archspec.ArchSpec | None:
    queue = st.session_state.get(QUEUE) or []
    return queue.pop(0) if queue else None


def request_stop() -> None:
    st.session_state[STOP] = True


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
    return chosen_network(current().with_(layers=tuple(layers), act=activation))


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
        c7.toggle("Augment (small shifts and rotations)", key=keys.aug, disabled=busy)
        c8.button("Use recommended settings", on_click=apply_recommended, disabled=busy or current().arch == "custom",
                  key="train._recommended")
        # No help tooltip here or on other "Training …" labels: its button would be one more "Train" button.
        st.select_slider("Training images", TRAIN_SIZES, key=keys.n, disabled=busy)
        st.caption("Fewer training images: the training accuracy keeps rising while the validation accuracy "
                   "stalls — overfitting. Try 1000 for 20 epochs.")
    cfg = current()
    if not keys.offered("opt"):
        st.caption(f"Set by your teacher's link: {recipes.OPTIMIZERS[cfg.opt]}, learning rate {cfg.lr:g}, batch {cfg.bs}, "
                   f"{recipes.SCHEDULES[cfg.sch]} schedule, seed {cfg.seed}, augmentation {'on' if cfg.aug else 'off'}, "
                   f"training images: {cfg.n}.")
    if warning := recipes.lr_warning(cfg.opt, float(cfg.lr)):
        st.warning(warning, icon="⚠️")
    return cfg.train_config(dataset_controls(keys, busy, current().data))


# ---------------------------------------------------------------------------------------------
# Running


def start_run(spec: archspec.ArchSpec, config: recipes.TrainConfig) -> None:
    try:
        dev = tv.device()
        st.session_state[RUN] = runner.TrainingRun(spec, config, dev, test=tv.test_set(dev, str(dev), config.dataset))
    except (ValueError, cdata.DataError) as exc:
        st.session_state.pop(QUEUE, None)
        flash("error", str(exc))
    except (RuntimeError, MemoryError) as exc:
        if not devices.is_out_of_memory(exc):
            raise
        st.session_state.pop(QUEUE, None)
        flash("error", recipes.OUT_OF_MEMORY_MESSAGE)


def drop_out_of_memory(run: runner.TrainingRun) -> None:
    """An allocation failed mid-job: forget the run (its memory goes with it) so no rerun retries it."""
    for name in (RUN, START, QUEUE):
        st.session_state.pop(name, None)
    run.stop(recipes.STOP_STOPPED, recipes.OUT_OF_MEMORY_MESSAGE)
    flash("error", recipes.OUT_OF_MEMORY_MESSAGE)


def finish_run(run: runner.TrainingRun, slot_held: bool = False) -> None:
    """Evaluate on the test set, keep the result for this session and add it to the comparison.

    The test evaluation is part of the job: it runs holding a training slot (waiting for one, at most
    the time limit, when the run was stopped between script runs)."""
    limiter = tv.job_limiter()
    with st.spinner("Testing on the 10,000 official test digits…"):
        got = slot_held or limiter.acquire(time_limit_from_env())
        try:
            result = run.finish(test=got)
        finally:
            if got and not slot_held:
                limiter.release()
    if not run.claim():  # an overlapping script run of this session has reported it already
        return
    st.session_state.pop(RUN, None)
    st.session_state[RESULT] = result
    st.session_state[SPEC] = result.spec
    runs = st.session_state.setdefault(RUNS, [])
    runs.append(tv.run_summary(result, len(runs) + 1))
    kind = {"completed": "success", "diverged": "error"}.get(result.stopped_reason, "warning")
    flash(kind, result.message)


def train_live(run: runner.TrainingRun) -> None:
    """Advance the run epoch by epoch, drawing progress and curves; any click interrupts it here."""
    limiter = tv.job_limiter()
    if not limiter.try_acquire():
        cannot_continue(run, limiter.busy_message())
    memory = ExitStack()  # the run's estimated bytes, held in the server's budget while it trains here
    try:
        memory.enter_context(memory_budget().admit("training this network", run.memory.total))
    except MemoryRefused as exc:
        limiter.release()
        cannot_continue(run, str(exc))
    try:
        bar = st.progress(run.progress, text="Starting…")
        chart, draws = st.empty(), [0]

        def draw_curves() -> None:
            # Its own key each time: two identical redraws (a run that ends at batch 1) must not clash.
            draws[0] += 1
            chart.plotly_chart(tv.curves_figure(run.history, run.batch_log, run.config.epochs),
                               key=f"train.curves.{draws[0]}")

        draw_curves()
        last = {"ui": 0.0, "chart": 0.0}  # 0: the first batch already updates the bar and the curve

        def on_batch(i: int, n: int, loss: float) -> None:
            now = time.monotonic()
            if now - last["ui"] >= UI_EVERY_S:
                last["ui"] = now
                bar.progress(run.progress, text=f"Epoch {run.epochs_done + 1}/{run.config.epochs} · batch {i}/{n}"
                                                f" · loss {loss:.3f} · {run.seconds:.1f} s")
            if now - last["chart"] >= CHART_EVERY_S:
                last["chart"] = now
                draw_curves()

        while not run.done:
            run.step(on_batch)
            draw_curves()
            last["chart"] = time.monotonic()
        bar.progress(1.0, text="Training finished.")
        finish_run(run, slot_held=True)  # the test evaluation counts against the job limit too
    except (RuntimeError, MemoryError) as exc:
        if not devices.is_out_of_memory(exc):
            raise
        drop_out_of_memory(run)
    finally:
        memory.close()
        limiter.release()
    st.rerun()


def cannot_continue(run: runner.TrainingRun, message: str) -> None:
    """No slot or no memory for the run now: keep what a paused run has trained, else say why."""
    if run.history or run.cursor is not None:
        run.stop(recipes.STOP_STOPPED, "Paused training could not continue because the server is busy; "
                                  "the model trained so far is kept.")
        finish_run(run)
    else:
        st.session_state.pop(RUN, None)
        flash("warning", message)
    st.rerun()


@st.fragment
def settings_section(busy: bool) -> tuple[archspec.ArchSpec, recipes.TrainConfig, str | None]:
    """Architecture, layer table, training settings and the memory estimate. A widget here reruns only
    this section (issue 13): the results below are not rebuilt for a slider step. Returns the network,
    the config and why training is refused (None when it may start), as of this run."""
    spec, reason = architecture_section(keys, busy)
    config = hyperparameter_section(keys, busy)
    st.markdown("**Memory**")
    if reason is None:
        reason = tv.render_memory(spec, config)
    state.sync(TrainSettings)  # a fragment rerun skips the page's finish: keep the link current here
    return spec, config, reason


def controls(spec: archspec.ArchSpec, reason: str | None, busy: bool) -> None:
    """The device line and the Train/Stop buttons (outside the settings fragment: they start full runs).

    Their disabled state is as of the last full run; a click re-checks everything before training."""
    st.subheader("3 · Train")
    dev = tv.device()
    st.caption(f"Device: **{devices.device_text(dev)}** · at most {tv.job_limiter().capacity} training jobs run at "
               f"once on this server, each for at most {time_limit_from_env():g} s.")
    c1, c2, c3 = st.columns([1, 1, 3])
    c1.button("▶️ Train", type="primary", key="train.go", on_click=request_start, disabled=busy or reason is not None,
              help=reason or "Train this network with these settings.")
    c2.button("⏹️ Stop", key="train.stop", on_click=request_stop, disabled=not busy,
              help="End training now and keep the model trained so far.")
    has_conv = any(layer.kind == "conv" for layer in spec.layers)
    c3.button("⚖️ Same parameters: dense vs convolutional", key="train.compare", on_click=request_comparison,
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
run: runner.TrainingRun | None = st.session_state.get(RUN)
if run is not None and st.session_state.pop(STOP, False):
    st.session_state.pop(QUEUE, None)  # Stop ends a comparison too
    run.stop(recipes.STOP_STOPPED)
    finish_run(run)
    run = None
st.session_state.pop(STOP, None)
busy = run is not None or bool(st.session_state.get(START)) or bool(st.session_state.get(QUEUE))

spec, config, reason = settings_section(busy)
state.finish(current())
controls(spec, reason, busy)
if FLASH in st.session_state:
    kind, text = st.session_state.pop(FLASH)
    getattr(st, kind)(text)

with lower_priority():  # this script run's torch work yields the CPU to other students' requests
    queued = next_queued() if run is None else None
    if queued is not None or (st.session_state.pop(START, False) and run is None and reason is None):
        start_run(queued or spec, config)
        run = st.session_state.get(RUN)
        if run is None:
            st.rerun()
    if run is not None:
        train_live(run)

result = st.session_state.get(RESULT)
if result is not None:
    tv.results_section(result)
    render_export_panel(result, st.session_state[SPEC])  # torch-free panel; core.train.export loads on export
if st.session_state.get(RUNS):
    st.subheader("Your runs so far")
    st.caption("Every run of this session (only you see them). Compare parameters with test accuracy: the "
               "conv nets beat the dense ones with far fewer parameters.")
    tv.render_comparison(st.session_state[RUNS])
