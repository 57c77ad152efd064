"""The Filters & kernels page's figures and lesson sections (the page itself reads widgets and routes).

All numbers come from ``core.lessons.filters``; nothing here reads widgets except through the arguments it is given.
"""

from __future__ import annotations

import base64
import functools

import numpy as np
import streamlit as st

from core import arithmetic as ar
from core import colours

from core.lessons import filters
from core.lessons import kernels as kernel_lib

from ui import fastfig, pictures, registry
from ui.grid import Box, cell_boxes

PAGE = "filters"
NUMBERS_UP_TO = 12  # draw values inside the cells of images at most this many pixels wide


# ---------------------------------------------------------------------------------------------
# Numbers as the page writes them


def fmt(v: float) -> str:
    v = float(v)
    if abs(v - round(v)) < 1e-9:
        return str(int(round(v)))
    return f"{v:.3g}" if abs(v) >= 0.001 else f"{v:.1e}"


def paren(v: float) -> str:
    """A number ready to follow a multiplication sign: negatives in brackets."""
    return f"({fmt(v)})" if v < 0 else fmt(v)


def fmt_grid(z: np.ndarray) -> np.ndarray:
    """Cell labels; grids wider than 3 cells get short ones (2 significant digits, no leading 0)."""
    z = np.asarray(z)
    if max(z.shape) <= 3:
        return np.vectorize(fmt, otypes=[object])(z)

    def short(v: float) -> str:
        if abs(v - round(v)) < 1e-9 or abs(v) >= 10:
            return fmt(v)
        text = f"{v:.2g}"
        return text.replace("0.", ".", 1) if "e" not in text else f"{v:.0e}"

    return np.vectorize(short, otypes=[object])(z)


@st.cache_data(max_entries=16, show_spinner=False)
def run_conv(token: str, _image: np.ndarray, kernels: np.ndarray, stride: int, padding, dilation: int) -> np.ndarray:
    """``filters.conv2d`` of the image that ``token`` names (see pages/filters.image_controls): the key is the
    token, not the pixels (hashing a 192×192 picture cost ~0.7 ms a call, four calls a run)."""
    return filters.conv2d(_image, kernels, stride, padding, dilation)


# ---------------------------------------------------------------------------------------------
# Figures


def picture(z: np.ndarray, title: str, *, signed: bool = False, photo: bool = False, boxes=(), px: int = 330,
            scale: bool = True):
    """An image or feature map: grey, or blue–white–red centred on 0 when ``signed``; numbers when small.

    ``photo``: grey from 0 (black) to 1 (white) with anything outside drawn as black or white, i.e. the
    way the picture looks once saved as an 8-bit image (values clipped to 0…255); hovering still shows
    the true value. Not cached: looking a picture up hashed its pixels and outlines (~1 ms), more than
    building it from the cached frame (``ui.fastfig.grid``: float32 → base64, ~0.2 ms; JSON once, when shown).
    """
    z = np.asarray(z, dtype=float)
    small = max(z.shape) <= NUMBERS_UP_TO
    if signed:
        bound = float(np.max(np.abs(z))) or 1.0
        colors = {"colorscale": colours.SIGNED_SCALE, "zmin": -bound, "zmax": bound}
    elif photo:
        colors = {"colorscale": "gray", "zmin": 0.0, "zmax": 1.0}
    else:
        hi = float(z.max())
        colors = {"colorscale": "gray", "zmin": min(float(z.min()), 0.0), "zmax": hi if hi > 1.0 else 1.0}
    # one screen pixel per image pixel or less: gaps between cells would hide the picture
    return fastfig.grid(z, text=fmt_grid(z) if small else None, title=title, boxes=tuple(boxes),
                        cell_px=48 if small else px, max_px=px, show_scale=scale, gaps=small, **colors)


PICTURES = fastfig.Memo(64)  # ~0.4 MB a 188×188 picture (its spec and JSON): ≤ ~25 MB per server


def kernel_key(kernels: np.ndarray) -> tuple:
    """Names a kernel (or stack of kernels) exactly, for ``named_picture`` keys."""
    k = np.asarray(kernels, dtype=float)
    return k.shape, k.tobytes()


def named_picture(name: tuple, z: np.ndarray, title: str, **options):
    """``picture(z, title, **options)``, looked up by ``name``, a tuple that determines ``z`` exactly (the
    image token, the kernel's bytes, the convolution settings): a kernel change redraws the pictures it
    does not touch (the bank's maps, the input) and those a class has seen before without encoding them."""
    key = (name, title, tuple(sorted(options.items())))
    return PICTURES.get(key, lambda: picture(z, title, **options))


