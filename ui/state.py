"""Page state ↔ URL: the only module that moves a lesson's settings between the link, its widgets and
``st.session_state``.

Usage in a page (``PoolingSettings`` is a ``core.links.settings.Settings`` dataclass)::

    keys = state.bind(PoolingSettings)          # before any widget: link or session → widget state
    state.header(PoolingSettings, "🧮 Pooling", "intro…")   # title, the Share control, teacher's values
    if keys.offered("p"):                       # False when a classroom link hides the field
        st.slider("Padding", 0, 4, key=keys.p)  # no value=: state drives the widget
    cfg = state.current(PoolingSettings)        # typed and validated; hidden values included
    ...
    state.finish(cfg)                           # after the widgets: URL := this view

Inside an ``st.fragment`` (which reruns without the rest of the page) call ``state.sync(Cls)`` after the
fragment's widgets instead of ``finish``: it writes the same link from the current state.

Rules: a link's parameters win the first time they are seen; when the student comes back to a page
in the same session (the URL has been cleared by navigation) their last values are restored;
malformed parameters fall back to defaults with one short notice.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import streamlit as st

from core.links import share
from core.links.settings import Settings
from ui.text import literal

S = TypeVar("S", bound=Settings)

CLASSROOM_KEY = "classroom"
SENT_KEPT = 64  # query strings remembered per page (see _sent)


def wkey(page: str, key: str) -> str:
    """Session-state key of a page's widget (keeps pages from trampling each other's state)."""
    return f"{page}.{key}"


def _page_params(params: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in share.GLOBAL_KEYS}


def _seed(page: str, schema: Sequence[share.Param]) -> dict[str, Any]:
    """Seed the page's widget state from the URL or from the session; returns the seeded values."""
    params = _query()
    _read_classroom(params)
    page_params = incoming_link(page, params, schema)
    if page_params:
        decoded = share.decode(schema, page_params)
        for key, value in decoded.values.items():
            st.session_state[wkey(page, key)] = value
        st.session_state[f"_notices.{page}"] = decoded.notices
        st.session_state[f"_saved.{page}"] = dict(decoded.values)
        _sent(page, page_params)  # now one of this session's own views (see incoming_link)
    else:
        saved = st.session_state.get(f"_saved.{page}") or share.defaults(schema)
        for param in schema:
            if wkey(page, param.key) not in st.session_state:
                st.session_state[wkey(page, param.key)] = saved.get(param.key, param.default)
    notices = st.session_state.pop(f"_notices.{page}", ())
    if notices:  # a notice quotes the link's text: shown literally, never as Markdown
        st.warning("This link had settings ConvLab could not use, so defaults were used instead:\n\n"
                   + "\n".join(f"- {literal(n, 300)}" for n in notices[:6]), icon="🔗")
    return {p.key: st.session_state[wkey(page, p.key)] for p in schema}


# ---------------------------------------------------------------------------------------------
# Typed settings (core.links.settings.Settings)


class Keys:
    """Widget keys of a settings class's fields (``keys.k``), and whether a field gets a widget."""

    def __init__(self, cls: type[Settings]) -> None:
        self._cls = cls
        self._names = frozenset(cls.names())
        self._hidden = frozenset(cls.hidden()) if is_classroom() else frozenset()

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(f"{self._cls.__name__} has no setting {name!r}")
        return wkey(self._cls.PAGE, name)

    def key(self, name: str) -> str:
        return getattr(self, name)

    def offered(self, name: str) -> bool:
        """False when a classroom link hides ``name``: the page must not draw its widget."""
        if name not in self._names:
            raise AttributeError(f"{self._cls.__name__} has no setting {name!r}")
        return name not in self._hidden


def bind(cls: type[Settings]) -> Keys:
    """Before any widget: seed the page's widget state from a link just opened or from this session."""
    _seed(cls.PAGE, cls.schema())
    return Keys(cls)


def current(cls: type[S]) -> S:
    """The page's settings now (widgets' values, and a teacher's values for hidden fields), validated."""
    page = cls.PAGE
    values = {name: st.session_state[wkey(page, name)] for name in cls.names() if wkey(page, name) in st.session_state}
    return cls.from_values(values)


def put(cls: type[Settings], **values: Any) -> None:
    """Set fields' widget values from code (a button's callback, a click on a picture)."""
    for name, value in values.items():
        if name not in cls.names():
            raise AttributeError(f"{cls.__name__} has no setting {name!r}")
        st.session_state[wkey(cls.PAGE, name)] = value


def sync(cls: type[Settings]) -> dict[str, str]:
    """Write the link from the current state; safe inside an ``st.fragment`` rerun."""
    return _write_link(current(cls))


@functools.lru_cache(maxsize=1)
def _layout_css() -> str:
    return "<style>" + (Path(__file__).resolve().parent / "layout.css").read_text(encoding="utf-8") + "</style>"


def layout_css() -> None:
    """The page-wide layout rules (``ui/layout.css``): the header row, rows of pictures kept in a row."""
    st.html(_layout_css())


