"""Shipped data, IDX parsing, stratified splits and the full-MNIST downloader (against 127.0.0.1 only)."""

import gzip
import hashlib
import http.server
import threading
import time
from functools import partial

import numpy as np
import pytest

from core.data import mnist as data


def test_shipped_sets_have_canonical_counts():
    train, test = data.load_shipped_train(), data.load_test()
    assert train.images.shape == (5000, 28, 28) and train.images.dtype == np.uint8
    assert np.bincount(train.labels).tolist() == [500] * 10
    assert test.images.shape == (10000, 28, 28)
    assert np.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert train.images.max() == 255 and train.images.min() == 0


def test_shipped_train_disjoint_from_test():
    train, test = data.load_shipped_train(), data.load_test()
    test_hashes = {hashlib.sha1(img.tobytes()).digest() for img in test.images}
    assert not any(hashlib.sha1(img.tobytes()).digest() in test_hashes for img in train.images)


def test_stratified_split_is_balanced_and_seeded():
    labels = data.load_shipped_train().labels
    tr, va = data.stratified_split(labels, 0.2, seed=3)
    assert len(tr) == 4000 and len(va) == 1000 and not set(tr) & set(va)
    assert np.bincount(labels[va]).tolist() == [100] * 10
    tr2, va2 = data.stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)
    _, va3 = data.stratified_split(labels, 0.2, seed=4)
    assert not np.array_equal(va, va3)
    # Shuffled: the first 500 training indices are not all one class (the file is sorted by class).
    assert len(set(labels[tr[:500]].tolist())) == 10
    with pytest.raises(ValueError):
        data.stratified_split(labels, 1.5, 0)


def test_idx_round_trip_and_errors(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = data.encode_idx(arr)
    assert np.array_equal(data.parse_idx(raw, data.IMAGE_MAGIC), arr)
    with pytest.raises(data.DataError, match="truncated"):
        data.parse_idx(raw[:-5])
    with pytest.raises(data.DataError, match="trailing"):
        data.parse_idx(raw + b"\0")
    with pytest.raises(data.DataError, match="expected 2049"):
        data.parse_idx(raw, data.LABEL_MAGIC)
    with pytest.raises(data.DataError, match="not an unsigned-byte IDX"):
        data.parse_idx(b"\x12\x34\x56\x78" + b"\0" * 8)
    with pytest.raises(data.DataError, match="too short"):
        data.parse_idx(b"\0")
    p = tmp_path / "x.gz"
    data.write_idx_gz(p, arr)
    assert np.array_equal(data.read_idx(p), arr)
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(raw)[:30])
    with pytest.raises(data.DataError, match="decompressed"):
        data.read_idx(bad)
    with pytest.raises(data.DataError, match="missing"):
        data.read_idx(tmp_path / "nope.gz")


def test_truncated_shipped_file_gives_clear_error(tmp_path):
    for name in data.SHIPPED_TEST:
        (tmp_path / name).write_bytes((data.DATA_DIR / name).read_bytes())
    images = tmp_path / data.SHIPPED_TEST[0]
    raw = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(data.DataError, match="truncated"):
        data.load_test(tmp_path)


# ------------------------------------------------------------------------------------------------
# Downloader, against a local HTTP server on 127.0.0.1 serving small fake IDX files


@pytest.fixture
def mirror(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    images = gzip.compress(data.encode_idx(np.full((3, 28, 28), 7, np.uint8)))
    labels = gzip.compress(data.encode_idx(np.array([1, 2, 3], np.uint8)))
    (root / "train-images-idx3-ubyte.gz").write_bytes(images)
    (root / "train-labels-idx1-ubyte.gz").write_bytes(labels)
    (root / "corrupt").mkdir()
    (root / "corrupt" / "train-images-idx3-ubyte.gz").write_bytes(images[:-20])  # truncated download
    (root / "corrupt" / "train-labels-idx1-ubyte.gz").write_bytes(labels)
    files = {
        "train-images-idx3-ubyte.gz": hashlib.md5(images).hexdigest(),
        "train-labels-idx1-ubyte.gz": hashlib.md5(labels).hexdigest(),
    }
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", files
    finally:
        server.shutdown()


def test_download_verifies_and_caches(mirror, tmp_path):
    url, files = mirror
    cache = tmp_path / "cache"
    data.download_full_mnist(cache, [url], files)
    assert data.full_mnist_cached(cache) or all((cache / n).exists() for n in files)
    images = data.read_idx(cache / "train-images-idx3-ubyte.gz", data.IMAGE_MAGIC)
    assert images.shape == (3, 28, 28)
    assert not list(cache.glob("*.tmp"))


def test_corrupt_mirror_falls_back_to_good_one(mirror, tmp_path):
    url, files = mirror
    cache = tmp_path / "cache"
    data.download_full_mnist(cache, [url + "corrupt/", url], files)
    assert hashlib.md5((cache / "train-images-idx3-ubyte.gz").read_bytes()).hexdigest() == files["train-images-idx3-ubyte.gz"]


def test_corrupt_only_mirror_leaves_nothing_behind(mirror, tmp_path):
    url, files = mirror
    cache = tmp_path / "cache"
    with pytest.raises(data.DataError, match="checksum mismatch"):
        data.download_full_mnist(cache, [url + "corrupt/"], files)
    assert not (cache / "train-images-idx3-ubyte.gz").exists()
    assert not list(cache.glob("*")) or not list(cache.glob("*.tmp"))


def test_offline_fails_fast_with_clear_message(tmp_path):
    # A port on 127.0.0.1 with nothing listening: connection refused, like being offline.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(data.DataError, match="no internet"):
        data.download_full_mnist(tmp_path / "c", [f"http://127.0.0.1:{dead}/"], timeout=2)
    assert time.monotonic() - start < 5


def test_load_full_train_before_download(tmp_path):
    with pytest.raises(data.DataError, match="not been downloaded"):
        data.load_full_train(tmp_path)
