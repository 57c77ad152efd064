"""onnxruntime inference (core.infer.runtime, core.infer.predict): shipped models, refusals, caching, no torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from core.data.mnist import load_test
from core.infer.runtime import (
    MAX_MODEL_BYTES, SHIPPED_DIR, ModelRefused, default_model_path, list_models, load_model, run_model, softmax,
)
from core.infer.session_folders import session_dir
from core.infer.model_card import read_card, sha256_file, sidecar_path
from core.infer.predict import classify
from core.infer.preprocess import Steps, to_model_input

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(SHIPPED_DIR.glob("*.onnx"))


def copy_model(src: Path, folder: Path, stem: str | None = None) -> Path:
    stem = stem or src.stem
    dst = folder / f"{stem}.onnx"
    shutil.copyfile(src, dst)
    shutil.copyfile(sidecar_path(src), sidecar_path(dst))
    return dst


def rewrite_card(onnx_path: Path, **changes) -> None:
    card = json.loads(sidecar_path(onnx_path).read_text())
    card.update(changes)
    sidecar_path(onnx_path).write_text(json.dumps(card))


def test_no_torch_on_the_inference_path() -> None:
    """Importing and using preprocess → inference → predict must never load torch, even indirectly."""
    code = (
        "import sys, numpy as np\n"
        "import core.infer.preprocess, core.infer.runtime, core.infer.predict\n"
        "m = core.infer.runtime.load_model(core.infer.runtime.default_model_path())\n"
        "img = np.zeros((280, 280, 4), np.uint8); img[..., 3] = 255; img[40:240, 130:150, :3] = 255\n"
        "p = core.infer.predict.classify(m, img, activations=True)\n"
        "assert p.digit is not None and p.activations\n"
        "bad = sorted(k for k in sys.modules if k == 'torch' or k.startswith('torch.'))\n"
        "print('TORCH' if bad else 'CLEAN', bad[:3])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("CLEAN"), out.stdout


def test_at_least_two_shipped_models_load() -> None:
    assert len(SHIPPED) >= 2
    for path in SHIPPED:
        model = load_model(path)
        assert model.card.name == path.stem
        assert model.output_names[0] == "logits"
        assert model.size_bytes < 1_000_000  # a few hundred KB each


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_accuracy_matches_the_sidecar(path: Path) -> None:
    """onnxruntime on the official 10k test set reproduces the accuracy the sidecar claims."""
    model = load_model(path)
    test = load_test()
    x = to_model_input(test.images / 255.0, model.card.mean, model.card.std)
    pred = np.concatenate([run_model(model, x[i:i + 2000]).probs.argmax(1) for i in range(0, len(x), 2000)])
    accuracy = float((pred == test.labels).mean())
    assert accuracy == pytest.approx(model.card.test_accuracy, abs=1e-3)


def test_best_shipped_model_reaches_the_target() -> None:
    best = load_model(default_model_path())
    assert best.card.test_accuracy >= 0.985
    assert "augment" in best.card.notes.lower() or best.card.training.get("augment")


def test_preprocessing_keeps_accuracy_on_real_test_digits() -> None:
    """The canvas pipeline run on real test digits loses (almost) nothing against the raw digits."""
    model = load_model(default_model_path())
    test = load_test()
    idx = np.arange(0, len(test), 10)  # 1,000 digits
    preds = [classify(model, test.images[i]).digit for i in idx]
    accuracy = float(np.mean(np.array(preds) == test.labels[idx]))
    assert accuracy >= model.card.test_accuracy - 0.01


def test_activations_match_the_sidecar_shapes() -> None:
    model = load_model(default_model_path())
    x = to_model_input(load_test().images[:3] / 255.0, model.card.mean, model.card.std)
    out = run_model(model, x, activations=True)
    assert [a.name for a in model.card.activations] == list(out.activations)
    for act in model.card.activations:
        assert out.activations[act.name].shape == (3, *act.shape)
        assert out.activations[act.name].min() >= 0  # after ReLU
    np.testing.assert_allclose(out.probs.sum(1), 1.0, rtol=1e-5)


def test_sessions_are_cached_per_file_hash_with_one_thread(tmp_path: Path) -> None:
    a = load_model(SHIPPED[0])
    b = load_model(SHIPPED[0])
    assert a.session is b.session
    assert a.session.get_session_options().intra_op_num_threads == 1
    other = load_model(SHIPPED[1])
    assert other.session is not a.session


def test_refuses_a_file_that_does_not_match_its_sidecar(tmp_path: Path) -> None:
    path = copy_model(SHIPPED[0], tmp_path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelRefused, match="SHA-256 does not match"):
        load_model(path)


def test_refuses_a_corrupt_file_even_with_a_matching_digest(tmp_path: Path) -> None:
    path = copy_model(SHIPPED[0], tmp_path)
    path.write_bytes(path.read_bytes()[:5000])  # truncated protobuf
    rewrite_card(path, sha256=sha256_file(path))
    with pytest.raises(ModelRefused, match="not a valid model"):
        load_model(path)


def test_refuses_a_missing_or_broken_sidecar(tmp_path: Path) -> None:
    path = copy_model(SHIPPED[0], tmp_path)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(ModelRefused, match="not valid JSON"):
        load_model(path)
    sidecar_path(path).unlink()
    with pytest.raises(ModelRefused, match="missing"):
        load_model(path)


def test_refuses_huge_files_before_reading_them(tmp_path: Path) -> None:
    path = copy_model(SHIPPED[0], tmp_path)
    with open(path, "r+b") as fh:
        fh.truncate(MAX_MODEL_BYTES + 1)  # sparse: no 50 MB actually written
    with pytest.raises(ModelRefused, match="over the 50 MB limit"):
        load_model(path)


def _graph_file(tmp_path: Path, input_shape: list, output_name: str = "logits") -> Path:
    """A valid ONNX graph (Identity) with the given input shape, and a sidecar that matches it."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], [output_name])], "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, input_shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    path = tmp_path / "other.onnx"
    onnx.save(model, path)
    shutil.copyfile(sidecar_path(SHIPPED[0]), sidecar_path(path))
    rewrite_card(path, sha256=sha256_file(path), activations=[])
    return path


