"""Per-interaction cost in a real browser: server CPU and time until the answer is visible.

One real ``streamlit run`` on 127.0.0.1 and one headless Chromium (Debian's ``/usr/bin/chromium``). With
``taskset`` and at least two cores, the server is pinned to one core and this process (and so the
browser it launches) to another, so the browser's rendering does not bill the server's core.

For each row a student's interaction is repeated (one warm-up, then ``repeats``):

* **server CPU per interaction**: utime + stime of the server process (``/proc/<pid>/stat``, all its
  threads) from just before the interaction until the page has shown the answer *and* Streamlit reports
  the script run finished;
* **answer visible**: on the page's own clock, from the last input event (key press, mouse-up, click) to
  the first DOM mutation after which the row's answer is on the page (a MutationObserver; no sleeps);
* **settled**: from the same input event to the page's last change (a DOM mutation or a 2-D canvas drawing call,
  both watched by a script installed before the page's own), once nothing has changed for 600 ms; and the
  reply frames received until then (one per element the run added or changed, plus a few per run).

Rows: draw a digit (mouse-up → "Prediction: N"), arithmetic kernel-size slider step (the lesson fragment) and
kernel-position step and pooling window step (an arrow key on the lesson picture), filters kernel change and image change,
a Train settings widget (Epochs; no visible answer, CPU only).

``python -m benchmarks.bench_interactions [--repeats 8] [--only arithmetic,pooling]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from benchmarks.common import Result, check, p95_ms, print_table
from benchmarks.serverprobe import cpu_seconds, descendants_cpu_seconds
from ui.canvas import CANVAS_PX, SELECTOR
from ui.lesson_picture import CANVAS as PICTURE

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CONVLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000
CANVAS = SELECTOR  # ConvLab's drawing canvas (ui.canvas)

# Armed before each interaction: records the last input event, the first moment the answer predicate
# holds, and the script-state transitions of Streamlit's app element (all on performance.now()).
ARM_JS = """(predSrc) => {
  const pred = predSrc ? eval(predSrc) : null;
  const cl = window.__cl || (window.__cl = {installed: false});
  Object.assign(cl, {t0: null, done: null, running: null, idle: null, pred});
  if (pred && pred()) throw new Error('the answer is on the page before the interaction: ' + predSrc);
  if (!cl.installed) {
    cl.installed = true;
    const input = () => { cl.t0 = performance.now(); cl.done = null; cl.running = null; cl.idle = null; };
    for (const ev of ['keydown', 'mouseup', 'click']) window.addEventListener(ev, input, true);
    new MutationObserver(() => {
      if (cl.t0 !== null && cl.done === null && cl.pred && cl.pred()) cl.done = performance.now();
      const app = document.querySelector('[data-testid="stApp"]');
      const state = app && app.getAttribute('data-test-script-state');
      if (cl.t0 !== null && state === 'running' && cl.running === null) cl.running = performance.now();
      if (cl.t0 !== null && state === 'notRunning' && cl.running !== null && cl.idle === null) cl.idle = performance.now();
    }).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
  }
}"""

# Installed before the page's own scripts: timestamps (performance.now()) of the browser's websocket traffic and of
# the main thread's long tasks, so an answer's time can be split into its phases (``Phases``): input → the
# widget's message sent (the frontend's own delay), sent → first reply frame (server starts the run), first →
# last reply frame before the answer showed (the run streaming its elements), last frame → answer on screen
# (decoding and rendering), and the main thread's long tasks (> 50 ms) before and after the message was sent.
WIRE_JS = """(() => {
  const w = window.__wire = {sent: [], recv: [], long: []};
  const Orig = window.WebSocket;
  const send = Orig.prototype.send;
  Orig.prototype.send = function (data) {
    w.sent.push([performance.now(), data.byteLength ?? data.size ?? data.length ?? 0]);
    return send.call(this, data);
  };
  window.WebSocket = function (...args) {
    const ws = new Orig(...args);
    ws.addEventListener('message', (e) => w.recv.push([performance.now(), e.data.byteLength ?? e.data.size ?? 0]));
    return ws;
  };
  window.WebSocket.prototype = Orig.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  try {
    new PerformanceObserver((list) => { for (const e of list.getEntries()) w.long.push([e.startTime, e.duration]); })
      .observe({type: 'longtask', buffered: true});
  } catch (e) { /* no long-task timing in this browser */ }
})();"""

# Installed before the page's own scripts: the last moment anything on the page changed, a DOM mutation or a
# drawing call on a 2-D canvas (the lesson picture, the drawing canvas and plotly draw there, unseen by a
# MutationObserver). "Settled" is from the input event to that last change, once nothing changed for 600 ms.
CHANGE_JS = """(() => {
  const c = window.__change = {last: 0};
  const touch = () => { c.last = performance.now(); };
  new MutationObserver(touch).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
  const proto = CanvasRenderingContext2D.prototype;
  for (const name of ['fillRect', 'strokeRect', 'clearRect', 'fillText', 'strokeText', 'drawImage', 'putImageData',
                      'fill', 'stroke']) {
    const orig = proto[name];
    proto[name] = function (...args) { touch(); return orig.apply(this, args); };
  }
})();"""
QUIET_MS = 600
QUIET_JS = f"() => window.__change && performance.now() - window.__change.last >= {QUIET_MS}"
# Settled (ms after the input event) and the reply frames received from it until then: Streamlit sends one
# frame per element it adds or changes, plus a few per run (its start, its end), so this counts the elements.
SETTLED_AT_JS = """() => {
  const cl = window.__cl, w = window.__wire, last = window.__change.last;
  return {settled: Math.max(0, last - cl.t0),
          frames: w ? w.recv.filter(([t]) => t >= cl.t0 && t <= last + 1).length : null};
}"""

# One interaction's phases (ms) from the page's clock: see WIRE_JS.
PHASES_JS = """() => {
  const cl = window.__cl, w = window.__wire;
  if (!w || cl.t0 === null || cl.done === null) return null;
  const sent = w.sent.filter(([t]) => t >= cl.t0);
  if (!sent.length) return null;
  const s = sent[0][0];
  const recv = w.recv.filter(([t]) => t >= s && t <= cl.done);
  if (!recv.length) return null;
  const first = recv[0][0], last = recv[recv.length - 1][0];
  const busyIn = (a0, a1) => w.long.filter(([t, d]) => t + d >= a0 && t <= a1)
    .reduce((a, [t, d]) => a + Math.min(t + d, a1) - Math.max(t, a0), 0);
  return {input_to_send: s - cl.t0, send_to_first: first - s, first_to_last: last - first,
          last_to_visible: cl.done - last, frames: recv.length, kbytes: recv.reduce((a, [, b]) => a + b, 0) / 1e3,
          long_before_send: busyIn(cl.t0, s), long_tasks: busyIn(s, cl.done), total: cl.done - cl.t0};
}"""

PHASES = ("input_to_send", "long_before_send", "send_to_first", "first_to_last", "last_to_visible", "long_tasks",
          "frames", "kbytes")

# Settled: the answer is shown (when there is one) and the run it came from is over.
SETTLED_JS = """() => {
  const cl = window.__cl;
  const app = document.querySelector('[data-testid="stApp"]');
  const idleNow = app && app.getAttribute('data-test-script-state') === 'notRunning';
  if (cl.t0 === null || !idleNow) return false;
  if (cl.pred && cl.done === null && cl.pred()) cl.done = performance.now();  // e.g. the URL: no DOM mutation
  const shown = !cl.pred || cl.done !== null;
  return shown && (cl.idle !== null || (cl.done !== null && performance.now() - cl.done > 1000));
}"""

IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning' && main && main.textContent.trim().length > 0;
}"""


