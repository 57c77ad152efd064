"""ConvLab's one reader of untrusted image files.

Every image it returns is a float (H, W) array of grey levels in [0, 1] (0 black, 1 white), at most
``DISPLAY_MAX_SIDE`` pixels on its longer side so filters run and draw quickly.

``decode_upload`` (bytes: the filters upload, the draw page) and ``read_image_file`` (a path: ``python -m
core.infer.predict``) are the only code that decodes an image someone gave us. Both turn it into such an array,
upright (EXIF orientation applied), or raise ``ImageError`` with a sentence a student understands: too
many bytes, too many pixels, too much memory to decode (checked from the header, before decoding: a
77 KB 16-bit PNG can claim 6300×6300 pixels), not an image, not PNG/JPEG, damaged file.
"""

from __future__ import annotations

import io
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from core.arch.budget import MemoryBudget, MemoryRefused
from core.files import FileRefused, read_regular_file

# Text chunks (tEXt/zTXt/iTXt) are decompressed and kept while a PNG is opened, before any check of ours
# can run: Pillow allows 64 MB of them per image, which would double the memory of one upload. ConvLab
# never uses PNG text, so it allows 4 MB (a process-wide Pillow setting, the same for every session).
PngImagePlugin.MAX_TEXT_MEMORY = 4 * 1024 * 1024

MAX_UPLOAD_BYTES = 8 * 1024 * 1024  # 8 MB
MAX_UPLOAD_PIXELS = 40_000_000  # 40 megapixels (width × height), checked from the header before decoding
MAX_SIDE_PX = 16_384  # longer side: a 2 × 20,000,000 strip would need 160 MB of row pointers alone
# Memory to decode and shrink one picture (``decode_cost``): with the interpreter's own allocations the
# measured peak stays under 150 MB per upload (tests/test_image_memory.py; docs/benchmarks.md).
MAX_DECODE_BYTES = 96 * 1024 * 1024
DISPLAY_MAX_SIDE = 256
ACCEPTED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG"}  # MPO: the JPEG variant many phones write
UPLOAD_TYPES: tuple[str, ...] = ("png", "jpg", "jpeg")  # for st.file_uploader(type=...)


class ImageError(ValueError):
    """An upload that cannot be used; the message says why in plain words."""


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # (H, W) float64 in [0, 1], upright (EXIF orientation applied)
    original_size: tuple[int, int]  # (width, height) of the picture as displayed, before shrinking
    format: str  # "PNG" or "JPEG"
    notes: tuple[str, ...] = ()  # what was done to it (downscaled, transparency filled, ...)


def _mb(n: float) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _open(data_bytes: bytes) -> Image.Image:
    """Parse the header only (Pillow decodes pixels lazily, in ``load``)."""
    try:
        return Image.open(io.BytesIO(data_bytes))
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"This image claims an enormous number of pixels (a 'decompression bomb'); ConvLab accepts up to "
            f"{MAX_UPLOAD_PIXELS / 1e6:g} megapixels."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError("This file is not an image ConvLab can read: please upload a PNG or JPEG picture.") from exc
    except ValueError as exc:
        if "text chunk" in str(exc):
            raise ImageError(f"This PNG carries more than {_mb(PngImagePlugin.MAX_TEXT_MEMORY)} of text "
                             f"(metadata); ConvLab does not read it. Please save the picture without it.") from exc
        raise ImageError(f"This file could not be opened as an image ({exc}).") from exc
    except (OSError, SyntaxError, EOFError) as exc:
        raise ImageError(f"This file could not be opened as an image ({exc}).") from exc


