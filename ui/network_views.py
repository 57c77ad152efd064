"""Pictures and panels of the "Inside the network" page (numbers come from ``core.infer.explain``).

Layer pictures are RGB arrays shown with ``st.image`` (a PNG is far cheaper to build and send than a
plotly figure: the whole overview must redraw within 150 ms of server CPU); plotly is used where a student
clicks (the unit picker) or reads numbers (windows, kernels, probabilities, occlusion maps).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import colours
from core.arch.budget import MemoryBudget, MemoryRefused
from core.infer import explain as nw
from core.infer import plan as layer_plan
from ui.grid import Box, grid_figure
from ui.pictures import enlarge, factor_for, png, tile
from ui.plot_click import cell_targets
from ui.text import literal

GAP = 2  # pixels between the tiles of a mosaic
TARGET_PX = 640  # overview pictures are about this wide before the browser scales them to fit
STRIP_COLS = 64  # a long vector is wrapped into rows of this many units
RF_COLOUR = (239, 68, 68)  # the receptive field's outline on the input (red)
NO_BAR = {"displayModeBar": False}  # small number grids: plotly's toolbar would cover them on a phone


# ---------------------------------------------------------------------------------------------
# Colours and mosaics (NumPy only)


def to_rgb(z: np.ndarray, signed: bool, bound: float | None = None, activation: bool = False) -> np.ndarray:
    """Values → uint8 RGB: blue-white-red centred at 0 (``signed``), the activation ramp (``activation``:
    palest 0, darkest the layer's max; core.colours) or grey (black 0, white the max: pictures).
    NaN (the gaps of a mosaic) becomes the page's light grey."""
    z = np.asarray(z, dtype=np.float32)
    finite = np.nan_to_num(z)
    if signed:
        b = bound or float(np.abs(finite).max()) or 1.0
        t = np.clip(finite / b, -1.0, 1.0)[..., None]
        white = np.float32(255)
        blue, _, red = (np.array(c, np.float32) for c in colours.lut(colours.SIGNED, 3))
        rgb = np.where(t >= 0, white + t * (red - white), white - t * (blue - white))
    else:
        lo = 0.0 if float(finite.min()) >= 0 else float(finite.min())
        hi = bound or float(finite.max()) or 1.0
        g = np.clip((finite - lo) / ((hi - lo) or 1.0), 0, 1) * 255
        rgb = (colours.lut(colours.ACTIVATION)[np.round(g).astype(np.intp)].astype(np.float32) if activation
               else np.repeat(g[..., None], 3, axis=-1))
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


def mosaic(values: np.ndarray, cols: int | None = None) -> np.ndarray:
    """(C, H, W) → one (rows·(H+gap), cols·(W+gap)) array of tiles; (N,) → rows of STRIP_COLS. Gaps NaN."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim == 1:
        _, _, h, w = mosaic_layout(v.shape)
        out = np.full(h * w, np.nan, np.float32)
        out[:v.size] = v
        return out.reshape(h, w)
    _, auto, _, _ = mosaic_layout(v.shape)
    return tile(v, cols or auto, GAP, np.nan)


def upscale(rgb: np.ndarray, target: int = TARGET_PX, most: int = 24) -> tuple[np.ndarray, int]:
    """Nearest-neighbour enlargement by a whole factor so the picture is about ``target`` px wide."""
    f = factor_for(rgb.shape[1], target, most)
    return enlarge(rgb, f), f


def outline(rgb: np.ndarray, r0: int, c0: int, r1: int, c1: int, colour: tuple[int, int, int], f: int) -> None:
    """Draw a rectangle around cells [r0..r1]×[c0..c1] of a picture enlarged ``f`` times (in place)."""
    t = max(1, f // 4)
    y0, x0, y1, x1 = r0 * f, c0 * f, (r1 + 1) * f - 1, (c1 + 1) * f - 1
    rgb[y0:y0 + t, x0:x1 + 1] = colour
    rgb[y1 - t + 1:y1 + 1, x0:x1 + 1] = colour
    rgb[y0:y1 + 1, x0:x0 + t] = colour
    rgb[y0:y1 + 1, x1 - t + 1:x1 + 1] = colour


def map_scale(views: Sequence[layer_plan.LayerView], values: Mapping[str, np.ndarray]) -> int:
    """One enlargement for every map (the input and each conv, activation and pooling layer): a pooled
    map is then drawn smaller than the map it pools, as it is. The widest mosaic sets it (~TARGET_PX)."""
    widths = [mosaic(values[v.output]).shape[1] for v in views if len(v.shape) == 3 and v.output in values]
    return factor_for(max(widths), TARGET_PX, 12) if widths else 1


def layer_picture(view: layer_plan.LayerView, value: np.ndarray, scale: int | None = None) -> np.ndarray:
    """The overview's picture of one layer: maps enlarged ``scale`` times (the same for every map), a dense
    strip to about TARGET_PX."""
    signed = view.signed and float(np.min(value)) < 0  # a map after a ReLU has no negatives: the ramp
    rgb = to_rgb(mosaic(value), signed, activation=view.key != "input")
    if scale is not None and value.ndim == 3:
        return enlarge(rgb, scale)
    return upscale(rgb, most=8 if view.key == "input" else 12 if len(view.shape) == 3 else 40)[0]


def input_picture(image: np.ndarray, box: tuple[int, int, int, int] | None, px: int = 280) -> np.ndarray:
    """The input, (H, W) grey or (H, W, 3) colour in 0..1, enlarged; ``box`` outlined in red."""
    colour = np.asarray(image).ndim == 3
    pixels = (np.clip(image, 0, 1) * 255).astype(np.uint8) if colour else to_rgb(image, signed=False, bound=1.0)
    rgb, f = upscale(pixels, px)
    if box is not None:
        outline(rgb, box[0], box[1], box[2], box[3], RF_COLOUR, f)
    return rgb


# ---------------------------------------------------------------------------------------------
# The overview


def overview(views: Sequence[layer_plan.LayerView], values: Mapping[str, np.ndarray], probs: np.ndarray,
             labels: Sequence[str] | None = None) -> None:
    """Every layer in order, one picture each (``labels``: class names of a model that does not read digits,
    shown literally); every map at one pixel scale."""
    scale = map_scale(views, values)
    for view in views:
        left, right = st.columns([1, 3], vertical_alignment="center")
        shape = "×".join(str(n) for n in view.shape)
        left.markdown(f"**{literal(view.title)}**  \n`{shape}`")
        left.caption(view.caption)
        if view.key == "softmax":
            top = np.argsort(-probs)[:3]
            right.image(png(upscale(to_rgb(mosaic(probs), signed=False, bound=1.0), most=40)[0]),
                        caption=("black 0 → white 1, digits 0–9 left to right; most likely: "
                                 + " · ".join(f"{d}: {probs[d]:.1%}" for d in top)) if labels is None else
                        ("black 0 → white 1, classes left to right as the model lists them; most likely: "
                         + " · ".join(f"{literal(labels[d], 40)}: {probs[d]:.1%}" for d in top)))
            continue
        value = values[view.output]
        right.image(png(layer_picture(view, value, scale)), caption=_range_text(value))


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


def pick_cols(shape: tuple[int, ...]) -> int:
    """Columns of the clickable picture: a conv map's width, or a wrapped strip of units."""
    if len(shape) == 3:
        return shape[2]
    return shape[0] if shape[0] <= 16 else 16 if shape[0] <= 256 else 32


def pick_grid(value: np.ndarray, channel: int) -> np.ndarray:
    """What the unit picker shows: one channel's map (H, W), or the units wrapped into rows (NaN-padded)."""
    if value.ndim == 3:
        return np.asarray(value[channel], np.float32)
    cols = pick_cols(value.shape)
    out = np.full(-(-value.size // cols) * cols, np.nan, np.float32)
    out[:value.size] = value
    return out.reshape(-1, cols)


def unit_at(shape: tuple[int, ...], channel: int, row: int, col: int) -> tuple[int, ...] | None:
    """The unit under cell (row, col) of ``pick_grid``; None outside the layer."""
    if len(shape) == 3:
        return (channel, row, col) if 0 <= row < shape[1] and 0 <= col < shape[2] else None
    i = row * pick_cols(shape) + col
    return (i,) if 0 <= col < pick_cols(shape) and 0 <= i < shape[0] else None


def row_ticks(ndim: int, rows: int, cols: int) -> dict:
    """A map's rows are numbered 0, 1, 2…; a strip's rows are labelled by the first unit they hold
    ("unit 16"), and a one-row strip needs no row label at all."""
    if ndim == 3:
        return {"showticklabels": rows <= 28, "tickmode": "linear", "tick0": 0, "dtick": 1 if rows <= 16 else 2}
    if rows == 1:
        return {"showticklabels": False}
    return {"showticklabels": True, "tickmode": "array", "tickvals": list(range(rows)),
            "ticktext": [f"unit {r * cols}" for r in range(rows)]}


def clickable_layer(value: np.ndarray, unit: tuple[int, ...], key: str, on_select) -> None:
    """One channel (or the strip of units) as a heatmap; clicking a cell selects that unit."""
    z = pick_grid(value, unit[0])
    rows, cols = z.shape
    signed = float(np.nanmin(z)) < 0
    bound = float(np.nanmax(np.abs(z))) or 1.0
    r, q = (unit[1], unit[2]) if value.ndim == 3 else divmod(unit[0], cols)
    fig = go.Figure(go.Heatmap(z=z, colorscale=colours.SIGNED_SCALE if signed else colours.ACTIVATION_SCALE, zmin=-bound if signed else 0,
                               zmax=bound, showscale=False, hoverinfo="skip"))
    yy, xx = np.nonzero(~np.isnan(z))
    # Heatmap cells send no selection events; a transparent marker on every cell does.
    fig.add_trace(cell_targets(yy, xx, size=max(6, min(28, 420 // cols)), customdata=z[yy, xx],
                               hovertemplate="row %{y}, col %{x}: %{customdata:.4g}<extra>click to open</extra>"))
    fig.add_shape(type="rect", x0=q - 0.5, x1=q + 0.5, y0=r - 0.5, y1=r + 0.5, line={"color": "#f59e0b", "width": 3})
    # Fixed ranges: the plot area is exactly the cells (markers would otherwise pad the axes).
    fig.update_yaxes(range=[rows - 0.5, -0.5], scaleanchor="x", constrain="domain", showgrid=False, zeroline=False,
                     fixedrange=True, **row_ticks(value.ndim, rows, cols))
    fig.update_xaxes(range=[-0.5, cols - 0.5], constrain="domain", showgrid=False, zeroline=False, side="top",
                     showticklabels=cols <= 28, fixedrange=True, tickmode="linear", tick0=0, dtick=1 if cols <= 16 else 2)
    fig.update_layout(height=int(min(560, max(120, 400 * rows / cols + 40))), margin={"l": 10, "r": 10, "t": 25, "b": 5},
                      clickmode="event+select", plot_bgcolor="rgba(0,0,0,0)")
    st.plotly_chart(fig, key=key, on_select=on_select, selection_mode="points", config={"displayModeBar": False})


# ---------------------------------------------------------------------------------------------
# One unit's arithmetic


def _fmt(v: float) -> str:
    return f"{v + 0.0:.4g}"  # + 0.0 turns −0 into 0


def channels_phrase(n: int) -> str:
    """"the only channel" / "every one of the 6 channels": a one-channel layer is not a plural."""
    return "the only channel" if n == 1 else f"every one of the {n} channels"


def conv_detail(u: nw.ConvUnit, source_title: str, act: str, shown: int) -> None:
    """The unit's arithmetic; ``shown`` is the input channel whose window and kernel slice are drawn."""
    s = u.step
    order = np.argsort(-np.abs(u.per_channel), kind="stable")
    st.markdown(f"**Channel {u.channel}, row {u.row}, column {u.col}** reads a {s.kernel[0]}×{s.kernel[1]} "
                f"window of {channels_phrase(len(u.per_channel))} of *{literal(source_title)}*, "
                f"multiplies it by this filter's kernel slice for that channel, and adds everything up.")
    if s.folded_bn:
        st.caption(f"The exporter folded batch norm {s.folded_bn} into this conv's kernel and bias, "
                   "so these are the weights the exported model really uses.")
    st.plotly_chart(window_figure(u, shown), key="network.window", config=NO_BAR)
    st.dataframe({"input channel": [int(c) for c in order], "Σ window × kernel": [float(u.per_channel[c]) for c in order]},
                 hide_index=True, height=min(35 * len(order) + 38, 240))
    _equation(float(u.per_channel.sum()), len(u.per_channel), "channel sums", u.bias, u.pre, act, u.post,
              u.onnx_post)


def window_figure(u: nw.ConvUnit, i: int) -> go.Figure:
    """Input window, kernel slice and their product for input channel ``i``, side by side in ONE figure
    (one plotly figure costs the server far less than three)."""
    k = u.kernel.shape[-1]
    prod = u.window[i] * u.kernel[i]
    panels = [(u.window[i], np.where(~u.inside, "pad", np.vectorize(_fmt)(u.window[i])), "gray", False,
               f"input ch {i}: window"),
              (u.kernel[i], np.vectorize(_fmt)(u.kernel[i]), colours.SIGNED_SCALE, True, f"× kernel slice {i}"),
              (prod, np.vectorize(_fmt)(prod), colours.SIGNED_SCALE, True, f"= products, sum {_fmt(u.per_channel[i])}")]
    fig = go.Figure()
    for n, (z, text, scale, signed, title) in enumerate(panels):
        x0 = n * (k + 1)  # one empty column between panels
        b = float(np.abs(z).max()) or 1.0
        fig.add_heatmap(z=z, x=np.arange(x0, x0 + k), y=np.arange(k), text=text, texttemplate="%{text}",
                        textfont={"size": 10 if k <= 3 else 8}, colorscale=scale, zmin=-b if signed else None,
                        zmax=b if signed else None, showscale=False, xgap=1, ygap=1, hoverinfo="skip")
        fig.add_annotation(x=x0 + (k - 1) / 2, y=-0.9, text=title, showarrow=False, font={"size": 12})
    fig.update_yaxes(range=[k - 0.5, -1.3], visible=False, scaleanchor="x")
    fig.update_xaxes(range=[-0.5, 3 * k + 1.5], visible=False, constrain="domain")
    fig.update_layout(height=60 + 48 * k, margin={"l": 5, "r": 5, "t": 5, "b": 5}, plot_bgcolor="rgba(0,0,0,0)")
    return fig


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
                    key="network.poolwin", config=NO_BAR)
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


def occlusion_pictures(occ: nw.Occlusion, image: np.ndarray, px: int = 280) -> tuple[bytes, bytes, float]:
    """Both drop maps as pictures on one shared blue-white-red scale, the digit's outline drawn on top
    (pictures, not plotly: this redraws on every stroke). Returns them and the scale's bound."""
    bound = float(np.abs(occ.drops).max()) or 1.0
    pics = []
    for drop in occ.drops:  # (H, W) each
        rgb, f = upscale(to_rgb(drop, signed=True, bound=bound), px)
        grey = np.asarray(image)
        grey = grey.mean(axis=-1) if grey.ndim == 3 else grey  # a colour photo: outline its bright parts
        ink = np.repeat(np.repeat(grey > 0.5, f, axis=0), f, axis=1)
        inner = ink.copy()
        inner[1:-1, 1:-1] &= ink[:-2, 1:-1] & ink[2:, 1:-1] & ink[1:-1, :-2] & ink[1:-1, 2:]
        rgb[ink & ~inner] = (17, 24, 39)  # a one-pixel outline of the strokes over the map
        pics.append(png(rgb))
    return pics[0], pics[1], bound


def kernel_mosaic(kernels: np.ndarray, px: int = 360) -> bytes:
    """(out, in, k, k) first-layer kernels (first input channel) as one blue-white-red picture."""
    k = np.asarray(kernels)[:, 0]
    return png(upscale(to_rgb(mosaic(k, cols=8), signed=True), px, most=24)[0])


def template_mosaic(templates: np.ndarray, px: int = 560) -> bytes:
    return png(upscale(to_rgb(mosaic(templates, cols=5), signed=True), px, most=8)[0])


def admitted(budget: MemoryBudget, what: str, nbytes: int, compute):
    """``compute()`` holding ``nbytes`` of the server's memory budget; None, with the refusal shown in
    words, when the server cannot give them now."""
    try:
        with budget.admit(what, nbytes):
            return compute()
    except MemoryRefused as exc:
        st.warning(literal(exc), icon="🧠")
        return None


def prediction(image: np.ndarray, probs: np.ndarray, label: int | None, card) -> None:
    """The page's verdict: a digit model's answer beside the digit it read, or the class names' verdict."""
    from ui import image_picker as ti
    if not card.reads_digits:  # clothing or photos: the model's class names (a sidecar's text: literal)
        ti.verdict(probs, card.labels, label)
        return
    digit = int(np.argmax(probs))
    verdict = "" if label is None else (" ✓" if digit == label else f" ✗ (label {label})")
    c1, c2 = st.columns([1, 1])
    c1.image(png(input_picture(image, None, 168)), caption="What the network reads (28×28)")
    c2.markdown(f"<div style='font-size:4.5rem;font-weight:700;line-height:1'>{digit}</div>", unsafe_allow_html=True)
    c2.markdown(f"**Prediction: {digit}**{verdict}  \n" +
                " · ".join(f"**{d}** {probs[d]:.1%}" for d in np.argsort(-probs)[:3]))