def text_pred(text: str) -> str:
    """JS predicate: the main column contains ``text``."""
    return ("() => { const m = document.querySelector('[data-testid=\"stMainBlockContainer\"]');"
            f" return !!m && m.textContent.includes({text!r}); }}")


@dataclass(frozen=True)
class Row:
    name: str
    path: str
    cpu_target_ms: float | None
    p95_target_s: float | None
    act: Callable  # (page, i) -> (JS predicate that holds once the server answered, the interaction)
    visible: bool = True  # False: the predicate is not something a student sees (no answer time reported)


# ---------------------------------------------------------------------------------------------
# The interactions


def _press(page, slider_name: str, key: str) -> None:
    slider = page.get_by_role("slider", name=slider_name).first
    slider.focus()
    slider.press(key)


def arithmetic_kernel(page, i: int) -> str:
    # h=5, s=2, p=1: kernel 4 → 2×2, kernel 3 → 3×3
    up = i % 2 == 0
    pred = text_pred("Output shape (1, 1, 2, 2)" if up else "Output shape (1, 1, 3, 3)")
    return pred, lambda: _press(page, "Kernel size", "ArrowRight" if up else "ArrowLeft")


def _picture_key(page, key: str) -> None:
    """An arrow key on the lesson picture: it selects the next output cell through the server."""
    canvas = page.locator(PICTURE).first
    canvas.focus()
    canvas.press(key)


