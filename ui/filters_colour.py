"""The Filters page's colour section: a colour photograph convolved by a 3-channel kernel (R + G + B + bias)."""

from __future__ import annotations

import base64

import numpy as np
import streamlit as st

from core.lessons import filters
from core.lessons import kernels as kernel_lib
from core.lessons import photos
from ui.filters_views import fmt, kernel_figure, kernel_key, named_picture, paren, show
from ui.grid import Box


@st.cache_data(max_entries=32, show_spinner=False)
def colour_output(key: str, k3: np.ndarray, bias: float, stride: int, padding, dilation: int) -> np.ndarray:
    """``filters.colour_conv2d`` of shipped photo ``key`` (keyed by the name, not its pixels): a class trying
    the same presets shares the result."""
    return filters.colour_conv2d(photos.photo_rgb(key), k3, bias, stride, padding, dilation)


@st.cache_resource(max_entries=16, show_spinner=False)
def colour_photo_uri(key: str) -> str:
    """A shipped colour photo as a PNG data URI, encoded once per server (st.image re-encoded the array
    on every kernel change)."""
    import io

    from PIL import Image

    rgb = photos.photo_rgb(key)
    buf = io.BytesIO()
    Image.fromarray(np.round(np.clip(rgb, 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8), mode="RGB").save(
        buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def colour_section(key: str, kernel: np.ndarray, mix: str, bias: float, conv, photo_label: str) -> None:
    """A colour picture (shipped photo ``key``) and a 3-channel kernel: each channel's window × its slice,
    summed, + bias."""
    rgb = photos.photo_rgb(key)
    k3 = kernel_lib.colour_kernel(kernel, mix)  # (3, kh, kw)
    out = colour_output(key, k3, bias, *conv)  # (H', W')
    r, c = out.shape[0] // 2, out.shape[1] // 2
    px = filters.colour_pixel(rgb, k3, bias, r, c, *conv)
    st.markdown(
        f"A colour picture has three channels (red, green, blue), so a kernel for it has **three slices**, "
        f"one per channel. Each slice slides over its own channel; at every position the three sums are "
        f"**added**, then the **bias** is added: one output number. Here {photo_label} "
        f"({rgb.shape[1]}×{rgb.shape[2]}×3) and your kernel, weighted per channel.")
    # The picture and its output side by side, the three slices in a row of their own: five columns in one
    # row left each slice ~120 px at 1280 px, which cut off a 3×3 slice's right column.
    pic, res = st.columns(2)
    with pic:
        st.image(colour_photo_uri(key), caption="Colour input", width=230)
    with res:
        show(named_picture(("colour", key, kernel_key(k3), bias, conv), out, f"Output ({out.shape[0]}×{out.shape[1]})",
                           signed=bool(out.min() < 0), px=230, scale=False,
                           boxes=(Box(r, c, r, c, color="#f59e0b", width=2.5),)), "colour_out")
    for col, ch, name in zip(st.columns(3), range(3), ("R", "G", "B")):
        with col:
            show(kernel_figure(k3[ch], f"{name} slice", px=150), f"colour_k{ch}")
    sums = " + ".join(f"{name} {paren(m.total)}" for name, m in zip(("R", "G", "B"), px.channels))
    st.markdown(f"Output pixel (row {r}, column {c}) = {sums} + bias {paren(bias)} = **{fmt(px.total)}**")
