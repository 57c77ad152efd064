"""Architectures: one spec → a layer table (shapes, params, multiply-adds, receptive field) → an nn.Module.

The layer table is computed with ``core.arithmetic`` only, and ``build_model`` builds the network from
that table, so the flatten size (e.g. 16·5·5 = 400 for LeNet-5) is never a magic number and the numbers a
student reads before training are the numbers the network is built from.

Conventions of a spec:

* ``layers`` are the hidden layers. Flattening is implicit (before the first dense layer or the output),
  and every network ends with an implicit output layer: dense → 10 logits.
* ``activation`` is applied after every conv and hidden dense layer; when batch-norm layers directly
  follow a conv/dense layer, the activation comes after them (conv → BN → ReLU).
* ``model.forward_with_activations(x)`` also returns the feature map after each conv layer's activation.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping, Sequence

from core import arithmetic as ar
from core import share

LAYER_KINDS: tuple[str, ...] = ("conv", "pool", "dense", "dropout", "batchnorm", "flatten")
POOL_MODES: tuple[str, ...] = ("max", "avg")
ACTIVATIONS: dict[str, str] = {
    "relu": "ReLU",
    "leaky_relu": "Leaky ReLU",
    "elu": "ELU",
    "gelu": "GELU",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
}
NUM_CLASSES = 10
INPUT_SHAPE = (1, 28, 28)

# Limits that keep one student's custom network from hogging a shared server.
MAX_LAYERS = 24
MAX_CHANNELS = 256
MAX_UNITS = 4096
MAX_KERNEL = 11
MAX_STRIDE = 4
MAX_PADDING = 5
MAX_POOL = 8
MAX_PARAMS = 5_000_000
MAX_MACS = 200_000_000


@dataclass(frozen=True)
class LayerSpec:
    """One hidden layer. Only the fields of its ``kind`` matter.

    conv: ``out_channels``, ``kernel``, ``stride`` (default 1), ``padding``;
    pool: ``mode`` ("max"/"avg"), ``size``, ``stride`` (default = size);
    dense: ``units``; dropout: ``p``; batchnorm and flatten: nothing.
    """

    kind: str
    out_channels: int = 0
    kernel: int = 3
    stride: int | None = None  # None: 1 for conv, the window size for pooling (torch's defaults)
    padding: int = 0
    mode: str = "max"
    size: int = 2
    units: int = 0
    p: float = 0.0

    @property
    def effective_stride(self) -> int:
        if self.stride is not None:
            return int(self.stride)
        return self.size if self.kind == "pool" else 1


def conv(out_channels: int, kernel: int = 3, stride: int = 1, padding: int = 0) -> LayerSpec:
    return LayerSpec("conv", out_channels=out_channels, kernel=kernel, stride=stride, padding=padding)


def pool(size: int = 2, stride: int | None = None, mode: str = "max") -> LayerSpec:
    return LayerSpec("pool", size=size, stride=stride, mode=mode)


def dense(units: int) -> LayerSpec:
    return LayerSpec("dense", units=units)


def dropout(p: float = 0.5) -> LayerSpec:
    return LayerSpec("dropout", p=p)


def batchnorm() -> LayerSpec:
    return LayerSpec("batchnorm")


@dataclass(frozen=True)
class ArchSpec:
    name: str  # short key, e.g. "lenet5"
    title: str  # what a student reads, e.g. "LeNet-5 style"
    layers: tuple[LayerSpec, ...]
    activation: str = "relu"
    note: str = ""  # where the architecture comes from, one or two sentences


PRESETS: dict[str, ArchSpec] = {
    "linear": ArchSpec(
        "linear", "Linear softmax classifier", (),
        note="Multinomial logistic regression on the 784 raw pixels: one weight per pixel and class. "
             "The baseline every MNIST paper starts from (LeCun et al. 1998 list linear classifiers "
             "at 88–92%); expect about 90%.",
    ),
    "mlp": ArchSpec(
        "mlp", "MLP: 512 units + dropout", (dense(512), dropout(0.2)),
        note="A multilayer perceptron with one 512-unit hidden layer and dropout, as in the Keras "
             "mnist_mlp example. No convolution: every hidden unit sees every pixel.",
    ),
    "lenet5": ArchSpec(
        "lenet5", "LeNet-5 style",
        (conv(6, 5, padding=2), pool(2), conv(16, 5), pool(2), dense(120), dense(84)),
        note="LeCun et al. 1998, 'Gradient-based learning applied to document recognition'. The "
             "original read 32×32 images, so conv1 pads the 28×28 digits by 2; its tanh and trainable "
             "subsampling are replaced here by ReLU and max-pooling, as most modern re-implementations do.",
    ),
    "twoconv": ArchSpec(
        "twoconv", "Two-conv net (32, 64)",
        (conv(32, 3), pool(2), conv(64, 3), pool(2), dropout(0.5)),
        note="The Keras 'Simple MNIST convnet' example: two 3×3 conv layers (32 and 64 filters), each "
             "followed by 2×2 max-pooling, dropout, then one dense layer to the 10 classes.",
    ),
    "allconv": ArchSpec(
        "allconv", "All-convolutional (stride-2 convs, no pooling)",
        (conv(32, 3, padding=1), conv(32, 3, stride=2, padding=1),
         conv(64, 3, padding=1), conv(64, 3, stride=2, padding=1)),
        note="Springenberg et al. 2015, 'Striving for simplicity: the all convolutional net': every "
             "pooling layer is replaced by a convolution with stride 2, so the network learns how to "
             "downsample.",
    ),
    "bncnn": ArchSpec(
        "bncnn", "Recipe: small BN conv net (≥ 98% from 5k digits)",
        (conv(16, 3, padding=1), batchnorm(), pool(2),
         conv(32, 3, padding=1), batchnorm(), pool(2),
         conv(64, 3), batchnorm(), pool(2), dropout(0.3)),
        note="A small modern recipe: three 3×3 convolutions with batch norm and max-pooling, trained with "
             "light augmentation (shifts and rotations), AdamW and a one-cycle learning-rate schedule. It "
             "reaches about 98.5% on the 10,000 test digits from only the 5,000 shipped training digits, "
             "with fewer parameters than LeNet-5.",
    ),
}
PRESET_KEYS: tuple[str, ...] = tuple(PRESETS)


# ---------------------------------------------------------------------------------------------
# Layers ↔ short text (share links carry a custom network this way)
#
#   conv  c{channels}k{kernel}[s{stride}][p{padding}]   c6k5p2
#   pool  max{window}[s{stride}] / avg{window}[s{stride}]   max2
#   dense d{units}   dropout do{p}   batchnorm bn   flatten fl
# joined by "-", e.g. LeNet-5 = "c6k5p2-max2-c16k5-max2-d120-d84".

_TEXT_RE = {
    "conv": re.compile(r"c(\d{1,4})k(\d{1,2})(?:s(\d{1,2}))?(?:p(\d{1,2}))?"),
    "pool": re.compile(r"(max|avg)(\d{1,2})(?:s(\d{1,2}))?"),
    "dense": re.compile(r"d(\d{1,5})"),
    "dropout": re.compile(r"do(0(?:\.\d{1,4})?|1(?:\.0{1,4})?|\.\d{1,4})"),
}
TEXT_MAX_CHARS = 400


def layer_to_text(layer: LayerSpec) -> str:
    if layer.kind == "conv":
        stride = layer.effective_stride
        return (f"c{layer.out_channels}k{layer.kernel}" + (f"s{stride}" if stride != 1 else "")
                + (f"p{layer.padding}" if layer.padding else ""))
    if layer.kind == "pool":
        stride = layer.effective_stride
        return f"{layer.mode}{layer.size}" + (f"s{stride}" if stride != layer.size else "")
    if layer.kind == "dense":
        return f"d{layer.units}"
    if layer.kind == "dropout":
        return f"do{round(layer.p, 4):g}"
    return {"batchnorm": "bn", "flatten": "fl"}.get(layer.kind, layer.kind)


def layers_to_text(layers: Sequence[LayerSpec]) -> str:
    """``"c6k5p2-max2-c16k5-max2-d120-d84"`` for LeNet-5; ``layers_from_text`` reads it back."""
    return "-".join(layer_to_text(layer) for layer in layers)


def layers_from_text(text: str) -> tuple[LayerSpec, ...]:
    """Inverse of ``layers_to_text``; ``ValueError`` with a readable reason for anything else.

    Only the syntax is checked here: a stack that parses but cannot be built (a kernel larger than its
    input, too many layers) is explained by ``layer_table`` like any other.
    """
    text = text.strip()
    if len(text) > TEXT_MAX_CHARS:
        raise ValueError(f"is longer than {TEXT_MAX_CHARS} characters")
    if not text or text == "none":
        return ()
    parts = text.split("-")
    if len(parts) > MAX_LAYERS:
        raise ValueError(f"has {len(parts)} layers; at most {MAX_LAYERS} are allowed")
    layers = []
    for i, part in enumerate(parts, 1):
        if part == "bn":
            layers.append(batchnorm())
        elif part == "fl":
            layers.append(LayerSpec("flatten"))
        elif m := _TEXT_RE["conv"].fullmatch(part):
            ch, k, st, pd = m.groups()
            layers.append(conv(int(ch), int(k), int(st or 1), int(pd or 0)))
        elif m := _TEXT_RE["pool"].fullmatch(part):
            mode, size, st = m.groups()
            layers.append(pool(int(size), int(st) if st else None, mode))
        elif m := _TEXT_RE["dense"].fullmatch(part):
            layers.append(dense(int(m.group(1))))
        elif m := _TEXT_RE["dropout"].fullmatch(part):
            layers.append(dropout(float(m.group(1))))
        else:
            raise ValueError(f"layer {i} (“{part[:20]}”) is not one of c…k…, max…, avg…, d…, do…, bn, fl")
    return tuple(layers)


@dataclass(frozen=True)
class LayersParam(share.Param):
    """A share-link parameter holding a stack of layers as ``layers_to_text`` writes it."""

    def parse(self, raw: str) -> tuple[LayerSpec, ...]:
        return layers_from_text(raw)

    def format(self, value: Any) -> str:
        return layers_to_text(value) or "none"


# ---------------------------------------------------------------------------------------------
# Spec ↔ plain dict (JSON-able; the ONNX sidecar stores this)


def spec_to_dict(spec: ArchSpec) -> dict[str, Any]:
    """A JSON-able dict of the spec; ``spec_from_dict`` turns it back into an equal spec."""
    return {
        "name": spec.name,
        "title": spec.title,
        "activation": spec.activation,
        "note": spec.note,
        "layers": [asdict(layer) for layer in spec.layers],
    }


_LAYER_FIELDS = {f.name for f in fields(LayerSpec)}


def spec_from_dict(data: Mapping[str, Any]) -> ArchSpec:
    """Inverse of ``spec_to_dict``; ``ValueError`` with a readable reason for malformed input."""
    if not isinstance(data, Mapping):
        raise ValueError("An architecture must be a JSON object with a 'layers' list.")
    raw_layers = data.get("layers", [])
    if not isinstance(raw_layers, (list, tuple)):
        raise ValueError("The architecture's 'layers' must be a list.")
    layers = []
    for i, raw in enumerate(raw_layers):
        if not isinstance(raw, Mapping) or "kind" not in raw:
            raise ValueError(f"Layer {i + 1} must be an object with a 'kind'.")
        unknown = set(raw) - _LAYER_FIELDS
        if unknown:
            raise ValueError(f"Layer {i + 1} has unknown fields: {', '.join(sorted(unknown))}.")
        try:
            layers.append(LayerSpec(
                kind=str(raw["kind"]),
                out_channels=int(raw.get("out_channels", 0)),
                kernel=int(raw.get("kernel", 3)),
                stride=None if raw.get("stride") is None else int(raw["stride"]),
                padding=int(raw.get("padding", 0)),
                mode=str(raw.get("mode", "max")),
                size=int(raw.get("size", 2)),
                units=int(raw.get("units", 0)),
                p=float(raw.get("p", 0.0)),
            ))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Layer {i + 1} has a field that is not a number ({exc}).") from exc
    return ArchSpec(
        name=str(data.get("name", "custom")),
        title=str(data.get("title", "Custom")),
        layers=tuple(layers),
        activation=str(data.get("activation", "relu")),
        note=str(data.get("note", "")),
    )


# ---------------------------------------------------------------------------------------------
# The layer table


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer table (the input row is index -1 and has no cost)."""

    index: int  # position in spec.layers; -1 for the input, len(layers) for flatten/output rows
    name: str  # "conv1", "pool2", "flatten", "output", ...
    kind: str  # a LAYER_KINDS entry, "input" or "output"
    label: str  # e.g. "conv 5×5, 6 ch, pad 2 + ReLU"
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

    @property
    def ok(self) -> bool:
        return self.reason is None

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


