"""Peak memory per upload: any picture the reader accepts costs the server less than 150 MB.

Pillow and libjpeg allocate in C, which ``tracemalloc`` does not see, so each file is decoded in a fresh
interpreter that reports its peak resident memory (``VmHWM``, reset through ``/proc/self/clear_refs``
just before decoding) minus what it held before. The files are hostile ones (a 77 KB
16-bit 6300×6300 PNG, a 2 × 20,000,000 strip) and, for every kind of pixel the reader handles, the
largest picture it accepts: the limit is found by asking the reader itself, so the test follows the
limits if they change instead of testing one example.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.upload_images import PALETTE_WITH_ALPHA, _chunk, jpeg, measure, png, text_bomb, text_chunks
from core.infer import uploads as images

pytestmark = pytest.mark.system  # measures decoding memory in child processes

PEAK_LIMIT_MB = 150.0


def largest_square(make) -> int:
    """The longest side s such that the reader accepts s×s pictures of ``make(s)`` (header check only:
    a refusal for size or memory says 'megapixels', 'pixels on a side' or 'memory')."""

    def accepted(side: int) -> bool:
        try:
            images.decode_upload(make(side))
        except images.ImageError as exc:
            return not any(w in str(exc) for w in ("megapixels", "on a side", "memory"))
        return True

    lo, hi = 1, 20_000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if accepted(mid) else (lo, mid - 1)
    return lo


def header_png(colour: int, depth: int, extra: bytes = b""):
    """A PNG header of side s (pixel data left out: the header is all the limits look at)."""

    def make(side: int) -> bytes:
        ihdr = struct.pack(">IIBBBBB", side, side, depth, colour, 0, 0, 0)
        idat = _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra + idat + _chunk(b"IEND", b"")

    return make


# (name, colour type, bit depth, extra chunks): every pixel layout a PNG can have
PNG_KINDS = [
    ("grey_1bit", 0, 1, b""), ("grey_8bit", 0, 8, b""), ("grey_16bit", 0, 16, b""),
    ("grey_alpha", 4, 8, b""), ("rgb", 2, 8, b""), ("rgba", 6, 8, b""), ("rgba_16bit", 6, 16, b""),
    ("palette_alpha", 3, 8, PALETTE_WITH_ALPHA),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, tuple[Path, bool]]:
    """name → (file, whether the reader must accept it)."""
    folder = tmp_path_factory.mktemp("memory")
    made: dict[str, tuple[bytes, bool]] = {
        "issue_16bit_6300": (png(6300, 6300, depth=16), True),
        "issue_strip_2x20M": (png(2, 20_000_000), False),
        "text_bomb_60MB": (text_bomb(60), False),
        "text_3MB_on_largest_rgb": (None, True),
        "jpeg_baseline_rgb_36MP": (jpeg(6000, rgb=True), True),
        "jpeg_progressive_rgb": (jpeg(4000, rgb=True, progressive=True, subsampling=0), True),
        "jpeg_progressive_rgb_too_big": (jpeg(6000, rgb=True, progressive=True, subsampling=0), False),
    }
    for name, colour, depth, extra in PNG_KINDS:
        side = largest_square(header_png(colour, depth, extra))
        assert side >= 1000, f"{name}: only {side}×{side} accepted"
        made[f"png_{name}_largest_{side}"] = (png(side, side, depth, colour, extra), True)
        made[f"png_{name}_too_big_{side + 64}"] = (png(side + 64, side + 64, depth, colour, extra), False)
    rgb_side = int(next(k for k in made if k.startswith("png_rgb_largest")).rsplit("_", 1)[1])
    made["text_3MB_on_largest_rgb"] = (png(rgb_side, rgb_side, 8, 2, extra=text_chunks(3)), True)
    strip_side = images.MAX_SIDE_PX
    made[f"png_strip_{strip_side}x2"] = (png(strip_side, 2), True)
    out = {}
    for name, (raw, ok) in made.items():
        assert len(raw) <= images.MAX_UPLOAD_BYTES, name
        path = folder / f"{name}.bin"
        path.write_bytes(raw)
        out[name] = (path, ok)
    return out


def test_hostile_files_are_small_on_disk(files):
    assert files["issue_16bit_6300"][0].stat().st_size < 100_000
    assert files["issue_strip_2x20M"][0].stat().st_size < 200_000


@pytest.mark.slow
def test_peak_memory_per_upload_stays_under_the_limit(files):
    """Every file is read in a fresh interpreter; accepted ones must cost < 150 MB at their peak."""
    report = {name: measure(path) for name, (path, _) in files.items()}
    print(json.dumps({k: (round(v["peak_mb"], 1), v["accepted"], round(v["file_kb"])) for k, v in report.items()},
                     indent=1))
    wrong = {k: v for k, v in report.items() if v["accepted"] != files[k][1]}
    assert not wrong, wrong
    over = {k: v for k, v in report.items() if v["peak_mb"] >= PEAK_LIMIT_MB}
    assert not over, over


def test_the_measurement_sees_c_allocations(tmp_path):
    """The detector itself: a picture decoded without the memory limit shows its real size."""
    path = tmp_path / "l.png"
    path.write_bytes(png(6000, 6000))  # 36 MB decoded, in C (Pillow), none of it in Python objects
    result = measure(path)
    assert result["accepted"] and result["peak_mb"] > 30, result


def test_refusals_happen_before_decoding():
    """A refusal for memory reads nothing but the header: an IHDR alone is enough to refuse."""
    too_big = header_png(0, 16)(8000)  # 64 MP claimed
    with pytest.raises(images.ImageError, match="megapixels"):
        images.decode_upload(too_big)
    rgba16 = header_png(6, 16)(6000)
    with pytest.raises(images.ImageError, match="memory"):
        images.decode_upload(rgba16)
    assert images.decode_cost(Image.open(io.BytesIO(png(100, 100, 16))), (100, 100), "PNG") == 100 * 100 * 2 + 2400


def test_strips_are_refused_by_their_longer_side():
    with pytest.raises(images.ImageError, match="on a side"):
        images.decode_upload(png(2, 20_000_000))
    with pytest.raises(images.ImageError, match="on a side"):
        images.decode_upload(png(20_000_000, 1))


def test_large_jpeg_is_reduced_while_decoding():
    """A JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg), so a big photo is cheap and still fits."""
    out = images.decode_upload(jpeg(4096, rgb=True))
    assert out.pixels.shape == (256, 256)
    img = Image.open(io.BytesIO(jpeg(4096)))
    full = images.decode_cost(img, img.size, "JPEG")
    img.draft("L", (256, 256))
    assert img.size == (512, 512)
    assert full - images.decode_cost(img, (4096, 4096), "JPEG") >= 4096 * 4096 - 512 * 512
    np.testing.assert_allclose(out.pixels.mean(), 0.5, atol=0.05)


def test_single_and_multi_scan_jpegs_are_told_apart():
    """Only a multi-scan JPEG pays for full-size coefficient buffers (a baseline one decodes row by row)."""
    assert not images.jpeg_multi_scan(jpeg(64))
    assert not images.jpeg_multi_scan(jpeg(64, rgb=True))
    assert images.jpeg_multi_scan(jpeg(64, progressive=True))
    exif = Image.Exif()
    exif[0x0112] = 6
    with_thumbnail = jpeg(64, exif=exif.tobytes())
    assert not images.jpeg_multi_scan(with_thumbnail)
    assert images.jpeg_multi_scan(b"\xff\xd8garbage")
