"""ConvLab entry point (``streamlit run streamlit_app.py``): page config and navigation only."""

from core.threads import configure_openmp

configure_openmp()  # before any page first imports torch (see core.threads)

from ui.nav import app_navigation  # noqa: E402
from ui.private_apis import full_run_for_lost_fragments  # noqa: E402

full_run_for_lost_fragments()  # a touch inside a fragment after a failover reruns the page instead of nothing

app_navigation().run()
