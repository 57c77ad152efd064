"""On a real page: the Share panel's QR code, as Chromium draws it, decodes to the link in the box."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import expect

from benchmarks.harness import wait_for_app_idle
from core.links.qr import qr_svg
from tests.test_share_qr import decode

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", ["/draw", "/filters"])
def test_share_qr_is_the_link(shared_server, page, path):
    page.goto(f"{shared_server.url}{path}")
    wait_for_app_idle(page)
    page.get_by_role("button", name="Share this view").click()
    image = page.get_by_role("img", name="QR code of this link")
    expect(image).to_be_visible()
    for classroom in (False, True):
        if classroom:
            page.get_by_label("Classroom link (hide advanced controls)").check()
        link = page.locator(".cl-link").input_value()
        assert ("classroom=1" in link) is classroom
        expect(image).to_be_visible()
        src = image.get_attribute("src")
        assert base64.b64decode(src.split(",", 1)[1]) == qr_svg(link)  # made by the server from this link
        assert decode(image.screenshot()) == link  # and what a phone's camera would read off the screen
