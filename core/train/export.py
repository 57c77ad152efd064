"""Export a trained network to a single-file ONNX model with its JSON sidecar, checked before it is saved.

Pipeline (nothing touches the disk until every check has passed):

1. ``onnx_bytes``: torch → ONNX in memory. Graph contract (``core.infer.model_card``): input ``"image"``
   (N, C, H, W), the training dataset's shape ((1, 28, 28) or (3, 32, 32)), with a dynamic batch axis, outputs ``"logits"`` then ``"act_<i>"``, the feature map
   after each conv layer, so the draw page can show feature maps with onnxruntime alone.
2. ``check_onnx``: ``onnx.checker.check_model(full_check=True)`` (structure + shape inference).
3. ``parity``: onnxruntime vs torch on a batch of that dataset's real test images (at most 256, from the
   shipped digits or the cached download); max |Δ logits| must be ≤ 1e-4.
4. ``write_model``: the ONNX file and its sidecar, each written atomically (temp file + rename); if the
   sidecar cannot be written the new ONNX file is taken back, so no half-exported model is left.

Exporter: ``torch.onnx.export(dynamo=True)``. It is torch's supported exporter (the TorchScript-based
``dynamo=False`` path is deprecated and prints a DeprecationWarning on every call); it captures the graph
with ``torch.export`` and writes opset 20. It costs about 2-5 s on its first call in a process (0.4 s for
the legacy one), which is acceptable for a click on "Export"; the parity check below is the guard that the
exported graph computes what the trained network computes, whichever exporter produced it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import re
import statistics
import time
import warnings
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Mapping

import numpy as np
import onnx
import onnxruntime as ort
import torch

from core.data import registry as cds
from core.data.mnist import atomic_write_bytes
from core.errors import DataError
from core.infer.export_quota import ExportQuota, ExportQuotaError
from core.infer.runtime import SHIPPED_DIR, session_options
from core.infer.session_folders import ensure_session_dir, prune_stale_sessions
from core.infer.model_card import (
    INPUT_NAME, LOGITS_NAME, Activation, ModelCard, card_from_dict, sha256_file, sidecar_path,
)
from core.arch.spec import ArchSpec, spec_to_dict
from core.arch.layer_table import activation_labels, activation_shapes, count_params
from core.train.provenance import (  # noqa: F401  (re-exported: pages, scripts and tests use them from here)
    AUGMENTATION_TEXT, ExportError, Provenance, provenance, versions,
)

PARITY_TOLERANCE = 1e-4  # max |Δ logits| allowed between onnxruntime and torch
PARITY_DIGITS = 256  # test digits used for the parity check
EXPORTER = "torch.onnx.export(dynamo=True)"
MAX_NAME_CHARS = 48
MAX_SESSION_MODELS = 20  # a session keeps its newest models; older ones are removed


# ---------------------------------------------------------------------------------------------
# Names


def sanitize_name(name: str) -> str:
    """A safe file stem: letters, digits, '-' and '_' only (no separators, no dots, no traversal).

    Other characters become '-', runs of them collapse, and the result is at most 48 characters.
    """
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-_")[:MAX_NAME_CHARS].strip("-_")
    if not stem:
        raise ExportError("A model name needs at least one letter or digit.")
    return stem


def unique_stem(folder: Path, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... whichever has neither an .onnx nor a .json in ``folder``."""
    candidate, n = stem, 1
    while (folder / f"{candidate}.onnx").exists() or (folder / f"{candidate}.json").exists():
        n += 1
        candidate = f"{stem[:MAX_NAME_CHARS - len(str(n)) - 1]}-{n}"
    return candidate


# ---------------------------------------------------------------------------------------------
# Torch → ONNX


class _WithActivations(torch.nn.Module):
    """Forward returns ``(logits, act_0, act_1, ...)`` so every conv feature map is a graph output."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:  # (N, C, H, W)
        logits, acts = self.net.forward_with_activations(image)
        return (logits, *acts)


def output_names(spec: ArchSpec, in_shape: tuple[int, int, int] = (1, 28, 28)) -> list[str]:
    return output_names_for(len(activation_shapes(spec, in_shape)))


def output_names_for(n_activations: int) -> list[str]:
    return [LOGITS_NAME] + [f"act_{i}" for i in range(n_activations)]


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's harmless chatter (e.g. "torchvision is not installed") in server logs."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def cpu_copy(net: torch.nn.Module) -> torch.nn.Module:
    """An eval-mode copy on the CPU: exporting never moves or switches the caller's (maybe GPU) model."""
    return copy.deepcopy(net).to("cpu").eval()


