"""The layer table (no torch): every layer's output shape, parameters, multiply-adds, receptive field and
the memory training keeps per image, computed before anything is built.

The numbers come from ``core.arithmetic`` only, and ``core.train.convnet`` builds the network from these rows,
so the flatten size (e.g. 16·5·5 = 400 for LeNet-5) is never a magic number and what a student reads
before training is what the network is built from.

Memory model (float32, measured against real CPU training steps in ``tests/test_memory.py``):

* Forward + backward keeps, per image, what autograd saves for the backward pass: the input batch, each
  conv/dense output (plus the activation's own output unless it is ReLU, which runs in place), each
  batch-norm output, max-pooling's output and its int64 indices (3 float-sized values per output
  value), dropout's output and mask, the copy a flatten makes of a channels-last feature map.
* While the gradients flow back, two activation-sized gradient tensors of the largest layer live at once.
* Parameters cost weights + gradients + the optimizer's state (Adam: 2 copies) + 2 temporaries of the
  optimizer's update step.
* Evaluation (no gradients) holds one layer's input and output at a time, for its batch, plus a
  max-pooling's int64 indices (torch builds them without gradients too).
* Evaluation runs after training steps whose memory the allocator keeps: the peak is the sum of both
  (``core.arch.memory_estimate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from core import arithmetic as ar
from core.lessons import conv_layer
from core.arch.spec import (
    ACTIVATIONS, INPUT_SHAPE, LAYER_KINDS, MAX_CHANNELS, MAX_KERNEL, MAX_LAYERS, MAX_MACS, MAX_PADDING,
    MAX_PARAMS, MAX_POOL, MAX_STRIDE, MAX_UNITS, NUM_CLASSES, POOL_MODES, ArchSpec, LayerSpec,
)

# The memory estimate lives in core.arch.memory_estimate; its names stay importable from here.
from core.arch.memory_estimate import (  # noqa: E402,F401
    BYTES_PER_VALUE, MB, OPTIMIZER_TEMPORARIES, MemoryEstimate, estimate_memory, eval_batch_within, format_bytes,
    per_image_eval_values, per_image_training_values,
)


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer table (the input row is index -1 and has no cost)."""

    index: int  # position in spec.layers; -1 for the input, len(layers) for flatten/output rows
    name: str  # "conv1", "pool2", "flatten", "output", ...
    kind: str  # a LAYER_KINDS entry, "input" or "output"
    label: str  # e.g. "conv 5×5, 6 ch, pad 2"
    out_shape: tuple[int, ...] | None  # (C, H, W) or (units,); None when the layer is impossible
    params: int = 0  # learnable parameters (what sum(p.numel()) counts)
    macs: int = 0  # multiply-adds for one image
    rf: int | None = None  # receptive field in input pixels (per side); None: the whole image
    jump: int | None = None  # input pixels between neighbouring outputs
    formula: str = ""  # how the output shape follows, with the numbers substituted (plain text)
    formula_latex: tuple[str, ...] = ()  # the worked output-size formula (height axis), LaTeX steps
    reason: str | None = None  # why this layer is impossible
    in_shape: tuple[int, ...] | None = None
    implicit: bool = False  # a flatten/output row the spec does not list
    activation: bool = False  # followed by the nonlinearity
    kept_values: int = 0  # float32-sized values per image this layer keeps for the backward pass
    eval_extra_values: int = 0  # float32-sized values per image beyond input and output without gradients

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def size(self) -> int:
        """Values in this layer's output for one image."""
        n = 1
        for v in self.out_shape or (0,):
            n *= v
        return n

    @property
    def shape_text(self) -> str:
        if self.out_shape is None:
            return "impossible"
        return "(" + ", ".join(str(v) for v in self.out_shape) + ")"

    @property
    def rf_text(self) -> str:
        if self.rf is None:
            return "whole image"
        return f"{self.rf}×{self.rf}"

    @property
    def memory_text(self) -> str:
        """Training memory this layer keeps per image, e.g. "18.4 KB"."""
        return format_bytes(self.kept_values * BYTES_PER_VALUE)


# ---------------------------------------------------------------------------------------------
# One function per layer kind. Each reads the walk so far (shape, receptive field) and returns its rows.


@dataclass
class _Walk:
    """Where the walk through the stack is: the current shape and the receptive field so far."""

    shape: tuple[int, ...]
    activation: str
    rf_layers: list[ar.RFLayer] = field(default_factory=list)
    rf: int | None = 1
    jump: int | None = 1

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3


