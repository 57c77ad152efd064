"""The server's one store (``core.store``), and the browser token that keys a student's kept models.

The token lives in the browser (``browser_token.js``, localStorage); on the first run that receives it,
the models kept under it are written back into the session's private folder, where the pages' model
lists and ``core.infer.runtime.load_model`` treat them as any export (hash-checked sidecar, plan check).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import streamlit as st

from core.store import models
from core.store.store import Store, StoreUnavailable

TOKEN_KEY = "convlab.session_token"  # the same key ui.export_panel.session_token reads
COOKIE = "convlab_token"
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


def adopt(token: str, rerun: bool = True) -> None:
    """Make ``token`` this session's and bring back what is kept under it (a note says what went wrong)."""
    from core.infer.session_folders import SessionFolderError, ensure_session_dir

    st.session_state[TOKEN_KEY] = token
    try:
        kept = store()
        models.expire(kept)
        folder = ensure_session_dir(token)
        restored = models.restore_into(kept, token, folder)
    except (StoreUnavailable, SessionFolderError, OSError) as exc:
        st.session_state[RESTORE_NOTE_KEY] = f"Your kept models could not be brought back: {exc}"
        return
    if restored:
        st.session_state[RESTORE_NOTE_KEY] = f"Brought back {len(restored)} model(s) you exported earlier."
    if rerun and any(folder.glob("*.onnx")):
        # Once per session, and only for a browser with models: the page listed its models (under the
        # session's first token) before the header ran, so run it again to list this browser's. A browser
        # without models is not rerun, so a first run's notes (what a link could not use) stay on screen.
        st.rerun()


def session_token() -> str:
    """This browser's token: from its cookie when the session starts (its kept models are brought back
    before the page lists models), else a new random one the browser will keep (``browser_token.js``)."""
    if TOKEN_KEY not in st.session_state:
        cookie = _cookie()
        if cookie:
            adopt(cookie, rerun=False)
        else:
            st.session_state[TOKEN_KEY] = secrets.token_hex(16)
    return st.session_state[TOKEN_KEY]


def _cookie() -> str:
    try:
        value = st.context.cookies.get(COOKIE, "")
    except Exception:  # no request to read (a bare script): no cookie
        return ""
    return value if isinstance(value, str) and models.TOKEN_RE.match(value) else ""


def browser_token() -> None:
    """Mount the (invisible) token element; adopt a token the browser sends (a stored one it had)."""
    result = _renderer()(key="convlab_browser_token", data={"token": session_token()})
    token = result.get("token") if result is not None else None
    if isinstance(token, str) and models.TOKEN_RE.match(token) and token != st.session_state.get(TOKEN_KEY):
        adopt(token)