def kernel_figure(k: np.ndarray, title: str, px: int = 240):
    k = np.asarray(k, dtype=float)
    return _kernel_figure(k.tobytes(), k.shape, title, px)


@functools.lru_cache(maxsize=128)  # a kernel is a few numbers: keyed by its bytes, hashed in microseconds
def _kernel_figure(raw: bytes, shape: tuple[int, int], title: str, px: int):
    k = np.frombuffer(raw, dtype=float).reshape(shape)
    bound = float(np.max(np.abs(k))) or 1.0
    return fastfig.grid(k, text=fmt_grid(k), colorscale=colours.SIGNED_SCALE, zmin=-bound, zmax=bound, title=title,
                        cell_px=max(30, px // k.shape[0]), max_px=px, font_size=12 if k.shape[0] <= 5 else 9)


def grid(z, *, text=None, **options):
    """``grid_figure``, built from a cached frame (see ui.fastfig)."""
    return fastfig.grid(z, text=text, **options)


def output_view(out: np.ndarray, mode: str, kernels: np.ndarray) -> tuple[np.ndarray, str]:
    """The output's displayed values and how they are coloured: "photo", "signed" or "grey"."""
    shown = kernel_lib.display_values(out, mode)
    if mode == "auto" and kernel_lib.makes_a_picture(kernels):
        return shown, "photo"
    if mode in ("auto", "signed") and float(out.min()) < 0:
        return shown, "signed"
    return shown, "grey"


def show(fig, name: str) -> None:
    fastfig.show(fig, f"{PAGE}.fig.{name}")


# ---------------------------------------------------------------------------------------------
# Sections


def window_boxes(win: ar.Window, padding, dilation: int) -> list[Box]:
    """Outline of the window in input coordinates; with dilation, also each tap it actually reads."""
    top, left = padding[0][0], padding[1][0]
    rows, cols = [r - top for r in win.rows], [c - left for c in win.cols]
    span = Box(rows[0], cols[0], rows[-1], cols[-1], color="#f59e0b", width=2.5,
               dash="dot" if dilation > 1 else None)
    if dilation == 1:
        return [span]
    return [span] + cell_boxes([(r, c) for r in rows for c in cols], "#f59e0b", fill="rgba(245,158,11,0.3)",
                               width=1.0)


def microscope_section(image, kernels, name, conv, r, c, threshold, value) -> None:
    shown_k = []
    for i, k in enumerate(kernels):
        m = filters.microscope(image, k, r, c, *conv)
        shown_k.append(m)
        label = ("Gx", "Gy")[i] if len(kernels) == 2 else ""
        cols = st.columns(4)
        window_txt = np.where(m.in_padding, "pad 0" if k.shape[0] <= 3 else "pad", fmt_grid(m.window))
        font = 12 if max(k.shape) <= 3 else 9
        with cols[0]:
            show(grid(m.window, text=window_txt, colorscale="gray", zmin=0, zmax=max(1.0, m.window.max()),
                             title=f"Input window {label}".strip(), cell_px=40, max_px=260, font_size=font),
                 f"mw{i}")
        with cols[1]:
            show(kernel_figure(m.kernel, f"Kernel {label}".strip(), px=260), f"mk{i}")
        with cols[2]:
            bound = float(np.max(np.abs(m.products))) or 1.0
            show(grid(m.products, text=fmt_grid(m.products), colorscale=colours.SIGNED_SCALE, zmin=-bound, zmax=bound,
                             title="Window × kernel", cell_px=40, max_px=260, font_size=font), f"mp{i}")
        with cols[3]:
            terms = [f"{fmt(a)}·{paren(b)}" for a, b in zip(m.window.ravel(), m.kernel.ravel())]
            if len(terms) <= 9:
                st.markdown("Sum of the products:  \n" + " + ".join(terms) + f" = **{fmt(m.total)}**")
            else:
                st.markdown(f"Sum of the {len(terms)} products = **{fmt(m.total)}**")
    if len(kernels) == 2:
        gx, gy = shown_k[0].total, shown_k[1].total
        mag = float(np.hypot(gx, gy))
        cut = " → under the threshold, so 0" if threshold > 0 and mag < threshold else ""
        st.markdown(f"√(Gx² + Gy²) = √({fmt(gx)}² + {fmt(gy)}²) = **{fmt(mag)}**{cut}")
    st.success(f"Output pixel (row {r}, column {c}) = **{fmt(value)}**, exactly the value in the output map.",
               icon="🔬")


def flip_section(token, image, kernel, conv, name) -> None:
    relation = filters.flip_relation(kernel)
    flipped = filters.flip_kernel(kernel)
    xcorr = run_conv(token, image, kernel, *conv)[0]
    true = run_conv(token, image, np.ascontiguousarray(flipped), *conv)[0]
    st.markdown(
        "PyTorch's `conv2d` and every deep-learning library slide the kernel **as it is**: mathematically that is "
        "*cross-correlation*. Textbook convolution first **rotates the kernel by 180°** (flips rows and columns). "
        "For a CNN the difference does not matter, because the kernels are learned: training would simply learn "
        "the flipped weights."
    )
    cols = st.columns(4)
    with cols[0]:
        show(kernel_figure(kernel, "Kernel (as used)", px=220), "fk")
    with cols[1]:
        show(kernel_figure(flipped, "Flipped 180°", px=220), "ff")
    with cols[2]:
        show(named_picture(("fx", token, kernel_key(kernel), conv), xcorr, "Cross-correlation (DL 'conv')",
                           signed=bool(xcorr.min() < 0), px=260, scale=False), "fx")
    with cols[3]:
        show(named_picture(("ft", token, kernel_key(kernel), conv), true, "True convolution",
                           signed=bool(true.min() < 0), px=260, scale=False), "ft")
    diff = float(np.max(np.abs(xcorr - true)))
    what = {"sobel_magnitude": "Sobel x", "custom": "Your kernel"}.get(name, kernel_lib.KERNEL_PRESETS[name].label)
    if relation == "symmetric":
        st.info(f"{what} is symmetric under a 180° flip, so both outputs are identical (largest difference "
                f"{fmt(diff)}).")
    elif relation == "antisymmetric":
        extra = " The magnitude √(Gx²+Gy²) squares the signs away, so it is unchanged." if name == "sobel_magnitude" else ""
        st.info(f"Flipping {what} gives exactly −{what}: true convolution is the same map with the **sign "
                f"reversed** (bright-to-dark edges become positive instead of negative).{extra}")
    else:
        st.info(f"This kernel is neither symmetric nor antisymmetric under a flip: the two maps differ by up to "
                f"{fmt(diff)}.")


@st.cache_resource(show_spinner=False)
def worked_figures() -> dict:
    """The im2col lesson's figures of the worked 5×5 example: the same for every image and student, built
    once per server (they were rebuilt, and re-encoded, on every kernel or image change)."""
    x, k = kernel_lib.WORKED_IMAGE, kernel_lib.WORKED_KERNEL
    patches = filters.im2col(x, k.shape)  # (9, 9)
    result = patches @ k.ravel()
    weights = kernel_lib.kernel_bank(kernel_lib.BANK).reshape(len(kernel_lib.BANK), -1).T  # (9, 4): one column per kernel
    prod = patches @ weights  # (9, 4)
    bound = float(np.abs(prod).max()) or 1.0
    return {
        "ip": grid(patches, text=fmt_grid(patches), colorscale="Blues", zmin=0, zmax=2,
                   title="Patches (9 windows × 9 taps)", cell_px=30, max_px=300),
        "ik": kernel_figure(k.reshape(-1, 1), "Kernel", px=300),
        "ir": grid(result[:, None], text=fmt_grid(result[:, None]), colorscale="Greens", title="Outputs",
                   cell_px=30, max_px=300),
        "im": picture(result.reshape(3, 3), "Reshaped 3×3", px=200, scale=False),
        "bp": grid(patches, text=fmt_grid(patches), colorscale="Blues", zmin=0, zmax=2,
                   title="Patches (9 × 9)", cell_px=26, max_px=260),
        "bw": grid(weights, text=fmt_grid(weights), colorscale=colours.SIGNED_SCALE, zmin=-5, zmax=5,
                   title="Weights (9 × 4)", cell_px=26, max_px=260),
        "bo": grid(prod, text=fmt_grid(prod), colorscale=colours.SIGNED_SCALE, zmin=-bound, zmax=bound,
                   title="Outputs (9 × 4)", cell_px=26, max_px=260),
        "result": result,
    }


def bank_maps(token, image, conv) -> None:
    """Four kernels on the current image in one call: a conv layer with four output channels (inside the
    lesson's fragment; the im2col section below, outside it, explains how such a bank is computed).

    The four maps are one image element of four PNGs, not four plotly heat maps in four columns: they only
    show what each kernel picks out (no values to hover here; the microscope and the output map above have
    them), and each heat map cost the browser a canvas → PNG round trip and a repaint on every change of the
    lesson, the columns nine elements instead of one (answer-time breakdown in docs/benchmarks.md)."""
    names = kernel_lib.BANK
    labels = [kernel_lib.KERNEL_PRESETS[n].label for n in names]
    st.markdown(
        f"A conv layer applies **many kernels to the same input at once**. Here a bank of {len(names)} "
        f"({', '.join(labels)}) on the current image, computed in one call: {len(names)} feature maps, one per "
        f"output channel (blue negative, red positive, white 0). The next section shows how a layer does it, "
        f"with im2col.")
    uris = PICTURES.get(("bank-png", token, conv),
                        lambda: tuple(map_uri(m) for m in run_conv(token, image, kernel_lib.kernel_bank(names), *conv)))
    st.image(list(uris), caption=[f"{label} map" for label in labels], width=BANK_PX)


BANK_PX = 195  # four side by side in the lesson's width at 1280 px; on a phone they wrap, one or two a row


@functools.lru_cache(maxsize=1)
def _signed_lut() -> np.ndarray:
    """(256, 3) uint8: the signed scheme the heat maps use (blue −, white 0, red +), sampled once."""
    return colours.lut(colours.SIGNED)


def map_colours(z: np.ndarray) -> np.ndarray:
    """A feature map coloured as ``picture`` colours it: signed maps blue–white–red centred on 0, others grey
    from min(0, lowest) to max(1, highest). (H, W, 3) uint8 or (H, W) in 0..1."""
    z = np.asarray(z, dtype=float)
    if float(z.min()) < 0:
        bound = float(np.max(np.abs(z))) or 1.0
        index = np.clip(np.round((z / bound + 1.0) / 2.0 * 255.0), 0, 255).astype(np.intp)
        return _signed_lut()[index]
    lo, hi = min(float(z.min()), 0.0), max(float(z.max()), 1.0)
    return (z - lo) / (hi - lo)


def map_uri(z: np.ndarray) -> str:
    """A feature map as a PNG data URI, enlarged by whole pixels towards BANK_PX (a 26×26 digit map stays
    crisp instead of the browser's blur)."""
    shown = pictures.enlarge(map_colours(z), pictures.factor_for(max(np.shape(z)), BANK_PX))
    return "data:image/png;base64," + base64.b64encode(pictures.png(shown)).decode("ascii")


def im2col_section() -> None:
    """The worked 5×5 example: the same for every image and kernel, so the page draws it outside the
    lesson's fragment (a kernel or image change does not redraw its ~30 elements)."""
    figs = worked_figures()
    result = figs["result"]
    st.markdown(
        "A conv layer does not slide a window pixel by pixel. **im2col** copies every window into one row of a "
        "*patches matrix*; the convolution is then a single matrix product with the flattened kernel, which "
        "is what GPUs are fast at. Here on the worked 5×5 example (valid padding, stride 1):"
    )
    cols = st.columns([3, 0.3, 1, 0.3, 1, 0.3, 1.4])
    for col, name in zip(cols[::2], ("ip", "ik", "ir", "im")):
        with col:
            show(figs[name], name)
    for col, sign in zip(cols[1::2], ("×", "=", "↦")):
        col.markdown(f"### {sign}")
    st.caption(f"Row r of the patches matrix is the window of output pixel (r // 3, r % 3). Result "
               f"{result.reshape(3, 3).astype(int).tolist()}: the worked example's feature map.")
    bank_section(figs)


def bank_section(figs: dict) -> None:
    names = kernel_lib.BANK
    labels = [kernel_lib.KERNEL_PRESETS[n].label for n in names]
    st.markdown(
        f"**A bank of {len(names)} kernels at once.** Put the flattened kernels side by side as the columns of a "
        f"9×{len(names)} weight matrix ({', '.join(labels)}): the same patches matrix times it gives "
        f"{len(names)} output columns, one feature map each. That is a conv layer with {len(names)} output channels."
    )
    cols = st.columns([3, 0.3, 1.6, 0.3, 1.6, 2.2])
    for col, name in zip(cols[:5:2], ("bp", "bw", "bo")):
        with col:
            show(figs[name], name)
    cols[1].markdown("### ×")
    cols[3].markdown("### =")
    cols[5].caption("Column j of the outputs, reshaped to 3×3, is feature map j of the worked example. The four "
                    "maps of the bank above are the same four kernels on the current image.")


def closing_section() -> None:
    st.markdown(
        "Every kernel on this page was designed by hand. A convolutional network starts from random numbers "
        "instead and **learns its kernels** from examples: after training on digits, many first-layer kernels "
        "look like the edge and blob detectors above."
    )
    train = training_page()
    if train is not None:
        st.page_link(train.file, label=f"Train a CNN and look at the kernels it learns ({train.title})",
                     icon=train.icon)


def training_page():
    """The training lesson, once it is listed (looked up at run time, so the link appears when it lands)."""
    return next((p for p in registry.LESSONS if p.url_path == "train"), None)
