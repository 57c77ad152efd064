"""The training page's heavier pieces: layer table, custom-layer editor, live curves, confusion matrix,
galleries, kernels and activation maps, run comparison. Imports torch (via core.train.loop): only the
training page imports this module, after checking that torch is installed."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.lessons import conv_layer
from core.data import mnist as cdata
from core.data import registry as cds
from core.arch import spec as archspec
from core.train import convnet
from core.arch import layer_table as lt
from core.arch import recipes
from core.train import devices
from core.train import loop
from core.train import runner
from core.train import tensors
from core.arch.jobs import JobLimiter
from ui.pictures import enlarge
from ui.plot_click import clicked_cell

# ---------------------------------------------------------------------------------------------
# Server-wide and process-wide resources


@st.cache_resource(show_spinner=False)
def job_limiter() -> JobLimiter:
    """One limiter for the whole server process: every session shares it."""
    return JobLimiter()


@st.cache_resource(show_spinner=False)
def device():
    return devices.pick_device()


@st.cache_resource(show_spinner=False)
def test_set(_device, device_name: str, dataset: str = "shipped5k"):
    """The dataset's official test set as uint8 tensors (read-only, shared by all sessions; ``evaluate``
    normalises each batch)."""
    return tensors.test_tensors(_device, dataset=dataset)


def test_digits(dataset: str = "shipped5k") -> tuple[np.ndarray, np.ndarray]:
    """The raw test images (N, H, W) or (N, H, W, 3) and labels: read-only arrays the loader caches."""
    test = cds.load_test(dataset)
    return test.images, test.labels


# ---------------------------------------------------------------------------------------------
# Architecture: layer table and custom editor


def layer_dataframe(rows: Sequence[lt.LayerRow], activation: str = "relu") -> pd.DataFrame:
    act = archspec.ACTIVATIONS.get(activation, activation)
    return pd.DataFrame({
        "layer": [r.name for r in rows],
        "what": [r.label + (f" → {act}" if r.activation else "") for r in rows],
        "output shape": [r.shape_text for r in rows],
        "parameters": [f"{r.params:,}" if r.kind != "input" else "" for r in rows],
        "multiply-adds": [f"{r.macs:,}" if r.macs else ("" if r.kind == "input" else "0") for r in rows],
        "receptive field": [r.rf_text if r.out_shape is not None else "" for r in rows],
        "training memory per image": [r.memory_text if r.kept_values else "" for r in rows],
        "how the shape follows": [r.reason or r.formula for r in rows],
    })


def render_layer_table(spec: archspec.ArchSpec, in_shape: tuple[int, int, int] = archspec.INPUT_SHAPE) -> str | None:
    """Draw the layer table, totals and the formula expander; returns the reason the stack is impossible."""
    rows = lt.layer_table(spec, in_shape)
    reason = lt.table_reason(rows)
    st.dataframe(layer_dataframe(rows, spec.activation), hide_index=True, width="stretch",
                 column_config={"how the shape follows": st.column_config.TextColumn(width="large")})
    if reason:
        st.error(f"This stack cannot be built: {reason}", icon="🚫")
        return reason
    params, macs = sum(r.params for r in rows), sum(r.macs for r in rows)
    c1, c2, c3 = st.columns(3)
    c1.metric("Parameters", f"{params:,}")
    c2.metric("Multiply-adds per image", f"{macs:,}")
    last_rf = [r for r in rows if r.rf is not None and r.kind in ("conv", "pool")]
    c3.metric("Largest receptive field (conv/pool)", last_rf[-1].rf_text if last_rf else "none (no conv)")
    with st.expander("How each output shape follows from the formula"):
        st.markdown(
            f"Conv and pooling layers: ${conv_layer.general_formula()}$ per axis; the "
            "receptive field grows by $(k-1)\\times$ the product of the strides before the layer. The "
            "flatten size is computed, not typed in: it is what the dense layer after it is built with."
        )
        for r in rows[1:]:
            if r.formula_latex:
                st.markdown(f"**{r.name}** ({r.label}): input {r.in_shape} → output {r.shape_text}")
                st.latex(r.formula_latex[-1])
            elif r.formula:
                st.markdown(f"**{r.name}** ({r.label}): {r.formula}")
    return None


def render_memory(spec: archspec.ArchSpec, config: recipes.TrainConfig) -> str | None:
    """The job's memory estimate against this server's budget; returns the refusal when it does not fit."""
    est = recipes.memory_estimate(spec, config)
    budget = config.memory_mb * lt.MB
    c1, c2 = st.columns([1, 3])
    c1.metric("Training memory (estimate)", lt.format_bytes(est.total))
    c2.caption(f"Estimated from the layer table before training: {lt.format_bytes(est.total)} ≈ {est.text()} "
               "(what autograd keeps per image × the batch size, gradients in flight, parameters with their "
               "gradients and optimizer state, the images, one evaluation batch on top). This server gives one "
               f"training job at most {lt.format_bytes(budget)}; evaluation batches of {est.eval_batch} fit it.")
    reason = recipes.memory_reason(spec, config)
    if reason:
        st.error(reason, icon="🧠")
    return reason


EDITOR_COLUMNS = ("kind", "channels / units", "kernel / window", "stride", "padding", "pool", "dropout p")


def layers_to_rows(layers: Sequence[archspec.LayerSpec]) -> list[dict[str, Any]]:
    """Spec layers → rows of the custom editor (one column per setting; unused ones left blank)."""
    out = []
    for layer in layers:
        row: dict[str, Any] = {c: None for c in EDITOR_COLUMNS}
        row["kind"] = layer.kind
        if layer.kind == "conv":
            row.update({"channels / units": layer.out_channels, "kernel / window": layer.kernel,
                        "stride": layer.effective_stride, "padding": layer.padding})
        elif layer.kind == "pool":
            row.update({"kernel / window": layer.size, "stride": layer.effective_stride, "pool": layer.mode})
        elif layer.kind == "dense":
            row["channels / units"] = layer.units
        elif layer.kind == "dropout":
            row["dropout p"] = layer.p
        out.append(row)
    return out


def _int(value: Any, default: int) -> int:
    try:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return default
        return int(value)
    except (TypeError, ValueError):
        return default


def rows_to_layers(rows: Sequence[dict[str, Any]]) -> tuple[archspec.LayerSpec, ...]:
    """Editor rows → spec layers; blank cells get sensible defaults for the row's kind."""
    layers = []
    for row in rows:
        kind = row.get("kind")
        if not kind or (isinstance(kind, float) and math.isnan(kind)):
            continue
        size = row.get("channels / units")
        k = row.get("kernel / window")
        if kind == "conv":
            layers.append(archspec.conv(_int(size, 16), _int(k, 3), _int(row.get("stride"), 1), _int(row.get("padding"), 0)))
        elif kind == "pool":
            window = _int(k, 2)
            mode = row.get("pool") if row.get("pool") in archspec.POOL_MODES else "max"
            layers.append(archspec.pool(window, _int(row.get("stride"), window), mode))
        elif kind == "dense":
            layers.append(archspec.dense(_int(size, 64)))
        elif kind == "dropout":
            p = row.get("dropout p")
            layers.append(archspec.dropout(0.25 if p is None or (isinstance(p, float) and math.isnan(p)) else float(p)))
        elif kind == "batchnorm":
            layers.append(archspec.batchnorm())
        elif kind == "flatten":
            layers.append(archspec.LayerSpec("flatten"))
    return tuple(layers)


