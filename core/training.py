"""Training and evaluation: returns data, never prints, so the page, the benchmark and the tests share it.

* The device is chosen once (``pick_device``) and passed down.
* The data live as normalised float tensors on that device; a batch is an index into them (no
  per-sample Python work in the loop). Augmentation is one batched ``grid_sample`` (``core.augment``).
* ``TrainingRun`` is a resumable stepper: if a caller's callback raises in the middle of an epoch (the
  page's script gets interrupted by a Stop click), the run keeps the model and where it was, and
  ``step`` continues from the next batch, or ``finish`` evaluates what has been trained so far.
* ``fit`` is the one-call version: run to completion (or stop/divergence/time limit) and evaluate on the
  official 10k test set.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from core.threads import configure_openmp

configure_openmp()  # before torch loads: see core.threads

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from core import data as cdata
from core import datasets as cds
from core.augment import random_affine
from core import layer_table as lt
from core.archspec import ArchSpec
from core.convnet import build_model
from core.jobs import DEFAULT_JOB_MEMORY_MB

OPTIMIZERS: dict[str, str] = {
    "adam": "Adam",
    "adamw": "AdamW",
    "sgd": "SGD + momentum",
    "adadelta": "Adadelta",
}
# Each optimizer's usual learning rate: Adam-type steps are scaled per parameter (about 1e-3), SGD's are
# raw gradients (about 0.05 with momentum), Adadelta's rate multiplies an already unit-scaled step (1.0;
# at 0.002 it barely moves and stays near 10 %).
DEFAULT_LR: dict[str, float] = {"adam": 1e-3, "adamw": 1e-3, "sgd": 0.05, "adadelta": 1.0}
LR_FAR_FACTOR = 10.0  # a rate this many times above or below the default gets a warning
SCHEDULES: dict[str, str] = {
    "constant": "constant",
    "onecycle": "one-cycle (warm up, then anneal)",
    "cosine": "cosine decay",
    "exponential": "exponential decay (×0.1 over the run)",
}
EXPONENTIAL_END = 0.1  # the exponential schedule ends at this fraction of the starting rate
TRAIN_SIZES: tuple[int, ...] = (100, 300, 1_000, 3_000)  # the page's choices besides "all"
DATASETS: dict[str, str] = {key: info.title for key, info in cds.DATASETS.items()}
# A 10-class cross-entropy starts near ln 10 ≈ 2.3; a batch loss above this has exploded (weights will be
# inf/NaN within a few more steps), so training stops as diverged rather than burning the time limit.
DIVERGED_LOSS = 1e4
STOP_COMPLETED, STOP_STOPPED, STOP_DIVERGED, STOP_TIME = "completed", "stopped", "diverged", "time limit"

# Copies of the parameters each optimizer keeps as state (Adam/AdamW: two moments; Adadelta: two running
# averages; SGD: the momentum buffer), for the memory estimate.
OPTIMIZER_COPIES: dict[str, int] = {"adam": 2, "adamw": 2, "sgd": 1, "adadelta": 2}
DATASET_IMAGES: dict[str, int] = {"shipped5k": 5_000, "full60k": 60_000, "fashion": 60_000, "cifar10": 50_000}


def lr_warning(optimizer: str, lr: float) -> str | None:
    """A sentence when ``lr`` is more than 10× away from ``optimizer``'s usual rate, else None."""
    default = DEFAULT_LR.get(optimizer)
    if default is None or not lr > 0:
        return None
    ratio = lr / default
    if 1 / LR_FAR_FACTOR <= ratio <= LR_FAR_FACTOR:
        return None
    far = f"{ratio:,.0f}× larger" if ratio > 1 else f"{1 / ratio:,.0f}× smaller"
    effect = ("the loss may explode (diverge)" if ratio > 1 else "the network will learn very slowly, "
              "perhaps not beyond guessing (10 %)")
    return (f"{OPTIMIZERS[optimizer]} usually trains with a learning rate near {default:g}; {lr:g} is {far}, "
            f"so {effect}.")


