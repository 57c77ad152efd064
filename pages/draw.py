"""Draw a digit: a trained CNN reads your handwriting, and you see every step it takes (no torch here)."""

import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

import random

import numpy as np
from PIL import Image

from core import share
from core.data import load_test
from core.inference import LoadedModel, ModelEntry, ModelRefused, list_models, load_model
from core.model_card import sidecar_path
from core.network_link import digit_link
from core.predict import Prediction, classify
from core.preprocess import Steps
from ui import state
from ui.errors import shipped_data
from ui.export_panel import session_token
from ui.grid import image_figure
from ui.text import literal

PAGE = "draw"
CANVAS_PX = 280
STEP_LABELS = {
    "invert": ("Auto-invert", "Dark ink on a light background is inverted: MNIST digits are white on black."),
    "crop": ("Crop to the ink", "Cut away the empty canvas around the digit."),
    "fit": ("Scale to 20 px", "Scale the longer side to 20 px, keeping the aspect ratio (off: squash to 28×28)."),
    "center": ("Centre by mass", "Shift so the centre of mass sits at the centre of the 28×28 frame."),
}


@st.cache_resource(show_spinner=False, max_entries=16)
def _model(path: str, size: int, mtime_ns: int) -> LoadedModel:
    return load_model(path)  # size/mtime are only part of the cache key: a changed file is revalidated


def _schema(shipped: list[str]) -> tuple[share.Param, ...]:
    return (
        share.ChoiceParam("m", shipped[0] if shipped else "", label="model", choices=tuple(shipped)),
        share.ChoiceParam("src", "draw", label="input", choices=("draw", "test")),
        share.IntParam("w", 22, lo=4, hi=48, label="stroke width"),
        share.ChoiceParam("ink", "white", label="ink colour", choices=("white", "black")),
        share.BoolParam("invert", True, label="auto-invert"),
        share.BoolParam("crop", True, label="crop"),
        share.BoolParam("fit", True, label="scale to 20 px"),
        share.BoolParam("center", True, label="centre by mass"),
        share.IntParam("t", 0, lo=0, hi=9999, label="test digit"),
    )


def _pick_model(entries: list[ModelEntry]) -> ModelEntry | None:
    usable = [e for e in entries if e.card is not None]
    keys = [e.path.stem if e.source == "shipped" else f"session/{e.path.stem}" for e in usable]
    k = state.wkey(PAGE, "m")
    if st.session_state.get(k) not in keys and keys:
        st.session_state[k] = keys[0]
    labels = dict(zip(keys, (e.label for e in usable)))
    if state.is_classroom():  # the teacher's model
        choice = st.session_state.get(k)
    else:
        choice = st.selectbox("Model", keys, format_func=labels.get, key=k,
                              help="Shipped models, plus any model you trained and exported in this session.")
    broken = [e for e in entries if e.card is None]
    if broken:
        st.warning("Some model files were skipped:\n\n" + "\n".join(f"- {e.problem}" for e in broken))
    return usable[keys.index(choice)] if choice in keys else None


def _model_facts(model: LoadedModel) -> None:
    card = model.card
    with st.expander(f"About **{card.title}**: {card.test_accuracy:.2%} on the 10,000 test digits"):
        t = card.training
        parity = "not recorded" if card.parity_max_abs_diff is None else f"{card.parity_max_abs_diff:.1e}"
        st.markdown(
            f"- **Architecture**: {card.architecture.get('title', card.name)}, {card.params:,} parameters; "
            f"conv layers: {', '.join(a.layer for a in card.activations) or 'none'}\n"
            f"- **Trained on**: {card.dataset}\n"
            f"- **Training**: {t.get('optimizer')} lr {t.get('lr')}, batch {t.get('batch_size')}, "
            f"{t.get('epochs_trained', t.get('epochs'))} epochs, seed {t.get('seed')}, "
            f"augmentation: {t.get('augmentation', 'none')}\n"
            f"- **File**: {model.path.name}, {model.size_bytes / 1024:.0f} KB, ONNX opset {card.opset}, "
            f"{card.exporter}, SHA-256 `{card.sha256[:16]}…`\n"
            f"- **Parity**: onnxruntime vs torch max |Δ logits| = {parity}\n"
            f"- **Input**: (N, 1, 28, 28), x = (pixel/255 − {card.mean}) / {card.std}; created {card.created}"
        )
        if card.notes:
            st.caption(card.notes)
        # Callables: the bytes are read only when a download is clicked, not on every redraw.
        d1, d2 = st.columns(2)
        d1.download_button("⬇️ Model (.onnx)", model.path.read_bytes, file_name=model.path.name,
                           mime="application/octet-stream", key="draw.dl_onnx")
        d2.download_button("⬇️ Sidecar (.json)", sidecar_path(model.path).read_bytes,
                           file_name=sidecar_path(model.path).name, mime="application/json", key="draw.dl_json")


