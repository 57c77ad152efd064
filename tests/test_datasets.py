"""core.data.registry: registry, loaders and downloads of Fashion-MNIST and CIFAR-10, against 127.0.0.1 only.

The files served are small ones made here in the real formats: gzip-compressed IDX for Fashion-MNIST and
a tar.gz of Python-2-style pickled batches for CIFAR-10 (the opcodes the 2009 files use), with their
checksums computed here and passed in as the dataset's ``Remote``.
"""

from __future__ import annotations

import gzip
import http.server
import os
import pickle
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.data import cifar

from core.data import mnist as data

from core.data import registry as datasets

from core.data import download
from core.errors import DataError
from benchmarks.fake_datasets import QuietHandler, cifar_batch, cifar_rows, local_server, py2_pickle, remote_for, tar_gz
from benchmarks.fake_datasets import cifar_members as _members

ROWS = 4  # rows per fake CIFAR batch (the real ones hold 10,000)


def cifar_members(**replace: bytes) -> dict[str, bytes]:
    return _members(ROWS, **replace)


# ---------------------------------------------------------------------------------------------
# Files in the real formats


# ---------------------------------------------------------------------------------------------
# A local web server


@pytest.fixture
def www(tmp_path):
    """(root folder, base URL) of a static server on 127.0.0.1 with nothing in it yet."""
    root = tmp_path / "www"
    root.mkdir()
    with local_server(root) as url:
        yield root, url


def serve(root: Path, files: dict[str, bytes], sub: str = "") -> None:
    (root / sub).mkdir(parents=True, exist_ok=True)
    for name, raw in files.items():
        (root / sub / name).write_bytes(raw)


@pytest.fixture
def fashion_files():
    rng = np.random.default_rng(0)
    arrays = (rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12, dtype=np.uint8) % 10,
              rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.array([9, 0, 3, 3, 7], np.uint8))
    return {name: gzip.compress(data.encode_idx(a)) for name, a in zip(datasets.IDX_NAMES, arrays)}, arrays


@pytest.fixture
def cifar_archive():
    return {"cifar-10-python.tar.gz": tar_gz(cifar_members())}


# ---------------------------------------------------------------------------------------------
# Registry


