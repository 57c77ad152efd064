"""The Filters lesson's kernels and how their results look: presets (blur, Gaussian, sharpen, Sobel,
Prewitt, Laplacian, emboss), a student's custom kernel, colour mixes, the worked 5×5 example, the bank of
four, and the display modes (as a picture, or as signed values)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence
import numpy as np
from core.lessons.filters import KernelError, MAX_KERNEL_SIDE, Padding, PairInt, conv2d, validate_kernel


# ---------------------------------------------------------------------------------------------
# Kernel presets


@dataclass(frozen=True)
class KernelPreset:
    key: str
    label: str
    explanation: str  # one line for the student
    params: tuple[str, ...] = ()  # keyword parameters get_kernel accepts ("size", "sigma", ...)
    magnitude: bool = False  # output = sqrt(sum over kernels of response²), with optional threshold


KERNEL_PRESETS: dict[str, KernelPreset] = {
    p.key: p
    for p in (
        KernelPreset("identity", "Identity", "A single 1 in the middle: every output pixel copies its input pixel."),
        KernelPreset("box_blur", "Box blur", "Every weight is 1/(size²): each output is the plain average of its window.",
                     ("size",)),
        KernelPreset("gaussian", "Gaussian blur",
                     "Weights follow a bell curve: near pixels count more than far ones, a smoother blur than the box.",
                     ("size", "sigma")),
        KernelPreset("sharpen", "Sharpen",
                     "5 × the pixel minus its four neighbours: boosts what differs from its surroundings."),
        KernelPreset("sobel_x", "Sobel x",
                     "Right column minus left column (middle row counted twice): responds to vertical edges, "
                     "positive where it gets brighter to the right."),
        KernelPreset("sobel_y", "Sobel y",
                     "Bottom row minus top row: responds to horizontal edges, positive where it gets brighter downwards."),
        KernelPreset("sobel_magnitude", "Sobel magnitude",
                     "√(Gx² + Gy²) from Sobel x and Sobel y: edge strength in any direction; values under the "
                     "threshold are set to 0.", ("threshold",), magnitude=True),
        KernelPreset("prewitt_x", "Prewitt x",
                     "Like Sobel x but every row counts the same: right column minus left column."),
        KernelPreset("prewitt_y", "Prewitt y",
                     "Like Sobel y but every column counts the same: bottom row minus top row."),
        KernelPreset("laplacian", "Laplacian",
                     "Four neighbours minus 4 × the centre: zero on flat areas and smooth ramps, strong on "
                     "edges and dots, with a sign change across each edge."),
        KernelPreset("emboss", "Emboss",
                     "Bottom-right minus top-left, plus the pixel itself: edges look raised, lit from one corner."),
        KernelPreset("custom", "Custom", "Your own weights: type numbers into the grid.", ("values", "size")),
    )
}


_FIXED: dict[str, list[list[float]]] = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "prewitt_x": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "prewitt_y": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
}


def gaussian_kernel(size: int = 5, sigma: float = 1.0) -> np.ndarray:
    """A normalised (size, size) Gaussian: exp(-(x²+y²)/(2σ²)), summing to 1."""
    if size < 1 or size % 2 == 0 or size > MAX_KERNEL_SIDE:
        raise KernelError(f"The Gaussian size must be an odd number from 1 to {MAX_KERNEL_SIDE} (got {size}).")
    if not (math.isfinite(sigma) and sigma > 0):
        raise KernelError(f"The Gaussian sigma must be a positive number (got {sigma}).")
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def custom_kernel(values: Sequence[float], size: int | None = None) -> np.ndarray:
    """A square custom kernel from its values row by row (9, 25 or 49 of them)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    side = size if size is not None else int(round(math.sqrt(flat.size)))
    if side * side != flat.size:
        raise KernelError(f"A {side}×{side} kernel needs {side * side} values, got {flat.size}.")
    return validate_kernel(flat.reshape(side, side))


