"""Architectures as data (no torch): layer specs, the presets, and the short text a share link carries.

Conventions of a spec:

* ``layers`` are the hidden layers. Flattening is implicit (before the first dense layer or the output),
  and every network ends with an implicit output layer: dense → 10 logits.
* ``activation`` is applied after every conv and hidden dense layer; when batch-norm layers directly
  follow a conv/dense layer, the activation comes after them (conv → BN → ReLU).

``core.arch.layer_table`` turns a spec into numbers (shapes, parameters, cost, memory) and ``core.train.convnet``
into a torch network; this module is what both read.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence

from core.links import share

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
    "lesson0": ArchSpec(
        "lesson0", "As in the lesson: LeNet-like, valid 5×5 convs, dense 128 + dropout, dense 84",
        (conv(6, 5), pool(2), conv(16, 5), pool(2), dense(128), dropout(0.2), dense(84)),
        note="As in the lesson (seed 000): two 5×5 convolutions without padding, so 28→24→12→8→4, each "
             "followed by 2×2 max-pooling, then dense 128 with dropout 0.2 and dense 84 before the 10 outputs. "
             "The lesson trains it one epoch on 60,000 digits with Adam and reaches 98 %.",
    ),
    "lesson4": ArchSpec(
        "lesson4", "As in the lesson: 4 kernels 3×3, tanh, on 1,000 images",
        (conv(4, 3), dropout(0.5)),
        activation="tanh",
        note="As in the lesson (seed 004), written there in NumPy: one layer of 4 shared 3×3 kernels, tanh, "
             "a dropout mask on the 4×26×26 = 2,704 maps, then straight to the 10 outputs; trained on 1,000 "
             "images. Weight sharing is the point: 40 kernel weights see every position.",
    ),
    "lesson1": ArchSpec(
        "lesson1", "As in the lesson: two convs (32→64), max-pool, dense 128",
        (conv(32, 3), conv(64, 3), pool(2), dropout(0.25), dense(128), dropout(0.5)),
        note="As in the lesson (seed 001): two 3×3 convolutions with 32 then 64 filters, one 2×2 max-pooling, "
             "a dense layer of 128 units, with dropout before and after it (the Keras mnist_cnn example). "
             "Most of its 1.2 million parameters sit in that dense layer: 64·12·12 = 9,216 inputs × 128.",
    ),
    "lesson3": ArchSpec(
        "lesson3", "As in the lesson: 3×3 same-padded convs, dense 100",
        (conv(32, 3, padding=1), pool(2), conv(64, 3, padding=1), pool(2), dense(100)),
        note="As in the lesson (seed 003): 3×3 convolutions with 'same' padding (pad 1 keeps 28×28, then "
             "14×14), each followed by 2×2 max-pooling, then a dense layer of 100 units before the 10 outputs.",
    ),
}
PRESET_KEYS: tuple[str, ...] = tuple(PRESETS)


def matched_dense(n_params: int, in_values: int = 784, classes: int = NUM_CLASSES) -> ArchSpec:
    """The one-hidden-layer dense network with about ``n_params`` parameters (seed 003's comparison).

    A hidden layer of h units costs in·h + h + h·classes + classes parameters, so
    h = round((n_params − classes) / (in + 1 + classes)).
    """
    h = max(1, round((n_params - classes) / (in_values + 1 + classes)))
    return ArchSpec("dense_match", f"Dense net, {h} hidden units", (dense(h),),
                    note=f"One dense hidden layer of {h} units: about the same number of parameters as the "
                         "convolutional net it is compared with, but every unit sees every pixel.")


# ---------------------------------------------------------------------------------------------
# Layers ↔ short text (share links carry a custom network this way)
#
#   conv  c{channels}k{kernel}[s{stride}][p{padding}]   c6k5p2
#   pool  max{window}[s{stride}] / avg{window}[s{stride}]   max2
#   dense d{units}   dropout do{p}   batchnorm bn   flatten fl
# joined by "-", e.g. LeNet-5 = "c6k5p2-max2-c16k5-max2-d120-d84".

_TEXT_RE = {
    "conv": re.compile(r"c([0-9]{1,4})k([0-9]{1,2})(?:s([0-9]{1,2}))?(?:p([0-9]{1,2}))?"),
    "pool": re.compile(r"(max|avg)([0-9]{1,2})(?:s([0-9]{1,2}))?"),
    "dense": re.compile(r"d([0-9]{1,5})"),
    "dropout": re.compile(r"do(0(?:\.[0-9]{1,4})?|1(?:\.0{1,4})?|\.[0-9]{1,4})"),
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


def layer_in_words(layer: LayerSpec) -> str:
    """``c6k5p2`` read out: "conv 6 channels 5×5, padding 2"."""
    if layer.kind == "conv":
        extra = [f"stride {layer.effective_stride}"] if layer.effective_stride != 1 else []
        extra += [f"padding {layer.padding}"] if layer.padding else []
        return f"conv {layer.out_channels} channels {layer.kernel}×{layer.kernel}" + "".join(", " + e for e in extra)
    if layer.kind == "pool":
        stride = f", stride {layer.effective_stride}" if layer.effective_stride != layer.size else ""
        return f"{'max' if layer.mode == 'max' else 'average'} pool {layer.size}×{layer.size}{stride}"
    if layer.kind == "dense":
        return f"dense {layer.units} units"
    if layer.kind == "dropout":
        return f"dropout {round(layer.p, 4):g}"
    return {"batchnorm": "batch norm", "flatten": "flatten"}.get(layer.kind, layer.kind)


def layers_in_words(layers: Sequence[LayerSpec]) -> str:
    """A stack of layers as a student reads it: "conv 6 channels 5×5, padding 2 → max pool 2×2 → …"."""
    return " → ".join(layer_in_words(layer) for layer in layers) or "no layers"


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

    def describe(self, value: Any) -> str:
        return layers_in_words(value)


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


__all__ = [
    "ACTIVATIONS", "ArchSpec", "INPUT_SHAPE", "LAYER_KINDS", "LayerSpec", "LayersParam", "MAX_CHANNELS",
    "MAX_KERNEL", "MAX_LAYERS", "MAX_MACS", "MAX_PADDING", "MAX_PARAMS", "MAX_POOL", "MAX_STRIDE", "MAX_UNITS",
    "NUM_CLASSES", "POOL_MODES", "PRESETS", "PRESET_KEYS", "TEXT_MAX_CHARS", "batchnorm", "conv", "dense",
    "dropout", "layer_to_text", "layers_from_text", "matched_dense", "layers_to_text", "pool", "spec_from_dict", "spec_to_dict",
]
