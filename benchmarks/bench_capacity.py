"""Capacity: students per server core (p95 answer ≤ 1 s), with simulated students on Streamlit's own protocol.

One real ``streamlit run`` pinned to one core (``taskset``); this process, the load generator, pinned to
another. It measures the server, not the browsers:

1. **Record** what a real browser sends. Headless Chromium runs ``bench_interactions``' rows "draw a digit"
   and "arithmetic: kernel size slider step" (so whatever those rows do — the drawing component on the
   Draw page included — is what gets recorded) while ``stclient.FrameRecorder`` keeps every websocket
   frame. Each ``rerun_script`` the browser sent is named by the answer it got (a prediction, "No digit"
   after Clear, the new output shape). Those rows also give the browser's server CPU and answer time.
2. **Validate** one simulated student alone (``stclient.SimStudent``: opens the page like a browser,
   learns widget and fragment ids from the deltas, replays the recorded messages with its own page hash
   and query string): its server CPU and answer time per interaction next to the browser's.
3. **Ramp** simulated students: each acts every ``period`` seconds (±30 % jitter) — a drawing student
   draws a digit and, half a period later, presses Clear; a slider student moves Kernel size one step —
   and waits for its answer (send → the run's ``script_finished``; the answer text must be in the run's
   messages). For each count a measuring window gives interactions/s, answer p50/p95, the server's CPU %,
   what other processes used of the server's core (``/proc/stat``) and the load generator's own CPU %;
   a count over the limit is measured again over a window twice as long, which decides. Students per
   core = the largest count whose p95 ≤ 1 s with no failed or unanswered interaction. Default: 10, 20,
   40 students, 10 s windows, about 3 minutes; ``--full``: 5 to 160, 30 s windows (about 15 minutes).

``python -m benchmarks.bench_capacity [--steps 10,20,40] [--window 10] [--period 5] [--full] [--only draw]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.common import Result, check, print_table
from benchmarks.serverprobe import core_busy_seconds, cpu_seconds
from benchmarks.stclient import ClientState, FrameRecorder, SimStudent, varied

P95_LIMIT_S = 1.0


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    row: str  # the bench_interactions row whose browser run is recorded
    needles: dict  # answer name → bytes that the answer's messages contain (first match wins)
    measured: tuple[str, ...]  # the answer names whose times count (a Clear is load, not the figure)
    per_period: int  # interactions a student makes per period


SCENARIOS = (
    Scenario("draw", "/draw", "draw a digit", {"digit": b"Prediction:", "clear": b"No digit"}, ("digit",), 2),
    Scenario("slider", "/arithmetic", "arithmetic: kernel size slider step (whole page)",
             {"2x2": b"(1, 1, 2, 2)", "3x3": b"(1, 1, 3, 3)"}, ("2x2", "3x3"), 1),
)


@dataclass
class Recorded:
    scenario: Scenario
    load: ClientState
    cycle: list  # [(answer name, recorded ClientState)], replayed in order, round and round
    browser_cpu_ms: list[float]
    browser_visible_s: list[float]
    browser_finished_s: list[float]  # the browser's send → script_finished, for the measured answers


@dataclass
class Sample:
    name: str
    t_send: float
    seconds: float | None = None
    found: bool = False


@dataclass
class Step:
    students: int
    window_s: float
    samples: list[Sample]
    server_cpu_pct: float
    others_pct: float  # other processes on the server's core
    generator_pct: float
    errors: list[str]

    def measured(self, scenario: Scenario, now: float) -> list[float]:
        """Answer times of the measured interactions sent in the window (unanswered: time waited so far)."""
        return [s.seconds if s.seconds is not None else now - s.t_send
                for s in self.samples if s.name in scenario.measured]

    def p(self, q: float, times: list[float]) -> float:
        ordered = sorted(times)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


@dataclass
class Ramp:
    scenario: Scenario
    steps: list[Step] = field(default_factory=list)
    lines: list[tuple] = field(default_factory=list)  # (students, rate/s, p50, p95, cpu %, others %, gen %, ok)
    sim_cpu_ms: list[float] = field(default_factory=list)  # alone, the browser's own messages replayed
    sim_answer_s: list[float] = field(default_factory=list)
    sim_varied_cpu_ms: list[float] = field(default_factory=list)  # alone, each drawing a new image
    sim_period_cpu_ms: float = float("nan")  # alone: a student's whole period (a digit and its Clear)
    error: str = ""


# ---------------------------------------------------------------------------------------------
# 1. Record a real browser


def record(url: str, pid: int, scenarios, repeats: int = 4) -> dict[str, Recorded]:
    from playwright.sync_api import sync_playwright

    from benchmarks.bench_interactions import CHROMIUM, CHROMIUM_ARGS, ROWS, measure_row

    rows = {r.name: r for r in ROWS}
    out = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for sc in scenarios:
                recorder = FrameRecorder(browser)
                m = measure_row(recorder, url, pid, rows[sc.row], repeats)
                if m.error:
                    raise RuntimeError(f"recording {sc.name} in the browser failed: {m.error}")
                answered = recorder.answered(sc.needles)
                cycle = [(name, state) for name, state, _ in answered]
                cycle = cycle[:len(cycle) - len(cycle) % 2]  # even: the cycle ends where it starts
                finished = [t for name, _, t in answered[1:] if name in sc.measured and t is not None]
                load = recorder.page_load()
                if load is None or not any(name in sc.measured for name, _ in cycle):
                    raise RuntimeError(f"recording {sc.name}: no page load or no answered interaction "
                                       f"among {len(recorder.frames)} frames")
                out[sc.name] = Recorded(sc, load, cycle, m.cpu_ms, m.visible_s, finished)  # [1:]: warm-up
        finally:
            browser.close()
    return out


# ---------------------------------------------------------------------------------------------
# 2. One simulated student alone; 3. the ramp


async def _student(url: str, rec: Recorded) -> SimStudent:
    student = SimStudent(url, rec.scenario.path)
    await student.connect()
    await student.open_page(rec.load.query_string, rec.load)
    return student


async def validate(url: str, pid: int, rec: Recorded, ramp: Ramp, rounds: int = 2) -> None:
    """Interactions back to back, alone: server CPU from just before one send to just before the next.
    First the browser's messages exactly (as bench_interactions repeats the same strokes), then with
    each drawing varied (what the ramp sends)."""
    student = await _student(url, rec)
    rng = np.random.default_rng(0)
    varied_total_ms = 0.0
    try:
        for k, (name, state) in enumerate(rec.cycle * (rounds + 1)):
            exact = k < len(rec.cycle) * rounds
            cpu0 = cpu_seconds(pid)
            answer = await student.replay(state if exact else varied(state, rng), rec.scenario.needles[name])
            await asyncio.sleep(0.1)  # the run's last messages leave the server after script_finished
            cpu_ms = (cpu_seconds(pid) - cpu0) * 1e3
            varied_total_ms += 0.0 if exact else cpu_ms
            if name in rec.scenario.measured:
                (ramp.sim_cpu_ms if exact else ramp.sim_varied_cpu_ms).append(cpu_ms)
                if exact:
                    ramp.sim_answer_s.append(answer.seconds)
            if not answer.found:
                raise RuntimeError(f"alone, the answer {name!r} did not arrive")
    finally:
        await student.close()
    ramp.sim_period_cpu_ms = varied_total_ms / (len(rec.cycle) / rec.scenario.per_period)


async def _act(student: SimStudent, rec: Recorded, period: float, samples: list, errors: list,
               stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    gap = period / rec.scenario.per_period
    k = 0  # the cycle starts from the page as opened (a later message names widgets an earlier one made)
    rng = np.random.default_rng(random.randrange(2**32))
    try:
        if await _stopped(stop, random.uniform(0, period)):
            return
        while True:
            name, state = rec.cycle[k % len(rec.cycle)]
            k += 1
            sample = Sample(name, loop.time())
            samples.append(sample)
            answer = await student.replay(varied(state, rng), rec.scenario.needles[name])
            sample.seconds, sample.found = answer.seconds, answer.found
            if await _stopped(stop, sample.t_send + gap * random.uniform(0.7, 1.3) - loop.time()):
                return
    except Exception as exc:  # noqa: BLE001 - a failed student is counted, the others go on
        errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")
    finally:
        await student.close()


async def _stopped(stop: asyncio.Event, delay: float) -> bool:
    """Wait ``delay`` seconds unless ``stop`` is set first; whether it was."""
    if delay > 0:
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except asyncio.TimeoutError:
            pass
    return stop.is_set()


@dataclass
class Classroom:
    """The simulated students acting now; ``resize`` lets more arrive or sends some home."""

    url: str
    rec: Recorded
    period: float
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    present: list[tuple[asyncio.Task, asyncio.Event]] = field(default_factory=list)

    async def resize(self, n: int) -> None:
        opening = asyncio.Semaphore(4)  # students arrive a few at a time, as a class does

        async def arrive() -> None:
            async with opening:
                student = await _student(self.url, self.rec)
            stop = asyncio.Event()
            task = asyncio.ensure_future(_act(student, self.rec, self.period, self.samples, self.errors, stop))
            self.present.append((task, stop))

        await asyncio.gather(*(arrive() for _ in range(n - len(self.present))))
        leaving, self.present = self.present[n:], self.present[:n]
        await self.leave(leaving)

    async def leave(self, students=None) -> None:
        students = self.present if students is None else students
        for _, stop in students:
            stop.set()
        await asyncio.gather(*(task for task, _ in students), return_exceptions=True)

    def alive(self) -> int:
        return sum(not task.done() for task, _ in self.present)


async def ramp(url: str, pid: int, core: int | None, rec: Recorded, counts: list[int], window_s: float,
               period: float, refine: bool = True, log=print) -> Ramp:
    """Students arrive in ``counts`` until one count is over the limit; with ``refine``, then one count
    halfway between the last within it and that one. A count over the limit is measured once more over
    a window twice as long, which decides (a short window's p95 is nearly its maximum: one scheduling
    hiccup on a shared core is enough)."""
    out = Ramp(rec.scenario)
    await validate(url, pid, rec, out)
    room = Classroom(url, rec, period)
    try:
        for n in counts:
            if not await _judged(room, n, pid, core, window_s, out, log):
                break
        good = [line[0] for line in out.lines if line[7]]
        bad = [line[0] for line in out.lines if not line[7]]
        mid = (max(good) + min(bad)) // 2 if good and bad else 0
        if refine and mid > max(good, default=0):
            await _judged(room, mid, pid, core, window_s, out, log)
    finally:
        await room.leave()
    return out


async def _judged(room: Classroom, n: int, pid: int, core: int | None, window_s: float, out: Ramp, log) -> bool:
    if await _step(room, n, pid, core, window_s, out, log):
        return True
    log(f"{room.rec.scenario.name}: {n} students again, over {2 * window_s:g} s")
    out.steps.pop()
    out.lines.pop()
    return await _step(room, n, pid, core, 2 * window_s, out, log)


async def _step(room: Classroom, n: int, pid: int, core: int | None, window_s: float, out: Ramp, log) -> bool:
    """``n`` students acting; one measuring window; whether it was within the limit."""
    loop = asyncio.get_running_loop()
    errs0 = len(room.errors)
    await room.resize(n)
    await asyncio.sleep(room.period)  # everyone has started acting (each waits up to one period)
    t0, cpu0, gen0 = loop.time(), cpu_seconds(pid), time.process_time()
    busy0, first = core_busy_seconds(core), len(room.samples)
    await asyncio.sleep(window_s)
    t1 = loop.time()
    cpu, gen, busy = cpu_seconds(pid) - cpu0, time.process_time() - gen0, core_busy_seconds(core) - busy0
    in_window = [s for s in room.samples[first:] if s.t_send < t1]
    await _settle(in_window, t1 + 2 * P95_LIMIT_S)
    lost = room.errors[errs0:] + [f"{n - room.alive()} of {n} students not acting"] * (room.alive() < n)
    step = Step(n, t1 - t0, in_window, 100 * cpu / (t1 - t0), 100 * max(0.0, busy - cpu) / (t1 - t0),
                100 * gen / (t1 - t0), lost)
    out.steps.append(step)
    line = _line(room.rec.scenario, step, loop.time())
    out.lines.append(line)
    log(f"{room.rec.scenario.name}: {n} students, {line[1]:.1f}/s, p50 {line[2]:.2f} s, p95 {line[3]:.2f} s, "
        f"server CPU {line[4]:.0f} %, others on its core {line[5]:.0f} %, generator {line[6]:.0f} %"
        + ("" if line[7] else " — over the limit"))
    return line[7]


async def _settle(samples: list[Sample], deadline: float) -> None:
    """Until every sample sent in the window has its answer, or ``deadline`` (event loop clock)."""
    loop = asyncio.get_running_loop()
    while any(s.seconds is None for s in samples) and loop.time() < deadline:
        await asyncio.sleep(0.05)


def _line(sc: Scenario, step: Step, now: float) -> tuple:
    times = step.measured(sc, now)
    answered = [s for s in step.samples if s.seconds is not None]
    missing = len(step.samples) - len(answered) + sum(not s.found for s in answered)
    p95 = step.p(0.95, times)
    ok = bool(times) and p95 <= P95_LIMIT_S and missing == 0 and not step.errors
    return (step.students, len(answered) / step.window_s, step.p(0.5, times), p95, step.server_cpu_pct,
            step.others_pct, step.generator_pct, ok)


# ---------------------------------------------------------------------------------------------
# The whole run


@dataclass
class Run:
    ramps: list[Ramp]
    recorded: dict[str, Recorded]
    info: dict


def measure(counts: list[int], window_s: float, period: float, names: tuple[str, ...] = ("draw", "slider"),
            repeats: int = 4, refine: bool = True, log=print) -> Run:
    from benchmarks.bench_interactions import pinning, server

    scenarios = [s for s in SCENARIOS if s.name in names]
    pins = pinning()
    info = {"load_before": Path("/proc/loadavg").read_text().strip(), "pinned": pins, "period": period,
            "window": window_s}
    before = os.sched_getaffinity(0)
    ramps = []
    with server(pins[0] if pins else None) as (url, pid):
        if pins:
            os.sched_setaffinity(0, {pins[1]})  # the browser (recording) and the simulated students
        try:
            t0 = time.monotonic()
            recorded = record(url, pid, scenarios, repeats)
            log(f"recorded the browser's messages in {time.monotonic() - t0:.0f} s: " + "; ".join(
                f"{name}: {len(rec.cycle)} interactions, {_drawings(rec)} with a drawing the ramp varies"
                for name, rec in recorded.items()))
            for sc in scenarios:
                try:
                    ramps.append(asyncio.run(ramp(url, pid, pins[0] if pins else None, recorded[sc.name], counts,
                                                  window_s, period, refine, log)))
                except Exception as exc:  # noqa: BLE001 - one scenario failing must not lose the other
                    ramps.append(Ramp(sc, error=f"{type(exc).__name__}: {str(exc)[:300]}"))
        finally:
            os.sched_setaffinity(0, before)
    info["load_after"] = Path("/proc/loadavg").read_text().strip()
    return Run(ramps, recorded, info)


def _drawings(rec: Recorded) -> int:
    rng = np.random.default_rng(0)
    return sum(varied(state, rng) != state for _, state in rec.cycle)


def capacity(r: Ramp) -> tuple[int, int | None]:
    """(largest count within the limit below the smallest one over it, that one or None)."""
    bad = min((line[0] for line in r.lines if not line[7]), default=None)
    best = max((line[0] for line in r.lines if line[7] and (bad is None or line[0] < bad)), default=0)
    return best, bad


def markdown(run: Run) -> str:
    pins = run.info["pinned"]
    out = [f"Server pinned to core {pins[0]}, load generator (and the recording browser) to core {pins[1]}; "
           if pins else "Not pinned (taskset or a second core missing); ",
           f"each student acts every {run.info['period']:g} s ± 30 %; {run.info['window']:g} s measuring window "
           "per count (one over the limit: again over twice that, which decides). "
           f"/proc/loadavg before `{run.info['load_before']}`, after `{run.info['load_after']}`.\n",
           "| interaction | students | interactions/s | answer p50 (s) | answer p95 (s) | server CPU % "
           "| others on its core % | generator CPU % | p95 ≤ 1 s |", "|---|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for r in run.ramps:
        if r.error:
            out.append(f"| {r.scenario.name} | failed: {r.error} | | | | | | | |")
        for n, rate, p50, p95, cpu, others, gen, ok in sorted(r.lines):
            out.append(f"| {r.scenario.name} | {n} | {rate:.1f} | {p50:.2f} | {p95:.2f} | {cpu:.0f} | {others:.0f} "
                       f"| {gen:.0f} | {'yes' if ok else '**no**'} |")
    return "\n".join(out + ["", _validation_table(run)])


def _validation_table(run: Run) -> str:
    out = ["Simulated student against the browser, one student alone (medians; the browser's from "
           "bench_interactions' rows, recorded at the start):", "",
           "| interaction | server CPU/interaction: browser | simulated, browser's messages | simulated, new "
           "drawings | send → script_finished: browser | simulated | answer visible in the browser "
           "| server CPU per student per period | CPU-only ceiling | projected at "
           f"{BUSY_OK:.0f} % busy |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    med = statistics.median
    for r in run.ramps:
        rec = run.recorded.get(r.scenario.name)
        if r.error or rec is None or not r.sim_cpu_ms:
            continue
        trip = f"{1e3 * med(rec.browser_finished_s):.0f} ms" if rec.browser_finished_s else "—"
        out.append(f"| {r.scenario.name} | {med(rec.browser_cpu_ms):.0f} ms | {med(r.sim_cpu_ms):.0f} ms "
                   f"| {med(r.sim_varied_cpu_ms):.0f} ms | {trip} | {1e3 * med(r.sim_answer_s):.0f} ms "
                   f"| {1e3 * med(rec.browser_visible_s):.0f} ms | {r.sim_period_cpu_ms:.0f} ms "
                   f"| {ceiling(r, run):.0f} students | {projected(r, run.info['period']):.0f} students |")
    return "\n".join(out)


def results(run: Run) -> list[Result]:
    pins = run.info["pinned"]
    where = f"server on core {pins[0]}, generator on core {pins[1]}" if pins else "not pinned"
    load = f"load {run.info['load_before'].split()[0]} → {run.info['load_after'].split()[0]}"
    out = []
    for r in run.ramps:
        if r.error:
            out.append(Result(f"{r.scenario.name}: FAILED", float("nan"), "students", note=r.error))
            continue
        best, bad = capacity(r)
        out.append(Result(f"{r.scenario.name}: students per server core (p95 ≤ 1 s)", float(best), "students",
                          note=(f"{bad} were over the limit" if bad else "at least: no count tried was over it")
                               + f"; one action every {run.info['period']:g} s"
                               + (" (a digit, then Clear)" if r.scenario.per_period == 2 else "")
                               + f"; {where}; {load}"))
        out += _per_interaction(r, run) + _per_count(r)
    return out


def _per_interaction(r: Ramp, run: Run) -> list[Result]:
    name, rec, med = r.scenario.name, run.recorded[r.scenario.name], statistics.median
    return [
        check(f"{name}: server CPU per interaction, browser (median of {len(rec.browser_cpu_ms)})",
              med(rec.browser_cpu_ms), "ms",
              note=f"answer visible p50 {1e3 * med(rec.browser_visible_s):.0f} ms (bench_interactions' method); "
                   "send → script_finished p50 "
                   + (f"{1e3 * med(rec.browser_finished_s):.0f} ms" if rec.browser_finished_s else "not seen")),
        check(f"{name}: server CPU per interaction, simulated student (median of {len(r.sim_cpu_ms)})",
              med(r.sim_cpu_ms), "ms", note=f"the browser's messages replayed; answer (send → script_finished) p50 "
                                            f"{1e3 * med(r.sim_answer_s):.0f} ms" + _varied_note(r)),
        Result(f"{name}: students a whole core could serve, from CPU alone", ceiling(r, run), "students",
               note=f"{run.info['period']:g} s ÷ {r.sim_period_cpu_ms:.0f} ms of server CPU per student per period "
                    "(measured alone); an upper bound: no queueing, no other process on the core"),
        Result(f"{name}: students a quiet core would serve, projected", projected(r, run.info["period"]), "students",
               note=f"{BUSY_OK:.0f} % busy ÷ the server CPU % per student the ramp measured (median over the counts "
                    "where the students kept their pace); not measured, see the method"),
    ]


def _per_count(r: Ramp) -> list[Result]:
    out = []
    for step, (n, rate, p50, p95, cpu, others, gen, ok) in sorted(zip(r.steps, r.lines), key=lambda x: x[1][0]):
        lost = f"; {len(step.errors)} student(s) failed: {step.errors[0]}" if step.errors else ""
        out.append(check(f"{r.scenario.name}: {n} students, answer p95", p95, "s", P95_LIMIT_S,
                         note=f"{rate:.1f} interactions/s, p50 {p50:.2f} s, server CPU {cpu:.0f} %, "
                              f"others on its core {others:.0f} %, generator {gen:.0f} %{lost}"))
    return out


def ceiling(r: Ramp, run: Run) -> float:
    return 1e3 * run.info["period"] / r.sim_period_cpu_ms if r.sim_period_cpu_ms > 0 else float("nan")


BUSY_OK = 80.0  # % of a core a server can be busy with answers still well under 1 s (see projected)


def projected(r: Ramp, period: float) -> float:
    """Students a core of its own would serve at ``BUSY_OK`` % busy, from the server CPU % per student the
    ramp measured (the median over the counts where the students kept their pace, i.e. the server was not
    saturated: at least 90 % of the interactions a second they would make). On a shared machine the server gets only
    part of its core (the "others" column), so the measured count understates a quiet core; this does not
    depend on that share. A processor-shared server answers in about S / (1 − busy): 5× the work of one
    answer at 80 %, a quarter of a second for 50 ms of work."""
    pace = {step.students: step.students * r.scenario.per_period / period for step in r.steps}
    per_student = [line[4] / line[0] for line in r.lines if line[4] > 0 and line[1] >= 0.9 * pace[line[0]]]
    return BUSY_OK / statistics.median(per_student) if per_student else float("nan")


def _varied_note(r: Ramp) -> str:
    if not r.sim_varied_cpu_ms or r.sim_varied_cpu_ms == r.sim_cpu_ms:
        return ""
    return (f"; each drawing a new image (as in the ramp): {statistics.median(r.sim_varied_cpu_ms):.0f} ms "
            f"(median of {len(r.sim_varied_cpu_ms)})")


DEFAULT = {"counts": [10, 20, 40], "window_s": 10.0, "refine": False, "repeats": 2}
QUICK = {"counts": [5, 10, 20], "window_s": 8.0, "refine": False, "repeats": 1}
FULL = {"counts": [5, 10, 20, 40, 80, 160], "window_s": 30.0, "refine": True, "repeats": 6}


def run_with_markdown(quick: bool = False) -> tuple[list[Result], str]:
    """What ``run_all`` calls: the result rows and the students-per-core tables for docs/benchmarks.md."""
    cfg = QUICK if quick else DEFAULT
    measured = measure(cfg["counts"], cfg["window_s"], 5.0, refine=cfg["refine"], repeats=cfg["repeats"])
    return results(measured), markdown(measured)


def run(quick: bool = False) -> list[Result]:
    return run_with_markdown(quick)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", help=f"student counts (default {','.join(map(str, DEFAULT['counts']))})")
    parser.add_argument("--window", type=float, help=f"seconds measured per count (default {DEFAULT['window_s']:g})")
    parser.add_argument("--period", type=float, default=5.0, help="seconds between a student's actions")
    parser.add_argument("--full", action="store_true",
                        help=f"counts {','.join(map(str, FULL['counts']))}, {FULL['window_s']:g} s windows (minutes)")
    parser.add_argument("--only", default="draw,slider", help="draw, slider or both")
    parser.add_argument("--no-refine", action="store_true",
                        help="no extra count halfway between the last within the limit and the first over it")
    args = parser.parse_args()
    cfg = dict(FULL if args.full else DEFAULT)
    if args.steps:
        cfg["counts"] = sorted(int(n) for n in args.steps.split(","))
    if args.window:
        cfg["window_s"] = args.window
    names = tuple(n for n in args.only.split(",") if n)
    if min(cfg["counts"]) < 1 or cfg["window_s"] <= 0 or args.period <= 0:
        parser.error("counts ≥ 1, window and period > 0")
    if not names or not set(names) <= {s.name for s in SCENARIOS}:
        parser.error(f"--only takes {', '.join(s.name for s in SCENARIOS)}")
    measured = measure(cfg["counts"], cfg["window_s"], args.period, names,
                       refine=cfg["refine"] and not args.no_refine, repeats=cfg["repeats"])
    print(markdown(measured))
    print()
    print_table(results(measured))


if __name__ == "__main__":
    main()
