"""Filters & kernels: hand-designed kernels on real images, the arithmetic of one output pixel, and why
a conv layer is a matrix product. All numbers come from ``core.filters`` (checked against PyTorch)."""

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

from core import arithmetic, filters, images, share  # noqa: E402
from ui import filters_views as fv  # noqa: E402
from ui import state  # noqa: E402
from ui.errors import shipped_data  # noqa: E402
from ui.grid import Box  # noqa: E402

PAGE = "filters"
IMAGE_CHOICES = tuple(images.BUILTIN_IMAGES) + ("upload",)
DEFAULT_IMAGE = "photo"
SIZES = filters.EDITOR_SIZES
SCHEMA = (
    share.ChoiceParam("img", DEFAULT_IMAGE, "image", choices=IMAGE_CHOICES),
    share.ChoiceParam("k", "sobel_x", "kernel preset", choices=tuple(filters.KERNEL_PRESETS)),
    share.IntParam("bs", 3, "box blur size", lo=3, hi=7),
    share.IntParam("gs", 5, "Gaussian size", lo=3, hi=7),
    share.FloatParam("sig", 1.0, "Gaussian sigma", lo=0.3, hi=3.0),
    share.FloatParam("thr", 0.0, "threshold", lo=0.0, hi=6.0),
    share.IntParam("cs", 3, "custom kernel size", lo=3, hi=7),
    share.FloatListParam("ck", tuple(filters.WORKED_KERNEL.ravel()), "custom kernel", lengths=(9, 25, 49),
                         lo=-filters.MAX_ABS_WEIGHT, hi=filters.MAX_ABS_WEIGHT),
    share.IntParam("s", 1, "stride", lo=1, hi=4),
    share.ChoiceParam("pm", "valid", "padding mode", choices=arithmetic.PADDING_MODES),
    share.IntParam("p", 1, "padding", lo=0, hi=6),
    share.IntParam("d", 1, "dilation", lo=1, hi=4),
    share.ChoiceParam("disp", "signed", "display", choices=tuple(filters.DISPLAY_MODES)),
    share.IntParam("r", 0, "microscope row", lo=0, hi=511),
    share.IntParam("c", 0, "microscope column", lo=0, hi=511),
)
UPLOAD = f"{PAGE}._upload"  # the decoded upload of this session: {"digest", "name", "image" | "error"}
REV = f"{PAGE}._ck_rev"  # bumped when the custom kernel is replaced from outside its grid editor


def key(name: str) -> str:
    return state.wkey(PAGE, name)


# ---------------------------------------------------------------------------------------------
# State that the share link cannot express on its own


def link_wants_missing_upload() -> bool:
    """A freshly opened link says image=upload, but this session has no uploaded picture."""
    link = state.incoming_link(PAGE)
    return link is not None and link.get("img") == "upload" and "image" not in st.session_state.get(UPLOAD, {})


def sync_custom_kernel() -> None:
    """Keep the stored custom kernel the size the size picker says (a link can disagree)."""
    size = state.get(PAGE, "cs")
    if size not in SIZES:
        size = min(SIZES, key=lambda s: abs(s - size))
        st.session_state[key("cs")] = size
    values = np.asarray(state.get(PAGE, "ck"), dtype=float)
    side = int(round(np.sqrt(values.size)))
    if side != size:
        st.session_state[key("ck")] = tuple(filters.resize_kernel(values.reshape(side, side), size).ravel())
    for name in ("bs", "gs"):
        if state.get(PAGE, name) not in SIZES:
            st.session_state[key(name)] = 3


def on_custom_size() -> None:
    values = np.asarray(state.get(PAGE, "ck"), dtype=float)
    side = int(round(np.sqrt(values.size)))
    size = state.get(PAGE, "cs")
    st.session_state[key("ck")] = tuple(filters.resize_kernel(values.reshape(side, side), size).ravel())
    st.session_state[REV] = st.session_state.get(REV, 0) + 1


