"""The JSON sidecar that makes every exported ONNX model describe itself (no torch needed to read it).

Contract shared by the exporter (``core.train.export``, torch side) and inference (``core.infer.runtime``,
onnxruntime side). For ``NAME.onnx`` the sidecar is ``NAME.json``:

* ONNX graph: one input ``"image"`` of shape (batch, C, H, W) = ``input_shape``: (1, 28, 28) grey
  digits or clothing, (3, 32, 32) colour photos; float32, already normalised as
  ``(pixel/255 - mean) / std`` per channel; outputs ``"logits"`` (batch, classes) followed by one
  output per conv layer, named ``"act_<i>"`` with shape (batch, C, H, W), listed in ``activations``.
* ``dataset_key`` (a ``core.data.registry`` key), ``input_shape``, ``labels`` (class names, index = output)
  and ``mean``/``std`` say what the model reads. A sidecar written before ConvLab trained on anything
  but MNIST has none of the first three: it reads as an MNIST digit model (the defaults below).
  ``mean``/``std`` are numbers for one channel (the format every sidecar has always had) and lists of
  one number per channel for colour models.
* ``sha256`` is the digest of the ONNX file's bytes; inference refuses a file whose digest differs.

A sidecar is read as untrusted text: at most ``MAX_SIDECAR_BYTES``, a regular file (never a pipe or a
device), strict JSON (no NaN/Infinity), nested at most ``MAX_SIDECAR_DEPTH`` deep, and every problem
is a ``ModelCardError`` naming the file, so one bad sidecar cannot break a list of models.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.files import FileRefused, read_regular_file

SCHEMA_VERSION = 1
INPUT_NAME = "image"
LOGITS_NAME = "logits"
INPUT_SHAPE = (1, 28, 28)  # (C, H, W) of a digit model (and of every sidecar without the field)
CLASS_LABELS = tuple(str(d) for d in range(10))
DIGIT_DATASETS = ("shipped5k", "full60k")  # core.data.registry keys whose models read handwritten digits
DEFAULT_DATASET = "shipped5k"  # what a sidecar without ``dataset_key`` was trained on (MNIST digits)
CHANNELS = (1, 3)
SIDES = (28, 32)
MAX_CLASSES = 100
MAX_SIDECAR_BYTES = 256 * 1024  # ConvLab writes about 5 KB; the bound comes before any parsing
MAX_SIDECAR_DEPTH = 16  # ConvLab nests 4 deep; deeper input would only feed recursion to later code


class ModelCardError(ValueError):
    """The sidecar is missing, malformed or does not match its ONNX file."""


@dataclass(frozen=True)
class Activation:
    name: str  # graph output name, e.g. "act_0"
    layer: str  # human label, e.g. "conv1 (3x3, 32 ch) + ReLU"
    shape: tuple[int, int, int]  # (C, H, W)


@dataclass(frozen=True)
class ModelCard:
    name: str  # file stem, e.g. "twoconv"
    title: str  # what the picker shows, e.g. "Two-conv CNN (shipped)"
    architecture: dict[str, Any]  # the ArchSpec as a plain dict (core.models.spec_to_dict)
    dataset: str  # e.g. "MNIST 5k shipped training digits, 4,500 train / 500 validation"
    training: dict[str, Any]  # optimizer, lr, epochs, batch size, seed, augmentation, seconds
    test_accuracy: float  # on the official 10k test set, 0..1
    params: int
    mean: float | tuple[float, ...]  # normalisation x = (pixel/255 - mean) / std: a number for grey
    std: float | tuple[float, ...]  # input, one per channel for colour (see ``channel_mean``)
    opset: int
    exporter: str  # e.g. "torch.onnx.export(dynamo=True)"
    versions: dict[str, str]  # torch, onnx, onnxruntime, numpy, python
    created: str  # ISO 8601 UTC
    sha256: str  # of the .onnx bytes
    activations: tuple[Activation, ...] = ()
    parity_max_abs_diff: float | None = None  # onnxruntime vs torch logits on test digits
    per_class_accuracy: tuple[float, ...] = ()
    input_name: str = INPUT_NAME
    input_shape: tuple[int, int, int] = INPUT_SHAPE
    labels: tuple[str, ...] = CLASS_LABELS
    notes: str = ""
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    # Accuracy on the robustness set (core.infer.robustness, scripts/evaluate_robustness.py):
    # {"digits": n, "raw": {variant: accuracy}, "drawn": {variant: accuracy}}; empty until measured.
    robustness: dict[str, Any] = field(default_factory=dict)
    dataset_key: str = DEFAULT_DATASET  # core.data.registry key: which test images suit this model

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    @property
    def channel_mean(self) -> tuple[float, ...]:
        return _per_channel(self.mean, self.input_shape[0])

    @property
    def channel_std(self) -> tuple[float, ...]:
        return _per_channel(self.std, self.input_shape[0])

    @property
    def reads_digits(self) -> bool:
        """A handwritten-digit model: the Draw page's canvas (and a drawn digit) suit it."""
        return self.dataset_key in DIGIT_DATASETS and self.input_shape == INPUT_SHAPE

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """Images in 0..1, (N, H, W) grey or (N, H, W, 3) colour → the model's (N, C, H, W) float32 input."""
        from core.infer.preprocess import to_model_input

        grey = self.input_shape[0] == 1
        x = to_model_input(pixels, self.channel_mean[0] if grey else self.channel_mean,
                           self.channel_std[0] if grey else self.channel_std)
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"The model reads images of shape {self.input_shape}, got {x.shape[1:]}.")
        return x


