"""A sidecar whose layer plan contradicts its ONNX graph is refused when the model is loaded.

The graph is a real shipped model (LeNet-5: two 5×5 convs, two pools, three dense layers) and its
digest still matches; only the sidecar's ``extra["layer_outputs"]`` lies: a kernel size, a step's
shape, the weight and bias names swapped, the dense weight layout flipped, a pooling step's channels.
Each is refused by ``load_model`` with a sentence naming the step, and the Inside-the-network page shows
that sentence instead of a traceback.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.infer import plan as layer_plan
from core.infer.model_card import sidecar_path
from core.infer.plan_check import check_plan
from core.infer.runtime import SHIPPED_DIR, ModelRefused, load_model
from tests.apptest_checks import assert_clean, new_app

SOURCE = "lenet5"


def _step(card: dict, row: str) -> dict:
    return next(s for s in card["extra"]["layer_outputs"]["steps"] if s["row"] == row)


def kernel_3x3(card):
    _step(card, "conv1")["kernel"] = [3, 3]
    _step(card, "conv1")["pads"] = [1, 1, 1, 1]  # still gives 28×28: only the weights contradict it


def conv_shape(card):
    _step(card, "conv2")["shape"] = [16, 12, 12]


def swapped_params(card):
    step = _step(card, "dense1")
    step["params"] = step["params"][::-1]


def flipped_layout(card):
    _step(card, "dense2")["transposed"] = False


def pool_channels(card):
    _step(card, "pool1")["shape"] = [8, 14, 14]


def conv_weights_of_another_layer(card):
    _step(card, "conv1")["params"] = list(_step(card, "conv2")["params"])


def unknown_source(card):
    _step(card, "dense1")["source"] = "act_7"


LIES = {f.__name__: f for f in (kernel_3x3, conv_shape, swapped_params, flipped_layout, pool_channels,
                               conv_weights_of_another_layer, unknown_source)}


def lying_copy(folder: Path, lie: str, stem: str = "liar") -> Path:
    dst = folder / f"{stem}.onnx"
    shutil.copyfile(SHIPPED_DIR / f"{SOURCE}.onnx", dst)
    card = json.loads((SHIPPED_DIR / f"{SOURCE}.json").read_text())
    card["name"] = stem
    LIES[lie](card)
    sidecar_path(dst).write_text(json.dumps(card))
    return dst


def test_the_true_plan_is_accepted(tmp_path):
    dst = tmp_path / "honest.onnx"
    shutil.copyfile(SHIPPED_DIR / f"{SOURCE}.onnx", dst)
    shutil.copyfile(SHIPPED_DIR / f"{SOURCE}.json", sidecar_path(dst))
    model = load_model(dst)
    assert layer_plan.plan_of(model.card.extra) is not None


@pytest.mark.parametrize("lie", sorted(LIES))
def test_a_plan_that_contradicts_the_graph_is_refused_with_a_reason(tmp_path, lie):
    with pytest.raises(ModelRefused, match="does not match the graph") as info:
        load_model(lying_copy(tmp_path, lie))
    message = str(info.value)
    assert "Traceback" not in message and str(tmp_path) not in message
    row = {"kernel_3x3": "conv1", "conv_shape": "conv2", "swapped_params": "dense1", "flipped_layout": "dense2",
           "pool_channels": "pool1", "conv_weights_of_another_layer": "conv1", "unknown_source": "dense1"}[lie]
    assert row in message, message


def test_check_plan_needs_no_graph():
    """The check works on shapes alone: the same plan against shapes that differ in one weight."""
    card = json.loads((SHIPPED_DIR / f"{SOURCE}.json").read_text())
    plan = layer_plan.plan_of(card["extra"])
    tensors = {n: s.shape for s in plan.steps for n in (s.pre, s.post)}
    params = {"net.layers.0.weight": (6, 1, 5, 5), "net.layers.0.bias": (6,), "net.layers.3.weight": (16, 6, 5, 5),
              "net.layers.3.bias": (16,), "net.layers.7.weight": (120, 400), "net.layers.7.bias": (120,),
              "net.layers.9.weight": (84, 120), "net.layers.9.bias": (84,), "net.layers.11.weight": (10, 84),
              "net.layers.11.bias": (10,)}
    check_plan(plan, tensors, params, (1, 28, 28))
    with pytest.raises(layer_plan.PlanError, match="output"):
        check_plan(plan, {**tensors, "linear": (121,)}, params, (1, 28, 28))
    with pytest.raises(layer_plan.PlanError, match="conv2: its weight"):
        check_plan(plan, tensors, {**params, "net.layers.3.weight": (16, 6, 3, 3)}, (1, 28, 28))


def test_the_network_page_explains_a_lying_sidecar(tmp_path, monkeypatch):
    token = "cd" * 16
    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(tmp_path))
    folder = tmp_path / token
    folder.mkdir()
    lying_copy(folder, "kernel_3x3")
    at = new_app()
    at.session_state["convlab.session_token"] = token
    at.run()
    at.switch_page("pages/network.py").run()
    at.selectbox(key="network.m").set_value("session/liar").run()
    assert_clean(at, "lying sidecar")
    errors = " ".join(e.value for e in at.error)
    assert "cannot be used" in errors and "does not match the graph" in errors and "conv1" in errors, errors
    assert str(tmp_path) not in errors
