"""MNIST-style preprocessing of a drawing or a photo of a digit, one visible step at a time.

The model was trained on MNIST, where every digit was cropped to its ink, scaled so that its longer
side is 20 px (keeping the aspect ratio, with anti-aliasing), and pasted into a 28×28 frame so that
its centre of mass sits at the centre. A canvas drawing must go through the same steps or the model
sees something it never saw in training. Each step returns its image so a page can show it, and each
step can be switched off to show what it is for.

Files are read by ``core.infer.uploads`` (the one reader: limits, EXIF orientation); this module starts from
pixels. No torch here (the draw page and the CLI must run on numpy + Pillow + onnxruntime only).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Sequence

import numpy as np
from PIL import Image

FRAME = 28  # MNIST frame (pixels)
BOX = 20  # MNIST digits are scaled so the longer side is 20 px
MASS_CENTRE = 14.0  # centre of mass of the official test digits, in pixel-index coordinates (measured)
INK_THRESHOLD = 0.2  # a pixel is ink when it is at least this bright (0..1, after levels)
MIN_CONTRAST = 0.15  # less difference than this between ink and background: nothing was drawn
MIN_INK_FRACTION = 0.001  # fewer ink pixels than this share of the image: a speck, not a digit
MIN_INK_EXTENT = 0.03  # an ink bounding box shorter than this share of the image's longer side: a dot
MAX_SIDE = 4096  # larger arrays are refused (files are shrunk by core.infer.uploads long before this)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, what Pillow's "L" uses


@dataclass(frozen=True)
class Steps:
    """Which preprocessing steps to apply (all on = what the model was trained on)."""

    invert: bool = True  # auto-invert dark ink on a light background
    crop: bool = True  # crop to the ink's bounding box
    fit: bool = True  # scale the longer side to 20 px keeping the aspect ratio (off: stretch to 28×28)
    center: bool = True  # move the centre of mass to the centre of the 28×28 frame

    def each_switched(self) -> dict[str, "Steps"]:
        """Step name → these steps with that one step switched (the draw page's "what if" table)."""
        return {f.name: replace(self, **{f.name: not getattr(self, f.name)}) for f in fields(self)}


@dataclass(frozen=True)
class Preprocessed:
    """Every intermediate image. All are float32 in 0..1, white ink on black."""

    gray: np.ndarray  # (H, W) the input as grayscale, white on black, background levelled to 0
    inverted: bool  # True when the input was dark-on-light and got inverted
    bbox: tuple[int, int, int, int] | None  # ink box (top, left, bottom, right), exclusive, in ``gray``
    cropped: np.ndarray  # (h, w) the region that gets scaled (the whole image when crop is off)
    scaled: np.ndarray  # (h', w') longer side 20 px, or (28, 28) stretched when fit is off
    placed: np.ndarray  # (28, 28) scaled image pasted in the middle of the frame
    image: np.ndarray  # (28, 28) what the model sees, before normalisation
    shift: tuple[int, int]  # (dy, dx) applied when centring by mass
    empty: bool  # nothing (or almost nothing) was drawn: no prediction should be made
    reason: str = ""  # why the input counts as empty

    @property
    def centre_of_mass(self) -> tuple[float, float]:
        return centre_of_mass(self.image)


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, uint8 0..255 or float 0..1 → (H, W) float32 0..1.

    Transparent pixels are composited onto a background that contrasts with the ink: black when the
    visible pixels are light (a canvas stroke), white when they are dark (black ink on a transparent PNG).
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"An image must be grayscale, RGB or RGBA; got an array of shape {arr.shape}.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError("The image is empty (zero pixels).")
    if max(arr.shape[:2]) > MAX_SIDE:
        raise ValueError(f"The image is {arr.shape[1]}×{arr.shape[0]} px; the limit is {MAX_SIDE} px per side.")
    if arr.dtype == np.uint8:
        scale = np.float32(1 / 255)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("The image contains NaN or infinite values.")
        scale = np.float32(1)
    else:
        raise ValueError(f"Pixels must be uint8 (0..255) or float (0..1), not {arr.dtype}.")
    if arr.ndim == 2:
        return _clip01(arr.astype(np.float32) * scale)
    luma = _luma(arr)  # (H, W) float32 0..1
    if arr.shape[2] == 3:
        return luma
    if arr[..., 3].min() >= (255 if arr.dtype == np.uint8 else 1.0):  # opaque, like the canvas
        return luma
    alpha = arr[..., 3].astype(np.float32) * scale  # (H, W)
    visible = alpha > 0.5
    dark_ink = visible.any() and float(luma[visible].mean()) < 0.5
    background = 1.0 if dark_ink else 0.0
    return np.clip(luma * alpha + background * (1 - alpha), 0, 1).astype(np.float32)


def _clip01(fresh: np.ndarray) -> np.ndarray:
    """Clip a freshly made float array into 0..1 in place: ``np.clip`` allocating its own output takes
    ~10× longer on a 280×280 canvas here (0.18 vs 0.02 ms), and a stroke clips several."""
    return np.clip(fresh, 0, 1, out=fresh)


def _luma(image: np.ndarray) -> np.ndarray:
    """(H, W, 3 or 4) → (H, W) float32 0..1 luminance of the colour channels (alpha is handled apart).

    uint8 goes through Pillow's "L" conversion: the same ITU-R 601 weights, in C, about 0.1 ms for a
    280×280 canvas (NumPy's float matmul takes several times longer)."""
    if image.dtype == np.uint8:
        gray = np.asarray(Image.fromarray(np.ascontiguousarray(image)).convert("L"))
        return gray.astype(np.float32) * np.float32(1 / 255)
    return np.clip(image[..., :3] @ _LUMA, 0, 1).astype(np.float32)


def _border(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])