def arithmetic_position(page, i: int) -> str:
    up = i % 2 == 0
    return text_pred("Output cell (0, 1)" if up else "Output cell (0, 0)"), \
        lambda: _picture_key(page, "ArrowRight" if up else "ArrowLeft")


def pooling_step(page, i: int) -> str:
    up = i % 2 == 0
    return text_pred("Window 2 of 4" if up else "Window 1 of 4"), \
        lambda: _picture_key(page, "ArrowRight" if up else "ArrowLeft")


def _choose(page, box_label: str, option: str) -> None:
    page.get_by_role("combobox", name=box_label).first.click()
    page.get_by_role("option", name=option, exact=True).first.click()


def filters_kernel(page, i: int) -> str:
    from core.lessons.kernels import KERNEL_PRESETS

    names = [k for k in KERNEL_PRESETS if k not in ("custom",)][1:3]
    preset = KERNEL_PRESETS[names[i % 2]]
    return text_pred(preset.explanation[:60]), lambda: _choose(page, "Kernel", preset.label)


def filters_image(page, i: int) -> str:
    from core.lessons.pictures import BUILTIN_IMAGES

    keys = list(BUILTIN_IMAGES)[1:3]
    image = BUILTIN_IMAGES[keys[i % 2]]
    return text_pred(image.description[:60]), lambda: _choose(page, "Image", image.label)


def train_epochs(page, i: int) -> str:
    # Nothing on the page shows the epochs but the slider itself (drawn by the browser at once): the
    # server's answer is the link it writes at the end of the run (ep=11, then ep=10).
    pred = f"() => new URLSearchParams(location.search).get('ep') === '{11 if i % 2 == 0 else 10}'"
    return pred, lambda: _press(page, "Epochs", "ArrowRight" if i % 2 == 0 else "ArrowLeft")


def _stroke(page, digit: str) -> None:
    canvas = page.locator(CANVAS).first
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = box["width"] / CANVAS_PX
    strokes = {"1": [(130, 50), (150, 35), (148, 245)], "7": [(60, 50), (215, 45), (120, 240)]}[digit]
    page.mouse.move(box["x"] + strokes[0][0] * scale, box["y"] + strokes[0][1] * scale)
    page.mouse.down()
    for x, y in strokes[1:]:
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=18)
    page.mouse.up()


def draw_digit(page, i: int) -> str:
    if i > 0:  # clear the previous digit first (not measured): the answer is a prediction appearing
        page.get_by_role("button", name="Clear").first.click()
        page.wait_for_function(text_pred("No digit"), timeout=TIMEOUT_MS, polling=100)
        page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS, polling=100)
    return text_pred("Prediction:"), lambda: _stroke(page, "1" if i % 2 == 0 else "7")


ROWS = (
    Row("draw a digit", "/draw", 25, 0.30, draw_digit),
    Row("arithmetic: kernel size slider step (lesson fragment)", "/arithmetic", 30, 0.15, arithmetic_kernel),
    Row("arithmetic: kernel position step (arrow key on the picture)", "/arithmetic", 30, 0.15, arithmetic_position),
    Row("pooling: window step (arrow key on the picture)", "/pooling", 30, 0.15, pooling_step),
    Row("filters: choose another kernel", "/filters", 60, 0.15, filters_kernel),
    Row("filters: choose another image", "/filters", 60, 0.15, filters_image),
    Row("train: Epochs slider step", "/train", 40, None, train_epochs, visible=False),
)


# ---------------------------------------------------------------------------------------------
# Server, browser, measurement


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinning() -> tuple[int, int] | None:
    """(server core, browser core) when taskset and two cores are available."""
    cores = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None or len(cores) < 2:
        return None
    return cores[0], cores[1]


@contextlib.contextmanager
def server(core: int | None):
    port = _free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="convlab-bench-", suffix=".log", delete=False)
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]  # taskset execs: the pid stays the server's
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the streamlit server did not start: " + Path(log.name).read_text()[-2000:])
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.2)  # polling the health endpoint while the server boots
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        Path(log.name).unlink(missing_ok=True)


