"""ONNX export (core.train.export): checker, parity with torch, sidecar, atomic writes, names, the panel."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import core.train.export as export
from core.data.mnist import load_test
from core.infer.runtime import SHIPPED_DIR, load_model, run_model
from core.infer.session_folders import session_dir
from core.infer.model_card import REQUIRED, read_card, sha256_file
from core.arch.spec import PRESETS
from core.arch.layer_table import activation_shapes
from core.train.convnet import build_model
from core.infer.plan import plan_of
from core.infer.preprocess import to_model_input
from core.arch.recipes import TrainConfig
from core.train.runner import fit
from core.train.tensors import to_tensor

SPEC = PRESETS["lenet5"]


@pytest.fixture(scope="module")
def trained():
    """A LeNet-5 trained briefly on 600 digits (enough to be a real, non-random network)."""
    return fit(SPEC, TrainConfig(epochs=2, subset=600, val_fraction=0.1, seed=3, lr=3e-3))


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return export.export_model(trained.model, SPEC, export.provenance(trained, "Test LeNet"), folder, "lenet-test")


@pytest.fixture(scope="module")
def graph_bytes(exported) -> bytes:
    return exported.onnx_path.read_bytes()


def test_export_passes_the_full_checker_and_has_the_contract_io(exported) -> None:
    proto = onnx.load(exported.onnx_path)
    onnx.checker.check_model(proto, full_check=True)
    assert not list(exported.onnx_path.parent.glob("*.data"))  # single file: no external data
    sess = ort.InferenceSession(str(exported.onnx_path), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == "image" and inp.shape[1:] == [1, 28, 28] and isinstance(inp.shape[0], str)
    names = [o.name for o in sess.get_outputs()]
    contract = ["logits"] + [f"act_{i}" for i in range(len(activation_shapes(SPEC)))]
    assert names[:len(contract)] == contract
    # then every layer's tensors and parameters (core.train.graph_surgery), exactly as the sidecar lists them
    plan = plan_of(exported.card.extra)
    assert set(names[len(contract):]) == set(plan.tensor_names() + plan.param_names()) - set(contract)
    for batch in (1, 5):  # dynamic batch axis
        outs = sess.run(contract, {"image": np.zeros((batch, 1, 28, 28), np.float32)})
        assert outs[0].shape == (batch, 10)
        for out, shape in zip(outs[1:], activation_shapes(SPEC)):
            assert out.shape == (batch, *shape)


def test_parity_with_torch_on_test_digits(trained, exported) -> None:
    assert exported.parity.ok and exported.parity.max_abs_logits <= 1e-4
    assert exported.parity.digits == export.PARITY_DIGITS
    # Independently of the exporter's own check: other digits, other batch size.
    x = to_tensor(load_test().images[5000:5100], torch.device("cpu"))
    with torch.inference_mode():
        logits, acts = trained.model.eval().forward_with_activations(x)
    model = load_model(exported.onnx_path)
    out = run_model(model, x.numpy(), activations=True)
    np.testing.assert_allclose(out.logits, logits.numpy(), atol=1e-4)
    for i, act in enumerate(acts):
        np.testing.assert_allclose(out.activations[f"act_{i}"], act.numpy(), atol=1e-4)


def test_sidecar_is_complete(trained, exported) -> None:
    raw = json.loads(exported.card_path.read_text())
    assert set(REQUIRED) <= set(raw)
    card = read_card(exported.onnx_path)
    assert card.sha256 == sha256_file(exported.onnx_path)
    assert card.name == "lenet-test" and card.title == "Test LeNet"
    assert card.architecture["layers"] and card.architecture["name"] == "lenet5"
    assert "600" not in card.dataset or "training" in card.dataset
    assert card.test_accuracy == pytest.approx(trained.test.accuracy)
    assert len(card.per_class_accuracy) == 10
    assert card.params == sum(p.numel() for p in trained.model.parameters())
    assert card.input_shape == (1, 28, 28) and card.labels == tuple("0123456789")
    assert card.opset == 20 and card.exporter == "torch.onnx.export(dynamo=True)"
    assert {"torch", "onnx", "onnxruntime", "onnxscript", "numpy", "python"} <= set(card.versions)
    assert datetime.fromisoformat(card.created).tzinfo is not None
    assert card.parity_max_abs_diff == exported.parity.max_abs_logits
    assert [a.shape for a in card.activations] == activation_shapes(SPEC)
    for key in ("optimizer", "lr", "batch_size", "epochs", "seed", "augment", "seconds"):
        assert key in card.training
    assert card.training["seed"] == 3


def test_sidecar_normalisation_is_the_training_normalisation(exported) -> None:
    card = read_card(exported.onnx_path)
    digits = load_test().images[:4]
    ours = to_model_input(digits / 255.0, card.mean, card.std)
    theirs = to_tensor(digits, torch.device("cpu")).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("raw, expected", [
    ("my model", "my-model"), ("../../etc/passwd", "etc-passwd"), ("a/b\\c", "a-b-c"),
    ("lenet5-98.7%", "lenet5-98-7"), ("..x..", "x"), ("é" * 3 + "ok", "ok"), ("x" * 100, "x" * 48),
])
def test_names_are_sanitised(raw: str, expected: str) -> None:
    assert export.sanitize_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "..", "/", "   ", "-_-"])
def test_names_without_letters_are_refused(raw: str) -> None:
    with pytest.raises(export.ExportError):
        export.sanitize_name(raw)


def _fast_export(monkeypatch, graph_bytes: bytes) -> None:
    """Skip re-running the exporter (a few seconds) where the test is about what happens after it."""
    monkeypatch.setattr(export, "onnx_bytes", lambda net, spec, in_shape=None: graph_bytes)


def test_existing_names_are_not_overwritten(trained, graph_bytes, tmp_path, monkeypatch) -> None:
    _fast_export(monkeypatch, graph_bytes)
    prov = export.provenance(trained)
    first = export.export_model(trained.model, SPEC, prov, tmp_path, "net")
    second = export.export_model(trained.model, SPEC, prov, tmp_path, "net")
    assert (first.onnx_path.name, second.onnx_path.name) == ("net.onnx", "net-2.onnx")
    assert read_card(second.onnx_path).name == "net-2"


def test_failure_while_writing_the_sidecar_leaves_no_model(trained, graph_bytes, tmp_path, monkeypatch) -> None:
    _fast_export(monkeypatch, graph_bytes)
    real = export.atomic_write_bytes

    def failing(path: Path, data: bytes) -> None:
        if path.suffix == ".json":
            raise OSError("disk full (simulated)")
        real(path, data)

    monkeypatch.setattr(export, "atomic_write_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        export.export_model(trained.model, SPEC, export.provenance(trained), tmp_path, "net")
    assert list(tmp_path.iterdir()) == []  # neither the ONNX file nor a temp file is left


def test_failure_mid_write_keeps_the_previous_model_intact(trained, graph_bytes, tmp_path, monkeypatch) -> None:
    """Overwriting a model: the new ONNX file is renamed in, then the sidecar's rename fails (simulated
    power cut). The folder must go back to the old, consistent pair, with no temp files."""
    prov = export.provenance(trained)
    real_onnx_bytes = export.onnx_bytes
    _fast_export(monkeypatch, graph_bytes)
    old = export.export_model(trained.model, SPEC, prov, tmp_path, "net")
    old_bytes = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    torch.manual_seed(7)
    other = build_model(SPEC).eval()  # another network: its graph differs from the saved one
    monkeypatch.setattr(export, "onnx_bytes", real_onnx_bytes)
    real_replace = os.replace

    def crash_on_sidecar(src, dst) -> None:
        if str(dst).endswith("net.json"):
            raise OSError("power cut (simulated)")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_sidecar)
    with pytest.raises(OSError, match="power cut"):
        export.export_model(other, SPEC, prov, tmp_path, "net", overwrite=True)
    monkeypatch.setattr(os, "replace", real_replace)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == old_bytes
    assert load_model(old.onnx_path).card.sha256 == sha256_file(old.onnx_path)


def test_parity_failure_writes_nothing(trained, tmp_path, monkeypatch) -> None:
    """If the graph computed something else than the network (simulated: another network's graph), the
    parity check refuses to save it."""
    torch.manual_seed(123)
    impostor = build_model(SPEC).eval()
    real = export.onnx_bytes
    monkeypatch.setattr(export, "onnx_bytes", lambda net, spec, in_shape: real(impostor, spec, in_shape))
    with pytest.raises(export.ExportError, match="disagree"):
        export.export_model(trained.model, SPEC, export.provenance(trained), tmp_path, "net")
    assert list(tmp_path.iterdir()) == []


def test_checker_rejects_garbage() -> None:
    with pytest.raises(export.ExportError, match="onnx.checker"):
        export.check_onnx(b"\x08\x07garbage")


def test_session_exports_never_touch_shipped_models(trained, graph_bytes, tmp_path, monkeypatch) -> None:
    _fast_export(monkeypatch, graph_bytes)
    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(tmp_path))
    before = {p.name: p.stat().st_mtime_ns for p in SHIPPED_DIR.iterdir()}
    token = "f" * 32
    name = "lenet5"  # the same name as a shipped model
    res = export.export_for_session(trained.model, SPEC, export.provenance(trained), token, name)
    assert res.onnx_path.parent == session_dir(token) and res.onnx_path.is_relative_to(tmp_path)
    assert {p.name: p.stat().st_mtime_ns for p in SHIPPED_DIR.iterdir()} == before
    with pytest.raises(export.ExportError, match="never saved over the shipped"):
        export.export_model(trained.model, SPEC, export.provenance(trained), SHIPPED_DIR, "x")


def test_session_folder_keeps_the_newest_models(trained, graph_bytes, tmp_path, monkeypatch) -> None:
    _fast_export(monkeypatch, graph_bytes)
    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(tmp_path))
    monkeypatch.setattr(export, "MAX_SESSION_MODELS", 2)
    prov = export.provenance(trained)
    stems = []
    for i in range(3):
        res = export.export_for_session(trained.model, SPEC, prov, "e" * 32, f"m{i}")
        os.utime(res.onnx_path, ns=(i * 10**9, i * 10**9))  # distinct ages, oldest first
        stems.append(res.onnx_path.stem)
    export.prune_session(session_dir("e" * 32), keep=2)
    assert sorted(p.stem for p in session_dir("e" * 32).glob("*.onnx")) == stems[1:]
    assert sorted(p.stem for p in session_dir("e" * 32).glob("*.json")) == stems[1:]


def test_abandoned_session_folders_are_removed_a_day_later(tmp_path) -> None:
    from core.infer.session_folders import SESSION_MAX_AGE_S, prune_stale_sessions

    now = 2_000_000_000.0

    def folder(name: str, age_s: float, files=("m.onnx", "m.json")) -> Path:
        d = tmp_path / name
        d.mkdir()
        for f in files:
            (d / f).write_bytes(b"x")
            os.utime(d / f, (now - age_s, now - age_s))
        return d

    old = folder("a" * 32, SESSION_MAX_AGE_S + 60)
    fresh = folder("b" * 32, SESSION_MAX_AGE_S - 60)
    not_a_session = folder("keep-me", 10 * SESSION_MAX_AGE_S)
    foreign_file = folder("c" * 32, 10 * SESSION_MAX_AGE_S, files=("m.onnx", "notes.txt"))
    assert prune_stale_sessions(root=tmp_path, now=now) == ["a" * 32]
    assert not old.exists() and (fresh / "m.onnx").exists() and (not_a_session / "m.onnx").exists()
    assert (foreign_file / "notes.txt").exists() and not (foreign_file / "m.onnx").exists()
    assert prune_stale_sessions(root=tmp_path / "missing", now=now) == []


def test_diverged_runs_are_not_exported(trained) -> None:
    class Diverged:
        test = None

    with pytest.raises(export.ExportError, match="diverged"):
        export.provenance(Diverged())


def test_latency_is_measured_for_both_runtimes(trained, graph_bytes) -> None:
    lat = export.latency(trained.model, graph_bytes, repeat=20)
    assert lat.torch_ms > 0 and lat.onnxruntime_ms > 0 and lat.speedup == lat.torch_ms / lat.onnxruntime_ms


def test_export_panel_in_a_running_app(tmp_path, monkeypatch) -> None:
    """The training page's export step: button → files in the session folder, facts and downloads shown."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(tmp_path))
    monkeypatch.setenv("CONVLAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CONVLAB_RETENTION_DAYS", "12")

    def app() -> None:
        import streamlit as st

        from core.arch.spec import PRESETS
        from core.arch.recipes import TrainConfig
        from core.train.runner import fit
        from ui.export_panel import render_export_panel

        if "train.result" not in st.session_state:
            st.session_state["train.result"] = fit(PRESETS["lenet5"], TrainConfig(epochs=1, subset=300, seed=1))
            st.session_state["train.spec"] = PRESETS["lenet5"]
        render_export_panel(st.session_state["train.result"], st.session_state["train.spec"])

    at = AppTest.from_function(app, default_timeout=120).run()
    assert not at.exception
    at.text_input[0].set_value("my first net")  # inside a form: sent with the submit click
    at.button[0].click().run()
    assert not at.exception, at.exception
    token = at.session_state["convlab.session_token"]
    files = sorted(p.name for p in session_dir(token).iterdir())
    assert files == ["my-first-net.json", "my-first-net.onnx"]
    labels = {m.label: m.value for m in at.metric}
    assert labels["ONNX opset"] == "20"
    assert float(labels["Parity max |Δ logits|"]) <= 1e-4
    assert labels["File size"].endswith("KB") and "faster than torch" in at.metric[3].delta
    assert len(at.get("download_button")) == 2
    from core.store import models
    from core.store.config import StoreConfig
    from core.store.store import Store

    kept = Store.open(StoreConfig.from_env())  # the store the panel wrote to: the model is kept there too
    assert [m.name for m in models.list_saved(kept, token)] == ["my-first-net"]
    assert any("for 12 days after you last open ConvLab here" in c.value for c in at.caption), [c.value for c in at.caption] + [w.value for w in at.warning]
    kept.close()


def test_shipped_models_are_what_the_script_makes() -> None:
    """Each shipped sidecar records exactly the script's recipe (architecture, settings, notes), so
    ``python -m scripts.train_shipped_models`` is the documented way to reproduce it."""
    from core.arch.spec import spec_to_dict
    from scripts.train_linear_model import RECIPE as LINEAR
    from scripts.train_ensemble import NAME as ENSEMBLE
    from scripts.train_shipped_models import RECIPES

    recipes = (*RECIPES, LINEAR)
    # The ensemble is made by its own script (tests/test_ensemble.py checks its sidecar).
    assert {r.name for r in recipes} | {ENSEMBLE} == {p.stem for p in SHIPPED_DIR.glob("*.onnx")}
    for recipe in recipes:
        card = read_card(SHIPPED_DIR / f"{recipe.name}.onnx")
        assert card.architecture == spec_to_dict(recipe.spec)
        assert card.title == recipe.title and card.notes == recipe.notes
        cfg = recipe.config
        for key in ("optimizer", "lr", "batch_size", "epochs", "seed", "augment", "val_fraction", "schedule"):
            assert card.training[key] == getattr(cfg, key), key
        assert card.training["stopped_reason"] == "completed"
        assert "5,000" in card.dataset or "5000" in card.dataset.replace(",", "")
        assert card.sha256 == sha256_file(SHIPPED_DIR / f"{recipe.name}.onnx")
