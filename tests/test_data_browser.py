"""The Data page in real Chromium: on a phone it never scrolls sideways, pictures load, the number grid
has every pixel, and the sample stepper writes the share link."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.lessons import data_stats

from core.data import registry as datasets
from tests.conftest import wait_for_app_idle

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
GRID_CELLS = "() => [...document.querySelectorAll('.cl-px')].map(g => g.querySelectorAll('i').length)"
PAGE_WIDTH = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def open_data(browser, server, path: str, **context):
    ctx = browser.new_context(**context)
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(f"{server.url}{path}")
    wait_for_app_idle(pg, 90_000)
    expect(pg.locator("h1").first).to_contain_text("Look at the data")
    return ctx, pg


def test_phone_layout_and_share_link(browser, shared_server):
    ctx, pg = open_data(browser, shared_server, "/data?ds=shipped5k&cls=7&i=2", **PHONE)
    main = pg.locator("[data-testid='stMainBlockContainer']")
    pg.wait_for_function(f"() => ({GRID_CELLS})().length >= 4")
    assert pg.evaluate(GRID_CELLS) == [784, 64, 64, 64]  # the image, then the 8×8 excerpt at 3 stages
    train = datasets.load_train("shipped5k")
    digit = train.images[data_stats.pick(train.labels, 7, 2)]
    first = pg.locator(".cl-px").first.locator("i")
    assert [first.nth(k).inner_text() for k in (0, 300, 783)] == [str(digit.flat[k]) for k in (0, 300, 783)]
    scroll_width, client_width = pg.evaluate(PAGE_WIDTH)
    assert scroll_width <= client_width == 390, "the page scrolls sideways on a phone"
    # Every picture has arrived and has pixels (examples, class means, the vector strip, the digit).
    images = main.locator("[data-testid='stImage'] img")
    expect(images.first).to_be_visible()
    pg.wait_for_function("() => [...document.querySelectorAll('[data-testid=stImage] img')]"
                         ".every(i => i.complete && i.naturalWidth > 0)")
    assert images.count() >= 4
    pg.get_by_test_id("stNumberInputStepUp").first.click()
    pg.wait_for_function("() => /[?&]i=3(&|$)/.test(window.location.search)")
    assert re.search(r"[?&]cls=7(&|$)", pg.url) and re.search(r"[?&]ds=shipped5k(&|$)", pg.url)
    ctx.close()


@pytest.mark.system  # a fresh server
def test_desktop_first_visit_deep_link(browser, fresh_server):
    ctx, pg = open_data(browser, fresh_server, "/data?cls=0&i=5", viewport={"width": 1280, "height": 900})
    assert "Traceback" not in pg.content()
    expect(pg.locator("[data-testid='stSidebarNav']")).to_contain_text("Look at the data")
    pg.wait_for_function(f"() => ({GRID_CELLS})()[0] === 784")
    # The grid sits beside the picture and needs no scroll box on a laptop screen.
    box = pg.locator(".cl-px").first
    assert box.evaluate("e => e.scrollWidth <= e.clientWidth")
    ctx.close()
