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


# Installed in every page before Streamlit loads (``track_script_runs``): it reads the top-level fields of
# each binary ForwardMsg that arrives on Streamlit's websocket and keeps the status of the last
# ``script_finished`` (field 6; a ``new_session``, field 4, means a run has started and clears it). The
# status says whether the server is done: FINISHED_EARLY_FOR_RERUN (2) means another run follows at once.
# A ``rerun_script`` BackMsg (field 11) the page sends (a widget, or a component setting its value) also
# clears it: an answer is on its way.
SCRIPT_RUNS_JS = """
(() => {
  const runs = {status: null, finished: 0};
  window.__convlabRuns = runs;
  function varint(b, i) {
    let v = 0, s = 0, c;
    do { c = b[i++]; v += (c & 0x7f) * Math.pow(2, s); s += 7; } while (c & 0x80 && i < b.length);
    return [v, i];
  }
  // Calls seen(field, value) for each top-level field of one protobuf message (value: a varint's number).
  function fields(b, seen) {
    let i = 0;
    while (i < b.length) {
      let tag, v, n;
      [tag, i] = varint(b, i);
      const field = Math.floor(tag / 8), wire = tag & 7;
      if (wire === 0) { [v, i] = varint(b, i); seen(field, v); }
      else if (wire === 2) { [n, i] = varint(b, i); seen(field, null); i += n; }
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return;
    }
  }
  function received(buf) {
    fields(new Uint8Array(buf), (field, v) => {
      if (field === 6) { runs.status = v; runs.finished += 1; }  // script_finished
      else if (field === 4) runs.status = null;  // new_session: a run has started
    });
  }
  function sent(data) {
    const b = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
    if (b) fields(b, (field) => { if (field === 11) runs.status = null; });  // rerun_script
  }
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        if (e.data instanceof ArrayBuffer) received(e.data);
        else if (e.data instanceof Blob) e.data.arrayBuffer().then(received);
      });
    }
    send(data) { sent(data); return super.send(data); }
  };
})();
"""
# Idle: Streamlit's own run state says no run is going, the last run the server finished was not cut
# short for a rerun (a page may call st.rerun() right after its first run), the page has content, and
# every components-v2 element (canvas, Share, lesson picture) has drawn itself, every picture has loaded
# and no element still shows Streamlit's loading skeleton (widgets whose code arrives after the run):
# any of these would still move what is below it.
_IDLE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const main = document.querySelector('[data-testid="stMainBlockContainer"]');
    const runs = window.__convlabRuns;
    const parts = [...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')];
    return app && app.getAttribute('data-test-script-state') === 'notRunning'
        && main && main.innerText.trim().length > 0
        && parts.every((el) => !el.shadowRoot || el.shadowRoot.childElementCount > 0)
        && [...main.querySelectorAll('img')].every((img) => img.complete)
        && !document.querySelector('[data-testid="stSkeleton"], [data-testid="stSkeletonElement"], [data-testid="stAppSkeleton"]')
        && (!runs || (runs.finished > 0 && (runs.status === 0 || runs.status === 3 || runs.status === 1)));
}"""


def track_script_runs(context) -> None:
    """Make ``wait_for_app_idle`` wait on the server's own end-of-run messages in this browser context."""
    context.add_init_script(SCRIPT_RUNS_JS)


def wait_for_app_idle(pg, timeout_ms: int = 30_000) -> None:
    """Wait until Streamlit has finished running the script and the page has content.

    In a context set up with ``track_script_runs`` this waits on events: the last ``script_finished``
    message is a completed run (not one stopped for a rerun) and the frontend shows no run. Elsewhere it
    falls back to reading the run state twice, a quarter second apart."""
    pg.wait_for_function(_IDLE_JS, timeout=timeout_ms, polling="raf")
    if pg.evaluate("() => Boolean(window.__convlabRuns)"):
        return
    for _ in range(2):
        pg.wait_for_timeout(250)
        pg.wait_for_function(_IDLE_JS, timeout=timeout_ms)


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
