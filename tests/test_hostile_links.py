"""Share links are untrusted input: every page opened with garbage query parameters still renders.

For each page: garbage strings, huge numbers, negative sizes, NaN/inf, empty values, unknown keys,
10 kB values, repeated keys and odd unicode must give no exception and no traceback, the page's title,
and one "could not use" notice; the address bar must then hold a clean link again. ``classroom=1``
must work everywhere and hide controls on the pages that have advanced ones.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import pytest

from tests.apptest_checks import assert_clean, open_page, texts, widget_count, widget_keys
from ui.registry import LESSONS

NOTICE = "could not use"
# Pages whose advanced controls a classroom link hides (checked in the page sources: state.is_classroom()).
CLASSROOM_PAGES = {"arithmetic", "filters", "pooling", "train", "draw", "data", "network"}
PAGES = {p.url_path: p for p in LESSONS}


@lru_cache(maxsize=None)
def clean_link(file: str) -> tuple[tuple[str, str], ...]:
    """The link a page writes for its own defaults: every key of its share schema."""
    at = open_page(file)
    assert_clean(at, f"{file} defaults")
    link = tuple((k, v if isinstance(v, str) else v[-1]) for k, v in at.query_params.items())
    assert link, f"{file} writes no share link"
    return link


def every_key(value: Any) -> Callable[[dict[str, str]], dict[str, Any]]:
    return lambda link: {k: value for k in link}


CASES: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
    "garbage": every_key("banana"),
    "huge_float": every_key("1e308"),
    "huge_int": every_key(str(10**30)),
    "negative": every_key("-7"),
    "negative_huge": every_key("-1e308"),
    "nan": every_key("nan"),
    "inf": every_key("-inf"),
    "empty": every_key(""),
    "fraction": every_key("3.5"),
    "list_junk": every_key("1,,2,;x,1e999"),
    "long_10kB": every_key("9" * 10_000),
    # 10 kB of UTF-8 is 30 kB percent-encoded: on four keys only, under Streamlit's own query-string limit
    "long_text_10kB": lambda link: {k: "é" * 5_000 for k in list(link)[:4]},
    "unicode": every_key("é漢字🙂\u202e\u0000"),
    "markup": every_key("<script>alert(1)</script>**[x](javascript:alert(1))**"),
    "repeated_bad_last": lambda link: {k: [v, "banana", "junk"] for k, v in link.items()},
    "unknown_keys": lambda link: {"zzz": "1", "<b>x</b>": "1", "__proto__": "0", "k" * 300: "1"},
    "garbage_and_classroom_garbage": lambda link: {**{k: "?" for k in link}, "classroom": "banana"},
}


def open_hostile(page, case: str) -> tuple[Any, dict[str, Any]]:
    params = CASES[case](dict(clean_link(page.file)))
    at = open_page(page.file, params)
    assert_clean(at, f"{page.file} with {case} link")
    return at, params


HEAL_CHECKED = {"garbage", "long_10kB", "repeated_bad_last", "unknown_keys"}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("page", LESSONS, ids=lambda p: p.url_path)
def test_hostile_link_renders_with_a_notice(page, case):
    at, _ = open_hostile(page, case)
    assert at.title and page.title in at.title[0].value, f"{page.file} lost its title with a {case} link"
    assert NOTICE in texts(at.warning), f"{page.file}: no “{NOTICE}” notice for a {case} link"
    assert len(texts(at.warning)) < 5_000, "the notice must clip what it quotes from the link"
    if case in HEAL_CHECKED:  # the address bar now holds the page's own valid link, which opens cleanly
        healed = {k: v if isinstance(v, str) else v[-1] for k, v in at.query_params.items()}
        assert set(healed) == {k for k, _ in clean_link(page.file)}, healed
        again = open_page(page.file, healed)
        assert_clean(again, f"{page.file} with its healed link")
        assert NOTICE not in texts(again.warning)


@pytest.mark.parametrize("page", LESSONS, ids=lambda p: p.url_path)
def test_query_string_over_streamlit_limit_opens_the_defaults(page):
    """Streamlit drops a query string over 512 K characters before the page sees it: defaults, no crash."""
    link = dict(clean_link(page.file))
    huge = {k: "é" * (700_000 // 6 // len(link) + 1) for k in link}  # "%C3%A9": 6 characters each
    at = open_page(page.file, huge)
    assert_clean(at, f"{page.file} with a 600 kB query string")
    assert at.title and page.title in at.title[0].value
    healed = {k: v if isinstance(v, str) else v[-1] for k, v in at.query_params.items()}
    assert healed == link, "the page must fall back to its defaults and write its own link"


@pytest.mark.parametrize("page", LESSONS, ids=lambda p: p.url_path)
def test_repeated_key_with_a_valid_last_value_is_accepted(page):
    link = dict(clean_link(page.file))
    at = open_page(page.file, {k: ["banana", v] for k, v in link.items()})
    assert_clean(at, f"{page.file} with repeated keys")
    assert NOTICE not in texts(at.warning)


@pytest.mark.parametrize("page", LESSONS, ids=lambda p: p.url_path)
def test_classroom_link(page):
    normal = open_page(page.file)
    classroom = open_page(page.file, {"classroom": "1"})
    assert_clean(classroom, f"{page.file}?classroom=1")
    assert classroom.title and page.title in classroom.title[0].value
    assert classroom.query_params.get("classroom") == "1", "the classroom flag must stay in the link"
    assert widget_keys(classroom) <= widget_keys(normal) | {"_share_classroom"}
    if page.url_path in CLASSROOM_PAGES:
        assert widget_count(classroom) < widget_count(normal), f"{page.file}: classroom hides nothing"
    else:
        assert widget_count(classroom) == widget_count(normal)


def test_classroom_pages_exist():
    assert CLASSROOM_PAGES <= set(PAGES), "a page listed as having a classroom mode is not registered"
