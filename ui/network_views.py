"""Pictures and panels of the "Inside the network" page (numbers come from ``core.network``).

Layer pictures are RGB arrays shown with ``st.image`` (a PNG is far cheaper to build and send than a
plotly figure: the whole overview must redraw within 150 ms of server CPU); plotly is used where a student
clicks (the unit picker) or reads numbers (windows, kernels, probabilities, occlusion maps).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import network as nw
from ui.grid import Box, grid_figure, image_figure
from ui.text import literal

GAP = 2  # pixels between the tiles of a mosaic
TARGET_PX = 640  # overview pictures are about this wide before the browser scales them to fit
STRIP_COLS = 64  # a long vector is wrapped into rows of this many units
HIGHLIGHT = (250, 204, 21)  # the selected unit's outline (amber)
RF_COLOUR = (239, 68, 68)  # the receptive field's outline on the input (red)


# ---------------------------------------------------------------------------------------------
# Colours and mosaics (NumPy only)


def to_rgb(z: np.ndarray, signed: bool, bound: float | None = None) -> np.ndarray:
    """Values → uint8 RGB: grey (black = 0, white = the layer's max) or blue-white-red centred at 0.
    NaN (the gaps of a mosaic) becomes the page's light grey."""
    z = np.asarray(z, dtype=np.float32)
    finite = np.nan_to_num(z)
    if signed:
        b = bound or float(np.abs(finite).max()) or 1.0
        t = np.clip(finite / b, -1.0, 1.0)[..., None]
        white = np.float32(255)
        red, blue = np.array([220, 38, 38], np.float32), np.array([37, 99, 235], np.float32)
        rgb = np.where(t >= 0, white + t * (red - white), white - t * (blue - white))
    else:
        lo = 0.0 if float(finite.min()) >= 0 else float(finite.min())
        hi = bound or float(finite.max()) or 1.0
        g = np.clip((finite - lo) / ((hi - lo) or 1.0), 0, 1) * 255
        rgb = np.repeat(g[..., None], 3, axis=-1)
    rgb = np.where(np.isnan(z)[..., None], np.float32(226), rgb)
    return rgb.astype(np.uint8)


def mosaic_layout(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(tile rows, tile cols, tile h, tile w) for a layer: one tile per channel, or one strip."""
    if len(shape) == 3:
        c, h, w = shape
        cols = min(c, 8 if h >= 10 else 16)
        return -(-c // cols), cols, h, w
    n = shape[0]
    cols = min(n, STRIP_COLS)
    return 1, 1, -(-n // cols), cols


def mosaic(values: np.ndarray) -> np.ndarray:
    """(C, H, W) → one (rows·(H+gap), cols·(W+gap)) array of tiles; (N,) → rows of STRIP_COLS. Gaps NaN."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim == 1:
        _, _, h, w = mosaic_layout(v.shape)
        out = np.full(h * w, np.nan, np.float32)
        out[:v.size] = v
        return out.reshape(h, w)
    rows, cols, h, w = mosaic_layout(v.shape)
    out = np.full((rows * (h + GAP) - GAP, cols * (w + GAP) - GAP), np.nan, np.float32)
    for i, tile in enumerate(v):
        r, q = divmod(i, cols)
        out[r * (h + GAP):r * (h + GAP) + h, q * (w + GAP):q * (w + GAP) + w] = tile
    return out


def mosaic_cell(shape: tuple[int, ...], unit: tuple[int, ...]) -> tuple[int, int]:
    """Where a unit lies in ``mosaic``: (row, col) of the mosaic array."""
    if len(shape) == 1:
        return divmod(unit[0], mosaic_layout(shape)[3])
    _, cols, h, w = mosaic_layout(shape)
    tr, tq = divmod(unit[0], cols)
    return tr * (h + GAP) + unit[1], tq * (w + GAP) + unit[2]


def upscale(rgb: np.ndarray, target: int = TARGET_PX, most: int = 24) -> tuple[np.ndarray, int]:
    """Nearest-neighbour enlargement by a whole factor so the picture is about ``target`` px wide."""
    f = int(max(1, min(most, target // max(rgb.shape[1], 1))))
    return np.repeat(np.repeat(rgb, f, axis=0), f, axis=1), f


def outline(rgb: np.ndarray, r0: int, c0: int, r1: int, c1: int, colour: tuple[int, int, int], f: int) -> None:
    """Draw a rectangle around cells [r0..r1]×[c0..c1] of a picture enlarged ``f`` times (in place)."""
    t = max(1, f // 4)
    y0, x0, y1, x1 = r0 * f, c0 * f, (r1 + 1) * f - 1, (c1 + 1) * f - 1
    rgb[y0:y0 + t, x0:x1 + 1] = colour
    rgb[y1 - t + 1:y1 + 1, x0:x1 + 1] = colour
    rgb[y0:y1 + 1, x0:x0 + t] = colour
    rgb[y0:y1 + 1, x1 - t + 1:x1 + 1] = colour


def layer_picture(view: nw.LayerView, value: np.ndarray, unit: tuple[int, ...] | None = None) -> np.ndarray:
    """The overview's picture of one layer, scaled per layer, with the selected unit outlined."""
    rgb, f = upscale(to_rgb(mosaic(value), view.signed), most=12 if len(view.shape) == 3 else 40)
    if unit is not None:
        r, q = mosaic_cell(tuple(value.shape), unit)
        outline(rgb, r, q, r, q, HIGHLIGHT, f)
    return rgb


def input_picture(image: np.ndarray, box: tuple[int, int, int, int] | None, px: int = 280) -> np.ndarray:
    rgb, f = upscale(to_rgb(image, signed=False, bound=1.0), px)
    if box is not None:
        outline(rgb, box[0], box[1], box[2], box[3], RF_COLOUR, f)
    return rgb


# ---------------------------------------------------------------------------------------------
# The overview


def overview(views: Sequence[nw.LayerView], values: Mapping[str, np.ndarray], probs: np.ndarray,
             selected: str, unit: tuple[int, ...] | None) -> None:
    """Every layer in order, one picture each; the selected layer's unit outlined."""
    for view in views:
        left, right = st.columns([1, 3], vertical_alignment="center")
        shape = "×".join(str(n) for n in view.shape)
        left.markdown(f"**{literal(view.title)}**  \n`{shape}`")
        left.caption(view.caption)
        if view.key == "softmax":
            right.plotly_chart(prob_bars(probs), key="network.overview.softmax", config={"displayModeBar": False})
            continue
        value = values[view.output]
        right.image(layer_picture(view, value, unit if view.key == selected else None), output_format="PNG",
                    caption=_range_text(value))


def _range_text(value: np.ndarray) -> str:
    return f"min {float(value.min()):.3g} · max {float(value.max()):.3g}"


def prob_bars(probs: np.ndarray, title: str = "", other: np.ndarray | None = None,
              other_name: str = "") -> go.Figure:
    digits = [str(d) for d in range(10)]
    best = int(np.argmax(probs))
    fig = go.Figure()
    if other is not None:
        fig.add_bar(x=digits, y=other, name=other_name, marker_color="#cbd5e1")
    fig.add_bar(x=digits, y=probs, name="now", marker_color=["#2563eb" if d == best else "#94a3b8" for d in range(10)],
                text=[f"{p:.0%}" if p >= 0.01 else "" for p in probs], textposition="outside",
                hovertemplate="digit %{x}: %{y:.2%}<extra></extra>")
    fig.update_xaxes(type="category")
    fig.update_layout(height=220, margin={"l": 10, "r": 10, "t": 30 if title else 10, "b": 10}, barmode="group",
                      yaxis_range=[0, 1.15], yaxis_tickformat=".0%", showlegend=other is not None,
                      legend={"orientation": "h", "y": 1.15},
                      title={"text": title, "font": {"size": 14}} if title else None)
    return fig


# ---------------------------------------------------------------------------------------------
# The unit picker: a clickable picture of one layer


def clickable_layer(view: nw.LayerView, value: np.ndarray, unit: tuple[int, ...], key: str, on_select) -> None:
    """The layer's mosaic as a heatmap; a click on a cell selects that unit (plotly selection event)."""
    z = mosaic(value)
    r, q = mosaic_cell(tuple(value.shape), unit)
    fig = grid_figure(z, colorscale="RdBu_r" if view.signed else "gray", zmid=0 if view.signed else None,
                      boxes=[Box(r, q, r, q, "#f59e0b", 3)], cell_px=12, max_px=520,
                      hover="%{z:.4g}<extra>click to open</extra>")
    if view.signed:
        b = float(np.nanmax(np.abs(z))) or 1.0
        fig.update_traces(zmin=-b, zmax=b, selector={"type": "heatmap"})
    rows, cols = np.nonzero(~np.isnan(z))
    # Heatmap cells do not send selection events; an invisible marker on every cell does.
    fig.add_trace(go.Scattergl(x=cols, y=rows, mode="markers", marker={"size": 8, "opacity": 0.01},
                               hoverinfo="skip", showlegend=False))
    fig.update_layout(clickmode="event+select", dragmode=False)
    st.plotly_chart(fig, key=key, on_select=on_select, selection_mode="points",
                    config={"displayModeBar": False})


def unit_at(shape: tuple[int, ...], row: int, col: int) -> tuple[int, ...] | None:
    """Inverse of ``mosaic_cell``: the unit under a mosaic cell, None in a gap."""
    if len(shape) == 1:
        i = row * mosaic_layout(shape)[3] + col
        return (i,) if 0 <= i < shape[0] else None
    _, cols, h, w = mosaic_layout(shape)
    (tr, r), (tq, q) = divmod(row, h + GAP), divmod(col, w + GAP)
    c = tr * cols + tq
    return (c, r, q) if r < h and q < w and c < shape[0] else None


# ---------------------------------------------------------------------------------------------
# One unit's arithmetic


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def conv_detail(u: nw.ConvUnit, source_title: str, act: str) -> None:
    s = u.step
    order = np.argsort(-np.abs(u.per_channel), kind="stable")
    st.markdown(f"**Channel {u.channel}, row {u.row}, column {u.col}** reads a {s.kernel[0]}×{s.kernel[1]} "
                f"window of every one of the {len(u.per_channel)} channels of *{literal(source_title)}*, "
                f"multiplies it by this filter's kernel slice for that channel, and adds everything up.")
    if s.folded_bn:
        st.caption(f"The exporter folded batch norm {s.folded_bn} into this conv's kernel and bias, "
                   "so these are the weights the exported model really uses.")
    shown = [int(i) for i in order[:3]]
    for i in shown:
        c1, c2, c3 = st.columns(3)
        mask = ~u.inside
        text_w = np.where(mask, "pad", np.vectorize(_fmt)(u.window[i]))
        c1.plotly_chart(grid_figure(u.window[i], text=text_w, colorscale="gray", title=f"input ch {i}: window",
                                    cell_px=30, max_px=200, font_size=9), key=f"network.win{i}")
        c2.plotly_chart(grid_figure(u.kernel[i], text=np.vectorize(_fmt)(u.kernel[i]), colorscale="RdBu_r",
                                    zmid=0, title=f"kernel slice {i}", cell_px=30, max_px=200, font_size=9),
                        key=f"network.ker{i}")
        prod = u.window[i] * u.kernel[i]
        c3.plotly_chart(grid_figure(prod, text=np.vectorize(_fmt)(prod), colorscale="RdBu_r", zmid=0,
                                    title=f"× → sum {_fmt(u.per_channel[i])}", cell_px=30, max_px=200, font_size=9),
                        key=f"network.prod{i}")
    if len(order) > len(shown):
        st.caption(f"The {len(shown)} input channels that contribute most are shown; the table lists all "
                   f"{len(order)}.")
    st.dataframe({"input channel": [int(i) for i in order], "Σ window × kernel": [float(u.per_channel[i]) for i in order]},
                 hide_index=True, height=min(35 * len(order) + 38, 240))
    _equation(float(u.per_channel.sum()), len(u.per_channel), "channel sums", u.bias, u.pre, act, u.post,
              u.onnx_post)


def _equation(total: float, n: int, what: str, bias: float, pre: float, act: str, post: float, onnx: float) -> None:
    line = f"Σ of the {n} {what} = **{_fmt(total)}**, + bias {_fmt(bias)} = pre-activation **{_fmt(pre)}**"
    if act:
        line += f" → {act} → **{_fmt(post)}**"
    st.markdown(line)
    st.success(f"onnxruntime computed {_fmt(onnx)} for this unit: the same number (difference "
               f"{abs(post - onnx):.1e}, float rounding).", icon="✅")


def pool_detail(u: nw.PoolUnit) -> None:
    boxes = [] if u.winner is None else [Box(u.winner[0], u.winner[1], u.winner[0], u.winner[1], "#f59e0b", 4)]
    text = np.where(np.isnan(u.window), "pad", np.vectorize(_fmt)(np.nan_to_num(u.window)))
    c1, c2 = st.columns([1, 2], vertical_alignment="center")
    c1.plotly_chart(grid_figure(np.nan_to_num(u.window), text=text, colorscale="gray", boxes=boxes,
                                title=f"window of channel {u.channel}", cell_px=48, max_px=220),
                    key="network.poolwin")
    how = "the largest value wins (outlined)" if u.winner is not None else "the average of the window"
    c2.markdown(f"Pooling looks at one channel at a time: {how}. Result **{_fmt(u.value)}**.")
    c2.success(f"onnxruntime: {_fmt(u.onnx_value)}", icon="✅")


def dense_detail(u: nw.DenseUnit, source_title: str, act: str, k: int = 10) -> None:
    top = u.top(k)
    st.markdown(f"**Unit {u.unit}** multiplies each of the {len(u.inputs)} values of *{literal(source_title)}* "
                f"by its own weight and adds them up. The {len(top)} largest contributions (by size):")
    st.dataframe({
        "input": [nw.name_of_index(u.source_shape, i) for i in top],
        "value": [float(u.inputs[i]) for i in top],
        "weight": [float(u.weights[i]) for i in top],
        "value × weight": [float(u.contributions[i]) for i in top],
    }, hide_index=True)
    pos = float(u.contributions[u.contributions > 0].sum())
    neg = float(u.contributions[u.contributions < 0].sum())
    st.caption(f"All {len(u.inputs)} contributions: {_fmt(pos)} pushes up, {_fmt(neg)} pushes down.")
    _equation(float(u.contributions.sum()), len(u.inputs), "contributions", u.bias, u.pre, act, u.post, u.onnx_post)


def norm_detail(u: nw.NormUnit, act: str) -> None:
    st.markdown(f"Batch norm with the statistics remembered from training: (x − mean) / √(var + ε) × γ + β = "
                f"({_fmt(u.x)} − {_fmt(u.mean)}) / √({_fmt(u.var)} + {u.step.epsilon:g}) × {_fmt(u.scale)} + "
                f"{_fmt(u.shift)} = **{_fmt(u.pre)}**" + (f" → {act} → **{_fmt(u.post)}**" if act else ""))
    st.success(f"onnxruntime: {_fmt(u.onnx_post)}", icon="✅")


# ---------------------------------------------------------------------------------------------
# Softmax and loss


def softmax_table(sm: nw.SoftmaxSteps, label: int) -> None:
    onehot = nw.one_hot(label)
    st.dataframe({
        "digit": list(range(10)),
        "logit z": sm.logits.round(4),
        "z / T": sm.scaled.round(4),
        "e^(z/T − max)": sm.exps.round(5),
        "probability": sm.probs.round(5),
        "one-hot target": onehot.astype(int),
    }, hide_index=True)


def occlusion_figures(occ: nw.Occlusion, image: np.ndarray) -> tuple[go.Figure, go.Figure]:
    bound = float(np.abs(occ.drops).max()) or 1.0
    figs = []
    for i, c in enumerate(occ.classes):
        fig = image_figure(occ.drops[i], title=f"digit {c} (p = {occ.probs[c]:.1%})", diverging=True, max_px=300,
                           zmin=-bound, zmax=bound, show_scale=i == 1)
        # the digit's outline on top, so the map can be read against the strokes
        fig.add_contour(z=image, contours={"start": 0.5, "end": 0.5, "coloring": "none"}, showscale=False,
                        line={"color": "#111827", "width": 1}, hoverinfo="skip")
        figs.append(fig)
    return figs[0], figs[1]


def kernel_mosaic(kernels: np.ndarray, px: int = 360) -> np.ndarray:
    """(out, in, k, k) first-layer kernels (first input channel) as one blue-white-red picture."""
    k = np.asarray(kernels)[:, 0]
    return upscale(to_rgb(mosaic(k), signed=True), px, most=24)[0]


def template_mosaic(templates: np.ndarray, px: int = 560) -> np.ndarray:
    return upscale(to_rgb(mosaic(templates), signed=True), px, most=8)[0]
