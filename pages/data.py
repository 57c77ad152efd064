"""Look at the data: one image as numbers, as a vector, normalised and standardised; then the whole set."""

import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from core.lessons import data_stats  # noqa: E402

from core.data import registry as datasets  # noqa: E402
from core.data.registry import DatasetInfo, ImageSet  # noqa: E402
from core.errors import DataError  # noqa: E402
from core.links.settings import Settings, choice, integer  # noqa: E402
from ui import data_views as dv  # noqa: E402
from ui import state  # noqa: E402
from ui.errors import shipped_data  # noqa: E402
from ui.text import literal  # noqa: E402

PATCH = 8  # the excerpt shown at each preparation stage
NO_CHART_BAR = {"displayModeBar": False}


@dataclass(frozen=True)
class DataSettings(Settings, page="data"):
    # A classroom link fixes the dataset (the teacher has downloaded it); students pick images.
    ds: str = choice("shipped5k", {k: d.title for k, d in datasets.DATASETS.items()}, label="dataset",
                     hidden=True)
    cls: int = integer(3, lo=0, hi=9, label="class")
    i: int = integer(0, lo=0, hi=9999, label="sample")  # within its class; clamped to the class's size
    ch: int = integer(0, lo=0, hi=2, label="colour channel")  # colour datasets only


def available(key: str) -> bool:
    return datasets.is_cached(key)


# ---------------------------------------------------------------------------------------------
# Controls


def dataset_controls(keys: state.Keys) -> DatasetInfo:
    """The dataset asked for, or the shipped digits while the asked-for one is not downloaded."""
    if keys.offered("ds"):
        st.radio("Dataset", tuple(datasets.DATASETS), key=keys.ds, horizontal=True,
                 format_func=lambda k: datasets.DATASETS[k].title)
    wanted = datasets.DATASETS[state.current(DataSettings).ds]
    if available(wanted.key):
        return wanted
    dv.download_panel(wanted, allowed=keys.offered("ds"))
    return datasets.DATASETS["shipped5k"]


def load(info: DatasetInfo, keys: state.Keys) -> tuple[DatasetInfo, ImageSet]:
    """The dataset's training images; a damaged download is explained and offered again."""
    if info.downloadable:
        try:
            return info, datasets.load_train(info.key)
        except DataError as exc:
            st.error(f"The downloaded copy of {literal(info.title)} could not be read: {literal(exc, limit=400)}",
                     icon="📁")
            dv.download_panel(info, allowed=keys.offered("ds"), again=True)
            info = datasets.DATASETS["shipped5k"]
    with shipped_data():
        return info, datasets.load_train(info.key)


def image_controls(keys: state.Keys, info: DatasetInfo, train: ImageSet) -> None:
    """Class, sample within the class, and (colour only) the channel shown as numbers."""
    c1, c2 = st.columns(2)
    label = c1.selectbox("Class", range(info.n_classes), key=keys.cls, format_func=lambda c: dv.class_title(info, c))
    count = data_stats.class_positions(train.labels, label).size
    cfg = state.current(DataSettings)
    if cfg.i > count - 1:  # a link or another class asked for more samples than this class has
        state.put(DataSettings, i=max(count - 1, 0))
    c2.number_input(f"Sample (0–{count - 1:,})", 0, max(count - 1, 0), key=keys.i,
                    help=f"Which of the {count:,} training images of this class.")
    if info.channels == 3:
        st.radio("Colour channel shown as numbers", (0, 1, 2), key=keys.ch, horizontal=True,
                 format_func=lambda c: dv.CHANNEL_NAMES[c])


# ---------------------------------------------------------------------------------------------
# Sections


