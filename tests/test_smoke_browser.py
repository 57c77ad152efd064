"""Every page opens in real Chromium on a shared server: its title is on the first screen, no exception box,
no traceback text, something to touch. The fast tier's one browser check per page; the
system tier looks at every page at two widths (tests/test_screens_browser.py) and on fresh servers.
"""

from __future__ import annotations

import pytest

from tests.conftest import wait_for_app_idle
from ui.registry import HOME, PAGES as MENU

pytestmark = pytest.mark.browser

PAGES = [HOME, *MENU]


@pytest.mark.parametrize("info", PAGES, ids=lambda p: p.url_path or "home")
def test_page_opens_with_its_title_and_no_error(shared_server, browser, info) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{shared_server.url}/{'' if info is HOME else info.url_path}")
        wait_for_app_idle(page, 120_000)
        title = page.locator("h1").first
        title.wait_for()
        assert ("ConvLab" if info is HOME else info.title) in title.inner_text()
        box = title.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900, "the title is below the first screen"
        assert page.locator("[data-testid='stException']").count() == 0
        text = page.locator("[data-testid='stMain']").inner_text()
        assert "Traceback" not in text and "Error:" not in text.split("\n")[0]
        widgets = page.locator("[data-testid='stMain'] :is(input, button, [role='slider'], [role='radiogroup'], "
                               "[role='combobox'], canvas)")
        if info is not HOME:  # a lesson has something to touch (fragments may draw after the first run ends)
            widgets.first.wait_for(timeout=30_000)
    finally:
        context.close()
