"""The Share control: one button, in the same place on every page, that hands out this view's link.

The address bar always holds the view's link (``ui.state`` writes it after every change, fragments
included), so the control reads ``window.location`` in the browser at the moment it is opened instead
of a link rendered by the server: it can never be a rerun behind, it costs the server nothing, and an
interaction inside an ``st.fragment`` (which does not redraw the page header) still shares the right
view. The link is put into an input's ``value`` and never parsed as HTML.
"""

from __future__ import annotations

import streamlit as st

_HTML = """
<div class="cl-share">
  <button type="button" class="cl-open" aria-expanded="false" aria-controls="cl-panel"
          title="A link that reopens exactly what you see now">🔗 Share</button>
  <div class="cl-panel" id="cl-panel" hidden>
    <label class="cl-row"><input type="checkbox" class="cl-classroom">
      Classroom link (hide advanced controls)</label>
    <input class="cl-link" type="text" readonly aria-label="Link to this view">
    <div class="cl-row"><button type="button" class="cl-copy">Copy link</button>
      <span class="cl-status" role="status"></span></div>
  </div>
</div>
"""

_CSS = """
.cl-share { font-family: var(--st-font, sans-serif); font-size: 0.95rem; position: relative; }
.cl-share button { font: inherit; cursor: pointer; border-radius: 0.5rem; padding: 0.35rem 0.8rem;
  border: 1px solid var(--st-border-color, #d5d7de); background: var(--st-background-color, #fff);
  color: var(--st-text-color, #31333f); white-space: nowrap; }
.cl-share button:hover { border-color: var(--st-primary-color, #ff4b4b); color: var(--st-primary-color, #ff4b4b); }
.cl-open { width: 100%; }
.cl-panel { position: absolute; right: 0; top: calc(100% + 0.4rem); z-index: 1000;
  width: min(26rem, calc(100vw - 2rem)); box-sizing: border-box; box-shadow: 0 4px 16px rgba(0,0,0,.15);
  padding: 0.6rem; border-radius: 0.5rem;
  border: 1px solid var(--st-border-color, #d5d7de); background: var(--st-secondary-background-color, #f0f2f6); }
.cl-row { display: flex; gap: 0.5rem; align-items: center; margin: 0.25rem 0; }
.cl-link { width: 100%; box-sizing: border-box; font-family: monospace; font-size: 0.85rem; padding: 0.3rem; }
"""

_JS = """
export default function (component) {
  const root = component.parentElement;
  const box = root.querySelector('.cl-share');
  if (!box || box.dataset.ready) return;  // mounted once; later reruns keep the same DOM
  box.dataset.ready = '1';
  const open = box.querySelector('.cl-open');
  const panel = box.querySelector('.cl-panel');
  const classroom = box.querySelector('.cl-classroom');
  const field = box.querySelector('.cl-link');
  const status = box.querySelector('.cl-status');
  const link = () => {
    const url = new URL(window.location.href);
    if (classroom.checked) url.searchParams.set('classroom', '1');
    else url.searchParams.delete('classroom');
    return url.toString();
  };
  const refresh = () => { field.value = link(); status.textContent = ''; };
  open.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    open.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) {
      classroom.checked = new URL(window.location.href).searchParams.get('classroom') === '1';
      refresh();
      field.select();
    }
  });
  classroom.addEventListener('change', refresh);
  box.querySelector('.cl-copy').addEventListener('click', async () => {
    refresh();
    try {
      await navigator.clipboard.writeText(field.value);
      status.textContent = 'Copied.';
    } catch (err) {  // no clipboard API over plain http: select it for Ctrl+C
      field.focus();
      field.select();
      status.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    }
  });
}
"""


@st.cache_resource(show_spinner=False)
def _renderer():
    """Registered once per server process (registering again each run would log a warning)."""
    return st.components.v2.component("convlab_share", html=_HTML, css=_CSS, js=_JS)


def share_control() -> None:
    _renderer()(key="convlab_share")
