"""Exported models are bounded in bytes, per session and for the whole server, not only in number.

A session's folder and the other sessions' folders are filled with files of a chosen size (sparse, so
the test costs no disk), then a real LeNet-5 export is asked for: it must be refused in words before
anything is written when it would pass either quota, and written when it fits.
"""

from __future__ import annotations

import threading

import pytest

import core.train.export as export
from core.infer.export_quota import MB, ExportQuota, server_bytes
from core.infer.session_folders import session_dir
from tests.test_export import SPEC, _fast_export, exported, graph_bytes, trained  # noqa: F401 (fixtures)

MINE, OTHER = "a1" * 16, "b2" * 16


def filler(token: str, name: str, size: int) -> None:
    folder = session_dir(token)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(folder / name, "wb") as fh:
        fh.truncate(size)


def listing(token: str) -> list[str]:
    return sorted(p.name for p in session_dir(token).iterdir())


@pytest.fixture
def sessions(tmp_path, monkeypatch, trained, graph_bytes):  # noqa: F811
    _fast_export(monkeypatch, graph_bytes)
    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(tmp_path))
    return trained


def test_a_session_over_its_bytes_is_refused_and_nothing_is_written(sessions, graph_bytes, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CONVLAB_EXPORT_SESSION_MB", "1")
    weights = 4 * sum(p.numel() for p in sessions.model.parameters())
    filler(MINE, "old.onnx", MB - len(graph_bytes) // 2)  # room for half of this model
    before = listing(MINE)
    with pytest.raises(export.ExportError, match=r"already take 0\.9 MB of the 1\.0 MB a session may keep"):
        export.export_for_session(sessions.model, SPEC, export.provenance(sessions), MINE, "next")
    assert listing(MINE) == before
    # room for the weights but not for the file (graph and sidecar): refused after the export, before writing
    filler(MINE, "old.onnx", MB - weights - 100)
    with pytest.raises(export.ExportError, match=r"would take 0\.[2-9] MB, and your session's exported models"):
        export.export_for_session(sessions.model, SPEC, export.provenance(sessions), MINE, "next")
    assert listing(MINE) == before


def test_a_model_larger_than_a_sessions_quota_is_refused_before_the_export(sessions, monkeypatch):
    monkeypatch.setenv("CONVLAB_EXPORT_SESSION_MB", "0.1")  # LeNet-5's 61,706 weights are 241 KB
    monkeypatch.setattr(export, "onnx_bytes", lambda *a, **k: pytest.fail("the export ran"))
    with pytest.raises(export.ExportError, match=r"would take 0\.2 MB on disk; a session may keep 0\.1 MB"):
        export.export_for_session(sessions.model, SPEC, export.provenance(sessions), MINE, "big")


def test_the_servers_total_counts_every_session(sessions, graph_bytes, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CONVLAB_EXPORT_TOTAL_MB", "2")
    filler(OTHER, "theirs.onnx", 2 * MB - len(graph_bytes) // 2)
    with pytest.raises(export.ExportError, match="disk for exported models is full"):
        export.export_for_session(sessions.model, SPEC, export.provenance(sessions), MINE, "mine")
    assert not list(session_dir(MINE).glob("*.onnx"))
    monkeypatch.setenv("CONVLAB_EXPORT_TOTAL_MB", "3")
    res = export.export_for_session(sessions.model, SPEC, export.provenance(sessions), MINE, "mine")
    assert res.onnx_path.stat().st_size == len(graph_bytes)
    assert server_bytes() == 2 * MB - len(graph_bytes) // 2 + len(graph_bytes) + res.card_path.stat().st_size


def test_quota_settings_come_from_the_environment(monkeypatch):
    assert ExportQuota() == ExportQuota(40 * MB, 768 * MB)
    monkeypatch.setenv("CONVLAB_EXPORT_SESSION_MB", "10")
    monkeypatch.setenv("CONVLAB_EXPORT_TOTAL_MB", "nonsense")
    assert ExportQuota.from_env() == ExportQuota(10 * MB, 768 * MB)
    monkeypatch.setenv("CONVLAB_EXPORT_SESSION_MB", "-5")
    assert ExportQuota.from_env().session_bytes == 40 * MB


class SpyLock:
    """A lock that tells when each acquisition is asked for (the second one then blocks on the first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.asked = [threading.Event(), threading.Event()]
        self._count = 0

    def __enter__(self):
        self.asked[min(self._count, 1)].set()
        self._count += 1
        self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()


def test_two_exports_at_once_cannot_share_the_last_free_bytes(sessions, graph_bytes, monkeypatch):  # noqa: F811
    """Room for one more model on the server; two students export at the same moment: the second's check
    waits for the first's write, sees it, and is refused; only one model is written."""
    monkeypatch.setenv("CONVLAB_EXPORT_TOTAL_MB", "1")
    filler(OTHER, "theirs.onnx", MB - len(graph_bytes) - 20_000)  # one model and its sidecar fit, not two
    lock, outcomes = SpyLock(), {}
    real_write = export.write_model

    def export_as(token: str) -> None:
        try:
            export.export_for_session(sessions.model, SPEC, export.provenance(sessions), token, "m", lock=lock)
            outcomes[token] = "written"
        except export.ExportError as exc:
            outcomes[token] = str(exc)

    second = threading.Thread(target=export_as, args=("c3" * 16,))

    def slow_write(*args, **kwargs):
        if not second.is_alive() and "c3" * 16 not in outcomes:  # the first write: start the rival now
            second.start()
            assert lock.asked[1].wait(30), "the second export never reached the quota check"
        return real_write(*args, **kwargs)

    monkeypatch.setattr(export, "write_model", slow_write)
    export_as(MINE)
    second.join(30)
    assert outcomes[MINE] == "written", outcomes
    assert "disk for exported models is full" in outcomes["c3" * 16], outcomes
    assert not list(session_dir("c3" * 16).glob("*.onnx"))
