"""A drawing sent by ConvLab's canvas (``ui.canvas``) → the grey image the preprocessing reads.

The browser sends the ink alone: the alpha channel of its strokes rendered white on transparent at
``SIZE``×``SIZE`` (one byte per pixel, how much ink covers it), deflated (zlib) and base64-encoded, so
the payload does not depend on the pen and paper colours and is 2–6 KB for a digit. The server lays the
ink on the page's paper colour. It is a fixed-size array, not an image file: no image decoder runs on
it, and unpacking costs about 0.1 ms (the PNG data URL this replaced cost 2.5–4 ms through
``core.infer.uploads``: two decompressions, an RGBA float64 copy, compositing).

The payload comes from a stranger's browser, so it is bounded before anything is decoded, inflated to
at most one byte more than a canvas holds, and must then be exactly one canvas; anything else is
refused with ``DrawingRefused`` and a sentence a student understands. No streamlit, no torch.
"""

from __future__ import annotations

import base64
import binascii
import zlib

import numpy as np

SIZE = 280  # drawing coordinates (pixels) of the canvas, and the side of the ink array it sends
PIXELS = SIZE * SIZE
DEFLATE = "ink280/deflate;base64,"  # zlib stream of the PIXELS alpha bytes (CompressionStream('deflate'))
RAW = "ink280/raw;base64,"  # the PIXELS bytes as they are (a browser without CompressionStream)
# zlib never grows data by more than a few bytes per 16 KB block: a raw canvas bounds both forms.
MAX_PAYLOAD_CHARS = len(DEFLATE) + 4 * ((PIXELS + 1024) // 3 + 1)


class DrawingRefused(ValueError):
    """A payload that is not a drawing from ConvLab's canvas; the message says why in plain words."""


_AGAIN = "Please press Clear and draw again."


def _bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DrawingRefused(f"The drawing arrived damaged (not valid base64). {_AGAIN}") from exc


def _inflate(packed: bytes) -> bytes:
    """zlib → at most PIXELS + 1 bytes (a 'zip bomb' stops there), the whole stream and nothing after it."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, PIXELS + 1)
    except zlib.error as exc:
        raise DrawingRefused(f"The drawing arrived damaged (not a zlib stream). {_AGAIN}") from exc
    if len(raw) == PIXELS and not (inflater.eof and not inflater.unused_data):
        raise DrawingRefused(f"The drawing arrived damaged (an incomplete zlib stream). {_AGAIN}")
    return raw


def ink_from_payload(payload: object) -> np.ndarray | None:
    """The canvas's payload → (SIZE, SIZE) float32 ink coverage in [0, 1], or None for an empty canvas.

    ``None`` or ``""`` is the empty canvas (Clear, or nothing drawn yet). Refused: anything that is not
    one of the two forms above, longer than ``MAX_PAYLOAD_CHARS``, not valid base64 or zlib, or not
    exactly SIZE×SIZE bytes once unpacked."""
    if payload is None or payload == "":
        return None
    if not isinstance(payload, str) or not payload.startswith((DEFLATE, RAW)):
        raise DrawingRefused(f"The drawing did not arrive in the form ConvLab's canvas sends. {_AGAIN}")
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise DrawingRefused(f"The drawing is larger than ConvLab's canvas ever sends "
                             f"({MAX_PAYLOAD_CHARS // 1024} KB). {_AGAIN}")
    if payload.startswith(DEFLATE):
        raw = _inflate(_bytes(payload[len(DEFLATE):]))
    else:
        raw = _bytes(payload[len(RAW):])
    if len(raw) != PIXELS:
        raise DrawingRefused(f"The drawing has {len(raw):,} pixels where ConvLab's {SIZE}×{SIZE} canvas sends "
                             f"{PIXELS:,}. {_AGAIN}")
    return np.frombuffer(raw, np.uint8).reshape(SIZE, SIZE).astype(np.float32) * np.float32(1 / 255)


def pack(ink: np.ndarray) -> str:
    """(SIZE, SIZE) ink coverage in [0, 1] → the payload the browser sends (for tests and benchmarks)."""
    alpha = np.round(np.clip(ink, 0, 1) * 255).astype(np.uint8)
    if alpha.shape != (SIZE, SIZE):
        raise ValueError(f"A canvas is {SIZE}×{SIZE}, not {alpha.shape}.")
    return DEFLATE + base64.b64encode(zlib.compress(alpha.tobytes())).decode("ascii")


def on_paper(ink: np.ndarray, pen: float, paper: float) -> np.ndarray:
    """Ink coverage (H, W) in [0, 1] drawn in grey level ``pen`` on paper of grey level ``paper`` → (H, W)
    float32 grey in [0, 1], as the student saw it (the preprocessing inverts dark ink itself)."""
    return (np.float32(paper) + (np.float32(pen) - np.float32(paper)) * ink).astype(np.float32)