def resize_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """A (size, size) kernel keeping ``kernel``'s centre: zero-padded when growing, cropped when shrinking."""
    k = np.asarray(kernel, dtype=np.float64)
    out = np.zeros((size, size))
    h, w = k.shape
    # centre-aligned copy of the overlapping part
    sh, oh = max(0, (h - size) // 2), max(0, (size - h) // 2)
    sw, ow = max(0, (w - size) // 2), max(0, (size - w) // 2)
    n_h, n_w = min(h, size), min(w, size)
    out[oh:oh + n_h, ow:ow + n_w] = k[sh:sh + n_h, sw:sw + n_w]
    return out


def get_kernels(name: str, **params) -> np.ndarray:
    """The kernel(s) of a preset as (K, kh, kw): two (Gx, Gy) for 'sobel_magnitude', else one.

    Params: box_blur(size=3), gaussian(size=5, sigma=1.0), custom(values=..., size=None);
    'threshold' is accepted (and ignored here) by sobel_magnitude, see ``apply_filter``.
    """
    if name not in KERNEL_PRESETS:
        raise KernelError(f"Unknown kernel preset {name!r}; choose one of {', '.join(KERNEL_PRESETS)}.")
    unknown = set(params) - set(KERNEL_PRESETS[name].params)
    if unknown:
        raise KernelError(f"The {KERNEL_PRESETS[name].label} preset has no parameter {sorted(unknown)[0]!r}.")
    if name in _FIXED:
        return np.asarray(_FIXED[name], dtype=np.float64)[None]
    if name == "box_blur":
        size = int(params.get("size", 3))
        if size < 1 or size > MAX_KERNEL_SIDE:
            raise KernelError(f"The box blur size must be from 1 to {MAX_KERNEL_SIDE} (got {size}).")
        return np.full((1, size, size), 1.0 / (size * size))
    if name == "gaussian":
        return gaussian_kernel(int(params.get("size", 5)), float(params.get("sigma", 1.0)))[None]
    if name == "sobel_magnitude":
        return np.stack([np.asarray(_FIXED["sobel_x"], float), np.asarray(_FIXED["sobel_y"], float)])
    if "values" not in params:
        raise KernelError("The custom kernel needs its values.")
    return custom_kernel(params["values"], params.get("size"))[None]


def get_kernel(name: str, **params) -> np.ndarray:
    """The (kh, kw) kernel of a single-kernel preset, e.g. ``get_kernel('sobel_x')``."""
    ks = get_kernels(name, **params)
    if ks.shape[0] != 1:
        raise KernelError(
            f"{KERNEL_PRESETS[name].label} combines {ks.shape[0]} kernels; use get_kernels or apply_filter."
        )
    return ks[0]


def combine_magnitude(responses: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """sqrt(sum of squares) over the first axis of (K, H', W'), values under ``threshold`` set to 0."""
    mag = np.sqrt(np.sum(np.square(responses), axis=0))
    if threshold > 0:
        mag = np.where(mag < threshold, 0.0, mag)
    return mag


def apply_filter(
    image: np.ndarray, name: str, stride: PairInt = 1, padding: Padding = 0, dilation: PairInt = 1,
    **params,
) -> np.ndarray:
    """A preset applied to a single-channel (H, W) image → (H', W') feature map."""
    preset = KERNEL_PRESETS.get(name)
    threshold = float(params.pop("threshold", 0.0)) if preset and preset.magnitude else None
    kernels = get_kernels(name, **params)
    responses = conv2d(image, kernels, stride, padding, dilation)  # (K, H', W')
    if preset is not None and preset.magnitude:
        return combine_magnitude(responses, threshold or 0.0)
    return responses[0]


# The kernel slices of the colour lesson, built from any single (kh, kw) kernel: per-channel weights.
COLOUR_MIXES: dict[str, tuple[str, tuple[float, float, float]]] = {
    "luma": ("Luma weights (0.299 R + 0.587 G + 0.114 B): the same as filtering the grey picture",
             (0.299, 0.587, 0.114)),
    "red": ("Red channel only (green and blue slices are 0)", (1.0, 0.0, 0.0)),
    "red_blue": ("Red minus blue (a colour-opponent kernel)", (1.0, 0.0, -1.0)),
}


def colour_kernel(kernel: np.ndarray, mix: str) -> np.ndarray:
    """A (3, kh, kw) kernel: ``kernel`` scaled by the mix's weight for R, G and B."""
    weights = np.asarray(COLOUR_MIXES[mix][1], dtype=np.float64)
    return weights[:, None, None] * validate_kernel(kernel)[None]


# ---------------------------------------------------------------------------------------------
# Display helpers


DISPLAY_MODES: dict[str, str] = {
    "auto": "As it looks: a photo for blur & sharpen, signed for edges",
    "signed": "Signed values (blue < 0 < red)",
    "clip": "Clip to 0…1",
    "normalise": "Normalise min…max to 0…1",
}


def makes_a_picture(kernels: np.ndarray) -> bool:
    """Whether a kernel's output is a picture of the same scene (one kernel whose weights sum to 1: identity,
    blurs, sharpen, emboss) rather than a map of differences (weights summing to 0: edge detectors)."""
    k = np.asarray(kernels, dtype=np.float64)
    return (k.ndim == 2 or k.shape[0] == 1) and abs(float(k.sum()) - 1.0) < 1e-6


def display_values(output: np.ndarray, mode: str) -> np.ndarray:
    """Output values transformed for display: raw ('signed', 'auto': the page chooses the colours), clipped
    to [0, 1], or min-max stretched."""
    out = np.asarray(output, dtype=np.float64)
    if mode in ("signed", "auto"):
        return out
    if mode == "clip":
        return np.clip(out, 0.0, 1.0)
    if mode == "normalise":
        lo, hi = float(out.min()), float(out.max())
        return np.zeros_like(out) if hi - lo <= 1e-12 else (out - lo) / (hi - lo)
    raise ValueError(f"Unknown display mode {mode!r}; choose one of {', '.join(DISPLAY_MODES)}.")


WORKED_IMAGE = np.array(
    [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], dtype=np.float64
)


WORKED_KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float64)


WORKED_OUTPUT = np.array([[4, 3, 4], [2, 4, 3], [2, 3, 4]], dtype=np.float64)


# A bank of four kernels for "several kernels at once give several feature maps".
BANK: tuple[str, ...] = ("sobel_x", "sobel_y", "laplacian", "sharpen")


def kernel_bank(names: Sequence[str] = BANK) -> np.ndarray:
    """(K, 3, 3) stack of single-kernel presets."""
    return np.stack([get_kernel(n) for n in names])