def pick_device(prefer: str = "auto") -> torch.device:
    """CUDA when available, then Apple's MPS, else the CPU. ``prefer`` = "cpu"/"cuda"/"mps" forces one
    (falling back to the CPU when it is not there)."""
    prefer = (prefer or "auto").lower()
    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if prefer == "cpu":
        return torch.device("cpu")
    if prefer in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if prefer in ("auto", "mps") and has_mps:
        return torch.device("mps")
    return torch.device("cpu")


def memory_format(device: torch.device) -> torch.memory_format:
    """How conv weights (and so activations) are laid out for training on ``device``.

    On the CPU, oneDNN's convolutions and pooling run on channels-last (NHWC) tensors without
    reordering them at every layer: LeNet-5's epoch on the 4,500 shipped digits went from 0.47 s to
    0.27 s here (2 cores, median of 5). Elsewhere keep PyTorch's default layout.
    """
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def device_text(device: torch.device) -> str:
    """What the page shows, e.g. "CPU (2 threads)" or "CUDA: NVIDIA H100"."""
    if device.type == "cuda":
        return f"CUDA GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "adam"  # an OPTIMIZERS key
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 5
    seed: int = 0
    augment: bool = False  # small random shifts/rotations/scalings of each training batch
    val_fraction: float = 0.1  # held out per class from the training digits
    dataset: str = "shipped5k"  # a DATASETS key
    time_limit_s: float = 120.0  # the run stops with "time limit" after this many training seconds
    schedule: str = "constant"  # a SCHEDULES key
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD only
    label_smoothing: float = 0.0
    subset: int | None = None  # train on a stratified subset of this many digits (tests, quick demos)
    memory_mb: float = DEFAULT_JOB_MEMORY_MB  # the job's memory budget: bigger networks are refused
    train_size: int | None = None  # train on a stratified sample of this many images (None: all); the
    # validation split is drawn first and keeps its size, so small training sets show overfitting

    def check(self) -> None:
        """``ValueError`` with a student-readable reason for settings that cannot train."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}.")
        if self.dataset not in DATASETS:
            raise ValueError(f"Unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}.")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"The learning rate must be a positive number (got {self.lr}).")
        if not 1 <= self.batch_size <= 4096:
            raise ValueError(f"The batch size must be between 1 and 4096 (got {self.batch_size}).")
        if not 1 <= self.epochs <= 500:
            raise ValueError(f"The number of epochs must be between 1 and 500 (got {self.epochs}).")
        if not 0.0 <= self.val_fraction < 0.9:
            raise ValueError(f"The validation fraction must be in [0, 0.9) (got {self.val_fraction}).")
        if not self.time_limit_s > 0:
            raise ValueError("The time limit must be positive.")
        if self.subset is not None and self.subset < 20:
            raise ValueError("A training subset needs at least 20 digits.")
        if not self.memory_mb > 0:
            raise ValueError("The memory budget must be positive.")
        if self.train_size is not None and self.train_size < 10:
            raise ValueError("A training set needs at least 10 images (one per class).")


# Hyperparameters that work well for each preset (the page offers them as "recommended settings").
RECOMMENDED: dict[str, TrainConfig] = {
    "linear": TrainConfig(optimizer="adam", lr=3e-3, batch_size=128, epochs=10),
    "mlp": TrainConfig(optimizer="adam", lr=1e-3, batch_size=128, epochs=10),
    "lenet5": TrainConfig(optimizer="adam", lr=2e-3, batch_size=128, epochs=10),
    "twoconv": TrainConfig(optimizer="adam", lr=2e-3, batch_size=128, epochs=10),
    "allconv": TrainConfig(optimizer="adam", lr=2e-3, batch_size=128, epochs=8),
    "bncnn": TrainConfig(optimizer="adamw", lr=4e-3, batch_size=128, epochs=10, augment=True,
                         schedule="onecycle", weight_decay=5e-4, label_smoothing=0.05),
    "lesson1": TrainConfig(optimizer="adadelta", lr=1.0, batch_size=128, epochs=8),  # as the Keras example
    "lesson3": TrainConfig(optimizer="adam", lr=1e-3, batch_size=128, epochs=8, schedule="exponential"),
}


# ---------------------------------------------------------------------------------------------
# Memory: estimated from the layer table before anything is allocated


def planned_images(config: TrainConfig) -> int:
    """How many training + validation images the run will hold on the device."""
    n = DATASET_IMAGES[config.dataset]
    n = n if config.subset is None else min(n, config.subset)
    if config.train_size is not None:
        n = min(n, round(n * config.val_fraction) + config.train_size)
    return n


def memory_estimate(spec: ArchSpec, config: TrainConfig,
                    in_shape: tuple[int, int, int] | None = None) -> lt.MemoryEstimate:
    """The job's peak memory, with the largest evaluation batch that fits the budget (``in_shape``:
    the dataset's, unless given)."""
    in_shape = in_shape or input_shape(config)
    rows = lt.layer_table(spec, in_shape)
    copies = OPTIMIZER_COPIES.get(config.optimizer, 2)
    data_bytes = planned_images(config) * int(np.prod(in_shape)) * DATA_BYTES_PER_VALUE
    budget = int(config.memory_mb * lt.MB)
    fixed = lt.estimate_memory(rows, config.batch_size, copies, data_bytes=data_bytes, eval_batch=0)
    eval_batch = lt.eval_batch_within(rows, budget, fixed.parameters + fixed.data)
    return lt.estimate_memory(rows, config.batch_size, copies, data_bytes=data_bytes, eval_batch=eval_batch)