def _axis_text(ax: ar.AxisResult) -> str:
    pad = f"2·{ax.pad_lo}" if ax.pad_lo == ax.pad_hi else f"{ax.pad_lo}+{ax.pad_hi}"
    kterm = f"({ax.k}−1)" if ax.d == 1 else f"{ax.d}·({ax.k}−1)"
    head = f"⌊({ax.n} + {pad} − {kterm} − 1) / {ax.s}⌋ + 1"
    if not ax.ok:
        return head
    return f"{head} = ⌊{ax.numerator}/{ax.s}⌋ + 1 = {ax.out}"


def _field_reason(layer: LayerSpec, name: str) -> str | None:
    """Range checks of a layer's own numbers (before any shape arithmetic)."""
    if layer.kind not in LAYER_KINDS:
        return f"{name}: unknown layer kind {layer.kind!r}; choose one of {', '.join(LAYER_KINDS)}."
    if layer.kind == "conv":
        if not 1 <= layer.out_channels <= MAX_CHANNELS:
            return f"{name}: the number of channels must be between 1 and {MAX_CHANNELS} (got {layer.out_channels})."
        if not 1 <= layer.kernel <= MAX_KERNEL:
            return f"{name}: the kernel size must be between 1 and {MAX_KERNEL} (got {layer.kernel})."
        if not 1 <= layer.effective_stride <= MAX_STRIDE:
            return f"{name}: the stride must be between 1 and {MAX_STRIDE} (got {layer.effective_stride})."
        if not 0 <= layer.padding <= MAX_PADDING:
            return f"{name}: the padding must be between 0 and {MAX_PADDING} (got {layer.padding})."
    elif layer.kind == "pool":
        if layer.mode not in POOL_MODES:
            return f"{name}: pooling is 'max' or 'avg' (got {layer.mode!r})."
        if not 1 <= layer.size <= MAX_POOL:
            return f"{name}: the pooling window must be between 1 and {MAX_POOL} (got {layer.size})."
        if not 1 <= layer.effective_stride <= MAX_POOL:
            return f"{name}: the pooling stride must be between 1 and {MAX_POOL} (got {layer.effective_stride})."
    elif layer.kind == "dense":
        if not 1 <= layer.units <= MAX_UNITS:
            return f"{name}: a dense layer needs between 1 and {MAX_UNITS} units (got {layer.units})."
    elif layer.kind == "dropout":
        if not 0.0 <= layer.p < 1.0:
            return f"{name}: the dropout probability must be at least 0 and below 1 (got {layer.p:g})."
    return None


