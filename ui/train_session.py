"""One student's training on the Train page: start, stop, the dense-vs-conv queue, messages that survive a
rerun, and the results this session keeps.

Training runs inside the script run and updates the page a few times a second. Any click (the Stop
button, or leaving the page) interrupts the run at its next page update; the model, its place in the
epoch and the history live in ``st.session_state``, so the next run of the script either stops the
training and keeps the partial model (Stop) or carries on where it was (any other interaction). This
class is the only code that reads or writes those keys.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

import streamlit as st

from core.arch import recipes
from core.arch import spec as archspec
from core.arch.budget import MemoryRefused
from core.arch.jobs import time_limit_from_env
from core.data import mnist as cdata
from core.train import devices, runner
from ui import train_views as tv
from ui.server_resources import memory_budget
from ui.train_results import run_summary

RUN, RESULT, SPEC, RUNS = "train.run", "train.result", "train.spec", "train.runs"
START, STOP, FLASH = "train._start", "train._stop", "train._flash"
QUEUE = "train._queue"  # networks still to train after this run (the dense-vs-conv comparison)
UI_EVERY_S = 0.3  # progress-bar updates (and interrupt points) at most this often
CHART_EVERY_S = 1.0  # mid-epoch curve redraws (the first one right after the first batch)


class TrainingSession:
    """This browser session's training, read from and kept in ``st.session_state``."""

    @property
    def run(self) -> runner.TrainingRun | None:
        return st.session_state.get(RUN)

    @property
    def result(self) -> runner.TrainResult | None:
        return st.session_state.get(RESULT)

    @property
    def spec(self) -> archspec.ArchSpec | None:
        """The network of ``result``."""
        return st.session_state.get(SPEC)

    @property
    def runs(self) -> list:
        """One summary per finished run of this session, for the comparison table."""
        return st.session_state.get(RUNS) or []

    @property
    def busy(self) -> bool:
        return self.run is not None or bool(st.session_state.get(START)) or bool(st.session_state.get(QUEUE))

    # -- what the buttons ask for (callbacks: they run before the next script run) --------------------
    def request_start(self) -> None:
        st.session_state[START] = True

    def request_stop(self) -> None:
        st.session_state[STOP] = True

    def request_queue(self, specs: list[archspec.ArchSpec]) -> None:
        st.session_state[QUEUE] = list(specs)

    # -- messages -----------------------------------------------------------------------------------
    def flash(self, kind: str, text: str) -> None:
        """A message that survives the st.rerun() after training ends."""
        st.session_state[FLASH] = (kind, text)

    def show_flash(self) -> None:
        if FLASH in st.session_state:
            kind, text = st.session_state.pop(FLASH)
            getattr(st, kind)(text)

    # -- the run ------------------------------------------------------------------------------------
    def apply_stop(self) -> None:
        """A Stop click since the last run: end the run (and a comparison), keep the model trained so far."""
        run = self.run
        if run is not None and st.session_state.pop(STOP, False):
            st.session_state.pop(QUEUE, None)
            run.stop(recipes.STOP_STOPPED)
            self._finish(run)
        st.session_state.pop(STOP, None)

    def advance(self, spec: archspec.ArchSpec, config: recipes.TrainConfig, reason: str | None,
                status=None) -> None:
        """Start what was asked for (the queue's next network, or Train when allowed), then train live;
        the progress bar goes into ``status`` (a container; the page's flow when None)."""
        run = self.run
        queue = st.session_state.get(QUEUE) or []
        queued = queue.pop(0) if run is None and queue else None
        if queued is not None or (st.session_state.pop(START, False) and run is None and reason is None):
            self._start(queued or spec, config)
            run = self.run
            if run is None:
                st.rerun()
        if run is not None:
            self._train_live(run, status)

    def _start(self, spec: archspec.ArchSpec, config: recipes.TrainConfig) -> None:
        try:
            dev = tv.device()
            st.session_state[RUN] = runner.TrainingRun(spec, config, dev,
                                                       test=tv.test_set(dev, str(dev), config.dataset))
        except (ValueError, cdata.DataError) as exc:
            st.session_state.pop(QUEUE, None)
            self.flash("error", str(exc))
        except (RuntimeError, MemoryError) as exc:
            if not devices.is_out_of_memory(exc):
                raise
            st.session_state.pop(QUEUE, None)
            self.flash("error", recipes.OUT_OF_MEMORY_MESSAGE)

    def _drop_out_of_memory(self, run: runner.TrainingRun) -> None:
        """An allocation failed mid-job: forget the run (its memory goes with it) so no rerun retries it."""
        for name in (RUN, START, QUEUE):
            st.session_state.pop(name, None)
        run.stop(recipes.STOP_STOPPED, recipes.OUT_OF_MEMORY_MESSAGE)
        self.flash("error", recipes.OUT_OF_MEMORY_MESSAGE)

    def _finish(self, run: runner.TrainingRun, slot_held: bool = False) -> None:
        """Evaluate on the test set, keep the result for this session and add it to the comparison.

        The test evaluation is part of the job: it runs holding a training slot (waiting for one, at most
        the time limit, when the run was stopped between script runs)."""
        limiter = tv.job_limiter()
        with st.spinner("Testing on the official test set…"):
            got = slot_held or limiter.acquire(time_limit_from_env())
            try:
                result = run.finish(test=got)
            finally:
                if got and not slot_held:
                    limiter.release()
        if not run.claim():  # an overlapping script run of this session has reported it already
            return
        st.session_state.pop(RUN, None)
        st.session_state[RESULT] = result
        st.session_state[SPEC] = result.spec
        runs = st.session_state.setdefault(RUNS, [])
        runs.append(run_summary(result, len(runs) + 1))
        kind = {"completed": "success", "diverged": "error"}.get(result.stopped_reason, "warning")
        self.flash(kind, result.message)

    def _train_live(self, run: runner.TrainingRun, status=None) -> None:
        """Advance the run epoch by epoch, drawing progress and curves; any click interrupts it here.

        The run holds a training slot and its estimated bytes in the server's memory budget meanwhile."""
        limiter = tv.job_limiter()
        if not limiter.try_acquire():
            self._cannot_continue(run, limiter.busy_message())
        memory = ExitStack()
        try:
            memory.enter_context(memory_budget().admit("training this network", run.memory.total))
        except MemoryRefused as exc:
            limiter.release()
            self._cannot_continue(run, str(exc))
        try:
            _epochs_live(run, status)
            self._finish(run, slot_held=True)  # the test evaluation counts against the job limit too
        except (RuntimeError, MemoryError) as exc:
            if not devices.is_out_of_memory(exc):
                raise
            self._drop_out_of_memory(run)
        finally:
            memory.close()
            limiter.release()
        st.rerun()

    def _cannot_continue(self, run: runner.TrainingRun, message: str) -> None:
        """No slot or no memory for the run now: keep what a paused run has trained, else say why."""
        if run.history or run.cursor is not None:
            run.stop(recipes.STOP_STOPPED, "Paused training could not continue because the server is busy; "
                                           "the model trained so far is kept.")
            self._finish(run)
        else:
            st.session_state.pop(RUN, None)
            self.flash("warning", message)
        st.rerun()