def _act_copies(activation: str) -> int:
    """Extra output-sized tensors the nonlinearity keeps: ReLU runs in place, the others do not."""
    return 0 if activation == "relu" else 1


def _window_rows(i: int, name: str, layer: LayerSpec, walk: _Walk) -> list[LayerRow]:
    """A conv or pooling layer: output size by the formula, cost, receptive field."""
    is_conv = layer.kind == "conv"
    if not walk.spatial:
        what = "convolution" if is_conv else "pooling layer"
        return [LayerRow(i, name, layer.kind, name, None, in_shape=walk.shape,
                         reason=f"{name}: a {what} needs a feature map (channels, height, width), but the layer "
                                f"before it gives a flat vector of {walk.shape[0]} values. Put conv and pooling "
                                "layers before dense layers.")]
    c, h, w = walk.shape
    k, s = (layer.kernel if is_conv else layer.size), layer.effective_stride
    if is_conv:
        result = ar.conv2d_shape((h, w), (k, k), (s, s), (layer.padding, layer.padding),
                                 in_channels=c, out_channels=layer.out_channels)
        label = f"conv {k}×{k}, {layer.out_channels} ch"
    else:
        result = ar.pool2d_shape((h, w), (k, k), (s, s), (0, 0), channels=c)
        label = f"{layer.mode} pool {k}×{k}"
    if s != (1 if is_conv else k):
        label += f", stride {s}"
    if is_conv and layer.padding:
        label += f", pad {layer.padding}"
    latex = tuple(step.latex for step in conv_layer.conv_formula_steps(result.height) if step.latex)
    formula = f"H: {conv_layer.conv_formula_text(result.height)}"
    if h != w:
        formula += f";  W: {conv_layer.conv_formula_text(result.width)}"
    if not result.ok:
        return [LayerRow(i, name, layer.kind, label, None, in_shape=walk.shape, formula=formula,
                         formula_latex=latex, reason=f"{name}: the {h}×{w} feature map is too small here. "
                                                     f"{result.reason}")]
    oh, ow = result.out_hw  # type: ignore[misc]
    walk.rf_layers.append(ar.RFLayer(name, k, s, layer.padding if is_conv else 0))
    rf_row = ar.receptive_field(walk.rf_layers)[-1]
    walk.rf, walk.jump = rf_row.rf, rf_row.jump
    if is_conv:
        cost = conv_layer.conv_cost(result, (k, k))
        params, macs, out = cost.params, cost.macs, (layer.out_channels, oh, ow)  # type: ignore[union-attr]
        kept = out[0] * oh * ow * (1 + _act_copies(walk.activation))
    else:
        params, macs, out = 0, 0, (c, oh, ow)
        kept = c * oh * ow * (3 if layer.mode == "max" else 1)  # max keeps int64 indices: 2 values each
    # max pooling builds its int64 indices in evaluation as well: 2 float-sized values per output value
    extra = 2 * c * oh * ow if not is_conv and layer.mode == "max" else 0
    walk.shape = out
    return [LayerRow(i, name, layer.kind, label, out, params, macs, walk.rf, walk.jump,
                     f"{formula}  →  ({out[0]}, {oh}, {ow})", latex, in_shape=(c, h, w), activation=is_conv,
                     kept_values=kept, eval_extra_values=extra)]


def _flatten_row(index: int, walk: _Walk, implicit: bool) -> LayerRow:
    c, h, w = walk.shape
    walk.shape = (c * h * w,)
    # Training lays feature maps out channels-last; flattening one copies it (a plain view when C = 1).
    return LayerRow(index, "flatten", "flatten", "flatten", walk.shape, rf=walk.rf, jump=walk.jump,
                    in_shape=(c, h, w), formula=f"{c} channels × {h} × {w} = {c * h * w} values in one vector",
                    implicit=implicit, kept_values=c * h * w if c > 1 else 0)


def _dense_rows(i: int, name: str, layer: LayerSpec, walk: _Walk) -> list[LayerRow]:
    rows = [_flatten_row(i, walk, implicit=True)] if walk.spatial else []
    n_in, units = walk.shape[0], layer.units
    params = n_in * units + units
    rows.append(LayerRow(i, name, "dense", f"dense {units}", (units,), params, n_in * units, None, None,
                         f"{n_in} inputs × {units} units + {units} biases = {params:,} parameters",
                         in_shape=walk.shape, activation=True,
                         kept_values=units * (1 + _act_copies(walk.activation))))
    walk.shape, walk.rf, walk.jump = (units,), None, None
    return rows


