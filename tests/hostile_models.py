"""Small ONNX graphs that misbehave the ways a hostile upload could, each with a sidecar that vouches for it.

Every graph takes ``image`` (N, 1, 28, 28) float32 and outputs ``logits`` (N, k), so it passes the
graph-shape checks and only its numbers (or onnxruntime) go wrong. ``x`` is the normalised input:
with the shipped sidecar's MNIST normalisation a blank image is about -0.42 everywhere, a mid-grey one
1.19, and a real digit reaches 2.82 (white ink), which is what the "only on a real digit" graphs use.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from core.data.mnist import REPO_ROOT
from core.infer.model_card import sha256_file, sidecar_path

SHIPPED = REPO_ROOT / "exported_models"  # not core.infer.runtime.SHIPPED_DIR: tests repoint that
DIGIT_THRESHOLD = 2.0  # between a mid-grey smoke-test image (1.19) and white ink (2.82)


def _save(graph, folder: Path, stem: str) -> Path:
    import onnx
    from onnx import helper

    path = folder / f"{stem}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), path)
    shipped = sorted(SHIPPED.glob("*.onnx"))[0]
    card = json.loads(sidecar_path(shipped).read_text())
    # no layer plan: these graphs have no layer outputs, and a plan that contradicts its graph is refused
    card.update(name=stem, sha256=sha256_file(path), activations=[], extra={})
    sidecar_path(path).write_text(json.dumps(card))
    return path


def _linear(nodes: list, initializers: list, classes: int) -> None:
    """logits0 = flatten(image) @ W, with a fixed W that tells digits apart a little (not at all well)."""
    from onnx import helper, numpy_helper

    w = np.random.default_rng(0).normal(0, 0.01, (784, classes)).astype(np.float32)
    initializers.append(numpy_helper.from_array(w, "W"))
    nodes += [helper.make_node("Flatten", ["image"], ["flat"], axis=1),
              helper.make_node("MatMul", ["flat", "W"], ["logits0"])]


def _graph(nodes: list, initializers: list, classes: int):
    from onnx import TensorProto, helper

    return helper.make_graph(
        nodes, "hostile", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])], initializers)


def wrong_class_count(folder: Path, classes: int = 5) -> Path:
    from onnx import helper

    nodes, inits = [], []
    _linear(nodes, inits, classes)
    nodes.append(helper.make_node("Identity", ["logits0"], ["logits"]))
    return _save(_graph(nodes, inits, classes), folder, f"classes{classes}")


def nan_always(folder: Path) -> Path:
    """logits = x @ W + sqrt(-1): NaN for every image (refused when loaded)."""
    from onnx import helper, numpy_helper

    nodes, inits = [], []
    _linear(nodes, inits, 10)
    inits.append(numpy_helper.from_array(np.array(-1.0, np.float32), "minus1"))
    nodes += [helper.make_node("Sqrt", ["minus1"], ["nan"]), helper.make_node("Add", ["logits0", "nan"], ["logits"])]
    return _save(_graph(nodes, inits, 10), folder, "nan_always")


def _max_of_input(nodes: list) -> str:
    from onnx import helper

    nodes.append(helper.make_node("ReduceMax", ["image"], ["xmax"], keepdims=0))  # scalar
    return "xmax"


def nan_on_digits(folder: Path) -> Path:
    """logits = x @ W + sqrt(2 - max(x)): finite for the smoke test, NaN on any real digit."""
    from onnx import helper, numpy_helper

    nodes, inits = [], []
    _linear(nodes, inits, 10)
    inits.append(numpy_helper.from_array(np.array(DIGIT_THRESHOLD, np.float32), "t"))
    xmax = _max_of_input(nodes)
    nodes += [helper.make_node("Sub", ["t", xmax], ["room"]), helper.make_node("Sqrt", ["room"], ["root"]),
              helper.make_node("Add", ["logits0", "root"], ["logits"])]
    return _save(_graph(nodes, inits, 10), folder, "nan_on_digits")


def fails_on_digits(folder: Path) -> Path:
    """logits = x @ W + table[int(10 · max(x))] with a 20-entry table: onnxruntime raises an
    out-of-bounds Gather error on a real digit (index 28), never in the smoke test (index ≤ 11)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    _linear(nodes, inits, 10)
    inits += [numpy_helper.from_array(np.zeros(20, np.float32), "table"),
              numpy_helper.from_array(np.array(10.0, np.float32), "ten")]
    xmax = _max_of_input(nodes)
    nodes += [helper.make_node("Mul", [xmax, "ten"], ["scaled"]),
              helper.make_node("Cast", ["scaled"], ["index"], to=TensorProto.INT64),
              helper.make_node("Gather", ["table", "index"], ["bias"]),
              helper.make_node("Add", ["logits0", "bias"], ["logits"])]
    return _save(_graph(nodes, inits, 10), folder, "fails_on_digits")


def copy_shipped(folder: Path, stem: str, src: Path | None = None) -> Path:
    """A real shipped model (``src``, else one of ``exported_models/``) under another name (its sidecar's
    name field follows)."""
    src = src or sorted(SHIPPED.glob("*.onnx"))[-1]
    dst = folder / f"{stem}.onnx"
    shutil.copyfile(src, dst)
    card = json.loads(sidecar_path(src).read_text())
    card.update(name=stem)
    sidecar_path(dst).write_text(json.dumps(card))
    return dst
