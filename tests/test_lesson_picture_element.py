"""The lesson picture's Streamlit side (ui/lesson_picture.py): its assets, its payload and how it reads a pick."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from ui import lesson_picture


def _page() -> None:
    import streamlit as st

    from core.lessons.conv_layer import Conv2dSpec
    from core.lessons.conv_picture import conv_picture, example_layer
    from ui.lesson_picture import lesson_picture, new_pick

    shape = Conv2dSpec(kernel=(3, 3), stride=(2, 2), padding=(1, 1)).shape((5, 5))
    x, kernel = example_layer(shape)
    lesson_picture("t.picture", conv_picture(shape, x, kernel, 4))
    for value in st.session_state.get("values", []):
        st.write(repr(new_pick("t.picture", value, 9)))


def test_the_element_reads_its_javascript_and_css_from_files() -> None:
    js = (lesson_picture.HERE / "lesson_picture.js").read_text(encoding="utf-8")
    draw = (lesson_picture.HERE / "lesson_picture_draw.js").read_text(encoding="utf-8")
    assert "function layout(" in draw and "export default" not in draw
    css = (lesson_picture.HERE / "lesson_picture.css").read_text(encoding="utf-8")
    assert "export default function (component)" in js and "setStateValue('pick'" in js
    assert ".lp-readout" in css and "<style" not in css
    for testid in ("lp-readout-window", "lp-readout-products", "lp-readout-result"):
        assert f'data-testid="{testid}"' in js


def test_under_apptest_the_element_carries_the_payload() -> None:
    at = AppTest.from_function(_page).run()
    assert not at.exception
    element = next(e for e in at.get("bidi_component") if e.proto.component_name == "convlab_lesson_picture")
    data = json.loads(element.proto.json)
    assert data["selected"] == 4 and [g["title"] for g in data["grids"]][2] == "Output 3×3"
    assert len(data["boxes"]) == len(data["results"]) == 9


def test_a_pick_is_taken_once_and_only_when_well_formed() -> None:
    at = AppTest.from_function(_page)
    at.session_state["values"] = [
        {"cell": 3, "nonce": "a"}, {"cell": 3, "nonce": "a"},  # the same pick seen again: nothing new
        {"cell": 5, "nonce": "b"}, {"cell": 9, "nonce": "c"},  # outside the 9 cells
        {"cell": True, "nonce": "d"}, {"cell": "2", "nonce": "e"}, {"cell": 2}, "2", None,
    ]
    at.run()
    assert not at.exception
    assert [m.value for m in at.markdown] == ["3", "None", "5", "None", "None", "None", "None", "None", "None"]
