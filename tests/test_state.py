"""ui.state: which query strings count as a link to apply.

A rerun request carries the query string the browser had when the widget moved; after two quick key
presses that can be the string this session wrote one run earlier. It must not be taken for a share
link (which would reset the slider to the older value). The browser's Back button also reruns the page
with an earlier string, with no widget moved: that earlier view comes back. A link this session never
saw always applies.
"""

from __future__ import annotations

from tests.apptest_checks import open_clean

PAGE = "pages/arithmetic.py"


def link(at) -> dict[str, str]:
    return {k: (v if isinstance(v, str) else v[-1]) for k, v in at.query_params.items()}


def notices(at) -> list[str]:
    return [w.value for w in at.warning if "could not use" in w.value]


def set_url(at, params: dict[str, str]) -> None:
    at.query_params.clear()
    for k, v in params.items():
        at.query_params[k] = v


def test_stale_query_string_riding_with_a_widget_change_is_not_a_link():
    at = open_clean(PAGE)
    first = link(at)
    at.slider(key="arithmetic.k").set_value(4).run()
    assert link(at)["k"] == "4"
    at.slider(key="arithmetic.k").set_value(5)
    set_url(at, first)  # the browser had not shown k=4 yet when the second key press left it
    at.run()
    assert not at.exception
    assert at.slider(key="arithmetic.k").value == 5
    assert link(at)["k"] == "5"
    assert not notices(at)


def test_back_button_brings_the_earlier_view_back():
    at = open_clean(PAGE)
    first = link(at)
    at.slider(key="arithmetic.k").set_value(5).run()
    at.slider(key="arithmetic.s").set_value(1).run()
    second = link(at)
    set_url(at, first)  # Back twice: no widget moved, the URL is this session's first view
    at.run()
    assert at.slider(key="arithmetic.k").value == 3 and at.slider(key="arithmetic.s").value == 2
    assert link(at) == first
    set_url(at, second)  # Forward again
    at.run()
    assert at.slider(key="arithmetic.k").value == 5 and at.slider(key="arithmetic.s").value == 1
    assert not notices(at)


def test_a_new_link_in_the_same_session_still_applies():
    at = open_clean(PAGE)
    at.query_params["k"] = "7"
    at.run()
    assert at.slider(key="arithmetic.k").value == 7


def test_a_malformed_link_riding_with_a_widget_change_does_not_reset_the_page():
    at = open_clean(PAGE, k="banana")
    assert notices(at)
    at.slider(key="arithmetic.k").set_value(5)
    set_url(at, {"k": "banana"})  # the student moved the slider before the clean link reached the browser
    at.run()
    assert at.slider(key="arithmetic.k").value == 5
    assert not notices(at)
