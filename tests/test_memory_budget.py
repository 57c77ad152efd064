"""One memory budget for the server: its limit, its admissions, and the work that asks it first.

The limit is read from a fake cgroup folder or the CONVLAB_MEMORY_MB setting; admissions are checked
with threads that hold and give back memory (waiting on the budget's own condition, never on sleeps);
then each kind of work (decoding an upload, converting a dataset, loading a model, training on the
page) is run against a budget too small or too busy for it and must be refused in words, before it
starts, with nothing half-done left behind.
"""

from __future__ import annotations

import io
import shutil
import threading
import time

import pytest
from PIL import Image

from core.arch.budget import MB, BudgetSettings, MemoryBudget, MemoryRefused, cgroup_limit
from core.infer import uploads


def budget(capacity_mb: float, wait_s: float = 0.0) -> MemoryBudget:
    return MemoryBudget(BudgetSettings(int((capacity_mb + 512) * MB), 512 * MB, wait_s))


def test_cgroup_limits_v2_v1_and_none(tmp_path):
    (tmp_path / "memory.max").write_text("2147483648\n")
    assert cgroup_limit(tmp_path) == 2 * 1024 * MB
    (tmp_path / "memory.max").write_text("max\n")
    assert cgroup_limit(tmp_path) is None
    (tmp_path / "memory.max").unlink()
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(str(2**63 - 4096))  # v1's "no limit"
    assert cgroup_limit(tmp_path) is None
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(str(768 * MB))
    assert cgroup_limit(tmp_path) == 768 * MB
    assert cgroup_limit(tmp_path / "absent") is None


def test_settings_prefer_the_setting_then_the_cgroup(tmp_path, monkeypatch):
    (tmp_path / "memory.max").write_text(str(2048 * MB))
    monkeypatch.delenv("CONVLAB_MEMORY_MB", raising=False)
    from_cgroup = BudgetSettings.from_env(tmp_path)
    assert (from_cgroup.limit_bytes, from_cgroup.source, from_cgroup.capacity_bytes) == (2048 * MB, "cgroup", 1536 * MB)
    monkeypatch.setenv("CONVLAB_MEMORY_MB", "1024")
    monkeypatch.setenv("CONVLAB_MEMORY_MARGIN_MB", "256")
    monkeypatch.setenv("CONVLAB_MEMORY_WAIT_S", "oops")
    s = BudgetSettings.from_env(tmp_path)
    assert (s.limit_bytes, s.margin_bytes, s.wait_s, s.capacity_bytes) == (1024 * MB, 256 * MB, 3.0, 768 * MB)
    monkeypatch.delenv("CONVLAB_MEMORY_MB")
    assert BudgetSettings.from_env(tmp_path / "none").source == "machine"


def test_work_larger_than_the_budget_is_refused_at_once():
    b = budget(100)
    with pytest.raises(MemoryRefused, match=r"^Training this network would need about 200 MB .* 100 MB for all"):
        with b.admit("training this network", 200 * MB, wait_s=30):
            pytest.fail("admitted")
    assert b.in_use == 0


def test_a_busy_budget_waits_then_refuses_in_words():
    b = budget(100)
    with b.admit("one student's training", 80 * MB):
        start = time.monotonic()
        with pytest.raises(MemoryRefused, match=r"server is busy: decoding this picture needs about 30 MB .* holds 80 MB"):
            with b.admit("decoding this picture", 30 * MB, wait_s=0.3):
                pytest.fail("admitted")
        assert time.monotonic() - start >= 0.3
        with b.admit("a small one", 20 * MB):
            assert b.in_use == 100 * MB
    assert b.in_use == 0


def test_a_waiting_request_is_admitted_when_memory_is_given_back():
    b = budget(100)
    holding, admitted, release = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with b.admit("first", 80 * MB):
            holding.set()
            release.wait(30)

    def second() -> None:
        with b.admit("second", 50 * MB, wait_s=30):
            admitted.set()

    first = threading.Thread(target=hold)
    first.start()
    assert holding.wait(30)
    other = threading.Thread(target=second)
    other.start()
    assert not admitted.is_set()  # 80 + 50 > 100: it cannot have been admitted while the first holds
    release.set()
    assert admitted.wait(30), "the waiting request was not woken when the memory came back"
    first.join(30)
    other.join(30)
    assert b.in_use == 0


def test_an_upload_is_admitted_against_the_budget():
    buf = io.BytesIO()
    Image.new("RGB", (3000, 3000), "white").save(buf, "PNG")
    raw = buf.getvalue()
    assert uploads.decode_upload(raw, budget=budget(100)).pixels.shape == (256, 256)  # 36 MB: fits
    with pytest.raises(uploads.ImageError, match="Decoding this picture would need about 34 MB"):
        uploads.decode_upload(raw, budget=budget(20))
    b = budget(40)
    with b.admit("another upload", 30 * MB):
        with pytest.raises(uploads.ImageError, match="server is busy: decoding this picture"):
            uploads.decode_upload(raw, budget=b)


