"""Showing text that came from strangers (a link, a file name, an upload, a model file) literally.

Streamlit renders warnings, captions, markdown, widget labels and metric labels as Markdown (links,
images, ``:red[...]`` directives, ``$…$`` maths); plotly renders a subset of HTML (``<a href>``, ``<br>``)
in titles, annotations and hover text. Every such string goes through one of the two functions here,
never through an f-string straight into ``st.markdown``.
"""

from __future__ import annotations

import html
import re
import string

# CommonMark lets a backslash escape any ASCII punctuation, and Streamlit's renderer honours it for its
# own extensions too (colour directives, shortcodes, maths), so escaping all of it is the safe default.
_MD_SPECIAL = frozenset(string.punctuation)
# GitHub-flavoured Markdown also turns bare "http://…", "www.…" and "name@host" into links, escaped or
# not (seen in Chromium): an invisible word joiner after ":", "www" and "@" breaks those patterns.
_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)")
MAX_SHOWN = 200  # characters of a stranger's text shown before it is clipped


def clip(text: object, limit: int = MAX_SHOWN) -> str:
    """``text`` as one line of at most ``limit`` characters (newlines and control characters removed)."""
    s = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def literal(text: object, limit: int = MAX_SHOWN) -> str:
    """Markdown source that renders as exactly ``text`` (clipped to one line of ``limit`` characters)."""
    unlinked = _AUTOLINK.sub(_JOINER, clip(text, limit))
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in unlinked)


def literal_html(text: object, limit: int = MAX_SHOWN) -> str:
    """Plotly/HTML text that renders as exactly ``text`` (clipped like ``literal``)."""
    return html.escape(clip(text, limit), quote=True)


def literal_code(text: object, limit: int = MAX_SHOWN) -> str:
    """Markdown that shows ``text`` verbatim in a code span (clipped like ``literal``): nothing inside a
    code span is a link, an image or a directive, and the words stay as typed (a file name, "SHA-256")."""
    s = clip(text, limit)
    fence = "`" * (max((len(run) for run in re.findall("`+", s)), default=0) + 1)
    return f"{fence} {s} {fence}"