def _flatten_row(index: int, shape: tuple[int, ...], implicit: bool, rf: int | None, jump: int | None) -> LayerRow:
    c, h, w = shape
    return LayerRow(
        index, "flatten", "flatten", "flatten", (c * h * w,), rf=rf, jump=jump, in_shape=shape,
        formula=f"{c} channels × {h} × {w} = {c * h * w} values in one vector",
        implicit=implicit,
    )


def layer_table(spec: ArchSpec, in_shape: tuple[int, int, int] = INPUT_SHAPE) -> list[LayerRow]:
    """Every layer's output shape, parameters, multiply-adds and receptive field, before training.

    Never raises: when the stack is impossible, the rows stop at the first impossible layer, whose
    ``reason`` says why (see ``table_reason``).
    """
    rows: list[LayerRow] = [LayerRow(-1, "input", "input", "input image", tuple(in_shape), rf=1, jump=1)]
    act = ACTIVATIONS.get(spec.activation)
    if act is None:
        rows.append(LayerRow(0, "activation", "input", "activation", None,
                             reason=f"Unknown activation {spec.activation!r}; choose one of "
                                    f"{', '.join(ACTIVATIONS)}."))
        return rows
    if len(spec.layers) > MAX_LAYERS:
        rows.append(LayerRow(0, "layers", "input", "layers", None,
                             reason=f"{len(spec.layers)} layers is more than this server allows ({MAX_LAYERS})."))
        return rows
    shape: tuple[int, ...] = tuple(in_shape)
    rf_layers: list[ar.RFLayer] = []  # the spatial layers so far, for the receptive field
    rf, jump = 1, 1
    counts: dict[str, int] = {}
    layers = spec.layers

    for i, layer in enumerate(layers):
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
        name = f"{layer.kind}{counts[layer.kind]}" if layer.kind != "batchnorm" else f"bn{counts[layer.kind]}"
        reason = _field_reason(layer, name)
        if reason:
            rows.append(LayerRow(i, name, layer.kind, name, None, reason=reason, in_shape=shape))
            return rows
        spatial = len(shape) == 3
        # The nonlinearity follows a conv/dense layer after any batch norms directly behind it.
        followed_by_act = layer.kind in ("conv", "dense")

        if layer.kind in ("conv", "pool"):
            if not spatial:
                rows.append(LayerRow(
                    i, name, layer.kind, name, None, in_shape=shape,
                    reason=f"{name}: a {'convolution' if layer.kind == 'conv' else 'pooling layer'} needs a "
                           f"feature map (channels, height, width), but the layer before it gives a flat "
                           f"vector of {shape[0]} values. Put conv and pooling layers before dense layers.",
                ))
                return rows
            c, h, w = shape
            k, s = (layer.kernel, layer.effective_stride) if layer.kind == "conv" else (layer.size, layer.effective_stride)
            if layer.kind == "conv":
                result = ar.conv2d_shape((h, w), (k, k), (s, s), (layer.padding, layer.padding),
                                         in_channels=c, out_channels=layer.out_channels)
                label = f"conv {k}×{k}, {layer.out_channels} ch"
            else:
                result = ar.pool2d_shape((h, w), (k, k), (s, s), (0, 0), channels=c)
                label = f"{layer.mode} pool {k}×{k}"
            if s != (1 if layer.kind == "conv" else k):
                label += f", stride {s}"
            if layer.kind == "conv" and layer.padding:
                label += f", pad {layer.padding}"
            latex = tuple(step.latex for step in ar.conv_formula_steps(result.height) if step.latex)
            formula = f"H: {_axis_text(result.height)}"
            if (h, w) != (result.height.n, result.width.n) or h != w:
                formula += f";  W: {_axis_text(result.width)}"
            if not result.ok:
                rows.append(LayerRow(
                    i, name, layer.kind, label, None, in_shape=shape, formula=formula, formula_latex=latex,
                    reason=f"{name}: the {h}×{w} feature map is too small here. {result.reason}",
                ))
                return rows
            oh, ow = result.out_hw  # type: ignore[misc]
            rf_layers.append(ar.RFLayer(name, k, s, layer.padding if layer.kind == "conv" else 0))
            rf_row = ar.receptive_field(rf_layers)[-1]
            rf, jump = rf_row.rf, rf_row.jump
            if layer.kind == "conv":
                cost = ar.conv_cost(result, (k, k))
                params, macs = cost.params, cost.macs  # type: ignore[union-attr]
                out = (layer.out_channels, oh, ow)
            else:
                params, macs = 0, 0
                out = (c, oh, ow)
            formula += f"  →  ({out[0]}, {oh}, {ow})"
            rows.append(LayerRow(i, name, layer.kind, label, out, params, macs, rf, jump, formula, latex,
                                 in_shape=shape, activation=followed_by_act))
            shape = out
            continue

        if layer.kind == "dense":
            if spatial:
                rows.append(_flatten_row(i, shape, True, rf, jump))
                shape = rows[-1].out_shape  # type: ignore[assignment]
            n_in = shape[0]
            params = n_in * layer.units + layer.units
            rows.append(LayerRow(
                i, name, "dense", f"dense {layer.units}", (layer.units,), params, n_in * layer.units,
                None, None, f"{n_in} inputs × {layer.units} units + {layer.units} biases = {params:,} parameters",
                in_shape=shape, activation=True,
            ))
            shape = (layer.units,)
            rf, jump = None, None  # type: ignore[assignment]
            continue

        if layer.kind == "flatten":
            if spatial:
                rows.append(_flatten_row(i, shape, False, rf, jump))
                shape = rows[-1].out_shape  # type: ignore[assignment]
            else:
                rows.append(LayerRow(i, name, "flatten", "flatten", shape, formula="already flat: nothing to do",
                                     in_shape=shape))
            continue

        if layer.kind == "batchnorm":
            channels = shape[0]
            rows.append(LayerRow(
                i, name, "batchnorm", f"batch norm ({'per channel' if spatial else 'per unit'})", shape,
                2 * channels, 0, rf, jump,
                f"normalises each of the {channels} {'channels' if spatial else 'units'}, then scales and "
                f"shifts it: 2 × {channels} = {2 * channels} learnable parameters; shape unchanged",
                in_shape=shape,
            ))
            continue

        # dropout
        rows.append(LayerRow(
            i, name, "dropout", f"dropout p={layer.p:g}", shape, 0, 0, rf, jump,
            f"zeroes each value with probability {layer.p:g} while training (and scales the rest by "
            f"1/(1−p)); does nothing at test time; shape unchanged",
            in_shape=shape,
        ))

    n = len(layers)
    if len(shape) == 3:
        rows.append(_flatten_row(n, shape, True, rf, jump))
        shape = rows[-1].out_shape  # type: ignore[assignment]
    n_in = shape[0]
    params = n_in * NUM_CLASSES + NUM_CLASSES
    rows.append(LayerRow(
        n, "output", "output", f"dense {NUM_CLASSES} (logits)", (NUM_CLASSES,), params, n_in * NUM_CLASSES,
        None, None, f"{n_in} inputs × 10 classes + 10 biases = {params:,} parameters; softmax gives probabilities",
        in_shape=shape, implicit=True,
    ))
    total_params = sum(r.params for r in rows)
    total_macs = sum(r.macs for r in rows)
    if total_params > MAX_PARAMS:
        rows[-1] = _with_reason(rows[-1], f"This network has {total_params:,} parameters, more than this "
                                          f"server trains ({MAX_PARAMS:,}). Use fewer channels or units, "
                                          "or downsample before the dense layers.")
    elif total_macs > MAX_MACS:
        rows[-1] = _with_reason(rows[-1], f"One image costs {total_macs:,} multiply-adds, more than this "
                                          f"server trains ({MAX_MACS:,}). Use fewer channels or downsample earlier.")
    return rows