def test_registry_describes_each_dataset():
    assert list(datasets.DATASETS) == ["shipped5k", "full60k", "fashion", "cifar10"]
    with pytest.raises(TypeError):
        datasets.DATASETS["x"] = datasets.DATASETS["fashion"]  # read-only
    for meta in datasets.DATASETS.values():
        assert meta.channels in (1, 3) and meta.size in (28, 32) and meta.n_classes == 10
        assert len(meta.mean) == len(meta.std) == meta.channels
        assert meta.downloadable == (meta.remote is not None)
    cifar10 = datasets.DATASETS["cifar10"]
    assert (cifar10.shape, cifar10.n_inputs) == ((3, 32, 32), 3072)
    assert datasets.DATASETS["fashion"].class_names[9] == "Ankle boot"
    # The published digests (Fashion-MNIST README, CIFAR-10 page / torchvision), not test values.
    assert cifar10.remote.files[0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert datasets.DATASETS["fashion"].remote.files[0].md5 == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert datasets.DATASETS["full60k"].remote.files[0].md5 == data.FULL_MNIST_FILES["train-images-idx3-ubyte.gz"]
    with pytest.raises(ValueError, match="choose one of shipped5k"):
        datasets.load_train("imagenet")


def test_shipped_and_full_mnist_keys(tmp_path):
    train, test = datasets.load_train("shipped5k"), datasets.load_test("full60k")
    assert train.images.shape == (5000, 28, 28) and len(test) == 10000 and train.name == "MNIST 5k training digits"
    assert train.key == "shipped5k" and test.key == "full60k"  # one container: core.data.mnist.ImageSet
    assert type(train) is type(data.load_test()) is data.ImageSet
    assert datasets.is_cached("shipped5k", tmp_path) and not datasets.is_cached("full60k", tmp_path)
    with pytest.raises(DataError, match="not been downloaded"):
        datasets.load_train("cifar10", tmp_path)


def test_to_float_matches_hand_computation():
    grey = np.array([[[0, 255], [51, 102]]], np.uint8)  # (1, 2, 2)
    meta = datasets.DATASETS["fashion"]
    x = datasets.to_float(grey, meta)
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], (np.array([[0, 1], [0.2, 0.4]]) - 0.2860) / 0.3530, rtol=1e-6)
    colour = np.zeros((2, 32, 32, 3), np.uint8)
    colour[..., 2] = 255  # blue only
    c = datasets.DATASETS["cifar10"]
    y = datasets.to_float(colour, c)
    assert y.shape == (2, 3, 32, 32)
    np.testing.assert_allclose(y[1, :, 5, 7], [-0.4914 / 0.2470, -0.4822 / 0.2435, (1 - 0.4465) / 0.2616], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST (IDX gz)


def test_fashion_download_verify_cache_load(www, tmp_path, fashion_files):
    root, url = www
    files, arrays = fashion_files
    serve(root, files)
    seen = []
    cache = tmp_path / "cache"
    assert not datasets.is_cached("fashion", cache)
    where = datasets.download("fashion", cache, lambda name, got, total: seen.append((name, got, total)),
                              remote=remote_for(url, files))
    assert where == cache / "fashion-mnist" and datasets.is_cached("fashion", cache)
    assert {name for name, _, _ in seen} == set(files) and seen[-1][1] == seen[-1][2] == len(files[seen[-1][0]])
    assert not list(where.glob("*.tmp")) and not list(where.glob(".*"))
    train, test = datasets.load_train("fashion", cache), datasets.load_test("fashion", cache)
    assert np.array_equal(train.images, arrays[0]) and np.array_equal(test.labels, arrays[3])
    assert train.key == "fashion" and not train.images.flags.writeable
    # Same file names as MNIST's, in their own folder: the full-MNIST cache is untouched.
    assert not datasets.is_cached("full60k", cache)


def test_full_mnist_through_the_same_downloader(www, tmp_path, fashion_files):
    root, url = www
    files, arrays = fashion_files
    train_files = dict(list(files.items())[:2])
    serve(root, train_files)
    datasets.download("full60k", tmp_path, remote=remote_for(url, train_files))
    assert datasets.is_cached("full60k", tmp_path) and data.full_mnist_cached(tmp_path)
    assert np.array_equal(datasets.load_train("full60k", tmp_path).images, arrays[0])


def test_fashion_wrong_checksum_and_corrupt_file_leave_nothing(www, tmp_path, fashion_files):
    root, url = www
    files, _ = fashion_files
    serve(root, files)
    bad = dict(files)
    name = datasets.IDX_NAMES[0]
    bad[name] = files[name][:-20]  # truncated in transit
    serve(root, bad, "corrupt")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="checksum mismatch"):
        datasets.download("fashion", cache, remote=remote_for(url + "corrupt/", files))
    assert not (cache / "fashion-mnist" / name).exists()
    assert not list((cache / "fashion-mnist").glob("*"))  # no temp files either
    # A checksum table that matches a broken file (a typo in it) is still caught by the IDX check.
    with pytest.raises(DataError, match="decompressed"):
        datasets.download("fashion", cache, remote=remote_for(url + "corrupt/", bad))
    # Mirrors are tried in turn: the good one after the corrupt one.
    datasets.download("fashion", cache, remote=datasets.Remote((url + "corrupt/", url), remote_for(url, files).files))
    assert datasets.is_cached("fashion", cache)


def test_oversized_download_is_refused(www, tmp_path, fashion_files):
    root, url = www
    files, _ = fashion_files
    serve(root, files)
    small = tuple(download.RemoteFile(f.name, f.md5, 100) for f in remote_for(url, files).files)
    with pytest.raises(DataError, match="limit 100"):
        datasets.download("fashion", tmp_path, remote=datasets.Remote((url,), small))


