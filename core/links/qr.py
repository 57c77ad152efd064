"""QR codes of share links, made on the server with segno (a tested encoder, not ours).

A phone in the class scans the board: the code must hold exactly the link the Share box shows. The
result is an ``data:image/svg+xml;base64,…`` URI, used as an image's source, never inserted as markup.
"""

from __future__ import annotations

import base64
import io

import segno

MAX_LINK_CHARS = 2000  # a QR code holds at most 2,953 bytes; ConvLab's longest links are a few hundred


def qr_svg(link: str, scale: int = 4) -> bytes:
    """The QR code of ``link`` as SVG bytes (error correction M, a 4-module quiet zone)."""
    if not link or len(link) > MAX_LINK_CHARS:
        raise ValueError(f"A link for a QR code has 1 to {MAX_LINK_CHARS} characters.")
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(out, kind="svg", scale=scale, border=4, xmldecl=False,
                                                 svgns=True, title=None, desc=None)
    return out.getvalue()


def qr_png(link: str, scale: int = 6) -> bytes:
    """The same code as PNG bytes (for st.image and for tests that decode it)."""
    if not link or len(link) > MAX_LINK_CHARS:
        raise ValueError(f"A link for a QR code has 1 to {MAX_LINK_CHARS} characters.")
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_data_uri(link: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(link)).decode("ascii")