def test_refuses_a_wrong_input_shape(tmp_path: Path) -> None:
    path = _graph_file(tmp_path, ["N", 3, 32, 32])
    with pytest.raises(ModelRefused, match=r"\(N, 1, 28, 28\)"):
        load_model(path)


def test_refuses_a_graph_without_logits_first(tmp_path: Path) -> None:
    path = _graph_file(tmp_path, ["N", 1, 28, 28], output_name="probabilities")
    with pytest.raises(ModelRefused, match="first graph output must be 'logits'"):
        load_model(path)


def test_refuses_other_file_types_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ModelRefused, match="end in .onnx"):
        load_model(tmp_path / "model.pt")
    with pytest.raises(ModelRefused, match="no such model file"):
        load_model(tmp_path / "nothing.onnx")


def test_list_models_offers_shipped_and_own_session_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(tmp_path / "sessions"))
    mine, theirs = "a" * 32, "b" * 32
    for token, stem in ((mine, "my-net"), (theirs, "their-net")):
        session_dir(token).mkdir(parents=True)
        copy_model(SHIPPED[0], session_dir(token), stem)
    (tmp_path / "elsewhere.onnx").write_bytes(b"x")
    entries = list_models(mine)
    names = [(e.source, e.path.stem) for e in entries]
    assert ("session", "my-net") in names
    assert all(stem != "their-net" for _, stem in names)
    assert {e.path.stem for e in entries if e.source == "shipped"} == {p.stem for p in SHIPPED}
    accs = [e.card.test_accuracy for e in entries if e.source == "shipped"]
    assert accs == sorted(accs, reverse=True)  # best first: the default pick
    assert list_models(None) == [e for e in entries if e.source == "shipped"]


