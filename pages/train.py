"""Train a CNN: pick or build an architecture, read its layer table, train it live, then look inside.

Training runs inside the script run and updates the page a few times a second. Any click (the Stop
button, or leaving the page) interrupts the run at its next page update; the model, its place in the
epoch and the history live in ``st.session_state``, so the next run of the script either stops the
training and keeps the partial model (Stop) or carries on where it was (any other interaction).
"""

import os
import time

import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

st.title("🏋️ Train a CNN")
try:
    import torch  # noqa: F401  (checked here so an inference-only install explains itself)
except ImportError:
    st.error("Training needs PyTorch: `pip install -r requirements.txt`", icon="📦")
    st.stop()

from core import data as cdata  # noqa: E402
from core import models as cm  # noqa: E402
from core import share  # noqa: E402
from core import training as ct  # noqa: E402
from core.jobs import job_memory_from_env, lower_priority, time_limit_from_env  # noqa: E402
from ui import state  # noqa: E402
from ui import train_views as tv  # noqa: E402

PAGE = "train"
ARCH_CHOICES = cm.PRESET_KEYS + ("custom",)
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
TRAIN_SIZES = tuple(str(n) for n in ct.TRAIN_SIZES) + ("all",)
LAYERS = cm.LayersParam("layers", cm.PRESETS["lenet5"].layers, "custom layers")  # the custom network
SCHEMA = (
    share.ChoiceParam("arch", "lenet5", "architecture", choices=ARCH_CHOICES),
    share.ChoiceParam("act", "relu", "activation", choices=tuple(cm.ACTIVATIONS)),
    share.ChoiceParam("opt", "adam", "optimizer", choices=tuple(ct.OPTIMIZERS)),
    share.FloatParam("lr", 2e-3, "learning rate", lo=1e-6, hi=100.0),
    share.ChoiceParam("bs", "128", "batch size", choices=tuple(str(b) for b in BATCH_SIZES)),
    share.IntParam("ep", 10, "epochs", lo=1, hi=50),
    share.IntParam("seed", 0, "seed", lo=0, hi=99_999),
    share.BoolParam("aug", False, "augmentation"),
    share.ChoiceParam("sch", "constant", "learning-rate schedule", choices=tuple(ct.SCHEDULES)),
    share.ChoiceParam("data", "shipped5k", "dataset", choices=tuple(ct.DATASETS)),
    LAYERS,
    share.ChoiceParam("n", "all", "training images", choices=TRAIN_SIZES),
)
RUN, RESULT, SPEC, RUNS = "train.run", "train.result", "train.spec", "train.runs"
START, STOP, FLASH = "train._start", "train._stop", "train._flash"
QUEUE = "train._queue"  # networks still to train after this run (the dense-vs-conv comparison)
CUSTOM = "train._custom_layers"  # the layers the custom editor starts from (its edits live in the editor)
EDITOR = "train._custom.editor"
UI_EVERY_S = 0.3  # progress-bar updates (and interrupt points) at most this often
CHART_EVERY_S = 1.0  # mid-epoch curve redraws (the first one right after the first batch)


def key(name: str) -> str:
    return state.wkey(PAGE, name)


def flash(kind: str, text: str) -> None:
    """A message that survives the st.rerun() after training ends."""
    st.session_state[FLASH] = (kind, text)


def apply_recommended() -> None:
    """Preset changed (or the button): load that preset's recommended hyperparameters."""
    arch = st.session_state.get(key("arch"), "lenet5")
    cfg = ct.RECOMMENDED.get(arch)
    if cfg is None:
        return
    st.session_state[key("opt")] = cfg.optimizer
    st.session_state[key("lr")] = cfg.lr
    st.session_state[key("bs")] = str(cfg.batch_size)
    st.session_state[key("ep")] = cfg.epochs
    st.session_state[key("aug")] = cfg.augment
    st.session_state[key("sch")] = cfg.schedule


def use_optimizer_default_lr() -> None:
    """Optimizer changed: start from its own usual learning rate (Adadelta's is 500× Adam's)."""
    st.session_state[key("lr")] = ct.DEFAULT_LR[st.session_state[key("opt")]]


def request_start() -> None:
    st.session_state[START] = True


def request_comparison(spec: cm.ArchSpec) -> None:
    """Train ``spec`` and a dense network with about as many parameters, one after the other."""
    st.session_state[QUEUE] = [spec, cm.matched_dense(cm.count_params(spec))]