def normalise_ink(gray: np.ndarray, auto_invert: bool = True) -> tuple[np.ndarray, bool, str]:
    """White ink on black, background at 0 and the brightest ink at 1 → (image, inverted, empty reason).

    With ``auto_invert`` the background level is the median of the border pixels, and a light
    background (dark ink on paper) is inverted. Without it the image is taken as it is (darkest pixel
    = background), so dark-on-light input shows the model a light square: what the step is for.
    ``empty reason`` is "" unless nothing stands out from the background.
    """
    inverted = False
    if auto_invert:
        background = float(np.median(_border(gray)))
        if background > 0.5:
            gray, background, inverted = 1.0 - gray, 1.0 - background, True
    else:
        background = float(gray.min())
    top = float(gray.max())
    if top - background < MIN_CONTRAST:
        return np.zeros_like(gray), inverted, "The image is blank: nothing stands out from the background."
    levelled = _clip01(((gray - background) / (top - background)).astype(np.float32, copy=False))
    return levelled, inverted, ""


def ink_bbox(gray: np.ndarray, threshold: float = INK_THRESHOLD) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right), bottom/right exclusive, of pixels ≥ threshold; None when there are none."""
    mask = gray >= threshold
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _too_little_ink(gray: np.ndarray, bbox: tuple[int, int, int, int] | None) -> str:
    if bbox is None:
        return "Nothing was drawn."
    count = int(np.count_nonzero(gray >= INK_THRESHOLD))
    extent = max(bbox[2] - bbox[0], bbox[3] - bbox[1])
    if count < max(1.0, MIN_INK_FRACTION * gray.size) or extent < MIN_INK_EXTENT * max(gray.shape):
        return "There is only a speck of ink: draw a whole digit."
    return ""


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Anti-aliased resize (Lanczos) of a float 0..1 image, clipped back into 0..1."""
    # reducing_gap: shrink by an integer factor with a box filter first, then Lanczos the rest; several
    # times faster on a 280-px canvas and indistinguishable at 20 px.
    out = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32)).resize(
        (width, height), Image.Resampling.LANCZOS, reducing_gap=3.0
    )
    return np.clip(np.asarray(out, dtype=np.float32), 0, 1)


