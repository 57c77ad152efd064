"""Training recipes without torch: optimizers, schedules, datasets, the typed ``TrainConfig`` and
the memory a run needs (what the Train page reads before anything trains)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from core.arch import layer_table as lt
from core.arch.jobs import DEFAULT_JOB_MEMORY_MB
from core.arch.spec import ArchSpec
from core.data import registry as cds

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


# How conv and dense weights start. "zeros" is there to be tried: every unit of a layer then computes the
# same thing and gets the same gradient, so they stay identical (biases still learn).
INITS: dict[str, str] = {
    "default": "PyTorch's default (Kaiming uniform)",
    "normal": "normal with σ",
    "zeros": "all zeros (to see why not)",
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
    init: str = "default"  # an INITS key: how conv and dense weights start
    init_sigma: float = 0.1  # the standard deviation of "normal" (the TensorFlow lesson's 0.1)

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
        if self.init not in INITS:
            raise ValueError(f"Unknown initialisation {self.init!r}; choose one of {', '.join(INITS)}.")
        if not (math.isfinite(self.init_sigma) and 0 < self.init_sigma <= 10):
            raise ValueError(f"The initial weights' σ must be between 0 and 10 (got {self.init_sigma}).")


# Hyperparameters that work well for each preset (the page offers them as "recommended settings").
RECOMMENDED: dict[str, TrainConfig] = {
    "linear": TrainConfig(optimizer="adam", lr=3e-3, batch_size=128, epochs=10),
    "mlp": TrainConfig(optimizer="adam", lr=1e-3, batch_size=128, epochs=10),
    "lenet5": TrainConfig(optimizer="adam", lr=2e-3, batch_size=128, epochs=10),
    "twoconv": TrainConfig(optimizer="adam", lr=2e-3, batch_size=128, epochs=10),
    "allconv": TrainConfig(optimizer="adam", lr=2e-3, batch_size=128, epochs=8),
    "bncnn": TrainConfig(optimizer="adamw", lr=4e-3, batch_size=128, epochs=10, augment=True,
                         schedule="onecycle", weight_decay=5e-4, label_smoothing=0.05),
    "lesson0": TrainConfig(optimizer="adam", lr=1e-3, batch_size=32, epochs=5),  # Keras's defaults
    "lesson4": TrainConfig(optimizer="sgd", lr=0.05, batch_size=128, epochs=30, train_size=1_000),
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
    # the training steps' memory stays with the process while it evaluates: the batch fits what is left
    eval_batch = lt.eval_batch_within(rows, budget, fixed.parameters + fixed.data + fixed.training)
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


# ---------------------------------------------------------------------------------------------
# Data on the device


DATA_BYTES_PER_VALUE = 1  # images stay uint8 on the device; each batch becomes float32 when it is used


def input_shape(config: TrainConfig) -> tuple[int, int, int]:
    """(C, H, W) of the configured dataset's images: what the network's first layer receives."""
    return cds.info(config.dataset).shape
