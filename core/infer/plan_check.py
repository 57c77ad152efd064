"""A sidecar's layer plan checked against the graph it describes, when the model is loaded.

The Inside-the-network page indexes tensors and weights by what the plan says (a conv step's kernel,
a dense step's weight layout, each step's shape). A plan that contradicts its graph (a 3×3 kernel
over 5×5 weights, a shape the graph does not produce, a bias named where the weights are) would make
that arithmetic fail deep inside NumPy. ``verify_plan`` runs the graph once on a blank image, reads
every tensor and parameter the plan names and checks each step against them, so such a sidecar is
refused at load with a sentence saying which step disagrees, before any page uses it.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from core.infer.plan import IMAGE, LayerOutputs, PlanError, Runner, Step, missing_outputs, plan_of

Shape = tuple[int, ...]
POOL_OPS = ("MaxPool", "AveragePool")


def _fmt(shape: Shape) -> str:
    return "×".join(map(str, shape)) if shape else "a single number"


def _geometry(s: Step, src: Shape) -> None:
    """Kernel, strides and padding of a conv or pool step, and the output size they give."""
    if len(s.kernel) != 2 or len(s.strides) != 2 or len(s.pads) != 4:
        raise PlanError(f"{s.row}: a {s.kind} step needs a 2-number kernel and strides and 4 paddings.")
    if min(s.kernel) < 1 or min(s.strides) < 1:
        raise PlanError(f"{s.row}: kernel and strides must be at least 1.")
    if len(src) != 3:
        raise PlanError(f"{s.row}: a {s.kind} step reads a (C, H, W) map, its input is {_fmt(src)}.")
    out = tuple((n + s.pads[i] + s.pads[i + 2] - s.kernel[i]) // s.strides[i] + 1 for i, n in enumerate(src[1:]))
    if out != s.shape[1:]:
        raise PlanError(f"{s.row}: a {s.kernel[0]}×{s.kernel[1]} window with strides {s.strides} and padding "
                        f"{s.pads} over {_fmt(src)} gives {out[0]}×{out[1]} maps, the sidecar says "
                        f"{_fmt(s.shape[1:])}.")


def _param(s: Step, params: Mapping[str, Shape], i: int, want: Shape, what: str) -> None:
    have = params[s.params[i]]
    if have != want:
        raise PlanError(f"{s.row}: its {what} {s.params[i][:60]!r} is {_fmt(have)} in the graph, the sidecar's "
                        f"layer needs {_fmt(want)}.")


def _weights(s: Step, params: Mapping[str, Shape], w: Shape, units: int) -> None:
    if not 1 <= len(s.params) <= 2 or not s.params[0]:
        raise PlanError(f"{s.row}: a {s.kind} step names its weights and optionally a bias.")
    _param(s, params, 0, w, "weight")
    if len(s.params) == 2 and s.params[1]:
        _param(s, params, 1, (units,), "bias")


def check_step(s: Step, src: Shape, params: Mapping[str, Shape]) -> None:
    """One step against the shape of its input and the shapes of the graph's parameters."""
    if s.kind == "conv":
        _geometry(s, src)
        _weights(s, params, (s.shape[0], src[0], *s.kernel), s.shape[0])
    elif s.kind == "pool":
        _geometry(s, src)
        if s.op not in POOL_OPS or s.params or src[0] != s.shape[0]:
            raise PlanError(f"{s.row}: a pooling step ({'/'.join(POOL_OPS)}, no weights) keeps the "
                            f"{src[0]} channels it reads.")
    elif s.kind == "batchnorm":
        if len(s.params) != 4 or src != s.shape or not (math.isfinite(s.epsilon) and s.epsilon > 0):
            raise PlanError(f"{s.row}: batch norm keeps its input's shape, names 4 parameters and a positive epsilon.")
        for i, what in enumerate(("scale", "shift", "mean", "variance")):
            _param(s, params, i, (s.shape[0],), what)
    elif s.kind == "flatten":
        if len(s.shape) != 1 or math.prod(src) != s.shape[0]:
            raise PlanError(f"{s.row}: flattening {_fmt(src)} gives {math.prod(src)} numbers, the sidecar says "
                            f"{_fmt(s.shape)}.")
    else:  # dense and logits
        if len(s.shape) != 1 or len(src) != 1:
            raise PlanError(f"{s.row}: a dense step reads and gives a row of numbers ({_fmt(src)} → {_fmt(s.shape)}).")
        units, n_in = s.shape[0], src[0]
        _weights(s, params, (units, n_in) if s.transposed else (n_in, units), units)


