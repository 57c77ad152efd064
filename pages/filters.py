"""Filters & kernels: hand-designed kernels on real images, the arithmetic of one output pixel, and why
a conv layer is a matrix product. All numbers come from ``core.lessons.filters`` (checked against PyTorch)."""

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

from ui.server_resources import memory_budget  # noqa: E402

from core import arithmetic as ar  # noqa: E402
from core.lessons import conv_layer  # noqa: E402

from core.lessons import filter_picture, filters  # noqa: E402
from core.lessons import kernels as kernel_lib  # noqa: E402

from core.infer import uploads as images  # noqa: E402

from core.lessons import pictures  # noqa: E402

from core.lessons import photos  # noqa: E402
from ui import filters_colour, filters_views as fv  # noqa: E402
from ui import state  # noqa: E402
from ui.errors import shipped_data  # noqa: E402
from ui.filters_settings import DEFAULT_IMAGE, IMAGES, SIZES, FiltersSettings  # noqa: E402
from ui.grid import Box  # noqa: E402
from ui.lesson_picture import lesson_picture, picked  # noqa: E402
from ui.text import literal_code, literal_html  # noqa: E402

S = FiltersSettings
UPLOAD = "filters._upload"  # the decoded upload of this session: {"digest", "name", "image" | "error"}
PICTURE = "filters.picture"  # the lesson picture's key: its state value is the picked output pixel
REV = "filters._ck_rev"  # bumped when the custom kernel is replaced from outside its grid editor
INTRO = ("Hand-designed kernels on real images: blur, sharpen, edges. Change the kernel, then hover an output "
         "pixel under the microscope.")


# ---------------------------------------------------------------------------------------------
# State that the share link cannot express on its own (an upload; the custom grid editor's generation)


def link_wants_missing_upload() -> bool:
    """A freshly opened link says image=upload, but this session has no uploaded picture."""
    link = state.incoming_link(S.PAGE)
    return link is not None and link.get("img") == "upload" and "image" not in st.session_state.get(UPLOAD, {})


def bump_editor() -> None:
    st.session_state[REV] = st.session_state.get(REV, 0) + 1


def tidy_sizes() -> None:
    """Kernel sizes the radio buttons can show (a link may say 4), and a custom kernel of the chosen size."""
    cfg = state.current(S)
    fixes = {name: 3 for name in ("bs", "gs", "cs") if getattr(cfg, name) not in SIZES}
    cfg = cfg.with_(**fixes)
    if len(cfg.ck) != cfg.cs ** 2:
        fixes["ck"] = tuple(cfg.custom().ravel())
    if fixes:
        state.put(S, **fixes)


def on_custom_size() -> None:
    state.put(S, ck=tuple(state.current(S).custom().ravel()))  # grown or cropped around the centre
    bump_editor()


def copy_to_custom(kernel: np.ndarray) -> None:
    state.put(S, k="custom", cs=int(kernel.shape[0]), ck=tuple(float(f"{v:.6g}") for v in kernel.ravel()))
    bump_editor()


def jump_to(row: int, col: int) -> None:
    state.put(S, r=row, c=col)


# ---------------------------------------------------------------------------------------------
# Controls


def image_for(key: str) -> tuple[np.ndarray, str]:
    if key in photos.PHOTOS:
        return photos.photo(key), photos.PHOTOS[key].label
    with shipped_data():  # the MNIST digit images come from data/
        return pictures.builtin_image(key), pictures.BUILTIN_IMAGES[key].label


def image_controls(keys: state.Keys) -> tuple[np.ndarray, str, str]:
    """The picker → (pixels, label, token). The token names the pixels (a shipped image's key, or the
    upload's SHA-256): cached convolutions are keyed by it instead of hashing the pixels on every run."""
    choice = st.selectbox("Image", tuple(IMAGES), key=keys.img, format_func=IMAGES.get)
    if choice != "upload":
        about = photos.PHOTOS[choice] if choice in photos.PHOTOS else pictures.BUILTIN_IMAGES[choice]
        st.caption(about.description)
        return (*image_for(choice), choice)
    upload = upload_widget()
    if upload is None:
        st.info("Until you upload a picture, the landscape is shown.", icon="🖼️")
        return (*image_for(DEFAULT_IMAGE), DEFAULT_IMAGE)
    # the label becomes a plotly title, which renders HTML: a file name goes in escaped
    stored = st.session_state[UPLOAD]
    return upload.pixels, f"your picture “{literal_html(stored['name'], 60)}”", "upload:" + stored["digest"]


