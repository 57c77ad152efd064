"""A server-wide limit on concurrent training jobs (plain Python; the page shares one instance).

Training is the one expensive thing ConvLab does. ``JobLimiter`` hands out at most ``capacity`` slots
and never blocks: a student who asks while the server is full is told so at once instead of waiting.
The training page keeps a single limiter per server process in ``st.cache_resource``.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterator

DEFAULT_MAX_JOBS = 2
DEFAULT_TIME_LIMIT_S = 120.0
# Per-job memory budget. A small free-tier host has about 1 GB: the server with torch loaded and a class's
# sessions takes about 350 MB, torch's first training step adds about 100 MB of one-off library buffers,
# and 2 jobs × 256 MB fill most of the rest with ~60 MB to spare (README, "Security and limits").
DEFAULT_JOB_MEMORY_MB = 256.0
MAX_JOBS_ENV = "CONVLAB_MAX_TRAINING_JOBS"
TIME_LIMIT_ENV = "CONVLAB_TRAINING_TIME_LIMIT_S"
JOB_MEMORY_ENV = "CONVLAB_MAX_JOB_MEMORY_MB"


@contextmanager
def lower_priority(step: int = 10) -> Iterator[bool]:
    """Run the block at a lower CPU priority (``nice`` + ``step``) in this thread; yields whether it could.

    Training is the only long, CPU-bound work on a ConvLab server, and it shares the cores with every
    student's drawing and slider requests. On Linux the nice value belongs to the thread, and threads
    that torch's OpenMP pool starts from this thread inherit it, so a training run yields the CPU to
    interactive requests and still uses every idle cycle. Restoring the old value needs privileges a
    hosted app may not have; Streamlit runs each script run in a new thread, so a lowered priority ends
    with the run either way. Elsewhere (no per-thread priorities) this does nothing.
    """
    tid = threading.get_native_id()
    try:
        before = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, before + step))
    except (AttributeError, OSError):
        yield False
        return
    try:
        yield True
    finally:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, before)
        except OSError:
            pass


class ServerBusy(RuntimeError):
    """Every training slot is taken; the message is what the student reads."""


def _env_number(name: str, default: float, lo: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value >= lo else default


def max_jobs_from_env() -> int:
    """``CONVLAB_MAX_TRAINING_JOBS`` (an integer ≥ 1), default 2; unusable values fall back to 2."""
    return int(_env_number(MAX_JOBS_ENV, DEFAULT_MAX_JOBS, 1))


def time_limit_from_env() -> float:
    """``CONVLAB_TRAINING_TIME_LIMIT_S`` (seconds > 0), default 120."""
    return _env_number(TIME_LIMIT_ENV, DEFAULT_TIME_LIMIT_S, 1e-3)


def job_memory_from_env() -> float:
    """``CONVLAB_MAX_JOB_MEMORY_MB`` (megabytes ≥ 1), default 256."""
    return _env_number(JOB_MEMORY_ENV, DEFAULT_JOB_MEMORY_MB, 1.0)


class JobLimiter:
    """At most ``capacity`` jobs at once; ``try_acquire`` never waits."""

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = int(capacity if capacity is not None else max_jobs_from_env())
        if self.capacity < 1:
            raise ValueError(f"The training job limit must be at least 1 (got {self.capacity}).")
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    def try_acquire(self) -> bool:
        if not self._slots.acquire(blocking=False):
            return False
        with self._lock:
            self._running += 1
        return True

    def acquire(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for a slot (to finish a job that was already counted as started)."""
        if not self._slots.acquire(timeout=max(0.0, timeout_s)):
            return False
        with self._lock:
            self._running += 1
        return True

    def release(self) -> None:
        self._slots.release()  # ValueError (BoundedSemaphore) if nothing was acquired
        with self._lock:
            self._running -= 1

    def busy_message(self) -> str:
        return (f"The server is busy: {self.capacity} training job{'s' if self.capacity != 1 else ''} "
                "already running, which is the most it runs at once. Try again in a minute.")

    @contextmanager
    def slot(self) -> Iterator[None]:
        """``with limiter.slot():`` runs the block holding a slot, or raises ``ServerBusy`` at once."""
        if not self.try_acquire():
            raise ServerBusy(self.busy_message())
        try:
            yield
        finally:
            self.release()