def _with_reason(row: LayerRow, reason: str) -> LayerRow:
    return replace(row, reason=reason)


def table_reason(rows: Sequence[LayerRow]) -> str | None:
    """The first impossible layer's reason, or None when the whole stack works."""
    for row in rows:
        if row.reason:
            return row.reason
    return None


def validate(spec: ArchSpec) -> str | None:
    """Why this stack cannot be built (a sentence for a student), or None when it can."""
    return table_reason(layer_table(spec))


def count_params(spec: ArchSpec) -> int:
    return sum(r.params for r in layer_table(spec))


def count_macs(spec: ArchSpec) -> int:
    return sum(r.macs for r in layer_table(spec))


def conv_rows(spec: ArchSpec) -> list[LayerRow]:
    return [r for r in layer_table(spec) if r.kind == "conv"]


def activation_labels(spec: ArchSpec) -> list[str]:
    """One label per conv activation that ``forward_with_activations`` returns, e.g. "conv1 3×3, 32 ch"."""
    return [f"{r.name} {r.label[len('conv '):]}" for r in conv_rows(spec)]


def activation_shapes(spec: ArchSpec) -> list[tuple[int, int, int]]:
    """(C, H, W) of each conv activation, in the order ``forward_with_activations`` returns them."""
    return [r.out_shape for r in conv_rows(spec)]  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Building the network (torch is imported here only)


