"""How torch's OpenMP worker threads wait between parallel regions: set before torch is first imported.

Measured on the 2-core machine (LeNet-5 epoch on the 4,500 shipped digits, median of epochs 2-5):

| setting                         | quiet machine | 2 trainers + a busy process |
|---------------------------------|---------------|-----------------------------|
| libgomp default (spin, then sleep) | 0.25 s     | 2.5 s                       |
| OMP_WAIT_POLICY=PASSIVE (never spin) | 0.31-0.38 s | 1.09 s                  |
| GOMP_SPINCOUNT=1000 (spin briefly) | 0.23-0.28 s | 1.19-1.21 s                |

A long spin burns the cores that other students' requests and trainings need; no spin at all makes
every hand-off between small kernels wait for the scheduler. A short spin keeps most of both.
"""

from __future__ import annotations

import os

SPIN_COUNT = 1000


def configure_openmp() -> None:
    """Short OpenMP spin-waits, unless the host already chose a wait policy. Effective only before
    torch (libgomp) is loaded in this process."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))