def _explicit_flatten_rows(i: int, name: str, layer: LayerSpec, walk: _Walk) -> list[LayerRow]:
    if walk.spatial:
        return [_flatten_row(i, walk, implicit=False)]
    return [LayerRow(i, name, "flatten", "flatten", walk.shape, formula="already flat: nothing to do",
                     in_shape=walk.shape)]


def _batchnorm_rows(i: int, name: str, layer: LayerSpec, walk: _Walk) -> list[LayerRow]:
    channels, what = walk.shape[0], "channels" if walk.spatial else "units"
    size = _size(walk.shape)
    return [LayerRow(i, name, "batchnorm", f"batch norm (per {what[:-1]})", walk.shape, 2 * channels, 0,
                     walk.rf, walk.jump,
                     f"normalises each of the {channels} {what}, then scales and shifts it: 2 × {channels} = "
                     f"{2 * channels} learnable parameters; shape unchanged", in_shape=walk.shape,
                     kept_values=size)]


def _dropout_rows(i: int, name: str, layer: LayerSpec, walk: _Walk) -> list[LayerRow]:
    return [LayerRow(i, name, "dropout", f"dropout p={layer.p:g}", walk.shape, 0, 0, walk.rf, walk.jump,
                     f"zeroes each value with probability {layer.p:g} while training (and scales the rest by "
                     f"1/(1−p)); does nothing at test time; shape unchanged", in_shape=walk.shape,
                     kept_values=2 * _size(walk.shape))]  # output and mask


def _output_rows(n: int, walk: _Walk) -> list[LayerRow]:
    rows = [_flatten_row(n, walk, implicit=True)] if walk.spatial else []
    n_in = walk.shape[0]
    params = n_in * NUM_CLASSES + NUM_CLASSES
    rows.append(LayerRow(
        n, "output", "output", f"dense {NUM_CLASSES} (logits)", (NUM_CLASSES,), params, n_in * NUM_CLASSES,
        None, None, f"{n_in} inputs × 10 classes + 10 biases = {params:,} parameters; softmax gives probabilities",
        in_shape=walk.shape, implicit=True, kept_values=2 * NUM_CLASSES,  # logits and their log-softmax
    ))
    return rows


_ROWS: dict[str, Callable[[int, str, LayerSpec, _Walk], list[LayerRow]]] = {
    "conv": _window_rows, "pool": _window_rows, "dense": _dense_rows, "flatten": _explicit_flatten_rows,
    "batchnorm": _batchnorm_rows, "dropout": _dropout_rows,
}


def _size(shape: Sequence[int]) -> int:
    n = 1
    for v in shape:
        n *= v
    return n


# ---------------------------------------------------------------------------------------------
# Checks


def _field_reason(layer: LayerSpec, name: str) -> str | None:
    """Range checks of a layer's own numbers (before any shape arithmetic)."""
    if layer.kind not in LAYER_KINDS:
        return f"{name}: unknown layer kind {layer.kind!r}; choose one of {', '.join(LAYER_KINDS)}."
    checks: list[tuple[bool, str]] = []
    if layer.kind == "conv":
        checks = [
            (1 <= layer.out_channels <= MAX_CHANNELS, f"the number of channels must be between 1 and {MAX_CHANNELS} (got {layer.out_channels})"),
            (1 <= layer.kernel <= MAX_KERNEL, f"the kernel size must be between 1 and {MAX_KERNEL} (got {layer.kernel})"),
            (1 <= layer.effective_stride <= MAX_STRIDE, f"the stride must be between 1 and {MAX_STRIDE} (got {layer.effective_stride})"),
            (0 <= layer.padding <= MAX_PADDING, f"the padding must be between 0 and {MAX_PADDING} (got {layer.padding})"),
        ]
    elif layer.kind == "pool":
        checks = [
            (layer.mode in POOL_MODES, f"pooling is 'max' or 'avg' (got {layer.mode!r})"),
            (1 <= layer.size <= MAX_POOL, f"the pooling window must be between 1 and {MAX_POOL} (got {layer.size})"),
            (1 <= layer.effective_stride <= MAX_POOL, f"the pooling stride must be between 1 and {MAX_POOL} (got {layer.effective_stride})"),
        ]
    elif layer.kind == "dense":
        checks = [(1 <= layer.units <= MAX_UNITS, f"a dense layer needs between 1 and {MAX_UNITS} units (got {layer.units})")]
    elif layer.kind == "dropout":
        checks = [(0.0 <= layer.p < 1.0, f"the dropout probability must be at least 0 and below 1 (got {layer.p:g})")]
    for ok, text in checks:
        if not ok:
            return f"{name}: {text}."
    return None