def render_custom_editor(key_prefix: str, base_layers: Sequence[archspec.LayerSpec], disabled: bool) -> tuple[archspec.LayerSpec, ...]:
    """A spreadsheet of layers: add rows at the bottom, delete with the row checkbox, edit any cell."""
    st.caption(
        "One row per layer. **conv**: channels, kernel, stride, padding. **pool**: window, stride, max/avg. "
        "**dense**: units. **dropout**: p. **batchnorm** normalises the layer above it. Flattening and the "
        "final 10-unit output layer are added for you. Add a row with **+** at the bottom; select rows "
        "and press the bin to delete them."
    )
    frame = pd.DataFrame(layers_to_rows(base_layers), columns=list(EDITOR_COLUMNS))
    edited = st.data_editor(
        frame, key=f"{key_prefix}.editor", num_rows="dynamic", hide_index=True, width="stretch", placeholder="—",
        disabled=disabled,
        column_config={
            "kind": st.column_config.SelectboxColumn(options=list(archspec.LAYER_KINDS), required=True, default="conv"),
            "channels / units": st.column_config.NumberColumn(min_value=1, max_value=archspec.MAX_UNITS, step=1),
            "kernel / window": st.column_config.NumberColumn(min_value=1, max_value=archspec.MAX_KERNEL, step=1),
            "stride": st.column_config.NumberColumn(min_value=1, max_value=archspec.MAX_POOL, step=1),
            "padding": st.column_config.NumberColumn(min_value=0, max_value=archspec.MAX_PADDING, step=1),
            "pool": st.column_config.SelectboxColumn(options=list(archspec.POOL_MODES)),
            "dropout p": st.column_config.NumberColumn(min_value=0.0, max_value=0.95, step=0.05),
        },
    )
    return rows_to_layers(edited.to_dict("records"))