def onnx_bytes(net: torch.nn.Module, spec: ArchSpec, in_shape: tuple[int, int, int] = (1, 28, 28)) -> bytes:
    """Serialised single-file ONNX model of ``net`` (exported from an eval-mode CPU copy)."""
    wrapper = _WithActivations(cpu_copy(net)).eval()
    example = torch.zeros(2, *in_shape)
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                wrapper, (example,), dynamo=True, external_data=False,
                input_names=[INPUT_NAME], output_names=output_names(spec, in_shape),
                dynamic_shapes={"image": {0: torch.export.Dim("batch")}},
                verbose=False,
            )
            return program.model_proto.SerializeToString()
    except Exception as exc:  # the exporter raises many kinds of errors; all mean "cannot export this"
        raise ExportError(f"torch.onnx.export failed: {exc}") from exc


def check_onnx(data: bytes) -> onnx.ModelProto:
    """Parse and fully check the model (``onnx.checker`` with shape inference); ``ExportError`` if invalid."""
    try:
        proto = onnx.load_from_string(data)
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(f"onnx.checker rejected the exported model: {exc}") from exc
    return proto


def opset_of(proto: onnx.ModelProto) -> int:
    return next(int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def ort_session(data: bytes, threads: int = 1) -> ort.InferenceSession:
    return ort.InferenceSession(data, sess_options=session_options(threads), providers=["CPUExecutionProvider"])


def parity_batch(n: int = PARITY_DIGITS, dataset: str = "shipped5k") -> np.ndarray:
    """The first ``n`` test images of ``dataset`` (shipped, or its cached download), normalised as in
    training: (n, C, H, W) float32. ``DataError`` when a downloaded set is no longer cached."""
    test = cds.load_test(dataset)
    return cds.to_float(test.images[:n], cds.info(test.key))


@dataclass(frozen=True)
class Parity:
    max_abs_logits: float  # max |onnxruntime − torch| over every logit of the batch
    max_abs_activations: float  # the same over every feature map
    digits: int
    tolerance: float = PARITY_TOLERANCE

    @property
    def ok(self) -> bool:
        return self.max_abs_logits <= self.tolerance


def parity(net: torch.nn.Module, data: bytes, batch: np.ndarray | None = None, dataset: str = "shipped5k") -> Parity:
    """Compare onnxruntime with torch (eval mode) on the same batch of ``dataset``'s test images."""
    x = parity_batch(dataset=dataset) if batch is None else np.ascontiguousarray(batch, dtype=np.float32)
    net = cpu_copy(net)
    with torch.inference_mode():
        logits, acts = net.forward_with_activations(torch.from_numpy(x))
    ref = [logits.numpy(), *(a.numpy() for a in acts)]
    names = output_names_for(len(acts))  # by name: a graph may also output every layer (core.train.graph_surgery)
    session = ort_session(data, threads=2)
    have = [o.name for o in session.get_outputs()]
    if have[:len(names)] != names:
        raise ExportError(f"The ONNX model's outputs begin {have[:len(names)]}, torch gives {names}.")
    got = session.run(names, {INPUT_NAME: x})
    diffs = [float(np.max(np.abs(g - r))) if r.size else 0.0 for g, r in zip(got, ref)]
    return Parity(diffs[0], max(diffs[1:], default=0.0), int(x.shape[0]))


@dataclass(frozen=True)
class Latency:
    torch_ms: float  # median, batch 1, torch eager (inference_mode)
    onnxruntime_ms: float  # median, batch 1, onnxruntime with one thread
    repeat: int

    @property
    def speedup(self) -> float:
        return self.torch_ms / self.onnxruntime_ms if self.onnxruntime_ms > 0 else float("inf")


def _median_ms(fn, repeat: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def latency(net: torch.nn.Module, data: bytes, repeat: int = 200, dataset: str = "shipped5k") -> Latency:
    """Batch-1 latency of torch eager vs onnxruntime on one real test image, measured now, in this process."""
    x = parity_batch(1, dataset)
    net = cpu_copy(net)
    xt = torch.from_numpy(x)
    session = ort_session(data, threads=1)

    def run_torch() -> None:
        with torch.inference_mode():
            net(xt)

    def run_ort() -> None:
        session.run([LOGITS_NAME], {INPUT_NAME: x})

    return Latency(_median_ms(run_torch, repeat), _median_ms(run_ort, repeat), repeat)


# ---------------------------------------------------------------------------------------------
# Sidecar and files


def make_card(name: str, spec: ArchSpec, prov: Provenance, proto: onnx.ModelProto, data: bytes,
              par: Parity) -> ModelCard:
    meta = cds.info(prov.dataset_key)
    labels = activation_labels(spec, meta.shape)
    shapes = activation_shapes(spec, meta.shape)
    acts = tuple(Activation(f"act_{i}", f"{label} + {spec.activation}", tuple(shape))
                 for i, (label, shape) in enumerate(zip(labels, shapes)))
    return ModelCard(
        name=name, title=prov.title, architecture=spec_to_dict(spec), dataset=prov.dataset,
        training=dict(prov.training), test_accuracy=float(prov.test_accuracy), params=count_params(spec, meta.shape),
        mean=_one_or_each(meta.mean), std=_one_or_each(meta.std), opset=opset_of(proto), exporter=EXPORTER, versions=versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        sha256=hashlib.sha256(data).hexdigest(), activations=acts,
        parity_max_abs_diff=par.max_abs_logits,
        per_class_accuracy=tuple(float(a) for a in prov.per_class_accuracy), notes=prov.notes,
        extra={"parity_digits": par.digits, "parity_max_abs_diff_activations": par.max_abs_activations},
        input_shape=meta.shape, labels=meta.class_names, dataset_key=meta.key,
    )


def _one_or_each(values: tuple[float, ...]) -> float | tuple[float, ...]:
    """A grey model's sidecar keeps the single number every sidecar has had; colour gets one per channel."""
    return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True)
class ExportResult:
    onnx_path: Path
    card_path: Path
    card: ModelCard
    size_bytes: int
    parity: Parity
    seconds: float  # export + checks + writing


def write_model(folder: Path, stem: str, data: bytes, card: ModelCard) -> tuple[Path, Path]:
    """Write ``stem.onnx`` and ``stem.json`` atomically; on failure leave the folder as it was."""
    onnx_path = folder / f"{stem}.onnx"
    card_path = sidecar_path(onnx_path)
    if onnx_path.resolve().parent != folder.resolve():
        raise ExportError(f"Refusing to write outside {folder}.")
    previous = {p: p.read_bytes() for p in (onnx_path, card_path) if p.exists()}
    written: list[Path] = []
    try:
        for path, payload in ((onnx_path, data), (card_path, card.to_json().encode("utf-8"))):
            atomic_write_bytes(path, payload)
            written.append(path)
    except BaseException:
        for path in written:  # put back what was there before (or nothing)
            if path in previous:
                atomic_write_bytes(path, previous[path])
            else:
                path.unlink(missing_ok=True)
        raise
    return onnx_path, card_path


def export_model(net: torch.nn.Module, spec: ArchSpec, prov: Provenance, folder: Path, name: str, *,
                 overwrite: bool = False, allow_shipped: bool = False,
                 card_changes: Mapping[str, Any] | None = None,
                 room: Callable[[int], ContextManager[None]] | None = None) -> ExportResult:
    """Export, check, compare with torch and write ``folder/NAME.onnx`` + ``NAME.json``.

    ``room(n)`` holds room for ``n`` more bytes on disk while the files are written (``ExportQuota.reserve``:
    ``ExportQuotaError`` when they do not fit). ``card_changes`` overrides sidecar fields (an ensemble's parameter count and its ``extra``). A net
    that is not one chain of layers (``core.train.ensemble``) is written without per-layer outputs.

    Raises ``ExportError`` (nothing written) if the exporter, the checker or the parity check fails.
    Without ``overwrite`` an existing name gets a ``-2``, ``-3``... suffix. ``exported_models/`` is
    only written with ``allow_shipped`` (the training script), never from a user's session.
    """
    t0 = time.perf_counter()
    folder = Path(folder)
    if folder.resolve() == SHIPPED_DIR.resolve() and not allow_shipped:
        raise ExportError("Models trained in a session are never saved over the shipped models.")
    stem = sanitize_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        stem = unique_stem(folder, stem)
    in_shape = cds.info(prov.dataset_key).shape
    data = onnx_bytes(net, spec, in_shape)
    proto = check_onnx(data)
    try:
        par = parity(net, data, dataset=prov.dataset_key)
    except DataError as exc:  # a downloaded set removed from the cache since training
        raise ExportError(f"No test images to check the export with: {exc}") from exc
    if not par.ok:
        raise ExportError(
            f"onnxruntime and torch disagree by up to {par.max_abs_logits:.2e} on the logits "
            f"(limit {PARITY_TOLERANCE:.0e}): the exported model was not saved."
        )
    extra: dict[str, Any] = {}
    if getattr(net, "single_chain", True):
        data, layers = with_layer_outputs(proto, spec)
        extra = layers.sidecar()
    card = make_card(stem, spec, prov, proto, data, par)
    card = replace(card, extra={**card.extra, **extra})
    if card_changes:
        card = replace(card, **card_changes)
    card_from_dict(_roundtrip(card))  # the sidecar must satisfy its own reader before it is written
    try:
        with room(len(data) + len(card.to_json().encode("utf-8"))) if room else contextlib.nullcontext():
            onnx_path, card_path = write_model(folder, stem, data, card)
    except ExportQuotaError as exc:
        raise ExportError(str(exc)) from exc
    if sha256_file(onnx_path) != card.sha256:
        raise ExportError("The written file does not match its digest (disk error?).")
    return ExportResult(onnx_path, card_path, card, len(data), par, time.perf_counter() - t0)


def with_layer_outputs(proto: onnx.ModelProto, spec: ArchSpec):
    """The checked model with every layer's output and parameters as extra graph outputs (the "Inside the
    network" page reads them with onnxruntime); its logits are the graph's own, so parity still holds."""
    from core.train.graph_surgery import GraphMismatch, add_layer_outputs

    try:
        return add_layer_outputs(proto, spec_to_dict(spec))
    except (GraphMismatch, onnx.checker.ValidationError) as exc:
        raise ExportError(f"Could not expose the layers' outputs: {exc}") from exc


def _roundtrip(card: ModelCard) -> dict[str, Any]:
    return json.loads(card.to_json())


def prune_session(folder: Path, keep: int = MAX_SESSION_MODELS) -> list[str]:
    """Remove the oldest models beyond ``keep`` in a session folder; returns the removed stems."""
    # Regular files only, by their own times: a link in the folder is neither followed nor deleted.
    models = sorted((p for p in folder.glob("*.onnx") if p.is_file() and not p.is_symlink()),
                    key=lambda p: p.lstat().st_mtime, reverse=True)
    removed = []
    for path in models[keep:]:
        path.unlink(missing_ok=True)
        sidecar_path(path).unlink(missing_ok=True)
        removed.append(path.stem)
    return removed


def export_for_session(net: torch.nn.Module, spec: ArchSpec, prov: Provenance, token: str,
                       name: str, quota: ExportQuota | None = None, lock: Any = None) -> ExportResult:
    """Export a model a student trained into their session's own folder (never ``exported_models/``);
    ``lock`` (the server's) makes the quota check and the write one step for concurrent exports."""
    folder = ensure_session_dir(token)  # private (0700) and ours, or SessionFolderError before any work
    quota = quota or ExportQuota.from_env()
    prune_stale_sessions()  # other students' folders from sessions that ended a day ago: first, as their
    # bytes count against the server's quota
    try:  # the weights alone (4 bytes each) are a lower bound of the file: refuse before the export's work
        quota.check_room(folder, 4 * sum(p.numel() for p in net.parameters()))
    except ExportQuotaError as exc:
        raise ExportError(str(exc)) from exc
    result = export_model(net, spec, prov, folder, name, room=lambda n: quota.reserve(folder, n, lock))
    prune_session(folder)
    return result
