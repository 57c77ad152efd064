"""ConvLab entry point (``streamlit run streamlit_app.py``): page config and navigation only."""

import os

# Before any page first imports torch: OpenMP's busy-wait collapses training speed when the server's
# cores are shared (see core.training).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ui.nav import app_navigation  # noqa: E402

app_navigation().run()
