"""A drawing sent by ConvLab's canvas (``ui.canvas``) → the grey image the preprocessing reads.

The browser sends the ink alone: a ``SIZE``×``SIZE`` PNG (as a data URL) of white strokes on a transparent
background, so its alpha is how much ink covers each pixel, whatever the pen and paper colours. The server
lays that ink on the page's paper colour. The payload comes from a stranger's browser, so everything about
it is bounded and checked before the one image reader (``core.images.decode_upload``) decodes it; anything
else is refused with ``DrawingRefused`` and a sentence a student understands. No streamlit, no torch.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from core.images import ImageError, decode_upload

SIZE = 280  # drawing coordinates (pixels) of the canvas, and the side of the PNG it sends
PREFIX = "data:image/png;base64,"
# A 280×280 drawing of a digit is 2–8 KB as PNG; a canvas scribbled full of noise stays under ~40 KB
# (the RGBA PNG of 280×280 pixels is at most ~310 KB raw). Anything larger is not from our canvas.
MAX_PNG_BYTES = 320 * 1024
MAX_PAYLOAD_CHARS = len(PREFIX) + 4 * (MAX_PNG_BYTES // 3 + 1)


class DrawingRefused(ValueError):
    """A payload that is not a drawing from ConvLab's canvas; the message says why in plain words."""


def ink_from_payload(payload: object) -> np.ndarray | None:
    """The canvas's payload → (SIZE, SIZE) float32 ink coverage in [0, 1], or None for an empty canvas.

    ``None`` or ``""`` is the empty canvas (Clear, or nothing drawn yet). Refused: anything that is not
    a PNG data URL of at most ``MAX_PNG_BYTES``, not valid base64, not a decodable PNG, or not exactly
    SIZE×SIZE pixels."""
    if payload is None or payload == "":
        return None
    if not isinstance(payload, str) or not payload.startswith(PREFIX):
        raise DrawingRefused("The drawing did not arrive as a PNG picture; please press Clear and draw again.")
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise DrawingRefused(f"The drawing is larger than {MAX_PNG_BYTES // 1024} KB, which ConvLab's canvas never "
                             "sends; please press Clear and draw again.")
    try:
        data = base64.b64decode(payload[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DrawingRefused("The drawing arrived damaged (not valid base64); please press Clear and draw again.") from exc
    try:
        decoded = decode_upload(data, max_bytes=MAX_PNG_BYTES, max_pixels=SIZE * SIZE, max_side=SIZE)
    except ImageError as exc:
        raise DrawingRefused(f"The drawing could not be read: {exc}") from exc
    if decoded.format != "PNG" or decoded.original_size != (SIZE, SIZE):
        w, h = decoded.original_size
        raise DrawingRefused(f"The drawing is a {w}×{h} {decoded.format} picture; ConvLab's canvas sends "
                             f"{SIZE}×{SIZE} PNGs. Please press Clear and draw again.")
    # White ink on transparent is laid on black by the reader: its grey level is the ink's coverage.
    return decoded.pixels.astype(np.float32)


def on_paper(ink: np.ndarray, pen: float, paper: float) -> np.ndarray:
    """Ink coverage (H, W) in [0, 1] drawn in grey level ``pen`` on paper of grey level ``paper`` → (H, W)
    float32 grey in [0, 1], as the student saw it (the preprocessing inverts dark ink itself)."""
    return (np.float32(paper) + (np.float32(pen) - np.float32(paper)) * ink).astype(np.float32)