def upload_widget() -> images.DecodedImage | None:
    file = st.file_uploader(
        "PNG or JPEG, up to 8 MB and 40 megapixels", type=list(images.UPLOAD_TYPES), key="filters.file",
        max_upload_size=images.MAX_UPLOAD_BYTES // (1024 * 1024),
        help="Turned into grayscale and shrunk to at most 256 pixels a side. It stays in this browser session only.",
    )
    if file is not None:
        raw = file.getvalue()
        digest = hashlib.sha256(raw).hexdigest()
        if st.session_state.get(UPLOAD, {}).get("digest") != digest:
            try:
                st.session_state[UPLOAD] = {"digest": digest, "name": file.name, "image": images.decode_upload(raw, budget=memory_budget())}
            except images.ImageError as exc:
                st.session_state[UPLOAD] = {"digest": digest, "name": file.name, "error": str(exc)}
    stored = st.session_state.get(UPLOAD, {})
    name = literal_code(stored.get("name", ""), 80)  # a file name is a stranger's text
    if "error" in stored:
        st.error(f"“{name}” cannot be used. {stored['error']}", icon="🚫")
        return None
    if "image" not in stored:
        return None
    decoded: images.DecodedImage = stored["image"]
    h, w = decoded.pixels.shape
    st.caption(f"Using “{name}” ({decoded.format}, {w}×{h}). " + " ".join(decoded.notes))
    return decoded


def kernel_controls(keys: state.Keys) -> np.ndarray:
    """The preset picker and its parameters → the (K, kh, kw) kernels."""
    name = st.selectbox("Kernel", tuple(kernel_lib.KERNEL_PRESETS), key=keys.k,
                        format_func=lambda k: kernel_lib.KERNEL_PRESETS[k].label)
    st.caption(kernel_lib.KERNEL_PRESETS[name].explanation)
    if name == "box_blur":
        st.radio("Size", SIZES, key=keys.bs, horizontal=True)
    elif name == "gaussian":
        st.radio("Size", SIZES, key=keys.gs, horizontal=True)
        st.slider("Sigma σ (spread of the bell)", 0.3, 3.0, step=0.1, key=keys.sig)
    elif name == "custom":
        return custom_editor(keys)
    kernels = state.current(S).kernels()
    if name == "sobel_magnitude":
        st.slider("Threshold (smaller edge strengths become 0)", 0.0, 6.0, step=0.05, key=keys.thr)
    elif kernels.shape[1] in SIZES:
        st.button("✏️ Copy into the custom editor", on_click=copy_to_custom, args=(kernels[0],),
                  help="Start a custom kernel from this one and change its numbers.")
    return kernels


def custom_editor(keys: state.Keys) -> np.ndarray:
    st.radio("Size", SIZES, key=keys.cs, horizontal=True, on_change=on_custom_size)
    cfg = state.current(S)
    current = cfg.custom()
    size = cfg.cs
    table = pd.DataFrame(current, columns=[str(c) for c in range(size)])
    edited = st.data_editor(
        table, key=f"filters.ck_editor.{size}.{st.session_state.get(REV, 0)}", hide_index=True,
        column_config={str(c): st.column_config.NumberColumn(str(c), format="%g", width=44 if size == 7 else 64,
                                                             min_value=-filters.MAX_ABS_WEIGHT,
                                                             max_value=filters.MAX_ABS_WEIGHT)
                       for c in range(size)},
    )
    try:
        kernel = filters.validate_kernel(edited.to_numpy(dtype=float, na_value=np.nan))
    except filters.KernelError as exc:
        st.error(f"{exc} Showing the last valid kernel instead.", icon="✋")
        kernel = current
    state.put(S, ck=tuple(float(v) for v in kernel.ravel()))  # the grid is the custom kernel's widget
    st.caption("Double-click a cell to type a number. Weights may be negative or fractional.")
    return kernel[None]