def _pen_controls() -> tuple[int, str]:
    """Stroke width and ink colour (a classroom link keeps the teacher's)."""
    if state.is_classroom():
        return state.get(PAGE, "w"), state.get(PAGE, "ink")
    c1, c2 = st.columns(2)
    width = c1.slider("Stroke width", 4, 48, key=state.wkey(PAGE, "w"))
    ink = c2.radio("Ink", ["white", "black"], horizontal=True, key=state.wkey(PAGE, "ink"),
                   format_func={"white": "white on black", "black": "black on white"}.get)
    return width, ink


def _step_toggles() -> dict[str, bool]:
    """The preprocessing switches; a classroom link shows which are on instead of offering them."""
    if state.is_classroom():
        flags = {field: bool(state.get(PAGE, field)) for field in STEP_LABELS}
        on = [title.lower() for field, (title, _) in STEP_LABELS.items() if flags[field]]
        st.markdown(f"**Preprocessing steps**: {', '.join(on) if on else 'none'} (set by your teacher's link)")
        return flags
    st.markdown("**Preprocessing steps** (switch one off to see why it is there)")
    toggles = st.columns(4)
    return {field: toggles[i].toggle(title, key=state.wkey(PAGE, field), help=help_)
            for i, (field, (title, help_)) in enumerate(STEP_LABELS.items())}


def _canvas_image(width: int, ink: str) -> np.ndarray | None:
    from streamlit_drawable_canvas import st_canvas  # only inside a running page (0.13 needs the runtime)

    n = st.session_state.setdefault("draw.canvas_n", 0)
    paper, pen = ("#000000", "#FFFFFF") if ink == "white" else ("#FFFFFF", "#000000")
    st.caption("Draw one digit with the mouse; the prediction updates each time you lift the pen.")
    result = st_canvas(stroke_width=width, stroke_color=pen, background_color=paper, height=CANVAS_PX,
                       width=CANVAS_PX, drawing_mode="freedraw", return_image_data=True, key=f"draw.canvas.{n}")
    if st.button("🧽 Clear", key="draw.clear"):
        st.session_state["draw.canvas_n"] = n + 1
        st.rerun()
    return result.image_data


def _random_test_digit() -> None:
    st.session_state[state.wkey(PAGE, "t")] = random.randrange(len(load_test()))


def _test_digit() -> tuple[np.ndarray, int]:
    with shipped_data():
        test = load_test()
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    index = c1.number_input("Test digit number (0–9999)", 0, len(test) - 1, step=1, key=state.wkey(PAGE, "t"))
    c2.button("🎲 Another", on_click=_random_test_digit, key="draw.random")
    image = test.images[int(index)]
    st.image(_big(image / 255.0, CANVAS_PX), caption=f"Official MNIST test digit #{index}: labelled {test.labels[index]}",
             output_format="PNG")
    return image, int(test.labels[index])


