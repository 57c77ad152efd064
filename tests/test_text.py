"""ui.text: strangers' text becomes Markdown/HTML that renders as exactly that text.

(The real-browser side — zero foreign links or image requests on every page — is in
tests/test_hostile_links_browser.py.)
"""

from __future__ import annotations

import re

from ui.text import clip, literal, literal_html

JOINER = "\u2060"


def unescape(md: str) -> str:
    """What CommonMark shows for backslash-escaped punctuation (the joiner is invisible)."""
    return re.sub(r"\\(.)", r"\1", md).replace(JOINER, "")


def test_markdown_syntax_is_escaped_and_shows_unchanged():
    for text in ["[Log in again](http://example.invalid/l)", "![](http://example.invalid/px.png)",
                 ":red[alarm] **bold** $x^2$ <b>hi</b> `code` # title", "a_b*c~d|e"]:
        md = literal(text)
        assert unescape(md) == text
        assert "[" not in md.replace("\\[", "") and "(" not in md.replace("\\(", "")


def test_bare_urls_and_addresses_are_broken_for_autolinking():
    md = literal("see http://example.invalid and www.example.invalid or a@b.invalid")
    assert "://" not in md.replace("\\", "") and "www." not in md.replace("\\", "")
    assert "@b" not in md.replace("\\", "")
    assert unescape(md) == "see http://example.invalid and www.example.invalid or a@b.invalid"


def test_clipped_to_one_line():
    assert clip("a\nb\x00c") == "a b c"
    assert len(clip("x" * 500)) == 200 and clip("x" * 500).endswith("…")


def test_plotly_html_is_escaped():
    assert literal_html("<a href='x'>y</a>") == "&lt;a href=&#x27;x&#x27;&gt;y&lt;/a&gt;"
