"""One downloader for every optional dataset: mirrors in turn, bounded size, published MD5, atomic.

A file is streamed into a temporary file next to its final place while its MD5 is computed; only when
the digest matches the published one and the caller's ``validate`` accepts the file is it renamed into
the cache. So a broken, truncated or tampered download never leaves a file that looks valid, and a
reader never sees half a file. Nothing here runs unless a student presses a download button.

Time is bounded as a whole, not only per read: a mirror that drips one byte every few seconds never
trips a per-read timeout, so every download has a deadline (``DownloadLimits``, ``CONVLAB_DOWNLOAD_DEADLINE_S``)
checked after each read, and reads return whatever arrived (``read1``) instead of waiting for a full
chunk. ``SingleFlight`` runs one download per dataset per server: a second student who asks meanwhile
waits for the first download and follows its progress instead of starting another.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generic, Iterable, TypeVar

from core.errors import DataError

CHUNK = 1 << 16
Progress = Callable[[str, int, int], object]  # (file name, bytes so far, bytes in all or 0 if unknown)
DEADLINE_ENV = "CONVLAB_DOWNLOAD_DEADLINE_S"
DEFAULT_DEADLINE_S = 900.0  # CIFAR-10's 170 MB at 0.2 MB/s; the publishers' mirrors give 5-50 MB/s
T = TypeVar("T")


@dataclass(frozen=True)
class DownloadLimits:
    """How long one dataset's download may take in all (every file, every mirror)."""

    deadline_s: float = DEFAULT_DEADLINE_S

    @classmethod
    def from_env(cls) -> "DownloadLimits":
        """``CONVLAB_DOWNLOAD_DEADLINE_S`` (seconds > 0), default 900; unusable values fall back to it."""
        raw = os.environ.get(DEADLINE_ENV, "").strip()
        try:
            value = float(raw) if raw else DEFAULT_DEADLINE_S
        except ValueError:
            value = DEFAULT_DEADLINE_S
        return cls(value if value > 0 else DEFAULT_DEADLINE_S)

    def deadline(self) -> float:
        """The ``time.monotonic()`` by which a download starting now must be done."""
        return time.monotonic() + self.deadline_s


class DeadlineExceeded(TimeoutError):
    """The whole download took longer than its deadline (a slow or dripping mirror)."""


class _Flight(Generic[T]):
    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.progress: tuple[str, int, int] | None = None
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class SingleFlight(Generic[T]):
    """At most one run of ``work`` per key at a time. Whoever asks while a run is under way waits for
    that run (woken at each progress step, which it is shown) and gets its result or its error.
    The server keeps one instance (the ui shares it through ``st.cache_resource``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight[T]] = {}

    def running(self, key: str) -> bool:
        with self._lock:
            return key in self._flights

    def run(self, key: str, work: Callable[[Progress], T], progress: Progress | None = None) -> T:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            return self._follow(flight, progress)

        def report(name: str, got: int, total: int) -> None:
            with flight.changed:
                flight.progress = (name, got, total)
                flight.changed.notify_all()
            if progress is not None:
                progress(name, got, total)

        try:
            flight.result = work(report)
            return flight.result
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            with flight.changed:
                flight.done = True
                flight.changed.notify_all()

    @staticmethod
    def _follow(flight: _Flight[T], progress: Progress | None) -> T:
        shown = None
        while True:
            with flight.changed:
                while not flight.done and flight.progress == shown:
                    flight.changed.wait()
                done, shown = flight.done, flight.progress
            if progress is not None and shown is not None:
                progress(*shown)  # outside the lock: drawing a progress bar must not hold up the download
            if done:
                break
        if flight.error is not None:
            if isinstance(flight.error, DataError):
                raise DataError(str(flight.error))  # a fresh exception: each waiting thread raises its own
            # not a download error: the run that was downloading stopped (its student left the page)
            raise DataError("The download another student started stopped before it finished; press Download "
                            "again to start it yourself.")
        return flight.result  # type: ignore[return-value]


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
    deadline: float | None = None,
) -> Path:
    """Download every file into ``folder`` (skipping ones already there and verified); returns ``folder``.

    ``validate(temp_path, name)`` may raise ``DataError`` to reject a file whose digest matched but whose
    content does not parse (only possible with a wrong checksum table, but cheap to check).
    """
    mirrors = tuple(mirrors)
    for file in files:
        target = folder / file.name
        if not is_verified(target, file):
            fetch_one(file, target, mirrors, timeout=timeout, progress=progress, validate=validate,
                      deadline=deadline)
    return folder


def fetch_one(
    file: RemoteFile,
    target: Path,
    mirrors: tuple[str, ...],
    *,
    timeout: float = 5.0,
    progress: Progress | None = None,
    validate: Callable[[Path, str], None] | None = None,
    deadline: float | None = None,
) -> Path:
    """Try each mirror until one gives a file with the right digest; raise ``DataError`` naming them all.
    ``deadline`` (a ``time.monotonic()`` value, default ``DownloadLimits.from_env()`` from now) ends it all."""
    failures = []
    deadline = DownloadLimits.from_env().deadline() if deadline is None else deadline
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + file.name
        try:
            _download_to(url, file, target, timeout, progress, validate, deadline)
            return target
        except DeadlineExceeded as exc:
            raise DataError(f"Downloading {file.name} took too long ({exc}); the mirror is too slow right now. "
                            "ConvLab keeps working with the 5,000 shipped digits; try again later.") from exc
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, TimeoutError, OSError,
                ValueError, DataError) as exc:  # HTTPException: e.g. the server closed mid-file
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
    raise DataError(
        f"Could not download {file.name} (no internet, or every mirror failed). ConvLab keeps working "
        "with the 5,000 shipped digits. Details: " + "; ".join(failures)
    )


def _download_to(url: str, file: RemoteFile, target: Path, timeout: float, progress: Progress | None,
                 validate: Callable[[Path, str], None] | None, deadline: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            got = _stream(url, file, out, timeout, progress, deadline)
        if got != file.md5:
            raise ValueError(f"checksum mismatch (got {got}, expected {file.md5})")
        if validate is not None:
            validate(tmp, file.name)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cached files are world-readable like shipped ones
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _left(deadline: float, started: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded(f"more than {deadline - started:.0f} s")
    return left


def _stream(url: str, file: RemoteFile, out, timeout: float, progress: Progress | None, deadline: float) -> str:
    """Copy the response into ``out`` as it arrives, never past ``file.max_bytes`` nor ``deadline``;
    returns the MD5. One read waits at most ``timeout`` (or what is left of the deadline, if less)."""
    digest = hashlib.md5(usedforsecurity=False)
    request = urllib.request.Request(url, headers={"User-Agent": "ConvLab/1.0"})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=min(timeout, _left(deadline, started))) as resp:  # noqa: S310
        total = int(resp.headers.get("Content-Length") or 0)
        if total > file.max_bytes:
            raise ValueError(f"refusing {total} bytes (limit {file.max_bytes})")
        got = 0
        while chunk := resp.read1(CHUNK):  # what has arrived: read(CHUNK) would wait for a full chunk
            got += len(chunk)
            _left(deadline, started)
            if got > file.max_bytes:
                raise ValueError(f"download exceeded {file.max_bytes} bytes")
            digest.update(chunk)
            out.write(chunk)
            if progress is not None:
                progress(file.name, got, total)
    if total and got != total:  # urllib returns a short body quietly when the server hangs up
        raise ValueError(f"connection closed after {got:,} of {total:,} bytes")
    return digest.hexdigest()
