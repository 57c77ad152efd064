"""The real-server and real-browser harness that tests, benchmarks and scripts share.

It lives here, not in ``tests/conftest.py``, so benchmarks and scripts never import the test package
(whose conftest patches Streamlit for AppTest). ``tests/conftest.py`` re-exports these names.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def apptest_like_a_running_server() -> None:
    """AppTest resets ``PagesManager.uses_pages_directory`` before every run, so every AppTest run would
    start in Streamlit's legacy ``pages/`` mode — which a real server is in only for the first request
    after start (ui/nav.py handles that case with a rerun, covered by the browser tests). Make AppTest
    behave like a server that has already routed once, so a button press is not lost to that rerun.
    Called by tests/conftest.py, and by a benchmark that runs pages under AppTest."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    env = os.environ.get("CONVLAB_CHROMIUM")
    if env and Path(env).exists():
        return env
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float, what: str, log) -> None:
    """Poll ``url``/_stcore/health until it answers 200; ``RuntimeError`` with ``log()`` if ``proc`` exits
    first or ``timeout_s`` passes (a slow start under load is what the loop is for)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start:\n{log()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer in {timeout_s:.0f} s:\n{log()}")


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamlitServer:
    """A real ``streamlit run`` on 127.0.0.1, fresh per instance (deep-link tests need fresh ones)."""

    def __init__(self, env: dict[str, str] | None = None, python: str = sys.executable, repo: Path = REPO) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = REPO / "test-artifacts" / f"streamlit-{self.port}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [python, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=repo, stdout=self._log, stderr=subprocess.STDOUT, env=full_env,
        )
        try:
            wait_healthy(self.url, self.proc, 60, "streamlit", self.log)
        except RuntimeError:
            self.stop()
            raise

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def wait_for_app_idle(pg, timeout_ms: int = 30_000) -> None:
    """Wait until Streamlit has finished running the script and the page has content.

    ``stApp[data-test-script-state]`` is Streamlit's own run state; it must read ``notRunning`` twice,
    a quarter second apart, because a page may rerun itself right after its first run.
    """
    script = """() => {
        const app = document.querySelector('[data-testid="stApp"]');
        const main = document.querySelector('[data-testid="stMainBlockContainer"]');
        return app && app.getAttribute('data-test-script-state') === 'notRunning'
            && main && main.innerText.trim().length > 0;
    }"""
    for _ in range(2):
        pg.wait_for_function(script, timeout=timeout_ms)
        pg.wait_for_timeout(250)
    pg.wait_for_function(script, timeout=timeout_ms)


# ---------------------------------------------------------------------------------------------
# Drawing a digit the way a student does: one pen stroke on ConvLab's canvas

def digit_stroke(digit: str, dx: float = 0.0, dy: float = 0.0) -> list[tuple[float, float]]:
    """One pen stroke (canvas pixels, 280×280) that looks like ``digit``; (dx, dy) shifts it."""
    shapes = {
        "1": ((95, 35, 80, 210), [(0.35, 0.15), (0.6, 0.0), (0.55, 1.0)]),
        "7": ((55, 45, 165, 200), [(0.0, 0.05), (1.0, 0.0), (0.45, 1.0)]),
        "0": ((70, 40, 140, 200), [(0.5 + 0.5 * math.sin(a), 0.5 - 0.5 * math.cos(a))
                                   for a in (2 * math.pi * i / 39 for i in range(40))]),
        "2": ((60, 40, 160, 200), [(0.05, 0.25), (0.25, 0.03), (0.6, 0.0), (0.9, 0.2), (0.85, 0.45),
                                   (0.0, 1.0), (1.0, 1.0)]),
        "3": ((70, 40, 140, 200), [(0.05, 0.1), (0.5, 0.0), (0.9, 0.15), (0.85, 0.4), (0.4, 0.5),
                                   (0.9, 0.6), (0.95, 0.85), (0.5, 1.0), (0.0, 0.9)]),
    }
    (left, top, w, h), points = shapes[digit]
    return [(left + dx + u * w, top + dy + v * h) for u, v in points]


DIGITS = ("1", "7", "0", "2", "3")


def launch_chromium(pw, **kwargs):
    """Debian's Chromium through Playwright's sync API (its own browser download does not work here)."""
    return pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, **kwargs)


def draw_digit(page, digit: str, selector: str, canvas_px: int = 280, dx: float = 0.0) -> None:
    """Draw ``digit`` with the mouse on the canvas ``selector`` finds (``canvas_px`` drawing coordinates)."""
    canvas = page.locator(selector).first
    canvas.wait_for()
    box = canvas.bounding_box()
    scale = box["width"] / canvas_px
    points = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in digit_stroke(digit, dx=dx)]
    page.mouse.move(*points[0])
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*p, steps=18 if len(points) <= 3 else 2)  # long polylines have many points already
    page.mouse.up()