def largest_batch_within(spec: ArchSpec, config: TrainConfig, in_shape: tuple[int, int, int] | None = None) -> int:
    """The largest batch size (power of two, 0 if none) whose training fits the memory budget."""
    batch = 4096
    while batch >= 1 and memory_estimate(spec, replace(config, batch_size=batch), in_shape).total > config.memory_mb * lt.MB:
        batch //= 2
    return batch


def memory_reason(spec: ArchSpec, config: TrainConfig, in_shape: tuple[int, int, int] | None = None) -> str | None:
    """Why this network cannot train within the job's memory budget (a sentence), or None when it fits."""
    in_shape = in_shape or input_shape(config)
    if lt.validate(spec, in_shape):
        return None  # the layer table explains impossible stacks itself
    est = memory_estimate(spec, config, in_shape)
    budget = config.memory_mb * lt.MB
    if est.total <= budget:
        return None
    fits = largest_batch_within(spec, config, in_shape)
    if est.data > budget / 2:  # the images themselves are the problem, not the network
        hint = (f"The training images alone take {lt.format_bytes(est.data)}: choose fewer training images.")
    elif fits >= 1:
        hint = f"A batch of {fits} would fit; or use fewer channels, or downsample earlier (pooling, stride 2)."
    else:
        hint = ("Even one image at a time does not fit: use fewer channels, smaller feature maps (pooling, "
                "stride 2, less padding) or fewer layers.")
    return (f"Training this network needs about {lt.format_bytes(est.total)} of memory, more than this server "
            f"gives one training job ({lt.format_bytes(budget)}): {est.text()}. {hint}")


OUT_OF_MEMORY_MESSAGE = (
    "The server ran out of memory while training this network, so the run was stopped and its memory "
    "freed. The estimate did not foresee it; a smaller batch or a smaller network will fit.")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure (CPU: "DefaultCPUAllocator: can't allocate memory")."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


# ---------------------------------------------------------------------------------------------
# Data on the device


