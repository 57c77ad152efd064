"""The server's one store (``core.store``), and the browser token that keys a student's kept models.

The token lives in the browser (``browser_token.js``, localStorage); on the first run that receives it,
the models kept under it are written back into the session's private folder, where the pages' model
lists and ``core.infer.runtime.load_model`` treat them as any export (hash-checked sidecar, plan check).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.store import models
from core.store.store import Store, StoreUnavailable

TOKEN_KEY = "convlab.session_token"  # the same key ui.export_panel.session_token reads
ADOPTED_KEY = "convlab.browser_token_adopted"
RESTORE_NOTE_KEY = "convlab.restore_note"


@st.cache_resource(show_spinner=False)
def store() -> Store:
    """Opened (and migrated) once per server process; a failure is not cached, so the next run retries."""
    return Store.open()


@st.cache_resource(show_spinner=False)
def _renderer():
    return st.components.v2.component(
        "convlab_browser_token", html="<span hidden></span>",
        js=(Path(__file__).parent / "browser_token.js").read_text())


def adopt(token: str) -> None:
    """Make ``token`` this session's and bring back what is kept under it (a note says what went wrong)."""
    from core.infer.session_folders import SessionFolderError, ensure_session_dir

    st.session_state[TOKEN_KEY] = token
    st.session_state[ADOPTED_KEY] = token
    try:
        kept = store()
        models.expire(kept)
        restored = models.restore_into(kept, token, ensure_session_dir(token))
    except (StoreUnavailable, SessionFolderError, OSError) as exc:
        st.session_state[RESTORE_NOTE_KEY] = f"Your kept models could not be brought back: {exc}"
        return
    if restored:
        st.session_state[RESTORE_NOTE_KEY] = f"Brought back {len(restored)} model(s) you exported earlier."
    # Once per session: the page listed its models (under the session's first token) before the header
    # ran; run it again so the list is this browser's.
    st.rerun()


def browser_token() -> None:
    """Mount the (invisible) token element; adopt the token the first time it arrives."""
    result = _renderer()(key="convlab_browser_token", data={"known": st.session_state.get(ADOPTED_KEY)})
    token = result.get("token") if result is not None else None
    if isinstance(token, str) and models.TOKEN_RE.match(token) and token != st.session_state.get(ADOPTED_KEY):
        adopt(token)
