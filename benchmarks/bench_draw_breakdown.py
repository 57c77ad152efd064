"""Where the time goes between lifting the pen and seeing the prediction (draw page), and what a kernel
change costs on the filters page: one real server, one Chromium.

Per drawn digit, in the page's clock (``performance.now()``): mouse-up → the canvas sends its drawing
(``ui.canvas`` packs its 280×280 ink and sends it at once; streamlit-drawable-canvas 0.13, before
2026-12-02, waited 200 ms) → the first reply from the server → the last reply before the new
prediction is on screen (script run + transfer) → the prediction in the DOM (render). Server CPU per
interaction is read from ``/proc/<pid>/stat`` (utime + stime of the server process) around it: a stable
figure on a noisy machine, unlike wall times. ``--repo`` runs another checkout (e.g. an older commit
unpacked with ``git archive``) for before/after figures.

    python -m benchmarks.bench_draw_breakdown [--repo PATH] [--n 8]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path

from benchmarks.bench_load import digit_stroke
from benchmarks.serverprobe import cpu_seconds
from ui.canvas import CANVAS_PX, SELECTOR

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# ConvLab's canvas, or streamlit-drawable-canvas's drawing layer in an older checkout (``--repo``)
CANVAS = f"{SELECTOR}, [data-testid='stBidiComponentIsolated'] canvas.upper-canvas"

# Timestamps of mouse-ups, websocket sends/receipts and prediction changes, in the page's clock.
PROBE_JS = """
(() => {
  const t = {up: [], send: [], recv: [], shown: [], last: null};
  window.__probe = t;
  window.addEventListener('mouseup', () => t.up.push(performance.now()), true);
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => t.recv.push(performance.now()));
    }
    send(data) { t.send.push(performance.now()); return super.send(data); }
  };
  new MutationObserver(() => {
    const el = document.querySelector("[data-testid='draw-prediction']");
    const now = el ? el.textContent.trim() : null;
    if (now !== t.last) { if (now !== null) t.shown.push(performance.now()); t.last = now; }
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning';
}"""


def start_server(repo: Path) -> tuple[subprocess.Popen, str]:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.2)  # polling a starting server: nothing to wait on but the port
    proc.kill()
    raise RuntimeError("server did not start")


def idle(page) -> None:
    for _ in range(2):  # a run may start right after another ends (fragment, then query-string write)
        page.wait_for_function(IDLE_JS, timeout=60_000, polling=50)
        page.wait_for_timeout(300)


def draw(page, digit: str) -> None:
    canvas = page.locator(CANVAS).first
    box = canvas.bounding_box()
    scale = box["width"] / CANVAS_PX
    points = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in digit_stroke(digit)]
    page.mouse.move(*points[0])
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*p, steps=18 if len(points) <= 3 else 2)
    page.mouse.up()


def clear(page) -> None:
    page.get_by_role("button", name="Clear").click()
    page.get_by_text("No digit").first.wait_for(timeout=60_000)
    idle(page)


def breakdown(t: dict) -> dict[str, float]:
    up = t["up"][-1]
    send = min(s for s in t["send"] if s >= up)
    shown = min(s for s in t["shown"] if s >= send)
    recv = [r for r in t["recv"] if send <= r <= shown]
    return {"send": send - up, "first_reply": recv[0] - send, "script_and_transfer": recv[-1] - send,
            "render": shown - recv[-1], "total": shown - up}


def measure_draw(page, pid: int, n: int) -> tuple[list[dict[str, float]], list[float], list[float]]:
    rows, stroke_cpu, clear_cpu = [], [], []
    digits = ("1", "7", "0")
    for i in range(n):
        digit = digits[i % len(digits)]
        cpu0 = cpu_seconds(pid)
        draw(page, digit)
        page.wait_for_function(f"() => window.__probe.last === '{digit}'", timeout=60_000, polling=20)
        idle(page)
        stroke_cpu.append(cpu_seconds(pid) - cpu0)
        rows.append(breakdown(page.evaluate("() => window.__probe")))
        cpu0 = cpu_seconds(pid)
        clear(page)
        clear_cpu.append(cpu_seconds(pid) - cpu0)
    return rows, stroke_cpu, clear_cpu


def measure_filters(page, url: str, pid: int, n: int) -> list[float]:
    page.goto(f"{url}/filters")
    idle(page)
    cpu = []
    kernels = ("Sharpen", "Sobel y", "Box blur", "Laplacian", "Sobel x", "Emboss")
    for i in range(n):
        box = page.get_by_role("combobox", name="Kernel")  # the kernel selectbox (a stable selector)
        cpu0 = cpu_seconds(pid)
        box.click()
        page.get_by_role("option", name=kernels[i % len(kernels)], exact=True).click()
        idle(page)
        cpu.append(cpu_seconds(pid) - cpu0)
    return cpu


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, default=REPO)
    ap.add_argument("--n", type=int, default=8)
    args = ap.parse_args()
    proc, url = start_server(args.repo)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_init_script(PROBE_JS)
            page = context.new_page()
            page.goto(f"{url}/draw")
            page.get_by_text("No digit").first.wait_for(timeout=90_000)
            idle(page)
            rows, stroke_cpu, clear_cpu = measure_draw(page, proc.pid, args.n + 1)
            rows, stroke_cpu, clear_cpu = rows[1:], stroke_cpu[1:], clear_cpu[1:]  # the first warms caches
            filters_cpu = measure_filters(page, url, proc.pid, args.n + 1)[1:]
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    ms = lambda xs: f"{1e3 * statistics.median(xs):.0f}"  # noqa: E731
    print(f"repo {args.repo}; load {open('/proc/loadavg').read().split()[:3]}")
    # /proc counts CPU in 10 ms ticks: the mean over all strokes is the finer figure (the median is a tick)
    mean = lambda xs: f"{1e3 * statistics.fmean(xs):.1f}"  # noqa: E731
    print(f"draw, server CPU per stroke: median {ms(stroke_cpu)} ms, mean {mean(stroke_cpu)} ms "
          f"({', '.join(f'{1e3 * c:.0f}' for c in stroke_cpu)})")
    print(f"draw, server CPU per Clear: median {ms(clear_cpu)} ms, mean {mean(clear_cpu)} ms")
    for part in ("send", "first_reply", "script_and_transfer", "render", "total"):
        values = sorted(r[part] for r in rows)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(f"draw, mouse-up → prediction, {part}: median {statistics.median(values):.0f} ms, p95 {p95:.0f} ms")
    print(f"filters, server CPU per kernel change: median {ms(filters_cpu)} ms "
          f"({', '.join(f'{1e3 * c:.0f}' for c in filters_cpu)})")


if __name__ == "__main__":
    main()
