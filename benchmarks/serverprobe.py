"""Helpers for the benchmarks that drive a real ConvLab server: its memory, its loaded libraries, its log.

Linux only (``/proc``). Used by ``bench_coldstart`` and ``bench_load``; not a benchmark itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ERROR_RE = re.compile(r"Traceback|Error")


def memory_mb(pid: int) -> dict[str, float]:
    """``VmRSS`` (resident now) and ``VmHWM`` (peak resident) of a process, in MB (10^6 bytes)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) * 1024 / 1e6  # the kernel reports kB (KiB)
    return out


def mapped_libraries(pid: int, needle: str) -> list[str]:
    """Paths of the files mapped into the process whose name contains ``needle`` (e.g. "libtorch")."""
    paths = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and needle in os.path.basename(parts[5]):
            paths.add(parts[5])
    return sorted(paths)


def error_lines(log: str) -> list[str]:
    """Lines of a server log that mention a traceback or an error."""
    return [line for line in log.splitlines() if ERROR_RE.search(line)]


def load_average() -> float:
    """The 1-minute load average (how busy the machine was while measuring)."""
    return os.getloadavg()[0]
