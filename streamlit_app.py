"""ConvLab entry point (``streamlit run streamlit_app.py``): page config and navigation only."""

from ui.nav import app_navigation

app_navigation().run()