def _big(image: np.ndarray, px: int) -> np.ndarray:
    """Nearest-neighbour upscale so each pixel of a small image stays a crisp square."""
    h, w = image.shape
    scale = max(1, px // max(h, w))
    return np.kron(np.clip(image, 0, 1), np.ones((scale, scale), dtype=np.float32))


def _show_prediction(pred: Prediction, label: int | None) -> None:
    if pred.digit is None:
        st.markdown("<div style='font-size:7rem;line-height:1;color:#bbb'>?</div>", unsafe_allow_html=True)
        st.info(f"No digit: {pred.pre.reason}", icon="✏️")
        return
    verdict = "" if label is None else (" ✓" if pred.digit == label else f" ✗ (label {label})")
    st.markdown(f"<div data-testid='draw-prediction' style='font-size:7rem;font-weight:700;line-height:1'>"
                f"{pred.digit}</div>", unsafe_allow_html=True)
    st.markdown(f"**Prediction: {pred.digit}**{verdict}")
    st.markdown("Top 3: " + " · ".join(f"**{d}** {p:.1%}" for d, p in pred.top(3)))
    st.caption(f"⏱ preprocessing {pred.preprocess_ms:.2f} ms + inference {pred.inference_ms:.2f} ms "
               f"= {pred.total_ms:.2f} ms (onnxruntime, one thread)")


def _prob_chart(pred: Prediction) -> None:
    import plotly.graph_objects as go

    probs = pred.probs if pred.probs is not None else np.zeros(10)
    colors = ["#2563eb" if d == pred.digit else "#94a3b8" for d in range(10)]
    fig = go.Figure(go.Bar(x=[str(d) for d in range(10)], y=probs, marker_color=colors,
                           text=[f"{p:.0%}" if p >= 0.01 else "" for p in probs], textposition="outside",
                           hovertemplate="digit %{x}: %{y:.2%}<extra></extra>"))
    fig.update_xaxes(type="category", tickmode="array", tickvals=[str(d) for d in range(10)])
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis_range=[0, 1.12],
                      yaxis_tickformat=".0%", title={"text": "Probability of each digit", "font": {"size": 14}})
    st.plotly_chart(fig, key="draw.probs")


def _steps_panel(image: np.ndarray, model: LoadedModel, steps: Steps, pred: Prediction) -> None:
    st.subheader("From your drawing to the model's 28×28 input")
    pre = pred.pre
    shown = [(pre.gray, "1. grayscale" + (", inverted" if pre.inverted else "")),
             (pre.cropped, "2. cropped" if steps.crop else "2. (not cropped)"),
             (pre.scaled, f"3. scaled to {pre.scaled.shape[1]}×{pre.scaled.shape[0]}"),
             (pre.placed, "4. pasted in 28×28"),
             (pre.image, f"5. centred by mass, shift {pre.shift}" if steps.center else "5. (not centred)")]
    cols = st.columns(len(shown))
    for col, (img, caption) in zip(cols, shown):
        col.image(_fit_display(img), caption=caption, clamp=True, width=140, output_format="PNG")
    st.markdown("**What if a step were skipped?** (everything else as set above)")
    rows = []
    for field, (title, _) in STEP_LABELS.items():
        alt = Steps(**{**steps.__dict__, field: not getattr(steps, field)})
        try:
            other = classify(model, image, alt)
            what = f"{other.digit} ({other.probs[other.digit]:.0%})" if other.digit is not None else "no digit"
        except ModelRefused:
            what = "nothing: the model fails on that input"
        now = getattr(steps, field)
        rows.append({"step": title, "now": "on" if now else "off",
                     "if you switch it": f"{'off' if now else 'on'} → the model says {what}"})
    st.dataframe(rows, hide_index=True, width="stretch")


def _fit_display(img: np.ndarray, px: int = 140) -> np.ndarray:
    """Show any step's image in the same px×px square: scaled to fit, letterboxed in grey so the image's
    own shape (e.g. the tall crop of a "1") stays visible."""
    h, w = img.shape
    if max(h, w) >= px:
        small = Image.fromarray(np.ascontiguousarray(img, np.float32)).resize(
            (max(1, round(w * px / max(h, w))), max(1, round(h * px / max(h, w)))), Image.Resampling.BOX)
        img = np.clip(np.asarray(small), 0, 1)
    else:
        img = _big(img, px)
    out = np.full((px, px), 0.35, dtype=np.float32)
    top, left = (px - img.shape[0]) // 2, (px - img.shape[1]) // 2
    out[top:top + img.shape[0], left:left + img.shape[1]] = img
    return out