def test_loading_a_model_is_admitted_against_the_budget(tmp_path):
    from core.infer.model_card import sidecar_path
    from core.infer.runtime import SHIPPED_DIR, ModelRefused, load_model

    dst = tmp_path / "m.onnx"
    shutil.copyfile(SHIPPED_DIR / "lenet5.onnx", dst)
    shutil.copyfile(SHIPPED_DIR / "lenet5.json", sidecar_path(dst))
    with pytest.raises(ModelRefused, match="m.onnx: Loading this model would need about"):
        load_model(dst, budget=budget(0.1))


def test_a_dataset_conversion_is_admitted_against_the_budget(tmp_path):
    from benchmarks.fake_datasets import cifar_members, local_server, remote_for, tar_gz
    from core.data import registry as datasets
    from core.errors import DataError

    files = {"cifar-10-python.tar.gz": tar_gz(cifar_members(4))}
    www = tmp_path / "www"
    www.mkdir()
    (www / "cifar-10-python.tar.gz").write_bytes(files["cifar-10-python.tar.gz"])
    with local_server(www) as url:
        remote = remote_for(url, files, batch_rows=4)
        small = MemoryBudget(BudgetSettings(512 * MB + 1000, 512 * MB, 0.0))  # 1,000 bytes: under one 4-row batch
        with pytest.raises(DataError, match="Converting CIFAR-10 would need about"):
            datasets.download("cifar10", tmp_path / "cache", remote=remote, budget=small)
        assert not datasets.is_cached("cifar10", tmp_path / "cache")
        assert not [p for p in (tmp_path / "cache" / "cifar-10").iterdir()]
        datasets.download("cifar10", tmp_path / "cache", remote=remote, budget=budget(100))
    assert datasets.is_cached("cifar10", tmp_path / "cache")


def test_training_waits_for_memory_then_says_the_server_is_busy():
    """Another student's work holds the whole budget: pressing Train explains instead of training."""
    from tests.test_train_page import open_page, train_button
    from ui.server_resources import memory_budget

    shared = memory_budget()
    at = open_page({"arch": "linear", "ep": "1"})
    with shared.admit("another student's work", shared.settings.capacity_bytes):
        train_button(at).click().run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "server is busy: training this network needs about" in warnings, warnings
    assert "train.result" not in at.session_state and "train.run" not in at.session_state
    assert shared.in_use == 0


def test_inference_bytes_from_the_architecture():
    import json

    from core.infer.plan_check import ARENA_FACTOR, inference_bytes
    from core.infer.runtime import SHIPPED_DIR

    lenet = json.loads((SHIPPED_DIR / "lenet5.json").read_text())["architecture"]
    # LeNet-5's widest layer is pool1: 6×28×28 in, 6×14×14 out; 785 images (the digit and 784 covered copies)
    assert inference_bytes(lenet, (1, 28, 28), 785) == int(4 * 785 * (784 + ARENA_FACTOR * (6 * 28 * 28 + 6 * 14 * 14)))
    bncnn = json.loads((SHIPPED_DIR / "bncnn.json").read_text())["architecture"]
    # batch norm is folded into the conv in the graph: the widest tensors are pool1's, not the norm's
    assert inference_bytes(bncnn, (1, 28, 28), 1) == int(4 * (784 + ARENA_FACTOR * (16 * 28 * 28 + 16 * 14 * 14)))
    assert inference_bytes({"layers": "nonsense"}, (1, 28, 28), 10) == int(4 * 10 * (784 + ARENA_FACTOR * 64 * 784))


def test_the_occlusion_map_waits_for_memory_then_explains():
    """Inference on a whole batch of covered digits is admitted against the budget; refused, the page says
    so and its other sections still work."""
    from tests.apptest_checks import assert_clean, open_clean
    from ui.server_resources import memory_budget

    shared = memory_budget()
    at = open_clean("pages/network.py")  # the model is loaded (and cached) while there is room
    assert not at.warning
    with shared.admit("another student's work", shared.settings.capacity_bytes):
        at.run()
    assert_clean(at, "occlusion refused")
    warnings = " ".join(w.value for w in at.warning).replace("\\", "")  # shown literally: Markdown escaped
    assert "server is busy: this occlusion map needs about" in warnings, warnings
    assert any("Which pixels mattered" in s.value for s in at.subheader)
    assert any("The whole network" in s.value for s in at.subheader)  # the layers were shown all the same
    assert shared.in_use == 0