def _activation_module(name: str):
    import torch.nn as nn

    # ReLU in place: it always follows a conv, dense or batch-norm layer, whose backward pass needs its
    # input, not its output; saves one activation-sized copy per layer (LeNet-5 epoch 0.28 → 0.23 s here).
    return {
        "relu": lambda: nn.ReLU(inplace=True), "leaky_relu": lambda: nn.LeakyReLU(0.01), "elu": nn.ELU,
        "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    }[name]()


def build_model(spec: ArchSpec):
    """The ``ConvNet`` for ``spec``; ``ValueError`` with the table's reason if the stack is impossible.

    Uses the global torch RNG for the initial weights: call ``torch.manual_seed`` first for a
    reproducible start.
    """
    import torch
    import torch.nn as nn

    rows = layer_table(spec)
    reason = table_reason(rows)
    if reason:
        raise ValueError(reason)

    class ConvNet(nn.Module):
        """Sequential network that can also hand back each conv layer's activation."""

        def __init__(self) -> None:
            super().__init__()
            self.spec = spec
            self.layer_rows = rows
            mods: list[nn.Module] = []
            capture: list[int] = []  # module indices whose output is a conv activation
            pending_act: bool = False
            pending_conv = False

            def close_block() -> None:
                nonlocal pending_act, pending_conv
                if pending_act:
                    mods.append(_activation_module(spec.activation))
                    if pending_conv:
                        capture.append(len(mods) - 1)
                pending_act = pending_conv = False

            for row in rows[1:]:
                if row.kind != "batchnorm":
                    close_block()
                if row.kind == "conv":
                    layer = spec.layers[row.index]
                    k, s = layer.kernel, layer.effective_stride
                    mods.append(nn.Conv2d(row.in_shape[0], layer.out_channels, k, s, layer.padding))  # type: ignore[index]
                    pending_act, pending_conv = True, True
                elif row.kind == "pool":
                    layer = spec.layers[row.index]
                    cls = nn.MaxPool2d if layer.mode == "max" else nn.AvgPool2d
                    mods.append(cls(layer.size, layer.effective_stride))
                elif row.kind == "flatten":
                    mods.append(nn.Flatten())
                elif row.kind == "dense":
                    mods.append(nn.Linear(row.in_shape[0], row.out_shape[0]))  # type: ignore[index]
                    pending_act = True
                elif row.kind == "batchnorm":
                    n = row.in_shape[0]  # type: ignore[index]
                    mods.append(nn.BatchNorm2d(n) if len(row.in_shape) == 3 else nn.BatchNorm1d(n))  # type: ignore[arg-type]
                elif row.kind == "dropout":
                    mods.append(nn.Dropout(spec.layers[row.index].p))
                elif row.kind == "output":
                    mods.append(nn.Linear(row.in_shape[0], NUM_CLASSES))  # type: ignore[index]
            self.layers = nn.ModuleList(mods)
            self.capture = tuple(capture)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 28, 28) → (N, 10)
            for layer in self.layers:
                x = layer(x)
            return x

        def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
            """Logits (N, 10) and the activation after each conv layer's nonlinearity, (N, C, H, W) each."""
            acts: list[torch.Tensor] = []
            for i, layer in enumerate(self.layers):
                x = layer(x)
                if i in self.capture:
                    acts.append(x)
            return x, acts

    return ConvNet()


def first_conv_weight(model) -> "Any | None":
    """The first conv layer's kernels as a NumPy array (out, in, k, k), or None for a network without conv."""
    import torch.nn as nn

    for layer in model.layers:
        if isinstance(layer, nn.Conv2d):
            return layer.weight.detach().cpu().numpy().copy()
    return None


__all__ = [
    "ACTIVATIONS", "ArchSpec", "LayerRow", "LayerSpec", "LayersParam", "PRESETS", "PRESET_KEYS",
    "activation_labels", "activation_shapes", "batchnorm", "build_model", "conv", "count_macs",
    "count_params", "dense", "dropout", "first_conv_weight", "layer_table", "layer_to_text",
    "layers_from_text", "layers_to_text", "pool", "spec_from_dict", "spec_to_dict", "table_reason",
    "validate",
]
