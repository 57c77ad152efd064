"""CIFAR-10's "python version" archive → uint8 arrays, without trusting pickle.

The archive (``cifar-10-python.tar.gz``) holds ``cifar-10-batches-py/data_batch_1..5``, ``test_batch`` and
``batches.meta``: Python 2 pickles of dicts such as ``{b"data": ndarray uint8 (10000, 3072),
b"labels": [int, ...], b"batch_label": ..., b"filenames": [...]}``. Each row is 1024 red, then 1024
green, then 1024 blue values of a 32×32 image, row-major.

Pickle can run any function named in the stream, so the archive's MD5 is verified before this module
sees it (``core.data.download``), and then the batches are read with ``SafeUnpickler``, which resolves
only the three numpy names an array needs and refuses everything else (``os.system`` included).

Memory is bounded before anything is built: ``scan_headers`` walks the raw tar headers in one streaming
pass first, because ``tarfile`` reads a GNU long-name or pax header whole before any check of ours sees
its member (a 1.5 GB long-name header cost 4.3 GB); every such header is bounded to ``MAX_NAME_BYTES``
and every member to ``MAX_MEMBER_BYTES``. A batch's pickle is counted opcode by opcode before it is
loaded (``MAX_PICKLE_OPS``), since millions of tiny objects inflate a 38 MB pickle to 600 MB. Each
member is spooled to a temporary file and unpickled from it, and the conversion (``convert_archive``)
writes each batch into the IDX files on disk as it is read, so the peak is a few copies of one batch,
not the whole 184 MB of pixels.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import pickletools
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np

from core.errors import DataError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
PIXELS = 32 * 32 * 3  # 3072 values per row: R plane, G plane, B plane
MAX_MEMBER_BYTES = 40_000_000  # a real batch is 31,035,704 bytes (test_batch about the same)
MAX_MEMBERS = 64  # the real archive has 8 entries (the folder, 6 batches, meta, readme)
MAX_TOTAL_BYTES = 250_000_000  # sum of declared member sizes (the real ones add up to about 186 MB)
MAX_NAME_BYTES = 4096  # a GNU long-name/link or pax header: the real archive has none; names are short
MAX_PICKLE_OPS = 100_000  # a real batch is about 40,000 opcodes (10,000 labels and 10,000 file names)
_BLOCK = 512
_META_TYPES = (b"L", b"K", b"x", b"g")  # GNU long name/link, pax per-file/global headers

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


def _check_opcodes(raw: bytes | BinaryIO, source: str) -> None:
    """Count the pickle's opcodes before loading it: each can create an object, so the count bounds the
    memory ``load`` may build beyond the pickle's own bytes."""
    try:
        for count, _ in enumerate(pickletools.genops(raw), start=1):
            if count > MAX_PICKLE_OPS:
                raise DataError(f"{source}: holds more than {MAX_PICKLE_OPS:,} objects; a CIFAR-10 batch has "
                                f"about 40,000.")
    except DataError:
        raise
    except Exception as exc:  # genops raises ValueError and others for a malformed stream
        raise DataError(f"{source}: not a CIFAR-10 batch ({exc}).") from exc


def safe_loads(raw: bytes | BinaryIO, source: str) -> object:
    """Bytes or a seekable binary file: its opcodes counted first, then loaded with ``SafeUnpickler``."""
    _check_opcodes(raw, source)
    if not isinstance(raw, (bytes, bytearray)):
        raw.seek(0)
    try:
        return SafeUnpickler(io.BytesIO(raw) if isinstance(raw, (bytes, bytearray)) else raw, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OverflowError, MemoryError) as exc:
        raise DataError(f"{source}: not a CIFAR-10 batch ({exc}).") from exc


@dataclass(frozen=True)
class CifarArrays:
    train_images: np.ndarray  # (N, 32, 32, 3) uint8, HWC
    train_labels: np.ndarray  # (N,) uint8
    test_images: np.ndarray
    test_labels: np.ndarray


def iter_batches(path: Path, batch_rows: int = 10_000):
    """(slot, images (rows, 32, 32, 3), labels (rows,)) for each of the six batches of a verified archive,
    one at a time (slots 0..4 the training batches, 5 the test batch); ``DataError`` for anything unexpected,
    including a batch missing at the end."""
    slots = {name: i for i, name in enumerate((*TRAIN_BATCHES, TEST_BATCH))}
    scan_headers(path)
    seen: set[str] = set()
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in _checked_members(tar):
                name = PurePosixPath(member.name).name
                if member.name != f"{FOLDER}/{name}" or name not in slots or name in seen:
                    continue
                # spooled to disk, not read into memory: the opcodes are counted and the pickle loaded from
                # the file, so only the objects it builds take memory, never the member's bytes too
                with tempfile.TemporaryFile() as spool:
                    shutil.copyfileobj(tar.extractfile(member), spool, 1 << 20)
                    spool.seek(0)
                    images, labels = batch_arrays(safe_loads(spool, name), name, batch_rows)
                seen.add(name)
                yield slots[name], images, labels
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path.name}: not a readable tar.gz archive ({exc}).") from exc
    missing = [name for name in slots if name not in seen]
    if missing:
        raise DataError(f"{path.name}: missing {', '.join(missing)}.")


