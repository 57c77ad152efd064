"""Small pictures sent as PNGs: crisp enlargement, tiles of feature maps, and the PNG encoding itself.

Every lesson shows 28×28 digits, feature maps and kernels as images of exactly the size shown: a PNG of
a few KB costs the server far less than a plotly heat map of hundreds of cells. These are the
one implementation of each step; the views choose sizes and colours.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
from PIL import Image


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by a whole factor, grey (H, W) or colour (H, W, C): each pixel
    becomes a crisp factor × factor square instead of the browser's blur."""
    factor = max(1, int(factor))
    if factor == 1:
        return np.asarray(image)
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def factor_for(size: int, target_px: int, most: int | None = None) -> int:
    """The whole enlargement factor that brings ``size`` pixels closest to ``target_px`` without passing
    it (at least 1, at most ``most``)."""
    f = max(1, target_px // max(int(size), 1))
    return min(f, most) if most else f


def tile(maps: np.ndarray, cols: int, gap: int, fill: float) -> np.ndarray:
    """(C, H, W) → one (rows·(H+gap)−gap, cols'·(W+gap)−gap) array, ``cols`` tiles a row at most, the
    gaps (and any empty last places) set to ``fill`` (NaN where a view must tell gaps from values)."""
    maps = np.asarray(maps, dtype=np.float32)
    c, h, w = maps.shape
    cols = max(1, min(cols, c))
    rows = -(-c // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), fill, dtype=np.float32)
    for i, one in enumerate(maps):
        r, q = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = one
    return out


def png(image: np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes of a uint8 image, or of a float image in 0..1 (grey or RGB). zlib level 1 by default:
    several times faster than Pillow's default for these flat pictures, which change with every
    interaction, for a few KB more each (a picture encoded once and cached can afford level 9)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if arr.ndim == 2:
        return _grey_png(arr, compress_level)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def _grey_png(pixels: np.ndarray, compress_level: int) -> bytes:
    """An 8-bit grey PNG written directly (no filter): Pillow's encoder spends 0.1 ms of Python per
    picture before compressing anything, three times what a 28×28 picture needs, and the Draw page
    sends several per stroke."""
    h, w = pixels.shape
    rows = np.zeros((h, w + 1), np.uint8)  # each row starts with its filter type, 0 = none
    rows[:, 1:] = pixels

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), compress_level)) + chunk(b"IEND", b""))

def png_data_uri(img: np.ndarray) -> str:
    """An image (uint8, or grey/RGB floats in 0..1) as a PNG data URI (a 28×28 digit is a few hundred bytes). ``st.image`` passes a
    data URI through as it is: no media file stored and no HTTP request per picture per stroke."""
    return "data:image/png;base64," + base64.b64encode(png(img)).decode("ascii")
