"""core.links.settings (the typed settings declaration) and ui.state's bind/current/finish on a small page."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import pytest
from streamlit.testing.v1 import AppTest

from core.links import share
from core.links.settings import Settings, choice, flag, int_list, integer, number


@dataclass(frozen=True)
class Demo(Settings, page="demo"):
    op: str = choice("max", {"max": "Max", "avg": "Average"}, label="pooling")
    k: int = integer(2, lo=1, hi=8, label="pool size")
    p: int = integer(0, lo=0, hi=3, label="padding", hidden=True)
    lr: float = number(0.01, lo=1e-5, hi=1.0, label="learning rate", hidden=True)
    relu: bool = flag(True, label="ReLU")
    m: tuple[int, ...] = int_list((1, 2, 3, 4), lengths=(4,), lo=-9, hi=9, label="matrix")


def test_schema_is_generated_from_the_fields():
    schema = Demo.schema()
    assert [p.key for p in schema] == ["op", "k", "p", "lr", "relu", "m"]
    assert isinstance(schema[1], share.IntParam) and (schema[1].lo, schema[1].hi) == (1, 8)
    assert schema[0].choices == ("max", "avg") and schema[0].label == "pooling"
    assert Demo.hidden() == ("p", "lr")


def test_link_round_trip_and_defaults():
    cfg = Demo(op="avg", k=5, p=2, lr=0.5, relu=False, m=(4, 3, 2, 1))
    link = cfg.to_link()
    assert link == {"op": "avg", "k": "5", "p": "2", "lr": "0.5", "relu": "0", "m": "4,3,2,1"}
    back, notices = Demo.from_link(link)
    assert back == cfg and not notices
    assert Demo.from_link({})[0] == Demo()


def test_bad_values_become_defaults_with_a_notice():
    cfg, notices = Demo.from_link({"k": "99", "op": "median", "zzz": "1"})
    assert cfg == Demo()
    assert len(notices) == 3 and any("between 1 and 8" in n for n in notices)
    assert Demo.from_values({"k": 99, "p": -1, "op": "avg"}) == Demo(op="avg")


def test_frozen_and_shown_text():
    cfg = Demo()
    with pytest.raises(FrozenInstanceError):
        cfg.k = 3  # type: ignore[misc]
    assert cfg.shown("op") == "Max" and cfg.shown("relu") == "on" and cfg.shown("k") == "2"
    assert cfg.with_(k=4).k == 4


def _page() -> None:
    from dataclasses import dataclass

    import streamlit as st

    from core.links.settings import Settings, choice, integer
    from ui import state

    @dataclass(frozen=True)
    class Mini(Settings, page="mini"):
        op: str = choice("max", {"max": "Max", "avg": "Average"}, label="pooling")
        k: int = integer(2, lo=1, hi=8, label="pool size")
        p: int = integer(0, lo=0, hi=3, label="padding", hidden=True)

    keys = state.bind(Mini)
    state.header(Mini, "Mini", "A tiny page.")
    st.radio("Pooling", ["max", "avg"], key=keys.op)
    st.slider("Pool size", 1, 8, key=keys.k)
    if keys.offered("p"):
        st.slider("Padding", 0, 3, key=keys.p)
    cfg = state.current(Mini)
    st.markdown(f"result k={cfg.k} p={cfg.p} op={cfg.op}")
    state.finish(cfg)


def _open(**params: str) -> AppTest:
    at = AppTest.from_function(_page, default_timeout=30)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _link(at: AppTest) -> dict[str, str]:
    return {k: (v if isinstance(v, str) else v[-1]) for k, v in at.query_params.items()}


def test_link_seeds_widgets_and_widgets_write_the_link():
    at = _open(k="5", p="2", op="avg")
    assert not at.exception
    assert at.slider(key="mini.k").value == 5 and at.slider(key="mini.p").value == 2
    at.slider(key="mini.k").set_value(7).run()
    assert _link(at) == {"op": "avg", "k": "7", "p": "2"}
    assert "result k=7 p=2 op=avg" in [m.value for m in at.markdown]


def test_classroom_link_hides_the_field_and_shows_the_teachers_value():
    at = _open(k="5", p="3", classroom="1")
    assert not at.exception
    keys = {w.key for w in at.slider}
    assert "mini.p" not in keys and "mini.k" in keys
    assert any("Set by your teacher" in c.value and "padding" in c.value and "3" in c.value for c in at.caption)
    assert "result k=5 p=3 op=max" in [m.value for m in at.markdown]  # the hidden value is used
    assert _link(at)["classroom"] == "1" and _link(at)["p"] == "3"


def test_link_text_is_shown_literally_in_the_notice():
    at = _open(op="[Log in again](http://example.invalid/l)")
    warning = " ".join(w.value for w in at.warning)
    assert "could not use" in warning
    assert "](http" not in warning and "\\[Log in again\\]" in warning


def test_the_teacher_list_names_only_what_differs_from_the_default():
    assert Demo().teacher_choices() == ()  # defaults nobody touched are not "set by your teacher"
    assert Demo(p=3).teacher_choices() == (("padding", "3"),)
    assert Demo(p=3, lr=0.1).teacher_choices() == (("padding", "3"), ("learning rate", "0.1"))


def test_classroom_link_lists_no_untouched_defaults():
    at = _open(k="5", classroom="1")  # the teacher hid padding but left it at 0
    assert not at.exception
    assert not [c.value for c in at.caption if "Set by your teacher" in c.value]


def test_layers_are_read_out_in_words():
    from core.arch.spec import PRESETS, LayersParam, layers_from_text

    assert LayersParam("layers", ()).describe(PRESETS["lenet5"].layers) == (
        "conv 6 channels 5×5, padding 2 → max pool 2×2 → conv 16 channels 5×5 → max pool 2×2 → "
        "dense 120 units → dense 84 units")
    assert LayersParam("layers", ()).describe(layers_from_text("c8k3s2-bn-avg2s1-do0.25")) == (
        "conv 8 channels 3×3, stride 2 → batch norm → average pool 2×2, stride 1 → dropout 0.25")
    assert share.BoolParam("x", False).describe(True) == "on"
