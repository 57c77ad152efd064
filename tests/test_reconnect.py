"""ui/reconnect.py: a rerun request for a fragment the session does not hold becomes a full run.

The browser failover test (tests/test_replicas_browser.py) shows the effect end to end; this pins the
wrapper's contract against Streamlit's private API, so an upgrade that renames it fails here first.
"""

from __future__ import annotations

from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime.app_session import AppSession

from ui import reconnect


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
