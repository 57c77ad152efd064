"""First screens in a real Chromium: the lesson's picture (or canvas) and a control are visible without
scrolling at 1280×900 and on a 390×844 phone, the title is one line, and Share is an icon; on Filters,
hovering the microscope picture reads core's numbers with no script run."""

from __future__ import annotations

import numpy as np
import pytest

from core.lessons import filter_picture, filters, photos
from core.lessons.picture import fmt
from tests.conftest import wait_for_app_idle
from tests.picture_checks import hover_readout
from ui.canvas import SELECTOR as DRAW_CANVAS
from ui.filters_settings import FiltersSettings
from ui.lesson_picture import CANVAS

pytestmark = pytest.mark.browser

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True},
}
CONTROLS = "[data-testid='stSelectbox'], [data-testid='stSlider'], [data-testid='stRadio']"
PLOT = "[data-testid='stPlotlyChart']"
# The picture each page leads with, and a link that opens it (Filters with its largest first-screen kernel).
PAGES = {
    "filters": ("filters?k=gaussian&gs=5", PLOT),
    "draw": ("draw", DRAW_CANVAS),
    "network": ("network", "[data-testid='stImage'] img"),  # the digit the network reads
}


def visible(pg, selector: str, height: int) -> dict:
    pg.locator(selector).first.wait_for()
    box = pg.locator(selector).first.bounding_box()
    assert box and box["height"] > 60 and box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box)
    return box


@pytest.mark.parametrize("kind", list(VIEWPORTS))
@pytest.mark.parametrize("name", list(PAGES))
def test_the_picture_and_a_control_are_on_the_first_screen(browser, module_server, name, kind):
    path, picture = PAGES[name]
    context = browser.new_context(**VIEWPORTS[kind])
    pg = context.new_page()
    try:
        pg.goto(f"{module_server.url}/{path}")
        wait_for_app_idle(pg, 120_000)
        height = VIEWPORTS[kind]["viewport"]["height"]
        visible(pg, picture, height)
        pg.locator(CONTROLS).first.wait_for()
        bottoms = [b["y"] + b["height"] for b in (c.bounding_box() for c in pg.locator(CONTROLS).all()) if b]
        assert bottoms and min(bottoms) <= height, bottoms
        lines = pg.locator("h1").first.evaluate("""(h) => { const r = document.createRange();
            r.selectNodeContents(h); return r.getBoundingClientRect().height / parseFloat(getComputedStyle(h).fontSize); }""")
        assert lines < 1.8, lines  # one line of text
        share = pg.locator("button.cl-open").first
        assert share.get_attribute("aria-label") == "Share this view"
        assert share.bounding_box()["width"] < 80
        assert pg.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTop") == 0
    finally:
        context.close()


def test_hovering_the_filters_microscope_reads_core_numbers(module_server, page):
    cfg = FiltersSettings(k="sobel_x", r=40, c=17)
    page.goto(f"{module_server.url}/filters?k=sobel_x&r=40&c=17")
    wait_for_app_idle(page, 120_000)
    canvas = page.locator(CANVAS).first
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()  # the microscope is under the first screen
    image, kernel = photos.photo(cfg.img), cfg.kernels()[0]
    out = filters.conv2d(image, kernel[None], 1, 0, 1)[0]
    pic = filter_picture.filter_picture(image, kernel, 1, ((0, 0), (0, 0)), 1, out.shape, 40, 17, "Sobel x")
    page.evaluate("""() => { window.__runs = 0; const app = document.querySelector('[data-testid="stApp"]');
        new MutationObserver(() => { if (app.getAttribute('data-test-script-state') === 'running') window.__runs++; })
          .observe(app, {attributes: true}); }""")
    for step in (0, pic.selected, len(pic.steps) - 1):
        r, c = filter_picture.absolute(out.shape, 40, 17, step)
        window = image[r:r + 3, c:c + 3]
        seen = hover_readout(page, canvas, pic.payload(), step)
        assert seen["window"] == [fmt(v) for v in window.ravel()]
        assert seen["products"] == [fmt(v) for v in (window * kernel).ravel()]
        assert seen["result"] == f"sum = {fmt(out[r, c])}"
        assert np.isclose(out[r, c], (window * kernel).sum())
    assert page.evaluate("window.__runs") == 0
