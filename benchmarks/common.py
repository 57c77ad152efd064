"""What every benchmark script shares: timing helpers and the result table.

Each script in ``benchmarks/`` defines ``run() -> list[Result]`` and ends with
``if __name__ == "__main__": print_table(run())``. ``python -m benchmarks.run_all`` runs them all and
rewrites ``docs/benchmarks.md``.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Result:
    name: str  # what was measured
    value: float
    unit: str  # "ms", "s", "MB", "%", "x"
    target: str = ""  # e.g. "≤ 20 ms"; empty when informative only
    ok: bool | None = None  # None when there is no target
    note: str = ""


def time_it(fn: Callable[[], object], repeat: int = 50, warmup: int = 5) -> list[float]:
    """Wall times in seconds of ``repeat`` calls after ``warmup`` calls (GC off while timing)."""
    for _ in range(warmup):
        fn()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    finally:
        if gc_was:
            gc.enable()
    return times


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1e3


def p95_ms(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] * 1e3



def check(name: str, value: float, unit: str, limit: float | None = None, at_least: float | None = None,
          note: str = "") -> Result:
    """A result with a target: ``limit`` is an upper bound, ``at_least`` a lower bound."""
    if limit is not None:
        return Result(name, value, unit, f"≤ {limit:g} {unit}", value <= limit, note)
    if at_least is not None:
        return Result(name, value, unit, f"≥ {at_least:g} {unit}", value >= at_least, note)
    return Result(name, value, unit, "", None, note)


def format_table(results: list[Result]) -> str:
    lines = ["| measurement | value | target | met | note |", "|---|---:|---|:---:|---|"]
    for r in results:
        met = "" if r.ok is None else ("yes" if r.ok else "**no**")
        # .3g would print 999.6 as "1e+03": from there on, whole numbers with thousands separators
        value = f"{r.value:.3g} {r.unit}" if abs(r.value) < 999.5 else f"{r.value:,.0f} {r.unit}"
        lines.append(f"| {r.name} | {value} | {r.target} | {met} | {r.note} |")
    return "\n".join(lines)


def print_table(results: list[Result]) -> None:
    print(format_table(results))