def _per_channel(value: float | tuple[float, ...], channels: int) -> tuple[float, ...]:
    return tuple(float(v) for v in value) if isinstance(value, (tuple, list)) else (float(value),) * channels


ENSEMBLE_KEY = "ensemble"  # ``extra`` entry of a model that averages several networks (core.train.ensemble)

REQUIRED = (
    "name", "title", "architecture", "dataset", "training", "test_accuracy", "params", "mean", "std",
    "opset", "exporter", "versions", "created", "sha256",
)


def card_from_dict(data: dict[str, Any], source: str = "sidecar") -> ModelCard:
    if not isinstance(data, dict):
        raise ModelCardError(f"{source}: expected a JSON object.")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ModelCardError(f"{source}: missing fields {', '.join(missing)}.")
    try:
        acts = tuple(
            Activation(str(a["name"]), str(a["layer"]), tuple(int(x) for x in a["shape"]))  # type: ignore[arg-type]
            for a in data.get("activations", ())
        )
        card = ModelCard(
            name=str(data["name"]), title=str(data["title"]), architecture=dict(data["architecture"]),
            dataset=str(data["dataset"]), training=dict(data["training"]),
            test_accuracy=float(data["test_accuracy"]), params=int(data["params"]),
            mean=_number_or_list(data["mean"]), std=_number_or_list(data["std"]), opset=int(data["opset"]),
            exporter=str(data["exporter"]), versions={str(k): str(v) for k, v in dict(data["versions"]).items()},
            created=str(data["created"]), sha256=str(data["sha256"]), activations=acts,
            parity_max_abs_diff=None if data.get("parity_max_abs_diff") is None else float(data["parity_max_abs_diff"]),
            per_class_accuracy=tuple(float(x) for x in data.get("per_class_accuracy", ())),
            input_name=str(data.get("input_name", INPUT_NAME)),
            input_shape=tuple(int(x) for x in data.get("input_shape", INPUT_SHAPE)),  # type: ignore[arg-type]
            labels=tuple(str(x) for x in data.get("labels", CLASS_LABELS)),
            notes=str(data.get("notes", "")), schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
            extra=dict(data.get("extra", {})),
            robustness=_robustness(data.get("robustness", {})),
            dataset_key=str(data.get("dataset_key", DEFAULT_DATASET)),
        )
    except (TypeError, ValueError, KeyError, OverflowError, RecursionError) as exc:
        raise ModelCardError(f"{source}: malformed field ({type(exc).__name__}: {exc}).") from exc
    _check_shape(card, source)
    for m, sd in zip(card.channel_mean, card.channel_std):
        if not (math.isfinite(sd) and sd > 0 and math.isfinite(m)):
            raise ModelCardError(f"{source}: normalisation std must be a positive number.")
        if not normalisation_is_finite(m, sd):
            raise ModelCardError(
                f"{source}: normalisation mean {card.mean!r} / std {card.std!r} turns pixels into numbers "
                f"too large for float32: the model would see infinities."
            )
    if not (math.isfinite(card.test_accuracy) and 0 <= card.test_accuracy <= 1):
        raise ModelCardError(f"{source}: test accuracy must be a number between 0 and 1.")
    return card


