"""Peak memory per upload: ordinary and hostile pictures through ``core.infer.uploads``.

    python -m benchmarks.bench_upload_memory

Each file is decoded in a fresh interpreter that reports its peak resident memory during the decode
(``VmHWM`` after a reset, minus ``VmRSS`` before), the way tests/test_image_memory.py checks the
150 MB bound for every accepted file; refused files are listed without a target. About
30 s on 2 idle cores (one interpreter per file).
"""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import Result, check, print_table
from core.infer import uploads as images
from benchmarks.upload_images import PALETTE_WITH_ALPHA, jpeg, measure, png, text_bomb, text_chunks


def _photo_png(width: int, height: int, mode: str) -> bytes:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (height // 8, width // 8, len(mode)), dtype=np.uint8)
    img = Image.fromarray(arr.squeeze(), mode).resize((width, height), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def cases() -> dict[str, bytes]:
    return {
        "digit drawing 280×280 PNG (L)": _photo_png(280, 280, "L"),
        "phone screenshot 1170×2532 PNG (RGBA)": _photo_png(1168, 2528, "RGBA"),
        "photo 1920×1080 PNG (RGB)": _photo_png(1920, 1080, "RGB"),
        "photo 4000×4000 JPEG (baseline, 16 MP)": jpeg(4000, rgb=True),
        "photo 4000×4000 JPEG (progressive, 4:4:4)": jpeg(4000, rgb=True, progressive=True, subsampling=0),
        "issue: 16-bit grey 6300×6300 PNG": png(6300, 6300, depth=16),
        "issue: 2×20,000,000 strip PNG": png(2, 20_000_000),
        "RGB PNG 5013×5013 (largest accepted)": png(5013, 5013, 8, 2),
        "RGBA PNG 3545×3545 (largest accepted)": png(3545, 3545, 8, 6),
        "palette+alpha PNG 3343×3343 (largest accepted)": png(3343, 3343, 8, 3, PALETTE_WITH_ALPHA),
        "RGB 5013² + 3 MB of PNG text": png(5013, 5013, 8, 2, extra=text_chunks(3)),
        "1×1 PNG with 60 MB of zTXt": text_bomb(60),
    }


PEAK_LIMIT_MB = 150.0


def run(quick: bool = False) -> list[Result]:
    """Peak memory of each file's decode; accepted files against the 150 MB bound."""
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    chosen = cases()
    if quick:
        chosen = {k: v for k, v in chosen.items() if k.startswith("issue") or "digit" in k}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, raw in chosen.items():
            path = Path(tmp) / "f.bin"
            path.write_bytes(raw)
            r = measure(path)
            note = f"{len(raw) / 1024:,.0f} KB file; " + (
                "accepted" if r["accepted"] else "refused: " + r["reason"].split(";")[0][:70])
            results.append(check(f"upload memory: {name}", r["peak_mb"], "MB",
                                 limit=PEAK_LIMIT_MB if r["accepted"] else None, note=note))
    return results


def main() -> None:
    print(f"limits: {images.MAX_UPLOAD_BYTES / 2**20:.0f} MB file, {images.MAX_UPLOAD_PIXELS / 1e6:g} MP, "
          f"{images.MAX_SIDE_PX} px side, {images.MAX_DECODE_BYTES / 2**20:.0f} MiB decode budget\n")
    print_table(run())


if __name__ == "__main__":
    main()
