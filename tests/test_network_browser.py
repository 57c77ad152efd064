"""Real browser: draw on the "Inside the network" page, click a unit on the clickable map, and check the
share link carries the drawn digit. (AppTest sees neither the canvas nor plotly click events.)"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from core.infer import plan as layer_plan
from core.links.network import decode_digit
from core.infer.runtime import SHIPPED_DIR, load_model
from tests.conftest import wait_for_app_idle
from tests.test_draw_browser import draw


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


@pytest.mark.browser
def test_a_drawn_digit_goes_through_every_layer_and_into_the_link(shared_server, page) -> None:
    page.goto(f"{shared_server.url}/network?src=draw&m=lenet5")
    wait_for_app_idle(page, 60_000)
    page.get_by_text("Draw a digit (or pick a test digit)").wait_for()
    draw(page, "7")
    page.wait_for_url(re.compile(r"src=link.*img=|img=.*src=link"), timeout=60_000)
    wait_for_app_idle(page, 60_000)
    digit = decode_digit(_query(page.url)["img"])  # the link holds the 28×28 digit the page ran
    model = load_model(SHIPPED_DIR / "lenet5.onnx")
    logits = model.session.run(["logits"], {"image": layer_plan.normalise(digit, model.card.mean, model.card.std)})[0]
    page.get_by_text(f"Prediction: {int(np.argmax(logits))}").first.wait_for(timeout=30_000)
    page.get_by_text("ReLU after dense2").first.wait_for()  # the overview reached the last hidden layer


@pytest.mark.browser
def test_clicking_a_cell_opens_that_unit(shared_server, page) -> None:
    page.goto(f"{shared_server.url}/network?m=lenet5&L=conv1&c=2&r=12&q=14")
    wait_for_app_idle(page, 60_000)
    page.get_by_text("Channel 2, row 12, column 14").first.wait_for()
    chart = page.locator("[class*='st-key-network-pick-'] [data-testid='stPlotlyChart']").first  # keys: . → -
    chart.scroll_into_view_if_needed()
    area = chart.locator(".nsewdrag").first.bounding_box()
    # conv1 is 28×28: click the middle of cell (row 3, column 20)
    page.mouse.click(area["x"] + area["width"] * 20.5 / 28, area["y"] + area["height"] * 3.5 / 28)
    page.get_by_text("Channel 2, row 3, column 20").first.wait_for(timeout=30_000)
    page.wait_for_url(re.compile(r"[?&]r=3(&|$)"), timeout=30_000)
    assert _query(page.url)["q"] == "20"