@dataclass
class Measured:
    row: Row
    cpu_ms: list[float]
    visible_s: list[float]
    error: str = ""
    browser_cpu_ms: list[float] = field(default_factory=list)  # Chromium's processes (+ Playwright's driver)
    main_thread: list[dict] = field(default_factory=list)  # the renderer's main thread, ms (MAIN_THREAD)
    phases: list[dict] = field(default_factory=list)  # PHASES_JS per counted interaction (where measurable)
    settled_s: list[float] = field(default_factory=list)  # input event → the page's last change (CHANGE_JS)
    frames: list[int] = field(default_factory=list)  # reply frames until then: the elements a change sends


# Chromium's own counters of its renderer's main thread (DevTools Performance.getMetrics, seconds so far):
# JavaScript (React, plotly, Streamlit's message handling), style, layout, and all tasks together.
MAIN_THREAD = {"ScriptDuration": "script", "RecalcStyleDuration": "style", "LayoutDuration": "layout",
               "TaskDuration": "tasks"}


def main_thread_s(cdp) -> dict[str, float]:
    got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {short: got.get(name, 0.0) for name, short in MAIN_THREAD.items()}


def browser_cpu(server_pid: int) -> dict[int, float]:
    """CPU seconds so far of this process's descendants but the server: Chromium's processes (renderer,
    GPU, network) and Playwright's driver. Like the server's figure, it holds still on a loaded machine where
    wall times do not: the browser's own work per interaction (receiving, React, plotly, layout, paint)."""
    return descendants_cpu_seconds(os.getpid(), exclude={server_pid})


def measure_row(browser, url: str, pid: int, row: Row, repeats: int) -> Measured:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, reduced_motion="reduce")
    context.add_init_script(WIRE_JS)
    context.add_init_script(CHANGE_JS)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    out = Measured(row, [], [])
    try:
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(url + row.path)
        for _ in range(2):  # a page may rerun itself right after its first run
            page.wait_for_function(IDLE_JS, timeout=90_000, polling=100)
            page.wait_for_timeout(300)
        for i in range(repeats + 1):  # the first one warms caches up and is not counted
            pred, act = row.act(page, i)
            page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS, polling=100)
            page.evaluate(ARM_JS, pred)
            cpu0, browser0, main0 = cpu_seconds(pid), browser_cpu(pid), main_thread_s(cdp)
            act()
            page.wait_for_function(SETTLED_JS, timeout=TIMEOUT_MS, polling=50)
            cpu = cpu_seconds(pid) - cpu0
            main1 = main_thread_s(cdp)
            browser = browser_cpu(pid)
            browser_s = sum(v - browser0.get(p, 0.0) for p, v in browser.items())
            t = page.evaluate("() => [window.__cl.t0, window.__cl.done]")
            phases = page.evaluate(PHASES_JS)
            page.wait_for_function(QUIET_JS, timeout=TIMEOUT_MS, polling=50)
            settled = page.evaluate(SETTLED_AT_JS)
            if i == 0:
                continue
            out.settled_s.append(settled["settled"] / 1e3)
            if settled["frames"] is not None:
                out.frames.append(int(settled["frames"]))
            if phases and row.visible:
                out.phases.append(phases)
            out.cpu_ms.append(cpu * 1e3)
            out.browser_cpu_ms.append(browser_s * 1e3)
            out.main_thread.append({k: (main1[k] - main0[k]) * 1e3 for k in main1})
            if row.visible:
                out.visible_s.append((t[1] - t[0]) / 1e3)
    except Exception as exc:  # noqa: BLE001 - one row failing must not lose the others
        out.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        context.close()
    return out


def measure(rows=ROWS, repeats: int = 8) -> tuple[list[Measured], dict]:
    from playwright.sync_api import sync_playwright

    pins = pinning()
    info = {"load_before": Path("/proc/loadavg").read_text().strip(), "pinned": pins}
    before_affinity = os.sched_getaffinity(0)
    with server(pins[0] if pins else None) as (url, pid):
        if pins:
            os.sched_setaffinity(0, {pins[1]})  # Chromium and Playwright's driver inherit this
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    measured = [measure_row(browser, url, pid, row, repeats) for row in rows]
                finally:
                    browser.close()
        finally:
            os.sched_setaffinity(0, before_affinity)
    info["load_after"] = Path("/proc/loadavg").read_text().strip()
    return measured, info


