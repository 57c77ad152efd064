"""Every page at 1280×900 (a projector) and at 390×844 (a phone, touch): what a screenshot reviewer checks first.

For every registered page (``ui.registry``: a new page joins without an edit here):

* nothing scrolls the page sideways (the document and Streamlit's main scroll container fit the width);
* no metric value is cut off (CSS ellipsis or a literal "…");
* the Share control (``button.cl-open``, placed by ``ui.state.header``) is there, near the top of the main
  column; on a desktop right of the title, at the same distance from the right edge on every page;
* when a check fails, or with ``CONVLAB_SCREENSHOTS=1``, a full-page screenshot lands in
  ``test-artifacts/screens/<page>-<desktop|phone>.png`` for a human to look at (a full page grows the
  viewport to the page's height and redraws every chart: a third of the module's time, spent only when
  someone will look; ``python -m scripts.screenshots`` is the reviewer's tool).

One server for the module; each page opens in a fresh browser context.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import REPO, wait_for_app_idle
from ui.registry import CLASS_ACTIVITY, HOME, PAGES as MENU

pytestmark = [pytest.mark.browser, pytest.mark.system]  # every page at two widths, full screenshots

PAGES = [HOME, *MENU]
SCREENS = REPO / "test-artifacts" / "screens"
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True},
}
_share_right: dict[str, float] = {}  # page -> distance of the Share control from the viewport's right edge

# Every chart drawn (plotly has replaced its placeholder with an SVG), so screenshots are not blank.
# Every chart drawn, and KaTeX's stylesheet applied: it arrives with the formula's own lazily loaded
# chunk, and until then a formula's hidden MathML copy lies in the page at full width (a loaded machine
# measured the pooling page 544 px wide at 390 px before it had loaded, never after).
CHARTS_DRAWN_JS = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .every(c => c.querySelector('.main-svg'))
  && [...document.querySelectorAll('.katex-mathml')].every(m => getComputedStyle(m).position === 'absolute')"""

OVERFLOW_JS = """() => {
  const out = [];
  const els = [document.scrollingElement, document.querySelector('[data-testid="stAppViewContainer"]'),
               document.querySelector('[data-testid="stMain"]')];
  for (const el of els) {
    if (el && el.scrollWidth > el.clientWidth + 1) out.push(`${el.tagName}.${el.getAttribute('data-testid') || ''}: `
        + `${el.scrollWidth} > ${el.clientWidth}`);
  }
  if (document.scrollingElement.scrollWidth > window.innerWidth + 1)
    out.push(`document ${document.scrollingElement.scrollWidth} > ${window.innerWidth}`);
  // the culprit: an element past the right edge whose parent is not, with no scrolling or clipping box
  // between it and the page (a long formula scrolled inside its own box is fine, and so are its children)
  if (out.length) {
    const main = document.querySelector('[data-testid="stMain"]');
    const clipped = el => { for (let a = el.parentElement; a && a !== main; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== 'visible') return true; return false; };
    for (const el of main.querySelectorAll('*')) {
      const r = el.getBoundingClientRect(), p = el.parentElement.getBoundingClientRect();
      if (r.right > window.innerWidth + 1 && p.right <= window.innerWidth + 1 && !clipped(el))
        out.push(`sticks out: ${el.tagName} ${el.getAttribute('data-testid') || el.className}`.slice(0, 140)
                 + ` (${Math.round(r.width)} px)`);
    }
  }
  return out;
}"""

TRUNCATED_METRICS_JS = """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')].flatMap(m => {
  const cut = [m, ...m.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1);
  const text = m.textContent.trim();
  return cut || text.endsWith('…') ? [text] : [];
})"""


def open_page(browser, module_server, page, kind: str):
    context = browser.new_context(**VIEWPORTS[kind])
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(f"{module_server.url}/{'' if page is HOME else page.url_path}")
    wait_for_app_idle(pg, 180_000)
    pg.wait_for_function(CHARTS_DRAWN_JS, timeout=60_000)
    with contextlib.suppress(PlaywrightTimeout):  # the Share control mounts after the run; absent is reported
        pg.locator("button.cl-open").first.wait_for(state="attached", timeout=20_000)
    return context, pg