def next_queued() -> cm.ArchSpec | None:
    queue = st.session_state.get(QUEUE) or []
    return queue.pop(0) if queue else None


def request_stop() -> None:
    st.session_state[STOP] = True


# ---------------------------------------------------------------------------------------------
# Settings


def custom_base() -> tuple[cm.LayerSpec, ...]:
    """The layers the custom editor starts from. Its edits live in its own widget state, relative to
    this base; when that state is gone (the editor was not drawn last run) or the linked layers were
    changed from outside the editor (a share link, "Start from"), the base becomes the linked layers."""
    if EDITOR not in st.session_state or state.changed_since_last_run(PAGE, LAYERS):
        st.session_state[CUSTOM] = tuple(st.session_state[key("layers")])
        st.session_state.pop(EDITOR, None)
    return st.session_state[CUSTOM]


def remember_custom(layers: tuple[cm.LayerSpec, ...]) -> None:
    """What the link carries next: the custom layers as now edited."""
    st.session_state[key("layers")] = layers


def custom_section(busy: bool, classroom: bool) -> cm.ArchSpec:
    base = custom_base()
    if classroom:  # the teacher's network, as the link describes it: shown in the table, not editable
        layers, activation = base, st.session_state[key("act")]
        st.caption(f"The network from your teacher's link ({cm.ACTIVATIONS[activation]} activations).")
    else:
        left, right = st.columns([3, 1])
        with right:
            activation = st.selectbox("Activation", tuple(cm.ACTIVATIONS), key=key("act"), disabled=busy,
                                      format_func=cm.ACTIVATIONS.get)
            start_from = st.selectbox("Start from", cm.PRESET_KEYS, index=None, placeholder="a preset…",
                                      key="train._start_from", disabled=busy,
                                      format_func=lambda k: cm.PRESETS[k].title)
            if start_from is not None:
                remember_custom(cm.PRESETS[start_from].layers)  # custom_base rebuilds the editor from it
                del st.session_state["train._start_from"]
                st.rerun()
        with left:
            layers = tv.render_custom_editor("train._custom", base, busy)
    remember_custom(layers)
    return cm.ArchSpec("custom", "Custom network", layers, activation=activation, note="Your own stack of layers.")


def architecture_section(busy: bool) -> tuple[cm.ArchSpec, str | None]:
    """The network picker (read-only in a classroom link: the teacher chose it), its note, its table."""
    st.subheader("1 · Architecture")
    classroom = state.is_classroom()
    custom_label = "Your teacher's network" if classroom else "Custom (edit the layers yourself)"
    # A classroom picker offers the teacher's choice only: "Your teacher's network" is the teacher's own
    # stack, never a label on some other network.
    choices = (st.session_state[key("arch")],) if classroom else ARCH_CHOICES
    arch = st.selectbox(
        "Network", choices, key=key("arch"), on_change=apply_recommended, disabled=busy or classroom,
        format_func=lambda k: custom_label if k == "custom" else cm.PRESETS[k].title,
        help="Chosen by your teacher's link." if classroom else None,
    )
    if arch == "custom":
        spec = custom_section(busy, classroom)
    else:
        remember_custom(custom_base())  # keep the session's custom network in the link
        spec = cm.PRESETS[arch]
        st.caption(spec.note)
    reason = tv.render_layer_table(spec)
    return spec, reason


def dataset_controls(busy: bool, classroom: bool) -> str:
    cached = cdata.full_mnist_cached()
    if classroom:
        return st.session_state[key("data")] if cached else "shipped5k"
    choice = st.radio("Training digits", tuple(ct.DATASETS), key=key("data"), format_func=ct.DATASETS.get,
                      disabled=busy, horizontal=True)
    if not cached:
        if choice == "full60k":
            st.warning("Full MNIST is not downloaded yet: training uses the 5,000 shipped digits until it is.")
        if st.button("⬇️ Download full MNIST (60,000 digits, about 10 MB)", disabled=busy, key="train._download"):
            download_full_mnist()
    return choice if cached else "shipped5k"


def download_full_mnist() -> None:
    bar = st.progress(0.0, text="Connecting…")

    def progress(name: str, got: int, total: int) -> None:
        bar.progress(min(1.0, got / total) if total else 0.0, text=f"{name}: {got / 1e6:.1f} MB")

    try:
        cdata.download_full_mnist(progress=progress)
    except cdata.DataError as exc:
        bar.empty()
        st.error(str(exc), icon="📡")
        return
    bar.progress(1.0, text="Downloaded and verified.")
    st.rerun()


