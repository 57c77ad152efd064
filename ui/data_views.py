"""Pictures, grids and the download panel of the Data page ("Look at the data"). No torch here.

Images are shown as small PNGs (``st.image``) scaled up with nearest-neighbour pixels, so a 28×28 digit
costs a few hundred bytes; plotly is used only where the numbers themselves are the lesson.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from core.lessons import data_stats

from core.data import registry as datasets
from core.data.registry import DatasetInfo
from core.errors import DataError
from ui import pictures
from ui.server_resources import download_gate, memory_budget
from ui.pictures import enlarge
from ui.text import literal

CHANNEL_NAMES = ("red", "green", "blue")
CHANNEL_SCALES = ("Reds", "Greens", "Blues")
EXAMPLES_PER_CLASS = 8


# ---------------------------------------------------------------------------------------------
# Pictures


def tint(image: np.ndarray, channel: int) -> np.ndarray:
    """One channel of an RGB image shown in its own colour (the others zeroed)."""
    out = np.zeros_like(image)
    out[..., channel] = image[..., channel]
    return out


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def montage(images: np.ndarray, gap: int = 2) -> np.ndarray:
    """Images (K, H, W[, 3]) side by side with white gaps → one (H, K·(W+gap)−gap[, 3]) picture."""
    k, h, w = images.shape[:3]
    out = np.full((h, k * (w + gap) - gap, *images.shape[3:]), 255, np.uint8)
    for i, img in enumerate(images):
        out[:, i * (w + gap): i * (w + gap) + w] = img
    return out


def vector_strip(image: np.ndarray) -> np.ndarray:
    """The flattened vector as a picture one pixel wide per entry, with a band under it that changes
    colour every image row (grey) or channel (colour). Its height grows with its length, so the strip
    keeps the same proportions (and stays visible) however narrow the screen shrinks it."""
    vec = data_stats.flatten(image)  # (C·H·W,)
    size = image.shape[0]
    top = np.repeat(np.repeat(vec[None, :, None], 3, axis=2), max(24, vec.size // 16), axis=0)
    if image.ndim == 3:  # colour: which channel each entry came from
        band = np.array([[220, 38, 38], [22, 163, 74], [37, 99, 235]], np.uint8)[np.arange(vec.size) // (size * size)]
    else:  # grey: which image row, alternating blue and orange
        band = np.where((np.arange(vec.size) // size % 2)[:, None] == 0, [37, 99, 235], [249, 115, 22]).astype(np.uint8)
    return np.concatenate([top, np.repeat(band[None], max(6, vec.size // 80), axis=0)], axis=0)


_GRID_CSS = (
    "<style>.cl-px{overflow-x:auto;max-width:100%}"
    ".cl-px>div{display:grid;gap:1px;font-family:ui-monospace,monospace;line-height:1;background:#94a3b8;"
    "padding:1px}"
    ".cl-px i{font-style:normal;aspect-ratio:1;display:flex;align-items:center;justify-content:center;color:#fff}"
    ".cl-px i.k{color:#000}</style>"
)


def pixel_html(text: np.ndarray, background: np.ndarray, channel: int | None, decimals: int = 0,
               cell_px: tuple[int, int] | None = None) -> str:
    """An (H, W) grid of numbers, each on its pixel's colour: responsive HTML, a few dozen kB.

    ``background`` holds the 0..255 values that colour the cells (grey, or only ``channel``'s colour).
    Narrow screens keep cells at least ``cell_px[0]`` wide and scroll the grid inside its own box, so the
    page itself never scrolls sideways; wide ones stop at ``cell_px[1]``.
    """
    h, w = text.shape
    lo, hi = cell_px or ((20, 30) if w <= 28 else (18, 28))  # CIFAR's 32 columns fit beside the picture
    font = 10 if lo >= 20 else 9
    cells = []
    for value, shade in zip(text.ravel(), np.asarray(background, np.uint8).ravel()):
        rgb = [int(shade)] * 3 if channel is None else [int(shade) if c == channel else 0 for c in range(3)]
        dark_text = sum(rgb) > 380 if channel is None else int(shade) > 170 and channel == 1
        cls = ' class="k"' if dark_text else ""
        cells.append(f'<i{cls} style="background:rgb({rgb[0]},{rgb[1]},{rgb[2]})">{value:.{decimals}f}</i>')
    style = (f"grid-template-columns:repeat({w},minmax({lo}px,1fr));min-width:{w * lo + w + 1}px;"
             f"max-width:{w * hi}px;font-size:{font}px")
    return f'{_GRID_CSS}<div class="cl-px"><div style="{style}">{"".join(cells)}</div></div>'


def png(picture: np.ndarray) -> bytes:
    """Encoded once and cached: reruns then send the same bytes, so the smallest file is worth the time."""
    return pictures.png(picture, compress_level=9)


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def labelled_rows(rows: list[np.ndarray], names: list[str], scale: int = 2, gap: int = 4) -> np.ndarray:
    """One picture: per class a name at the left and its example images to the right."""
    strips = [enlarge(montage(r, gap // 2 or 1), scale) for r in rows]
    h = max(s.shape[0] for s in strips)
    label_w = 12 + max(int(_font(22).getlength(n)) for n in names)
    canvas = Image.new("RGB", (label_w + max(s.shape[1] for s in strips), len(strips) * (h + gap) - gap), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (strip, name) in enumerate(zip(strips, names)):
        y = i * (h + gap)
        draw.text((0, y + h // 2), name, fill="#111827", font=_font(22), anchor="lm")
        canvas.paste(Image.fromarray(strip), (label_w, y))
    return np.asarray(canvas)


def labelled_tiles(tiles: list[np.ndarray], names: list[str], per_row: int = 5, scale: int = 3) -> np.ndarray:
    """One picture: tiles in rows of ``per_row``, each with its name underneath."""
    big = [enlarge(t, scale) for t in tiles]
    th, tw = big[0].shape[:2]
    cell_w, cell_h = max(tw, 10 + max(int(_font(15).getlength(n)) for n in names)) + 8, th + 26
    rows = -(-len(big) // per_row)
    canvas = Image.new("RGB", (per_row * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (tile, name) in enumerate(zip(big, names)):
        x, y = (i % per_row) * cell_w, (i // per_row) * cell_h
        canvas.paste(Image.fromarray(tile), (x + (cell_w - tw) // 2, y))
        draw.text((x + cell_w // 2, y + th + 4), name, fill="#111827", font=_font(15), anchor="mt")
    return np.asarray(canvas)


# ---------------------------------------------------------------------------------------------
# Per-dataset summary, computed once per dataset and server (st.cache_data)


@dataclass(frozen=True)
class Overview:
    examples: bytes  # PNG: a row of EXAMPLES_PER_CLASS images per class, names at the left
    means: bytes  # PNG: each class's mean image with its name
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    mean: tuple[float, ...]  # measured on this training set, per channel, 0..1
    std: tuple[float, ...]


@st.cache_data(show_spinner="Summarising the dataset…", max_entries=8)
def overview(key: str, where: str) -> Overview:
    """``where`` (the dataset's folder) only keys the cache: another cache folder is another dataset."""
    train, test = datasets.load_train(key), datasets.load_test(key)
    meta = datasets.info(key)
    n = meta.n_classes
    rng = np.random.default_rng(0)  # the same examples for every student (and every screenshot)
    examples = []
    for label in range(n):
        positions = data_stats.class_positions(train.labels, label)
        chosen = np.sort(rng.choice(positions, min(EXAMPLES_PER_CLASS, positions.size), replace=False))
        examples.append(train.images[chosen])
    names = [class_title(meta, c) for c in range(n)]
    means = [to_uint8(m) for m in data_stats.class_means(train.images, train.labels, n)]
    mean, std = data_stats.channel_stats(train.images)
    return Overview(png(labelled_rows(examples, names)), png(labelled_tiles(means, names)),
                    tuple(int(c) for c in data_stats.label_counts(train.labels, n)),
                    tuple(int(c) for c in data_stats.label_counts(test.labels, n)), mean, std)


def class_title(info: DatasetInfo, label: int) -> str:
    name = info.class_names[label]
    return name if name == str(label) else f"{label} · {name}"


def counts_chart(info: DatasetInfo, view: Overview) -> go.Figure:
    names = [class_title(info, c) for c in range(info.n_classes)]
    fig = go.Figure([go.Bar(name="training", y=names, x=view.train_counts, orientation="h", marker_color="#2563eb"),
                     go.Bar(name="test", y=names, x=view.test_counts, orientation="h", marker_color="#f97316")])
    fig.update_layout(barmode="group", height=360, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      legend={"orientation": "h", "y": -0.12},
                      yaxis={"autorange": "reversed", "type": "category", "dtick": 1})
    return fig


# ---------------------------------------------------------------------------------------------
# Download


def download_panel(info: DatasetInfo, allowed: bool, again: bool = False) -> None:
    """Explain that ``info`` is not on this server (or not readable), and offer the download (when
    ``allowed``)."""
    state = "cannot be used" if again else "is not downloaded on this server yet"
    st.info(f"**{literal(info.title)}** {state}, so the page shows the 5,000 shipped MNIST digits meanwhile.",
            icon="📦")
    if not allowed:
        st.caption("Your teacher's link chose this dataset; ask them to download it on this server.")
        return
    verb = "Download again" if again else "Download"
    if st.button(f"⬇️ {verb} {info.title} ({info.download_size})", key=f"data.download.{info.key}"):
        run_download(info)


def run_download(info: DatasetInfo) -> None:
    bar = st.progress(0.0, text="Connecting…")
    shown = {"step": -1}  # redraw at most 100 times, not once per 64 KB chunk

    def progress(name: str, got: int, total: int) -> None:
        step = int(100 * got / total) if total else -1
        if step != shown["step"]:
            shown["step"] = step
            text = f"{name}: {got / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{name}: {got / 1e6:.1f} MB"
            bar.progress(min(1.0, got / total) if total else 0.0, text=text)

    try:
        datasets.download(info.key, progress=progress, gate=download_gate(), budget=memory_budget())
    except DataError as exc:
        bar.empty()
        st.error(literal(exc, limit=800), icon="📡")
        return
    bar.progress(1.0, text="Downloaded and verified.")
    st.rerun()