@pytest.mark.parametrize("token", ["", "../../etc", "ABCDEF0123456789", "a" * 8, "a/" * 10])
def test_session_tokens_cannot_escape(token: str) -> None:
    with pytest.raises(ValueError):
        session_dir(token)


def test_list_models_reports_a_broken_sidecar_instead_of_crashing(tmp_path: Path) -> None:
    copy_model(SHIPPED[0], tmp_path)
    broken = copy_model(SHIPPED[1], tmp_path)
    sidecar_path(broken).write_text("[]")
    entries = list_models(shipped_dir=tmp_path)
    bad = [e for e in entries if e.card is None]
    assert len(bad) == 1 and "expected a JSON object" in bad[0].problem
    assert entries[0].card is not None  # usable models come first


def test_softmax_is_stable() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0] + [0.0] * 7])
    p = softmax(logits)
    assert np.isfinite(p).all() and p[0, 0] == pytest.approx(1.0)


def test_classify_skipping_steps_changes_what_the_model_sees() -> None:
    model = load_model(default_model_path())
    img = np.zeros((280, 280, 4), np.uint8)
    img[..., 3] = 255
    img[20:80, 20:28, :3] = 255  # a small "1" in the corner
    full = classify(model, img)
    no_crop = classify(model, img, Steps(crop=False))
    assert full.digit == 1
    assert not np.allclose(full.pre.image, no_crop.pre.image)
    assert full.total_ms > 0 and full.top(3)[0] == (1, pytest.approx(float(full.probs[1])))
    blank = classify(model, np.zeros((280, 280, 4), np.uint8))
    assert blank.digit is None and blank.probs is None and blank.top() == []


def test_card_of_every_shipped_model_is_complete() -> None:
    for path in SHIPPED:
        card = read_card(path)
        assert card.sha256 == sha256_file(path)
        assert card.opset >= 17 and "dynamo" in card.exporter
        assert {"torch", "onnx", "onnxruntime", "numpy", "python"} <= set(card.versions)
        assert bool(card.activations) == any(layer["kind"] == "conv" for layer in card.architecture["layers"])
        assert card.parity_max_abs_diff is not None and card.parity_max_abs_diff <= 1e-4
        assert len(card.per_class_accuracy) == 10 and card.notes
        seeded = card.training.get("seed") is not None or bool(card.training.get("seeds"))  # one net / an ensemble
        assert seeded and card.training["epochs"] >= 1
        assert {"digits", "raw", "drawn"} <= set(card.robustness)  # scripts/evaluate_robustness.py --write
        assert all(0.0 <= a <= card.robustness["drawn"]["clean"] + 0.01 for a in card.robustness["drawn"].values())


# ---------------------------------------------------------------------------------------------
# Hostile sidecars and models are refused per file


def _in_thread(fn, timeout: float = 20.0):
    """Run ``fn`` in a daemon thread: a reader that blocks (e.g. on a named pipe) fails the test
    instead of hanging it."""
    import threading

    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still blocked after {timeout} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


HOSTILE_SIDECARS = {
    "deep_valid": "[" * 100_000 + "]" * 100_000,  # valid JSON, deeper than Python's recursion limit
    "deep_in_a_field": None,  # filled below: a real card whose architecture nests 200 deep
    "huge": None,  # a real card padded to 2 MB of notes
    "nan_constant": None,  # a real card with "test_accuracy": NaN
    "huge_integer": None,  # a real card with a 5,000-digit integer
}


