"""``TrainingRun``, a resumable stepper over epochs, and ``fit``, the one-call version.

If a caller's callback raises in the middle of an epoch (the page's script gets interrupted by a Stop click),
the run keeps the model and where it was, and ``step`` continues from the next batch, or ``finish``
evaluates what has been trained so far. ``fit`` runs to completion (or stop, divergence, time limit) and
evaluates on the official 10k test set."""

from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch
import torch.nn as nn

from core.arch import layer_table as lt
from core.arch.recipes import (
    DIVERGED_LOSS,
    OPTIMIZERS,
    STOP_COMPLETED,
    STOP_DIVERGED,
    STOP_STOPPED,
    STOP_TIME,
    TrainConfig,
    input_shape,
    memory_estimate,
    memory_reason,
)
from core.arch.spec import ArchSpec
from core.data import registry as cds
from core.train.convnet import seeded_model
from core.train.devices import device_text, generator_for, memory_format, pick_device
from core.train.loop import EpochCursor, EvalResult, _current_lr, evaluate, make_optimizer, make_scheduler, train_epoch
from core.train.tensors import TensorData, prepare_data, test_tensors

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
    # The final model on its own training images, evaluated like the test set (no dropout, no augmentation):
    # beside the test figures it shows how much the network memorised. None when no test ran.
    train: EvalResult | None = None

    @property
    def epochs_trained(self) -> float:
        return self.history[-1].epoch if self.history else 0.0

    @property
    def test_accuracy(self) -> float | None:
        return None if self.test is None else self.test.accuracy



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
        self.model = seeded_model(spec, in_shape, config.seed, config.init, config.init_sigma)
        self.model = self.model.to(self.device, memory_format=memory_format(self.device))
        self.model.use_generator(generator_for(self.device, config.seed + 1))
        self.optimizer = make_optimizer(self.model, config)
        self.steps_per_epoch = max(1, math.ceil(self.data.n_train / config.batch_size))
        self.scheduler = make_scheduler(self.optimizer, config, self.steps_per_epoch)
        self.generator = generator_for(self.device, config.seed)
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
        wanted, test, train = test, None, None
        if not wanted and self.history:
            self.message += " The server was too busy to test it on the test digits."
        elif self.stopped_reason != STOP_DIVERGED and self.history:
            x, y = self._test if self._test is not None else test_tensors(self.device, dataset=self.config.dataset)
            t0 = time.perf_counter()
            deadline = time.monotonic() + max(0.0, self.config.time_limit_s - self.seconds)
            meta = cds.info(self.config.dataset)
            test = evaluate(self.model, x, y, self.device, self.memory.eval_batch, deadline=deadline, meta=meta)
            if not test.cut_short:
                train = evaluate(self.model, self.data.train_x, self.data.train_y, self.device,
                                 self.memory.eval_batch, deadline=deadline, meta=meta)
            self.seconds += time.perf_counter() - t0
            if test.cut_short:
                self.message += (f" The time limit ended the test after {test.n:,} of {int(y.shape[0]):,} test "
                                 "images: the accuracy is measured on those.")
        elif not self.history and self.stopped_reason != STOP_DIVERGED:
            self.message = "Stopped before the first batch finished: nothing was trained."
        self.result = TrainResult(
            self.model, self.spec, self.config, list(self.history), test, self.seconds,
            str(self.stopped_reason), self.message, device_text(self.device), self.params,
            self.data.description, list(self.batch_log), train,
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