def _number_or_list(raw: Any) -> float | tuple[float, ...]:
    """A normalisation value: a number (one channel, every sidecar's format) or a list (one per channel)."""
    if isinstance(raw, list):
        if not 1 <= len(raw) <= max(CHANNELS):
            raise ValueError(f"expected one normalisation value per channel, got {len(raw)}")
        values = tuple(float(v) for v in raw)
        return values[0] if len(values) == 1 else values
    return float(raw)


def _check_shape(card: ModelCard, source: str) -> None:
    """The shapes ConvLab's models take: grey or colour, 28 or 32 pixels square, one label per output."""
    shape = card.input_shape
    if len(shape) != 3 or shape[0] not in CHANNELS or shape[1] != shape[2] or shape[1] not in SIDES:
        raise ModelCardError(f"{source}: input shape {shape} is not (channels 1 or 3, 28 or 32, same side).")
    for name, value in (("mean", card.mean), ("std", card.std)):
        if isinstance(value, tuple) and len(value) != shape[0]:
            raise ModelCardError(f"{source}: {len(value)} normalisation {name} values for {shape[0]} channels.")
    if not 2 <= len(card.labels) <= MAX_CLASSES:
        raise ModelCardError(f"{source}: expected 2 to {MAX_CLASSES} class labels, got {len(card.labels)}.")
    # The count of outputs is the graph's: core.infer.runtime checks the logits against ``labels``.


def _robustness(raw: Any) -> dict[str, Any]:
    """The sidecar's robustness scores, checked: a digit count and accuracies between 0 and 1."""
    if not isinstance(raw, dict):
        raise ValueError("robustness must be an object")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "digits":
            out["digits"] = int(value)
            continue
        if not isinstance(value, dict) or not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in value.values()):
            raise ValueError(f"robustness[{str(key)[:20]!r}] must map variants to accuracies between 0 and 1")
        out[str(key)] = {str(k): float(v) for k, v in value.items()}
    return out


def sidecar_path(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".json")


def normalisation_is_finite(mean: float, std: float) -> bool:
    """Whether ``(x - mean) / std`` is finite in float32 (what the model is fed) for every x in [0, 1]."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ends = (np.array([0.0, 1.0], dtype=np.float32) - np.float32(mean)) / np.float32(std)
    return bool(np.isfinite(ends).all())


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number in strict JSON")


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (deep input must not exhaust the stack here)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_SIDECAR_DEPTH:
                stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_sidecar(text: str, source: str = "sidecar") -> Any:
    """Strict JSON of bounded depth, or ``ModelCardError``."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ModelCardError(f"{source} is nested too deeply to be a model sidecar.") from exc
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers beyond Python's digit limit
        raise ModelCardError(f"{source} is not valid JSON ({exc}).") from exc
    if _depth(data) > MAX_SIDECAR_DEPTH:
        raise ModelCardError(f"{source} is nested more than {MAX_SIDECAR_DEPTH} levels deep; ConvLab sidecars "
                             f"are at most a few levels deep.")
    return data


def read_card(onnx_path: Path) -> ModelCard:
    """The sidecar of ``onnx_path``; ``ModelCardError`` (naming the file) for anything wrong with it."""
    path = sidecar_path(Path(onnx_path))
    if not os.path.lexists(path):
        raise ModelCardError(f"{path.name} is missing: every model needs its JSON sidecar.")
    try:
        text = read_regular_file(path, MAX_SIDECAR_BYTES).decode("utf-8")
    except FileRefused as exc:
        raise ModelCardError(f"{path.name}: {exc}.") from exc
    except UnicodeDecodeError as exc:
        raise ModelCardError(f"{path.name} is not valid JSON (not UTF-8 text).") from exc
    return card_from_dict(parse_sidecar(text, path.name), path.name)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))  # never waits on a pipe
    with os.fdopen(fd, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
