"""Pictures for measuring what an upload costs the server, and the measurement itself.

Shared by ``benchmarks/bench_upload_memory.py`` (the table in docs/benchmarks.md) and
``tests/test_image_memory.py`` (the 150 MB bound). Pillow and libjpeg allocate in C, which ``tracemalloc``
does not see, so each file is decoded by ``core.infer.uploads`` in a fresh interpreter that reports its peak
resident memory (``VmHWM``, reset through ``/proc/self/clear_refs`` just before decoding) minus what it
held before. PNG files are made without ever holding their pixels: rows are streamed through zlib.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent

MEASURE = r"""
import io, json, sys
sys.path.insert(0, {repo!r})
from PIL import Image
from core.infer import uploads as images

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

for fmt in ("PNG", "JPEG"):  # warm up: plugins, numpy paths and the allocator's first arenas
    buf = io.BytesIO(); Image.new("RGB", (300, 300), (9, 9, 9)).save(buf, fmt)
    images.decode_upload(buf.getvalue())
with open({path!r}, "rb") as fh:
    raw = fh.read()
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # VmHWM := VmRSS now (Linux >= 4.0)
    reset = True
except OSError:
    reset = False  # then VmHWM may include warm-up peaks: an overestimate, never an underestimate
before = status("VmRSS")
try:
    out = images.decode_upload(raw)
    result = {{"accepted": True, "shape": list(out.pixels.shape)}}
except images.ImageError as exc:
    result = {{"accepted": False, "reason": str(exc)}}
peak = status("VmHWM")
print("RESULT " + json.dumps({{**result, "peak_mb": (peak - before) / 2**20, "reset": reset,
                              "file_kb": len(raw) / 1024}}))
"""


def measure(path: Path) -> dict:
    code = MEASURE.format(repo=str(REPO), path=str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"the measuring interpreter failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type → samples per pixel


def png(width: int, height: int, depth: int = 8, colour: int = 0, extra: bytes = b"") -> bytes:
    """A valid width×height PNG of black rows (``extra``: chunks before IDAT, e.g. PLTE/tRNS/zTXt)."""
    row = b"\0" * (1 + (width * CHANNELS[colour] * depth + 7) // 8)  # filter byte + samples
    per_block = max(1, (4 << 20) // len(row))
    comp = zlib.compressobj(9)
    idat = bytearray()
    left = height
    while left:
        n = min(per_block, left)
        idat += comp.compress(row * n)
        left -= n
    idat += comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra + _chunk(b"IDAT", bytes(idat))
            + _chunk(b"IEND", b""))


PALETTE_WITH_ALPHA = _chunk(b"PLTE", bytes(range(48))) + _chunk(b"tRNS", b"\0\x80")


def text_chunks(megabytes: int) -> bytes:
    """``megabytes`` zTXt chunks of 1 MB of text each, ~1 KB compressed."""
    return b"".join(_chunk(b"zTXt", b"k%d\0\0" % i + zlib.compress(b"a" * (1 << 20), 9)) for i in range(megabytes))


def text_bomb(megabytes: int) -> bytes:
    """A 1×1 PNG carrying ``megabytes`` MB of compressed text (Pillow alone would allow 64)."""
    return png(1, 1, extra=text_chunks(megabytes))


def jpeg(side: int, **save) -> bytes:
    img = Image.linear_gradient("L").resize((side, side))
    if save.pop("rgb", False):
        img = Image.merge("RGB", (img, img.transpose(Image.Transpose.ROTATE_90), img))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80, **save)
    return buf.getvalue()
