"""Graph surgery at export time: every layer's output (and its weights) become outputs of the ONNX graph.

The "Inside the network" page shows every layer of a model for one digit and recomputes any unit from
the trained weights, with onnxruntime alone (no torch, no ``onnx`` package at run time). For that, the
exported graph must hand out more than the logits. ``add_layer_outputs`` walks the graph from the input
along its one chain of nodes, matches each step with a row of the layer table (``core.models``), and
declares as extra graph outputs

* the tensor after each conv / batch norm / activation / pooling / flatten / dense step (no new nodes:
  the exporter's own tensors are listed as outputs, so nothing is copied unless a caller asks for it);
* the initializers those steps read (kernels, biases, batch-norm statistics), so the page can show the
  weights the model really uses, e.g. a conv kernel with batch norm folded in by the exporter.

``LayerOutputs`` describes them; the exporter stores it in the sidecar (``extra["layer_outputs"]``), and
``core.infer.explain`` reads it back. Torch-free; used by ``core.train.export`` and ``scripts/add_layer_outputs.py``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import onnx
from onnx import helper, numpy_helper

from core.infer.model_card import INPUT_NAME, LOGITS_NAME
from core.infer.plan import LAYER_OUTPUTS_KEY, LayerOutputs, Step

# ONNX ops that start a new step of the chain, and the layer-table kind each one implements.
ANCHORS = {
    "Conv": "conv", "BatchNormalization": "batchnorm", "MaxPool": "pool", "AveragePool": "pool",
    "Reshape": "flatten", "Flatten": "flatten", "Gemm": "dense", "MatMul": "dense",
}
ACTIVATION_OPS = {"Relu": "relu", "LeakyRelu": "leaky_relu", "Elu": "elu", "Gelu": "gelu", "Tanh": "tanh",
                  "Sigmoid": "sigmoid"}


class GraphMismatch(ValueError):
    """The graph is not the plain chain its layer table describes; the message says where."""


@dataclass
class _Stage:
    """One anchor node and the nodes up to the next anchor (bias add, activation)."""

    kind: str
    node: onnx.NodeProto
    pre: str  # tensor after the layer's own arithmetic (bias included)
    post: str  # tensor after the activation (== pre when there is none)
    activation: str = ""  # ACTIVATION_OPS value, "" when none
    act_alpha: float = 0.0
    bias_add: str = ""  # for MatMul + Add: the initializer the Add reads


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _chain(graph: onnx.GraphProto) -> list[_Stage]:
    """Walk from the input along the nodes whose first input is the current tensor."""
    inits = {i.name for i in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input[:1]:
            consumers.setdefault(name, []).append(node)
    stages: list[_Stage] = []
    current = INPUT_NAME
    while current in consumers:
        nodes = consumers[current]
        if len(nodes) != 1:
            raise GraphMismatch(f"tensor {current!r} feeds {len(nodes)} nodes; ConvLab models are one chain.")
        node = nodes[0]
        out = node.output[0]
        if node.op_type in ANCHORS:
            stages.append(_Stage(ANCHORS[node.op_type], node, out, out))
        elif not stages:
            raise GraphMismatch(f"the graph starts with a {node.op_type} node, not a layer.")
        elif node.op_type == "Add" and stages[-1].node.op_type == "MatMul" and not stages[-1].bias_add:
            stage = stages[-1]
            stage.bias_add = next((n for n in node.input if n in inits), "")
            stage.pre = stage.post = out
        elif node.op_type in ACTIVATION_OPS and not stages[-1].activation:
            stages[-1].activation = ACTIVATION_OPS[node.op_type]
            stages[-1].act_alpha = float(_attrs(node).get("alpha", 0.0))
            stages[-1].post = out
        elif node.op_type in ("Identity", "Dropout"):
            stages[-1].post = out
        else:
            raise GraphMismatch(f"unexpected {node.op_type} node after {stages[-1].node.op_type}.")
        current = out
    if current != LOGITS_NAME:
        raise GraphMismatch(f"the chain ends at {current!r}, not at {LOGITS_NAME!r}.")
    return stages


def _rows(architecture: dict, in_shape: tuple[int, int, int]):
    from core.arch.layer_table import layer_table, table_reason
    from core.arch.spec import spec_from_dict

    rows = layer_table(spec_from_dict(architecture), in_shape)
    if table_reason(rows):
        raise GraphMismatch(f"the sidecar's architecture cannot be built: {table_reason(rows)}")
    return rows[1:]  # without the input row


def _input_shape(proto: onnx.ModelProto) -> tuple[int, int, int]:
    """(C, H, W) of the graph's image input: grey 28×28 or colour 32×32, as the model was trained."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    shape = tuple(int(d.dim_value) for d in dims[1:])
    if len(shape) != 3 or not all(shape):
        raise GraphMismatch(f"the graph's input has no fixed (C, H, W) shape ({shape}).")
    return shape  # type: ignore[return-value]


