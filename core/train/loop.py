"""One epoch and one evaluation: return data, never print, so the page, the benchmark and the tests share them."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from core.arch.recipes import DIVERGED_LOSS, EXPONENTIAL_END, OPTIMIZERS, TrainConfig
from core.data import registry as cds
from core.train.augment import random_affine
from core.train.devices import generator_for
from core.train.tensors import TensorData, as_float, to_bytes

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
    generator = generator or generator_for(device, 0)
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