def hyperparameter_section(busy: bool) -> ct.TrainConfig:
    st.subheader("2 · Training settings")
    classroom = state.is_classroom()
    if classroom:
        epochs = st.columns([1, 2])[0].slider("Epochs", 1, 50, key=key("ep"), disabled=busy)
        optimizer, lr, batch, seed, schedule, augment = (st.session_state[key(n)] for n in
                                                         ("opt", "lr", "bs", "seed", "sch", "aug"))
        st.caption(f"Set by your teacher's link: {ct.OPTIMIZERS[optimizer]}, learning rate {lr:g}, batch {batch}, "
                   f"{ct.SCHEDULES[schedule]} schedule, seed {seed}, augmentation {'on' if augment else 'off'}, "
                   f"training images: {st.session_state[key('n')]}.")
    else:
        c1, c2, c3, c4 = st.columns(4)
        optimizer = c1.selectbox("Optimizer", tuple(ct.OPTIMIZERS), key=key("opt"), format_func=ct.OPTIMIZERS.get,
                                 disabled=busy, on_change=use_optimizer_default_lr)
        lr = c2.number_input("Learning rate", min_value=1e-6, max_value=100.0, key=key("lr"), format="%.5f",
                             step=5e-4, disabled=busy,
                             help="Adam/AdamW: about 0.001–0.005. SGD: about 0.01–0.1. Adadelta: about 1.0.")
        batch = c3.select_slider("Batch size", tuple(str(b) for b in BATCH_SIZES), key=key("bs"), disabled=busy)
        epochs = c4.slider("Epochs", 1, 50, key=key("ep"), disabled=busy)
        c5, c6, c7, c8 = st.columns(4)
        seed = c5.number_input("Seed", 0, 99_999, step=1, key=key("seed"), disabled=busy,
                               help="Same seed, same settings → the same curves (on the CPU).")
        schedule = c6.selectbox("Learning-rate schedule", tuple(ct.SCHEDULES), key=key("sch"),
                                format_func=ct.SCHEDULES.get, disabled=busy)
        augment = c7.toggle("Augment (small shifts and rotations)", key=key("aug"), disabled=busy)
        st.select_slider("Training images", TRAIN_SIZES, key=key("n"), disabled=busy,
                         help="Fewer training images: the training accuracy keeps rising while the validation "
                              "accuracy stalls — overfitting. Try 1000 for 20 epochs.")
        c8.button("Use recommended settings", on_click=apply_recommended, disabled=busy or
                  st.session_state.get(key("arch")) == "custom", key="train._recommended")
    if warning := ct.lr_warning(optimizer, float(lr)):
        st.warning(warning, icon="⚠️")
    dataset = dataset_controls(busy, classroom)
    cfg = ct.RECOMMENDED.get(st.session_state.get(key("arch")), ct.TrainConfig())
    n = st.session_state[key("n")]
    subset = os.environ.get("CONVLAB_TRAIN_SUBSET", "").strip()
    return ct.TrainConfig(
        optimizer=optimizer, lr=float(lr), batch_size=int(batch), epochs=int(epochs), seed=int(seed),
        augment=bool(augment), schedule=schedule, dataset=dataset, time_limit_s=time_limit_from_env(),
        weight_decay=cfg.weight_decay, label_smoothing=cfg.label_smoothing,
        subset=int(subset) if subset.isdigit() else None, memory_mb=job_memory_from_env(),
        train_size=None if n == "all" else int(n),
    )


# ---------------------------------------------------------------------------------------------
# Running


def start_run(spec: cm.ArchSpec, config: ct.TrainConfig) -> None:
    try:
        dev = tv.device()
        st.session_state[RUN] = ct.TrainingRun(spec, config, dev, test=tv.test_set(dev, str(dev)))
    except (ValueError, cdata.DataError) as exc:
        st.session_state.pop(QUEUE, None)
        flash("error", str(exc))
    except (RuntimeError, MemoryError) as exc:
        if not ct.is_out_of_memory(exc):
            raise
        st.session_state.pop(QUEUE, None)
        flash("error", ct.OUT_OF_MEMORY_MESSAGE)


