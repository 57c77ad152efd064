"""The layer plan of an exported model: which graph outputs hold each step's tensor and parameters
(the sidecar's ``extra["layer_outputs"]``, checked as it is read), and running them with onnxruntime.

NumPy and onnxruntime only (no torch, no ``onnx``). ``core.infer.explain`` explains single units on top.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import numpy as np

from core.infer.preprocess import to_model_input

LAYER_OUTPUTS_KEY = "layer_outputs"
PLAN_VERSION = 1
MAX_STEPS = 64  # a ConvLab network has at most 24 layers: a longer list is not ours
IMAGE = "image"  # the graph input; a step whose source is IMAGE reads the normalised digit
STEP_KINDS = ("conv", "batchnorm", "pool", "flatten", "dense", "logits")
ACTIVATIONS = ("", "relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid")


@dataclass(frozen=True)
class Step:
    """One step of the graph's chain, matched with a row of the layer table."""

    row: str  # layer-table row name: "conv1", "bn1", "pool1", "flatten", "dense1", "output"
    kind: str  # a STEP_KINDS value
    op: str  # the ONNX op, e.g. "Conv", "MaxPool", "Gemm"
    label: str  # the layer table's label, e.g. "conv 3×3, 16 ch, pad 1"
    shape: tuple[int, ...]  # per-image output shape (C, H, W) or (units,)
    source: str  # graph output holding this step's input (IMAGE for the first step)
    pre: str  # graph output after the step's own arithmetic (bias included), before any activation
    post: str  # graph output after the activation (== pre without one)
    activation: str = ""  # an ACTIVATIONS value
    alpha: float = 0.0  # LeakyReLU slope / ELU alpha
    params: tuple[str, ...] = ()  # graph outputs of its constants: (W, b) or BN (scale, B, mean, var)
    kernel: tuple[int, ...] = ()  # (kh, kw) for conv and pool
    strides: tuple[int, ...] = ()  # (sh, sw)
    pads: tuple[int, ...] = ()  # ONNX order: (top, left, bottom, right)
    transposed: bool = False  # dense: weight stored (out, in), as torch's Linear and Gemm(transB=1)
    folded_bn: str = ""  # the batch-norm row the exporter folded into this conv's weights
    epsilon: float = 1e-5  # batch norm

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3


@dataclass(frozen=True)
class LayerView:
    """One picture of the overview: a tensor of the network for this digit."""

    key: str  # stable, for links: "input", "conv1", "conv1.relu", "pool1", ..., "output", "softmax"
    title: str
    output: str  # graph output name ("" for input/softmax, computed here)
    shape: tuple[int, ...]
    step: int  # index into LayerOutputs.steps; -1 for input and softmax
    signed: bool  # values can be negative (shown blue-white-red)
    caption: str


@dataclass(frozen=True)
class LayerOutputs:
    steps: tuple[Step, ...]
    version: int = PLAN_VERSION

    def tensor_names(self) -> list[str]:
        names: list[str] = []
        for s in self.steps:
            names += [n for n in (s.pre, s.post) if n not in names]
        return names

    def param_names(self) -> list[str]:
        names: list[str] = []
        for s in self.steps:
            names += [n for n in s.params if n and n not in names]
        return names

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "steps": [asdict(s) for s in self.steps]}

    def sidecar(self) -> dict[str, Any]:
        """What the exporter adds to the sidecar's ``extra``."""
        return {LAYER_OUTPUTS_KEY: self.to_dict()}

    def views(self, in_shape: tuple[int, int, int] = (1, 28, 28)) -> list[LayerView]:
        return layer_views(self, in_shape)


class PlanError(ValueError):
    """The sidecar's layer-output description is malformed; the message says what is wrong."""


def _tuple_ints(v: Any, what: str, n_max: int = 4) -> tuple[int, ...]:
    if not isinstance(v, (list, tuple)) or len(v) > n_max or not all(isinstance(x, int) and 0 <= x <= 100_000 for x in v):
        raise PlanError(f"{what} must be a short list of non-negative integers.")
    return tuple(int(x) for x in v)


def _str(v: Any, what: str) -> str:
    if not isinstance(v, str) or len(v) > 200:
        raise PlanError(f"{what} must be a short text.")
    return v


def step_from_dict(d: Mapping[str, Any]) -> Step:
    if not isinstance(d, Mapping):
        raise PlanError("each step must be a JSON object.")
    kind = _str(d.get("kind"), "kind")
    if kind not in STEP_KINDS:
        raise PlanError(f"unknown step kind {kind[:20]!r}.")
    activation = _str(d.get("activation", ""), "activation")
    if activation not in ACTIVATIONS:
        raise PlanError(f"unknown activation {activation[:20]!r}.")
    shape = _tuple_ints(d.get("shape"), "shape", 3)
    if len(shape) not in (1, 3) or math.prod(shape) > 4_000_000:
        raise PlanError("a step's shape must be (C, H, W) or (units,).")
    try:
        alpha, eps = float(d.get("alpha", 0.0)), float(d.get("epsilon", 1e-5))
    except (TypeError, ValueError) as exc:
        raise PlanError("alpha and epsilon must be numbers.") from exc
    params = d.get("params", [])
    if not isinstance(params, (list, tuple)) or len(params) > 4:
        raise PlanError("params must be a list of at most 4 names.")
    return Step(
        row=_str(d.get("row"), "row"), kind=kind, op=_str(d.get("op"), "op"), label=_str(d.get("label", ""), "label"),
        shape=shape, source=_str(d.get("source"), "source"), pre=_str(d.get("pre"), "pre"),
        post=_str(d.get("post"), "post"), activation=activation, alpha=alpha,
        params=tuple(_str(p, "param") for p in params), kernel=_tuple_ints(d.get("kernel", []), "kernel", 2),
        strides=_tuple_ints(d.get("strides", []), "strides", 2), pads=_tuple_ints(d.get("pads", []), "pads", 4),
        transposed=bool(d.get("transposed", False)), folded_bn=_str(d.get("folded_bn", ""), "folded_bn"),
        epsilon=eps,
    )