def pixels_section(info: DatasetInfo, image: np.ndarray, channel: int, caption: str) -> None:
    st.subheader(f"1 · One image is {info.size}×{info.size}{'×3' if info.channels == 3 else ''} numbers")
    colour = info.channels == 3
    st.markdown(
        f"Every pixel is one number from **0** (black) to **255** ({'full colour' if colour else 'white'}). "
        + ("A colour image has three such grids, **red, green and blue**, stacked: pick one above."
           if colour else "This is all the network ever sees of the image."))
    left, right = st.columns([1, 4] if colour else [1, 3], gap="medium")
    left.image(dv.enlarge(image, 6), caption=caption, output_format="PNG")
    if colour:
        planes = np.stack([dv.tint(image, c) for c in range(3)])  # (3, H, W, 3)
        left.image(dv.enlarge(dv.montage(planes, gap=3), 2), caption="red · green · blue", output_format="PNG")
    plane = image[..., channel] if colour else image
    with right:
        st.html(dv.pixel_html(plane, plane, channel if colour else None))
        if colour:
            st.caption(f"The {dv.CHANNEL_NAMES[channel]} numbers of the image, each on its own shade.")


def flatten_section(info: DatasetInfo, image: np.ndarray, channel: int) -> None:
    n = info.n_inputs
    st.subheader(f"2 · … or one long vector of {n:,} numbers")
    colour = info.channels == 3
    plane = image[..., channel] if colour else image
    r, c = (int(v) for v in np.unravel_index(int(np.argmax(plane)), plane.shape))
    where = data_stats.flat_index(channel, r, c, info.size)
    if colour:
        rule = (f"Pixel (channel *k*, row *r*, column *c*) becomes entry *k* × {info.size * info.size:,} + *r* × "
                f"{info.size} + *c*: the brightest {dv.CHANNEL_NAMES[channel]} pixel, row {r}, column {c}, is entry "
                f"{channel} × {info.size * info.size:,} + {r} × {info.size} + {c}")
        order = "all of red row after row, then all of green, then all of blue (PyTorch's (C, H, W) order)"
    else:
        rule = (f"Pixel (row *r*, column *c*) becomes entry *r* × {info.size} + *c*: the brightest pixel, row {r}, "
                f"column {c}, is entry {r} × {info.size} + {c}")
        order = "row after row"
    st.markdown(f"A dense layer (and `torch.flatten`) reads the grid {order}. {rule} = **{where:,}**, value "
                f"{int(plane[r, c])}. The coloured band under the strip marks "
                + ("the red, green and blue parts." if colour else "each image row (blue, orange, blue…)."))
    st.image(dv.vector_strip(image), output_format="PNG", width="stretch",
             caption=f"The whole vector, entry 0 at the left, entry {n - 1:,} at the right.")
    vec = data_stats.flatten(image)
    with st.expander(f"All {n:,} numbers"):
        st.code("[" + ", ".join(str(int(v)) for v in vec) + "]", language=None, wrap_lines=True)
    st.caption("Flattening throws away which pixels were neighbours; a convolution keeps the grid and "
               "looks at small neighbourhoods instead. That is the whole point of a CNN.")


def scaling_section(info: DatasetInfo, image: np.ndarray, channel: int, view: dv.Overview) -> None:
    st.subheader("3 · Normalise, then standardise")
    s = data_stats.stages(image, info)
    ch = channel if info.channels == 3 else 0
    mean, std = info.mean[ch], info.std[ch]
    st.markdown(
        "Networks learn best from small numbers around 0. First **divide by 255** so every pixel lies in "
        f"0…1; then **subtract the dataset's mean ({mean:.4f}) and divide by its standard deviation "
        f"({std:.4f})**{' for this channel' if info.channels == 3 else ''}, so that over the whole training set "
        "the inputs average 0 with spread 1.")
    st.latex(r"x_{0..1} = \frac{x}{255} \qquad x_{\text{std}} = \frac{x_{0..1} - \mu}{\sigma}")
    r0, c0 = data_stats.busiest_patch(s.raw[ch], PATCH)
    cut = (ch, slice(r0, r0 + PATCH), slice(c0, c0 + PATCH))
    tabs = st.tabs(["0–255 (stored)", "÷ 255 → 0–1", "standardised"])
    shade = s.raw[cut]
    for tab, values, decimals in ((tabs[0], s.raw, 0), (tabs[1], s.scaled, 2), (tabs[2], s.standardised, 2)):
        with tab:
            st.html(dv.pixel_html(values[cut], shade, channel if info.channels == 3 else None, decimals, (40, 48)))
        tab.caption(f"Rows {r0}–{r0 + PATCH - 1}, columns {c0}–{c0 + PATCH - 1} of the image: minimum "
                    f"{values[ch].min():.2f}, maximum {values[ch].max():.2f}, mean {values[ch].mean():.2f}.")
    st.caption(stats_note(info, view, ch))


