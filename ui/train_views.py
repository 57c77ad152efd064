"""The Train page's views before and during training: server-wide resources (job limiter, device,
test set), the layer table and memory estimate, the custom-layer editor, the live curves."""

from __future__ import annotations

import math
from typing import Any, Sequence
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots
from core.lessons import conv_layer
from core.data import registry as cds
from core.arch import spec as archspec
from core.arch import layer_table as lt
from core.arch import recipes
from core.train import convnet, devices
from core.train import runner
from core.train import tensors
from core.arch.jobs import JobLimiter


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
        "memory per image": [r.memory_text if r.kept_values else "" for r in rows],
    })


def render_layer_table(spec: archspec.ArchSpec, in_shape: tuple[int, int, int] = archspec.INPUT_SHAPE) -> str | None:
    """Draw the layer table, totals and the formula expander; returns the reason the stack is impossible."""
    rows = lt.layer_table(spec, in_shape)
    reason = lt.table_reason(rows)
    # Seven short columns fit a 1280 px page; how each shape follows is in the expander below, and on a
    # phone the table scrolls sideways (the caption says so)
    st.dataframe(layer_dataframe(rows, spec.activation), hide_index=True, width="stretch")
    st.caption("One row per layer; on a narrow screen the table scrolls sideways.")
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


@st.cache_data(show_spinner=False, max_entries=64)
def initial_kernels(spec: archspec.ArchSpec, in_shape: tuple[int, int, int], seed: int, init: str,
                    sigma: float) -> np.ndarray | None:
    """The first conv layer's kernels (out, in, k, k) as training will start them, or None without conv."""
    return convnet.first_conv_weight(convnet.seeded_model(spec, in_shape, seed, init, sigma))
