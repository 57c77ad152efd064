"""One downloader for every optional dataset: mirrors in turn, bounded size, published MD5, atomic.

A file is streamed into a temporary file next to its final place while its MD5 is computed; only when
the digest matches the published one and the caller's ``validate`` accepts the file is it renamed into
the cache. So a broken, truncated or tampered download never leaves a file that looks valid, and a
reader never sees half a file. Nothing here runs unless a student presses a download button.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from core.errors import DataError

CHUNK = 1 << 16
Progress = Callable[[str, int, int], object]  # (file name, bytes so far, bytes in all or 0 if unknown)


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as its publisher lists it."""

    name: str  # the name on every mirror and in the cache
    md5: str  # the published digest (hex)
    max_bytes: int  # refuse anything larger: a wrong or hostile server cannot fill the disk


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_verified(path: Path, file: RemoteFile) -> bool:
    return path.is_file() and path.stat().st_size <= file.max_bytes and md5_of(path) == file.md5


def fetch_all(
    files: Iterable[RemoteFile],
    folder: Path,
    mirrors: Iterable[str],
    *,
    timeout: float = 5.0,
    progress: Progress | None = None,
    validate: Callable[[Path, str], None] | None = None,
) -> Path:
    """Download every file into ``folder`` (skipping ones already there and verified); returns ``folder``.

    ``validate(temp_path, name)`` may raise ``DataError`` to reject a file whose digest matched but whose
    content does not parse (only possible with a wrong checksum table, but cheap to check).
    """
    mirrors = tuple(mirrors)
    for file in files:
        target = folder / file.name
        if not is_verified(target, file):
            fetch_one(file, target, mirrors, timeout=timeout, progress=progress, validate=validate)
    return folder


def fetch_one(
    file: RemoteFile,
    target: Path,
    mirrors: tuple[str, ...],
    *,
    timeout: float = 5.0,
    progress: Progress | None = None,
    validate: Callable[[Path, str], None] | None = None,
) -> Path:
    """Try each mirror until one gives a file with the right digest; raise ``DataError`` naming them all."""
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + file.name
        try:
            _download_to(url, file, target, timeout, progress, validate)
            return target
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, TimeoutError, OSError,
                ValueError, DataError) as exc:  # HTTPException: e.g. the server closed mid-file
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
    raise DataError(
        f"Could not download {file.name} (no internet, or every mirror failed). ConvLab keeps working "
        "with the 5,000 shipped digits. Details: " + "; ".join(failures)
    )


def _download_to(url: str, file: RemoteFile, target: Path, timeout: float, progress: Progress | None,
                 validate: Callable[[Path, str], None] | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            got = _stream(url, file, out, timeout, progress)
        if got != file.md5:
            raise ValueError(f"checksum mismatch (got {got}, expected {file.md5})")
        if validate is not None:
            validate(tmp, file.name)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cached files are world-readable like shipped ones
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _stream(url: str, file: RemoteFile, out, timeout: float, progress: Progress | None) -> str:
    """Copy the response into ``out`` chunk by chunk, never past ``file.max_bytes``; returns the MD5."""
    digest = hashlib.md5(usedforsecurity=False)
    request = urllib.request.Request(url, headers={"User-Agent": "ConvLab/1.0"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (fixed mirrors or tests)
        total = int(resp.headers.get("Content-Length") or 0)
        if total > file.max_bytes:
            raise ValueError(f"refusing {total} bytes (limit {file.max_bytes})")
        got = 0
        while chunk := resp.read(CHUNK):
            got += len(chunk)
            if got > file.max_bytes:
                raise ValueError(f"download exceeded {file.max_bytes} bytes")
            digest.update(chunk)
            out.write(chunk)
            if progress is not None:
                progress(file.name, got, total)
    if total and got != total:  # urllib returns a short body quietly when the server hangs up
        raise ValueError(f"connection closed after {got:,} of {total:,} bytes")
    return digest.hexdigest()
