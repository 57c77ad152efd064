"""The Draw page's settings, model picker and views (the page itself only routes; no torch here).

Text from a model's sidecar or file name is a stranger's text for a model trained in this session (its
sidecar was written from what a student typed), so it is shown through ``ui.text.literal``; shipped
models' cards are ConvLab's own files.
"""

from __future__ import annotations

from dataclasses import dataclass, make_dataclass
from functools import lru_cache

import numpy as np
import streamlit as st
from PIL import Image

from core.infer.runtime import LoadedModel, ModelEntry
from core.infer.model_card import sidecar_path
from core.infer.predict import Prediction
from core.infer.preprocess import Steps
from core.links.settings import Settings, choice, flag, integer
from ui import state
from ui.canvas import CANVAS_PX  # noqa: F401  (pages show a test digit at the canvas's size)
from ui.pictures import enlarge, png_data_uri, tile
from ui.text import literal, literal_code

SEEN_PX = 224  # the 28×28 input drawn 8× (one crisp square per pixel, no gaps)
STEP_LABELS = {
    "invert": ("Auto-invert", "Dark ink on a light background is inverted: MNIST digits are white on black."),
    "crop": ("Crop to the ink", "Cut away the empty canvas around the digit."),
    "fit": ("Scale to 20 px", "Scale the longer side to 20 px, keeping the aspect ratio (off: squash to 28×28)."),
    "center": ("Centre by mass", "Shift so the centre of mass sits at the centre of the 28×28 frame."),
}
STEPS_BUTTON = "⚙️ Preprocessing steps"  # the popover above the canvas that holds their switches
SOURCES = {"draw": "✏️ Draw", "test": "🔢 A real test digit"}
INKS = {"white": "white on black", "black": "black on white"}
SESSION_MODEL_NOTE = ("This link opens the default model: models you trained are kept for this browser only, "
                      "so a link cannot carry them.")


@dataclass(frozen=True)
class DrawSettings(Settings, page="draw"):
    # The shipped models are only known at run time (tests repoint the folder): ``settings_for`` derives
    # the class whose ``m`` lists them. A model trained in this session is never a setting (see the page).
    m: str = choice("", ("",), label="model", hidden=True)
    src: str = choice("draw", SOURCES, label="input")
    w: int = integer(22, lo=4, hi=48, label="stroke width", hidden=True)
    ink: str = choice("white", INKS, label="ink colour", hidden=True)
    invert: bool = flag(True, label="auto-invert", hidden=True)
    crop: bool = flag(True, label="crop", hidden=True)
    fit: bool = flag(True, label="scale to 20 px", hidden=True)
    center: bool = flag(True, label="centre by mass", hidden=True)
    t: int = integer(0, lo=0, hi=9999, label="test digit")

    def steps(self) -> Steps:
        return Steps(invert=self.invert, crop=self.crop, fit=self.fit, center=self.center)

    def pen(self) -> tuple[str, str]:
        """(paper, pen) colours of the canvas."""
        return ("#000000", "#FFFFFF") if self.ink == "white" else ("#FFFFFF", "#000000")


@lru_cache(maxsize=8)
def _settings_class(shipped: tuple[tuple[str, str], ...]) -> type[DrawSettings]:
    names = dict(shipped) or {"": "no model"}
    m = choice(next(iter(names)), names, label="model", hidden=True)
    return make_dataclass("DrawSettings", [("m", str, m)], bases=(DrawSettings,), frozen=True)


def settings_for(entries: list[ModelEntry]) -> type[DrawSettings]:
    """The settings class whose model field offers these shipped models (best first = the default)."""
    return _settings_class(tuple((e.path.stem, e.card.title) for e in entries
                                 if e.source == "shipped" and e.card is not None))


def entry_key(e: ModelEntry) -> str:
    return e.path.stem if e.source == "shipped" else f"session/{e.path.stem}"