def advanced_controls(keys: state.Keys) -> None:
    if not keys.offered("s"):  # a classroom link keeps the teacher's stride, padding and dilation
        return
    with st.expander("Stride, padding, dilation", expanded=False):
        st.slider("Stride", 1, 4, key=keys.s)
        st.selectbox("Padding mode", ar.PADDING_MODES, key=keys.pm,
                     help="valid: no padding · same: keep the size (stride 1) · full: every partial overlap · "
                          "explicit: choose the number of zero rings")
        if state.current(S).pm == "explicit":
            st.slider("Padding (zeros on each side)", 0, 6, key=keys.p)
        st.slider("Dilation (gaps between taps)", 1, 4, key=keys.d)


def output_size_line(shape: ar.Shape2D, kernel_hw: tuple[int, int]) -> None:
    h, w = shape.height, shape.width
    if not shape.ok:
        st.error(f"No output: {shape.reason}", icon="📐")
        return
    pad = f"{h.pad_lo}" if h.pad_lo == h.pad_hi == w.pad_lo == w.pad_hi else (
        f"{h.pad_lo}/{h.pad_hi} rows, {w.pad_lo}/{w.pad_hi} columns")
    st.markdown(f"**Output size: {h.out}×{w.out}** — input {h.n}×{w.n}, kernel {kernel_hw[0]}×{kernel_hw[1]}, "
                f"stride {h.s}, padding {pad}, dilation {h.d}")


def formula_caption(shape: ar.Shape2D) -> None:
    h, w = shape.height, shape.width
    same = (h.n, h.pad_lo, h.pad_hi, h.k) == (w.n, w.pad_lo, w.pad_hi, w.k)
    worked = " · ".join(f"{'' if same else ax.axis + ': '}{conv_layer.conv_formula_text(ax)}"
                        for ax in ([h] if same else [h, w]))
    symmetric = h.pad_lo == h.pad_hi and w.pad_lo == w.pad_hi
    st.caption(f"Per axis: {conv_layer.general_formula(latex=False, symmetric=symmetric)};  {worked}")


def microscope_controls(keys: state.Keys, output: np.ndarray, cfg: FiltersSettings) -> tuple[int, int]:
    out_h, out_w = output.shape
    a, b, jump, note = st.columns([1, 1, 1.6, 2.7], vertical_alignment="bottom")  # the button's label fits at 1280 px
    r = a.number_input("Output row", 0, out_h - 1, step=1, key=keys.r)
    c = b.number_input("Output column", 0, out_w - 1, step=1, key=keys.c)
    strongest = np.unravel_index(int(np.argmax(np.abs(output))), output.shape)
    jump.button("🎯 Strongest response", on_click=jump_to, args=(int(strongest[0]), int(strongest[1])),
                help="Jump to the output pixel with the largest absolute value.")
    note.caption("The pinned pixel: the input pixels it reads are outlined in orange in the input above "
                 "(outside the image they read the zero padding); the pixel itself is outlined in the output.")
    return int(r), int(c)


def colour_part(keys: state.Keys, kernel: np.ndarray, conv, cfg: FiltersSettings) -> None:
    st.subheader("🎨 Colour images: one kernel slice per channel")
    key = cfg.img if cfg.img in photos.PHOTOS else next(iter(photos.PHOTOS))
    a, b = st.columns([2, 1])
    a.selectbox("Slices for R, G and B", tuple(kernel_lib.COLOUR_MIXES), key=keys.cm,  # "Kernel" stays unique
                format_func=lambda m: kernel_lib.COLOUR_MIXES[m][0])
    b.slider("Bias", -1.0, 1.0, step=0.05, key=keys.cb)  # its value is in cfg already (set before the run)
    filters_colour.colour_section(key, kernel, cfg.cm, cfg.cb, conv, photos.PHOTOS[key].label.lower())