def copy_to_custom(kernel: np.ndarray) -> None:
    size = int(kernel.shape[0])
    st.session_state[key("k")] = "custom"
    st.session_state[key("cs")] = size
    st.session_state[key("ck")] = tuple(float(f"{v:.6g}") for v in kernel.ravel())
    st.session_state[REV] = st.session_state.get(REV, 0) + 1


# ---------------------------------------------------------------------------------------------
# Controls


def image_controls() -> tuple[np.ndarray, str]:
    choice = st.selectbox(
        "Image", IMAGE_CHOICES, key=key("img"),
        format_func=lambda k: "Upload your own…" if k == "upload" else images.BUILTIN_IMAGES[k].label,
    )
    if choice != "upload":
        st.caption(images.BUILTIN_IMAGES[choice].description)
        with shipped_data():  # the MNIST digit images come from data/
            return images.builtin_image(choice), images.BUILTIN_IMAGES[choice].label
    upload = upload_widget()
    if upload is None:
        st.info("Until you upload a picture, the landscape is shown.", icon="🖼️")
        return images.builtin_image(DEFAULT_IMAGE), images.BUILTIN_IMAGES[DEFAULT_IMAGE].label
    return upload.pixels, f"your picture “{st.session_state[UPLOAD]['name']}”"


def upload_widget() -> images.DecodedImage | None:
    file = st.file_uploader(
        "PNG or JPEG, up to 8 MB and 40 megapixels", type=list(images.UPLOAD_TYPES), key=key("file"),
        max_upload_size=images.MAX_UPLOAD_BYTES // (1024 * 1024),
        help="Turned into grayscale and shrunk to at most 256 pixels a side. It stays in this browser session only.",
    )
    if file is not None:
        raw = file.getvalue()
        digest = hashlib.sha256(raw).hexdigest()
        if st.session_state.get(UPLOAD, {}).get("digest") != digest:
            try:
                st.session_state[UPLOAD] = {"digest": digest, "name": file.name,
                                            "image": images.decode_upload(raw)}
            except images.ImageError as exc:
                st.session_state[UPLOAD] = {"digest": digest, "name": file.name, "error": str(exc)}
    stored = st.session_state.get(UPLOAD, {})
    if "error" in stored:
        st.error(f"“{stored['name']}” cannot be used. {stored['error']}", icon="🚫")
        return None
    if "image" not in stored:
        return None
    decoded: images.DecodedImage = stored["image"]
    h, w = decoded.pixels.shape
    st.caption(f"Using “{stored['name']}” ({decoded.format}, {w}×{h}). " + " ".join(decoded.notes))
    return decoded


def kernel_controls() -> tuple[np.ndarray, str] | None:
    """Preset picker and its parameters → (K, kh, kw) kernels and the preset key, or None when invalid."""
    name = st.selectbox("Kernel", tuple(filters.KERNEL_PRESETS), key=key("k"),
                        format_func=lambda k: filters.KERNEL_PRESETS[k].label)
    preset = filters.KERNEL_PRESETS[name]
    st.caption(preset.explanation)
    params: dict = {}
    if name == "box_blur":
        params["size"] = st.radio("Size", SIZES, key=key("bs"), horizontal=True)
    elif name == "gaussian":
        params["size"] = st.radio("Size", SIZES, key=key("gs"), horizontal=True)
        params["sigma"] = st.slider("Sigma σ (spread of the bell)", 0.3, 3.0, step=0.1, key=key("sig"))
    elif name == "custom":
        return custom_editor()
    kernels = filters.get_kernels(name, **params)
    if name == "sobel_magnitude":
        st.slider("Threshold (smaller edge strengths become 0)", 0.0, 6.0, step=0.05, key=key("thr"))
    elif kernels.shape[1] in SIZES:
        st.button("✏️ Copy into the custom editor", on_click=copy_to_custom, args=(kernels[0],),
                  help="Start a custom kernel from this one and change its numbers.")
    return kernels, name