def test_dead_port_gives_the_offline_message_fast(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    for key in ("fashion", "cifar10"):
        remote = datasets.Remote((f"http://127.0.0.1:{dead}/",), datasets.DATASETS[key].remote.files)
        start = time.monotonic()
        with pytest.raises(DataError, match=r"Could not download .*no internet"):
            datasets.download(key, tmp_path, remote=remote, timeout=2)
        assert time.monotonic() - start < 5
        assert not datasets.is_cached(key, tmp_path)


# ---------------------------------------------------------------------------------------------
# CIFAR-10 (tar.gz of pickles)


def test_cifar_download_converts_pixels_to_hwc(www, tmp_path, cifar_archive):
    root, url = www
    serve(root, cifar_archive)
    where = datasets.download("cifar10", tmp_path, remote=remote_for(url, cifar_archive, batch_rows=ROWS))
    assert sorted(p.name for p in where.iterdir()) == sorted(datasets.CIFAR_NAMES)  # archive not kept
    train, test = datasets.load_train("cifar10", tmp_path), datasets.load_test("cifar10", tmp_path)
    assert train.images.shape == (5 * ROWS, 32, 32, 3) and test.images.shape == (ROWS, 32, 32, 3)
    pixels, labels = cifar_rows(1, ROWS)  # data_batch_1: row = 1024 red, 1024 green, 1024 blue, row-major
    for img in range(ROWS):
        for (y, x, c) in ((0, 0, 0), (0, 1, 0), (1, 0, 1), (31, 31, 2), (5, 17, 1)):
            assert train.images[img, y, x, c] == pixels[img, c * 1024 + y * 32 + x]
    assert train.labels[:ROWS].tolist() == labels
    assert test.labels.tolist() == cifar_rows(6, ROWS)[1]  # test_batch was made with seed 6
    assert datasets.download("cifar10", tmp_path, remote=remote_for(url + "gone/", cifar_archive)) == where


def test_malicious_pickle_is_refused_and_never_runs(www, tmp_path):
    root, url = www
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    evil = py2_pickle({"data": Evil(), "labels": [0]})
    files = {"cifar-10-python.tar.gz": tar_gz(cifar_members(data_batch_3=evil))}
    serve(root, files)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"data_batch_3: not a CIFAR-10 batch \(refusing to load (posix|os)\.system"):
        datasets.download("cifar10", cache, remote=remote_for(url, files, batch_rows=ROWS))
    assert not marker.exists()
    assert not list((cache / "cifar-10").iterdir())  # neither the archive nor any converted file
    # Control: the same bytes under plain pickle would have run the command.
    pickle.loads(evil)
    assert marker.exists()


@pytest.mark.parametrize("members,links,message", [
    ({"../escape": b"x"}, None, "points outside"),
    ({"/etc/data_batch_1": b"x"}, None, "points outside"),
    ({}, {f"{cifar.FOLDER}/data_batch_1": "/etc/passwd"}, "link or device"),
    ({f"{cifar.FOLDER}/data_batch_2": pickle.dumps({b"data": np.zeros((ROWS, 3072), np.float32),
                                                     b"labels": [0] * ROWS})}, None, "expected \\(4, 3072\\) uint8"),
    ({f"{cifar.FOLDER}/data_batch_2": pickle.dumps({b"data": np.zeros((ROWS, 3072), np.uint8),
                                                     b"labels": [0, 1, 2, 10]})}, None, "integers 0..9"),
    ({f"{cifar.FOLDER}/test_batch": b"not a pickle"}, None, "test_batch: not a CIFAR-10 batch"),
], ids=["dotdot", "absolute", "symlink", "float_data", "label_10", "garbage"])
def test_hostile_or_broken_archives(www, tmp_path, members, links, message):
    root, url = www
    good = cifar_members()
    good.update(members)
    files = {"cifar-10-python.tar.gz": tar_gz(good, links)}
    serve(root, files)
    with pytest.raises(DataError, match=message):
        datasets.download("cifar10", tmp_path, remote=remote_for(url, files, batch_rows=ROWS))
    assert not datasets.is_cached("cifar10", tmp_path)


