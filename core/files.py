"""Reading a file someone else named: regular files only, bounded in size, never blocking.

Images given to ``python -m core.infer.predict``, model files and their sidecars are named by people ConvLab
does not control. A named pipe (FIFO) would block ``open()`` until someone writes to it, a device such
as ``/dev/zero`` never ends, a symbolic link loop fails with a cryptic ``ELOOP``: each gets a one-line
reason here instead. The type is checked with ``os.stat`` before opening, and the file is opened
with ``O_NONBLOCK`` and checked again with ``fstat``, so a file swapped for a FIFO in between still
cannot make the reader wait.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class FileRefused(ValueError):
    """A path that is not a readable regular file of an acceptable size; the message says why."""


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file: ConvLab never opens pipes"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    return "not a regular file"


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno == errno.ELOOP:
        return "a symbolic link that loops (it never reaches a file)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long"
    return f"cannot be read ({exc.strerror or type(exc).__name__})"


def regular_file_size(path: str | Path) -> int:
    """The size in bytes of a regular file (symbolic links followed); ``FileRefused`` for anything else."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise FileRefused(_os_reason(exc)) from exc
    except ValueError as exc:  # e.g. a NUL byte in the name
        raise FileRefused(f"not a usable file name ({exc})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(_kind(st.st_mode))
    return st.st_size


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; ``FileRefused`` with the reason otherwise."""
    size = regular_file_size(path)
    if size > max_bytes:
        raise FileRefused(f"the file is {_mb(size)}; the limit is {_mb(max_bytes)}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileRefused(_os_reason(exc)) from exc
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode):  # replaced between the stat and the open
            raise FileRefused(_kind(mode))
        try:
            data = fh.read(max_bytes + 1)  # files in /proc report size 0: the read itself is bounded too
        except OSError as exc:
            raise FileRefused(_os_reason(exc)) from exc
    if len(data) > max_bytes:
        raise FileRefused(f"the file is larger than the limit of {_mb(max_bytes)}")
    return data
