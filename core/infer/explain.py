"""Inside the network: every layer of an exported model for one digit, and any unit's arithmetic.

Everything here runs on NumPy and onnxruntime only (no torch, no ``onnx``). The model's graph carries
its layers' outputs and parameters as extra graph outputs (added at export by ``core.train.graph_surgery``);
the sidecar's ``extra["layer_outputs"]`` lists them as ``Step`` records, one per step of the chain:

    conv  → (batch norm) → activation → pool → ... → flatten → dense → activation → ... → logits

* ``run_layers`` gives every step's tensor for one image (one onnxruntime call);
* ``conv_unit`` / ``pool_unit`` / ``dense_unit`` / ``batchnorm_unit`` recompute one unit from the
  parameters with NumPy and carry onnxruntime's own value next to it, so a page shows both;
* ``softmax_steps`` and ``cross_entropy`` explain the output; ``occlusion`` batches every position of a
  blank patch through ONE onnxruntime call.

Models exported before ConvLab recorded layer outputs have no ``layer_outputs``: ``plan_of`` returns
None and the page explains that (the logits-only parts still work).
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
                                   "bright = this detector fired."))
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


# ---------------------------------------------------------------------------------------------
# One unit's arithmetic


def activate(kind: str, v: float, alpha: float = 0.0) -> float:
    """The activation functions ONNX's ops compute, for one number."""
    if kind == "relu":
        return max(v, 0.0)
    if kind == "leaky_relu":
        return v if v >= 0 else alpha * v
    if kind == "elu":
        return v if v >= 0 else alpha * (math.exp(v) - 1.0)
    if kind == "gelu":
        return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))
    if kind == "tanh":
        return math.tanh(v)
    if kind == "sigmoid":
        return 1.0 / (1.0 + math.exp(-v))
    return v


@dataclass(frozen=True)
class ConvUnit:
    step: Step
    channel: int
    row: int
    col: int
    window: np.ndarray  # (C_in, kh, kw) the input under the kernel; 0 where it hangs over the padding
    inside: np.ndarray  # (kh, kw) True where the window lies on the input, False on padding
    kernel: np.ndarray  # (C_in, kh, kw) this output channel's weights
    per_channel: np.ndarray  # (C_in,) Σ window × kernel for each input channel
    bias: float
    pre: float  # Σ per_channel + bias
    post: float  # after the activation
    onnx_pre: float  # onnxruntime's value of the same unit
    onnx_post: float
    origin: tuple[int, int]  # input (row, col) of the window's top-left (may be negative: padding)


def _check_index(shape: tuple[int, ...], index: tuple[int, ...]) -> None:
    if len(index) != len(shape) or any(not 0 <= i < n for i, n in zip(index, shape)):
        raise ValueError(f"Unit {index} is outside the layer's shape {shape}.")


