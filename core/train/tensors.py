"""Datasets as tensors on the training device: uint8 images stay uint8 there, a batch becomes float when used."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.arch.recipes import TrainConfig
from core.data import mnist as cdata
from core.data import registry as cds


@dataclass(frozen=True)
class TensorData:
    """Images (N, C, H, W) uint8 0..255 and labels (N,) int64, already on the device.

    The images are kept as bytes, a quarter of float32's size (all 50,000 CIFAR-10 images: 154 MB as
    uint8, 614 MB as float32, over a job's 256 MB), and ``floats`` normalises one batch at a time.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    description: str
    meta: cds.DatasetInfo = cds.DATASETS["shipped5k"]  # whose mean/std normalise a batch

    def floats(self, x: torch.Tensor) -> torch.Tensor:
        return as_float(x, self.meta)

    @property
    def n_train(self) -> int:
        return int(self.train_y.shape[0])

    @property
    def n_val(self) -> int:
        return int(self.val_y.shape[0])


TO_DEVICE_CHUNK = 1024  # images copied per step: the set's peak is the result plus one chunk


def to_bytes(images: np.ndarray, device: torch.device, index: np.ndarray | None = None) -> torch.Tensor:
    """uint8 (N, H, W) grey or (N, H, W, 3) colour, rows ``index`` (all by default) → uint8 (N, C, H, W)
    on ``device``. Filled a chunk at a time: selecting, reordering to channels-first and moving in one go
    would hold two or three copies of the set at once (CIFAR-10: 150 MB each)."""
    images = np.asarray(images)
    rows = np.arange(images.shape[0]) if index is None else np.asarray(index)
    channels = 1 if images.ndim == 3 else images.shape[3]
    out = torch.empty((len(rows), channels, *images.shape[1:3]), dtype=torch.uint8, device=device)
    for start in range(0, len(rows), TO_DEVICE_CHUNK):
        part = torch.from_numpy(images[rows[start:start + TO_DEVICE_CHUNK]])  # a copy: arrays are read-only
        out[start:start + len(part)] = (part.unsqueeze(1) if part.ndim == 3 else part.permute(0, 3, 1, 2)).to(device)
    return out


def as_float(x: torch.Tensor, meta: cds.DatasetInfo | None = None) -> torch.Tensor:
    """uint8 (N, C, H, W) → normalised float32: (pixel/255 − mean) / std per channel, the dataset's
    statistics (MNIST's when ``meta`` is None); the formula of ``core.data.registry.to_float``, on the device.
    A float tensor is taken as already normalised and returned as it is."""
    if x.dtype != torch.uint8:
        return x
    meta = meta or cds.DATASETS["shipped5k"]
    mean = torch.tensor(meta.mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return x.to(torch.float32).div_(255.0).sub_(mean).div_(std)


def to_tensor(images: np.ndarray, device: torch.device, meta: cds.DatasetInfo | None = None) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, 3) → normalised float32 (N, C, H, W) on ``device`` (a few images)."""
    return as_float(to_bytes(images, device), meta).contiguous()


def load_digits(dataset: str) -> cds.ImageSet:
    """The dataset's training images (``DataError`` with a readable message when not downloaded)."""
    if dataset == "full60k":
        return cdata.load_full_train()  # its own name ("MNIST 60k training set") in run descriptions
    if dataset == "shipped5k":
        return cdata.load_shipped_train()
    return cds.load_train(dataset)


def prepare_data(config: TrainConfig, device: torch.device, digits: Any = None) -> TensorData:
    """Load the training digits, hold out a stratified validation split, put both on ``device``."""
    digits = digits or load_digits(config.dataset)
    images, labels = digits.images, digits.labels  # never copied whole: rows are picked by index
    rows = np.arange(len(labels))
    if config.subset is not None and config.subset < len(labels):
        keep_fraction = config.subset / len(labels)
        _, keep = cdata.stratified_split(labels, keep_fraction, config.seed + 7919)
        rows = np.sort(keep)
    labels = labels[rows]
    train_idx, val_idx = cdata.stratified_split(labels, config.val_fraction, config.seed)
    if config.train_size is not None and config.train_size < len(train_idx):
        train_idx = _stratified_sample(train_idx, labels, config.train_size, config.seed)
    what = "digits" if config.dataset in ("shipped5k", "full60k") else "images"
    desc = (f"{digits.name}{' (subset)' if config.subset else ''}: {len(train_idx):,} training / "
            f"{len(val_idx):,} validation {what}")
    return TensorData(
        to_bytes(images, device, rows[train_idx]), torch.from_numpy(labels[train_idx].astype(np.int64)).to(device),
        to_bytes(images, device, rows[val_idx]), torch.from_numpy(labels[val_idx].astype(np.int64)).to(device),
        desc, cds.info(config.dataset),
    )


def _stratified_sample(idx: np.ndarray, labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` of the indices ``idx``, the classes in the same proportions (seeded; order shuffled)."""
    _, keep = cdata.stratified_split(labels[idx], n / len(idx), seed + 104_729)
    return idx[keep]


def test_tensors(device: torch.device, limit: int | None = None,
                 dataset: str = "shipped5k") -> tuple[torch.Tensor, torch.Tensor]:
    """The dataset's official test set on ``device`` (optionally only the first ``limit`` images): uint8
    (N, C, H, W) images, normalised per batch by ``evaluate(..., meta=)``, and int64 labels."""
    test = cds.load_test(dataset)
    images, labels = test.images, test.labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return to_bytes(images, device), torch.from_numpy(labels.astype(np.int64)).to(device)


def activations_for(model: torch.nn.Module, image: np.ndarray, device: torch.device,
                    dataset: str = "shipped5k") -> tuple[np.ndarray, list[np.ndarray]]:
    """Probabilities (10,) and each conv layer's activation (C, H, W) for one uint8 image."""
    x = to_tensor(image[None], device, cds.info(dataset))  # (1, C, H, W)
    model.eval()
    with torch.inference_mode():
        logits, acts = model.forward_with_activations(x)
    probs = torch.softmax(logits, 1)[0].cpu().numpy()
    return probs, [a[0].cpu().numpy() for a in acts]
