"""How many bytes of exported models a session, and the whole server, may keep on disk.

A count of models is no bound on disk: one custom network (dense 4096 → 400) exports 18.5 MB, so the
twenty models a session keeps could take 370 MB, and a class of thirty sessions 11 GB of a pod's
ephemeral storage. ``ExportQuota`` bounds the bytes instead: each session's folder, and every session
folder of the server together. ``check_room`` is asked before an export starts (with the network's
parameter bytes, a lower bound of its file) and again with the file's real size before it is written;
a refusal is an ``ExportQuotaError`` whose message a student can act on. Nothing is deleted to make room:
a student's earlier models are theirs until their session folder expires (``session_folders``).
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from core.infer.session_folders import SESSION_TOKEN_RE, sessions_root

SESSION_MB_ENV = "CONVLAB_EXPORT_SESSION_MB"
TOTAL_MB_ENV = "CONVLAB_EXPORT_TOTAL_MB"
DEFAULT_SESSION_MB = 40.0  # two of the largest networks the Train page builds (18.5 MB each)
DEFAULT_TOTAL_MB = 768.0  # of the pod's 1 GiB session-models volume (deploy/kubernetes.yaml): room for temp files
MB = 1024 * 1024


class ExportQuotaError(ValueError):
    """An export that would not fit its session's or the server's disk quota; the message says which."""


def _env_mb(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


def _mb(n: float) -> str:
    return f"{n / MB:.1f} MB"


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files directly in ``folder`` (links are not followed; a missing folder is 0)."""
    total = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
    except OSError:
        return 0
    return total


def server_bytes(root: Path | None = None) -> int:
    """Bytes of every session folder under the sessions root together."""
    root = root or sessions_root()
    total = 0
    try:
        with os.scandir(root) as entries:
            for entry in entries:
                if SESSION_TOKEN_RE.match(entry.name) and entry.is_dir(follow_symlinks=False):
                    total += folder_bytes(Path(entry.path))
    except OSError:
        return 0
    return total


@dataclass(frozen=True)
class ExportQuota:
    """Disk bytes for exported models: per session folder and for all of them on this server."""

    session_bytes: int = int(DEFAULT_SESSION_MB * MB)
    total_bytes: int = int(DEFAULT_TOTAL_MB * MB)

    @classmethod
    def from_env(cls) -> "ExportQuota":
        """``CONVLAB_EXPORT_SESSION_MB`` and ``CONVLAB_EXPORT_TOTAL_MB`` (megabytes > 0); defaults 40 and 768."""
        return cls(int(_env_mb(SESSION_MB_ENV, DEFAULT_SESSION_MB) * MB),
                   int(_env_mb(TOTAL_MB_ENV, DEFAULT_TOTAL_MB) * MB))

    def check_room(self, folder: Path, new_bytes: int, root: Path | None = None) -> None:
        """``ExportQuotaError`` when ``new_bytes`` more in ``folder`` would pass either quota."""
        if new_bytes > self.session_bytes:
            raise ExportQuotaError(
                f"This model would take {_mb(new_bytes)} on disk; a session may keep {_mb(self.session_bytes)} "
                f"of exported models. Export a smaller network (fewer dense units or channels).")
        mine = folder_bytes(folder)
        if mine + new_bytes > self.session_bytes:
            raise ExportQuotaError(
                f"This model would take {_mb(new_bytes)}, and your session's exported models already take "
                f"{_mb(mine)} of the {_mb(self.session_bytes)} a session may keep. Download the ones you "
                f"want to keep and start a new session, or export a smaller network.")
        everyone = server_bytes(root)
        if everyone + new_bytes > self.total_bytes:
            raise ExportQuotaError(
                f"The server's disk for exported models is full ({_mb(everyone)} of {_mb(self.total_bytes)} "
                f"used by the class). Try again later, or ask your teacher; older sessions' models are removed "
                f"after a day.")

    @contextmanager
    def reserve(self, folder: Path, new_bytes: int, lock: Any = None, root: Path | None = None) -> Iterator[None]:
        """``check_room`` and then the caller's write, both under ``lock`` (the server's, shared by every
        session), so two exports at once cannot both be admitted to the same free bytes."""
        with lock if lock is not None else nullcontext():
            self.check_room(folder, new_bytes, root)
            yield