def _tensor_shapes(proto: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Per-image shape of every tensor onnx's shape inference knows (batch axis dropped)."""
    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {}
    for vi in (*inferred.graph.value_info, *inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if len(dims) >= 2 and all(d.HasField("dim_value") for d in dims[1:]):
            shapes[vi.name] = tuple(int(d.dim_value) for d in dims[1:])
    return shapes


def _match(stages: list[_Stage], rows) -> list[tuple[object, _Stage | None]]:
    """Pair every layer-table row with its graph stage (None: no op at test time or folded away)."""
    pairs = []
    queue = list(stages)
    for row in rows:
        nxt = queue[0] if queue else None
        kind = "dense" if row.kind == "output" else row.kind
        if row.kind == "dropout" or (row.kind == "flatten" and len(row.in_shape) == 1 and
                                     (nxt is None or nxt.kind != "flatten")):
            pairs.append((row, None))  # dropout does nothing at test time; an already-flat flatten is a no-op
        elif row.kind == "batchnorm" and (nxt is None or nxt.kind != "batchnorm"):
            pairs.append((row, None))  # the exporter folded it into the conv/dense weights before it
        elif nxt is not None and nxt.kind == kind:
            pairs.append((row, queue.pop(0)))
        else:
            found = nxt.node.op_type if nxt else "the end of the graph"
            raise GraphMismatch(f"layer {row.name} ({row.kind}) has no matching node: found {found}.")
    if queue:
        raise GraphMismatch(f"the graph has a {queue[0].node.op_type} node the layer table does not list.")
    return pairs


def plan_layer_outputs(proto: onnx.ModelProto, architecture: dict) -> LayerOutputs:
    """Which tensors and initializers to expose, one ``Step`` per graph step, in order."""
    graph = proto.graph
    shapes = _tensor_shapes(proto)
    inits = {i.name: i for i in graph.initializer}
    pairs = _match(_chain(graph), _rows(architecture, _input_shape(proto)))
    steps: list[Step] = []
    source = INPUT_NAME
    folded: dict[str, str] = {}  # conv/dense row name → name of the batch norm folded into it
    for i, (row, stage) in enumerate(pairs):
        if stage is None and row.kind == "batchnorm":
            prev = next((r.name for r, s in reversed(pairs[:i]) if s is not None), "")
            folded[prev] = row.name
    for row, stage in pairs:
        if stage is None:
            continue
        want = tuple(row.out_shape)
        got = shapes.get(stage.post, want)
        if tuple(got) != want:
            raise GraphMismatch(f"layer {row.name}: the graph gives shape {got}, the layer table {want}.")
        steps.append(_step(row, stage, source, inits, folded.get(row.name, "")))
        source = stage.post
    return LayerOutputs(tuple(steps))


def _step(row, stage: _Stage, source: str, inits: dict, folded_bn: str) -> Step:
    a = _attrs(stage.node)
    params: tuple[str, ...] = ()
    kernel, strides, pads = (), (), ()
    transposed = False
    if stage.kind == "conv":
        if int(a.get("group", 1)) != 1 or any(int(d) != 1 for d in a.get("dilations", (1, 1))):
            raise GraphMismatch(f"layer {row.name}: grouped or dilated convolutions are not shown here.")
        params = tuple(stage.node.input[1:3])
        kernel = tuple(int(k) for k in inits[params[0]].dims[2:])
    if stage.kind == "pool":
        kernel = tuple(int(k) for k in a["kernel_shape"])
    if stage.kind in ("conv", "pool"):
        strides = tuple(int(s) for s in a.get("strides", (1, 1)))
        pads = tuple(int(p) for p in a.get("pads", (0, 0, 0, 0)))
        if a.get("ceil_mode", 0) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise GraphMismatch(f"layer {row.name}: ceil-mode or auto-padded pooling is not shown here.")
    if stage.kind == "batchnorm":
        params = tuple(stage.node.input[1:5])
    if stage.kind == "dense":
        if stage.node.op_type == "Gemm":
            if a.get("transA", 0) or float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0:
                raise GraphMismatch(f"layer {row.name}: a scaled or transposed-input Gemm is not shown here.")
            w = numpy_helper.to_array(inits[stage.node.input[1]])
            params = (stage.node.input[1], stage.node.input[2] if len(stage.node.input) > 2 else "")
            transposed = bool(a.get("transB", 0))
        else:  # MatMul(x, W) with W (in, out), then Add(bias)
            params = (stage.node.input[1], stage.bias_add)
            transposed = False
            w = numpy_helper.to_array(inits[params[0]])
        if w.ndim != 2:
            raise GraphMismatch(f"layer {row.name}: its weight is not a matrix.")
    missing = [p for p in params if p and p not in inits]
    if missing:
        raise GraphMismatch(f"layer {row.name}: its parameters {missing} are not constants of the graph.")
    return Step(
        row=row.name, kind="logits" if row.kind == "output" else stage.kind, op=stage.node.op_type,
        label=row.label, shape=tuple(row.out_shape), source=source, pre=stage.pre, post=stage.post,
        activation=stage.activation, alpha=stage.act_alpha, params=params, kernel=kernel, strides=strides,
        pads=pads, transposed=transposed, folded_bn=folded_bn, epsilon=float(a.get("epsilon", 1e-5)),
    )


def add_layer_outputs(proto: onnx.ModelProto, architecture: dict) -> tuple[bytes, LayerOutputs]:
    """A copy of the model whose graph also outputs every step's tensors and parameters.

    The original outputs keep their names and order (``logits`` first), so code that reads them by name
    (the draw page) is unaffected. Returns the serialised model, checked by ``onnx.checker``.
    """
    plan = plan_layer_outputs(proto, architecture)
    model = copy.deepcopy(proto)
    graph = model.graph
    have = {o.name for o in graph.output}
    inferred = {vi.name: vi for vi in onnx.shape_inference.infer_shapes(proto).graph.value_info}
    inits = {i.name: i for i in graph.initializer}
    for name in plan.tensor_names():
        if name not in have:
            graph.output.append(inferred.get(name) or helper.make_empty_tensor_value_info(name))
            have.add(name)
    for name in plan.param_names():
        if name not in have:
            init = inits[name]
            graph.output.append(helper.make_tensor_value_info(name, init.data_type, list(init.dims)))
            have.add(name)
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(), plan


def strip_layer_outputs(proto: onnx.ModelProto, keep: Sequence[str]) -> onnx.ModelProto:
    """A copy with only the outputs named in ``keep`` (re-running the surgery on a tapped model)."""
    model = copy.deepcopy(proto)
    kept = [o for o in model.graph.output if o.name in set(keep)]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    return model


__all__ = ["GraphMismatch", "LAYER_OUTPUTS_KEY", "add_layer_outputs", "plan_layer_outputs", "strip_layer_outputs"]