OUTPUT_NOTES = {
    "photo": "Shown the way the picture looks: below 0 is black, above 1 white (clipped, like a saved photo's "
             "0…255). Choose “Signed values” to see the negative and over-bright values.",
    "signed": "Blue is negative, red positive, white 0.",
    "grey": "No negative values, so a grey scale: black 0, white the largest.",
}


# ---------------------------------------------------------------------------------------------
# The lesson


PX = 200  # input and output at the same size: three figures fit beside the controls at 1280 px


def pinned(out_hw: tuple[int, int]) -> None:
    """A click (or Step, or an arrow key) in the lesson picture pins that output pixel into the link, as the
    row and column inputs do. Read before those inputs are drawn, so both show it in this run."""
    cfg = state.current(S)
    _, nr, _, nc = filter_picture.origin(out_hw, cfg.r, cfg.c)
    cell = picked(PICTURE, nr * nc)
    if cell is not None:
        r, c = filter_picture.absolute(out_hw, cfg.r, cfg.c, cell)
        state.put(S, r=r, c=c)


def sharing_line(out_hw: tuple[int, int], kernels: np.ndarray) -> None:
    ws = filter_picture.weight_sharing(out_hw, kernels.shape[1:], out_channels=len(kernels), bias=False)
    st.markdown(f"**Weight sharing:** the same {kernels.shape[1]}×{kernels.shape[2]} kernel slides over all "
                f"{ws.positions:,} positions: {ws.conv:,} weights. A *locally-connected* layer of the same shape "
                f"(its own kernel at every position) would need {ws.local:,}, {ws.ratio:,.0f}× as many.")


