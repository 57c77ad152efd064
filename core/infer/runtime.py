"""onnxruntime inference for exported models: validation, cached sessions, listing, probabilities.

No torch here, not even indirectly: the draw page and ``python -m core.infer.predict`` run on numpy,
Pillow and onnxruntime only (checked by a test that imports this module in a fresh interpreter).

A model is a ``NAME.onnx`` file plus its ``NAME.json`` sidecar (``core.infer.model_card``). ``load_model``
refuses, with a reason a student can read, a file that is too large, has no valid sidecar, does not
match the sidecar's SHA-256, is not a valid ONNX graph, or does not take the (N, C, H, W) images its
sidecar states (``input_shape``: (1, 28, 28) for digits and clothing, (3, 32, 32) for CIFAR-10).
Sessions are cached per file hash, so every page load, rerun and CLI image reuses one session.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from core.arch.budget import MemoryBudget, MemoryRefused
from core.data.mnist import REPO_ROOT
from core.files import FileRefused, regular_file_size
from core.infer.plan import PlanError, session_runner
from core.infer.model_card import LOGITS_NAME, ModelCard, ModelCardError, read_card, sha256_file
from core.infer.plan_check import verify_plan
from core.infer.session_folders import usable_session_dir

SHIPPED_DIR = REPO_ROOT / "exported_models"
MAX_MODEL_BYTES = 50 * 1024 * 1024  # ConvLab's models are a few hundred KB; anything this big is not ours


class ModelRefused(ValueError):
    """A model file that inference will not load; the message says why."""


@dataclass(frozen=True)
class LoadedModel:
    """A validated model: its sidecar, its onnxruntime session and the graph's names."""

    path: Path
    card: ModelCard
    session: ort.InferenceSession
    size_bytes: int
    output_names: tuple[str, ...]  # "logits" first, then the activation outputs


@dataclass(frozen=True)
class ModelEntry:
    """One row of the model picker: a file and either its card or why it is refused."""

    path: Path
    source: str  # "shipped" or "session"
    card: ModelCard | None
    problem: str = ""

    @property
    def label(self) -> str:
        if self.card is None:
            return f"{self.path.stem} (unusable)"
        if self.source == "shipped":
            return self.card.title
        return f"{self.path.stem}: {self.card.title} (trained this session)"  # the stem tells exports apart


def session_options(threads: int = 1) -> ort.SessionOptions:
    """One thread per request by default: a classroom's requests run side by side, not on top of each other."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # errors only: warnings would land in the server log for every load
    return opts


@lru_cache(maxsize=32)
def _session(sha256: str, path: str, threads: int) -> ort.InferenceSession:
    """One session per model file hash (and thread count); ``path`` only tells where the bytes are."""
    return ort.InferenceSession(path, sess_options=session_options(threads), providers=["CPUExecutionProvider"])


def _check_graph(session: ort.InferenceSession, card: ModelCard, name: str) -> tuple[str, ...]:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelRefused(f"{name}: the graph has {len(inputs)} inputs, ConvLab models have exactly one.")
    shape = list(inputs[0].shape)
    if inputs[0].name != card.input_name or len(shape) != 4 or tuple(shape[1:]) != card.input_shape:
        raise ModelRefused(f"{name}: the graph's input is {inputs[0].name!r} {shape}, expected {card.input_name!r} "
                           f"(N, {', '.join(map(str, card.input_shape))}).")
    if inputs[0].type != "tensor(float)":
        raise ModelRefused(f"{name}: the graph's input is {inputs[0].type}, expected float32.")
    outputs = tuple(o.name for o in session.get_outputs())
    if not outputs or outputs[0] != LOGITS_NAME:
        raise ModelRefused(f"{name}: the first graph output must be {LOGITS_NAME!r}, got {outputs[:1]}.")
    missing = [a.name for a in card.activations if a.name not in outputs]
    if missing:
        raise ModelRefused(f"{name}: the sidecar lists activations {missing} that the graph does not output.")
    return outputs


def _smoke_test(model: LoadedModel) -> None:
    """Run one blank and one mid-grey image through every output: a model that cannot run, gives
    non-finite numbers or the wrong number of scores is refused when chosen, not on a student's digit."""
    c, h, w = model.card.input_shape
    images = np.stack([np.zeros((h, w, c), np.float32), np.full((h, w, c), 0.5, np.float32)])
    run_model(model, model.card.normalise(images[..., 0] if c == 1 else images), activations=True)


# onnxruntime holds a model's weights about twice while it builds a session (the file's bytes and its
# own optimised copy), plus the arena of the first runs: three times the file is what loading is costed at.
LOAD_COST_FACTOR = 3


