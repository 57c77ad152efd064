"""Session folders: private root, no symlink ever followed, nothing deleted outside.

Every test builds real symbolic links pointing outside the root, at files the cleanup must not touch.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from core.infer.runtime import list_models
from core.infer.session_folders import (
    SESSION_MAX_AGE_S, SessionFolderError, ensure_session_dir, prune_stale_sessions, sessions_root,
)
from tests.hostile_models import copy_shipped

NOW = 2_000_000_000.0
OLD = NOW - 10 * SESSION_MAX_AGE_S
TOKEN, OTHER = "a" * 32, "b" * 32


def aged(path: Path, when: float = OLD) -> Path:
    os.utime(path, (when, when), follow_symlinks=False)
    return path


def files(folder: Path, names=("m.onnx", "m.json"), when: float = OLD) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for name in names:
        (folder / name).write_bytes(b"x")
        made.append(aged(folder / name, when))
    return made


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "sessions"
    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(folder))
    return folder


@pytest.fixture
def outside(tmp_path) -> Path:
    """Someone's own models, outside the root, as old as an abandoned session."""
    folder = tmp_path / "precious"
    files(folder, ("keep.onnx", "keep.json", "notes.txt"))
    return folder


def test_a_token_named_link_to_an_outside_folder_is_never_followed(root, outside):
    files(root / TOKEN)
    (root / OTHER).symlink_to(outside, target_is_directory=True)
    assert prune_stale_sessions(root=root, now=NOW) == [TOKEN]
    assert sorted(p.name for p in outside.iterdir()) == ["keep.json", "keep.onnx", "notes.txt"]
    assert not (root / TOKEN).exists()


def test_links_inside_a_session_folder_are_not_followed(root, outside):
    folder = root / TOKEN
    files(folder)
    (folder / "link.onnx").symlink_to(outside / "keep.onnx")
    (folder / "dir.json").symlink_to(outside, target_is_directory=True)
    prune_stale_sessions(root=root, now=NOW)
    assert (outside / "keep.onnx").read_bytes() == b"x" and (outside / "keep.json").exists()
    assert not (folder / "m.onnx").exists()  # its own regular files go
    assert (folder / "link.onnx").is_symlink()  # links are neither followed nor removed: the folder stays


def test_a_fresh_link_target_does_not_keep_an_old_folder_alive(root, tmp_path):
    """Ages come from the folder's own entries (lstat), never from what a link points at."""
    fresh = tmp_path / "fresh.onnx"
    fresh.write_bytes(b"x")
    aged(fresh, NOW)
    folder = root / TOKEN
    files(folder)
    (folder / "z.tmp").symlink_to(fresh)
    aged(folder / "z.tmp")
    assert prune_stale_sessions(root=root, now=NOW) == []  # the link keeps the folder (not deletable)
    assert not (folder / "m.onnx").exists() and fresh.exists()


def test_a_root_that_is_a_link_is_not_cleaned(tmp_path, outside):
    real = tmp_path / "real"
    files(real / TOKEN)
    link = tmp_path / "root-link"
    link.symlink_to(real, target_is_directory=True)
    assert prune_stale_sessions(root=link, now=NOW) == []
    assert (real / TOKEN / "m.onnx").exists()


def test_only_token_named_folders_and_model_files_are_removed(root):
    files(root / TOKEN, ("m.onnx", "m.json", "x.tmp"))
    files(root / OTHER, ("m.onnx", "notes.txt"))
    files(root / "keep-me")
    fresh = root / ("c" * 32)
    files(fresh, when=NOW - 60)
    assert prune_stale_sessions(root=root, now=NOW) == [TOKEN]
    assert (root / OTHER / "notes.txt").exists() and not (root / OTHER / "m.onnx").exists()
    assert (root / "keep-me" / "m.onnx").exists() and (fresh / "m.onnx").exists()


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_root_and_session_folders_are_created_private(root):
    old_umask = os.umask(0o022)
    try:
        folder = ensure_session_dir(TOKEN)
    finally:
        os.umask(old_umask)
    assert folder == root / TOKEN and sessions_root() == root
    assert mode(root) == 0o700 and mode(folder) == 0o700


def test_a_loose_root_of_ours_is_tightened(root):
    root.mkdir(mode=0o777)
    os.chmod(root, 0o777)
    ensure_session_dir(TOKEN)
    assert mode(root) == 0o700


def test_a_root_that_is_a_link_is_refused(root, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    root.symlink_to(target, target_is_directory=True)
    with pytest.raises(SessionFolderError, match="symbolic link"):
        ensure_session_dir(TOKEN)
    assert list(target.iterdir()) == []


def test_a_session_folder_that_is_a_link_is_refused(root, outside):
    root.mkdir(mode=0o700)
    (root / TOKEN).symlink_to(outside, target_is_directory=True)
    with pytest.raises(SessionFolderError, match="symbolic link"):
        ensure_session_dir(TOKEN)
    assert list_models(TOKEN) == list_models(None)  # nothing is listed from behind the link


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_root_owned_by_another_user_is_refused_and_left_alone(root):
    files(root / TOKEN)
    copy_shipped(root / TOKEN, "planted")  # a model another user put where ours would be
    os.chown(root, 12345, 12345)
    with pytest.raises(SessionFolderError, match="another user"):
        ensure_session_dir(TOKEN)
    assert all(e.source == "shipped" for e in list_models(TOKEN))
    assert prune_stale_sessions(root=root, now=NOW) == []
    assert (root / TOKEN / "m.onnx").exists()


def test_an_own_session_model_is_listed_from_a_private_folder(root):
    copy_shipped(ensure_session_dir(TOKEN), "mine")
    assert [e.path.stem for e in list_models(TOKEN) if e.source == "session"] == ["mine"]
