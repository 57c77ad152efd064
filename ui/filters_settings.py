"""The Filters lesson's settings: one frozen dataclass that is also its share-link schema."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core import arithmetic as ar
from core.lessons import filters, photos, pictures
from core.lessons import kernels as kernel_lib
from core.links.settings import Settings, choice, float_list, integer, number

DEFAULT_IMAGE = "astronaut"  # the lesson says "real images": it opens on a real photograph
SIZES = filters.EDITOR_SIZES
# Every picture the lesson offers, in the order the picker shows them; "upload" is the student's own.
IMAGES: dict[str, str] = {
    **{k: p.label for k, p in photos.PHOTOS.items()},
    **{k: b.label for k, b in pictures.BUILTIN_IMAGES.items()},
    "upload": "Upload your own…",
}


@dataclass(frozen=True)
class FiltersSettings(Settings, page="filters"):
    img: str = choice(DEFAULT_IMAGE, IMAGES, label="image")
    k: str = choice("sobel_x", {k: p.label for k, p in kernel_lib.KERNEL_PRESETS.items()}, label="kernel preset")
    bs: int = integer(3, lo=3, hi=7, label="box blur size")
    gs: int = integer(5, lo=3, hi=7, label="Gaussian size")
    sig: float = number(1.0, lo=0.3, hi=3.0, label="Gaussian sigma")
    thr: float = number(0.0, lo=0.0, hi=6.0, label="threshold")
    cs: int = integer(3, lo=3, hi=7, label="custom kernel size")
    ck: tuple[float, ...] = float_list(tuple(kernel_lib.WORKED_KERNEL.ravel()), lengths=(9, 25, 49),
                                       lo=-filters.MAX_ABS_WEIGHT, hi=filters.MAX_ABS_WEIGHT, label="custom kernel")
    s: int = integer(1, lo=1, hi=4, label="stride", hidden=True)
    pm: str = choice("valid", ar.PADDING_MODES, label="padding mode", hidden=True)
    p: int = integer(1, lo=0, hi=6, label="padding", hidden=True)
    d: int = integer(1, lo=1, hi=4, label="dilation", hidden=True)
    disp: str = choice("auto", kernel_lib.DISPLAY_MODES, label="display")
    r: int = integer(0, lo=0, hi=511, label="microscope row")
    c: int = integer(0, lo=0, hi=511, label="microscope column")
    cm: str = choice("luma", {k: v[0] for k, v in kernel_lib.COLOUR_MIXES.items()}, label="colour kernel")
    cb: float = number(0.0, lo=-1.0, hi=1.0, label="colour bias")

    def custom(self) -> np.ndarray:
        """The custom kernel as (cs, cs); a link whose list has another length is resized to ``cs``."""
        values = np.asarray(self.ck, dtype=float)
        side = int(round(np.sqrt(values.size)))
        kernel = values.reshape(side, side)
        return kernel if side == self.cs else kernel_lib.resize_kernel(kernel, self.cs)

    def kernels(self) -> np.ndarray:
        """The (K, kh, kw) kernels of the chosen preset with its parameters (K = 2 for Sobel magnitude)."""
        params: dict = {"box_blur": {"size": self.bs}, "gaussian": {"size": self.gs, "sigma": self.sig},
                        "custom": {"values": self.custom().ravel()}}.get(self.k, {})
        return kernel_lib.get_kernels(self.k, **params)

    def threshold(self) -> float:
        return self.thr if self.k == "sobel_magnitude" else 0.0
