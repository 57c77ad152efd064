"""ConvLab entry point: page config and navigation only (``streamlit run streamlit_app.py``)."""

import streamlit as st

from ui.registry import HOME, LESSONS

st.set_page_config(page_title="ConvLab: how CNNs see", page_icon="🧠", layout="wide")

pages = [st.Page(HOME.file, title=HOME.title, icon=HOME.icon, url_path=HOME.url_path, default=True)]
pages += [st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url_path) for p in LESSONS]

st.navigation(pages, position="sidebar", expanded=True).run()
