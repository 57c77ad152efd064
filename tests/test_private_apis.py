"""ui/private_apis.py, the one module that touches Streamlit's and plotly's internals.

* The installed versions are the ones its list was checked against: an upgrade fails here first, and the
  review is that one file.
* Every internal it lists is still where it was (each accessor answers, none fell back).
* The fast plotly path falls back to st.plotly_chart on any error, and stays off.
* A rerun request for a fragment the session does not hold becomes a full run (the browser failover test,
  tests/test_replicas_browser.py, shows the effect end to end).
"""

from __future__ import annotations

import importlib.metadata

from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime.app_session import AppSession

from ui import private_apis
from ui import private_apis as reconnect


class _Session:
    """Holds one fragment, "known" (a new session after failover holds none of the old page's)."""

    def has_fragment(self, fragment_id: str) -> bool:
        return fragment_id == "known"


def test_the_private_api_it_wraps_is_there() -> None:
    assert callable(AppSession.request_rerun) and callable(AppSession.has_fragment)


def test_a_lost_fragment_becomes_a_full_run_with_the_same_values(monkeypatch) -> None:
    seen: list[ClientState | None] = []
    monkeypatch.setattr(AppSession, "request_rerun", lambda self, client_state=None: seen.append(client_state))
    monkeypatch.setattr(AppSession, "_convlab_lost_fragments", False, raising=False)
    reconnect.full_run_for_lost_fragments()
    reconnect.full_run_for_lost_fragments()  # idempotent: the entry script runs on every rerun

    lost = ClientState(fragment_id="gone", query_string="k=5&s=2", page_script_hash="abc")
    known = ClientState(fragment_id="known")
    for request in (lost, known, None):
        AppSession.request_rerun(_Session(), request)

    assert seen[0].fragment_id == "" and seen[0].query_string == "k=5&s=2" and seen[0].page_script_hash == "abc"
    assert lost.fragment_id == "gone"  # the browser's message itself is not changed
    assert seen[1] is known and seen[2] is None


def test_the_installed_versions_are_the_checked_ones() -> None:
    installed = {name: importlib.metadata.version(name) for name in private_apis.CHECKED_VERSIONS}
    assert installed == private_apis.CHECKED_VERSIONS, (
        "Streamlit or plotly moved: review every entry of ui/private_apis.PRIVATE_USES against the new "
        "version, then update CHECKED_VERSIONS")


def test_every_listed_internal_is_reachable() -> None:
    assert private_apis.plotly_parts() is not None and private_apis.plotly_arrays() is not None
    assert private_apis.page_not_found_error() is not Exception
    assert len(private_apis.PRIVATE_USES) >= 5 and all(u.what and u.why for u in private_apis.PRIVATE_USES)


FALLBACK_PAGE = """
import streamlit as st
from ui import fastfig, private_apis

def broken(*args, **kwargs):
    raise TypeError("an internal changed its signature")

parts = private_apis.plotly_parts()
fastfig._fast_path().parts = private_apis.PlotlyParts(parts.main_dg, broken, parts.layout_config,
                                                      parts.element_id, parts.chart_proto)
fig = fastfig.grid([[1.0, 2.0], [3.0, 4.0]])
fastfig.show(fig, "chart")
fastfig.show(fig, "again")
st.markdown(f"off={fastfig._fast_path().off}")
"""


def test_the_fast_plotly_path_falls_back_on_any_error_and_stays_off() -> None:
    from streamlit.testing.v1 import AppTest

    from ui import fastfig

    at = AppTest.from_string(FALLBACK_PAGE)
    try:
        at.run()
    finally:
        fastfig._fast_path.clear()  # the switch is per process: the next test gets a fresh one
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2 and at.markdown[0].value == "off=True"


def test_the_fast_plotly_path_works_on_the_checked_version() -> None:
    from streamlit.testing.v1 import AppTest

    from ui import fastfig

    page = FALLBACK_PAGE.replace("fastfig._fast_path().parts = ", "unused = ")
    fastfig._fast_path.clear()
    try:
        at = AppTest.from_string(page).run()
    finally:
        fastfig._fast_path.clear()
    assert not at.exception and len(at.get("plotly_chart")) == 2 and at.markdown[0].value == "off=False"
