"""Load test: many real browser sessions drawing digits on /draw while others train on /train.

One real server (``benchmarks.harness.StreamlitServer`` on 127.0.0.1) and one headless Chromium with one
browser context per student (contexts do not share cookies or Streamlit sessions):

- ``sessions`` students open /draw and each draws ``drawings`` digits with the mouse on the canvas
  (move → down → move in small steps → up), waits for the prediction, then presses Clear;
- ``trainers`` students train a network on /train at the same time (``--arch``, 50 epochs, stopped
  with the Stop button once every drawing is done, unless the time limit ended it first); the
  drawing starts once every trainer is training;
- while they train, one more student presses Train and must be told the server is busy: the server
  runs with ``CONVLAB_MAX_TRAINING_JOBS = trainers``.

Latency is measured inside each page (``performance.now()``): from the ``mouseup`` that ends the digit to
the moment the prediction element appears in the DOM. Only 127.0.0.1 is contacted; every wait has a
timeout and the whole run is cut at ``--cap`` seconds, after which it stops by itself and reports what
it measured (a cut run counts its unfinished drawings as failed).

The browsers run on the same machine as the server. On a 2-core machine they use most of the CPU
(the "CPU used" row says how much), so the latencies here are an upper bound for a host whose
students bring their own browsers. With ``--pin`` the server runs on one core (every thread, as
``taskset -a`` does) and the browsers on another, so the browsers cannot take the server's core; the
trainers then share that one core with the drawing students (a 1-core host), which is why it is not the
default. How many students one server core serves, measured without browsers, is
``benchmarks/bench_capacity.py``.

``python -m benchmarks.bench_load [--sessions 10] [--drawings 2] [--trainers 2] [--cap 240] [--short] [--pin] [--verbose]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import Result, check, print_table
from benchmarks.harness import DIGITS, digit_stroke
from benchmarks.serverprobe import (
    cpu_seconds, descendants_cpu_seconds, error_lines, load_average, memory_mb, pin_process, two_cores,
)

CANVAS = "[data-testid='stBidiComponentIsolated'] canvas.cl-canvas"
OLD_MARK = "data-convlab-old"  # set on a canvas just before Clear replaces it
FRESH_CANVAS = f"{CANVAS}:not([{OLD_MARK}])"
PREDICTION = "[data-testid='draw-prediction']"
CANVAS_PX = 280
BUSY_TEXT = "The server is busy"
NAV_TIMEOUT_MS = 90_000
PREDICTION_TIMEOUT_MS = 60_000

# Installed in every drawing page before Streamlit loads: in-page timestamps of each mouse-up and of
# each time a prediction element appears (absent → present), both on the page's performance clock.
TIMING_JS = """
(() => {
  const t = {up: [], shown: [], present: false};
  window.__convlab = t;
  window.addEventListener('mouseup', () => t.up.push(performance.now()), true);
  new MutationObserver(() => {
    const present = document.querySelector("[data-testid='draw-prediction']") !== null;
    if (present && !t.present) t.shown.push(performance.now());
    t.present = present;
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""

# True when the element under the viewport point (x, y), looking inside the component's shadow root, is a
# live (not replaced) drawing canvas.
CANVAS_AT_POINT_JS = """([x, y]) => {
    for (const host of document.querySelectorAll("[data-testid='stBidiComponentIsolated']")) {
        const el = host.shadowRoot && host.shadowRoot.elementFromPoint(x, y);
        if (el && el.matches('canvas.cl-canvas') && !el.hasAttribute('%s')) return true;
    }
    return false;
}""" % OLD_MARK

APP_IDLE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const main = document.querySelector('[data-testid="stMainBlockContainer"]');
    return app && app.getAttribute('data-test-script-state') === 'notRunning'
        && main && main.textContent.trim().length > 0;
}"""
POLL_MS = 100  # wait_for_function polling: every animation frame would cost the busy browsers CPU




@dataclass
class LoadStats:
    """What the run measured; filled in as it goes, so a run cut by the time cap still reports."""

    sessions: int
    drawings_per_session: int
    trainers: int
    pinned: tuple[int, int] | None = None  # (server core, browsers' core)
    planned: int = 0
    predicted: int = 0
    correct: int = 0
    latencies_s: list[float] = field(default_factory=list)
    open_s: list[float] = field(default_factory=list)  # goto /draw → the page idle with its canvas
    stroke_s: list[float] = field(default_factory=list)  # Playwright moving the mouse through one digit
    baseline_drawings: int = 0  # drawn by one student alone before the load starts
    baseline_s: list[float] = field(default_factory=list)
    baseline_cpu_s: list[float] = field(default_factory=list)  # server CPU per draw + Clear cycle
    failures: list[str] = field(default_factory=list)
    trainers_started: int = 0
    trainers_settled: int = 0
    trainers_stopping: int = 0  # Stop pressed or results shown: evaluation on the test set follows
    trainers_finished: int = 0
    busy_seen: bool | None = None  # None: not tried
    busy_note: str = ""
    limit_check: bool = False  # whether one more training attempt is made while every slot is taken
    rss_idle_mb: float = 0.0
    rss_peak_sampled_mb: float = 0.0
    rss_peak_training_mb: float = 0.0
    vm_hwm_mb: float = 0.0
    log_errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    drive_s: float = 0.0  # browsers running (the part the CPU figures cover)
    server_cpu_s: float = 0.0
    browser_cpu_s: float = 0.0  # Chromium and Playwright's driver: this process's descendants, sampled
    _browser_cpu: dict[int, float] = field(default_factory=dict)  # pid → CPU seconds last seen
    _browser_kind: dict[int, str] = field(default_factory=dict)  # pid → "renderer", "gpu-process", ...
    cut: bool = False
    load_before: float = 0.0
    load_after: float = 0.0
    verbose: bool = False
    t0: float = field(default_factory=time.monotonic)
    events: list[str] = field(default_factory=list)

    def event(self, text: str) -> None:
        """A timestamped line of the run's story (printed at once with ``--verbose``)."""
        line = f"{time.monotonic() - self.t0:7.1f} s  {text}"
        self.events.append(line)
        if self.verbose:
            print(line, flush=True)

    def percentile(self, q: float, values: list[float] | None = None) -> float:
        values = self.latencies_s if values is None else values
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _wait_idle(page, timeout_ms: int = NAV_TIMEOUT_MS) -> None:
    """``benchmarks.harness.wait_for_app_idle`` for the async API: not running, twice, 250 ms apart."""
    for _ in range(2):
        await page.wait_for_function(APP_IDLE_JS, timeout=timeout_ms, polling=POLL_MS)
        await page.wait_for_timeout(250)
    await page.wait_for_function(APP_IDLE_JS, timeout=timeout_ms, polling=POLL_MS)


async def _new_page(browser):
    context = await browser.new_context(viewport={"width": 1400, "height": 1000}, reduced_motion="reduce")
    page = await context.new_page()
    page.set_default_timeout(NAV_TIMEOUT_MS)
    return context, page


async def _draw(page, stroke: list[tuple[float, float]]) -> None:
    """Move the mouse through ``stroke`` on the live canvas (never on one that Clear is replacing)."""
    canvas = page.locator(FRESH_CANVAS).first
    await canvas.wait_for()
    await canvas.scroll_into_view_if_needed()
    box = await canvas.bounding_box()
    scale = box["width"] / CANVAS_PX

    def at(p: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + p[0] * scale, box["y"] + p[1] * scale

    # The pen must land on the canvas itself: Clear mounts a new canvas asynchronously.
    await page.wait_for_function(CANVAS_AT_POINT_JS, arg=list(at(stroke[0])), timeout=NAV_TIMEOUT_MS,
                                 polling=POLL_MS)
    steps = 18 if len(stroke) <= 3 else (4 if len(stroke) <= 10 else 2)
    await page.mouse.move(*at(stroke[0]))
    await page.mouse.down()
    for point in stroke[1:]:
        await page.mouse.move(*at(point), steps=steps)
    await page.mouse.up()


async def _latency_in_page(page) -> float | None:
    """Seconds from the last mouse-up to the first prediction shown after it (page clock)."""
    t = await page.evaluate("() => window.__convlab")
    if not t or not t["up"]:
        return None
    up = t["up"][-1]
    shown = [s for s in t["shown"] if s >= up]
    return (shown[0] - up) / 1e3 if shown else None


async def _page_state(page, shot: str) -> str:
    """What a page showed when a drawing failed (and a screenshot in test-artifacts/), for the report."""
    from benchmarks.harness import REPO

    try:
        info = await page.evaluate("""() => ({
            script: document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state'),
            canvases: document.querySelectorAll('[data-testid="stBidiComponentIsolated"]').length,
            noDigit: document.body.innerText.includes('No digit'),
            timing: window.__convlab ? {up: window.__convlab.up.length, shown: window.__convlab.shown.length} : null,
        })""")
        path = REPO / "test-artifacts" / f"{shot}.png"
        await page.screenshot(path=str(path), full_page=True)
        return f"{info}; screenshot {path.name}"
    except Exception as exc:  # noqa: BLE001 - diagnostics must not hide the failure itself
        return f"no page state: {type(exc).__name__}"


async def _open_draw(browser, url: str):
    context, page = await _new_page(browser)
    await context.add_init_script(TIMING_JS)
    await page.goto(f"{url}/draw")
    await _wait_idle(page)
    await page.get_by_text("No digit").first.wait_for()
    return context, page


async def _draw_one(page, digit: str, dx: float, dy: float) -> tuple[float, float, str]:
    """Draw ``digit``, wait for its prediction, press Clear: (stroke s, latency s, digit read)."""
    t_down = time.monotonic()
    await _draw(page, digit_stroke(digit, dx, dy))
    t_up = time.monotonic()
    shown = page.locator(PREDICTION).first
    await shown.wait_for(timeout=PREDICTION_TIMEOUT_MS)
    fallback = time.monotonic() - t_up
    latency = await _latency_in_page(page)
    read = (await shown.inner_text()).strip()
    await page.get_by_role("button", name="Clear").click()
    await page.get_by_text("No digit").first.wait_for()
    await _wait_idle(page)
    return t_up - t_down, latency if latency is not None else fallback, read


async def _drawer(browser, url: str, index: int, stats: LoadStats) -> None:
    t_open = time.monotonic()
    context, page = await _open_draw(browser, url)
    try:
        stats.open_s.append(time.monotonic() - t_open)
        stats.event(f"drawer {index}: /draw ready in {stats.open_s[-1]:.1f} s")
        for k in range(stats.drawings_per_session):
            digit = DIGITS[(index + k) % len(DIGITS)]
            try:
                stroke, latency, read = await _draw_one(page, digit, dx=(index % 5) * 4 - 8, dy=(k % 3) * 5 - 5)
                stats.stroke_s.append(stroke)
                stats.latencies_s.append(latency)
                stats.predicted += 1
                stats.correct += read == digit
                stats.event(f"drawer {index}: drawing {k} ('{digit}', stroke {stroke:.1f} s) read as {read} "
                            f"in {latency:.2f} s")
            except Exception as exc:  # noqa: BLE001 - a failed drawing is counted, the session goes on
                state = await _page_state(page, f"load-fail-s{index}-d{k}")
                stats.failures.append(f"session {index} drawing {k} ('{digit}'): {type(exc).__name__}: "
                                      f"{str(exc).splitlines()[0][:160]} [{state}]")
                stats.event(f"FAILED {stats.failures[-1]}")
                await page.goto(f"{url}/draw")  # a fresh page for the next drawing
                await _wait_idle(page)
    finally:
        await context.close()


async def _baseline(browser, url: str, pid: int, stats: LoadStats) -> None:
    """One student alone on the idle server: latency and server CPU per drawing, before the load."""
    context, page = await _open_draw(browser, url)
    try:
        for k in range(stats.baseline_drawings):
            digit = DIGITS[k % len(DIGITS)]
            cpu0 = cpu_seconds(pid)
            try:
                _, latency, _ = await _draw_one(page, digit, 0, 0)
            except Exception as exc:  # noqa: BLE001 - reported with the baseline figures
                stats.failures.append(f"baseline drawing {k}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
                return
            stats.baseline_s.append(latency)
            stats.baseline_cpu_s.append(cpu_seconds(pid) - cpu0)
        stats.event(f"baseline: {len(stats.baseline_s)} drawings alone, latencies "
                    + ", ".join(f"{t:.2f}" for t in stats.baseline_s) + " s")
    finally:
        await context.close()


async def _open_train(browser, url: str, arch: str):
    context, page = await _new_page(browser)
    await page.goto(f"{url}/train?arch={arch}&ep=50")
    await page.get_by_text("1 · Architecture").wait_for()
    await _wait_idle(page)
    return context, page


async def _trainer(browser, url: str, arch: str, stats: LoadStats, running: asyncio.Event,
                   drawings_done: asyncio.Event) -> None:
    """Train until every drawing is done (then press Stop), or until the run ends by itself."""
    settled = False

    def settle() -> None:
        nonlocal settled
        if not settled:
            settled = True
            stats.trainers_settled += 1
            if stats.trainers_settled == stats.trainers:
                running.set()  # every trainer runs (or failed to start): the drawers go

    context, waits = None, []
    try:
        context, page = await _open_train(browser, url, arch)
        await page.get_by_role("button", name="Train").click()
        await page.get_by_text("Epoch 1/50").first.wait_for(timeout=150_000)
        stats.trainers_started += 1
        stats.event(f"trainer {stats.trainers_started} running")
        settle()
        ended = asyncio.ensure_future(page.get_by_text("4 · Results").wait_for(timeout=300_000))
        drawn = asyncio.ensure_future(drawings_done.wait())
        waits = [ended, drawn]
        await asyncio.wait({ended, drawn}, return_when=asyncio.FIRST_COMPLETED)
        stats.trainers_stopping += 1
        if not ended.done():
            stats.event("trainer: Stop")
            await page.get_by_role("button", name="Stop").click()
        await ended
        stats.event("trainer: results shown")
        drawn.cancel()
        stats.trainers_finished += 1
    finally:
        settle()
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        if context is not None:
            await context.close()


async def _third_attempt(browser, url: str, arch: str, stats: LoadStats, running: asyncio.Event) -> None:
    """While every slot is taken, one more Train click must get the busy message at once."""
    context, page = await _open_train(browser, url, arch)
    try:
        await running.wait()
        if stats.trainers_started < stats.trainers:
            stats.busy_note = f"not tried: only {stats.trainers_started} of {stats.trainers} trainers started"
            return
        await page.get_by_role("button", name="Train").click()
        busy = page.get_by_text(BUSY_TEXT)
        started = page.get_by_text("Epoch 1/50")
        waits = {asyncio.ensure_future(busy.first.wait_for()), asyncio.ensure_future(started.first.wait_for())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        stats.busy_seen = await busy.count() > 0
        if stats.busy_seen:
            stats.busy_note = "busy message shown"
        elif await started.count() > 0:
            stats.busy_note = "a training job beyond the limit STARTED"
        else:
            stats.busy_note = "neither the busy message nor a started run appeared in time"
        stats.busy_note += (f" while {stats.trainers_started - stats.trainers_finished} trainer(s) ran"
                            f"{'' if stats.trainers_stopping == 0 else ' (one was stopping)'}")
        stats.event(f"extra training attempt: {stats.busy_note}")
    finally:
        await context.close()


def _sample_browser_cpu(stats: LoadStats, server_pid: int) -> None:
    """Remember the CPU time of every browser process seen (those that end keep their last sample)."""
    seen = descendants_cpu_seconds(os.getpid(), exclude={server_pid})
    for pid, cpu in seen.items():
        if pid not in stats._browser_kind:
            stats._browser_kind[pid] = _process_kind(pid)
        stats._browser_cpu[pid] = max(cpu, stats._browser_cpu.get(pid, 0.0))
    stats.browser_cpu_s = sum(stats._browser_cpu.values())


def _process_kind(pid: int) -> str:
    """"renderer", "gpu-process", "browser", "node", ... from the command line."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    kind = re.search(r"--type=(\S+)", cmdline)  # Chromium rewrites its argv: search, don't split
    return kind.group(1) if kind else os.path.basename(cmdline.split(" ", 1)[0]) or "?"


def browser_cpu_by_kind(stats: LoadStats) -> dict[str, float]:
    out: dict[str, float] = {}
    for pid, cpu in stats._browser_cpu.items():
        kind = stats._browser_kind.get(pid, "?")
        out[kind] = out.get(kind, 0.0) + cpu
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


async def _sample_rss(pid: int, stats: LoadStats, training: asyncio.Event, stop: asyncio.Event) -> None:
    """Every 0.5 s: the server's RSS, and the CPU time of the browser processes."""
    while not stop.is_set():
        _sample_browser_cpu(stats, pid)
        try:
            rss = memory_mb(pid)["VmRSS"]
        except (OSError, KeyError):
            return
        stats.rss_peak_sampled_mb = max(stats.rss_peak_sampled_mb, rss)
        if training.is_set() and stats.trainers_stopping == 0 and stats.trainers_started:
            stats.rss_peak_training_mb = max(stats.rss_peak_training_mb, rss)
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.5)
        except asyncio.TimeoutError:
            pass
    _sample_browser_cpu(stats, pid)


def _record(stats: LoadStats, who: str, outcomes: list) -> None:
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            first = str(outcome).splitlines()[0] if str(outcome) else ""
            stats.failures.append(f"{who}: {type(outcome).__name__}: {first}"[:240])


async def _drive(url: str, pid: int, stats: LoadStats, arch: str) -> None:
    """Baseline; trainers; once they train, the drawing sessions and the extra training attempt."""
    from playwright.async_api import async_playwright

    from benchmarks.harness import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        running, drawings_done, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
        if stats.trainers == 0:
            running.set()
        sampler = asyncio.ensure_future(_sample_rss(pid, stats, running, stop))
        trainers: list[asyncio.Future] = []
        others: list[asyncio.Future] = []
        try:
            if stats.baseline_drawings:
                await _baseline(browser, url, pid, stats)
            trainers = [asyncio.ensure_future(_trainer(browser, url, arch, stats, running, drawings_done))
                        for _ in range(stats.trainers)]
            await running.wait()  # every trainer is training, or failed to start (then recorded)
            others = [asyncio.ensure_future(_drawer(browser, url, i, stats)) for i in range(stats.sessions)]
            if stats.limit_check:
                others.append(asyncio.ensure_future(_third_attempt(browser, url, arch, stats, running)))
            _record(stats, "drawing session", await asyncio.gather(*others[:stats.sessions], return_exceptions=True))
            drawings_done.set()
            stats.event("all drawing sessions done")
            _record(stats, "training session", await asyncio.gather(*trainers, return_exceptions=True))
            _record(stats, "extra training attempt", await asyncio.gather(*others[stats.sessions:],
                                                                          return_exceptions=True))
        finally:
            pending = [t for t in trainers + others if not t.done()]
            for task in pending:  # cut by the time cap: stop every session, then close the browser
                task.cancel()
            _record(stats, "session cut", await asyncio.gather(*pending, return_exceptions=True))
            stop.set()
            await sampler
            await browser.close()


def run_load(sessions: int = 10, drawings: int = 2, trainers: int = 2, cap_s: float = 240.0,
             arch: str = "twoconv", extra_attempt: bool = True, baseline: int = 3,
             verbose: bool = False, pin: bool = False) -> LoadStats:
    """Start a server, run the load, stop everything; returns what was measured (never raises on a cut)."""
    from benchmarks.harness import StreamlitServer

    stats = LoadStats(sessions, drawings, trainers, planned=sessions * drawings, verbose=verbose,
                      limit_check=extra_attempt and trainers > 0, baseline_drawings=baseline)
    stats.load_before = load_average()
    models = tempfile.mkdtemp(prefix="convlab-load-models-")
    env = {"CONVLAB_MAX_TRAINING_JOBS": str(max(1, trainers)), "CONVLAB_SESSION_MODELS": models,
           "CONVLAB_TRAIN_SUBSET": ""}
    t0 = time.monotonic()
    server = StreamlitServer(env=env)
    try:
        pid = server.proc.pid
        stats.event(f"server healthy at {server.url}")
        stats.rss_idle_mb = memory_mb(pid)["VmRSS"]
        error: list[BaseException] = []

        def worker() -> None:
            try:
                asyncio.run(asyncio.wait_for(_drive(server.url, pid, stats, arch), timeout=cap_s))
            except asyncio.TimeoutError:
                stats.cut = True
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                error.append(exc)

        stats.pinned = two_cores() if pin else None
        before = os.sched_getaffinity(0)
        if stats.pinned:
            pin_process(pid, stats.pinned[0])
            os.sched_setaffinity(0, {stats.pinned[1]})  # the worker thread, Playwright and Chromium inherit it
        # Its own thread, so the asyncio loop never meets a sync Playwright already running in this one.
        thread = threading.Thread(target=worker, name="convlab-load", daemon=True)
        cpu0, t_drive = cpu_seconds(pid), time.monotonic()
        thread.start()
        os.sched_setaffinity(0, before)
        thread.join(cap_s + 60)
        if thread.is_alive():
            stats.cut = True
        stats.drive_s = time.monotonic() - t_drive
        stats.server_cpu_s = cpu_seconds(pid) - cpu0
        if error:
            raise error[0]
        stats.vm_hwm_mb = memory_mb(pid)["VmHWM"]
        stats.log_errors = error_lines(server.log())
    finally:
        server.stop()
        shutil.rmtree(models, ignore_errors=True)
        stats.wall_s = time.monotonic() - t0
        stats.load_after = load_average()
    return stats


def results(stats: LoadStats) -> list[Result]:
    total = stats.planned
    load = f"load average {stats.load_before:.1f} → {stats.load_after:.1f} on {len(os.sched_getaffinity(0))} cores"
    if stats.pinned:
        load += f"; server pinned to core {stats.pinned[0]}, browsers to core {stats.pinned[1]}"
    setup = (f"{stats.sessions} drawing sessions × {stats.drawings_per_session} digits + {stats.trainers} training, "
             f"one Chromium, {stats.wall_s:.0f} s{' (CUT by the time cap)' if stats.cut else ''}; {load}")
    fails = "; ".join(stats.failures[:3])
    out = [
        Result("drawings that got a prediction", float(stats.predicted), f"of {total}", f"{total} of {total}",
               stats.predicted == total and total > 0, setup + (f"; failures: {fails}" if fails else "")),
        check("drawing → prediction latency p50", stats.percentile(0.5), "s",
              note="mouse-up to prediction in the DOM, page clock"),
        check("drawing → prediction latency p95", stats.percentile(0.95), "s",
              note=f"max {max(stats.latencies_s, default=float('nan')):.2f} s"),
        check("open /draw until ready, p50", stats.percentile(0.5, stats.open_s), "s",
              note=f"goto → canvas and 'No digit' shown, app idle; max {max(stats.open_s, default=float('nan')):.1f} s"),
        check("mouse stroke of one digit, p50 (client side)", stats.percentile(0.5, stats.stroke_s), "s",
              note="Playwright moving the mouse through the digit: how busy the browsers are"),
        check("drawn digits read correctly", 100.0 * stats.correct / max(1, stats.predicted), "%",
              note="scripted single-stroke 1, 7, 0, 2, 3 (informative)"),
        Result("errors in the server log", float(len(stats.log_errors)), "lines", "0", not stats.log_errors,
               " / ".join(stats.log_errors[:3]) or "no Traceback/Error"),
        check("server RSS idle at start", stats.rss_idle_mb, "MB"),
        check("CPU used by the server", stats.server_cpu_s, "s",
              note=f"browsers (Chromium + driver, same machine, sampled 2/s) used {stats.browser_cpu_s:.0f} s ("
                   + ", ".join(f"{k} {v:.0f}" for k, v in list(browser_cpu_by_kind(stats).items())[:3]) + "); "
                   f"{stats.drive_s:.0f} s wall × " + ("1 core (pinned)" if stats.pinned
                                                          else f"{len(os.sched_getaffinity(0))} cores available")),
        check("server RSS peak (VmHWM)", stats.vm_hwm_mb, "MB",
              note="whole run" + (", including each trainer's test-set evaluation after Stop" if stats.trainers else "")),
    ]
    if stats.baseline_drawings:
        out.insert(1, check("baseline: one student alone, latency p50", stats.percentile(0.5, stats.baseline_s), "s",
                            note=f"{len(stats.baseline_s)} drawings on the idle server before the load; server CPU "
                                 f"per draw + Clear: {1e3 * stats.percentile(0.5, stats.baseline_cpu_s):.0f} ms"))
    if stats.trainers:
        out.insert(-1, check("server RSS peak while training and drawing (sampled 2/s)", stats.rss_peak_training_mb,
                             "MB", note=f"{stats.trainers} training job(s) running, before any Stop"))
    if stats.limit_check:
        out.append(Result(f"training limit held ({stats.trainers} running, one more tried)",
                          float(bool(stats.busy_seen)), "busy shown", "busy shown", bool(stats.busy_seen),
                          stats.busy_note or "the extra attempt did not complete"))
    if stats.trainers:
        out.append(Result("training sessions that ran and got results", float(stats.trainers_finished),
                          f"of {stats.trainers}", f"{stats.trainers} of {stats.trainers}",
                          stats.trainers_finished == stats.trainers, "stopped with Stop once drawing ended"))
    return out


SHORT = {"sessions": 4, "drawings": 1, "trainers": 1, "cap_s": 90.0, "baseline": 0, "arch": "lenet5"}
FULL = {"sessions": 10, "drawings": 2, "trainers": 2, "cap_s": 240.0, "baseline": 3, "arch": "twoconv"}


def run(quick: bool = False) -> list[Result]:
    return results(run_load(**(SHORT if quick else FULL)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, help=f"drawing sessions (default {FULL['sessions']})")
    parser.add_argument("--drawings", type=int, help=f"digits per drawing session (default {FULL['drawings']})")
    parser.add_argument("--trainers", type=int, help=f"training sessions (default {FULL['trainers']})")
    parser.add_argument("--cap", type=float, help=f"overall time cap in seconds (default {FULL['cap_s']:g})")
    parser.add_argument("--arch", help=f"preset the trainers train (default {FULL['arch']}, short {SHORT['arch']})")
    parser.add_argument("--baseline", type=int,
                        help=f"drawings by one student alone before the load (default {FULL['baseline']}, short "
                             f"{SHORT['baseline']}; 0: none)")
    parser.add_argument("--verbose", action="store_true", help="print the run's timeline as it goes")
    parser.add_argument("--pin", action="store_true",
                        help="server on one core, browsers on another (default: both share every core)")
    parser.add_argument("--short", action="store_true",
                        help=f"CI size: {SHORT['sessions']} sessions × {SHORT['drawings']} digits, "
                             f"{SHORT['trainers']} trainer ({SHORT['arch']}), cap {SHORT['cap_s']:g} s")
    args = parser.parse_args()
    cfg = dict(SHORT if args.short else FULL)
    for name, value in (("sessions", args.sessions), ("drawings", args.drawings), ("trainers", args.trainers),
                        ("cap_s", args.cap), ("baseline", args.baseline), ("arch", args.arch)):
        if value is not None:
            cfg[name] = value
    if min(cfg["sessions"], cfg["drawings"], cfg["trainers"], cfg["baseline"]) < 0 or cfg["cap_s"] <= 0:
        parser.error("counts must be ≥ 0 and the cap > 0")
    print_table(results(run_load(verbose=args.verbose, pin=args.pin, **cfg)))


if __name__ == "__main__":
    main()
