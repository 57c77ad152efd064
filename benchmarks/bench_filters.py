"""Speed of the filters lesson: core.lessons.filters.conv2d on big images, and decoding a large upload.

Goal: a 3×3 filter on a 512×512 image in under 20 ms.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from benchmarks.common import Result, check, median_ms, p95_ms, time_it
from core.lessons import filters
from core.lessons import kernels as kernel_lib
from core.infer import uploads as images
from core.lessons import pictures


def _conv_results() -> list[Result]:
    rng = np.random.default_rng(0)
    big = rng.random((512, 512))
    dense = kernel_lib.get_kernel("box_blur", size=3)  # all nine taps non-zero: the worst case for 3×3
    sobel = kernel_lib.get_kernel("sobel_x")  # three zero taps, which conv2d skips
    times = time_it(lambda: filters.conv2d(big, dense), repeat=50)
    results = [
        check("dense 3×3 filter (box blur), 512×512 image", median_ms(times), "ms", limit=20.0,
              note=f"median; p95 {p95_ms(times):.2f} ms; valid padding, float64"),
    ]
    times = time_it(lambda: filters.conv2d(big, sobel, padding="same"), repeat=30)
    results.append(check("Sobel x, 512×512, 'same' padding", median_ms(times), "ms", limit=20.0))
    bank = kernel_lib.kernel_bank()
    times = time_it(lambda: filters.conv2d(big, bank), repeat=20)
    results.append(check("bank of 4 3×3 kernels, 512×512", median_ms(times), "ms", note="one call, (4, 510, 510)"))
    page = rng.random((256, 256))
    gauss = kernel_lib.get_kernel("gaussian", size=7, sigma=2.0)
    times = time_it(lambda: filters.conv2d(page, gauss, dilation=2, padding="same"), repeat=20)
    results.append(check("7×7 Gaussian, dilation 2, 256×256 (page size)", median_ms(times), "ms"))
    times = time_it(lambda: kernel_lib.apply_filter(page, "sobel_magnitude", threshold=0.5), repeat=20)
    results.append(check("Sobel magnitude, 256×256", median_ms(times), "ms"))
    return results


def _upload_result() -> Result:
    scene = (pictures.make_photo() * 255).astype(np.uint8)
    photo = Image.fromarray(scene).convert("RGB").resize((4000, 3000), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=85)
    raw = buf.getvalue()
    times = time_it(lambda: images.decode_upload(raw), repeat=5, warmup=1)
    return check("decode a 12 MP JPEG upload to 256 px grey", median_ms(times), "ms",
                 note=f"{len(raw) / 1e6:.1f} MB file; JPEG draft mode")


def run() -> list[Result]:
    return _conv_results() + [_upload_result()]


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