def pick_model(cls: type[DrawSettings], keys: state.Keys, entries: list[ModelEntry]) -> ModelEntry | None:
    """The model picker: shipped models and this session's own. Only a shipped model is a setting.
    (Option labels are plain text in a select box, never Markdown.)"""
    usable = {entry_key(e): e for e in entries if e.card is not None}
    broken = [e for e in entries if e.card is None]
    if broken:
        # a problem quotes a file name verbatim (a code span: never a link, words as typed)
        st.warning("Some model files were skipped:\n\n" + "\n".join(f"- {literal_code(e.problem, 300)}" for e in broken))
    if not usable:
        return None
    # The picker's value may be a session model, which the settings object cannot hold; a session folder
    # can also vanish (cleanup), so the raw widget value is checked against today's options here.
    if st.session_state.get(keys.m) not in usable:
        state.put(cls, m=next(iter(usable)))
    if not keys.offered("m"):  # classroom: the teacher's (shipped) model
        return usable.get(state.current(cls).m, next(iter(usable.values())))
    choice_ = st.selectbox("Model", tuple(usable), format_func=lambda k: _option(usable[k]), key=keys.m,
                           help="Shipped models, plus any model you trained and exported in this session. Only "
                                "digit models read your drawing; the others are tried on their own test images.")
    return usable[choice_]


def _option(entry: ModelEntry) -> str:
    card = entry.card
    return entry.label if card is None or card.reads_digits else f"{entry.label} · test images, not drawings"


def model_facts(entry: ModelEntry, model: LoadedModel) -> None:
    card = model.card
    own = entry.source == "shipped"

    def text(v: object) -> str:
        return str(v) if own else literal(v, 120)

    tested_on = "the 10,000 test digits" if card.reads_digits else "its dataset's test images"
    with st.expander(f"About **{text(card.title)}**: {card.test_accuracy:.2%} on {tested_on}"):
        t = card.training
        parity = "not recorded" if card.parity_max_abs_diff is None else f"{card.parity_max_abs_diff:.1e}"
        convs = ", ".join(text(a.layer) for a in card.activations) or "none"
        st.markdown(
            f"- **Architecture**: {text(card.architecture.get('title', card.name))}, {card.params:,} parameters; "
            f"conv layers: {convs}\n"
            f"- **Trained on**: {text(card.dataset)}\n"
            f"- **Training**: {text(t.get('optimizer'))} lr {text(t.get('lr'))}, batch {text(t.get('batch_size'))}, "
            f"{text(t.get('epochs_trained', t.get('epochs')))} epochs, seed {text(t.get('seed'))}, "
            f"augmentation: {text(t.get('augmentation', 'none'))}\n"
            f"- **File**: {text(model.path.name)}, {model.size_bytes / 1024:.0f} KB, ONNX opset {card.opset}, "
            f"{text(card.exporter)}, SHA-256 `{card.sha256[:16]}…`\n"
            f"- **Parity**: onnxruntime vs torch max |Δ logits| = {parity}\n"
            f"- **Input**: (N, {', '.join(map(str, card.input_shape))}), x = (pixel/255 − {_norm(card.mean)}) / "
            f"{_norm(card.std)}{'' if card.input_shape[0] == 1 else ' per channel (red, green, blue)'}; "
            f"created {text(card.created)}"
        )
        if card.notes:
            st.caption(text(card.notes) if own else literal(card.notes, 1000))
        # Callables: the bytes are read only when a download is clicked, not on every redraw.
        d1, d2 = st.columns(2)
        d1.download_button("⬇️ Model (.onnx)", model.path.read_bytes, file_name=model.path.name,
                           mime="application/octet-stream", key="draw.dl_onnx")
        d2.download_button("⬇️ Sidecar (.json)", sidecar_path(model.path).read_bytes,
                           file_name=sidecar_path(model.path).name, mime="application/json", key="draw.dl_json")


def _norm(value: float | tuple[float, ...]) -> str:
    return f"{value:g}" if isinstance(value, float) else "(" + ", ".join(f"{v:g}" for v in value) + ")"


