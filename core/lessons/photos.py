"""Real photographs for the Filters lesson (public domain / CC0, see data/PHOTOS.md).

They are read with the upload reader (``core.infer.uploads.decode_upload``: the same limits, EXIF handling and
grey conversion as a student's own picture), so a photo and an upload behave identically on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from core.data import mnist as data
from core.infer import uploads as images

PHOTO_DIR = data.DATA_DIR / "photos"
COLOUR_MAX_SIDE = 128  # the colour convolution runs per channel: a smaller copy keeps it instant


@dataclass(frozen=True)
class Photo:
    key: str
    label: str
    description: str  # what it shows and who took it (shown under the picture)

    @property
    def path(self) -> Path:
        return PHOTO_DIR / f"{self.key}.jpg"


PHOTOS: dict[str, Photo] = {
    p.key: p
    for p in (
        Photo("astronaut", "Photo: astronaut",
              "Astronaut Eileen Collins (NASA, public domain): a face, fabric folds, flags and fine print."),
        Photo("coffee", "Photo: coffee cup",
              "A coffee cup on wood (Rachel Michetti, CC0): ellipses, smooth porcelain, coarse wood grain."),
        Photo("chelsea", "Photo: cat",
              "Chelsea the cat (Stefan van der Walt, CC0): fur texture, whiskers, edges at many angles."),
    )
}


@lru_cache(maxsize=len(PHOTOS))
def photo(key: str) -> np.ndarray:
    """The photo as a read-only grey (H, W) float image in [0, 1], at most 256 px a side."""
    if key not in PHOTOS:
        raise ValueError(f"Unknown photo {key!r}; choose one of {', '.join(PHOTOS)}.")
    pixels = images.decode_upload(PHOTOS[key].path.read_bytes()).pixels
    pixels.setflags(write=False)
    return pixels


@lru_cache(maxsize=len(PHOTOS))
def photo_rgb(key: str, max_side: int = COLOUR_MAX_SIDE) -> np.ndarray:
    """The photo in colour as a read-only (3, H, W) float image in [0, 1] (channels first, as in torch)."""
    if key not in PHOTOS:
        raise ValueError(f"Unknown photo {key!r}; choose one of {', '.join(PHOTOS)}.")
    with Image.open(PHOTOS[key].path) as img:
        img = img.convert("RGB")
        scale = max_side / max(img.size)
        if scale < 1:
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                             Image.Resampling.BOX)
        rgb = np.asarray(img, dtype=np.float64).transpose(2, 0, 1) / 255.0
    rgb.setflags(write=False)
    return rgb
