"""A student whose session the server no longer holds still gets an answer to their first touch.

When a replica dies (or a server restarts), Streamlit's frontend reconnects to a server that has never
seen the student's session, and the page keeps showing the old view. If the student's next touch is a
widget inside an ``st.fragment`` (every lesson's interactive part is one, issue 13), the browser asks
for a rerun of *that fragment* only, and Streamlit drops the request because the new session holds no
such fragment ("The fragment with id … does not exist anymore"): the touch does nothing, and so does
every later touch inside a fragment. A failover test caught exactly that.

The fix turns such a request into a full run of the page with the same widget values, which is what
the student's first touch after a reconnect needs anyway (the page is rebuilt from the URL and those
values). It wraps one method of Streamlit's ``AppSession`` (a private API; streamlit is pinned in
requirements.txt and tests/test_replicas_browser.py exercises this path), installed once per process.
"""

from __future__ import annotations


def full_run_for_lost_fragments() -> None:
    """Install the wrapper (idempotent: the entry script runs on every rerun)."""
    from streamlit.runtime.app_session import AppSession

    if getattr(AppSession, "_convlab_lost_fragments", False):
        return
    original = AppSession.request_rerun

    def request_rerun(self, client_state=None):  # type: ignore[no-untyped-def]
        if client_state is not None and client_state.fragment_id and not self.has_fragment(client_state.fragment_id):
            from streamlit.proto.ClientState_pb2 import ClientState

            whole = ClientState()
            whole.CopyFrom(client_state)
            whole.fragment_id = ""
            client_state = whole
        return original(self, client_state)

    AppSession.request_rerun = request_rerun
    AppSession._convlab_lost_fragments = True
