"""The convolution-arithmetic page under AppTest: numbers, invalid settings, share links, exercises."""

import json

from streamlit.testing.v1 import AppTest

from tests.apptest_checks import open_clean
from tests.conftest import REPO

APP = str(REPO / "streamlit_app.py")
PAGE = "pages/arithmetic.py"


def open_page(**params) -> AppTest:
    return open_clean(PAGE, **params)


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


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
    latex = " ".join(e.proto.body for e in at.latex)
    assert "24" in latex and "28" in latex


def test_invalid_setting_shows_reason_not_picture():
    at = open_page(h=5, k=9, p=1, s=1)
    assert not at.metric
    err = " ".join(e.value for e in at.error)
    assert "impossible" in err and "kernel (9) is larger than the padded input (7)" in err
    assert not at.get("plotly_chart")


def test_same_padding_with_stride_two_is_explained():
    at = open_page(pm="same", s=2)
    assert "only keeps the output the same size" in " ".join(e.value for e in at.error)


def test_share_link_restores_every_widget():
    at = open_page(op="conv", h=12, w=9, rect=1, k=5, kw=3, s=2, sw=1, pm="explicit", p=2, pw=0, d=1, dw=2,
                   cin=3, cout=8, step=7, depth=4)
    assert at.slider(key="arithmetic.h").value == 12 and at.slider(key="arithmetic.w").value == 9
    assert at.slider(key="arithmetic.kw").value == 3 and at.slider(key="arithmetic.dw").value == 2
    assert at.toggle(key="arithmetic.rect").value is True
    # height: floor((12 + 4 - 4 - 1)/2) + 1 = 6; width: floor((9 + 0 - 4 - 1)/1) + 1 = 5
    assert metric(at, "Output shape") == "(1, 8, 6, 5)"
    assert at.slider(key="arithmetic.step").value == 7
    assert at.slider(key="arithmetic.depth").value == 4


def test_malformed_link_falls_back_with_notice():
    at = open_page(k="banana", h="-3", s="99999999999999999999", pm="weird", zzz="1")
    warn = " ".join(w.value for w in at.warning)
    assert "could not use" in warn and "kernel" in warn and "unknown link setting" in warn
    assert metric(at, "Output shape") == "(1, 1, 3, 3)"  # all defaults


def test_torch_cross_check_agrees():
    at = open_page(h=28, k=3, s=2, p=1, cout=16, cin=3, torch=1)
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
    assert not at.metric and not at.get("plotly_chart")
    at.number_input(key="arithmetic.guess_h").set_value(2)
    at.number_input(key="arithmetic.guess_w").set_value(2)
    at.button[0].click().run()  # wrong
    assert "Not quite" in " ".join(e.value for e in at.error) and not at.metric
    at.number_input(key="arithmetic.guess_h").set_value(3)
    at.number_input(key="arithmetic.guess_w").set_value(3)
    at.button[0].click().run()
    assert metric(at, "Output shape") == "(1, 1, 3, 3)"


def test_output_grid_marks_current_cell():
    at = open_page(h=5, k=3, s=2, p=1, step=4)
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [f["layout"].get("title", {}).get("text", "") for f in figs]
    assert "Output 3×3" in titles and "Input 5×5, padded to 7×7" in titles


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
    latex = [e.proto.body.strip("$\n") for e in at.latex]  # st.latex sends "$$\n…\n$$"
    total = next(t for t in latex if t.startswith(r"\text{output}"))
    shape = ar.conv2d_shape((6, 6), (3, 3), (1, 1), (0, 0))
    x, kernel, bias = colour_example(shape)
    expected = sum(float((x[ch, 1:4, 1:4] * kernel[ch]).sum()) for ch in range(3)) + bias
    assert total.endswith(f"= {expected:g}")
    assert sum(t.startswith(f"{name}:") for name in "RGB" for t in latex) == 3
    assert np.isclose(conv_layer.channel_sums(x, kernel, bias, shape, 1, 1).total, expected)


def test_receptive_field_table_grows_with_depth():
    # defaults: 5×5 input, kernel 3, stride 2, padding 1 → 3×3; receptive field 3, then 3 + 2·2 = 7
    at = open_page()
    at.slider(key="arithmetic.depth").set_value(2).run()
    table = at.table[0].value
    assert list(table.index) == ["layer 1", "layer 2"]
    assert list(table["receptive field"]) == ["3×3", "7×7"]
    assert list(table["output size"]) == ["3×3", "2×2"]