def drop_out_of_memory(run: ct.TrainingRun) -> None:
    """An allocation failed mid-job: forget the run (its memory goes with it) so no rerun retries it."""
    for name in (RUN, START, QUEUE):
        st.session_state.pop(name, None)
    run.stop(ct.STOP_STOPPED, ct.OUT_OF_MEMORY_MESSAGE)
    flash("error", ct.OUT_OF_MEMORY_MESSAGE)


def finish_run(run: ct.TrainingRun, slot_held: bool = False) -> None:
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


def train_live(run: ct.TrainingRun) -> None:
    """Advance the run epoch by epoch, drawing progress and curves; any click interrupts it here."""
    limiter = tv.job_limiter()
    if not limiter.try_acquire():
        if run.history or run.cursor is not None:
            run.stop(ct.STOP_STOPPED, "Paused training could not continue because the server is busy; "
                                      "the model trained so far is kept.")
            finish_run(run)
        else:
            st.session_state.pop(RUN, None)
            flash("warning", limiter.busy_message())
        st.rerun()
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
        if not ct.is_out_of_memory(exc):
            raise
        drop_out_of_memory(run)
    finally:
        limiter.release()
    st.rerun()


def controls(spec: cm.ArchSpec, config: ct.TrainConfig, reason: str | None, busy: bool) -> str | None:
    """The memory estimate, the device line and the Train/Stop buttons; returns why training is refused."""
    st.subheader("3 · Train")
    if reason is None:
        reason = tv.render_memory(spec, config)
    dev = tv.device()
    st.caption(f"Device: **{ct.device_text(dev)}** · at most {tv.job_limiter().capacity} training jobs run at "
               f"once on this server, each for at most {time_limit_from_env():g} s.")
    c1, c2, c3 = st.columns([1, 1, 3])
    c1.button("▶️ Train", type="primary", key="train.go", on_click=request_start, disabled=busy or reason is not None,
              help=reason or "Train this network with these settings.")
    c2.button("⏹️ Stop", key="train.stop", on_click=request_stop, disabled=not busy,
              help="End training now and keep the model trained so far.")
    has_conv = any(layer.kind == "conv" for layer in spec.layers)
    c3.button("⚖️ Same parameters: dense vs convolutional", key="train.compare", on_click=request_comparison,
              args=(spec,), disabled=busy or reason is not None or not has_conv,
              help="Trains this network, then a dense network with one hidden layer and about as many "
                   "parameters, with the same settings; both land in the runs table below." if has_conv else
                   "Choose a network with convolution layers to compare it with a dense one.")
    return reason


# ---------------------------------------------------------------------------------------------
# Results (the views live in ui.train_views)


def export_section(result: ct.TrainResult, spec: cm.ArchSpec) -> None:
    try:
        from ui.export_panel import render_export_panel
    except ModuleNotFoundError:
        return
    render_export_panel(result, spec)


# ---------------------------------------------------------------------------------------------
# The page


state.start(PAGE, SCHEMA)
run: ct.TrainingRun | None = st.session_state.get(RUN)
if run is not None and st.session_state.pop(STOP, False):
    st.session_state.pop(QUEUE, None)  # Stop ends a comparison too
    run.stop(ct.STOP_STOPPED)
    finish_run(run)
    run = None
st.session_state.pop(STOP, None)
busy = run is not None or bool(st.session_state.get(START)) or bool(st.session_state.get(QUEUE))

st.markdown("Choose a network, check its shapes and cost layer by layer, train it on real MNIST digits and "
            "watch the curves, then look at what it gets wrong and what its kernels see.")
spec, reason = architecture_section(busy)
config = hyperparameter_section(busy)
params = state.finish(PAGE, SCHEMA, {
    "arch": st.session_state[key("arch")], "act": st.session_state[key("act")], "opt": config.optimizer,
    "lr": config.lr, "bs": str(config.batch_size), "ep": config.epochs, "seed": config.seed,
    "aug": config.augment, "sch": config.schedule, "data": st.session_state[key("data")],
    "layers": st.session_state[key("layers")], "n": st.session_state[key("n")],
})
reason = controls(spec, config, reason, busy)
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
    export_section(result, st.session_state[SPEC])
if st.session_state.get(RUNS):
    st.subheader("Your runs so far")
    st.caption("Every run of this session (only you see them). Compare parameters with test accuracy: the "
               "conv nets beat the dense ones with far fewer parameters.")
    tv.render_comparison(st.session_state[RUNS])
state.share_box(params)