def plan_of(extra: Mapping[str, Any]) -> LayerOutputs | None:
    """The layer outputs a sidecar's ``extra`` declares; None for a model exported without them."""
    raw = extra.get(LAYER_OUTPUTS_KEY)
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or raw.get("version") != PLAN_VERSION:
        raise PlanError(f"layer_outputs must be an object with version {PLAN_VERSION}.")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise PlanError(f"layer_outputs must list between 1 and {MAX_STEPS} steps.")
    plan = LayerOutputs(tuple(step_from_dict(s) for s in steps))
    if plan.steps[-1].kind != "logits" or plan.steps[0].source != IMAGE:
        raise PlanError("the steps must run from the image to the logits.")
    return plan


def missing_outputs(plan: LayerOutputs, graph_outputs: tuple[str, ...]) -> list[str]:
    """Names the plan needs that the graph does not output (a sidecar that does not match its model)."""
    have = set(graph_outputs)
    return [n for n in (*plan.tensor_names(), *plan.param_names()) if n not in have]


# ---------------------------------------------------------------------------------------------
# The overview's pictures

ACT_TITLES = {"relu": "ReLU", "leaky_relu": "Leaky ReLU", "elu": "ELU", "gelu": "GELU", "tanh": "tanh",
              "sigmoid": "sigmoid"}


def _step_caption(s: Step) -> str:
    if s.kind == "conv":
        fold = f" (its batch norm {s.folded_bn} is folded into these weights)" if s.folded_bn else ""
        return f"{s.shape[0]} filters slide over the input; each gives one map{fold}. Can be negative."
    return {
        "batchnorm": "Each channel normalised with the training statistics, then scaled and shifted.",
        "pool": "Each window of the map above keeps one number: the maps shrink, the channels stay.",
        "flatten": "The same numbers, laid out in one long row for the dense layer.",
        "dense": "Each unit weighs every number of the layer before it and adds a bias.",
        "logits": "One score per digit: the higher, the more the network believes it.",
    }[s.kind]


def layer_views(plan: LayerOutputs, in_shape: tuple[int, int, int] = (1, 28, 28)) -> list[LayerView]:
    c, h, w = in_shape
    what = "digit" if c == 1 else "colour image (red, green and blue channels)"
    views = [LayerView("input", "input (normalised)", IMAGE, in_shape, -1, True,
                       f"The {h}×{w} {what}, normalised as in training: (pixel − mean) / std.")]
    for i, s in enumerate(plan.steps):
        name = "logits" if s.kind == "logits" else s.row
        views.append(LayerView(s.row, f"{name}: {s.label}", s.pre, s.shape, i, True, _step_caption(s)))
        if s.activation:
            act = ACT_TITLES[s.activation]
            views.append(LayerView(f"{s.row}.{s.activation}", f"{act} after {s.row}", s.post, s.shape, i,
                                   s.activation not in ("relu",),
                                   f"{act} keeps positive values{' and zeroes the rest' if s.activation == 'relu' else ''}: "
                                   "dark blue = this detector fired."))
    views.append(LayerView("softmax", "softmax: ten probabilities", "", (10,), -1, False,
                           "The logits turned into probabilities that add up to 1."))
    return views


# ---------------------------------------------------------------------------------------------
# Running the model


Runner = Callable[[list[str], np.ndarray], list[np.ndarray]]  # (output names, batch) → arrays
normalise = to_model_input  # pixels 0..1 → model input, grey or colour (core.infer.preprocess: one implementation)


def session_runner(session: Any, input_name: str = IMAGE) -> Runner:
    """A ``Runner`` over an onnxruntime session."""
    return lambda names, batch: session.run(names, {input_name: np.ascontiguousarray(batch, np.float32)})


def run_layers(run: Runner, plan: LayerOutputs, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every step's tensor for ONE normalised image (1, C, H, W): graph output name → array without
    the batch axis, plus IMAGE → (C, H, W)."""
    names = plan.tensor_names()
    values = dict(zip(names, (v[0] for v in run(names, x))))
    values[IMAGE] = np.asarray(x[0], dtype=np.float32)
    return values


def read_params(run: Runner, plan: LayerOutputs, in_shape: tuple[int, int, int] = (1, 28, 28)) -> dict[str, np.ndarray]:
    """The model's constants (kernels, biases, BN statistics) as the graph outputs them."""
    names = plan.param_names()
    if not names:
        return {}
    return dict(zip(names, run(names, np.zeros((1, *in_shape), np.float32))))