# ---------------------------------------------------------------------------------------------
# Curves


def curves_figure(history: Sequence[runner.EpochRecord], batch_log: Sequence[tuple[float, float]],
                  epochs: int | None = None) -> go.Figure:
    """Loss (left) and accuracy (right) per epoch, training and validation, plus the per-batch loss."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss (cross-entropy)", "Accuracy"))
    if batch_log:
        xs, ys = zip(*batch_log)
        fig.add_trace(go.Scatter(x=list(xs), y=list(ys), mode="lines", name="training loss (each batch)",
                                 line={"color": "rgba(37,99,235,0.25)", "width": 1}), 1, 1)
    ep = [h.epoch for h in history]
    fig.add_trace(go.Scatter(x=ep, y=[h.train_loss for h in history], mode="lines+markers",
                             name="training loss (epoch mean)", line={"color": "#2563eb"}), 1, 1)
    if any(h.val_loss is not None for h in history):
        fig.add_trace(go.Scatter(x=ep, y=[h.val_loss for h in history], mode="lines+markers",
                                 name="validation loss", line={"color": "#ea580c"}), 1, 1)
    fig.add_trace(go.Scatter(x=ep, y=[100 * h.train_acc for h in history], mode="lines+markers",
                             name="training accuracy", line={"color": "#2563eb", "dash": "dot"}), 1, 2)
    if any(h.val_acc is not None for h in history):
        fig.add_trace(go.Scatter(x=ep, y=[100 * (h.val_acc or 0) for h in history], mode="lines+markers",
                                 name="validation accuracy", line={"color": "#ea580c", "dash": "dot"}), 1, 2)
    top = max(1, epochs or 0, math.ceil(ep[-1]) if ep else 1)
    fig.update_xaxes(title_text="epoch", range=[0, top * 1.02])
    fig.update_yaxes(title_text="loss", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="%", row=1, col=2)
    fig.update_layout(height=330, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    return fig


# ---------------------------------------------------------------------------------------------
# Confusion matrix and galleries


def confusion_figure(confusion: np.ndarray, selected: tuple[int, int] | None = None) -> go.Figure:
    """Rows = true digit, columns = predicted digit; off-diagonal counts on a log-ish colour scale."""
    z = confusion.astype(float)
    colour = np.log1p(z)  # keeps the rare mistakes visible next to ~1,000 correct ones
    fig = go.Figure(go.Heatmap(
        z=colour, x=list(range(10)), y=list(range(10)), colorscale="Blues", showscale=False,
        text=confusion.astype(int), texttemplate="%{text}", customdata=z,
        hovertemplate="true %{y}, predicted %{x}: %{customdata:.0f} digits<extra></extra>", xgap=1, ygap=1,
    ))
    rows, cols = np.divmod(np.arange(100), 10)
    fig.add_trace(go.Scatter(
        x=cols, y=rows, mode="markers", marker={"size": 30, "opacity": 0.01, "symbol": "square"},
        customdata=np.stack([rows, cols], 1), showlegend=False,
        hovertemplate="true %{y}, predicted %{x}: click to see these digits<extra></extra>",
    ))
    if selected is not None:
        t, p = selected
        fig.add_shape(type="rect", x0=p - 0.5, x1=p + 0.5, y0=t - 0.5, y1=t + 0.5,
                      line={"color": "#dc2626", "width": 3})
    fig.update_yaxes(range=[9.5, -0.5], title_text="true digit", dtick=1, scaleanchor="x", constrain="domain",
                     showgrid=False, zeroline=False)
    fig.update_xaxes(range=[-0.5, 9.5], title_text="predicted digit", dtick=1, side="top", constrain="domain",
                     showgrid=False, zeroline=False)
    fig.update_layout(height=460, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def top3_caption(probs: np.ndarray, label: int) -> str:
    """E.g. "true 4 → 9: 84%\n4: 14%\n7: 1%": one guess a line, so narrow gallery columns never run into
    each other (they did on one line: "84% · 4: 14%83% · 4: 11%")."""
    order = np.argsort(probs)[::-1][:3]
    first, *rest = (f"{d}: {100 * probs[d]:.0f}%" for d in order)
    return "\n".join([f"true {label} → {first}", *rest])


def render_gallery(indices: np.ndarray, result: loop.EvalResult, per_row: int = 6, empty: str = "",
                   dataset: str = "shipped5k") -> None:
    """Test digits with the model's top-3 probabilities under each."""
    if len(indices) == 0:
        st.info(empty or "No digits here.")
        return
    images, _ = test_digits(dataset)
    for start in range(0, len(indices), per_row):
        cols = st.columns(per_row)
        for col, i in zip(cols, indices[start:start + per_row]):
            caption = top3_caption(result.probabilities[i], int(result.labels[i]))
            col.image(enlarge(np.asarray(images[i], np.uint8), 3), caption=caption, width=84)


