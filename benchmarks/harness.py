"""The real-server and real-browser harness that tests, benchmarks and scripts share.

It lives here, not in ``tests/conftest.py``, so benchmarks and scripts never import the test package
(whose conftest patches Streamlit for AppTest). ``tests/conftest.py`` re-exports these names.
"""

from __future__ import annotations

import contextlib
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

    def __init__(self, env: dict[str, str] | None = None, python: str = sys.executable) -> None:
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
            cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=full_env,
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