def load_model(path: str | Path, threads: int = 1, budget: MemoryBudget | None = None) -> LoadedModel:
    """Validate a model file against its sidecar and return it with a (cached) session.

    ``ModelRefused`` for: not a regular ``.onnx`` file (pipes and devices are never opened), too large,
    sidecar missing or invalid (``core.infer.model_card``), digest mismatch, not a graph onnxruntime can load,
    wrong input/outputs, outputs that fail the smoke test (``run_model``'s checks on two images), or a layer
    plan (``extra["layer_outputs"]``) that contradicts the graph (``core.infer.plan_check``)."""
    path = Path(path)
    name = path.name
    if path.suffix != ".onnx":
        raise ModelRefused(f"{name}: model files end in .onnx.")
    try:
        size = regular_file_size(path)
    except FileRefused as exc:
        raise ModelRefused(f"{name}: {'no such model file' if str(exc) == 'no such file' else exc}.") from exc
    if size > MAX_MODEL_BYTES:
        raise ModelRefused(f"{name}: {size / 2**20:.0f} MB is over the {MAX_MODEL_BYTES // 2**20} MB limit for a model.")
    try:
        card = read_card(path)
    except ModelCardError as exc:
        raise ModelRefused(str(exc)) from exc
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise ModelRefused(f"{name}: cannot be read ({exc.strerror or exc}).") from exc
    if digest != card.sha256:
        raise ModelRefused(
            f"{name}: the file's SHA-256 does not match its sidecar: it was changed or damaged after export."
        )
    try:
        with budget.admit("loading this model", LOAD_COST_FACTOR * size) if budget else nullcontext():
            session = _session(digest, str(path.resolve()), threads)
    except MemoryRefused as exc:
        raise ModelRefused(f"{name}: {exc}") from exc
    except Exception as exc:  # onnxruntime raises its own exception types for every kind of bad graph
        raise ModelRefused(f"{name}: onnxruntime cannot load it, the file is not a valid model ({exc}).") from exc
    outputs = _check_graph(session, card, name)
    model = LoadedModel(path, card, session, size, outputs)
    _smoke_test(model)
    try:
        verify_plan(card.extra, outputs, session_runner(session, card.input_name), card.input_shape)
    except PlanError as exc:
        raise ModelRefused(f"{name}: its sidecar's description of the layers does not match the graph: {exc} "
                           f"Export the model again.") from exc
    except Exception as exc:  # onnxruntime failing on a name or shape the plan made it fetch
        raise ModelRefused(f"{name}: its layers could not be read back from the graph ({type(exc).__name__}).") from exc
    return model


def _entries(folder: Path, source: str) -> list[ModelEntry]:
    """One row per ``*.onnx`` in ``folder``; a sidecar that cannot be read becomes that row's problem."""
    try:
        paths = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    except OSError:  # unreadable folder: nothing to offer from it
        return []
    rows = []
    for path in paths:
        try:
            rows.append(ModelEntry(path, source, read_card(path)))
        except ModelCardError as exc:
            rows.append(ModelEntry(path, source, None, str(exc)))
        except Exception as exc:  # last line of defence: one file never takes the list down with it
            rows.append(ModelEntry(path, source, None, f"{path.name}: unreadable ({type(exc).__name__})."))
    return rows


def list_models(session_token: str | None = None, shipped_dir: Path | None = None) -> list[ModelEntry]:
    """The models a page may offer: the shipped ones, then this session's own (nothing else, ever).

    Shipped models are sorted best test accuracy first. Only sidecars are read here; the full checks
    (hash, graph) happen in ``load_model`` when one is chosen.
    """
    shipped = _entries(shipped_dir or SHIPPED_DIR, "shipped")
    shipped.sort(key=lambda e: -(e.card.test_accuracy if e.card else -1.0))
    own_dir = usable_session_dir(session_token) if session_token else None  # never a folder not ours
    own = _entries(own_dir, "session") if own_dir else []
    own.sort(key=lambda e: e.card.created if e.card else "", reverse=True)
    return shipped + own


def default_model_path(shipped_dir: Path | None = None) -> Path:
    """The best usable shipped model."""
    for entry in list_models(shipped_dir=shipped_dir):
        if entry.card is not None:
            return entry.path
    raise ModelRefused(f"No usable model in {shipped_dir or SHIPPED_DIR}: run `python -m scripts.train_shipped_models`.")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, classes) logits, numerically stable."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Outputs:
    logits: np.ndarray  # (N, 10)
    probs: np.ndarray  # (N, 10)
    activations: dict[str, np.ndarray]  # "act_<i>" → (N, C, H, W); empty unless asked for


def run_model(model: LoadedModel, batch: np.ndarray, activations: bool = False) -> Outputs:
    """Run a normalised (N, C, H, W) float32 batch (the card's ``input_shape``) through the session.

    ``ModelRefused`` (naming the file) when the normalised input is not finite, onnxruntime fails,
    the logits are not (N, number of labels), or any returned output holds NaN or infinity: a
    probability computed from those would be meaningless (and ``NaN`` is not JSON)."""
    x = np.ascontiguousarray(batch, dtype=np.float32)
    if x.ndim != 4 or x.shape[1:] != model.card.input_shape:
        raise ValueError(f"The model takes a batch of shape (N, {', '.join(map(str, model.card.input_shape))}), "
                         f"got {x.shape}.")
    name = model.path.name
    if not np.isfinite(x).all():
        raise ModelRefused(f"{name}: its normalisation (mean {model.card.mean}, std {model.card.std}) makes the "
                           f"input non-finite.")
    names = [LOGITS_NAME, *(a.name for a in model.card.activations)] if activations else [LOGITS_NAME]
    try:
        results = model.session.run(names, {model.card.input_name: x})
    except Exception as exc:  # onnxruntime's own exception types (Fail, InvalidArgument, RuntimeException...)
        raise ModelRefused(f"{name}: onnxruntime failed while running it ({type(exc).__name__}: "
                           f"{str(exc)[:300]}).") from exc
    logits = np.asarray(results[0])
    if logits.shape != (x.shape[0], len(model.card.labels)):
        got = f"{logits.shape[1]} scores" if logits.ndim == 2 else f"an array of shape {logits.shape}"
        raise ModelRefused(f"{name}: the model outputs {got} per image but its sidecar lists "
                           f"{len(model.card.labels)} labels.")
    for out_name, value in zip(names, results):
        if not np.isfinite(value).all():
            raise ModelRefused(f"{name}: the model's output {out_name!r} contains NaN or infinite numbers.")
    acts = dict(zip(names[1:], results[1:]))
    return Outputs(logits, softmax(logits), acts)
