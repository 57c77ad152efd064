"""Real browser: a link's text never becomes a link or an image on any page.

Every registered page is opened with Markdown link and image syntax in every parameter it writes into its
own share link, and in unknown keys; the rendered page must hold no ``<a href>`` to the foreign host and
the browser must send it no request (an image in Markdown would make every visitor fetch it). AppTest
sees only Markdown source, so only a browser can tell. New pages join automatically (ui.registry).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.conftest import wait_for_app_idle
from ui.registry import HOME, LESSONS

FOREIGN = "example.invalid"
# Link, image and raw HTML syntax in ONE value: every parameter carries all three at once, so one page load
# per page tests them all (each renders if anything on the page reads that value as Markdown or HTML).
PAYLOAD = (f"[Log in again](http://{FOREIGN}/l) ![](http://{FOREIGN}/px.png) "
           f"<img src='http://{FOREIGN}/h.png'><a href='http://{FOREIGN}/a'>x</a>")
PAGES = (HOME, *LESSONS)
# Links and images that point AT the foreign host, in the document and in every open shadow root. (Our own
# navigation links carry the page's query string, payload included, but stay on our host: not counted.)
FOREIGN_JS = """(host) => {
  const found = {links: [], images: []};
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      for (const [attr, kind] of [['href', 'links'], ['src', 'images']]) {
        const v = el.getAttribute(attr);
        if (v) { try { if (new URL(v, location.href).hostname === host) found[kind].push(el.outerHTML.slice(0, 200)); }
                 catch (e) {} }
      }
      if (el.shadowRoot) visit(el.shadowRoot);
    }
  };
  visit(document);
  return found;
}"""


def own_keys(page, module_server, path: str) -> list[str]:
    """The keys the page writes into its own link (its share-link schema), read from the address bar."""
    page.goto(f"{module_server.url}/{path}")
    wait_for_app_idle(page, 120_000)
    return [k for k, _ in parse_qsl(urlsplit(page.url).query, keep_blank_values=True) if k != "classroom"]


@pytest.mark.browser
@pytest.mark.parametrize("info", PAGES, ids=lambda p: p.url_path)
def test_link_text_never_becomes_a_link_or_an_image(module_server, browser, info) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    foreign: list[str] = []
    context.on("request", lambda req: foreign.append(req.url) if urlsplit(req.url).hostname == FOREIGN else None)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        keys = own_keys(page, module_server, info.url_path)
        params = {k: PAYLOAD for k in keys}
        params.update({"zzz": PAYLOAD, PAYLOAD: "1"})  # unknown keys, one named by the payload itself
        page.goto(f"{module_server.url}/{info.url_path}?{urlencode(params)}")
        wait_for_app_idle(page, 120_000)
        page.locator("h1").first.wait_for()
        if keys:  # the page read the link and said what it could not use, quoting it
            page.get_by_text("could not use").first.wait_for()
        found = page.evaluate(FOREIGN_JS, FOREIGN)
        assert found == {"links": [], "images": []}, f"{info.url_path}: {found}"
        assert not foreign, f"{info.url_path}: the browser requested {foreign[:3]}"
    finally:
        context.close()
