"""The Share control: one button, in the same place on every page, that hands out this view's link.

The address bar always holds the view's link (``ui.state`` writes it after every change, fragments
included), so the control reads ``window.location`` in the browser at the moment it is opened instead
of a link rendered by the server: it can never be a rerun behind, it costs the server nothing, and an
interaction inside an ``st.fragment`` (which does not redraw the page header) still shares the right
view. The link is put into an input's ``value`` and never parsed as HTML.

The QR codes are made by the server (``core.links.qr``) from the view's settings when the page draws;
the panel shows one only while it equals the address bar's link (a change inside a lesson's fragment
makes it one step behind: the panel then says so instead of showing a stale code).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

_HTML = """
<div class="cl-share">
  <button type="button" class="cl-open" aria-expanded="false" aria-controls="cl-panel"
          aria-label="Share this view"
          title="Share: a link that reopens exactly what you see now">🔗</button>
  <div class="cl-panel" id="cl-panel" hidden>
    <label class="cl-row"><input type="checkbox" class="cl-classroom">
      Classroom link (hide advanced controls)</label>
    <input class="cl-link" type="text" readonly aria-label="Link to this view">
    <div class="cl-row"><button type="button" class="cl-copy">Copy link</button>
      <span class="cl-status" role="status"></span></div>
    <figure class="cl-qr" hidden><img class="cl-qr-img" alt="">
      <figcaption class="cl-qr-note"></figcaption></figure>
  </div>
</div>
"""




def _asset(ext: str) -> str:
    """The element's own JavaScript or CSS file, beside this module (read once, with the element)."""
    return (Path(__file__).parent / f"share_control.{ext}").read_text()


@st.cache_resource(show_spinner=False)
def _renderer():
    """Registered once per server process (registering again each run would log a warning)."""
    return st.components.v2.component("convlab_share", html=_HTML, css=_asset("css"), js=_asset("js"))


def page_url() -> str:
    """This page's address without its query ("" when unknown, e.g. under AppTest)."""
    url = st.context.url or ""
    return url.split("?", 1)[0].split("#", 1)[0] if url.startswith(("http://", "https://")) else ""


def qr_payload(query: dict[str, str]) -> dict[str, str]:
    """The link of this view (and its classroom link) with their QR codes, made here from ``query``."""
    from urllib.parse import urlencode

    from core.links.qr import MAX_LINK_CHARS, qr_data_uri

    base = page_url()
    plain = {k: v for k, v in query.items() if k != "classroom"}
    links = {"link": base + ("?" + urlencode(plain) if plain else ""),
             "classroom_link": base + "?" + urlencode({**plain, "classroom": "1"})}
    if not base or any(len(v) > MAX_LINK_CHARS for v in links.values()):
        return {}
    return {**links, "qr": qr_data_uri(links["link"]), "classroom_qr": qr_data_uri(links["classroom_link"])}


def share_control(query: dict[str, str] | None = None) -> None:
    """``query``: this view's settings as the link carries them; its QR codes are drawn in the panel."""
    _renderer()(key="convlab_share", data=qr_payload(query) if query is not None else {})