def _hostile_sidecar(kind: str) -> str:
    card = json.loads(sidecar_path(SHIPPED[0]).read_text())
    if kind == "deep_in_a_field":
        card["architecture"] = json.loads("[" * 200 + "]" * 200)
        return json.dumps(card)
    if kind == "huge":
        card["notes"] = "x" * 2_000_000
        return json.dumps(card)
    if kind == "nan_constant":
        return json.dumps(card).replace(f'"test_accuracy": {json.dumps(card["test_accuracy"])}', '"test_accuracy": NaN')
    if kind == "huge_integer":
        return json.dumps(card).replace(f'"params": {card["params"]}', '"params": ' + "9" * 5000)
    return HOSTILE_SIDECARS[kind]


@pytest.mark.parametrize("kind", list(HOSTILE_SIDECARS))
def test_hostile_sidecars_are_refused_and_never_break_the_list(tmp_path: Path, kind: str) -> None:
    good = copy_model(SHIPPED[0], tmp_path, "good")
    bad = copy_model(SHIPPED[0], tmp_path, "bad")
    text = _hostile_sidecar(kind)
    if kind == "nan_constant":
        assert "NaN" in text
    sidecar_path(bad).write_text(text)
    entries = list_models(shipped_dir=tmp_path)
    by_stem = {e.path.stem: e for e in entries}
    assert by_stem["good"].card is not None
    assert by_stem["bad"].card is None and "bad.json" in by_stem["bad"].problem
    with pytest.raises(ModelRefused, match="bad.json"):
        load_model(bad)
    assert load_model(good).card.name == SHIPPED[0].stem


@pytest.mark.parametrize("kind", ["fifo", "device_link", "loop", "folder"])
def test_sidecars_that_are_not_files_are_refused_without_waiting(tmp_path: Path, kind: str) -> None:
    import os

    bad = copy_model(SHIPPED[0], tmp_path, "bad")
    side = sidecar_path(bad)
    side.unlink()
    if kind == "fifo":
        os.mkfifo(side)
    elif kind == "device_link":
        side.symlink_to("/dev/zero")
    elif kind == "loop":
        side.symlink_to(side)
    else:
        side.mkdir()
    entries = _in_thread(lambda: list_models(shipped_dir=tmp_path))
    assert entries[0].card is None and "bad.json" in entries[0].problem
    with pytest.raises(ModelRefused, match="pipe|device|loops|folder"):
        _in_thread(lambda: load_model(bad))


def test_a_model_that_is_a_pipe_is_refused_without_waiting(tmp_path: Path) -> None:
    import os

    path = tmp_path / "pipe.onnx"
    os.mkfifo(path)
    shutil.copyfile(sidecar_path(SHIPPED[0]), sidecar_path(path))
    with pytest.raises(ModelRefused, match="named pipe"):
        _in_thread(lambda: load_model(path))


@pytest.mark.parametrize("std", [1e-39, 1e-300])
def test_normalisation_that_overflows_float32_is_refused(tmp_path: Path, std: float) -> None:
    path = copy_model(SHIPPED[0], tmp_path)
    rewrite_card(path, std=std)
    with pytest.raises(ModelRefused, match="normalisation"):
        load_model(path)


def test_models_with_wrong_outputs_are_refused_when_loaded(tmp_path: Path) -> None:
    from tests import hostile_models

    with pytest.raises(ModelRefused, match="5 scores per image but its sidecar lists 10 labels"):
        load_model(hostile_models.wrong_class_count(tmp_path))
    with pytest.raises(ModelRefused, match="NaN or infinite"):
        load_model(hostile_models.nan_always(tmp_path))


def test_models_failing_on_a_real_digit_raise_a_reason_not_a_traceback(tmp_path: Path) -> None:
    from tests import hostile_models

    digit = load_test().images[0]
    nan = load_model(hostile_models.nan_on_digits(tmp_path))  # passes the smoke test...
    with pytest.raises(ModelRefused, match="nan_on_digits.onnx: the model's output 'logits' contains NaN"):
        classify(nan, digit)  # ...but not a digit
    failing = load_model(hostile_models.fails_on_digits(tmp_path))
    with pytest.raises(ModelRefused, match="fails_on_digits.onnx: onnxruntime failed while running it"):
        classify(failing, digit)