def stats_note(info: DatasetInfo, view: dv.Overview, ch: int) -> str:
    """The μ and σ the page uses (the published ones) against what this copy of the data measures."""
    used = f"μ = {info.mean[ch]:.4f} and σ = {info.std[ch]:.4f}"
    measured = f"{view.mean[ch]:.4f} and {view.std[ch]:.4f}"
    if info.key in ("shipped5k", "full60k"):
        return (f"{used} are MNIST's published values over its 60,000 training digits; over the "
                f"{sum(view.train_counts):,} digits here they measure {measured}.")
    return f"{used} are the published values; over these {sum(view.train_counts):,} training images: {measured}."


def overview_sections(info: DatasetInfo, view: dv.Overview) -> None:
    st.subheader("4 · Examples of every class")
    st.image(view.examples)
    st.subheader("5 · The average image of each class")
    st.markdown("Add up every training image of a class and divide by how many there are. Where the class "
                "agrees the mean is sharp; where its members differ it blurs.")
    st.image(view.means)
    st.subheader("6 · How many of each class")
    st.plotly_chart(dv.counts_chart(info, view), config=NO_CHART_BAR, key="data.counts")
    lo, hi = min(view.train_counts), max(view.train_counts)
    st.caption((f"Training images per class: {lo:,} each — perfectly balanced." if lo == hi else
                f"Training images per class: {lo:,} to {hi:,} (the largest class has {hi / lo:.2f}× the smallest).")
               + " Accuracy means little if one class dominates: always count before training.")
    st.caption("Source: " + literal(info.source) + " · Licence: " + literal(info.licence))


def dataset_table() -> pd.DataFrame:
    rows = [{"dataset": d.title, "images": f"{d.size}×{d.size}{'×3' if d.channels == 3 else ''}",
             "classes": d.n_classes, "on this server": "yes" if available(d.key) else "not yet"}
            for d in datasets.DATASETS.values()]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Page


def main() -> None:
    keys = state.bind(DataSettings)
    state.header(DataSettings, "🔎 Look at the data",
                 "Before training anything, look at what the network will be fed: pixels are numbers, an image is "
                 "a grid (or a vector) of them, and a dataset is thousands of such grids with labels.")
    with st.container(border=True):
        info, train = load(dataset_controls(keys), keys)
        image_controls(keys, info, train)
    cfg = state.current(DataSettings)
    channel = cfg.ch if info.channels == 3 else 0
    at = data_stats.pick(train.labels, cfg.cls, cfg.i)
    image = train.images[at]
    caption = f"{dv.class_title(info, cfg.cls)}: sample {cfg.i} of its class (image {at:,} of {len(train):,})"
    with shipped_data():
        view = dv.overview(info.key, str(datasets.folder(info.key)))
    pixels_section(info, image, channel, caption)
    flatten_section(info, image, channel)
    scaling_section(info, image, channel, view)
    overview_sections(info, view)
    if keys.offered("ds"):
        with st.expander("All datasets ConvLab knows"):
            st.dataframe(dataset_table(), hide_index=True)
    state.finish(cfg)


main()
