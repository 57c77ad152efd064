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

The plan (``Step``, ``plan_of``, ``run_layers``) is in ``core.infer.plan``, re-exported here.

Models exported before ConvLab recorded layer outputs have no ``layer_outputs``: ``plan_of`` returns
None and the page explains that (the logits-only parts still work).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from core.infer.plan import (
    IMAGE, LAYER_OUTPUTS_KEY, LayerOutputs, LayerView, PlanError, Runner, Step, layer_views, missing_outputs,
    normalise, plan_of, read_params, run_layers, session_runner,
)


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
