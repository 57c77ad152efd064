"""Helpers for the benchmarks that drive a real ConvLab server: its memory, its loaded libraries, its log.

Linux only (``/proc``). Used by ``bench_coldstart``, ``bench_load`` and ``bench_capacity``; not a benchmark itself.
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def descendants_cpu_seconds(root: int, exclude: set[int] | frozenset[int] = frozenset()) -> dict[int, float]:
    """CPU seconds used so far by every living descendant of ``root`` (not ``exclude`` or theirs)."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    out = {}
    for pid in cpu:
        p = pid
        while p in parent and p not in exclude and p != root:
            p = parent[p]
        if p == root and pid != root and pid not in exclude:
            out[pid] = cpu[pid]
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


def core_busy_seconds(core: int | None) -> float:
    """CPU seconds one core has spent busy so far, whoever ran there (``/proc/stat``: everything but idle
    and iowait); 0 when ``core`` is None. Minus a pinned server's own CPU time: what others took of its core."""
    if core is None:
        return 0.0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *ticks = line.split()
        if name == f"cpu{core}":
            values = [int(t) for t in ticks[:8]]  # user nice system idle iowait irq softirq steal
            return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")
    raise ValueError(f"no core {core} in /proc/stat")


def two_cores() -> tuple[int, int] | None:
    """(server core, client core) when this process may use at least two cores; else None."""
    cores = sorted(os.sched_getaffinity(0))
    return (cores[0], cores[1]) if len(cores) >= 2 else None


def pin_process(pid: int, core: int) -> None:
    """Every thread of a running process onto ``core`` (what ``taskset -a -p`` does); threads it starts
    later inherit it. A thread that ends meanwhile is skipped."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {core})
        except ProcessLookupError:
            pass