@pytest.mark.parametrize("kind", list(VIEWPORTS))
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.url_path)
def test_page_fits_the_screen(browser, module_server, page, kind):
    context, pg = open_page(browser, module_server, page, kind)
    try:
        problems = []
        overflow = settled_overflow(pg)
        if overflow:
            problems.append(f"scrolls sideways: {overflow}")
        cut = pg.evaluate(TRUNCATED_METRICS_JS)
        if cut:
            problems.append(f"metric values cut off: {cut}")
        problems += share_control_problems(pg, page, kind)
        if kind == "phone":  # a tap on the title must not leave Streamlit's own 🔗 next to it, above Share
            pg.locator("h1").first.tap()
        anchors = pg.locator("[data-testid='stHeaderActionElements']")
        shown = [i for i in range(anchors.count()) if anchors.nth(i).is_visible()]
        if shown:
            problems.append(f"{len(shown)} heading anchor icons visible")
        if problems or os.environ.get("CONVLAB_SCREENSHOTS"):
            screenshot(pg, SCREENS / f"{page.url_path}-{kind}.png")
        assert not problems, f"{page.url_path} at {kind}: " + "; ".join(problems)
    finally:
        context.close()


def settled_overflow(pg) -> list[str]:
    """What sticks out once the layout has settled: a grid or chart measures its column after its first
    paint, so a loaded machine can catch a frame that is wider for a moment. A page that stays wide for
    15 s fails with its culprit named."""
    with contextlib.suppress(PlaywrightTimeout):
        pg.wait_for_function(f"() => ({OVERFLOW_JS})().length === 0", timeout=15_000)
    return pg.evaluate(OVERFLOW_JS)


def screenshot(pg, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main element, so grow the viewport to its height."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height = pg.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    pg.set_viewport_size({"width": pg.viewport_size["width"], "height": min(int(height) + 40, 12_000)})
    pg.wait_for_function(CHARTS_DRAWN_JS, timeout=60_000)
    pg.screenshot(path=str(path), full_page=True)


def share_control_problems(pg, page, kind: str) -> list[str]:
    if page is CLASS_ACTIVITY:  # a class is handed out by its own join link and QR code, not by Share
        return []
    share = pg.locator("button.cl-open")
    if share.count() != 1:
        return [f"{share.count()} Share controls (want exactly one)"]
    box = share.bounding_box()
    title = pg.locator("[data-testid='stMainBlockContainer'] h1").first.bounding_box()
    if box is None or title is None:
        return ["the Share control or the title is not visible"]
    width = pg.viewport_size["width"]
    problems = []
    if box["y"] > title["y"] + title["height"] + 80:
        problems.append(f"the Share control is {box['y'] - title['y']:.0f} px below the title, not at the top")
    if kind == "desktop":
        if box["x"] < title["x"] + 200 or box["y"] > title["y"] + title["height"]:
            problems.append("the Share control is not right of the title")
        right = width - (box["x"] + box["width"])
        _share_right.setdefault("first", right)
        if abs(right - _share_right["first"]) > 8:
            problems.append(f"the Share control is {right:.0f} px from the right edge, other pages "
                            f"{_share_right['first']:.0f} px")
    return problems


@pytest.mark.parametrize("kind", list(VIEWPORTS))
def test_big_layer_numbers_fit_on_the_arithmetic_page(browser, module_server, kind):
    """The largest numbers the arithmetic page can show still fit their metrics."""
    context = browser.new_context(**VIEWPORTS[kind])
    pg = context.new_page()
    try:
        pg.goto(f"{module_server.url}/arithmetic?h=64&k=11&s=1&p=5&cin=64&cout=64")
        wait_for_app_idle(pg, 180_000)
        pg.get_by_text("(1, 64, 64, 64)").first.wait_for()
        pg.get_by_text("2,030,043,136").first.wait_for()  # 64·64 outputs × 64 × 64·11·11 multiply-adds
        assert not pg.evaluate(TRUNCATED_METRICS_JS)
        assert not pg.evaluate(OVERFLOW_JS)
    finally:
        context.close()