def custom_editor() -> tuple[np.ndarray, str] | None:
    st.radio("Size", SIZES, key=key("cs"), horizontal=True, on_change=on_custom_size)
    size = state.get(PAGE, "cs")
    current = np.asarray(state.get(PAGE, "ck"), dtype=float).reshape(size, size)
    table = pd.DataFrame(current, columns=[str(c) for c in range(size)])
    edited = st.data_editor(
        table, key=f"{PAGE}.ck_editor.{size}.{st.session_state.get(REV, 0)}", hide_index=True,
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
    st.session_state[key("ck")] = tuple(float(v) for v in kernel.ravel())
    st.caption("Double-click a cell to type a number. Weights may be negative or fractional.")
    return kernel[None], "custom"


def advanced_controls() -> None:
    with st.expander("Stride, padding, dilation", expanded=False):
        st.slider("Stride", 1, 4, key=key("s"))
        st.selectbox("Padding mode", arithmetic.PADDING_MODES, key=key("pm"),
                     help="valid: no padding · same: keep the size (stride 1) · full: every partial overlap · "
                          "explicit: choose the number of zero rings")
        if state.get(PAGE, "pm") == "explicit":
            st.slider("Padding (zeros on each side)", 0, 6, key=key("p"))
        st.slider("Dilation (gaps between taps)", 1, 4, key=key("d"))


def output_size_line(shape: arithmetic.Shape2D, kernel_hw: tuple[int, int]) -> None:
    h, w = shape.height, shape.width
    if not shape.ok:
        st.error(f"No output: {shape.reason}", icon="📐")
        return
    same = (h.n, h.pad_lo, h.pad_hi, h.k) == (w.n, w.pad_lo, w.pad_hi, w.k)
    pad = f"{h.pad_lo}" if h.pad_lo == h.pad_hi == w.pad_lo == w.pad_hi else (
        f"{h.pad_lo}/{h.pad_hi} rows, {w.pad_lo}/{w.pad_hi} columns")
    st.markdown(f"**Output size: {h.out}×{w.out}** — input {h.n}×{w.n}, kernel {kernel_hw[0]}×{kernel_hw[1]}, "
                f"stride {h.s}, padding {pad}, dilation {h.d}")
    worked = " · ".join(
        f"{'' if same else ax.axis + ': '}⌊({ax.n} + {ax.pad_lo} + {ax.pad_hi} − {ax.d}·({ax.k}−1) − 1) / {ax.s}⌋ + 1"
        f" = {ax.out}" for ax in ([h] if same else [h, w])
    )
    st.caption(f"Per axis: out = ⌊(n + p_before + p_after − d·(k−1) − 1) / s⌋ + 1;  {worked}")


# ---------------------------------------------------------------------------------------------
# The microscope's controls (the figures and lesson sections live in ui.filters_views)


def jump_to(row: int, col: int) -> None:
    st.session_state[key("r")], st.session_state[key("c")] = row, col


def microscope_controls(output: np.ndarray) -> tuple[int, int]:
    out_hw = output.shape
    state.clamp(PAGE, "r", 0, out_hw[0] - 1)
    state.clamp(PAGE, "c", 0, out_hw[1] - 1)
    a, b, jump, note = st.columns([1, 1, 1.3, 3])
    r = a.number_input("Output row", 0, out_hw[0] - 1, step=1, key=key("r"))
    c = b.number_input("Output column", 0, out_hw[1] - 1, step=1, key=key("c"))
    strongest = np.unravel_index(int(np.argmax(np.abs(output))), out_hw)
    jump.markdown("<div style='height: 1.75rem'></div>", unsafe_allow_html=True)
    jump.button("🎯 Strongest response", on_click=jump_to, args=(int(strongest[0]), int(strongest[1])),
                help="Jump to the output pixel with the largest absolute value.")
    note.caption("Pick an output pixel: the input pixels it reads are outlined in orange in the input above "
                 "(outside the image they read the zero padding); the pixel itself is outlined in the output.")
    return int(r), int(c)


# ---------------------------------------------------------------------------------------------
# The page

missing_upload = link_wants_missing_upload()
state.start(PAGE, SCHEMA)
if missing_upload:
    st.session_state[key("img")] = DEFAULT_IMAGE
sync_custom_kernel()

head, share_slot = st.columns([5, 1])
head.title("🔍 Filters & kernels")
head.caption("Hand-designed kernels on real images: blur, sharpen, edges. Change the kernel, then look at "
             "one output pixel under the microscope.")
if missing_upload:
    st.info("This link was made with an uploaded picture, and links cannot carry pictures: showing the "
            "landscape instead. Choose “Upload your own…” to use yours.", icon="🔗")

with st.container(border=True):
    c_img, c_kernel, c_view = st.columns([1.1, 1.3, 1])
    with c_img:
        image, image_label = image_controls()
    with c_kernel:
        try:
            kernels, name = kernel_controls()
        except filters.KernelError as exc:
            st.error(str(exc))
            st.stop()
    with c_view:
        display = st.radio("Show the output as", tuple(filters.DISPLAY_MODES), key=key("disp"),
                           format_func=filters.DISPLAY_MODES.get)
        if not state.is_classroom():
            advanced_controls()
    stride, pad_mode, dilation = state.get(PAGE, "s"), state.get(PAGE, "pm"), state.get(PAGE, "d")
    padding, pad_reason = filters.resolve_padding2d(pad_mode, kernels.shape[1:], stride, dilation,
                                                    state.get(PAGE, "p"))
    shape = arithmetic.conv2d_shape(image.shape, kernels.shape[1:], (stride, stride), padding,
                                    (dilation, dilation), 1, len(kernels))
    if pad_reason:
        st.error(pad_reason, icon="📐")
    else:
        output_size_line(shape, kernels.shape[1:])

threshold = state.get(PAGE, "thr") if name == "sobel_magnitude" else 0.0
conv = (stride, padding, dilation)
ok = shape.ok and not pad_reason
fig_cols = st.columns([1.2, 0.9, 1.2])

if ok:
    responses = fv.run_conv(image, kernels, *conv)  # (K, H', W')
    output = filters.combine_magnitude(responses, threshold) if len(kernels) == 2 else responses[0]
    st.subheader("🔬 Microscope: one output pixel")
    r, c = microscope_controls(output)
    in_boxes = fv.window_boxes(arithmetic.conv_window(shape, r, c), padding, dilation)
    fv.microscope_section(image, kernels, name, conv, r, c, threshold, float(output[r, c]))
else:
    in_boxes = []

with fig_cols[0]:
    fv.show(fv.picture(image, f"Input: {image_label} ({image.shape[0]}×{image.shape[1]})",
                 boxes=in_boxes, scale=False), "input")
with fig_cols[1]:
    for i, k in enumerate(kernels):
        label = ("Sobel x (Gx)", "Sobel y (Gy)")[i] if len(kernels) == 2 else filters.KERNEL_PRESETS[name].label
        fv.show(fv.kernel_figure(k, f"Kernel: {label}", px=200 if len(kernels) == 2 else 300), f"kernel{i}")
with fig_cols[2]:
    if ok:
        shown, signed = fv.output_view(output, display)
        fv.show(fv.picture(shown, f"Output ({output.shape[0]}×{output.shape[1]})", signed=signed,
                     boxes=[Box(r, c, r, c, color="#f59e0b", width=2.5)]), "output")
        st.caption(f"Values from {fv.fmt(output.min())} to {fv.fmt(output.max())}. "
                   + ("Blue is negative, red positive, white 0." if signed else
                      "No negative values, so a grey scale: black 0, white the largest." if display == "signed"
                      else "Rescaled for display only: the microscope shows the true values."))
    else:
        st.warning("No output to show with these settings: change the stride, padding or dilation.")

if ok:
    st.subheader("↔️ Convolution or cross-correlation?")
    fv.flip_section(image, kernels[0], conv, name)
    st.subheader("🧮 How a conv layer computes it: im2col and a kernel bank")
    fv.im2col_section(image, conv)

st.subheader("🎓 A CNN learns kernels like these")
fv.closing_section()

params = state.finish(PAGE, SCHEMA, {p.key: state.get(PAGE, p.key) for p in SCHEMA})
with share_slot:
    state.share_box(params)
