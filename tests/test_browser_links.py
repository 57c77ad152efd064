"""Real-browser tests (playwright + Debian chromium): deep links and share links.

The first request to a freshly started server is a deep link: that is exactly when Streamlit's legacy
``pages/`` handling used to show the wrong menu (see ui/nav.py).
"""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.conftest import StreamlitServer, wait_for_app_idle
from ui.registry import LESSONS

pytestmark = pytest.mark.browser


def assert_convlab_menu(pg) -> None:
    nav = pg.locator("[data-testid='stSidebarNav']")
    for page in LESSONS:
        expect(nav).to_contain_text(page.title)
    expect(nav).not_to_contain_text("streamlit app")  # the legacy automatic page list


def first_visit(browser, server: StreamlitServer, path: str, height: int = 1000):
    """Open ``path`` in a new browser context (on a fresh server: its first request); the page must
    carry ConvLab's menu."""
    context = browser.new_context(viewport={"width": 1400, "height": height})
    pg = context.new_page()
    pg.goto(f"{server.url}{path}")
    wait_for_app_idle(pg, 90_000)
    assert_convlab_menu(pg)
    return context, pg


def open_cell_editor(pg, dx: int, dy: int):
    """Open the editor of the layer table's cell at (dx, dy) from the grid's corner; returns its input.

    The grid is a canvas that takes keyboard focus only once it has drawn its rows: a click that lands
    earlier selects nothing and Enter opens no editor. Waiting on the editor's input (and clicking again
    when it did not open) is the event to wait for; a loaded machine only makes it take longer."""
    grid = pg.locator("[data-testid='stDataFrame']").first  # the editor comes first
    cell = pg.locator("#portal input.gdg-input")
    for _ in range(6):
        box = grid.bounding_box()
        pg.mouse.click(box["x"] + dx, box["y"] + dy)
        pg.keyboard.press("Enter")  # opens the cell's editor
        try:
            cell.wait_for(state="visible", timeout=10_000)
            return cell
        except PlaywrightTimeoutError:
            continue
    raise AssertionError("the layer table's cell editor never opened")


@pytest.mark.system  # a fresh server per test
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.url_path)
def test_deep_link_is_first_request_to_fresh_server(browser, fresh_server, lesson):
    context, pg = first_visit(browser, fresh_server, f"/{lesson.url_path}")
    expect(pg.locator("h1").first).to_contain_text(re.compile(lesson.title.split()[0], re.I))
    assert "Traceback" not in pg.content()
    context.close()


@pytest.mark.system  # a fresh server per test
def test_arithmetic_share_link_restores_view_on_fresh_server(browser, fresh_server):
    context, pg = first_visit(browser, fresh_server, "/arithmetic?h=28&k=5&s=1&p=0&cout=6&step=10")
    main = pg.locator("[data-testid='stMainBlockContainer']")
    expect(main).to_contain_text("(1, 6, 24, 24)")
    expect(main).to_contain_text("Output cell (0, 10)")
    # The address bar is the share link: it pins every setting.
    assert re.search(r"[?&]h=28(&|$)", pg.url) and re.search(r"[?&]cout=6(&|$)", pg.url)
    context.close()


@pytest.mark.system  # a fresh server per test
def test_share_link_round_trip_between_two_browsers(browser, fresh_server):
    # Student A is the fresh server's first visitor (deep link), changes the kernel with the keyboard
    # and copies the URL; student B opens it. Other widgets must keep their values through A's change.
    a = browser.new_context(viewport={"width": 1400, "height": 1000})
    pa = a.new_page()
    pa.goto(f"{fresh_server.url}/arithmetic")
    wait_for_app_idle(pa, 60_000)
    slider = pa.get_by_role("slider", name="Kernel size")
    slider.focus()
    slider.press("ArrowRight")
    slider.press("ArrowRight")  # 3 -> 5
    pa.wait_for_function("() => /[?&]k=5(&|$)/.test(window.location.search)")
    assert re.search(r"[?&]h=5&", pa.url) and re.search(r"[?&]s=2&", pa.url), pa.url
    expect(pa.locator("[data-testid='stMainBlockContainer']")).to_contain_text("(1, 1, 2, 2)")
    text_a = pa.locator("[data-testid='stMainBlockContainer']").inner_text()
    link = pa.url
    a.close()

    b = browser.new_context(viewport={"width": 1400, "height": 1000})
    pb = b.new_page()
    pb.goto(link)
    wait_for_app_idle(pb, 60_000)
    main_b = pb.locator("[data-testid='stMainBlockContainer']")
    expect(main_b).to_contain_text("(1, 1, 2, 2)")  # floor((5 + 2 - 5) / 2) + 1 = 2
    expect(main_b).to_contain_text("Output cell (0, 0)")
    assert pb.get_by_role("slider", name="Kernel size").input_value() == "5"
    assert "(1, 1, 2, 2)" in text_a
    b.close()


