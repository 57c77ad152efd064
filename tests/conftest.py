"""Shared test fixtures: AppTest factory, a real Streamlit server, and a real Chromium browser.

Browser tests use Debian's chromium (``/usr/bin/chromium``, or ``$CONVLAB_CHROMIUM``). Without it
they are skipped locally, but when ``CI=true`` a missing browser is a failure, never a skip.
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
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

def _apptest_like_a_running_server() -> None:
    """AppTest resets ``PagesManager.uses_pages_directory`` before every run, so every AppTest run would
    start in Streamlit's legacy ``pages/`` mode — which a real server is in only for the first request
    after start (ui/nav.py handles that case with a rerun, covered by the browser tests). Make AppTest
    behave like a server that has already routed once, so a button press is not lost to that rerun."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init


_apptest_like_a_running_server()

ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"streamlit did not become healthy in 60 s:\n{self.log()}")

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


@pytest.fixture
def fresh_server() -> Iterator[StreamlitServer]:
    """A newly started server whose first request is the test's own."""
    server = StreamlitServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shared_server() -> Iterator[StreamlitServer]:
    server = StreamlitServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        if ON_CI:
            pytest.fail("CI=true but chromium is not installed: .ci/run must install it.")
        pytest.skip("chromium not installed (apt-get install chromium); browser tests skipped locally")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # a 2-core CI machine under load renders slowly
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    try:
        yield pg
    finally:
        context.close()


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