# Decoding cost, from the header. Pillow stores "1", "L" and "P" in 1 byte per pixel, 16-bit greys in 2
# and every other mode (RGB included) in 4, plus one row pointer (8 bytes) per row: a 2 × 20,000,000
# strip costs 160 MB in row pointers alone, which is why the longer side is bounded too.
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_RESIZABLE = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "I", "F", "I;16"})  # area-averaged by Pillow as they are
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {  # EXIF orientation → the operation that shows the picture upright (as ImageOps.exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _bytes_per_pixel(mode: str) -> int:
    return _BYTES_PER_PIXEL.get(mode, 4)


def _working_mode(img: Image.Image) -> str:
    """The mode the image is shrunk in: its own when Pillow can area-average it, else the nearest that can."""
    if "transparency" in img.info and img.mode in ("1", "L", "P", "RGB"):
        return "RGBA"
    if img.mode in _RESIZABLE:
        return img.mode
    return {"1": "L", "P": "RGB", "I;16B": "I", "I;16L": "I", "I;16N": "I"}.get(img.mode, "RGBA")


# Start-of-frame markers libjpeg may decode a few rows at a time (baseline and extended sequential
# Huffman); every other frame kind (progressive, lossless, hierarchical, arithmetic) is costed as multi-scan.
_SEQUENTIAL_SOF = frozenset({0xC0, 0xC1})
_ANY_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # C4 DHT, C8 JPG (reserved), CC DAC
_NO_LENGTH = frozenset(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM carry no length field


def _skip_entropy_data(data_bytes: bytes, pos: int) -> int:
    """Position of the first marker after entropy-coded data starting at ``pos``: inside it an FF byte is
    followed by 00 (a stuffed FF) or D0..D7 (a restart marker); anything else after an FF is a marker."""
    n = len(data_bytes)
    while True:
        pos = data_bytes.find(b"\xff", pos)
        if pos == -1 or pos + 1 >= n:
            return n
        nxt = data_bytes[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
            pos += 2
        elif nxt == 0xFF:  # fill bytes before a marker
            pos += 1
        else:
            return pos


def jpeg_multi_scan(data_bytes: bytes) -> bool:
    """Whether decoding the (first) picture of a JPEG makes libjpeg keep every DCT coefficient at full
    size. libjpeg does so when the frame is not sequential (progressive and the rest) or when the first
    scan does not hold every component of the frame; a sequential file with a second scan is costed so
    too. The markers are walked by their lengths, so comment and APP bytes (which may hold FF D9 or
    FF DA, and EXIF thumbnails with scans of their own) are never read as markers, and entropy-coded
    data is skipped by the rules for stuffed bytes and restart markers. Anything unexpected (truncation,
    a second frame, garbage between segments) counts as multi-scan, the costly kind."""
    pos, n = 2, len(data_bytes)
    if not data_bytes.startswith(b"\xff\xd8"):
        return True
    components: int | None = None
    scans = 0
    while pos + 2 <= n:
        if data_bytes[pos] != 0xFF:
            return True
        marker = data_bytes[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _NO_LENGTH:
            pos += 2
            continue
        if marker == 0xD9:  # end of image
            return scans == 0
        if marker == 0xD8 or pos + 4 > n:
            return True
        length = int.from_bytes(data_bytes[pos + 2:pos + 4], "big")
        if length < 2 or pos + 2 + length > n:
            return True
        if marker in _ANY_SOF:
            if components is not None or marker not in _SEQUENTIAL_SOF or length < 8:
                return True
            components = data_bytes[pos + 9]
        elif marker == 0xDA:  # start of scan: its header says which components it holds
            if components is None or scans > 0 or data_bytes[pos + 4] < components:
                return True
            scans += 1
            pos = _skip_entropy_data(data_bytes, pos + 2 + length)
            continue
        pos += 2 + length  # APPn, COM, DQT, DHT, DRI, DNL...: skipped whole, whatever they contain
    return True  # no end of image: truncated, or not a JPEG this walk understands


def _jpeg_coefficient_bytes(img: Image.Image, size: tuple[int, int]) -> int:
    """libjpeg keeps every DCT coefficient (2 bytes each) of a multi-scan JPEG at full resolution,
    whatever scale it decodes at: counted per component from the header's sampling factors."""
    layers = getattr(img, "layer", None) or [("", 1, 1, 0)] * len(img.getbands())
    h_max = max(h for _, h, _, _ in layers) or 1
    v_max = max(v for _, _, v, _ in layers) or 1
    total = 0
    for _, h, v, _ in layers:
        blocks_w = -(-size[0] * h // (h_max * 8))
        blocks_h = -(-size[1] * v // (v_max * 8))
        total += blocks_w * blocks_h * 64 * 2
    return total


def decode_cost(img: Image.Image, file_size: tuple[int, int], fmt: str, multi_scan: bool = True) -> int:
    """Bytes that decoding and shrinking ``img`` (opened, not loaded; after ``draft`` for a JPEG) will
    hold at once: the decoded pixels, a converted copy when Pillow cannot shrink the mode as it is, the
    premultiplied copy of a transparent image, row pointers, and a multi-scan JPEG's coefficients
    (a single-scan JPEG is decoded a few rows at a time, at the scale ``draft`` chose).
    Measured peaks match it within a few MB (docs/benchmarks.md)."""
    w, h = img.size
    work = _working_mode(img)
    per_pixel = _bytes_per_pixel(img.mode) + (_bytes_per_pixel(work) if work != img.mode else 0)
    if work in ("LA", "RGBA"):
        per_pixel += 4  # Pillow resizes transparent images premultiplied: one more full-size copy
    cost = w * h * per_pixel + 3 * 8 * h
    if fmt == "JPEG" and multi_scan:
        cost += _jpeg_coefficient_bytes(img, file_size)
    return cost


@dataclass(frozen=True)
class ImageLimits:
    """What one picture may cost; the same for the filters upload, the draw page and the CLI."""

    max_bytes: int = MAX_UPLOAD_BYTES  # size of the file
    max_pixels: int = MAX_UPLOAD_PIXELS  # width × height
    max_side_px: int = MAX_SIDE_PX  # longer side (row pointers, strips)
    max_decode_bytes: int = MAX_DECODE_BYTES  # memory to decode and shrink it (see ``decode_cost``)


def _check_header(img: Image.Image, limits: ImageLimits) -> str:
    fmt = ACCEPTED_FORMATS.get(img.format or "")
    if fmt is None:
        raise ImageError(f"ConvLab accepts PNG and JPEG images; this file is {img.format or 'another'} format.")
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError("The image has no pixels.")
    if width * height > limits.max_pixels:
        raise ImageError(
            f"This image is {width}×{height} pixels ({width * height / 1e6:.1f} megapixels); ConvLab accepts up "
            f"to {limits.max_pixels / 1e6:g} megapixels. Please resize it first."
        )
    if max(width, height) > limits.max_side_px:
        raise ImageError(
            f"This image is {width}×{height} pixels; ConvLab accepts at most {limits.max_side_px:,} pixels "
            f"on a side. Please resize or crop it first."
        )
    return fmt


def _check_cost(img: Image.Image, fmt: str, file_size: tuple[int, int], limits: ImageLimits,
                multi_scan: bool) -> int:
    cost = decode_cost(img, file_size, fmt, multi_scan)
    if cost > limits.max_decode_bytes:
        w, h = file_size
        raise ImageError(
            f"Decoding this {w}×{h} {fmt} image ({img.mode} pixels) would take about {_mb(cost)} of server "
            f"memory; ConvLab decodes at most {_mb(limits.max_decode_bytes)} per picture. Please resize it "
            f"(for example to 2,000 pixels on the longer side) or save it as 8-bit."
        )
    return cost


def _load(data_bytes: bytes, fmt: str, max_side: int) -> Image.Image:
    """Decode the pixels, a JPEG at the smallest scale that still covers ``max_side``."""
    img = _open(data_bytes)
    if fmt == "JPEG":
        img.draft(img.mode, (max_side, max_side))  # libjpeg decodes at 1/2, 1/4 or 1/8 scale: less memory
    img.load()
    return img


def decode_upload(
    data_bytes: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS,
    max_side: int = DISPLAY_MAX_SIDE, max_decode_bytes: int = MAX_DECODE_BYTES, budget: MemoryBudget | None = None,
) -> DecodedImage:
    """Untrusted PNG/JPEG bytes → grey (H, W) float image in [0, 1], upright, longer side ≤ ``max_side``.

    The one image reader of ConvLab (filters upload, draw page, ``python -m core.infer.predict``). Refuses
    (``ImageError``), all before any pixel is decoded: more than ``max_bytes``; more than ``max_pixels``
    pixels or ``MAX_SIDE_PX`` on a side; a decoding cost (``decode_cost``) over ``max_decode_bytes``;
    anything that is not a PNG or JPEG. Files that fail ``verify()`` or cannot be fully decoded are
    refused too. With the server's ``budget`` the decoding cost is admitted against it first (a busy
    server refuses in words rather than decoding anyway). Transparent pixels are laid on white when the
    visible content is mostly dark and on black when it is mostly light, so it stays visible.
    """
    limits = ImageLimits(max_bytes, max_pixels, MAX_SIDE_PX, max_decode_bytes)
    if not data_bytes:
        raise ImageError("The file is empty.")
    if len(data_bytes) > limits.max_bytes:
        raise ImageError(f"The file is {_mb(len(data_bytes))}; ConvLab accepts images up to {_mb(limits.max_bytes)}.")
    img = _open(data_bytes)
    fmt = _check_header(img, limits)
    file_size = img.size
    if fmt == "JPEG":
        img.draft(img.mode, (max_side, max_side))  # only changes what load() will do: cost it as such
    cost = _check_cost(img, fmt, file_size, limits, fmt == "JPEG" and jpeg_multi_scan(data_bytes))
    try:
        with budget.admit("decoding this picture", cost) if budget else nullcontext():
            return _decode(data_bytes, fmt, file_size, max_side)
    except MemoryRefused as exc:
        raise ImageError(str(exc)) from exc


def _decode(data_bytes: bytes, fmt: str, file_size: tuple[int, int], max_side: int) -> DecodedImage:
    """Verify, decode at the draft scale, shrink and turn grey: the costly part, after every check."""
    img = _open(data_bytes)
    try:
        img.verify()  # structure and checksums; the object cannot be used afterwards
        img = _load(data_bytes, fmt, max_side)
        orientation = _orientation(img)
        source_mode = img.mode
        small, notes = _shrink_native(img, max_side)
        del img  # the full-size pixels: freed before the float conversion below
    except ImageError:
        raise
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, struct.error, ...) for bad files
        raise ImageError(
            f"This {fmt} file is damaged or incomplete and cannot be decoded ({type(exc).__name__}: {exc})."
        ) from exc
    if orientation in _TRANSPOSE:
        small = small.transpose(_TRANSPOSE[orientation])
        if orientation >= 5:
            file_size = (file_size[1], file_size[0])
    if source_mode not in _GREY_MODES:
        notes.append("Converted to grayscale (one channel, like the MNIST digits).")
    if small.size != file_size:
        notes.insert(0, f"Shrunk from {file_size[0]}×{file_size[1]} to {small.size[0]}×{small.size[1]} pixels "
                        f"so filters run quickly.")
    return _to_grey(small, fmt, file_size, tuple(notes))


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1..8) phones use to store a rotated photo; 1 (as stored) when absent or bogus."""
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block must not cost the picture: show it as stored
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def read_image_file(path: str | Path, max_side: int = DISPLAY_MAX_SIDE) -> DecodedImage:
    """``decode_upload`` for a file named on a command line: regular files only (a FIFO, a device or a
    link loop is refused by name, never opened or waited on), with the same limits as an upload."""
    try:
        data_bytes = read_regular_file(path, MAX_UPLOAD_BYTES)
    except FileRefused as exc:
        raise ImageError(str(exc)) from exc
    return decode_upload(data_bytes, max_side=max_side)


def _shrink_native(img: Image.Image, max_side: int) -> tuple[Image.Image, list[str]]:
    """Area-average down to ``max_side`` in a mode Pillow can average (16-bit greys stay 16-bit), so the
    only full-size copy is the decoded one (plus a converted one for palette, 1-bit and transparent-key
    images, as costed by ``decode_cost``)."""
    notes: list[str] = []
    work = _working_mode(img)
    if work != img.mode:
        img = img.convert(work)
    top = 1.0
    if img.mode in ("I", "I;16", "F"):  # 16-bit or float greys: the full scale is read before averaging
        top = 65535.0 if (img.getextrema()[1] or 0) > 255 else 255.0
    w, h = img.size
    scale = max_side / max(w, h)
    if scale < 1:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
    if img.mode in ("I", "I;16", "F"):
        arr = np.asarray(img.convert("F"), dtype=np.float32) / np.float32(top)
        img = Image.fromarray(np.clip(arr, 0, 1), mode="F")
    return img, notes


def _to_grey(small: Image.Image, fmt: str, size: tuple[int, int], notes: tuple[str, ...]) -> DecodedImage:
    """A shrunk image in its working mode → (H, W) float64 grey in [0, 1]."""
    out = list(notes)
    if small.mode == "F":
        grey = np.asarray(small, dtype=np.float64)
    else:
        has_alpha = small.mode in ("RGBA", "LA")
        arr = np.asarray(small.convert("RGBA" if has_alpha else "RGB"), dtype=np.float64) / 255.0
        grey = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114  # ITU-R 601 luma, as PIL's "L"
        if has_alpha:
            grey, note = _composite(grey, arr[..., 3])
            if note:
                out.append(note)
    return DecodedImage(np.clip(grey, 0.0, 1.0), size, fmt, tuple(out))


def _composite(grey: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Lay a transparent image on white (dark content) or black (light content)."""
    if np.all(alpha >= 1.0):
        return grey, None
    weight = float(alpha.sum())
    mean = float((grey * alpha).sum() / weight) if weight > 0 else 0.0
    background = 1.0 if mean < 0.5 else 0.0
    where = "white" if background else "black"
    return grey * alpha + background * (1.0 - alpha), f"Transparent areas were filled with {where} so the content stays visible."