def _window(x: np.ndarray, top: int, left: int, kh: int, kw: int, fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(C, kh, kw) slice of x (C, H, W) starting at (top, left), ``fill`` outside; and the inside mask."""
    c, h, w = x.shape
    rows, cols = np.arange(top, top + kh), np.arange(left, left + kw)
    inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
    win = np.full((c, kh, kw), fill, dtype=np.float32)
    r_ok, c_ok = np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)
    win[:] = np.where(inside, x[:, r_ok][:, :, c_ok], fill)
    return win, inside


def conv_unit(step: Step, values: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
              channel: int, row: int, col: int) -> ConvUnit:
    _check_index(step.shape, (channel, row, col))
    x = values[step.source]  # (C_in, H, W)
    w = params[step.params[0]][channel]  # (C_in, kh, kw)
    bias = float(params[step.params[1]][channel]) if len(step.params) > 1 and step.params[1] else 0.0
    kh, kw = step.kernel
    top, left = row * step.strides[0] - step.pads[0], col * step.strides[1] - step.pads[1]
    win, inside = _window(x, top, left, kh, kw)
    per = (win.astype(np.float64) * w).sum(axis=(1, 2))
    pre = float(per.sum() + bias)
    return ConvUnit(step, channel, row, col, win, inside, w, per, bias, pre,
                    activate(step.activation, pre, step.alpha), float(values[step.pre][channel, row, col]),
                    float(values[step.post][channel, row, col]), (top, left))


@dataclass(frozen=True)
class PoolUnit:
    step: Step
    channel: int
    row: int
    col: int
    window: np.ndarray  # (kh, kw) the input window (NaN where it hangs over the padding)
    winner: tuple[int, int] | None  # (r, c) inside the window of the max; None for average pooling
    value: float  # max or mean, recomputed
    onnx_value: float
    origin: tuple[int, int]


def pool_unit(step: Step, values: Mapping[str, np.ndarray], channel: int, row: int, col: int) -> PoolUnit:
    _check_index(step.shape, (channel, row, col))
    x = values[step.source][channel:channel + 1]  # (1, H, W)
    kh, kw = step.kernel
    top, left = row * step.strides[0] - step.pads[0], col * step.strides[1] - step.pads[1]
    win, inside = _window(x, top, left, kh, kw, fill=np.nan)
    win = win[0]
    if step.op == "MaxPool":
        flat = int(np.nanargmax(win))
        winner: tuple[int, int] | None = divmod(flat, kw)
        value = float(np.nanmax(win))
    else:  # ONNX AveragePool without count_include_pad: the mean of the cells inside the input
        winner, value = None, float(np.nanmean(win))
    return PoolUnit(step, channel, row, col, win, winner, value, float(values[step.post][channel, row, col]),
                    (top, left))


@dataclass(frozen=True)
class DenseUnit:
    step: Step
    unit: int
    inputs: np.ndarray  # (n_in,) what the layer reads
    weights: np.ndarray  # (n_in,) this unit's weight row
    contributions: np.ndarray  # (n_in,) inputs × weights
    bias: float
    pre: float
    post: float
    onnx_pre: float
    onnx_post: float
    source_shape: tuple[int, ...]  # shape of the flattened layer, to name an input index

    def top(self, k: int = 10) -> list[int]:
        """Indices of the ``k`` largest contributions by size, largest first."""
        order = np.argsort(-np.abs(self.contributions), kind="stable")
        return [int(i) for i in order[:k]]


def dense_unit(step: Step, values: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray], unit: int,
               source_shape: tuple[int, ...] = ()) -> DenseUnit:
    _check_index(step.shape, (unit,))
    x = np.asarray(values[step.source], np.float32).reshape(-1)
    w_all = params[step.params[0]]
    w = w_all[unit] if step.transposed else w_all[:, unit]
    bias = float(params[step.params[1]][unit]) if len(step.params) > 1 and step.params[1] else 0.0
    contrib = x.astype(np.float64) * w
    pre = float(contrib.sum() + bias)
    return DenseUnit(step, unit, x, w, contrib, bias, pre, activate(step.activation, pre, step.alpha),
                     float(values[step.pre][unit]), float(values[step.post][unit]), source_shape or x.shape)


@dataclass(frozen=True)
class NormUnit:
    step: Step
    index: tuple[int, ...]
    x: float
    scale: float
    shift: float
    mean: float
    var: float
    pre: float
    post: float
    onnx_pre: float
    onnx_post: float


def batchnorm_unit(step: Step, values: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
                   index: tuple[int, ...]) -> NormUnit:
    _check_index(step.shape, index)
    scale, shift, mean, var = (float(params[n][index[0]]) for n in step.params)
    x = float(values[step.source][index])
    pre = (x - mean) / math.sqrt(var + step.epsilon) * scale + shift
    return NormUnit(step, index, x, scale, shift, mean, var, pre, activate(step.activation, pre, step.alpha),
                    float(values[step.pre][index]), float(values[step.post][index]))


def receptive_box(plan: LayerOutputs, step_index: int, row: int, col: int) -> tuple[int, int, int, int] | None:
    """Input pixels (r0, c0, r1, c1), inclusive and clipped to the image, that a spatial unit depends on;
    None for units after the flatten (they see the whole image).

    Walks back through the conv/pool steps: output rows [lo, hi] of a step read input rows
    [lo·s − pad, hi·s − pad + k − 1]. (``core.arithmetic.receptive_field`` gives the same size; this gives
    where it lies.)
    """
    if not plan.steps[step_index].spatial:
        return None
    r0, r1, c0, c1 = row, row, col, col
    for s in reversed(plan.steps[:step_index + 1]):
        if s.kind not in ("conv", "pool"):
            continue
        (kh, kw), (sh, sw), (pt, pl) = s.kernel, s.strides, s.pads[:2]
        r0, r1 = r0 * sh - pt, r1 * sh - pt + kh - 1
        c0, c1 = c0 * sw - pl, c1 * sw - pl + kw - 1
    return max(r0, 0), max(c0, 0), min(r1, 27), min(c1, 27)


def name_of_index(shape: tuple[int, ...], i: int) -> str:
    """``"ch 3 (1, 4)"`` for the flattened index of a (C, H, W) layer, ``"unit 7"`` for a flat one."""
    if len(shape) == 3:
        c, rem = divmod(i, shape[1] * shape[2])
        r, q = divmod(rem, shape[2])
        return f"ch {c} ({r}, {q})"
    return f"unit {i}"


# ---------------------------------------------------------------------------------------------
# Softmax, loss


@dataclass(frozen=True)
class SoftmaxSteps:
    logits: np.ndarray  # (10,)
    temperature: float
    scaled: np.ndarray  # logits / T
    shifted: np.ndarray  # scaled − max (same probabilities, no overflow)
    exps: np.ndarray  # e^shifted
    total: float  # Σ exps
    probs: np.ndarray  # exps / total


def softmax_steps(logits: np.ndarray, temperature: float = 1.0) -> SoftmaxSteps:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError("The temperature must be a positive number.")
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    scaled = z / temperature
    shifted = scaled - scaled.max()
    exps = np.exp(shifted)
    total = float(exps.sum())
    return SoftmaxSteps(z, float(temperature), scaled, shifted, exps, total, exps / total)


def one_hot(label: int, n: int = 10) -> np.ndarray:
    if not 0 <= label < n:
        raise ValueError(f"A label is a class from 0 to {n - 1}.")
    out = np.zeros(n)
    out[label] = 1.0
    return out


def cross_entropy(probs: np.ndarray, label: int) -> float:
    """−Σ onehot · log p = −log p[label] (natural log), with p clipped away from 0."""
    return float(-np.sum(one_hot(label, len(probs)) * np.log(np.clip(probs, 1e-300, 1.0))))


# ---------------------------------------------------------------------------------------------
# Occlusion sensitivity

MAX_PATCH = 14


def occlusion_images(image: np.ndarray, patch: int, fill: float = 0.0) -> np.ndarray:
    """(H·W, H, W[, 3]): ``image`` (H, W) or colour (H, W, 3) with a ``patch``×``patch`` square of ``fill``
    centred on each pixel in turn (clipped at the borders), row by row."""
    if not 1 <= patch <= MAX_PATCH:
        raise ValueError(f"The patch must be 1 to {MAX_PATCH} pixels wide.")
    img = np.asarray(image, np.float32)
    h, w = img.shape[:2]
    start = -(patch // 2)
    rows = np.arange(h)[:, None] + start  # (H, 1) first covered row of each position
    covered_r = (np.arange(h)[None, :] >= rows) & (np.arange(h)[None, :] < rows + patch)  # (pos, pixel)
    cols = np.arange(w)[:, None] + start
    covered_c = (np.arange(w)[None, :] >= cols) & (np.arange(w)[None, :] < cols + patch)
    mask = covered_r[:, None, :, None] & covered_c[None, :, None, :]  # (H, W, H, W)
    mask = mask.reshape(h, w, h, w, *(1,) * (img.ndim - 2))  # a colour image: every channel covered
    return np.where(mask, np.float32(fill), img[None, None]).reshape(h * w, *img.shape)


@dataclass(frozen=True)
class Occlusion:
    probs: np.ndarray  # (10,) on the intact digit
    classes: tuple[int, int]  # the predicted and the second-best class
    drops: np.ndarray  # (2, H, W): probability lost when the patch is centred on each pixel
    patch: int


def occlusion(run: Runner, image: np.ndarray, patch: int, mean: float | tuple[float, ...],
              std: float | tuple[float, ...]) -> Occlusion:
    """Slide a blank patch over the digit; all positions (and the intact digit) in ONE onnxruntime call."""
    from core.infer.runtime import softmax

    img = np.asarray(image, np.float32)
    batch = np.concatenate([img[None], occlusion_images(img, patch)])  # (1 + H·W, H, W)
    probs = softmax(run(["logits"], normalise(batch, mean, std))[0])
    base = probs[0]
    order = np.argsort(-base, kind="stable")
    classes = (int(order[0]), int(order[1]))
    drops = np.stack([base[c] - probs[1:, c] for c in classes]).reshape(2, *img.shape[:2])
    return Occlusion(base, classes, drops, patch)


# ---------------------------------------------------------------------------------------------
# Weights as pictures


def first_conv_kernels(plan: LayerOutputs, params: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The first conv layer's kernels (out, in, kh, kw) as the model uses them, or None."""
    step = next((s for s in plan.steps if s.kind == "conv"), None)
    return None if step is None else np.asarray(params[step.params[0]])


def class_templates(plan: LayerOutputs, params: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """A linear model's weight rows as ten 28×28 images (10, 28, 28); None if the model is not linear
    (its logits must read the flattened image directly)."""
    kinds = [s.kind for s in plan.steps]
    if kinds != ["flatten", "logits"]:
        return None
    step = plan.steps[-1]
    w = np.asarray(params[step.params[0]])
    w = w if step.transposed else w.T  # (10, 784)
    return w.reshape(10, 28, 28)


__all__ = [
    "ConvUnit", "DenseUnit", "IMAGE", "LAYER_OUTPUTS_KEY", "LayerOutputs", "LayerView", "NormUnit", "Occlusion",
    "PlanError", "PoolUnit", "SoftmaxSteps", "Step", "activate", "batchnorm_unit", "class_templates", "conv_unit",
    "cross_entropy", "dense_unit", "first_conv_kernels", "layer_views", "missing_outputs", "name_of_index",
    "normalise", "occlusion", "occlusion_images", "one_hot", "plan_of", "pool_unit", "read_params",
    "receptive_box", "run_layers", "session_runner", "softmax_steps",
]
