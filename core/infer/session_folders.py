"""Where models trained in a hosted session live, and the cleanup of abandoned session folders.

Layout: ``<root>/<token>/NAME.onnx`` + ``NAME.json``, where ``root`` is ``$CONVLAB_SESSION_MODELS`` or
``<tmp>/convlab-session-models`` and ``token`` is a browser session's random hex string.

What a host can rely on:

* the root is created private (0700) and is used only if it is a real folder (not a symbolic link)
  owned by the user the server runs as; otherwise saving is refused with a reason and no model is
  listed from it (in a shared ``/tmp`` another user could have created it first);
* a session folder is likewise a real, private folder of ours;
* the cleanup never follows a symbolic link and never deletes outside the root: it works through
  directory file descriptors opened with ``O_NOFOLLOW`` (a folder swapped for a link between two
  steps is not entered), and deletes only regular ``.onnx``/``.json``/``.tmp`` files inside
  token-named folders, then the emptied folders themselves.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from pathlib import Path

SESSION_TOKEN_RE = re.compile(r"^[0-9a-f]{16,64}$")
SESSION_MAX_AGE_S = 24 * 3600  # a session folder nobody has written to for this long is removed
PRUNED_SUFFIXES = (".onnx", ".json", ".tmp")
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
# Without directory file descriptors (Windows) the cleanup cannot be made race-free: it is skipped.
_CAN_PRUNE = {os.open, os.unlink, os.rmdir, os.stat} <= os.supports_dir_fd and hasattr(os, "O_NOFOLLOW")


class SessionFolderError(ValueError):
    """The session-models folder is not safe to use; the message says why and what to do."""


def sessions_root() -> Path:
    """Where models trained in hosted sessions live: a temp folder, never ``exported_models/``."""
    env = os.environ.get("CONVLAB_SESSION_MODELS")
    return Path(env) if env else Path(tempfile.gettempdir()) / "convlab-session-models"


def session_dir(token: str) -> Path:
    """The folder of one browser session's own models (``token`` is a random hex string). Not created."""
    if not SESSION_TOKEN_RE.match(token or ""):
        raise ValueError("A session token must be 16 to 64 lowercase hex characters.")
    return sessions_root() / token


def _uid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def folder_problem(path: Path) -> str:
    """"" when ``path`` is a real folder (not a link) owned by this user; else why it must not be used."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"{path} cannot be inspected ({exc.strerror or exc})"
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link; ConvLab only uses a real folder there"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a folder"
    uid = _uid()
    if uid is not None and st.st_uid != uid:
        return f"{path} belongs to another user (uid {st.st_uid}), not to the server's user (uid {uid})"
    return ""


def _make_private(path: Path) -> Path:
    """Create ``path`` as a 0700 folder (or accept ours, tightening it to 0700); refuse anything else."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise SessionFolderError(f"Cannot create {path} ({exc.strerror or exc}).") from exc
    problem = folder_problem(path)
    if problem:
        raise SessionFolderError(f"Models are not saved: {problem}. Remove it or set CONVLAB_SESSION_MODELS "
                                 f"to a folder of the server's own user.")
    if os.lstat(path).st_mode & 0o077:
        os.chmod(path, 0o700)  # ours, and checked not to be a link just above
    return path


def ensure_sessions_root() -> Path:
    """The root, created private if missing (its parents with default permissions)."""
    root = sessions_root()
    root.parent.mkdir(parents=True, exist_ok=True)
    return _make_private(root)


def ensure_session_dir(token: str) -> Path:
    """A session's folder, created private inside a checked root: where an export may write."""
    folder = session_dir(token)
    ensure_sessions_root()
    return _make_private(folder)


def usable_session_dir(token: str) -> Path | None:
    """A session's folder for reading, or None when it or its root is missing or not safely ours."""
    folder = session_dir(token)
    if folder_problem(folder.parent) or folder_problem(folder):
        return None
    return folder


def _newest_mtime(fd: int) -> float:
    """Newest modification time of the entries in an open folder (links not followed); its own if empty."""
    times = []
    with os.scandir(fd) as entries:
        for entry in entries:
            try:
                times.append(entry.stat(follow_symlinks=False).st_mtime)
            except OSError:
                continue
    return max(times, default=os.fstat(fd).st_mtime)


def _prune_folder(root_fd: int, name: str, cutoff: float) -> bool:
    """Empty and remove ``root/name`` if nothing in it is newer than ``cutoff``; True if removed."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=root_fd)  # fails on a link: never entered
    except OSError:
        return False
    try:
        uid = _uid()
        if (uid is not None and os.fstat(fd).st_uid != uid) or _newest_mtime(fd) > cutoff:
            return False
        with os.scandir(fd) as entries:
            doomed = [e.name for e in entries if e.name.endswith(PRUNED_SUFFIXES) and e.is_file(follow_symlinks=False)]
        for file_name in doomed:
            try:
                os.unlink(file_name, dir_fd=fd)  # unlink never follows a link, and this fd is inside root
            except FileNotFoundError:
                pass
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=root_fd)  # fails if anything else is left in it: then the folder stays
    except OSError:
        return False
    return True


def prune_stale_sessions(max_age_s: float = SESSION_MAX_AGE_S, root: Path | None = None,
                         now: float | None = None) -> list[str]:
    """Remove the session folders whose newest file is older than ``max_age_s``; returns their tokens.

    Streamlit tells nobody when a browser session ends, so a folder is deemed abandoned by age. Only a
    root that is ours (``folder_problem``) is touched; in it only token-named real folders, and in
    those only regular model files, sidecars and temp files.
    """
    root = root or sessions_root()
    if not _CAN_PRUNE or folder_problem(root):
        return []
    cutoff = (time.time() if now is None else now) - max_age_s
    try:
        root_fd = os.open(root, _DIR_FLAGS)
    except OSError:
        return []
    removed = []
    try:
        with os.scandir(root_fd) as entries:
            names = sorted(e.name for e in entries
                           if SESSION_TOKEN_RE.match(e.name) and e.is_dir(follow_symlinks=False))
        removed = [name for name in names if _prune_folder(root_fd, name, cutoff)]
    finally:
        os.close(root_fd)
    return removed
