"""The convolution-arithmetic page under AppTest: numbers, invalid settings, share links, exercises."""

import re

import numpy as np
from streamlit.testing.v1 import AppTest

from core.lessons import conv_picture
from tests.apptest_checks import delta_kinds, fragment_deltas, open_clean
from tests.conftest import REPO
from tests.picture_checks import fake_pick, grid_numbers, payload

APP = str(REPO / "streamlit_app.py")
PAGE = "pages/arithmetic.py"


def open_page(**params) -> AppTest:
    return open_clean(PAGE, **params)


SUMMARY_LABELS = {"Output shape": "Output shape", "Output values": "output values", "Parameters": "parameters",
                  "Multiply-adds": "multiply-adds"}


def metric(at, label):
    """A number of the summary line ("Output shape **(1, 1, 3, 3)** · … · multiply-adds **81**")."""
    line = next(m.value for m in at.markdown if m.value.startswith("Output shape"))
    return re.search(re.escape(SUMMARY_LABELS[label]) + r" \*\*(.+?)\*\*", line).group(1)


def has_summary(at) -> bool:
    return any(m.value.startswith("Output shape") for m in at.markdown)


def page_text(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_defaults_show_the_classic_example():
    at = open_page()
    assert metric(at, "Output shape") == "(1, 1, 3, 3)"
    assert metric(at, "Parameters") == "10"
    assert metric(at, "Multiply-adds") == "81"  # 3x3 outputs x 3x3 taps
    assert at.query_params["k"] == ["3"] or at.query_params["k"] == "3"


def test_sliders_drive_the_numbers_and_url():
    at = open_page()
    at.slider(key="arithmetic.h").set_value(28).run()
    at.slider(key="arithmetic.k").set_value(5).run()
    at.slider(key="arithmetic.s").set_value(1).run()
    at.slider(key="arithmetic.p").set_value(0).run()
    assert metric(at, "Output shape") == "(1, 1, 24, 24)"
    assert dict(at.query_params)["h"] in ("28", ["28"])
    assert "o = ⌊(28 + 2·0 − 1·(5−1) − 1) / 1⌋ + 1" in page_text(at) and "= **24**" in page_text(at)


def test_invalid_setting_shows_reason_not_picture():
    at = open_page(h=5, k=9, p=1, s=1)
    assert not has_summary(at)
    err = " ".join(e.value for e in at.error)
    assert "impossible" in err and "kernel (9) is larger than the padded input (7)" in err
    assert not at.get("plotly_chart")


def test_same_padding_with_stride_two_is_explained():
    at = open_page(pm="same", s=2)
    assert "only keeps the output the same size" in " ".join(e.value for e in at.error)


def test_share_link_restores_every_widget():
    at = open_page(op="conv", h=12, w=9, rect=1, k=5, kw=3, s=2, sw=1, pm="explicit", p=2, pw=0, d=1, dw=2,
                   cin=3, cout=8, step=7, depth=4, more="rf")
    assert at.slider(key="arithmetic.h").value == 12 and at.slider(key="arithmetic.w").value == 9
    assert at.slider(key="arithmetic.kw").value == 3 and at.slider(key="arithmetic.dw").value == 2
    assert at.toggle(key="arithmetic.rect").value is True
    # height: floor((12 + 4 - 4 - 1)/2) + 1 = 6; width: floor((9 + 0 - 4 - 1)/1) + 1 = 5
    assert metric(at, "Output shape") == "(1, 8, 6, 5)"
    assert payload(at, "arithmetic.picture")["selected"] == 7
    assert at.slider(key="arithmetic.depth").value == 4


def test_malformed_link_falls_back_with_notice():
    at = open_page(k="banana", h="-3", s="99999999999999999999", pm="weird", zzz="1")
    warn = " ".join(w.value for w in at.warning)
    assert "could not use" in warn and "kernel" in warn and "unknown link setting" in warn
    assert metric(at, "Output shape") == "(1, 1, 3, 3)"  # all defaults


def test_torch_cross_check_agrees():
    at = open_page(h=28, k=3, s=2, p=1, cout=16, cin=3, torch=1)  # a link from before ``more``: opens the check
    text = " ".join(m.value for m in at.markdown)
    assert "PyTorch output shape: **(1, 16, 14, 14)**" in text and "equals the formula" in text
    code = " ".join(c.value for c in at.code)
    assert "nn.Conv2d(3, 16, kernel_size=3, stride=2, padding=1)" in code


def test_torch_refusal_is_shown_for_transposed_output_padding():
    at = open_page(op="transposed", h=4, k=3, s=2, p=1, op_pad=3, torch=1)
    assert "Output padding (3) must be smaller" in " ".join(e.value for e in at.error)
    text = " ".join(m.value for m in at.markdown)
    assert "PyTorch refuses" in text and "formula agrees it is impossible" in text


def test_transposed_conv_numbers():
    at = open_page(op="transposed", h=4, k=3, s=2, p=1, op_pad=1)
    # (4-1)*2 - 2*1 + 1*(3-1) + 1 + 1 = 8
    assert metric(at, "Output shape") == "(1, 1, 8, 8)"


def test_predict_first_hides_answer_until_correct():
    at = open_page(quiz=1, h=7, k=3, s=2, p=0)
    assert not has_summary(at) and not [e for e in at.get("bidi_component")
                                        if e.proto.component_name == "convlab_lesson_picture"]
    at.number_input(key="arithmetic.guess_h").set_value(2)
    at.number_input(key="arithmetic.guess_w").set_value(2)
    at.button[0].click().run()  # wrong
    assert "Not quite" in " ".join(e.value for e in at.error) and not has_summary(at)
    at.number_input(key="arithmetic.guess_h").set_value(3)
    at.number_input(key="arithmetic.guess_w").set_value(3)
    at.button[0].click().run()
    assert metric(at, "Output shape") == "(1, 1, 3, 3)"


def test_picture_shows_the_layer_with_core_numbers():
    """The picture's grids are the example input (padded), the kernel and their convolution, as core computes
    them; the selected cell is the link's step."""
    at = open_page(h=5, k=3, s=2, p=1, step=4)
    data = payload(at, "arithmetic.picture")
    titles = [g["title"] for g in data["grids"]]
    assert titles == ["Input 5×5, padded to 7×7", "Kernel 3×3", "Output 3×3"] and data["selected"] == 4
    assert data["grids"][0]["frame"] == [1, 1, 5, 5]  # the input inside its padding
    from ui.arithmetic_views import ArithmeticSettings

    layer = ArithmeticSettings(h=5, k=3, s=2, p=1).spec().shape((5, 5))
    x, kernel = conv_picture.example_layer(layer)
    np.testing.assert_array_equal(grid_numbers(data, 0), np.pad(x, 1))
    np.testing.assert_array_equal(grid_numbers(data, 1), kernel)
    direct = [[float((np.pad(x, 1)[2 * r:2 * r + 3, 2 * c:2 * c + 3] * kernel).sum()) for c in range(3)] for r in range(3)]
    np.testing.assert_array_equal(grid_numbers(data, 2), direct)
    assert data["results"][4] == f"sum = {conv_picture.fmt(direct[1][1])}"
    assert "Output cell (1, 1) reads padded-input rows [2, 3, 4] and columns [2, 3, 4]" in " ".join(
        c.value for c in at.caption)


def test_a_click_on_the_picture_selects_the_cell_and_goes_into_the_link(monkeypatch):
    fake_pick(monkeypatch, "arithmetic.picture", 5)
    at = open_page(h=5, k=3, s=2, p=1, step=0)
    assert payload(at, "arithmetic.picture")["selected"] == 5
    assert dict(at.query_params)["step"] in ("5", ["5"])
    at.slider(key="arithmetic.h").set_value(6).run()  # the same pick is not taken again
    assert payload(at, "arithmetic.picture")["selected"] == 5


def test_a_pick_outside_the_output_is_ignored(monkeypatch):
    fake_pick(monkeypatch, "arithmetic.picture", 99)
    at = open_page(h=5, k=3, s=2, p=1, step=2)
    assert payload(at, "arithmetic.picture")["selected"] == 2


def test_transposed_picture_is_zero_insertion_then_convolution():
    at = open_page(op="transposed", h=4, k=3, s=2, p=1, op_pad=1)
    data = payload(at, "arithmetic.picture")
    assert data["grids"][0]["title"].startswith("Input 4×4 with zeros inserted")
    assert data["grids"][1]["title"] == "Kernel 3×3, flipped"
    assert (data["grids"][2]["rows"], data["grids"][2]["cols"]) == (8, 8)


def test_matrix_view_for_small_inputs():
    at = open_page(h=5, k=3, s=2, p=1, step=4, more="matrix")
    data = payload(at, "arithmetic.matrix")
    assert [g["title"] for g in data["grids"]] == ["x: input 5×5", "C: 9×25", "y = C·x: 3×3"]
    assert data["selected"] == 4 and data["results"][4].startswith("row 4 of C · x = ")
    at = open_page(h=9, more="matrix")
    assert "up to 7×7" in " ".join(c.value for c in at.caption)


def test_transposed_matrix_view_scatters_each_input_cell(monkeypatch):
    at = open_page(op="transposed", h=4, k=3, s=2, p=1, op_pad=1, more="matrix")
    data = payload(at, "arithmetic.scatter")
    assert [g["title"] for g in data["grids"]] == ["Input 4×4", "Kernel 3×3", "Output 8×8 (all scatters added)"]
    assert data["output"] == 0 and data["results"][5].endswith("added into 9 output cells")
    fake_pick(monkeypatch, "arithmetic.scatter", 6)
    at.run()
    assert payload(at, "arithmetic.scatter")["selected"] == 6


def test_floor_note_counts_the_rows_actually_visited():
    at = open_page(h=28, k=3, s=2, p=1, d=2)
    text = page_text(at)
    assert "15 rows of the padded input are never visited" in text and "the last 1 row" in text


def test_torch_check_without_torch_says_it_needs_the_full_install(monkeypatch):
    import core.train

    monkeypatch.setattr(core.train, "available", lambda: False)
    at = open_page(h=28, k=3, s=2, p=1, torch=1)
    assert "needs the full install" in " ".join(i.value for i in at.info)
    assert "❌" not in page_text(at) and "PyTorch refuses" not in page_text(at)


def test_puzzle():
    at = open_page()
    at.number_input(key="arithmetic.pz_k").set_value(3)
    at.number_input(key="arithmetic.pz_s").set_value(2)
    at.number_input(key="arithmetic.pz_p").set_value(1)
    at.button(key="arithmetic.pz_go").click().run()
    assert any("takes 28 to 14" in s.value for s in at.success)
    at.number_input(key="arithmetic.pz_s").set_value(1)
    at.button(key="arithmetic.pz_go").click().run()
    assert any("not 14" in e.value for e in at.error)


def test_classroom_link_hides_advanced_controls():
    normal = open_page()
    assert any("Advanced" in e.label for e in normal.expander)
    at = open_page(classroom=1)
    assert not any("Advanced" in e.label for e in at.expander)


def test_colour_channels_add_up_at_the_current_cell():
    """Three channel sums plus the bias make the output value, at the window the picture shows."""
    import numpy as np

    from core import arithmetic as ar
    from core.lessons import conv_layer
    from ui.arithmetic_views import colour_example

    at = open_page(h=6, k=3, s=1, p=0, step=5)  # 4×4 output: cell (1, 1)
    section = next(m.value for m in at.markdown if m.value.startswith("A colour image"))
    latex = [t.strip() for t in section.split("$$")[1::2]]
    total = next(t for t in latex if t.startswith(r"\text{output}"))
    shape = ar.conv2d_shape((6, 6), (3, 3), (1, 1), (0, 0))
    x, kernel, bias = colour_example(shape)
    expected = sum(float((x[ch, 1:4, 1:4] * kernel[ch]).sum()) for ch in range(3)) + bias
    assert total.endswith(f"= {expected:g}")
    assert sum(t.startswith(f"{name}:") for name in "RGB" for t in latex) == 3
    assert np.isclose(conv_layer.channel_sums(x, kernel, bias, shape, 1, 1).total, expected)
    data = payload(at, "arithmetic.colour")  # the same sums in the picture, hovering or selected
    assert [g["title"] for g in data["grids"]][::3] == ["R input", "R kernel", "Output 4×4"]
    assert data["selected"] == 5 and data["results"][5].endswith(f"+ bias 1 = {conv_picture.fmt(expected)}")


def test_receptive_field_table_grows_with_depth():
    # defaults: 5×5 input, kernel 3, stride 2, padding 1 → 3×3; receptive field 3, then 3 + 2·2 = 7
    at = open_page(more="rf")
    at.slider(key="arithmetic.depth").set_value(2).run()
    table = at.table[0].value
    assert list(table.index) == ["layer 1", "layer 2"]
    assert list(table["receptive field"]) == ["3×3", "7×7"]
    assert list(table["output size"]) == ["3×3", "2×2"]


def test_a_slider_step_sends_at_most_20_elements(monkeypatch):
    """A main slider reruns the lesson's fragment, and everything in it is sent again, one message per
    element: the controls, the picture, its caption, the numbers, the formula and one section. The
    advanced settings, the quiz switch and the puzzle live outside it."""
    sent = fragment_deltas(monkeypatch, "layer_view")
    at = open_page()
    at.slider(key="arithmetic.k").set_value(4).run()
    assert metric(at, "Output shape") == "(1, 1, 2, 2)"
    kinds = delta_kinds(sent)
    assert "bidi_component" in kinds and 0 < len(kinds) <= 20, kinds
