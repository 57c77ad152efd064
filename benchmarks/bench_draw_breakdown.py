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
import statistics
from pathlib import Path

from benchmarks.common import Result, p95_ms, print_table
from benchmarks.harness import StreamlitServer, draw_digit, launch_chromium, wait_for_app_idle
from benchmarks.serverprobe import cpu_seconds
from ui.canvas import CANVAS_PX, SELECTOR

REPO = Path(__file__).resolve().parent.parent
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





def clear(page) -> None:
    page.get_by_role("button", name="Clear").click()
    page.get_by_text("No digit").first.wait_for(timeout=60_000)
    wait_for_app_idle(page, 60_000)


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
        draw_digit(page, digit, CANVAS, CANVAS_PX)
        page.wait_for_function(f"() => window.__probe.last === '{digit}'", timeout=60_000, polling=20)
        wait_for_app_idle(page, 60_000)
        stroke_cpu.append(cpu_seconds(pid) - cpu0)
        rows.append(breakdown(page.evaluate("() => window.__probe")))
        cpu0 = cpu_seconds(pid)
        clear(page)
        clear_cpu.append(cpu_seconds(pid) - cpu0)
    return rows, stroke_cpu, clear_cpu


def measure_filters(page, url: str, pid: int, n: int) -> list[float]:
    page.goto(f"{url}/filters")
    wait_for_app_idle(page, 60_000)
    cpu = []
    kernels = ("Sharpen", "Sobel y", "Box blur", "Laplacian", "Sobel x", "Emboss")
    for i in range(n):
        box = page.get_by_role("combobox", name="Kernel")  # the kernel selectbox (a stable selector)
        cpu0 = cpu_seconds(pid)
        box.click()
        page.get_by_role("option", name=kernels[i % len(kernels)], exact=True).click()
        wait_for_app_idle(page, 60_000)
        cpu.append(cpu_seconds(pid) - cpu0)
    return cpu


def measure(repo: Path = REPO, n: int = 8) -> tuple[list[dict[str, float]], list[float], list[float], list[float]]:
    """(per-stroke phases, server CPU per stroke, per Clear, per filters kernel change), first of each dropped."""
    from playwright.sync_api import sync_playwright

    server = StreamlitServer(repo=repo)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_init_script(PROBE_JS)
            page = context.new_page()
            page.goto(f"{server.url}/draw")
            page.get_by_text("No digit").first.wait_for(timeout=90_000)
            wait_for_app_idle(page, 60_000)
            rows, stroke_cpu, clear_cpu = measure_draw(page, server.proc.pid, n + 1)
            filters_cpu = measure_filters(page, server.url, server.proc.pid, n + 1)[1:]
            browser.close()
    finally:
        server.stop()
    return rows[1:], stroke_cpu[1:], clear_cpu[1:], filters_cpu  # the first of each warms caches


def results(rows: list[dict[str, float]], stroke_cpu: list[float], clear_cpu: list[float],
            filters_cpu: list[float]) -> list[Result]:
    # /proc counts CPU in 10 ms ticks: the mean over all strokes is the finer figure (the median is a tick)
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    out = [Result("draw, server CPU per stroke (mean)", 1e3 * statistics.fmean(stroke_cpu), "ms", note=f"load {load}"),
           Result("draw, server CPU per Clear (mean)", 1e3 * statistics.fmean(clear_cpu), "ms"),
           Result("filters, server CPU per kernel change (median)", 1e3 * statistics.median(filters_cpu), "ms")]
    for part in ("send", "first_reply", "script_and_transfer", "render", "total"):
        values = [r[part] for r in rows]
        out.append(Result(f"draw, mouse-up → prediction, {part.replace('_', ' ')} (p95)", p95_ms([v / 1e3 for v in values]),
                          "ms", note=f"median {statistics.median(values):.0f} ms"))
    return out


def run(quick: bool = False) -> list[Result]:
    return results(*measure(n=4 if quick else 8))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, default=REPO)
    ap.add_argument("--n", type=int, default=8)
    args = ap.parse_args()
    print(f"repo {args.repo}")
    print_table(results(*measure(args.repo, args.n)))


if __name__ == "__main__":
    main()
