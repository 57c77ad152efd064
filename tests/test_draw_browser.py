"""Real browser: draw digits on the draw page's canvas (ui.canvas) with the mouse and with a finger, and
read the prediction; Undo, Clear and the ink colour work in the browser without losing a stroke."""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import wait_for_app_idle
from tests.test_preprocess import stroke_points
from ui.canvas import CANVAS_PX
from ui.canvas import SELECTOR as CANVAS

# Where each digit is drawn on the 280×280 canvas (left, top, width, height), like a student would.
DRAWINGS = {
    "1": (95, 35, 80, 210),
    "0": (70, 40, 140, 200),
    "7": (55, 45, 165, 200),
}


def draw(page, digit: str) -> None:
    canvas = page.locator(CANVAS).first
    canvas.wait_for()
    box = canvas.bounding_box()
    scale = box["width"] / CANVAS_PX

    def to_page(p: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + p[0] * scale, box["y"] + p[1] * scale

    for stroke in stroke_points(digit, DRAWINGS[digit]):
        page.mouse.move(*to_page(stroke[0]))
        page.mouse.down()
        steps = 18 if len(stroke) <= 3 else 2  # long polylines (the "0") have many points already
        for point in stroke[1:]:
            page.mouse.move(*to_page(point), steps=steps)
        page.mouse.up()


@pytest.mark.browser
def test_drawing_digits_gives_the_right_prediction(shared_server, page) -> None:
    page.goto(f"{shared_server.url}/draw")
    wait_for_app_idle(page)
    page.get_by_text("No digit").first.wait_for()
    for digit in ("1", "0", "7"):
        draw(page, digit)
        page.get_by_text(f"Prediction: {digit}", exact=True).wait_for(timeout=30_000)
        page.get_by_text("Top 3:").wait_for()
        page.get_by_role("button", name="🧽 Clear").click()
        page.get_by_text("No digit").first.wait_for(timeout=30_000)


@pytest.mark.browser
def test_share_link_restores_the_settings(shared_server, page) -> None:
    """A link with model, stroke width, steps and test digit opens exactly that view; the steps' switches
    (in a popover above the canvas, outside the lesson fragment) show it and change it."""
    page.goto(f"{shared_server.url}/draw?m=lenet5&src=test&t=1&crop=0&w=30")
    wait_for_app_idle(page)
    page.get_by_text("Official MNIST test digit #1: labelled 2").wait_for()
    page.get_by_text("About LeNet-5").wait_for()
    page.get_by_text("2. (not cropped)", exact=True).wait_for()
    page.get_by_role("button", name="⚙️ Preprocessing steps").click()
    crop = page.get_by_role("switch", name="Crop to the ink")
    assert not crop.is_checked()
    assert "crop=0" in page.url and "m=lenet5" in page.url
    # switched on again: the pictures, the table and the link follow
    page.get_by_test_id("stPopoverBody").get_by_text("Crop to the ink", exact=True).click()
    page.get_by_text("2. cropped", exact=True).wait_for()
    page.wait_for_function("() => !location.search.includes('crop=0') && location.search.includes('m=lenet5')")
    assert crop.is_checked()


@pytest.mark.browser
def test_a_stroke_drawn_right_after_clear_is_kept(shared_server, page) -> None:
    """Clear empties the canvas in the browser, so a digit drawn the moment after Clear
    (while any rerun is still in flight) is never lost. Nothing is awaited between Clear and drawing, and
    afterwards only the prediction is."""
    page.goto(f"{shared_server.url}/draw")
    wait_for_app_idle(page)
    draw(page, "1")
    page.get_by_text("Prediction: 1", exact=True).wait_for(timeout=30_000)
    for digit in ("7", "0"):
        page.get_by_role("button", name="🧽 Clear").click()
        draw(page, digit)  # at once: no wait for "No digit" or for the app to be idle
        page.get_by_text(f"Prediction: {digit}", exact=True).wait_for(timeout=30_000)
    # Clear really empties the canvas the model reads
    page.get_by_role("button", name="🧽 Clear").click()
    page.get_by_text("No digit").first.wait_for(timeout=30_000)


# The canvas's own pixels at a point of its 280×280 drawing grid (read in the page: its shadow root is open).
PIXEL_JS = """([x, y]) => {
  const c = [...document.querySelectorAll("[data-testid='stBidiComponentIsolated']")]
    .map((h) => h.shadowRoot && h.shadowRoot.querySelector('canvas.cl-canvas')).find(Boolean);
  const s = c.width / 280;
  return Array.from(c.getContext('2d').getImageData(Math.floor(x * s), Math.floor(y * s), 1, 1).data);
}"""


@pytest.mark.browser
def test_undo_takes_back_the_last_stroke_and_the_ink_colour_redraws(shared_server, page) -> None:
    """Undo and the ink colour act in the browser: Undo sends the drawing without its last stroke; black
    ink on white redraws the same strokes (nothing is lost) and the page reads the same digit, inverted."""
    page.goto(f"{shared_server.url}/draw")
    wait_for_app_idle(page)
    draw(page, "7")
    page.get_by_text("Prediction: 7", exact=True).wait_for(timeout=30_000)
    wait_for_app_idle(page)
    seen = page.locator("[data-testid='draw-seen']")
    seven = seen.get_attribute("src")  # the 28×28 picture the model read
    draw(page, "1")  # a second stroke on top of the 7 ...
    page.wait_for_function("(s) => document.querySelector(\"[data-testid='draw-seen']\").src !== s", arg=seven)
    page.get_by_role("button", name="↶ Undo").click()  # ... taken back: the model reads the 7 again
    page.wait_for_function("(s) => document.querySelector(\"[data-testid='draw-seen']\").src === s", arg=seven)
    page.get_by_text("Prediction: 7", exact=True).wait_for(timeout=30_000)
    wait_for_app_idle(page)
    assert page.evaluate(PIXEL_JS, [5, 5])[:3] == [0, 0, 0]  # paper
    page.get_by_text("black on white").click()
    page.get_by_text("1. grayscale, inverted").wait_for(timeout=30_000)
    page.get_by_text("Prediction: 7", exact=True).wait_for(timeout=30_000)
    assert page.evaluate(PIXEL_JS, [5, 5])[:3] == [255, 255, 255]  # the paper is white now ...
    assert page.evaluate(PIXEL_JS, [137, 50])[:3] == [0, 0, 0]  # ... and the 7's bar black
    page.get_by_role("button", name="↶ Undo").click()  # the only stroke left: the canvas is empty
    page.get_by_text("No digit").first.wait_for(timeout=30_000)
    assert page.get_by_role("button", name="↶ Undo").is_disabled()


def touch_draw(page, cdp, digit: str) -> None:
    """Draw ``digit`` with a finger: CDP touch events (Playwright has a tap but no touch drag)."""
    box = page.locator(CANVAS).first.bounding_box()
    scale = box["width"] / CANVAS_PX
    for stroke in stroke_points(digit, DRAWINGS[digit]):
        points = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in stroke]
        dense = [points[0]]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):  # a finger moves in small steps
            n = 12 if len(points) <= 3 else 2
            dense += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(1, n + 1)]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": dense[0][0], "y": dense[0][1]}]})
        for x, y in dense[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


@pytest.mark.browser
def wait_until_still(locator) -> None:
    """Until the element's box is the same in two animation frames running: a tap whose touchstart and
    touchend land on a moving button is no click."""
    locator.evaluate("""(el) => new Promise((done) => {
        let last = '';
        const look = () => {
            const r = el.getBoundingClientRect(), now = [r.x, r.y, r.width, r.height].join();
            if (now === last) done(); else { last = now; requestAnimationFrame(look); }
        };
        requestAnimationFrame(look);
    })""")


def tap_until(page, button, shown, tries: int = 3) -> None:
    """Tap ``button`` until ``shown`` is visible. A tap is a touchstart and a touchend; when the element
    under the finger is re-rendered in between (the canvas element redraws after each run), the browser
    makes no click of it and nothing happens, so the tap is repeated, never more than ``tries`` times."""
    for attempt in range(tries):
        wait_until_still(button)
        button.tap()
        try:
            shown.wait_for(timeout=10_000 if attempt < tries - 1 else 30_000)
            return
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise


def test_drawing_with_a_finger_on_a_phone(shared_server, browser) -> None:
    """On a 390×844 touch screen a finger-drawn digit is read correctly, and the answer sits
    right under the canvas, so canvas and prediction fit on one screen while drawing."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{shared_server.url}/draw")
        wait_for_app_idle(page)
        page.get_by_text("with your finger or mouse").wait_for()
        cdp = context.new_cdp_session(page)
        for digit in ("7", "1"):
            # the page scrolled down to centre the canvas: a finger moving down could scroll it back up
            canvas = page.locator(CANVAS).first
            page.evaluate("() => document.querySelector('h1').scrollIntoView()")  # back to the top first
            top = canvas.evaluate("(c) => c.getBoundingClientRect().top")
            canvas.evaluate("(c) => c.scrollIntoView({block: 'center'})")
            wait_until_still(canvas)
            scrolled = canvas.evaluate("(c) => c.getBoundingClientRect().top")
            assert scrolled < top - 50, (top, scrolled)
            touch_draw(page, cdp, digit)
            # touch-action: none: the finger drew, it did not scroll the page (the strokes run downwards)
            assert canvas.evaluate("(c) => c.getBoundingClientRect().top") == scrolled
            answer = page.get_by_text(f"Prediction: {digit}", exact=True)
            answer.wait_for(timeout=30_000)
            canvas = page.locator(CANVAS).first.bounding_box()
            assert canvas["x"] >= 0 and canvas["x"] + canvas["width"] <= 390, canvas  # fits the phone's width
            shown = answer.bounding_box()
            assert shown["y"] + shown["height"] - canvas["y"] <= 844, (canvas, shown)  # both on one screen
            # A tap is a touchstart and a touchend; if the rerun that brought the answer re-lays the page out
            # in between, the browser makes no click of it. Tap once the run has finished, as a student would.
            wait_for_app_idle(page)
            tap_until(page, page.get_by_role("button", name="🧽 Clear"), page.get_by_text("No digit").first)
            wait_for_app_idle(page)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width} px wide)"
    finally:
        context.close()
