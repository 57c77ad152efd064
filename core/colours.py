"""ConvLab's colour schemes, defined once: signed values (kernels, feature maps before a ReLU, products) on
blue-white-red centred at 0, and values ≥ 0 (pixels, activations) on a light-to-dark blue ramp. The lesson
picture (ui/lesson_picture_draw.js) draws the same stops; plotly figures and PNG pictures take them from here."""

from __future__ import annotations

import numpy as np

SIGNED = ("#2563eb", "#ffffff", "#dc2626")  # −bound, 0, +bound
ACTIVATION = ("#f8fbff", "#93c5fd", "#1e40af")  # 0, half, the largest value


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def plotly_scale(stops: tuple[str, ...]) -> tuple[tuple[float, str], ...]:
    """The stops as a plotly colorscale, evenly spaced from 0 to 1 (a tuple: figures are cached by it)."""
    return tuple((i / (len(stops) - 1), s) for i, s in enumerate(stops))


def lut(stops: tuple[str, ...], n: int = 256) -> np.ndarray:
    """(n, 3) uint8: the stops interpolated linearly, index 0 the first stop and n − 1 the last."""
    at = np.linspace(0.0, len(stops) - 1, n)
    rgb = np.asarray([_rgb(s) for s in stops], dtype=np.float64)  # (stops, 3)
    lo = np.minimum(np.floor(at).astype(int), len(stops) - 2)
    t = (at - lo)[:, None]
    return np.round(rgb[lo] * (1 - t) + rgb[lo + 1] * t).astype(np.uint8)


SIGNED_SCALE = plotly_scale(SIGNED)
ACTIVATION_SCALE = plotly_scale(ACTIVATION)
