""""Predict before you see": no element of the arithmetic page gives the answer away before the student answers.

Every element AppTest sees (markdown, captions, code, LaTeX, tables' cells, the lesson picture's payload,
widget labels and ranges) is turned into text and searched for the output size. The layers are chosen so the
answer is a number the page has no other reason to show.
"""

from __future__ import annotations

import re

import pytest

from core.arithmetic import conv2d_shape
from tests.apptest_checks import open_clean

PAGE = "pages/arithmetic.py"

# (link, output height, output width): numbers the page shows nowhere else
LAYERS = [
    ({"h": 41, "k": 3, "s": 2, "p": 0}, 20, 20),  # conv: floor((41 - 3) / 2) + 1
    ({"op": "transposed", "h": 9, "k": 3, "s": 2, "p": 0}, 19, 19),  # (9 - 1)·2 + 3
    ({"rect": 1, "h": 40, "w": 37, "k": 3, "kw": 3, "s": 2, "sw": 2, "p": 0, "pw": 0}, 19, 18),
]


def element_texts(at) -> list[str]:
    """Text of every element on the page, tables and charts included."""
    out = []
    for node in at._tree:
        kind = getattr(node, "type", "")
        if kind == "arrow_data_frame":
            out.append(node.value.to_string())
        elif kind == "plotly_chart":
            out.append(node.proto.spec)
        elif hasattr(node, "proto") and node.proto is not None:
            out.append(str(node.proto))
    return out


def revealing(texts: list[str], out_h: int, out_w: int) -> list[str]:
    texts = [re.sub(r"<style>.*?</style>", "", t, flags=re.S) for t in texts]  # a style sheet shows nothing
    numbers = {out_h, out_w}
    pattern = re.compile(r"(?<![\w.])(" + "|".join(str(n) for n in sorted(numbers)) + r")(?![\w.])")
    return [t[:300] for t in texts if pattern.search(t)]


@pytest.mark.parametrize("params, out_h, out_w", LAYERS, ids=["conv", "transposed", "rectangular"])
def test_quiz_mode_reveals_the_output_size_nowhere(params, out_h, out_w):
    spec_check = open_clean(PAGE, **params)  # without the quiz the answer is on the page: the test can see it
    assert revealing(element_texts(spec_check), out_h, out_w), "the walk does not see the answer at all"
    at = open_clean(PAGE, **params, quiz=1, torch=1, depth=4)
    found = revealing(element_texts(at), out_h, out_w)
    assert not found, "the answer shows before the student answered:\n" + "\n---\n".join(found)
    # Once answered, it is all there.
    at.number_input(key="arithmetic.guess_h").set_value(out_h)
    at.number_input(key="arithmetic.guess_w").set_value(out_w)
    at.button[0].click().run()
    assert any(m.value.startswith(f"Output shape **(1, 1, {out_h}, {out_w})**") for m in at.markdown)
    assert any(e.proto.component_name == "convlab_lesson_picture" for e in at.get("bidi_component"))


def test_quiz_mode_hides_an_impossible_layer_too():
    """"0 if the layer is impossible" is an answer as well: the error waits for the prediction."""
    assert not conv2d_shape((5, 5), (9, 9), padding=(1, 1)).ok
    at = open_clean(PAGE, h=5, k=9, p=1, s=1, quiz=1)
    assert not [e for e in at.error if "impossible" in e.value]
    at.button[1].click().run()  # "Just show me"
    assert any("impossible" in e.value for e in at.error)