def results(measured: list[Measured], info: dict) -> list[Result]:
    pins = info["pinned"]
    where = (f"server on core {pins[0]}, browser on core {pins[1]}" if pins else "not pinned")
    note = f"{where}; load {info['load_before'].split()[0]} → {info['load_after'].split()[0]}"
    out = []
    for m in measured:
        if m.error or not m.cpu_ms:
            out.append(Result(f"{m.row.name}: FAILED", float("nan"), "ms", note=m.error or "no samples"))
            continue
        n = len(m.cpu_ms)
        out.append(check(f"{m.row.name}: server CPU per interaction (median of {n})", statistics.median(m.cpu_ms),
                         "ms", m.row.cpu_target_ms, note=note))
        if m.visible_s:
            out.append(check(f"{m.row.name}: answer visible p50", statistics.median(m.visible_s) * 1e3, "ms"))
            limit = m.row.p95_target_s * 1e3 if m.row.p95_target_s else None
            out.append(check(f"{m.row.name}: answer visible p95", p95_ms(m.visible_s), "ms", limit,
                             note="target is for a quiet machine"))
        if m.settled_s:
            note_q = f"input event → last DOM mutation or canvas draw, then {QUIET_MS} ms quiet"
            out.append(check(f"{m.row.name}: settled p50", statistics.median(m.settled_s) * 1e3, "ms", note=note_q))
            out.append(check(f"{m.row.name}: settled p95", p95_ms(m.settled_s), "ms", note=note_q))
        if m.frames:
            out.append(check(f"{m.row.name}: elements sent per change (median reply frames)",
                             float(statistics.median(m.frames)), "frames"))
    return out


def markdown_table(measured: list[Measured], info: dict) -> str:
    lines = ["| interaction | server CPU median (ms) | CPU min–max (ms) | browser CPU median (ms) "
             "| answer visible p50 / p95 (ms) | n |", "|---|---:|---:|---:|---:|---:|"]
    for m in measured:
        if m.error or not m.cpu_ms:
            lines.append(f"| {m.row.name} | failed: {m.error or 'no samples'} | | | | |")
            continue
        vis = (f"{statistics.median(m.visible_s) * 1e3:.0f} / {p95_ms(m.visible_s):.0f}" if m.visible_s else "—")
        lines.append(f"| {m.row.name} | {statistics.median(m.cpu_ms):.0f} | {min(m.cpu_ms):.0f}–{max(m.cpu_ms):.0f} "
                     f"| {statistics.median(m.browser_cpu_ms):.0f} | {vis} | {len(m.cpu_ms)} |")
    lines += ["", "Where the answer time goes (medians, ms; page clock; see WIRE_JS):", "",
              "| interaction | input → sent | of which long tasks | sent → first reply | first → last reply "
              "| last reply → visible | long tasks after sent | frames | kB received | total |", "|---|" + "---:|" * 9]
    for m in measured:
        if m.phases:
            med = {k: statistics.median(p[k] for p in m.phases) for k in (*PHASES, "total")}
            lines.append(f"| {m.row.name} | " + " | ".join(f"{med[k]:.0f}" for k in (*PHASES, "total")) + " |")
    lines += ["", "Browser work per interaction (medians, ms): all of Chromium's processes from /proc (renderer, GPU, "
              "network; plus Playwright's driver), and the renderer's main thread by DevTools' counters, from the "
              "input until the run is over and the answer shown:", "",
              "| interaction | browser CPU | main thread: all tasks | script | style | layout |", "|---|" + "---:|" * 5]
    for m in measured:
        if m.main_thread:
            med = {k: statistics.median(t[k] for t in m.main_thread) for k in MAIN_THREAD.values()}
            lines.append(f"| {m.row.name} | {statistics.median(m.browser_cpu_ms):.0f} | {med['tasks']:.0f} "
                         f"| {med['script']:.0f} | {med['style']:.0f} | {med['layout']:.0f} |")
    lines.append(f"\nPinned (server core, browser core): {info['pinned']}; /proc/loadavg before: "
                 f"`{info['load_before']}`, after: `{info['load_after']}`.")
    return "\n".join(lines)


def run(quick: bool = False) -> list[Result]:
    measured, info = measure(repeats=6 if quick else 8)
    return results(measured, info)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--only", default="", help="comma-separated words; rows whose name contains one run")
    args = parser.parse_args()
    words = [w for w in args.only.split(",") if w]
    rows = [r for r in ROWS if not words or any(w in r.name for w in words)]
    measured, info = measure(rows, args.repeats)
    print(markdown_table(measured, info))
    print()
    print_table(results(measured, info))


if __name__ == "__main__":
    main()