def _spec_reason(spec: ArchSpec) -> str | None:
    if spec.activation not in ACTIVATIONS:
        return f"Unknown activation {spec.activation!r}; choose one of {', '.join(ACTIVATIONS)}."
    if len(spec.layers) > MAX_LAYERS:
        return f"{len(spec.layers)} layers is more than this server allows ({MAX_LAYERS})."
    return None


def _with_limits(rows: list[LayerRow]) -> list[LayerRow]:
    """The whole network's parameter and multiply-add limits, explained on the output row."""
    total_params = sum(r.params for r in rows)
    total_macs = sum(r.macs for r in rows)
    reason = None
    if total_params > MAX_PARAMS:
        reason = (f"This network has {total_params:,} parameters, more than this server trains ({MAX_PARAMS:,}). "
                  "Use fewer channels or units, or downsample before the dense layers.")
    elif total_macs > MAX_MACS:
        reason = (f"One image costs {total_macs:,} multiply-adds, more than this server trains ({MAX_MACS:,}). "
                  "Use fewer channels or downsample earlier.")
    if reason:
        rows[-1] = replace(rows[-1], reason=reason)
    return rows


def layer_table(spec: ArchSpec, in_shape: tuple[int, int, int] = INPUT_SHAPE) -> list[LayerRow]:
    """Every layer's output shape, parameters, multiply-adds, receptive field and training memory.

    Never raises: when the stack is impossible, the rows stop at the first impossible layer, whose
    ``reason`` says why (see ``table_reason``).
    """
    c, h, w = in_shape
    rows = [LayerRow(-1, "input", "input", "input image", (c, h, w), rf=1, jump=1, kept_values=c * h * w)]
    problem = _spec_reason(spec)
    if problem:
        rows.append(LayerRow(0, "network", "input", "network", None, reason=problem))
        return rows
    walk = _Walk((c, h, w), spec.activation)
    counts: dict[str, int] = {}
    for i, layer in enumerate(spec.layers):
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
        name = f"{'bn' if layer.kind == 'batchnorm' else layer.kind}{counts[layer.kind]}"
        reason = _field_reason(layer, name)
        if reason:
            rows.append(LayerRow(i, name, layer.kind, name, None, reason=reason, in_shape=walk.shape))
            return rows
        rows.extend(_ROWS[layer.kind](i, name, layer, walk))
        if not rows[-1].ok:
            return rows
    rows.extend(_output_rows(len(spec.layers), walk))
    return _with_limits(rows)


def table_reason(rows: Sequence[LayerRow]) -> str | None:
    """The first impossible layer's reason, or None when the whole stack works."""
    for row in rows:
        if row.reason:
            return row.reason
    return None


def validate(spec: ArchSpec, in_shape: tuple[int, int, int] = INPUT_SHAPE) -> str | None:
    """Why this stack cannot be built (a sentence for a student), or None when it can."""
    return table_reason(layer_table(spec, in_shape))


def count_params(spec: ArchSpec, in_shape: tuple[int, int, int] = INPUT_SHAPE) -> int:
    return sum(r.params for r in layer_table(spec, in_shape))


def count_macs(spec: ArchSpec, in_shape: tuple[int, int, int] = INPUT_SHAPE) -> int:
    return sum(r.macs for r in layer_table(spec, in_shape))


def conv_rows(spec: ArchSpec, in_shape: tuple[int, int, int] = INPUT_SHAPE) -> list[LayerRow]:
    return [r for r in layer_table(spec, in_shape) if r.kind == "conv"]


def activation_labels(spec: ArchSpec, in_shape: tuple[int, int, int] = INPUT_SHAPE) -> list[str]:
    """One label per conv activation that ``forward_with_activations`` returns, e.g. "conv1 3×3, 32 ch"."""
    return [f"{r.name} {r.label[len('conv '):]}" for r in conv_rows(spec, in_shape)]


def activation_shapes(spec: ArchSpec, in_shape: tuple[int, int, int] = INPUT_SHAPE) -> list[tuple[int, int, int]]:
    """(C, H, W) of each conv activation, in the order ``forward_with_activations`` returns them."""
    return [r.out_shape for r in conv_rows(spec, in_shape)]  # type: ignore[misc]


__all__ = [
    "BYTES_PER_VALUE", "MB", "LayerRow", "MemoryEstimate", "activation_labels", "activation_shapes", "conv_rows", "count_macs",
    "count_params", "estimate_memory", "eval_batch_within", "format_bytes", "layer_table",
    "per_image_eval_values", "per_image_training_values", "table_reason", "validate",
]
