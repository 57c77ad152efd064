"""Small (or full-size) datasets in the publishers' real formats, for tests and benchmarks.

CIFAR-10's batches are written as Python 2's cPickle wrote them in 2009 (str as BINSTRING, the array
reconstructor named ``numpy.core.multiarray``), so the loader is tested on the opcodes it will meet.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import io
import pickle
import struct
import tarfile
import threading
from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np

from core.data import cifar

from core.data import mnist as data

from core.data import registry as datasets


class Py2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote for CIFAR-10: str as BINSTRING and numpy.core names."""

    dispatch = pickle._Pickler.dispatch.copy()
    _reconstruct = np.zeros(0).__reduce__()[0]

    def save_py2_str(self, obj):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        n = len(raw)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + raw if n < 256
                   else pickle.BINSTRING + struct.pack("<i", n) + raw)
        self.memoize(obj)

    def save_global(self, obj, name=None):
        if obj is self._reconstruct:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str
    dispatch[type(_reconstruct)] = save_global


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def cifar_rows(seed: int, rows: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (rows, cifar.PIXELS), dtype=np.uint8), [int(v) for v in rng.integers(0, 10, rows)]


def cifar_batch(seed: int, rows: int) -> bytes:
    pixels, labels = cifar_rows(seed, rows)
    return py2_pickle({"batch_label": f"batch {seed}", "labels": labels, "data": pixels,
                       "filenames": [f"img_{seed}_{i}.png" for i in range(rows)]})


def cifar_members(rows: int, **replace: bytes) -> dict[str, bytes]:
    """Archive members by name: data_batch_1..5 (seeds 1..5), test_batch (seed 6), meta and readme."""
    names = [*cifar.TRAIN_BATCHES, cifar.TEST_BATCH]
    members = {f"{cifar.FOLDER}/{n}": cifar_batch(i, rows) for i, n in enumerate(names, start=1)}
    members[f"{cifar.FOLDER}/batches.meta"] = py2_pickle({"label_names": list(datasets.CIFAR10_CLASSES),
                                                          "num_cases_per_batch": rows, "num_vis": 3072})
    members[f"{cifar.FOLDER}/readme.html"] = b"<a href='http://www.cs.toronto.edu/~kriz/cifar.html'>page</a>"
    members.update({f"{cifar.FOLDER}/{k}": v for k, v in replace.items()})
    return members


def tar_gz(members: dict[str, bytes], links: dict[str, str] | None = None, level: int = 9) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=level) as tar:
        for name, raw in members.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(raw)
            tar.addfile(entry, io.BytesIO(raw))
        for name, target in (links or {}).items():
            entry = tarfile.TarInfo(name)
            entry.type, entry.linkname = tarfile.SYMTYPE, target
            tar.addfile(entry)
    return buf.getvalue()


def write_cifar_archive(path: Path, rows: int, level: int = 1) -> None:
    """A full-size archive (rows=10_000) without holding all six batches in memory at once."""
    with tarfile.open(path, mode="w:gz", compresslevel=level) as tar:
        for i, name in enumerate([*cifar.TRAIN_BATCHES, cifar.TEST_BATCH], start=1):
            raw = cifar_batch(i, rows)
            entry = tarfile.TarInfo(f"{cifar.FOLDER}/{name}")
            entry.size = len(raw)
            tar.addfile(entry, io.BytesIO(raw))


def write_cifar_cache(root: Path, n: int = 60, seed: int = 1, random: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Converted CIFAR-10 files (as ``datasets.download`` leaves them) holding random images (or, with
    ``random=False``, a cheap repeating pattern: a full-size set for memory checks in a second)."""
    rng = np.random.default_rng(seed)
    shape = (n, 32, 32, 3)
    images = (rng.integers(0, 256, shape, dtype=np.uint8) if random else
              np.broadcast_to((np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(1, 32, 32, 3), shape))
    labels = (np.arange(n) % 10).astype(np.uint8)
    where = root / "cifar-10"
    for name, array in zip(datasets.CIFAR_NAMES, (images, labels, images[:20], labels[:20])):
        data.write_idx(where / name, array)
    return images, labels


def idx_gz(array: np.ndarray) -> bytes:
    return gzip.compress(data.encode_idx(array))


# ---------------------------------------------------------------------------------------------
# A local web server standing in for the publishers (tests never reach the internet)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def local_server(root: Path) -> Iterator[str]:
    """A static file server for ``root`` on 127.0.0.1; yields its base URL (ending in "/")."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def remote_for(url: str, files: dict[str, bytes], **kw) -> datasets.Remote:
    """A ``Remote`` for ``files`` served at ``url``, with their digests computed here."""
    entries = tuple(datasets.fetch.RemoteFile(name, hashlib.md5(raw).hexdigest(), 1_000_000)
                    for name, raw in files.items())
    return datasets.Remote((url,), entries, **kw)


def idx_files(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> dict[str, bytes]:
    """The four gzip-compressed IDX files of an MNIST-style dataset (Fashion-MNIST's names and format)."""
    return {name: idx_gz(a) for name, a in zip(datasets.IDX_NAMES, (*train, *test))}


def download_fake(key: str, cache: Path, www: Path, url: str, files: dict[str, bytes], **kw) -> Path:
    """Serve ``files`` from ``www`` and download them into ``cache`` the way a student's click does."""
    www.mkdir(parents=True, exist_ok=True)
    for name, raw in files.items():
        (www / name).write_bytes(raw)
    return datasets.download(key, cache, remote=remote_for(url, files, **kw), timeout=5.0)