def _epochs_live(run: runner.TrainingRun, status=None) -> None:
    """Step the run to its end with a progress bar (in ``status``) and the curves, redrawn at most every
    CHART_EVERY_S."""
    bar = (status or st).progress(run.progress, text="Starting…")
    chart, draws = st.empty(), [0]

    def draw_curves() -> None:
        # Its own key each time: two identical redraws (a run that ends at batch 1) must not clash.
        draws[0] += 1
        chart.plotly_chart(tv.curves_figure(run.history, run.batch_log, run.config.epochs),
                           key=f"train.curves.{draws[0]}")

    draw_curves()
    last = {"ui": 0.0, "chart": 0.0}  # 0: the first batch already updates the bar and the curve

    def on_batch(i: int, n: int, loss: float) -> None:
        now = time.monotonic()
        if now - last["ui"] >= UI_EVERY_S:
            last["ui"] = now
            bar.progress(run.progress, text=f"Epoch {run.epochs_done + 1}/{run.config.epochs} · batch {i}/{n}"
                                            f" · loss {loss:.3f} · {run.seconds:.1f} s")
        if now - last["chart"] >= CHART_EVERY_S:
            last["chart"] = now
            draw_curves()

    while not run.done:
        run.step(on_batch)
        draw_curves()
        last["chart"] = time.monotonic()
    bar.progress(1.0, text="Training finished.")
