"""Routing helpers shared by the entry script and every page."""

from __future__ import annotations

import streamlit as st


def ensure_navigation() -> None:
    """Call first in every page file.

    Streamlit still scans a folder named ``pages/`` next to the entry script for the old (v1)
    multipage mode until the entry script has called ``st.navigation`` once in this server process.
    If the very first request to a fresh server is a deep link (``/pooling``), v1 mode runs that page
    file directly with an automatic page list instead of ConvLab's menu. Detect that, switch v1 mode
    off for the whole process and rerun: the rerun goes through ``streamlit_app.py`` and
    ``st.navigation``, which resolves the same URL path to the same page. (Page hashes are computed
    from the URL path, and our ``url_path`` values equal the file stems, so the rerun keeps the page.)
    Checked by the real-browser deep-link test against a fresh server.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