def cell_indices(result: loop.EvalResult, true: int, pred: int, limit: int = 24) -> np.ndarray:
    """Test digits with this (true, predicted) pair, the model's most confident first."""
    idx = np.flatnonzero((result.labels == true) & (result.predictions == pred))
    conf = result.probabilities[idx, pred]
    return idx[np.argsort(-conf, kind="stable")][:limit]


def worst_errors(result: loop.EvalResult, limit: int = 24) -> np.ndarray:
    """Misclassified test digits, the most confidently wrong first (lowest probability of the truth)."""
    idx = np.flatnonzero(result.labels != result.predictions)
    p_true = result.probabilities[idx, result.labels[idx]]
    return idx[np.argsort(p_true, kind="stable")][:limit]


# ---------------------------------------------------------------------------------------------
# Kernels and activation maps


def montage(maps: np.ndarray, per_row: int, gap: int = 1) -> np.ndarray:
    """(K, H, W) → one (rows·(H+gap), cols·(W+gap)) image with NaN gaps (drawn transparent)."""
    k, h, w = maps.shape
    cols = min(per_row, k)
    rows = math.ceil(k / cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for i in range(k):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = maps[i]
    return out


def maps_figure(maps: np.ndarray, per_row: int, diverging: bool, title: str, px_per_cell: int = 6,
                max_width: int = 900) -> go.Figure:
    """One small image per channel, laid out in a grid (values normalised per figure)."""
    img = montage(maps, per_row)
    h, w = img.shape
    scale = max(2, min(px_per_cell, max_width // max(1, w)))
    if diverging:
        bound = float(np.nanmax(np.abs(img))) or 1.0
        heat = go.Heatmap(z=img, colorscale="RdBu_r", zmin=-bound, zmax=bound, showscale=False,
                          hovertemplate="%{z:.3f}<extra></extra>")
    else:
        heat = go.Heatmap(z=img, colorscale="Viridis", showscale=False, hovertemplate="%{z:.3f}<extra></extra>")
    fig = go.Figure(heat)
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x", constrain="domain")
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_layout(height=int(h * scale) + 40, width=int(w * scale) + 20, title={"text": title, "font": {"size": 13}},
                      margin={"l": 5, "r": 5, "t": 30, "b": 5}, plot_bgcolor="rgba(0,0,0,0)")
    return fig



# ---------------------------------------------------------------------------------------------
# Comparison of this session's runs


def run_summary(result: runner.TrainResult, number: int) -> dict[str, Any]:
    cfg = result.config
    return {
        "run": number,
        "architecture": result.spec.title,
        "parameters": result.params,
        "multiply-adds": lt.count_macs(result.spec),
        "epochs": round(result.epochs_trained, 2),
        "training images": result.data_description.split(": ")[-1].split(" training")[0],
        "optimizer": f"{recipes.OPTIMIZERS[cfg.optimizer]}, lr {cfg.lr:g}" + (", aug" if cfg.augment else ""),
        "train time (s)": round(result.seconds, 1),
        "test accuracy (%)": None if result.test is None else round(100 * result.test.accuracy, 2),
        "ended": result.stopped_reason,
    }


def render_comparison(runs: Sequence[dict[str, Any]]) -> None:
    frame = pd.DataFrame(list(runs))
    st.dataframe(frame, hide_index=True, width="stretch", column_config={
        "parameters": st.column_config.NumberColumn(format="localized"),
        "multiply-adds": st.column_config.NumberColumn(format="localized"),
        "test accuracy (%)": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.2f%%"),
    })


# ---------------------------------------------------------------------------------------------
# Results of a finished run


def results_section(result: runner.TrainResult) -> None:
    st.subheader("4 · Results")
    st.caption(f"{result.spec.title} · {result.data_description} · {result.device} · "
               f"{recipes.OPTIMIZERS[result.config.optimizer]}, lr {result.config.lr:g}, batch {result.config.batch_size}"
               f"{', augmented' if result.config.augment else ''}")
    st.plotly_chart(curves_figure(result.history, result.batch_log, result.config.epochs), key="train.curves")
    test = result.test
    if test is None:
        st.info("There is no test accuracy for this run: " + result.message)
        return
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Test accuracy (10,000 digits)", f"{100 * test.accuracy:.2f}%")
    c2.metric("Test mistakes", f"{int((test.labels != test.predictions).sum()):,}")
    c3.metric("Parameters", f"{result.params:,}")
    c4.metric("Training time", f"{result.seconds:.1f} s")
    st.markdown("**Accuracy per digit**")
    per_class = {str(d): f"{100 * a:.1f}%" for d, a in enumerate(test.per_class)}
    st.dataframe([per_class], hide_index=True)
    confusion_view(test, result.config.dataset)
    st.markdown("#### Most confident mistakes")
    st.caption("Test digits the model got wrong, the ones where it gave the true digit the least probability "
               "first. Under each: the true digit and the model's top three guesses.")
    render_gallery(worst_errors(test), test, empty="No mistakes at all on the test set.",
                   dataset=result.config.dataset)
    kernels_view(result)


def _take_cm_click() -> None:
    cell = clicked_cell(st.session_state.get("train.cm_chart"))
    if cell is not None:
        st.session_state["train.cm_true"], st.session_state["train.cm_pred"] = cell


def confusion_view(test: loop.EvalResult, dataset: str = "shipped5k") -> None:
    st.markdown("#### Confusion matrix")
    st.caption("Row = the true digit, column = the model's answer; the diagonal is right, everything else is a "
               "mistake. Click a cell (or pick it below) to see those digits.")
    if "train.cm_true" not in st.session_state:
        off = test.confusion - np.diag(np.diag(test.confusion))
        t, p = np.unravel_index(int(np.argmax(off)), off.shape)
        st.session_state["train.cm_true"], st.session_state["train.cm_pred"] = int(t), int(p)
    left, right = st.columns([1, 1])
    with right:
        a, b = st.columns(2)
        true = a.selectbox("True digit", range(10), key="train.cm_true")
        pred = b.selectbox("Predicted digit", range(10), key="train.cm_pred")
        count = int(test.confusion[true, pred])
        st.markdown(f"**{count} test digit{'s' if count != 1 else ''}** labelled {true}, "
                    f"classified as {pred}{' (correct)' if true == pred else ''}:")
        render_gallery(cell_indices(test, true, pred, limit=18), test, per_row=6, dataset=dataset,
                          empty="The model never made this choice.")
    with left:
        st.plotly_chart(confusion_figure(test.confusion, (true, pred)), key="train.cm_chart",
                        on_select=_take_cm_click, selection_mode="points", config={"displayModeBar": False})


def kernels_view(result: runner.TrainResult) -> None:
    weights = convnet.first_conv_weight(result.model)
    st.markdown("#### What the convolutions learned")
    if weights is None:
        st.info("This network has no convolution layer, so there are no kernels or feature maps to show: every "
                "unit looks at all 784 pixels at once.")
        return
    st.caption(f"The {weights.shape[0]} kernels of the first conv layer (blue negative, red positive). Each "
               "one slides over the digit; below, what every conv layer makes of the digit you pick.")
    st.plotly_chart(maps_figure(weights[:, 0], per_row=16, diverging=True, px_per_cell=12,
                                   title=f"conv1 kernels ({weights.shape[2]}×{weights.shape[3]})"),
                    key="train.kernels", config={"displayModeBar": False})
    dataset = result.config.dataset
    c1, c2, c3 = st.columns([1, 1, 4])
    digit = c1.selectbox("Test digit", range(10), key="train.act_digit")
    which = c2.number_input("Example number", 0, 99, 0, key="train.act_index")
    image = cdata.sample_digit(cds.load_test(dataset), digit, int(which))
    probs, acts = tensors.activations_for(result.model, image, device(), dataset)
    with c3:
        st.image(enlarge(np.asarray(image, np.uint8), 4), width=112,
                 caption=f"model says {int(np.argmax(probs))} ({100 * probs.max():.0f}%)")
    for label, act in zip(lt.activation_labels(result.spec), acts):
        st.plotly_chart(maps_figure(act, per_row=16, diverging=False,
                                       title=f"{label} + {archspec.ACTIVATIONS[result.spec.activation]}: "
                                             f"{act.shape[0]} feature maps of {act.shape[1]}×{act.shape[2]}"),
                        key=f"train.acts.{label}", config={"displayModeBar": False})
