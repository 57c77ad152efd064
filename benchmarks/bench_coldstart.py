"""Cold start and memory of the real server.

- Cold start: from starting the ``streamlit run`` process to the home page rendered in Chromium
  (``goto("/")``, then the title ``h1`` is visible). Target: ≤ 3 s on the 2-core dev machine.
  The browser is launched before the clock starts; the server's health is polled every 0.2 s
  (``benchmarks.harness.StreamlitServer``), so the figure can be up to 0.2 s pessimistic.
- Memory of the server process (``/proc/<pid>/status``): idle after serving the home page, then after
  one browser session has visited arithmetic → filters → pooling (sidebar clicks, one Streamlit
  session), then after the draw page too (onnxruntime loaded).
- The non-training pages must never import torch: ``libtorch`` must not be mapped into the server.

``python -m benchmarks.bench_coldstart [--quick]`` (quick: one cold start instead of three).
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.common import Result, check, print_table
from benchmarks.serverprobe import error_lines, load_average, mapped_libraries, memory_mb

TITLE = "ConvLab"  # the home page's h1 contains it
SESSION_PAGES = ("Convolution arithmetic", "Filters & kernels", "Pooling")  # sidebar link names
IDLE_SETTLE_S = 1.0  # let the server finish sending before reading its memory (a measurement pause)


def _sidebar_to(page, name: str, url_path: str) -> None:
    from benchmarks.harness import wait_for_app_idle

    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name=name).click()
    page.wait_for_url(f"**/{url_path}", timeout=60_000)
    wait_for_app_idle(page, 60_000)


def _one_cold_start(browser, with_session: bool) -> dict:
    """Start a fresh server, render the home page; optionally continue with a 3-page session."""
    from benchmarks.harness import StreamlitServer, wait_for_app_idle

    out: dict = {}
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    t0 = time.monotonic()
    server = StreamlitServer()
    try:
        out["healthy_s"] = time.monotonic() - t0
        page.goto(server.url + "/")
        page.locator("h1").filter(has_text=TITLE).first.wait_for(state="visible")
        out["rendered_s"] = time.monotonic() - t0
        if not with_session:
            return out
        pid = server.proc.pid
        wait_for_app_idle(page, 60_000)
        time.sleep(IDLE_SETTLE_S)
        out["idle"] = memory_mb(pid)
        for name, path in zip(SESSION_PAGES, ("arithmetic", "filters", "pooling")):
            _sidebar_to(page, name, path)
        time.sleep(IDLE_SETTLE_S)
        out["three_pages"] = memory_mb(pid)
        out["torch_after_three"] = mapped_libraries(pid, "libtorch")
        _sidebar_to(page, "Draw a digit", "draw")
        page.locator("[data-testid='stBidiComponentIsolated'] canvas.cl-canvas").first.wait_for()
        time.sleep(IDLE_SETTLE_S)
        out["draw"] = memory_mb(pid)
        out["torch_after_draw"] = mapped_libraries(pid, "libtorch")
        out["ort_after_draw"] = bool(mapped_libraries(pid, "onnxruntime"))
        out["log"] = server.log()
        return out
    finally:
        context.close()
        server.stop()


def run(quick: bool = False) -> list[Result]:
    from playwright.sync_api import sync_playwright

    from benchmarks.harness import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    starts = 1 if quick else 3
    load_before = load_average()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            runs = [_one_cold_start(browser, with_session=(i == starts - 1)) for i in range(starts)]
        finally:
            browser.close()
    load_after = load_average()
    rendered = [r["rendered_s"] for r in runs]
    healthy = [r["healthy_s"] for r in runs]
    last = runs[-1]
    idle, three, draw = last["idle"], last["three_pages"], last["draw"]
    load_note = f"load average {load_before:.1f} → {load_after:.1f} on {_cores()} cores"
    torch3, torch_draw = last["torch_after_three"], last["torch_after_draw"]
    errors = error_lines(last["log"])
    return [
        check("cold start: process start → home page rendered (median)", statistics.median(rendered), "s",
              limit=3.0, note=f"{starts} fresh server(s): " + ", ".join(f"{t:.2f}" for t in rendered)
              + f" s; {load_note}"),
        check("cold start: process start → /_stcore/health OK (median)", statistics.median(healthy), "s",
              note="polled every 0.2 s"),
        check("server RSS idle after the home page", idle["VmRSS"], "MB", note=f"VmHWM {idle['VmHWM']:.0f} MB"),
        check("server RSS after arithmetic → filters → pooling", three["VmRSS"], "MB",
              note=f"+{three['VmRSS'] - idle['VmRSS']:.0f} MB for this session; VmHWM {three['VmHWM']:.0f} MB"),
        check("server RSS after the draw page too", draw["VmRSS"], "MB",
              note=f"+{draw['VmRSS'] - three['VmRSS']:.0f} MB; onnxruntime loaded: "
                   f"{'yes' if last['ort_after_draw'] else 'no'}; VmHWM {draw['VmHWM']:.0f} MB"),
        Result("torch not loaded after arithmetic, filters, pooling", float(len(torch3)), "libtorch files",
               "0 mapped", not torch3, ", ".join(torch3) or "/proc/<pid>/maps has no libtorch"),
        Result("torch not loaded after the draw page", float(len(torch_draw)), "libtorch files",
               "0 mapped", not torch_draw, ", ".join(torch_draw) or "/proc/<pid>/maps has no libtorch"),
        Result("errors in the server log", float(len(errors)), "lines", "0", not errors,
               " / ".join(errors[:3]) or "no Traceback/Error"),
    ]


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one cold start instead of three")
    print_table(run(quick=parser.parse_args().quick))