def figures_row(image, kernels, token, output, look, display, name, in_boxes, r, c) -> None:
    """Input, kernel and output side by side, input and output drawn at the same size."""
    a, b, o = st.container(key="cl-row-filters").columns([1, 0.8, 1])  # a row on a phone too (ui/layout.css)
    with a:
        fv.show(fv.named_picture(("input", token), image, f"Input ({image.shape[0]}×{image.shape[1]})",
                                 boxes=tuple(in_boxes), scale=False, px=PX), "input")
    with b:
        for i, k in enumerate(kernels):
            label = ("Sobel x (Gx)", "Sobel y (Gy)")[i] if len(kernels) == 2 else kernel_lib.KERNEL_PRESETS[name].label
            fv.show(fv.kernel_figure(k, label, px=PX // 2 if len(kernels) == 2 else PX * 4 // 5), f"kernel{i}")
    with o:
        if output is None:
            st.warning("No output with these settings: change the stride, padding or dilation.")
            return
        shown, _ = look
        fv.show(fv.named_picture(("output", token, fv.kernel_key(kernels), *name_key(), display), shown,
                                 f"Output ({output.shape[0]}×{output.shape[1]})", signed=look[1] == "signed",
                                 photo=look[1] == "photo", px=PX, scale=False,
                                 boxes=(Box(r, c, r, c, color="#f59e0b", width=2.5),)), "output")


def output_caption(output, look, display) -> None:
    if output is not None:
        st.caption(f"Output values {fv.fmt(output.min())} to {fv.fmt(output.max())}. "
                   + (OUTPUT_NOTES[look[1]] if display in ("auto", "signed") else
                      "Rescaled for display only: the microscope shows the true values."))


def name_key() -> tuple:
    cfg = state.current(S)
    return (cfg.s, cfg.pm, cfg.p, cfg.d, cfg.threshold())


def controls(keys: state.Keys):
    """Image, kernel (with its own parameters), display and the advanced settings → (image, token, kernels),
    or None when the kernel cannot be used."""
    image, _, token = image_controls(keys)
    try:
        kernels = kernel_controls(keys)
    except filters.KernelError as exc:
        st.error(str(exc))
        return None
    st.radio("Show the output as", tuple(kernel_lib.DISPLAY_MODES), key=keys.disp,
             format_func=kernel_lib.DISPLAY_MODES.get, horizontal=True)
    advanced_controls(keys)
    return image, token, kernels


@st.fragment
def lesson() -> None:
    """Everything an image, kernel or microscope change touches: such a change reruns only this."""
    keys = state.Keys(S)
    pics, ctl = st.columns([2.5, 1], gap="medium")  # beside on a desktop, under the pictures on a phone
    with ctl:
        chosen = controls(keys)
    if chosen is None:
        return
    image, token, kernels = chosen
    cfg = state.current(S)
    padding, pad_reason = filters.resolve_padding2d(cfg.pm, kernels.shape[1:], cfg.s, cfg.d, cfg.p)
    shape = ar.conv2d_shape(image.shape, kernels.shape[1:], (cfg.s, cfg.s), padding, (cfg.d, cfg.d), 1, len(kernels))
    conv = (cfg.s, padding, cfg.d)
    ok = shape.ok and not pad_reason
    output, in_boxes, look = None, [], None
    if ok:
        responses = fv.run_conv(token, image, kernels, *conv)  # (K, H', W')
        output = kernel_lib.combine_magnitude(responses, cfg.threshold()) if len(kernels) == 2 else responses[0]
        pinned(output.shape)
        cfg = state.current(S)
        if cfg.r >= output.shape[0] or cfg.c >= output.shape[1]:  # keep the pixel inside a smaller output
            state.put(S, r=min(cfg.r, output.shape[0] - 1), c=min(cfg.c, output.shape[1] - 1))
            cfg = state.current(S)
        in_boxes = fv.window_boxes(ar.conv_window(shape, cfg.r, cfg.c), padding, cfg.d)
        look = fv.output_view(output, cfg.disp, kernels)
    with pics:
        figures_row(image, kernels, token, output, look, cfg.disp, cfg.k, in_boxes, cfg.r, cfg.c)
        if pad_reason:
            st.error(pad_reason, icon="📐")
        else:
            output_size_line(shape, kernels.shape[1:])
    with ctl:  # the notes under the controls: on a phone the controls come right after the pictures
        output_caption(output, look, cfg.disp)
        if shape.ok and not pad_reason:
            formula_caption(shape)
    if ok:
        microscope(keys, image, kernels, conv, output, cfg)
        st.subheader("↔️ Convolution or cross-correlation?")
        fv.flip_section(token, image, kernels[0], conv, cfg.k)
        colour_part(keys, kernels[0], conv, cfg)
        st.subheader("🗂️ A bank of kernels on this image")
        fv.bank_maps(token, image, conv)
    state.sync(S)


def microscope(keys: state.Keys, image, kernels, conv, output, cfg: FiltersSettings) -> None:
    """Hover any output pixel of the block around the pinned one; the pinned one's arithmetic in full."""
    st.subheader("🔬 Microscope: hover an output pixel")
    sharing_line(output.shape, kernels)
    label = "Sobel x (Gx)" if len(kernels) == 2 else kernel_lib.KERNEL_PRESETS[cfg.k].label
    lesson_picture(PICTURE, filter_picture.filter_picture(image, kernels[0], *conv, output.shape, cfg.r, cfg.c, label))
    if len(kernels) == 2:
        st.caption("The picture shows Gx; the magnitude √(Gx² + Gy²) of the pinned pixel is worked out below.")
    r, c = microscope_controls(keys, output, cfg)
    fv.microscope_section(image, kernels, cfg.k, conv, r, c, cfg.threshold(), float(output[r, c]))


missing_upload = link_wants_missing_upload()
state.bind(S)
if missing_upload:
    state.put(S, img=DEFAULT_IMAGE)
tidy_sizes()
state.header(S, "🔍 Filters & kernels", INTRO)
if missing_upload:
    st.info("This link was made with an uploaded picture, and links cannot carry pictures: showing the "
            "landscape instead. Choose “Upload your own…” to use yours.", icon="🔗")
lesson()
st.subheader("🧮 How a conv layer computes it: im2col and a kernel bank")
fv.im2col_section()  # the worked example: outside the lesson's fragment, a change does not redraw it
st.subheader("🎓 A CNN learns kernels like these")
fv.closing_section()
state.finish(state.current(S))