def check_plan(plan: LayerOutputs, tensors: Mapping[str, Shape], params: Mapping[str, Shape],
               in_shape: Shape) -> None:
    """Every step against the graph: ``tensors`` are per-image shapes of the graph outputs the plan names
    (without the batch axis), ``params`` the shapes of the constants it names."""
    seen: dict[str, Shape] = {IMAGE: tuple(in_shape)}
    for s in plan.steps:
        src = seen.get(s.source)
        if src is None:
            raise PlanError(f"{s.row} reads {s.source[:60]!r}, which no earlier step produces.")
        for name in (s.pre, s.post):
            if tensors[name] != s.shape:
                raise PlanError(f"{s.row}: the sidecar says its output is {_fmt(s.shape)}, the graph's "
                                f"{name[:60]!r} is {_fmt(tensors[name])}.")
        check_step(s, src, params)
        seen[s.pre] = seen[s.post] = s.shape


def verify_plan(extra: Mapping, outputs: tuple[str, ...], run: Runner, in_shape: Shape) -> LayerOutputs | None:
    """The sidecar's plan (None when it has none), checked against the graph; ``PlanError`` says how it
    disagrees. One run of a blank image gives every tensor and parameter the plan names."""
    plan = plan_of(extra)
    if plan is None:
        return None
    missing = missing_outputs(plan, outputs)
    if missing:
        raise PlanError(f"the graph does not output {', '.join(repr(m[:60]) for m in missing[:3])}"
                        f"{' and more' if len(missing) > 3 else ''}.")
    names = plan.tensor_names()
    weights = plan.param_names()
    arrays = run(names + [w for w in weights if w not in names], np.zeros((1, *in_shape), np.float32))
    got = dict(zip(names + [w for w in weights if w not in names], arrays))
    tensors = {n: tuple(np.shape(got[n]))[1:] for n in names}
    params = {n: tuple(np.shape(got[n])) for n in weights}
    check_plan(plan, tensors, params, in_shape)
    return plan


UNKNOWN_VALUES_PER_PIXEL = 64  # a graph whose layers nothing describes: counted as 64 numbers per input value
# no tensor of their own in an exported graph: batch norm is folded into its conv, dropout is gone and
# flattening is a reshape of the same buffer
INFERENCE_FREE = ("batchnorm", "dropout", "flatten")
ARENA_FACTOR = 2.5  # onnxruntime's arena held 1.6-2.4 widest layers' input-and-output sets at its peak


def inference_bytes(architecture: Mapping, in_shape: Shape, batch: int) -> int:
    """Memory one onnxruntime call on ``batch`` images may need, from the sidecar's architecture through the
    layer table: onnxruntime runs the layers one after another and reuses buffers, so its peak follows the
    widest layer's input and output together; measured on the shipped models' occlusion maps (785 images)
    the peak was 0.63-0.95 times ``ARENA_FACTOR`` times that, plus the batch (an ensemble's members run in
    turn: no more than one). An architecture that cannot be read is counted at 64 numbers per input value."""
    from core.arch import layer_table as lt
    from core.arch.spec import spec_from_dict

    pixels = math.prod(in_shape)
    try:
        rows = lt.layer_table(spec_from_dict(architecture), tuple(in_shape))  # type: ignore[arg-type]
        widest = max((math.prod(r.in_shape or ()) + r.size for r in rows[1:]
                      if r.out_shape is not None and r.kind not in INFERENCE_FREE), default=0)
    except Exception:  # a sidecar's architecture is untrusted text: unreadable means unknown, not a crash
        widest = UNKNOWN_VALUES_PER_PIXEL * pixels
    return int(4 * batch * (pixels + ARENA_FACTOR * widest))