def fit_box(region: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale so the longer side is ``box`` px, keeping the aspect ratio (the shorter side is ≥ 1 px)."""
    h, w = region.shape
    factor = box / max(h, w)
    return resize(region, max(1, round(h * factor)), max(1, round(w * factor)))


def paste_centre(small: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """Paste an image (h, w ≤ frame) in the geometric middle of a black frame×frame image."""
    h, w = small.shape
    out = np.zeros((frame, frame), dtype=np.float32)
    top, left = (frame - h) // 2, (frame - w) // 2
    out[top:top + h, left:left + w] = small
    return out


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, col) centre of mass in pixel-index coordinates; the middle of the frame for a black image."""
    total = float(image.sum())
    if total <= 0:
        return (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    rows = np.arange(image.shape[0], dtype=np.float64)
    cols = np.arange(image.shape[1], dtype=np.float64)
    return float(image.sum(axis=1) @ rows) / total, float(image.sum(axis=0) @ cols) / total


def shift_image(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate by whole pixels, filling with black (no wrap-around)."""
    h, w = image.shape
    out = np.zeros_like(image)
    src_r = slice(max(0, -dy), min(h, h - dy))
    src_c = slice(max(0, -dx), min(w, w - dx))
    dst_r = slice(max(0, dy), min(h, h + dy))
    dst_c = slice(max(0, dx), min(w, w + dx))
    out[dst_r, dst_c] = image[src_r, src_c]
    return out


def centre_by_mass(image: np.ndarray, target: float = MASS_CENTRE) -> tuple[np.ndarray, tuple[int, int]]:
    """Shift whole pixels so the centre of mass lands on ``target``, never pushing ink out of the frame."""
    cy, cx = centre_of_mass(image)
    dy, dx = int(round(target - cy)), int(round(target - cx))
    bbox = ink_bbox(image, threshold=1e-6)
    if bbox is not None:
        top, left, bottom, right = bbox
        dy = min(max(dy, -top), image.shape[0] - bottom)
        dx = min(max(dx, -left), image.shape[1] - right)
    return shift_image(image, dy, dx), (dy, dx)


def preprocess(image: np.ndarray, steps: Steps = Steps()) -> Preprocessed:
    """Run the MNIST pipeline on an image (any size; canvas RGBA, RGB or grayscale), keeping each step."""
    return preprocess_variants(image, (steps,))[0]


def preprocess_variants(image: np.ndarray, variants: Sequence[Steps]) -> list[Preprocessed]:
    """``preprocess`` of one image under several step settings, each piece of work done once: the
    grayscale conversion, the ink levelling per auto-invert setting, the crop and resize per
    (invert, crop, fit) (the resize is most of the work on a 280×280 canvas)."""
    raw = to_gray(image)  # (H, W)
    levelled: dict[bool, tuple[np.ndarray, bool, tuple[int, int, int, int] | None, str]] = {}
    same_as: dict[bool, bool] = {}  # auto-invert on/off → the setting whose levelled image it equals
    placed: dict[tuple[bool, bool, bool], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    out = []
    for steps in variants:
        if steps.invert not in levelled:
            gray, inverted, reason = normalise_ink(raw, auto_invert=steps.invert)
            # Ink on black paper levels the same either way (nothing to invert, background 0): crop and
            # resize it once (a comparison costs a few µs, a crop and resize a few hundred).
            twin = next((k for k, v in levelled.items() if v[1] == inverted and np.array_equal(v[0], gray)), None)
            if twin is None:
                bbox = ink_bbox(gray) if not reason else None
                levelled[steps.invert] = (gray, inverted, bbox, reason or _too_little_ink(gray, bbox))
            else:
                levelled[steps.invert] = levelled[twin]
            same_as[steps.invert] = steps.invert if twin is None else same_as[twin]
        gray, inverted, bbox, reason = levelled[steps.invert]
        if reason:
            blank = np.zeros((FRAME, FRAME), dtype=np.float32)
            out.append(Preprocessed(gray, inverted, bbox, gray, blank, blank, blank, (0, 0), True, reason))
            continue
        key = (same_as[steps.invert], steps.crop, steps.fit)
        if key not in placed:
            placed[key] = _crop_and_fit(gray, bbox, steps)
        cropped, scaled, frame = placed[key]
        final, shift = centre_by_mass(frame) if steps.center else (frame, (0, 0))
        out.append(Preprocessed(gray, inverted, bbox, cropped, scaled, frame, final, shift, False))
    return out


def _crop_and_fit(gray: np.ndarray, bbox: tuple[int, int, int, int] | None,
                  steps: Steps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cropped, scaled, placed in the 28×28 frame) of a levelled image with ink in ``bbox``."""
    assert bbox is not None
    cropped = gray[bbox[0]:bbox[2], bbox[1]:bbox[3]] if steps.crop else gray
    if steps.fit:
        scaled = fit_box(cropped)
        return cropped, scaled, paste_centre(scaled)
    scaled = resize(cropped, FRAME, FRAME)
    return cropped, scaled, scaled


MODEL_SIDES = (28, 32)  # MNIST and Fashion-MNIST are 28×28, CIFAR-10 32×32


def to_model_input(images: np.ndarray, mean: float | tuple[float, ...], std: float | tuple[float, ...],
                   sides: tuple[int, ...] | None = MODEL_SIDES) -> np.ndarray:
    """Pixels 0..1 → float32 ``(x - mean) / std``, as in training: the one normalisation of the numpy side.

    Grey (``mean``/``std`` numbers): (H, W) or (N, H, W) → (N, 1, H, W). Colour (one ``mean``/``std``
    per channel): (H, W, C) or (N, H, W, C) → (N, C, H, W). Images are square, of a side in ``sides``
    (None: any size, for a dataset's statistics)."""
    x = np.asarray(images, dtype=np.float32)
    colour = isinstance(mean, (tuple, list))
    if x.ndim == (3 if colour else 2):
        x = x[None]
    if x.ndim != (4 if colour else 3) or (sides is not None and (x.shape[1] != x.shape[2] or x.shape[1] not in sides)):
        raise ValueError(f"The model needs 28×28 or 32×32 {'colour ' if colour else ''}images, got {x.shape[1:]}.")
    if not colour:
        return ((x - np.float32(mean)) / np.float32(std))[:, None]  # (N, 1, H, W)
    m = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((x.transpose(0, 3, 1, 2) - m) / np.asarray(std, np.float32).reshape(1, -1, 1, 1))
