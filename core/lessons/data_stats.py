"""What the Data page computes about a dataset: per-class samples, mean images, counts, pixel statistics,
and one image's journey from pixels to the numbers a network eats. NumPy only (no torch, no streamlit)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.registry import DatasetInfo, to_float


def class_positions(labels: np.ndarray, label: int) -> np.ndarray:
    """Indices of every image of class ``label``, in file order."""
    return np.flatnonzero(labels == label)


def pick(labels: np.ndarray, label: int, index: int) -> int:
    """The dataset index of the ``index``-th image of class ``label`` (wrapping around)."""
    positions = class_positions(labels, label)
    if positions.size == 0:
        raise ValueError(f"No image of class {label} in this set.")
    return int(positions[index % positions.size])


def label_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(labels, minlength=n_classes)[:n_classes]


def class_means(images: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, H, W[, 3]) float64 mean image of each class, 0..255 (zeros for an empty class).

    Summed class by class in uint64 so 50,000 colour images never need a float copy of the whole set.
    """
    out = np.zeros((n_classes, *images.shape[1:]), np.float64)
    for label in range(n_classes):
        members = images[labels == label]
        if len(members):
            out[label] = members.sum(axis=0, dtype=np.uint64) / len(members)
    return out


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of every pixel / 255 (what ``Normalize`` wants).

    Exact and cheap: pixels are bytes, so count how often each of the 256 values occurs per channel
    (in blocks of a million pixels) and take both moments from the counts — 5× less CPU than squaring
    150 million floats for CIFAR-10, and no float copy of the set.
    """
    channels = images.shape[-1] if images.ndim == 4 else 1
    flat = images.reshape(-1, channels)  # (pixels, C), a view
    counts = np.zeros((channels, 256), np.int64)
    for start in range(0, flat.shape[0], 1 << 20):
        block = flat[start:start + (1 << 20)]
        for c in range(channels):
            counts[c] += np.bincount(block[:, c], minlength=256)
    values = np.arange(256, dtype=np.float64)
    n = counts.sum(axis=1)
    mean = counts @ values / n
    std = np.sqrt(np.maximum(counts @ (values * values) / n - mean * mean, 0.0))
    return tuple(float(m / 255) for m in mean), tuple(float(s / 255) for s in std)


def chw(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) → (C, H, W): the order a PyTorch network reads, and flattens."""
    return image[None] if image.ndim == 2 else image.transpose(2, 0, 1)


def flatten(image: np.ndarray) -> np.ndarray:
    """The image as the vector ``torch.flatten`` gives: channel by channel, then row by row."""
    return chw(image).reshape(-1)


def flat_index(channel: int, row: int, col: int, size: int) -> int:
    """Position of pixel (channel, row, col) in ``flatten``'s vector: c·H·W + r·W + c."""
    return channel * size * size + row * size + col


@dataclass(frozen=True)
class Stages:
    """One image at the three stages of input preparation, each (C, H, W) float64."""

    raw: np.ndarray  # 0..255, as stored
    scaled: np.ndarray  # ÷ 255 → 0..1
    standardised: np.ndarray  # (scaled − mean) / std per channel


def stages(image: np.ndarray, info: DatasetInfo) -> Stages:
    raw = chw(image).astype(np.float64)
    standard = to_float(image[None], info)[0].astype(np.float64)  # the same formula the loaders use
    return Stages(raw, raw / 255.0, standard)


def busiest_patch(plane: np.ndarray, k: int) -> tuple[int, int]:
    """Top-left (row, col) of the k×k window with the most varied values (edges of the ink), so a small
    excerpt shows dark, bright and in-between pixels rather than a blank corner. Ties: first in order."""
    n = plane.shape[0]
    best, where = -1.0, (0, 0)
    for r in range(0, n - k + 1, 2):
        for c in range(0, n - k + 1, 2):
            spread = float(plane[r:r + k, c:c + k].std())
            if spread > best:
                best, where = spread, (r, c)
    return where