def read_archive(path: Path, batch_rows: int = 10_000) -> CifarArrays:
    """The six batches as arrays in memory (tests and benchmarks; the download uses ``convert_archive``)."""
    images = np.empty((6, batch_rows, 32, 32, 3), np.uint8)  # (batch, N, H, W, C)
    labels = np.empty((6, batch_rows), np.uint8)
    for slot, batch_images, batch_labels in iter_batches(path, batch_rows):
        images[slot], labels[slot] = batch_images, batch_labels
    train = len(TRAIN_BATCHES) * batch_rows
    return CifarArrays(images[:-1].reshape(train, 32, 32, 3), labels[:-1].reshape(train), images[-1], labels[-1])


def conversion_bytes(batch_rows: int = 10_000) -> int:
    """Memory ``convert_archive`` holds at its peak: a few copies of one batch (the pickle's string, its
    array, the HWC copy written out; tests/test_download_limits.py measures it); four are counted, so
    123 MB for CIFAR-10's 10,000-row batches."""
    return 4 * batch_rows * PIXELS


def _idx_header(shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, 0x08, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)


def convert_archive(path: Path, outputs: tuple[Path, Path, Path, Path], batch_rows: int = 10_000) -> None:
    """Write train images, train labels, test images, test labels (uncompressed IDX) straight from the
    archive, one batch in memory at a time: each batch goes to its place in the files as it is read."""
    train = len(TRAIN_BATCHES) * batch_rows
    shapes = ((train, 32, 32, 3), (train,), (batch_rows, 32, 32, 3), (batch_rows,))
    handles = [open(out, "wb") for out in outputs]
    try:
        for fh, shape in zip(handles, shapes):
            fh.write(_idx_header(shape))
            fh.truncate(len(_idx_header(shape)) + int(np.prod(shape)))
        for slot, images, labels in iter_batches(path, batch_rows):
            test = slot == len(TRAIN_BATCHES)
            start = 0 if test else slot * batch_rows
            for fh, shape, array in zip(handles[2:] if test else handles[:2], shapes[2:] if test else shapes[:2],
                                        (images, labels)):
                row = int(np.prod(shape[1:]))
                fh.seek(len(_idx_header(shape)) + start * row)
                fh.write(np.ascontiguousarray(array).data)
    finally:
        for fh in handles:
            fh.close()


def _octal(field: bytes) -> int:
    """A tar header number: octal text, or base-256 when the first byte has its top bit set."""
    if field[:1] and field[0] & 0x80:
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def scan_headers(path: Path) -> None:
    """Walk every tar header of the gzip stream without building members: sizes, counts and the size of
    long-name and pax headers are checked from the raw 512-byte blocks, and member data is skipped
    through (decompressed, never kept)."""
    total = count = 0
    try:
        with gzip.open(path, "rb") as fh:
            while True:
                header = fh.read(_BLOCK)
                if len(header) < _BLOCK or header == bytes(_BLOCK):
                    return  # end of archive (tarfile reports a truncated one itself)
                count += 1
                if count > 2 * MAX_MEMBERS:
                    raise DataError(f"archive has more than {MAX_MEMBERS} entries.")
                try:
                    size = _octal(header[124:136])
                except ValueError as exc:
                    raise DataError(f"archive has a damaged header ({exc}).") from exc
                kind = header[156:157]
                if kind in _META_TYPES and size > MAX_NAME_BYTES:
                    raise DataError(f"archive has a {size:,}-byte name or extended header (limit {MAX_NAME_BYTES:,}): "
                                    f"not CIFAR-10.")
                if size > MAX_MEMBER_BYTES:
                    raise DataError(f"archive entry of {size:,} bytes (limit {MAX_MEMBER_BYTES:,}).")
                total += size
                if total > MAX_TOTAL_BYTES:
                    raise DataError(f"archive holds more than {MAX_TOTAL_BYTES:,} bytes.")
                fh.seek(-(-size // _BLOCK) * _BLOCK, os.SEEK_CUR)  # forward: decompressed in chunks, not kept
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path.name}: not a readable tar.gz archive ({exc}).") from exc


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
