"""Built-in pictures for the filters and pooling lessons: (H, W) float grey levels in [0, 1] (0 black, 1 white).

They are synthesised in code (a photo-like scene, geometric shapes, the worked 5×5 example) or taken from the
shipped MNIST digits (CC BY-SA 3.0), so nothing here needs a licence beyond the project's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from core.data import mnist as data
from core.lessons import filters
from core.lessons import kernels as kernel_lib


@dataclass(frozen=True)
class BuiltinImage:
    key: str
    label: str
    description: str
    make: Callable[[], np.ndarray] = field(repr=False)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur keeping the size (zero padding would darken the border, so the edge is repeated)."""
    size = 2 * int(np.ceil(3 * sigma)) + 1
    r = size // 2
    padded = np.pad(img, r, mode="edge")
    return filters.conv2d(padded, kernel_lib.gaussian_kernel(size, sigma))[0]


def _disk(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, r: float) -> np.ndarray:
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _polygon(yy: np.ndarray, xx: np.ndarray, pts: list[tuple[float, float]]) -> np.ndarray:
    """Inside test for a convex polygon given as (x, y) points in counter-clockwise screen order."""
    inside = np.ones_like(yy, dtype=bool)
    n = len(pts)
    signs = []
    for i in range(n):
        (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % n]
        signs.append((x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0))
    stack = np.stack(signs)
    inside &= np.all(stack >= 0, axis=0) | np.all(stack <= 0, axis=0)
    return inside


def make_photo(size: int = 192) -> np.ndarray:
    """A photo-like landscape: sky, sun, mountains, a house with windows, a tree, textured ground."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) * (192.0 / size)
    img = 0.88 - 0.3 * yy / 120.0  # sky, darker towards the horizon
    img = np.where(_disk(yy, xx, 38, 150, 15), 1.0, img)
    img += 0.12 * np.exp(-((yy - 38) ** 2 + (xx - 150) ** 2) / (2 * 28.0**2))  # glow
    ridge = 92 + 16 * np.sin(xx / 21.0) + 7 * np.sin(xx / 8.0 + 1.0)
    mountain = yy >= ridge
    slope = 16 / 21.0 * np.cos(xx / 21.0) + 7 / 8.0 * np.cos(xx / 8.0 + 1.0)
    img = np.where(mountain, 0.42 + 0.12 * np.tanh(slope), img)  # lit from the left
    texture = _blur(rng.normal(0, 1, (size, size)), 1.5)
    ground = yy >= 122
    img = np.where(ground, 0.55 + 0.06 * np.sin(yy * 0.9 + 0.02 * xx) + 0.05 * texture, img)
    # house: wall, roof, door, two windows with crossbars
    wall = (xx >= 26) & (xx <= 92) & (yy >= 110) & (yy <= 165)
    img = np.where(wall, 0.78, img)
    roof = _polygon(yy, xx, [(18, 111), (59, 76), (100, 111)])
    img = np.where(roof, 0.22, img)
    img = np.where((xx >= 52) & (xx <= 66) & (yy >= 135) & (yy <= 165), 0.12, img)
    for x0 in (32, 72):
        win = (xx >= x0) & (xx <= x0 + 14) & (yy >= 120) & (yy <= 133)
        bars = (np.abs(xx - (x0 + 7)) < 1) | (np.abs(yy - 126.5) < 1)
        img = np.where(win, np.where(bars, 0.3, 0.96), img)
    # tree: trunk and a textured canopy
    img = np.where((xx >= 140) & (xx <= 148) & (yy >= 128) & (yy <= 172), 0.18, img)
    canopy = _disk(yy, xx, 118, 144, 23) | _disk(yy, xx, 104, 132, 14) | _disk(yy, xx, 106, 158, 14)
    img = np.where(canopy, 0.3 + 0.08 * texture, img)
    img = _blur(img, 0.6) + rng.normal(0, 0.01, (size, size))  # a camera's softness and noise
    return np.clip(img, 0.0, 1.0)


def make_shapes(size: int = 128) -> np.ndarray:
    """Shapes with edges at many angles: a disk, a square, a rotated square, a triangle, a ring, stripes."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) * (128.0 / size)
    img = np.full((size, size), 0.1)
    img = np.where(_disk(yy, xx, 30, 30, 18), 1.0, img)
    img = np.where((np.abs(yy - 30) <= 16) & (np.abs(xx - 96) <= 16), 0.6, img)
    img = np.where(np.abs(yy - 92) + np.abs(xx - 30) <= 20, 0.8, img)  # a square turned by 45°
    img = np.where(_polygon(yy, xx, [(78, 110), (96, 74), (114, 110)]), 0.45, img)
    ring = np.sqrt((yy - 64) ** 2 + (xx - 64) ** 2)
    img = np.where((ring >= 8) & (ring <= 12), 0.9, img)
    stripes = (yy >= 118) & (yy <= 126)
    img = np.where(stripes, 0.1 + 0.8 * (np.sin(xx * xx / 40.0) > 0), img)  # ever finer stripes
    return _blur(img, 0.5).clip(0.0, 1.0)


def make_worked() -> np.ndarray:
    return kernel_lib.WORKED_IMAGE.copy()


def make_digit(label: int = 3) -> np.ndarray:
    """An MNIST training digit (28×28), white on black as in the data set."""
    return data.sample_digit(data.load_shipped_train(), label).astype(np.float64) / 255.0


BUILTIN_IMAGES: dict[str, BuiltinImage] = {
    b.key: b
    for b in (
        BuiltinImage("photo", "Landscape photo (synthetic)",
                     "A 192×192 photo-like scene made in code: smooth sky, hard edges on the house, texture in "
                     "the tree and ground.", make_photo),
        BuiltinImage("shapes", "Shapes", "128×128 geometric shapes whose edges run in many directions.",
                     make_shapes),
        BuiltinImage("digit3", "MNIST digit 3", "A 28×28 handwritten 3 from the shipped MNIST digits.",
                     lambda: make_digit(3)),
        BuiltinImage("digit7", "MNIST digit 7", "A 28×28 handwritten 7 from the shipped MNIST digits.",
                     lambda: make_digit(7)),
        BuiltinImage("worked", "Worked example 5×5",
                     "The 5×5 binary image of the classic worked example: with the X-shaped kernel "
                     "[[1,0,1],[0,1,0],[1,0,1]] it gives [[4,3,4],[2,4,3],[2,3,4]].", make_worked),
    )
}


@lru_cache(maxsize=16)
def _builtin_cached(key: str) -> np.ndarray:
    img = BUILTIN_IMAGES[key].make()
    img.setflags(write=False)
    return img


def builtin_image(key: str) -> np.ndarray:
    """A built-in image (H, W) in [0, 1] by key (see ``BUILTIN_IMAGES``); read-only, cached."""
    if key not in BUILTIN_IMAGES:
        raise ValueError(f"Unknown built-in image {key!r}; choose one of {', '.join(BUILTIN_IMAGES)}.")
    return _builtin_cached(key)
