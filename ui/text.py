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
MAX_SHOWN = 200  # characters of a stranger's text shown before it is clipped


def clip(text: object, limit: int = MAX_SHOWN) -> str:
    """``text`` as one line of at most ``limit`` characters (newlines and control characters removed)."""
    s = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return s if len(s) <= limit else s[: limit - 1] + "…"


# GitHub-flavoured Markdown turns bare "http://…", "www.…" and "name@host.tld" into links AFTER escapes are
# resolved (seen in Chromium: an escaped URL in a notice was still a link), so a word joiner (U+2060,
# invisible) is put where those patterns start.
_AUTOLINK = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=\bwww)(?=\.)|(?=@)")


def literal(text: object, limit: int = MAX_SHOWN) -> str:
    """Markdown source that renders as exactly ``text`` (clipped to one line of ``limit`` characters),
    bare URLs and e-mail addresses included (never turned into links)."""
    s = _AUTOLINK.sub("\u2060", clip(text, limit))
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in s)


def literal_html(text: object, limit: int = MAX_SHOWN) -> str:
    """Plotly/HTML text that renders as exactly ``text`` (clipped like ``literal``)."""
    return html.escape(clip(text, limit), quote=True)


def literal_code(text: object, limit: int = MAX_SHOWN) -> str:
    """Markdown that shows ``text`` verbatim in a code span (clipped like ``literal``): nothing inside a
    code span is a link, an image or a directive, and the words stay as typed (a file name, "SHA-256")."""
    s = clip(text, limit)
    fence = "`" * (max((len(run) for run in re.findall("`+", s)), default=0) + 1)
    return f"{fence} {s} {fence}"
