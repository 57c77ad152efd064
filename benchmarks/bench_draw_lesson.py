"""CPU of the Draw lesson's own code per stroke, in-process (AppTest, no browser, no server).

``bench_draw_breakdown`` measures the real server per stroke (our code + Streamlit's rerun, websocket and
messages); this one isolates the part our code controls: the ``lesson`` fragment of pages/draw.py, from its
first line to its last, in thread CPU time, for drawn digits (the canvas is replaced by rasterised strokes
of ``harness.digit_stroke``), plus the whole script run around it. The fragment is timed by wrapping
``st.fragment`` itself, so the figure means the same for any checkout: the body a stroke reruns. Cheap (a
few seconds) and steady enough to compare two checkouts run one after the other:

    python -m benchmarks.bench_draw_lesson [--repo PATH] [--n 30]

``--repo`` measures another checkout's page, ui and core (e.g. ``git archive`` of an older commit).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import Result

REPO = Path(__file__).resolve().parent.parent


def measure(n: int) -> tuple[list[float], list[float]]:
    """(lesson CPU, script-run CPU) in seconds for ``n`` strokes, after 5 warm-up strokes."""
    import numpy as np
    import streamlit as st
    from PIL import Image, ImageDraw
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    import ui.canvas
    from benchmarks.harness import DIGITS, digit_stroke

    def raster(digit: str, dx: float) -> np.ndarray:
        img = Image.new("F", (280, 280), 0.0)
        ImageDraw.Draw(img).line(digit_stroke(digit, dx=dx), fill=1.0, width=22, joint="curve")
        return np.asarray(img, np.float32)

    drawings = [raster(d, dx) for dx in (0, 5, -5, 10, -10, 15) for d in DIGITS]
    stroke = [0]
    ui.canvas.drawing_canvas = lambda *a, **k: drawings[stroke[0] % len(drawings)]
    lesson, script = [], []
    run_script, fragment = script_runner.ScriptRunner._run_script, st.fragment

    def timed_run(self, *a, **k):
        t0 = time.thread_time()
        try:
            return run_script(self, *a, **k)
        finally:
            script.append(time.thread_time() - t0)

    def timed_fragment(func=None, **k):  # the page's ``@st.fragment def lesson``, timed from first line to last
        if func is None:
            return lambda f: timed_fragment(f, **k)
        if func.__name__ != "lesson":
            return fragment(func, **k)

        @functools.wraps(func)
        def body(*a, **kw):
            t0 = time.thread_time()
            try:
                return func(*a, **kw)
            finally:
                lesson.append(time.thread_time() - t0)
        return fragment(body, **k)

    script_runner.ScriptRunner._run_script = timed_run
    st.fragment = timed_fragment
    at = AppTest.from_file(str(Path.cwd() / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/draw.py").run()
    for i in range(5 + n):
        if i == 5:
            lesson.clear(), script.clear()
        stroke[0] += 1
        at.run()
        if at.exception:
            raise RuntimeError(at.exception)
    return lesson, script


def run(quick: bool = False) -> list[Result]:
    """This checkout's Draw lesson, in this process (run_all gives each benchmark its own)."""
    lesson, script = measure(10 if quick else 30)
    return [Result("draw lesson fragment, CPU per stroke (mean)", 1e3 * statistics.fmean(lesson), "ms",
                   note=f"median {1e3 * statistics.median(lesson):.1f} ms; AppTest, no browser"),
            Result("whole script run around it, CPU per stroke (mean)", 1e3 * statistics.fmean(script), "ms")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, default=REPO, help="the checkout whose page, ui and core are measured")
    ap.add_argument("--n", type=int, default=30)
    args = ap.parse_args()
    os.chdir(args.repo)
    sys.path.insert(0, str(args.repo.resolve()))  # its ui/core/pages, imported from here on
    lesson, script = measure(args.n)
    def ms(xs: list[float]) -> str:
        return f"mean {1e3 * statistics.fmean(xs):.1f} ms, median {1e3 * statistics.median(xs):.1f} ms"

    print(f"repo {args.repo}; load {open('/proc/loadavg').read().split()[:3]}; {args.n} drawn strokes")
    print(f"draw lesson fragment, CPU per stroke: {ms(lesson)}")
    print(f"whole script run (AppTest reruns the page too), CPU per stroke: {ms(script)}")


if __name__ == "__main__":
    main()