DATA_BYTES_PER_VALUE = 1  # images stay uint8 on the device; each batch becomes float32 when it is used


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
    statistics (MNIST's when ``meta`` is None); the formula of ``core.datasets.to_float``, on the device.
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


def input_shape(config: TrainConfig) -> tuple[int, int, int]:
    """(C, H, W) of the configured dataset's images: what the network's first layer receives."""
    return cds.info(config.dataset).shape


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


# ---------------------------------------------------------------------------------------------
# One epoch


@dataclass(frozen=True)
class EpochMetrics:
    loss: float  # mean training loss over the batches run
    accuracy: float  # training accuracy (on the augmented batches when augmenting), 0..1
    batches: int
    samples: int
    seconds: float
    stopped: bool = False  # a callback asked to stop before the epoch ended
    diverged: bool = False  # the loss became NaN, infinite or exploded (DIVERGED_LOSS)
    lr: float = 0.0  # learning rate at the end of the epoch


class EpochCursor:
    """Where an epoch is: its shuffled order, the next batch, and running sums. Survives interruptions."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> None:
        # (N,) shuffled indices; drawn on the generator's device so a seed gives the same order.
        self.order = torch.randperm(n, generator=generator, device=generator.device).to(device)
        self.batch_size = batch_size
        self.n_batches = max(1, math.ceil(n / batch_size))
        self.next_batch = 0
        self.loss_sum = 0.0
        self.correct = 0
        self.samples = 0
        self.seconds = 0.0
        self.fastest_per_sample = math.inf  # seconds per image of the fastest batch (no warm-up, no hiccups)
        self.diverged = False

    @property
    def done(self) -> bool:
        return self.next_batch >= self.n_batches

    def add_batch(self, loss: float, correct: int, samples: int, seconds: float) -> None:
        self.loss_sum += loss * samples
        self.correct += correct
        self.samples += samples
        self.next_batch += 1
        self.seconds += seconds
        if self.next_batch > 1:  # the first batch pays one-off library set-up
            self.fastest_per_sample = min(self.fastest_per_sample, seconds / samples)

    def metrics(self, stopped: bool, lr: float) -> EpochMetrics:
        batches = self.next_batch
        return EpochMetrics(
            self.loss_sum / max(1, self.samples), self.correct / max(1, self.samples), batches, self.samples,
            self.seconds, stopped, self.diverged, lr,
        )


def _current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def train_epoch(
    model: nn.Module, data: TensorData, optimizer: torch.optim.Optimizer, device: torch.device,
    on_batch: Callable[[int, int, float], Any] | None = None, *, cursor: EpochCursor | None = None,
    batch_size: int = 128, scheduler: Any = None, augment: bool = False, generator: torch.Generator | None = None,
    label_smoothing: float = 0.0, should_stop: Callable[[], bool] | None = None,
) -> EpochMetrics:
    """The one training loop: a pass over ``data.train_x`` in shuffled mini-batches; returns its metrics.

    With a ``cursor`` it runs that epoch's remaining batches (a run resumed after an interruption);
    without one it starts a fresh epoch. ``on_batch(i, n, loss)`` is called after batch ``i`` (1-based)
    of ``n`` is applied; returning False stops (``stopped``), and an exception propagates with the cursor
    already past that batch. A NaN/inf/exploded loss ends the epoch with ``diverged``.
    """
    generator = generator or _generator_for(device, 0)
    if cursor is None:
        cursor = EpochCursor(data.n_train, batch_size, generator, device)
    model.train()
    stopped = False
    while not cursor.done and not stopped:
        t0 = time.perf_counter()
        start = cursor.next_batch * cursor.batch_size
        idx = cursor.order[start:start + cursor.batch_size]
        x, y = data.floats(data.train_x[idx]), data.train_y[idx]  # (B, C, H, W) float32, (B,)
        if augment:
            x = random_affine(x, generator)
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value) or loss_value > DIVERGED_LOSS:
            cursor.diverged = True
            cursor.seconds += time.perf_counter() - t0
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        cursor.add_batch(loss_value, int((logits.detach().argmax(1) == y).sum()), len(y), time.perf_counter() - t0)
        stopped = ((on_batch is not None and on_batch(cursor.next_batch, cursor.n_batches, loss_value) is False)
                   or (should_stop is not None and should_stop()))
    return cursor.metrics(stopped, _current_lr(optimizer))


# ---------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class EvalResult:
    accuracy: float  # 0..1
    loss: float  # mean cross-entropy
    per_class: np.ndarray  # (10,) accuracy per true class (nan for a class with no digits)
    confusion: np.ndarray  # (10, 10) int64 counts, rows = true digit, columns = predicted digit
    probabilities: np.ndarray  # (N, 10) float32 softmax outputs
    predictions: np.ndarray  # (N,) int64
    labels: np.ndarray  # (N,) int64
    cut_short: bool = False  # the job's time limit ended the evaluation before the last image

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])


def evaluate(model: nn.Module, images: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
             device: torch.device, batch_size: int = 256, deadline: float | None = None,
             meta: cds.DatasetInfo | None = None) -> EvalResult:
    """Accuracy, per-class accuracy, confusion matrix and probabilities (``model.eval()``, no grad).

    ``images`` are normalised float tensors (N, C, H, W), uint8 tensors (N, C, H, W) normalised batch
    by batch with ``meta``'s statistics (MNIST's when None), or raw uint8 images (N, H, W[, 3]). ``batch_size``
    bounds the memory (the job's estimate picks it); past ``deadline`` (``time.monotonic()``) the
    evaluation ends after the current batch and reports on the images seen (``cut_short``).
    """
    if isinstance(images, np.ndarray):
        images = to_bytes(images, device)  # normalised batch by batch below, with ``meta``
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels.astype(np.int64))
    labels = labels.to(device)
    was_training = model.training
    model.eval()
    probs, loss_sum, seen, total = [], 0.0, 0, int(labels.shape[0])
    with torch.inference_mode():
        for start in range(0, total, max(1, batch_size)):
            if deadline is not None and seen and time.monotonic() > deadline:
                break
            logits = model(as_float(images[start:start + batch_size].to(device), meta))
            loss_sum += float(F.cross_entropy(logits.float(), labels[start:start + batch_size], reduction="sum"))
            probs.append(torch.softmax(logits.float(), dim=1).cpu())
            seen += int(logits.shape[0])
    model.train(was_training)
    p = torch.cat(probs).numpy() if probs else np.zeros((0, 10), np.float32)  # (N, 10)
    y = labels[:seen].cpu().numpy()
    pred = p.argmax(1).astype(np.int64)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    counts = confusion.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(counts > 0, np.diag(confusion) / np.maximum(counts, 1), np.nan)
    n = max(1, len(y))
    return EvalResult(float((pred == y).sum() / n), loss_sum / n, per_class, confusion,
                      p.astype(np.float32), pred, y.astype(np.int64), cut_short=seen < total)


# ---------------------------------------------------------------------------------------------
# A whole run


@dataclass(frozen=True)
class EpochRecord:
    epoch: float  # epochs trained so far (fractional for a stopped, partial epoch)
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    seconds: float  # training seconds of this epoch
    lr: float
    partial: bool = False


@dataclass
class TrainResult:
    model: nn.Module
    spec: ArchSpec
    config: TrainConfig
    history: list[EpochRecord]
    test: EvalResult | None  # None when training diverged (the weights are garbage or NaN)
    seconds: float  # job seconds: training and validation (the test evaluation is inside the same limit)
    stopped_reason: str  # "completed" | "stopped" | "diverged" | "time limit"
    message: str  # a sentence for the student about how the run ended
    device: str
    params: int
    data_description: str
    batch_log: list[tuple[float, float]] = field(default_factory=list)  # (epoch position, train loss)

    @property
    def epochs_trained(self) -> float:
        return self.history[-1].epoch if self.history else 0.0

    @property
    def test_accuracy(self) -> float | None:
        return None if self.test is None else self.test.accuracy


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    elif config.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    elif config.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0,
                              weight_decay=config.weight_decay)
    elif config.optimizer == "adadelta":
        opt = torch.optim.Adadelta(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"Unknown optimizer {config.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}.")
    return opt


def _has_momentum(optimizer: torch.optim.Optimizer) -> bool:
    """One-cycle also cycles momentum, which Adadelta (and SGD without momentum) does not have."""
    d = optimizer.defaults
    return "betas" in d or bool(d.get("momentum"))


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int) -> Any:
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total,
                                                   pct_start=0.25, anneal_strategy="cos",
                                                   cycle_momentum=_has_momentum(optimizer))
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if config.schedule == "exponential":  # lr · γ^step, with γ chosen so the last step is at 10 %
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=EXPONENTIAL_END ** (1 / total))
    return None


def _generator_for(device: torch.device, seed: int) -> torch.Generator:
    # MPS generators are not supported everywhere: draw on the CPU there.
    gen_device = device.type if device.type == "cuda" else "cpu"
    return torch.Generator(device=gen_device).manual_seed(seed)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a ``TrainingRun`` method under the run's lock (see ``TrainingRun``)."""
    @functools.wraps(method)
    def wrapper(self: "TrainingRun", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)
    return wrapper


class TrainingRun:
    """A training run that can be advanced in pieces and interrupted at any batch.

    ``step``, ``stop`` and ``finish`` hold the run's lock: two script runs of one browser session can
    overlap (the Stop click's run starts while the interrupted one is still inside its epoch; seen in
    the load test as an AssertionError when ``stop`` cleared the cursor under a running ``step``).
    ``stop`` then waits for the other thread's ``step`` to return, at most one epoch.

    ``step()`` trains until the end of the current epoch (or until asked to stop); call it until
    ``done``, then ``finish()`` evaluates on the test set and returns the ``TrainResult``. If a callback
    raises mid-epoch, nothing is lost: the next ``step()`` carries on with the next batch.
    """

    def __init__(self, spec: ArchSpec, config: TrainConfig, device: torch.device | None = None,
                 data: TensorData | None = None,
                 test: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        config.check()
        in_shape = input_shape(config)  # the network takes the dataset's images: (1|3, 28|32, 28|32)
        if lt.validate(spec, in_shape):
            raise ValueError(lt.validate(spec, in_shape))
        reason = memory_reason(spec, config, in_shape)
        if reason:  # refused before a single byte of it is allocated
            raise ValueError(reason)
        self.spec, self.config = spec, config
        self.memory = memory_estimate(spec, config, in_shape)
        self.device = device or pick_device()
        self.data = data or prepare_data(config, self.device)
        self.in_shape = in_shape
        self._test = test
        # The run's own random numbers: initial weights, dropout masks, batch order and augmentation.
        # Nothing global is seeded or restored, so students training at once cannot disturb each other.
        self.model = build_model(spec, in_shape, generator=torch.Generator().manual_seed(config.seed))
        self.model = self.model.to(self.device, memory_format=memory_format(self.device))
        self.model.use_generator(_generator_for(self.device, config.seed + 1))
        self.optimizer = make_optimizer(self.model, config)
        self.steps_per_epoch = max(1, math.ceil(self.data.n_train / config.batch_size))
        self.scheduler = make_scheduler(self.optimizer, config, self.steps_per_epoch)
        self.generator = _generator_for(self.device, config.seed)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.history: list[EpochRecord] = []
        self.batch_log: list[tuple[float, float]] = []
        self.cursor: EpochCursor | None = None
        self.epochs_done = 0
        self.seconds = 0.0
        self.stopped_reason: str | None = None
        self.message = ""
        self.result: TrainResult | None = None
        self._lock = threading.RLock()
        self._claimed = False
        self._counted = 0.0  # the current epoch's seconds already added to ``seconds``
        self._time_up = False  # the time limit ended the current step

    @property
    def done(self) -> bool:
        return self.stopped_reason is not None

    @property
    def progress(self) -> float:
        """Fraction of the planned batches trained, 0..1."""
        within = self.cursor.next_batch / self.cursor.n_batches if self.cursor else 0.0
        return min(1.0, (self.epochs_done + within) / self.config.epochs)

    def position(self) -> float:
        """Epochs trained so far, fractional inside an epoch."""
        within = self.cursor.next_batch / self.cursor.n_batches if self.cursor else 0.0
        return self.epochs_done + within

    @_locked
    def stop(self, reason: str = STOP_STOPPED, message: str | None = None) -> None:
        """End the run early, keeping the model as trained so far (a partial epoch is recorded)."""
        if self.done:
            return
        if self.cursor is not None and self.cursor.next_batch > 0:
            self._record_epoch(partial=True)
        self.cursor = None
        self.stopped_reason = reason
        self.message = message or {
            STOP_STOPPED: f"Stopped after {self.position_text()}; the model trained so far is kept.",
            STOP_TIME: (f"Reached this server's time limit of {self.config.time_limit_s:g} s after "
                        f"{self.position_text()}; the model trained so far is kept. Fewer epochs or a "
                        "smaller network finish in time."),
        }.get(reason, reason)

    def position_text(self) -> str:
        pos = self.history[-1].epoch if self.history else self.position()
        return f"{pos:.3g} epoch{'s' if pos != 1 else ''}"

    @_locked
    def step(self, on_batch: Callable[[int, int, float], Any] | None = None,
             should_stop: Callable[[], bool] | None = None) -> EpochRecord | None:
        """Train to the end of the current epoch; returns its record (None if the run ended first)."""
        if self.done:
            return None
        if self.cursor is None:
            self.cursor = EpochCursor(self.data.n_train, self.config.batch_size, self.generator, self.device)
        cursor = self.cursor
        limit = self.config.time_limit_s

        def batch_hook(i: int, n: int, loss: float) -> bool:
            self.seconds += cursor.seconds - self._counted
            self._counted = cursor.seconds
            self.batch_log.append((self.epochs_done + i / n, loss))
            if self.seconds + self._evaluation_reserve(cursor) > limit:
                self._time_up = True
                return False
            if on_batch is not None and on_batch(i, n, loss) is False:
                return False
            return True

        self._counted = cursor.seconds
        self._time_up = False
        try:
            interrupted = train_epoch(
                self.model, self.data, self.optimizer, self.device, batch_hook, cursor=cursor,
                scheduler=self.scheduler, augment=self.config.augment, generator=self.generator,
                label_smoothing=self.config.label_smoothing, should_stop=should_stop,
            ).stopped
        finally:
            self.seconds += cursor.seconds - self._counted
            self._counted = cursor.seconds
        if cursor.diverged:
            self.cursor = None
            self.stopped_reason = STOP_DIVERGED
            self.message = (
                f"Training diverged: the loss exploded (NaN, infinite or above {DIVERGED_LOSS:,.0f}) in epoch "
                f"{self.epochs_done + 1} "
                f"(batch {cursor.next_batch + 1}). The learning rate {self.config.lr:g} is too high for "
                f"{OPTIMIZERS[self.config.optimizer]}: try about ten times lower "
                f"(e.g. {self.config.lr / 10:g}).")
            return None
        if interrupted and not cursor.done:
            self.stop(STOP_TIME if self._time_up else STOP_STOPPED)
            return None
        record = self._record_epoch(partial=False)
        self.cursor = None
        self.epochs_done += 1
        if self.epochs_done >= self.config.epochs:
            self.stopped_reason = STOP_COMPLETED
            self.message = f"Trained {self.epochs_done} epoch{'s' if self.epochs_done != 1 else ''}."
        elif self._time_up or self.seconds > limit:
            self.stop(STOP_TIME)
        elif interrupted:
            self.stop(STOP_STOPPED)
        return record

    def _evaluation_reserve(self, cursor: EpochCursor) -> float:
        """Seconds to keep for the validation and test evaluations still ahead: a forward pass costs about
        a third of a training step, per image (from this epoch's fastest batch, so the first batch's one-off
        library set-up and a busy moment do not count)."""
        if not math.isfinite(cursor.fastest_per_sample):
            return 0.0
        n_test = int(self._test[1].shape[0]) if self._test is not None else 10_000
        # At most a quarter of the limit: a misjudged speed never starves training, and the test
        # evaluation itself stops at the limit anyway (``finish``).
        return min(0.25 * self.config.time_limit_s, cursor.fastest_per_sample / 3 * (n_test + self.data.n_val))

    def _record_epoch(self, partial: bool) -> EpochRecord:
        cursor = self.cursor
        assert cursor is not None
        m = cursor.metrics(partial, _current_lr(self.optimizer))
        val_loss = val_acc = None
        if self.data.n_val:
            t0 = time.perf_counter()
            ev = evaluate(self.model, self.data.val_x, self.data.val_y, self.device, self.memory.eval_batch,
                          meta=self.data.meta)
            val_loss, val_acc = ev.loss, ev.accuracy
            self.seconds += time.perf_counter() - t0  # validation is part of the job's time
        epoch = self.epochs_done + (cursor.next_batch / cursor.n_batches if partial else 1)
        record = EpochRecord(round(epoch, 4), m.loss, m.accuracy, val_loss, val_acc, m.seconds, m.lr, partial)
        self.history.append(record)
        return record

    def run(self, on_epoch: Callable[[EpochRecord, "TrainingRun"], Any] | None = None,
            on_batch: Callable[[int, int, float], Any] | None = None,
            should_stop: Callable[[], bool] | None = None) -> TrainResult:
        """Step until done, then ``finish``. ``on_epoch`` returning False stops after that epoch."""
        while not self.done:
            record = self.step(on_batch, should_stop)
            if record is not None and on_epoch is not None and on_epoch(record, self) is False:
                self.stop(STOP_STOPPED)
        return self.finish()

    @_locked
    def claim(self) -> bool:
        """True for the first caller only: who reports the finished run (one row in the comparison)."""
        first, self._claimed = not self._claimed, True
        return first

    @_locked
    def finish(self, test: bool = True) -> TrainResult:
        """Evaluate on the official 10k test set (once; not when ``test`` is False) and return the result."""
        if self.result is not None:
            return self.result
        if not self.done:
            self.stop(STOP_STOPPED)
        wanted, test = test, None
        if not wanted and self.history:
            self.message += " The server was too busy to test it on the test digits."
        elif self.stopped_reason != STOP_DIVERGED and self.history:
            x, y = self._test if self._test is not None else test_tensors(self.device, dataset=self.config.dataset)
            t0 = time.perf_counter()
            deadline = time.monotonic() + max(0.0, self.config.time_limit_s - self.seconds)
            test = evaluate(self.model, x, y, self.device, self.memory.eval_batch, deadline=deadline,
                            meta=cds.info(self.config.dataset))
            self.seconds += time.perf_counter() - t0
            if test.cut_short:
                self.message += (f" The time limit ended the test after {test.n:,} of {int(y.shape[0]):,} test "
                                 "images: the accuracy is measured on those.")
        elif not self.history and self.stopped_reason != STOP_DIVERGED:
            self.message = "Stopped before the first batch finished: nothing was trained."
        self.result = TrainResult(
            self.model, self.spec, self.config, list(self.history), test, self.seconds,
            str(self.stopped_reason), self.message, device_text(self.device), self.params,
            self.data.description, list(self.batch_log),
        )
        # The result owns what the page keeps; drop the data tensors, gradients and optimizer state.
        self.data = replace(self.data, train_x=self.data.train_x[:0], val_x=self.data.val_x[:0])
        self.optimizer.state.clear()
        self.model.zero_grad(set_to_none=True)
        self.model.use_generator(None)
        self.model.eval()
        return self.result


def fit(spec: ArchSpec, config: TrainConfig, on_epoch: Callable[[EpochRecord, TrainingRun], Any] | None = None,
        on_batch: Callable[[int, int, float], Any] | None = None,
        should_stop: Callable[[], bool] | None = None, *, device: torch.device | None = None,
        data: TensorData | None = None, test: tuple[torch.Tensor, torch.Tensor] | None = None) -> TrainResult:
    """Train ``spec`` with ``config`` and evaluate on the official 10k test set.

    Ends "completed", "stopped" (a callback asked), "diverged" (NaN/inf loss: explained, not raised)
    or "time limit". Same seed on the CPU → same history.
    """
    return TrainingRun(spec, config, device, data, test).run(on_epoch, on_batch, should_stop)
