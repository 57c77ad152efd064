"""Shared test fixtures: AppTest factory, a real Streamlit server, and a real Chromium browser.

Browser tests use Debian's chromium (``/usr/bin/chromium``, or ``$CONVLAB_CHROMIUM``). Without it
they are skipped locally, but when ``CI=true`` a missing browser is a failure, never a skip.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.harness import apptest_like_a_running_server  # noqa: E402

apptest_like_a_running_server()

ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Every test process (each pytest-xdist worker) writes session models and dataset downloads into its own
# temporary folder, and the servers it starts inherit it: runs never see each other's files, the
# developer's download cache or a real host's session folder.
_RUN_DIR = Path(tempfile.mkdtemp(prefix="convlab-tests-"))
os.environ["CONVLAB_SESSION_MODELS"] = str(_RUN_DIR / "session-models")
os.environ["CONVLAB_CACHE"] = str(_RUN_DIR / "cache")
os.environ["CONVLAB_DATA_DIR"] = str(_RUN_DIR / "data")  # the store's SQLite file, never the repo's data/store
os.environ.pop("CONVLAB_DATABASE_URL", None)  # a developer's PostgreSQL is never a test's
atexit.register(shutil.rmtree, _RUN_DIR, ignore_errors=True)

from benchmarks.harness import (  # noqa: E402,F401  (after the sys.path line; re-exported for tests)
    CHROMIUM_ARGS, StreamlitServer, chromium_path, track_script_runs, wait_for_app_idle,
)


def _serve() -> Iterator[StreamlitServer]:
    server = StreamlitServer()
    try:
        yield server
    finally:
        server.stop()


# One server, three lifetimes: a fresh one per test (its first request is the test's own, as deep-link
# tests need), one per module (tests that need a server but not a fresh first request), one per session.
fresh_server = pytest.fixture(_serve, name="fresh_server")
module_server = pytest.fixture(_serve, scope="module", name="module_server")
shared_server = pytest.fixture(_serve, scope="session", name="shared_server")


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
        new_context = browser.new_context

        def tracked_context(*args, **kwargs):  # every page reports the server's end-of-run messages
            context = new_context(*args, **kwargs)
            track_script_runs(context)
            return context

        browser.new_context = tracked_context
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


def pytest_collection_modifyitems(config, items) -> None:
    """Browser modules interleaved with the others, the longest of each first. pytest-xdist hands whole
    modules to its workers in collection order (``--no-loadscope-reorder`` in pytest.ini: its default
    orders them by test count, which left the few-test browser modules for last, minutes on one worker).
    Browser modules (a server, Chromium, real rendering) are the CPU; two of them at once on two cores
    slowed both and timed the replica test out, so each sits between two AppTest/core modules."""
    size: dict[str, int] = {}
    heavy: dict[str, tuple[bool, bool]] = {}
    for item in items:
        mod = item.nodeid.split("::")[0]
        size[mod] = size.get(mod, 0) + 1
        b, s = heavy.get(mod, (False, False))
        heavy[mod] = (b or item.get_closest_marker("browser") is not None,
                      s or item.get_closest_marker("slow") is not None)
    by_weight = sorted(size, key=lambda m: (not heavy[m][1], -size[m], m))
    browser = [m for m in by_weight if heavy[m][0]]
    other = [m for m in by_weight if not heavy[m][0]]
    order = [m for pair in zip(browser, other) for m in pair]
    order += browser[len(other):] + other[len(browser):]
    rank = {m: i for i, m in enumerate(order)}
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])  # stable: tests keep their order


def _available_memory_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 4.0


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: one worker per core, as memory allows (a worker peaks near 2.5 GB with its server and
    browser, hence 3 GB each). Not more: Chromium and the servers are the CPU. Two workers per core on a
    quiet 2-core machine ran four browser modules at once (load 17) and each took 2–3× as long."""
    cores = len(os.sched_getaffinity(0))
    return max(1, min(cores, int(_available_memory_gb() // 3), 8))