def header(cls: type[Settings], title: str, intro: str = "") -> None:
    """The top of every lesson: title, the Share control in the same place on every page, the intro,
    and in a classroom link the values the teacher chose for the controls it hides."""
    from ui.share_control import share_control
    from ui.store_access import RESTORE_NOTE_KEY, browser_token

    layout_css()
    with st.container(key="cl-header"):  # ui/layout.css keeps title and Share on one line on a phone
        head, share_col = st.columns([6, 1], vertical_alignment="center")
        head.title(title)
        with share_col:
            share_control(share.encode(cls.schema(), current(cls).values()))
    with st.container(key="cl-token"):  # invisible, out of the flow (ui/layout.css): takes no room on a phone
        browser_token()  # the browser's anonymous token, so exported models come back
    note = st.session_state.pop(RESTORE_NOTE_KEY, None)
    if note:
        st.toast(note, icon="💾")
    if intro:  # folded to two lines on a phone, opened by a tap (ui/layout.css)
        st.container(key="cl-intro").markdown(intro)
    choices = current(cls).teacher_choices() if is_classroom() else ()
    if choices:
        st.caption("Set by your teacher: " + " · ".join(
            f"{literal(label)} **{literal(value)}**" for label, value in choices))


def _query() -> dict[str, str]:
    try:
        return st.query_params.to_dict()
    except Exception:  # a query string Streamlit itself cannot parse: start clean
        return {}


def incoming_link(page: str, params: Mapping[str, str] | None = None,
                  schema: Sequence[share.Param] | None = None) -> dict[str, str] | None:
    """The page's parameters when the URL asks for a view other than the one on screen, else None.

    * A query string this session has neither written nor applied: a share link just opened.
    * One of this session's own earlier views while no widget moved in this rerun: the student pressed
      the browser's Back or Forward button (Streamlit pushes a history entry per query change and
      reruns on popstate), so that view comes back. Needs ``schema`` to tell.
    * One of this session's own earlier views while a widget moved: the rerun request carried the query
      string the browser had when the widget moved, which can lag a run behind (two quick key presses on
      a slider); taking it for a link reset the slider (seen in Chromium: URL k=4, page showing k=3).
    """
    page_params = _page_params(_query() if params is None else params)
    if not page_params:
        return None
    sent = st.session_state.get(f"_qp_sent.{page}", [])
    if page_params not in sent:
        return page_params
    if page_params == sent[-1] or schema is None or _widgets_moved(page, schema):
        return None
    return page_params


def _widgets_moved(page: str, schema: Sequence[share.Param]) -> bool:
    """Whether this rerun brings widget values other than those the last run ended with.

    Between two runs only the browser's widget events (and their callbacks) change session state, so
    any difference from the end-of-run snapshot is a widget that moved. Keys missing now (a widget
    Streamlit dropped because the last run did not draw it) say nothing either way.
    """
    return any(changed_since_last_run(page, param) for param in schema)


def changed_since_last_run(page: str, param: share.Param) -> bool:
    """Whether ``param``'s value differs from the one the page's last run ended with (a widget, a
    callback or a link changed it since)."""
    before = st.session_state.get(f"_end.{page}", {}).get(param.key)
    now = _snapshot(page, (param,)).get(param.key)
    return before is not None and now is not None and now != before


def _snapshot(page: str, schema: Sequence[share.Param]) -> dict[str, str]:
    """The page's current values as link text, for the keys session state holds."""
    out = {}
    for param in schema:
        k = wkey(page, param.key)
        if k in st.session_state:
            try:
                out[param.key] = param.format(st.session_state[k])
            except (TypeError, ValueError):
                pass
    return out


def clamp(page: str, key: str, lo: int | float, hi: int | float) -> None:
    """Keep a stored value inside a widget's current range (ranges can depend on other widgets)."""
    k = wkey(page, key)
    if k in st.session_state and isinstance(st.session_state[k], (int, float)):
        st.session_state[k] = type(st.session_state[k])(min(max(st.session_state[k], lo), hi))


def finish(cfg: Settings) -> dict[str, str]:
    """Last in a full run: write the view into the URL (so the address bar is always a share link)."""
    return _write_link(cfg)


def _write_link(cfg: Settings) -> dict[str, str]:
    return _finish_values(cfg.PAGE, cfg.schema(), cfg.values())


def _finish_values(page: str, schema: Sequence[share.Param], values: Mapping[str, Any]) -> dict[str, str]:
    values = {p.key: values.get(p.key, p.default) for p in schema}
    st.session_state[f"_saved.{page}"] = dict(values)
    st.session_state[f"_end.{page}"] = _snapshot(page, schema)
    params = share.encode(schema, values)
    _sent(page, params)
    if is_classroom():
        params[CLASSROOM_KEY] = "1"
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
    return params


def _sent(page: str, params: Mapping[str, str]) -> None:
    """Remember a query string this session wrote (or applied) for ``page``, newest last (see
    ``incoming_link``)."""
    sent: list[dict[str, str]] = st.session_state.setdefault(f"_qp_sent.{page}", [])
    params = dict(params)
    if params in sent:
        sent.remove(params)
    sent.append(params)
    del sent[:-SENT_KEPT]


def _read_classroom(params: Mapping[str, str]) -> None:
    raw = params.get(CLASSROOM_KEY)
    if raw is not None:
        st.session_state["_classroom"] = str(raw).strip().lower() in {"1", "true", "yes", "on"}


def is_classroom() -> bool:
    """Classroom links hide advanced controls so a class sees a focused view."""
    return bool(st.session_state.get("_classroom", False))