def test_archive_limits(tmp_path, monkeypatch, cifar_archive):
    path = tmp_path / "a.tar.gz"
    path.write_bytes(cifar_archive["cifar-10-python.tar.gz"])
    assert len(cifar.read_archive(path, ROWS).train_labels) == 5 * ROWS
    monkeypatch.setattr(cifar, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(DataError, match="limit 1,000"):
        cifar.read_archive(path, ROWS)
    monkeypatch.undo()
    monkeypatch.setattr(cifar, "MAX_MEMBERS", 3)
    with pytest.raises(DataError, match="more than 3 entries"):
        cifar.read_archive(path, ROWS)
    path.write_bytes(tar_gz({f"{cifar.FOLDER}/data_batch_1": cifar_batch(1, ROWS)}))
    monkeypatch.undo()
    with pytest.raises(DataError, match="missing data_batch_2"):
        cifar.read_archive(path, ROWS)
    path.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match="not a readable tar.gz"):
        cifar.read_archive(path, ROWS)


def test_damaged_cache_file_gives_a_clear_error(www, tmp_path, cifar_archive):
    root, url = www
    serve(root, cifar_archive)
    where = datasets.download("cifar10", tmp_path, remote=remote_for(url, cifar_archive, batch_rows=ROWS))
    images = where / datasets.CIFAR_NAMES[2]
    images.write_bytes(images.read_bytes()[:-7])
    with pytest.raises(DataError, match="truncated"):
        datasets.load_test("cifar10", tmp_path)
    # Downloading again replaces the damaged copy (an intact one would be kept: see the test above).
    datasets.download("cifar10", tmp_path, remote=remote_for(url, cifar_archive, batch_rows=ROWS))
    assert datasets.load_test("cifar10", tmp_path).images.shape == (ROWS, 32, 32, 3)


def test_nothing_downloads_at_import():
    import subprocess
    import sys

    code = ("import socket\n"
            "def refuse(*a, **k): raise SystemExit('network used at import')\n"
            "socket.socket.connect = refuse\n"
            "import core.data.registry, core.data.cifar, core.data.download, core.data.mnist, core.arithmetic, core.links.share\n"
            "core.data.mnist.load_shipped_train(); core.data.mnist.load_test()\n"
            "print(core.data.registry.is_cached('cifar10'), len(core.data.registry.load_train('shipped5k')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert out.stdout.split()[-1] == "5000", out.stderr


def test_two_simultaneous_cifar_downloads_both_succeed(www, tmp_path, cifar_archive):
    from concurrent.futures import ThreadPoolExecutor

    root, url = www
    serve(root, cifar_archive)
    remote = remote_for(url, cifar_archive, batch_rows=ROWS)
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda _: datasets.download("cifar10", tmp_path, remote=remote), range(2)))
    assert done[0] == done[1] == tmp_path / "cifar-10"
    assert sorted(p.name for p in done[0].iterdir()) == sorted(datasets.CIFAR_NAMES)  # no leftovers
    assert len(datasets.load_train("cifar10", tmp_path)) == 5 * ROWS


class ShortHandler(QuietHandler):
    """Promises more bytes than it sends, then hangs up (a connection lost mid-download)."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5000")
        self.end_headers()
        self.wfile.write(b"\x1f\x8b" + b"x" * 100)
        self.close_connection = True


def test_connection_lost_mid_file_is_a_clear_failure(tmp_path, fashion_files):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ShortHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        files, _ = fashion_files
        remote = remote_for(f"http://127.0.0.1:{server.server_address[1]}/", files)
        with pytest.raises(DataError, match="Could not download train-images.*closed after 102 of 5,000 bytes"):
            datasets.download("fashion", tmp_path, remote=remote)
    finally:
        server.shutdown()
        server.server_close()
    assert not list((tmp_path / "fashion-mnist").iterdir())
