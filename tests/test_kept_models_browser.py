"""A model kept under the browser's token comes back after a reload and after a server restart.

The store (SQLite in a data folder) holds the model; each server gets a new, empty session-models
folder, so the Draw page can only list it because the browser's token brought it back from the store.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from playwright.sync_api import expect

from benchmarks.harness import StreamlitServer, wait_for_app_idle
from core.store import models
from core.store.config import StoreConfig, sqlite_url
from core.store.store import Store

SHIPPED = Path(__file__).resolve().parent.parent / "exported_models"
pytestmark = [pytest.mark.system, pytest.mark.browser]


def _open_draw(browser, server: StreamlitServer, token: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(f"window.localStorage.setItem('convlab.browserToken', '{token}')")
    page = context.new_page()
    page.goto(f"{server.url}/draw")
    wait_for_app_idle(page)
    return context, page


def _offers(page, name: str) -> None:
    page.get_by_test_id("stSelectbox").first.click()
    expect(page.get_by_role("option", name=f"{name}:", exact=False)).to_be_visible()
    page.keyboard.press("Escape")


def test_kept_model_comes_back_after_reload_and_restart(browser, tmp_path):
    token = secrets.token_hex(16)
    data = tmp_path / "data"
    store = Store.open(StoreConfig(sqlite_url(data)))
    models.save_model(store, token, "kept-net", (SHIPPED / "linear.onnx").read_bytes(),
                      (SHIPPED / "linear.json").read_text(), byte_limit=40 * 2**20)
    store.close()
    for run in ("first", "restarted"):
        folders = tmp_path / f"session-models-{run}"
        server = StreamlitServer(env={"CONVLAB_DATA_DIR": str(data), "CONVLAB_SESSION_MODELS": str(folders)})
        try:
            context, page = _open_draw(browser, server, token)
            expect(page.get_by_text("Brought back 1 model(s)")).to_be_visible()  # the token's rerun
            wait_for_app_idle(page)
            assert (folders / token / "kept-net.onnx").read_bytes() == (SHIPPED / "linear.onnx").read_bytes()
            _offers(page, "kept-net")
            page.reload()  # a reload: the same browser token, the model still offered
            wait_for_app_idle(page)
            _offers(page, "kept-net")
            other = browser.new_context()  # another browser (its own token) is not offered it
            stranger = other.new_page()
            stranger.goto(f"{server.url}/draw")
            wait_for_app_idle(stranger)
            expect(stranger.get_by_text("Brought back")).to_have_count(0)
            assert sorted(folders.glob("*/kept-net.onnx")) == [folders / token / "kept-net.onnx"]
            other.close()
            context.close()
        finally:
            server.stop()
