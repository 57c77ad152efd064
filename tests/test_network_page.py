"""The "Inside the network" page under AppTest: what it shows are the model's own numbers, its share link
reopens the view, the Draw page hands its digit over, and bad links or old models are explained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pytest

from core.infer import explain as nw
from core.infer import plan as layer_plan
from core.links.network import decode_digit
from core.data.mnist import load_test
from core.infer.runtime import SHIPPED_DIR, load_model
from tests.apptest_checks import assert_clean, new_app, open_clean, plotly_array, texts

PAGE = "pages/network.py"


def markdown(at) -> str:
    return texts(at.markdown)


def expected(model_name: str, image: np.ndarray):
    model = load_model(SHIPPED_DIR / f"{model_name}.onnx")
    plan = layer_plan.plan_of(model.card.extra)
    run = layer_plan.session_runner(model.session)
    values = layer_plan.run_layers(run, plan, layer_plan.normalise(image, model.card.mean, model.card.std))
    return model, plan, values, layer_plan.read_params(run, plan)


def test_default_view_shows_every_layer_and_the_models_numbers():
    at = open_clean(PAGE)
    assert at.title[0].value.endswith("Inside the network")
    model, plan, values, _ = expected("bncnn", load_test().images[0] / 255.0)
    text = markdown(at)
    for view in plan.views():  # every layer in order, with its shape from the layer table
        assert "×".join(map(str, view.shape)) in text
    titles = [m.value for m in at.markdown if m.value.startswith("**") and "`" in m.value]
    assert len(titles) == len(plan.views())
    assert "Prediction: 7" in text
    # the softmax table holds onnxruntime's logits and their probabilities
    table = at.dataframe[-1].value if "logit z" in at.dataframe[-1].value.columns else \
        next(d.value for d in at.dataframe if "logit z" in d.value.columns)
    np.testing.assert_allclose(table["logit z"].to_numpy(), values["logits"], atol=1e-4)
    np.testing.assert_allclose(table["probability"].to_numpy(), nw.softmax_steps(values["logits"]).probs, atol=1e-5)
    assert dict(at.query_params)["m"] == "bncnn"


def test_a_link_opens_a_unit_with_its_arithmetic_and_the_temperature():
    at = open_clean(PAGE, m="lenet5", t=3, L="conv2", c=5, r=4, q=6, T=2.5, y="3", p=4)
    assert at.selectbox(key="network.L").value == "conv2"
    assert at.slider(key="network.T").value == 2.5 and at.slider(key="network.p").value == 4
    image = load_test().images[3] / 255.0
    model, plan, values, params = expected("lenet5", image)
    step = next(s for s in plan.steps if s.row == "conv2")
    unit = nw.conv_unit(step, values, params, 5, 4, 6)
    text = markdown(at)
    assert "**Channel 5, row 4, column 6**" in text
    assert f"pre-activation **{unit.pre:.4g}**" in text
    assert any(f"onnxruntime computed {unit.onnx_post:.4g}" in s.value for s in at.success)
    sm = nw.softmax_steps(values["logits"], 2.5)
    table = next(d.value for d in at.dataframe if "logit z" in d.value.columns)
    np.testing.assert_allclose(table["probability"].to_numpy(), sm.probs, atol=1e-5)
    assert f"−log p(3) = −log {sm.probs[3]:.4g} = **{nw.cross_entropy(sm.probs, 3):.4g}**" in text
    assert table["one-hot target"].tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    qp = dict(at.query_params)
    assert (qp["L"], qp["c"], qp["r"], qp["q"], qp["T"]) == ("conv2", "5", "4", "6", "2.5")


@pytest.mark.parametrize("layer,unit,expect", [("pool1", (2, 3, 9), "largest value wins"),
                                                ("dense1.relu", (17,), "largest contributions"),
                                                ("output", (7,), "largest contributions"),
                                                ("flatten", (123,), "Flatten moves numbers")])
def test_other_units_open(layer, unit, expect):
    keys = dict(zip(("c", "r", "q"), unit))
    at = open_clean(PAGE, m="lenet5", L=layer, **keys)
    assert expect in markdown(at)
    if layer == "dense1.relu":
        model, plan, values, params = expected("lenet5", load_test().images[0] / 255.0)
        step = next(s for s in plan.steps if s.row == "dense1")
        u = nw.dense_unit(step, values, params, 17)
        assert f"pre-activation **{u.pre:.4g}**" in markdown(at)
        table = next(d.value for d in at.dataframe if "value × weight" in d.value.columns)
        np.testing.assert_allclose(table["value × weight"].to_numpy(), u.contributions[u.top(10)], rtol=1e-5)


def test_changing_layer_keeps_units_inside_it():
    at = open_clean(PAGE, m="bncnn", L="conv1", c=15, r=27, q=27)
    at.selectbox(key="network.L").set_value("conv3").run()
    assert_clean(at, "conv3")
    assert (at.number_input(key="network.c").value, at.number_input(key="network.r").value) == (15, 4)
    at.selectbox(key="network.L").set_value("output").run()
    assert_clean(at, "output")
    assert at.number_input(key="network.c").value == 9


def test_the_draw_page_hands_its_digit_over():
    at = open_clean("pages/draw.py", src="test", t=11, m="bncnn")
    (link,) = [el for el in at.get("page_link") if el.proto.page == "network"]
    params = {k: v[0] for k, v in parse_qs(link.proto.query_string).items()}
    assert params["src"] == "link" and params["m"] == "bncnn"
    digit = decode_digit(params["img"])
    at2 = open_clean(PAGE, **params)
    assert at2.radio(key="network.src").value == "link"
    model, plan, values, _ = expected("bncnn", digit)
    assert f"Prediction: {int(np.argmax(values['logits']))}" in markdown(at2)
    assert dict(at2.query_params)["img"] == params["img"]  # the share link keeps the digit


def test_the_draw_pages_ensemble_hands_over_to_a_network_with_layers():
    at = open_clean("pages/draw.py", src="test", t=11)  # the default model: the ensemble (best accuracy)
    (link,) = [el for el in at.get("page_link") if el.proto.page == "network"]
    params = {k: v[0] for k, v in parse_qs(link.proto.query_string).items()}
    assert "m" not in params  # an ensemble has no layers to show: the network page picks its default
    at2 = open_clean(PAGE, **params)
    assert dict(at2.query_params)["m"] == "bncnn" and not at2.info


@pytest.mark.parametrize("params", [{"img": "%%%not-a-digit", "src": "link"}, {"L": "<b>x</b>"},
                                    {"img": "eJzLSM3JyVcozy_KSQEAGgQEXQ", "src": "link"}, {"T": "0"}])
def test_bad_links_are_explained(params):
    at = open_clean(PAGE, **params)
    assert_clean(at, str(params))
    assert any("could not use" in w.value for w in at.warning)


def test_a_model_exported_without_layer_outputs_is_explained(tmp_path, monkeypatch):
    token = "ab" * 16
    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(tmp_path))
    folder = tmp_path / token
    folder.mkdir()
    shutil.copy(SHIPPED_DIR / "lenet5.onnx", folder / "old.onnx")
    card = json.loads((SHIPPED_DIR / "lenet5.json").read_text())
    card["extra"].pop("layer_outputs")
    (folder / "old.json").write_text(json.dumps(card))
    at = new_app()
    at.session_state["convlab.session_token"] = token
    at.run()
    at.switch_page(PAGE).run()
    at.selectbox(key="network.m").set_value("session/old").run()
    assert_clean(at, "old model")
    assert any("exported before ConvLab recorded every layer" in w.value for w in at.warning)
    text = markdown(at)
    assert "1. The whole network" not in " ".join(s.value for s in at.subheader)
    assert "Cross-entropy loss" in text  # the logits-only sections still work
    assert any("Which pixels mattered" in s.value for s in at.subheader)


def test_unit_picker_maps_clicks_back_to_units():
    from ui import network_views as views

    for shape in [(6, 28, 28), (120,), (784,), (10,)]:
        value = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
        channel = shape[0] - 1 if len(shape) == 3 else 0
        grid = views.pick_grid(value, channel)
        for r in range(grid.shape[0]):
            for q in range(grid.shape[1]):
                unit = views.unit_at(shape, channel, r, q)
                if np.isnan(grid[r, q]):
                    assert unit is None
                else:
                    assert value[unit] == grid[r, q]


def test_the_page_needs_neither_torch_nor_onnx():
    """The inference-only install has onnxruntime but not the ``onnx`` package: the page reads layer outputs
    and weights through onnxruntime alone (the graph surgery happens at export time)."""
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "import tests.conftest\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(REPO / 'streamlit_app.py')!r}, default_timeout=120)\n"
        "at.run(); at.switch_page('pages/network.py').run()\n"
        "at.selectbox(key='network.L').set_value('conv1.relu').run()\n"
        "mods = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx'))\n"
        "print('RESULT ' + json.dumps({'mods': mods[:5], 'exc': [e.value for e in at.exception]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result == {"mods": [], "exc": []}, result


def test_layer_pictures_have_the_layers_shape():
    """Each overview picture is its layer's mosaic enlarged by a whole factor (one tile per channel, or a
    strip of units), so a vector never turns into a tall column of pixels."""
    from ui import network_views as views

    for shape in [(10,), (120,), (784,), (6, 28, 28), (64, 5, 5)]:
        value = np.random.default_rng(0).random(shape, dtype=np.float32)
        grid = views.mosaic(value)
        rgb, f = views.upscale(views.to_rgb(grid, signed=False))
        assert rgb.shape == (grid.shape[0] * f, grid.shape[1] * f, 3)
        assert grid.shape[1] >= grid.shape[0]  # wide, not tall
        assert np.count_nonzero(~np.isnan(grid)) == value.size


def test_a_one_channel_input_is_not_called_plural():
    at = open_clean(PAGE, m="lenet5", L="conv1", c=0, r=3, q=3)
    text = markdown(at)
    assert "window of the only channel of" in text and "1 channels" not in text


def _picker_layout(at) -> dict:
    figures = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    picker = next(f for f in figures if any(t.get("type") == "heatmap" for t in f["data"])
                  and any("click to open" in str(t.get("hovertemplate", "")) for t in f["data"]))
    return picker["layout"]


def test_a_dense_strip_has_no_meaningless_row_ticks_and_labels_every_unit():
    layout = _picker_layout(open_clean(PAGE, m="lenet5", L="output", c=7))
    assert layout["yaxis"]["showticklabels"] is False  # one row of 10 units: no −0.5, 0, 0.5
    assert layout["xaxis"]["dtick"] == 1 and layout["xaxis"]["tick0"] == 0  # 0, 1, 2 … 9, not only even ones
    wide = _picker_layout(open_clean(PAGE, m="lenet5", L="dense1.relu", c=17))
    assert wide["yaxis"]["ticktext"][:3] == ["unit 0", "unit 16", "unit 32"]  # 120 units in rows of 16
