"""Speed of core.lessons.pooling: what the pooling page computes per interaction, and a CNN-sized map vs torch.

Goal: everything the page pools for one view (a 28×28 map, plus the shift table's six extra pools) stays
far below a frame (≤ 5 ms), so the play animation and sliders never wait on NumPy.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from benchmarks.common import Result, check, median_ms, time_it
from core.lessons.pooling import pool2d, translation_demo


def run() -> list[Result]:
    rng = np.random.default_rng(0)
    digit = rng.integers(0, 256, (28, 28)).astype(np.float64)
    big = rng.normal(size=(64, 112, 112))  # a ResNet-stem-sized stack: 64 maps of 112×112
    results = [
        check("max pool 2×2 of a 28×28 map", median_ms(time_it(lambda: pool2d(digit, 2))), "ms", limit=1.0),
        check("avg pool 3×3 s2 p1 ceil of a 28×28 map",
              median_ms(time_it(lambda: pool2d(digit, 3, 2, 1, True, "avg"))), "ms", limit=1.0),
        check("page view: pool + 1 shift demo + 3-row shift table",
              median_ms(time_it(lambda: [translation_demo(digit, 0, d, partial(pool2d, k=2)) for d in (1, 1, 2, 3)])),
              "ms", limit=5.0),
    ]
    numpy_ms = median_ms(time_it(lambda: pool2d(big, 3, 2, 1), repeat=10, warmup=2))
    results.append(check("max pool 3×3 s2 p1, 64×112×112 (NumPy, with argmax)", numpy_ms, "ms",
                         note="informative: torch is the reference for correctness, not speed"))
    try:
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(big)[None]
        with torch.inference_mode():
            torch_ms = median_ms(time_it(lambda: F.max_pool2d(t, 3, 2, 1, return_indices=True), repeat=10, warmup=2))
        results.append(check("same in torch (CPU, float64)", torch_ms, "ms"))
        results.append(check("NumPy / torch time", numpy_ms / torch_ms, "x"))
    except ImportError:
        pass
    return results


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
