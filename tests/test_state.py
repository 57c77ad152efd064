"""ui.state: a rerun that arrives with a stale query string keeps the student's newer values.

A rerun request carries the query string the browser had when the widget moved; after two quick key
presses that can be the string this session wrote one run earlier. It must not be taken for a share
link (which would reset the slider to the older value), while a link this session never wrote still is.
"""

from __future__ import annotations

from tests.apptest_checks import open_clean

PAGE = "pages/arithmetic.py"


def link(at) -> dict[str, str]:
    return {k: (v if isinstance(v, str) else v[-1]) for k, v in at.query_params.items()}


def test_stale_query_string_from_this_session_is_not_a_link():
    at = open_clean(PAGE)
    first = link(at)
    assert first["k"] == "3"
    at.slider(key="arithmetic.k").set_value(5).run()
    assert link(at)["k"] == "5"
    for k, v in first.items():  # the browser still shows the string of the first run
        at.query_params[k] = v
    at.run()
    assert not at.exception
    assert at.slider(key="arithmetic.k").value == 5
    assert link(at)["k"] == "5"
    assert not [w for w in at.warning if "could not use" in w.value]


def test_a_new_link_in_the_same_session_still_applies():
    at = open_clean(PAGE)
    at.query_params["k"] = "7"
    at.run()
    assert at.slider(key="arithmetic.k").value == 7


def test_a_malformed_link_seen_again_does_not_reset_the_page():
    at = open_clean(PAGE, k="banana")
    assert [w for w in at.warning if "could not use" in w.value]
    at.slider(key="arithmetic.k").set_value(5).run()
    at.query_params.clear()
    at.query_params["k"] = "banana"  # a rerun that still carries the link the page opened with
    at.run()
    assert at.slider(key="arithmetic.k").value == 5
    assert not [w for w in at.warning if "could not use" in w.value]
