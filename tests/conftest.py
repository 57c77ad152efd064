"""Shared test fixtures: AppTest factory, a real Streamlit server, and a real Chromium browser.

Browser tests use Debian's chromium (``/usr/bin/chromium``, or ``$CONVLAB_CHROMIUM``). Without it
they are skipped locally, but when ``CI=true`` a missing browser is a failure, never a skip.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.harness import apptest_like_a_running_server  # noqa: E402

apptest_like_a_running_server()

ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
from benchmarks.harness import (  # noqa: E402,F401  (after the sys.path line; re-exported for tests)
    CHROMIUM_ARGS, StreamlitServer, chromium_path, wait_for_app_idle,
)


@pytest.fixture
def fresh_server() -> Iterator[StreamlitServer]:
    """A newly started server whose first request is the test's own."""
    server = StreamlitServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def module_server() -> Iterator[StreamlitServer]:
    """One server for a test module whose tests need a server but not a fresh first request."""
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
