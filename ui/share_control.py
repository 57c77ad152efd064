"""The Share control: one button, in the same place on every page, that hands out this view's link.

The address bar always holds the view's link (``ui.state`` writes it after every change, fragments
included), so the control reads ``window.location`` in the browser at the moment it is opened instead
of a link rendered by the server: it can never be a rerun behind, it costs the server nothing, and an
interaction inside an ``st.fragment`` (which does not redraw the page header) still shares the right
view. The link is put into an input's ``value`` and never parsed as HTML.
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


def share_control() -> None:
    _renderer()(key="convlab_share")