# ---------------------------------------------------------------------------------------------
# Pictures: PNGs of exactly the size shown (compact, and no plotly work per stroke)


def big(image: np.ndarray, px: int) -> np.ndarray:
    """Nearest-neighbour upscale so each pixel of a small image stays a crisp square."""
    return enlarge(np.clip(image, 0, 1).astype(np.float32), px // max(image.shape))


def shrink(img: np.ndarray, px: int = 140) -> np.ndarray:
    """An image whose longer side is over ``px``, box-filtered down to ``px``; smaller ones as they are
    (the browser enlarges those without smoothing: a few hundred bytes instead of a 140×140 PNG)."""
    h, w = img.shape
    if max(h, w) <= px:
        return img
    small = Image.fromarray(np.ascontiguousarray(img, np.float32)).resize(
        (max(1, round(w * px / max(h, w))), max(1, round(h * px / max(h, w)))), Image.Resampling.BOX)
    return np.clip(np.asarray(small), 0, 1)


def mosaic(maps: np.ndarray, cols: int = 8, scale: int = 1) -> np.ndarray:
    """(C, H, W) → one image of up to ``cols`` tiles per row, each enlarged ``scale``×, 1-px gaps, scaled by
    the layer's maximum."""
    maps = maps / (float(maps.max()) or 1.0)
    return tile(np.stack([enlarge(m, scale) for m in maps]), cols, gap=1, fill=0.25)


MAPS_SHOWN = 16  # filters per layer drawn on every stroke; Inside the network shows every one


def maps_caption(name: str, shape: tuple[int, int, int]) -> str:
    """What a layer's mosaic shows, and where the filters it leaves out are."""
    c, h, w = shape
    if c <= MAPS_SHOWN:
        return f"{name}: all {c} channel{'s' if c != 1 else ''} of {h}×{w}"
    return (f"{name}: the first {MAPS_SHOWN} of {c} channels of {h}×{w}; {c - MAPS_SHOWN} more are not drawn "
            "here — Inside the network shows all of them for this digit")


def mosaic_scales(h: int, w: int, tile_px: int = 84) -> tuple[int, int]:
    """(in the PNG, in the browser): tiles of about ``tile_px`` on screen with gaps of 2–3 screen pixels,
    for a PNG a quarter to a ninth the size of one drawn at screen size."""
    shown = max(1, tile_px // max(h, w))
    encoded = max(1, shown // 2)
    return encoded, shown // encoded


# Feature maps never overflow a phone's width (their PNG is smaller than the size they are shown at).
CRISP_CSS = ("<style>.st-key-draw-crisp-maps img{image-rendering:pixelated}"
             ".st-key-draw-crisp-maps *{max-width:100%}.st-key-draw-crisp-maps img{height:auto}</style>")


def crisp_pictures() -> None:
    """Small feature-map PNGs drawn larger stay crisp squares (a style-only block takes no room on the
    page; drawn once, outside the lesson fragment)."""
    st.html(CRISP_CSS)



def seen_html(pred: Prediction) -> str:
    """The model's 28×28 input as one picture, its pixels edge to edge (a heat map's gaps between cells
    drew a white mesh that hid a white digit). The PNG is sent at 28×28 and the browser scales it up
    without smoothing, so it costs a few hundred bytes per stroke."""
    return (f"<figure style='margin:0'><img src='{png_data_uri(pred.pre.image)}' "
            f"alt='The 28×28 image the model reads' data-testid='draw-seen' "
            f"style='image-rendering:pixelated;display:block;width:{SEEN_PX}px;height:{SEEN_PX}px;"
            f"max-width:100%;object-fit:contain;margin:0'>"
            f"<figcaption style='font-size:0.85rem;opacity:0.7'>What the model sees (28×28)</figcaption></figure>")


# ---------------------------------------------------------------------------------------------
# The answer


def prediction(pred: Prediction, label: int | None) -> None:
    """The answer, its top 3 and the 28×28 picture the model read: one element (every element is a
    message of its own on every stroke)."""
    if pred.digit is None:
        st.markdown("<div style='font-size:4.5rem;line-height:1;color:#bbb'>?</div>", unsafe_allow_html=True)
        st.info(f"No digit: {pred.pre.reason}", icon="✏️")
        st.markdown(seen_html(pred), unsafe_allow_html=True)
        return
    verdict = "" if label is None else (" ✓" if pred.digit == label else f" ✗ (label {label})")
    # blank lines end each HTML block, so the lines between are Markdown
    st.markdown(f"<div data-testid='draw-prediction' style='font-size:4.5rem;font-weight:700;line-height:1'>"
                f"{pred.digit}</div>\n\n**Prediction: {pred.digit}**{verdict}\n\n"
                "Top 3: " + " · ".join(f"**{d}** {p:.1%}" for d, p in pred.top(3)) + f"\n\n{seen_html(pred)}",
                unsafe_allow_html=True)


def timing(pred: Prediction) -> str:
    together = f"; {pred.batch} images in one run: your digit and the {pred.batch - 1} what-ifs below" \
        if pred.batch > 1 else ""
    return (f"⏱ preprocessing {pred.preprocess_ms:.2f} ms + inference {pred.inference_ms:.2f} ms "
            f"= {pred.total_ms:.2f} ms (onnxruntime, one thread{together})")


@st.cache_resource(show_spinner=False)
def _prob_layout() -> dict:
    """The probability chart's layout, validated once (plotly validation costs more than everything else
    a stroke does); per stroke only the ten bars are new. Streamlit's theme supplies the template."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar())
    fig.update_xaxes(type="category", tickmode="array", tickvals=[str(d) for d in range(10)])
    fig.update_layout(height=240, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis_range=[0, 1.12],
                      yaxis_tickformat=".0%", title={"text": "Probability of each digit", "font": {"size": 14}})
    layout = fig.to_plotly_json()["layout"]
    layout["template"] = {}  # an empty one: plotly would otherwise deep-copy its default template per stroke
    return layout


def prob_chart(pred: Prediction) -> None:
    from ui.fastfig import Finished

    probs = pred.probs if pred.probs is not None else np.zeros(10)
    bar = {"type": "bar", "x": [str(d) for d in range(10)], "y": [float(p) for p in probs],
           "marker": {"color": ["#2563eb" if d == pred.digit else "#94a3b8" for d in range(10)]},
           "text": [f"{p:.0%}" if p >= 0.01 else "" for p in probs], "textposition": "outside",
           "hovertemplate": "digit %{x}: %{y:.2%}<extra></extra>"}
    # Handed over as the dict it is sent as: no validation, and no deep copies (the layout is read-only here)
    st.plotly_chart(Finished({"data": [bar], "layout": _prob_layout()}), key="draw.probs",
                    config={"displayModeBar": False})


def details(pred: Prediction, steps: Steps, alternatives: dict[str, Prediction | None]) -> None:
    """Under the chart: the timing, the steps from the drawing to the 28×28 input with the "what if a step
    were skipped" table, and the feature maps' heading, as ONE element: every element is a message of its
    own on every stroke (these were ten: a caption, headings, a container, five pictures, a table)."""
    parts = [f"<p style='font-size:0.875rem;opacity:0.6;margin:0'>{timing(pred)}</p>"]
    if not pred.pre.empty:
        parts += ["### From your drawing to the model's 28×28 input", _step_pictures(pred, steps),
                  f"**What if a step were skipped?** (everything else as set in {STEPS_BUTTON}, above the canvas)",
                  _what_if(steps, alternatives)]
    parts.append("### Feature maps: what each conv layer detects in your digit")
    st.markdown("\n\n".join(parts), unsafe_allow_html=True)  # blank lines: HTML blocks, then Markdown


def step_pictures(pred: Prediction, steps: Steps) -> list[tuple[np.ndarray, str]]:
    """The preprocessing steps' pictures and their captions, in order."""
    pre = pred.pre
    return [(pre.gray, "1. grayscale" + (", inverted" if pre.inverted else "")),
            (pre.cropped, "2. cropped" if steps.crop else "2. (not cropped)"),
            (pre.scaled, f"3. scaled to {pre.scaled.shape[1]}×{pre.scaled.shape[0]}"),
            (pre.placed, "4. pasted in 28×28"),
            (pre.image, f"5. centred by mass, shift {pre.shift}" if steps.center else "5. (not centred)")]


STEP_PX = 140  # each step's picture sits in a square this size, letterboxed in grey (a tall "1" keeps its shape)


def _step_pictures(pred: Prediction, steps: Steps) -> str:
    """The pictures in a row that wraps (on a phone too), each at most 140 px: the small ones are enlarged
    by the browser without smoothing."""
    img = (f"display:block;width:{STEP_PX}px;height:{STEP_PX}px;object-fit:contain;background:#595959;"
           "image-rendering:pixelated")
    figures = "".join(
        f"<figure style='margin:0;width:{STEP_PX}px'><img src='{png_data_uri(shrink(pic))}' alt='{caption}' "
        f"style='{img}'><figcaption style='font-size:0.875rem;opacity:0.7;text-align:center'>{caption}"
        "</figcaption></figure>" for pic, caption in step_pictures(pred, steps))
    return f"<div data-testid='draw-steps' style='display:flex;flex-wrap:wrap;gap:0.75rem'>{figures}</div>"


def what_if_rows(steps: Steps, alternatives: dict[str, Prediction | None]) -> list[tuple[str, str, str]]:
    """(step, now, if you switch it) for each step: what the model says with that one step switched."""
    rows = []
    for field, (title, _) in STEP_LABELS.items():
        other = alternatives[field]
        if other is None:
            what = "nothing: the model fails on that input"
        else:
            what = f"{other.digit} ({other.probs[other.digit]:.0%})" if other.digit is not None else "no digit"
        now = getattr(steps, field)
        rows.append((title, "on" if now else "off", f"{'off' if now else 'on'} → the model says {what}"))
    return rows


WHAT_IF_HEADER = ("step", "now", "if you switch it")


def _what_if(steps: Steps, alternatives: dict[str, Prediction | None]) -> str:
    """A Markdown table: four short rows read better as text than as a data grid, on a phone too."""
    lines = ["| " + " | ".join(WHAT_IF_HEADER) + " |", "|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in what_if_rows(steps, alternatives)]
    return "\n".join(lines)


MAPS_KEY = "draw_maps_shown"  # not a setting: a link opens the page with them closed, like a new session


def feature_maps(pred: Prediction, model: LoadedModel, trusted: bool) -> None:
    """The conv layers' outputs, under the heading that ends ``details``, drawn only once a student opens
    them (a third of a stroke's server time went into pictures that most students had not scrolled to)."""
    if not model.card.activations:
        st.info("This model has no convolution layers, so there are no feature maps to show.")
        return
    if not st.toggle("Show the feature maps", key=MAPS_KEY,
                     help="Each conv layer's filter outputs for your digit, redrawn with every stroke."):
        return
    if pred.digit is None:
        st.caption("Draw a digit to see its feature maps.")
        return
    st.caption("Each small square is one filter's output (after ReLU): bright where the filter's pattern "
               f"appears. Up to {MAPS_SHOWN} filters per layer; brightness is scaled per layer.")
    with st.container(key="draw-crisp-maps"):
        tabs = st.tabs([a.layer if trusted else literal(a.layer, 60) for a in model.card.activations])
    for tab, act in zip(tabs, model.card.activations):
        fmap = pred.activations[act.name]  # (C, H, W)
        name = act.name if trusted else literal(act.name, 60)
        encoded, shown = mosaic_scales(*fmap.shape[1:])
        pic = mosaic(fmap[:MAPS_SHOWN], scale=encoded)
        tab.image(png_data_uri(pic), width=pic.shape[1] * shown, caption=maps_caption(name, fmap.shape))
