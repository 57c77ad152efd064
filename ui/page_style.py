"""Small CSS adjustments the lesson pages share (sent as one style element, it takes no space on the page)."""

from __future__ import annotations

import streamlit as st

_CSS = """<style>
/* "(1, 64, 64, 64)" fits half of a lesson column at 1280 px a size smaller than Streamlit's default */
[data-testid='stMetricValue'] { font-size: 1.75rem; }
/* On a touch screen the table/chart toolbars stay up and cover titles and sliders: nobody needs them here */
[data-testid='stElementToolbar'] { display: none; }
/* A wide Markdown table scrolls inside itself instead of pushing the whole page sideways on a phone */
[data-testid='stMarkdownContainer'] table { display: block; overflow-x: auto; max-width: 100%; }
/* so does a long worked formula (KaTeX): 544 px of it scrolled the pooling page sideways at 390 px.
   position: relative makes the box the containing block of KaTeX's absolutely placed MathML copy, which
   otherwise escaped the scroll box and widened the page now and then */
.katex-display { overflow-x: auto; overflow-y: hidden; padding-bottom: 2px; position: relative; }
</style>"""


# Every page: Streamlit's heading anchor (a second 🔗 that stays visible after a tap on a phone, right above
# the Share button) is hidden; ConvLab's Share is the way to link a view.
_APP_CSS = """<style>
[data-testid='stHeaderActionElements'] { display: none !important; }
/* The Train page's bar (Train, Stop, progress) stays at the top while the settings scroll under it. Sticky
   applies to the bar's own wrapper, whose parent is the page's column; on a phone (columns stacked) the
   bar would cover a quarter of the screen, so there it scrolls with the page. */
@media (min-width: 641px) {
  [data-testid="stLayoutWrapper"]:has(> .st-key-train-bar) { position: sticky; top: 0; z-index: 20; background: #fff; }
}
.st-key-train-bar { padding: 0.5rem 0 0.25rem; border-bottom: 1px solid rgba(49, 51, 63, 0.15); }
</style>"""


def lesson_css() -> None:
    st.html(_CSS)


def app_css() -> None:
    """The style every page shares; the entry script sends it once per run, before the page."""
    st.html(_APP_CSS)
