"""ConvLab entry point (``streamlit run streamlit_app.py``): page config and navigation only."""

from core.threads import configure_openmp

configure_openmp()  # before any page first imports torch (see core.threads)

from ui.nav import app_navigation  # noqa: E402

app_navigation().run()
