"""Routing shared by the entry script and every page."""

from __future__ import annotations

import streamlit as st

from ui import private_apis
from ui.page_style import app_css
from ui.registry import HOME, PAGES


def app_navigation() -> st.Page:
    """Page config and ConvLab's menu; returns the page the URL asks for (the caller runs it)."""
    st.set_page_config(page_title="ConvLab: how CNNs see", page_icon="🧠", layout="wide")
    pages = [st.Page(HOME.file, title=HOME.title, icon=HOME.icon, url_path=HOME.url_path, default=True)]
    pages += [st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url_path) for p in PAGES]
    page = st.navigation(pages, position="sidebar", expanded=True)
    app_css()
    return page


def ensure_navigation() -> None:
    """Call first in every page file.

    Streamlit still treats a folder named ``pages/`` next to the entry script as the old (v1)
    multipage layout until the entry script has called ``st.navigation`` in this server process. If
    the very first request to a fresh server is a deep link (``/pooling``), v1 mode runs that page file
    directly, with an automatic page list instead of ConvLab's menu. When that happens, switch v1 mode
    off for the whole process and rerun: the rerun goes through ``streamlit_app.py`` and
    ``st.navigation``, which resolves the same URL to this page (page hashes come from URL paths, and
    our url_path values equal the file stems). Installing the menu from here without a rerun was
    tried and rejected: the browser then loses its widget values on the next interaction.
    Checked by the real-browser deep-link tests against fresh servers.
    """
    if private_apis.leave_legacy_pages_mode():
        st.rerun()