def test_back_button_returns_to_the_previous_view(browser, shared_server):
    context, pg = first_visit(browser, shared_server, "/arithmetic")
    slider = pg.get_by_role("slider", name="Kernel size")
    for k in (4, 5):
        slider.focus()
        slider.press("ArrowRight")
        pg.wait_for_function(f"() => /[?&]k={k}(&|$)/.test(window.location.search)")
        wait_for_app_idle(pg)
    pg.go_back()
    pg.wait_for_function("() => /[?&]k=4(&|$)/.test(window.location.search)")
    wait_for_app_idle(pg)
    expect(pg.get_by_role("slider", name="Kernel size")).to_have_value("4")
    expect(pg.locator("[data-testid='stMainBlockContainer']")).to_contain_text("reads padded-input rows [0, 1, 2, 3] and")
    context.close()


@pytest.mark.system  # a fresh server per test
def test_teachers_custom_network_classroom_link_on_fresh_server(browser, fresh_server):
    """A teacher shares their own network as a classroom link; a student is the server's first visitor."""
    context, pg = first_visit(browser, fresh_server, "/train?arch=custom&layers=c8k3p1-max2-c16k3-max2&opt=sgd"
                                                     "&lr=0.05&classroom=1", height=1400)
    main = pg.locator("[data-testid='stMainBlockContainer']")
    expect(main).to_contain_text("The network from your teacher's link")
    expect(main).to_contain_text("(16, 6, 6)")  # pool2: ⌊(14 + 2 − 3)/1⌋ + 1 = 12 → 6
    expect(main).to_contain_text("7,018")  # 80 + 1,168 + 5,770 parameters
    expect(main).to_contain_text("optimizer SGD + momentum · learning rate 0.05")
    expect(pg.get_by_role("slider", name="Epochs")).to_be_visible()
    expect(pg.get_by_text("Learning-rate schedule")).to_have_count(0)
    assert re.search(r"[?&]layers=c8k3p1-max2-c16k3-max2(&|$)", pg.url), pg.url
    assert re.search(r"[?&]classroom=1(&|$)", pg.url), pg.url
    context.close()


def test_editing_the_custom_network_updates_the_link(browser, shared_server):
    """A cell edit in the layer editor goes into the link; the link rebuilds that network elsewhere."""
    a, pa = first_visit(browser, shared_server, "/train?arch=custom&layers=c8k3-max2", height=1400)
    cell = open_cell_editor(pa, dx=172, dy=52)  # row 1, "channels / units"
    cell.fill("16")
    expect(cell).to_have_value("16")
    cell.press("Enter")
    pa.wait_for_function("() => /[?&]layers=c16k3-max2(&|$)/.test(window.location.search)")
    wait_for_app_idle(pa)
    expect(pa.locator("[data-testid='stMainBlockContainer']")).to_contain_text("(16, 13, 13)")
    link = pa.url.removeprefix(shared_server.url)
    a.close()

    b, pb = first_visit(browser, shared_server, link, height=1400)
    main = pb.locator("[data-testid='stMainBlockContainer']")
    expect(main).to_contain_text("(16, 13, 13)")  # conv 16×3×3 → (16, 26, 26), pool 2 → (16, 13, 13)
    expect(main).to_contain_text("27,210")  # 160 + 27,050 parameters
    b.close()


def test_malformed_link_shows_notice_not_traceback(browser, shared_server):
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.goto(f"{shared_server.url}/arithmetic?k=999999999999999999999&h=-1&pm=%00%ff&junk=<script>")
    wait_for_app_idle(pg, 60_000)
    main = pg.locator("[data-testid='stMainBlockContainer']")
    expect(main).to_contain_text("could not use")
    expect(main).to_contain_text("(1, 1, 3, 3)")
    assert "Traceback" not in main.inner_text()
    ctx.close()
