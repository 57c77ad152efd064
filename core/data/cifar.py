"""CIFAR-10's "python version" archive → uint8 arrays, without trusting pickle.

The archive (``cifar-10-python.tar.gz``) holds ``cifar-10-batches-py/data_batch_1..5``, ``test_batch`` and
``batches.meta``: Python 2 pickles of dicts such as ``{b"data": ndarray uint8 (10000, 3072),
b"labels": [int, ...], b"batch_label": ..., b"filenames": [...]}``. Each row is 1024 red, then 1024
green, then 1024 blue values of a 32×32 image, row-major.

Pickle can run any function named in the stream, so the archive's MD5 is verified before this module
sees it (``core.data.download``), and then the batches are read with ``SafeUnpickler``, which resolves
only the three numpy names an array needs and refuses everything else (``os.system`` included). Tar
members are bounded in size and count, and only the seven expected names are read.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from core.errors import DataError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
PIXELS = 32 * 32 * 3  # 3072 values per row: R plane, G plane, B plane
MAX_MEMBER_BYTES = 40_000_000  # a real batch is 31,035,704 bytes (test_batch about the same)
MAX_MEMBERS = 64  # the real archive has 8 entries (the folder, 6 batches, meta, readme)
MAX_TOTAL_BYTES = 250_000_000  # sum of declared member sizes (the real ones add up to about 186 MB)

# The globals a pickled numpy array names; nothing else may be resolved. ndarray.__reduce__ gives the
# reconstructor whatever numpy calls its module (numpy.core in the 2009 files, numpy._core today).
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class SafeUnpickler(pickle.Unpickler):
    """Dicts, lists, bytes, str and numbers come from opcodes; globals only from ``_ALLOWED``."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def safe_loads(raw: bytes, source: str) -> object:
    try:
        return SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OverflowError, MemoryError) as exc:
        raise DataError(f"{source}: not a CIFAR-10 batch ({exc}).") from exc


@dataclass(frozen=True)
class CifarArrays:
    train_images: np.ndarray  # (N, 32, 32, 3) uint8, HWC
    train_labels: np.ndarray  # (N,) uint8
    test_images: np.ndarray
    test_labels: np.ndarray


def read_archive(path: Path, batch_rows: int = 10_000) -> CifarArrays:
    """The six batches of a verified archive as arrays; ``DataError`` for anything unexpected.

    Each batch is copied into arrays allocated once, so the peak is the result plus one batch.
    """
    slots = {name: i for i, name in enumerate((*TRAIN_BATCHES, TEST_BATCH))}  # test_batch is slot 5
    images = np.empty((len(slots), batch_rows, 32, 32, 3), np.uint8)  # (batch, N, H, W, C)
    labels = np.empty((len(slots), batch_rows), np.uint8)
    seen: set[str] = set()
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in _checked_members(tar):
                name = PurePosixPath(member.name).name
                if member.name != f"{FOLDER}/{name}" or name not in slots or name in seen:
                    continue
                raw = tar.extractfile(member).read(MAX_MEMBER_BYTES + 1)
                images[slots[name]], labels[slots[name]] = batch_arrays(safe_loads(raw, name), name, batch_rows)
                seen.add(name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path.name}: not a readable tar.gz archive ({exc}).") from exc
    missing = [name for name in slots if name not in seen]
    if missing:
        raise DataError(f"{path.name}: missing {', '.join(missing)}.")
    train = len(TRAIN_BATCHES) * batch_rows
    return CifarArrays(images[:-1].reshape(train, 32, 32, 3), labels[:-1].reshape(train), images[-1], labels[-1])


def _checked_members(tar: tarfile.TarFile):
    """Yield regular-file members after checking names, sizes and count from their headers."""
    total = 0
    for count, member in enumerate(tar, start=1):
        if count > MAX_MEMBERS:
            raise DataError(f"archive has more than {MAX_MEMBERS} entries.")
        parts = PurePosixPath(member.name).parts
        if member.name.startswith(("/", "\\")) or ".." in parts or ":" in member.name:
            raise DataError(f"archive entry {member.name!r} points outside its folder.")
        if not (member.isfile() or member.isdir()):
            raise DataError(f"archive entry {member.name!r} is a link or device, not a file.")
        if member.size > MAX_MEMBER_BYTES:
            raise DataError(f"archive entry {member.name!r} is {member.size:,} bytes (limit {MAX_MEMBER_BYTES:,}).")
        total += member.size
        if total > MAX_TOTAL_BYTES:
            raise DataError(f"archive holds more than {MAX_TOTAL_BYTES:,} bytes.")
        if member.isfile():
            yield member


def batch_arrays(batch: object, source: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A batch dict → ((rows, 32, 32, 3) uint8 images, (rows,) uint8 labels), every shape checked."""
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{source}: expected a dict with b'data' and b'labels'.")
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape != (rows, PIXELS):
        shape = getattr(data, "shape", type(data).__name__)
        raise DataError(f"{source}: data is {shape} {getattr(data, 'dtype', '')}, expected ({rows}, {PIXELS}) uint8.")
    if not isinstance(labels, list) or len(labels) != rows or not all(type(v) is int and 0 <= v <= 9 for v in labels):
        raise DataError(f"{source}: labels must be a list of {rows} integers 0..9.")
    images = data.reshape(rows, 3, 32, 32).transpose(0, 2, 3, 1)  # planes (N, C, H, W) → (N, H, W, C), a view
    return images, np.asarray(labels, dtype=np.uint8)
