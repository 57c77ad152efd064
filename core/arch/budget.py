"""One memory budget for the whole server: every costly piece of work asks it for its bytes first.

A ConvLab server is one process shared by a class. Each kind of work already knows, before it starts,
what it will cost: a training or evaluation run (``core.arch.layer_table`` and ``recipes.memory_reason``),
decoding an upload (``core.infer.uploads.decode_cost``), converting a downloaded dataset, loading a
session's model into onnxruntime. Each is bounded on its own, but a class doing them at once is not:
``MemoryBudget`` admits such work against what the server may use in all (its memory limit less a
margin for the interpreter, the libraries and the sessions' pages), waits briefly for room when others
hold it, and otherwise refuses with a sentence the student can act on.

The server keeps one budget (the ui shares it through ``st.cache_resource``); nothing here is global.
The limit comes from ``CONVLAB_MEMORY_MB`` when set, else the container's cgroup limit (``memory.max``
in cgroup v2, ``memory.limit_in_bytes`` in v1), else the machine's memory.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

MB = 1024 * 1024
MEMORY_ENV = "CONVLAB_MEMORY_MB"
MARGIN_ENV = "CONVLAB_MEMORY_MARGIN_MB"
WAIT_ENV = "CONVLAB_MEMORY_WAIT_S"
# The server itself, before any admitted work: interpreter, Streamlit, torch, onnxruntime and a class's
# sessions measured at about 350 MB, plus torch's one-off buffers of a first training step (100 MB).
DEFAULT_MARGIN_MB = 512.0
DEFAULT_WAIT_S = 3.0  # a slider step or an upload may wait this long for another student's work to end
CGROUP_ROOT = Path("/sys/fs/cgroup")
_NO_LIMIT = 1 << 60  # cgroup v1 writes a number near 2**63 for "no limit"


class MemoryRefused(RuntimeError):
    """Work that does not fit the server's memory now (or ever); the message says which, in words."""


def cgroup_limit(root: Path = CGROUP_ROOT) -> int | None:
    """The container's memory limit in bytes, or None when there is none (or no cgroup to read)."""
    for name in ("memory.max", "memory/memory.limit_in_bytes", "memory.limit_in_bytes"):
        try:
            text = (root / name).read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return value if 0 < value < _NO_LIMIT else None
    return None


def machine_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _env_float(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value is not None and value >= 0 else default


@dataclass(frozen=True)
class BudgetSettings:
    """What the server may use for admitted work: ``limit_bytes`` less ``margin_bytes``."""

    limit_bytes: int  # the server's memory limit
    margin_bytes: int = int(DEFAULT_MARGIN_MB * MB)  # kept for the server itself, never handed out
    wait_s: float = DEFAULT_WAIT_S  # how long a request waits for room before it is refused
    source: str = "setting"  # where the limit came from: "CONVLAB_MEMORY_MB", "cgroup", "machine"

    @property
    def capacity_bytes(self) -> int:
        return max(0, self.limit_bytes - self.margin_bytes)

    @classmethod
    def from_env(cls, cgroup_root: Path = CGROUP_ROOT) -> "BudgetSettings":
        """``CONVLAB_MEMORY_MB`` (else the cgroup limit, else the machine's memory), ``CONVLAB_MEMORY_MARGIN_MB``
        (default 512) and ``CONVLAB_MEMORY_WAIT_S`` (default 3)."""
        margin = int((_env_float(MARGIN_ENV, DEFAULT_MARGIN_MB) or 0) * MB)
        wait = _env_float(WAIT_ENV, DEFAULT_WAIT_S) or 0.0
        configured = _env_float(MEMORY_ENV, None)
        if configured:
            return cls(int(configured * MB), margin, wait, MEMORY_ENV)
        limit = cgroup_limit(cgroup_root)
        if limit is not None:
            return cls(limit, margin, wait, "cgroup")
        return cls(machine_memory() or 4096 * MB, margin, wait, "machine")


def _mb(n: float) -> str:
    return f"{n / MB:,.0f} MB"


class MemoryBudget:
    """Bytes handed out to work under way, never more than ``settings.capacity_bytes`` at once."""

    def __init__(self, settings: BudgetSettings) -> None:
        self.settings = settings
        self._room = threading.Condition()
        self._used = 0

    @property
    def in_use(self) -> int:
        with self._room:
            return self._used

    def fits_ever(self, nbytes: int) -> bool:
        return nbytes <= self.settings.capacity_bytes

    @contextmanager
    def admit(self, what: str, nbytes: int, wait_s: float | None = None) -> Iterator[None]:
        """Hold ``nbytes`` while the block runs. Waits up to ``wait_s`` (default the settings') for others to
        give memory back, woken as they do; ``MemoryRefused`` (nothing started) when it never fits or the
        wait runs out. ``what`` names the work for the student ("training this network")."""
        nbytes = max(0, int(nbytes))
        capacity = self.settings.capacity_bytes
        if nbytes > capacity:
            raise MemoryRefused(
                f"{what[:1].upper() + what[1:]} would need about {_mb(nbytes)} of memory; this server has "
                f"{_mb(capacity)} for all its students' work together. Make it smaller.")
        wait_s = self.settings.wait_s if wait_s is None else wait_s
        end = time.monotonic() + wait_s
        with self._room:
            while self._used + nbytes > capacity:
                left = end - time.monotonic()
                if left <= 0:
                    raise MemoryRefused(
                        f"The server is busy: {what} needs about {_mb(nbytes)} of memory and other students' "
                        f"work holds {_mb(self._used)} of the {_mb(capacity)} there is. Try again in a minute.")
                self._room.wait(left)
            self._used += nbytes
        try:
            yield
        finally:
            with self._room:
                self._used -= nbytes
                self._room.notify_all()