def _feature_maps(pred: Prediction, model: LoadedModel) -> None:
    st.subheader("Feature maps: what each conv layer detects in your digit")
    if not model.card.activations:
        st.info("This model has no convolution layers, so there are no feature maps to show.")
        return
    if pred.digit is None:
        st.caption("Draw a digit to see its feature maps.")
        return
    st.caption("Each small square is one filter's output (after ReLU): bright where the filter's pattern "
               "appears. Up to 16 filters per layer; brightness is scaled per layer.")
    tabs = st.tabs([a.layer for a in model.card.activations])
    for tab, act in zip(tabs, model.card.activations):
        fmap = pred.activations[act.name]  # (C, H, W)
        tab.image(_mosaic(fmap[:16]), caption=f"{act.name}: {fmap.shape[0]} channels of {fmap.shape[1]}×{fmap.shape[2]}",
                  clamp=True, output_format="PNG")


def _mosaic(maps: np.ndarray, cols: int = 8, tile_px: int = 84) -> np.ndarray:
    """(C, H, W) → one image of up to ``cols`` tiles per row, 2-px gaps, scaled by the layer's maximum."""
    c, h, w = maps.shape
    scale = max(1, tile_px // max(h, w))
    tiles = np.kron(maps / (float(maps.max()) or 1.0), np.ones((scale, scale), dtype=np.float32))
    rows = -(-c // cols)
    th, tw = tiles.shape[1:]
    out = np.full((rows * (th + 2), min(c, cols) * (tw + 2)), 0.25, dtype=np.float32)
    for i, tile in enumerate(tiles):
        r, q = divmod(i, cols)
        out[r * (th + 2):r * (th + 2) + th, q * (tw + 2):q * (tw + 2) + tw] = tile
    return out


def main() -> None:
    st.title("✏️ Draw a digit")
    st.caption("Draw a digit: a trained CNN (run with onnxruntime) reads it as you draw. See how your "
               "drawing is turned into the 28×28 image the network was trained on, and what its filters see.")
    token = session_token()
    entries = list_models(token)  # a few small JSON files: read fresh, so a new export shows at once
    shipped = [e.path.stem for e in entries if e.source == "shipped" and e.card is not None]
    schema = _schema(shipped)
    values = state.start(PAGE, schema)
    entry = _pick_model(entries)
    if entry is None:
        st.error("No usable model: run `python -m scripts.train_shipped_models` to create the shipped ones.")
        return
    try:
        stat = entry.path.stat()
        model = _model(str(entry.path), stat.st_size, stat.st_mtime_ns)
    except (ModelRefused, OSError) as exc:
        st.error(f"This model cannot be used: {exc}")
        return
    _model_facts(model)

    left, right = st.columns([1, 1], gap="large")
    with left:
        src = st.radio("Input", ["draw", "test"], horizontal=True, key=state.wkey(PAGE, "src"),
                       format_func={"draw": "✏️ Draw", "test": "🔢 A real test digit"}.get)
        label = None
        if src == "draw":
            width, ink = _pen_controls()
            image = _canvas_image(width, ink)
            if image is None:
                image = np.zeros((CANVAS_PX, CANVAS_PX, 4), np.uint8)
        else:
            image, label = _test_digit()
    flags = _step_toggles()
    steps = Steps(**flags)
    try:
        pred = classify(model, image, steps, activations=True)
    except ModelRefused as exc:  # the model fails on this input (onnxruntime error, NaN/inf outputs)
        st.error(f"This model cannot be used: {literal(exc)}")
        return
    with right:
        c1, c2 = st.columns([1, 1])
        with c1:
            _show_prediction(pred, label)
        with c2:
            st.plotly_chart(image_figure(pred.pre.image, title="What the model sees (28×28)", max_px=220,
                                         zmin=0, zmax=1, show_scale=False), key="draw.seen")
        _prob_chart(pred)
    if not pred.pre.empty:
        _steps_panel(image, model, steps, pred)
    _feature_maps(pred, model)
    if pred.digit is not None:
        st.page_link("pages/network.py", icon="🔬", label="Inside the network: every layer and unit for this digit",
                     query_params=digit_link(pred.pre.image, entry.path.stem if entry.source == "shipped" else ""))
    current = {**values, **flags, "src": src, "t": int(state.get(PAGE, "t")),
               "w": state.get(PAGE, "w"), "ink": state.get(PAGE, "ink"),
               "m": entry.path.stem if entry.source == "shipped" else (shipped[0] if shipped else "")}
    state.share_box(state.finish(PAGE, schema, current))


main()
