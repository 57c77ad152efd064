"""Dataset downloads are bounded in time, in number and in memory.

Every server here is a local one on 127.0.0.1 (``benchmarks.fake_datasets``); the data are fake sets in
the publishers' formats. Covered: a mirror that drips bytes is cut off by the overall deadline; two
requests for one dataset make one download, the second following the first's progress; a tar whose
long-name header is huge, and a batch pickle of millions of tiny objects, are refused before they are
built; the CIFAR conversion holds one batch at a time, not the whole set.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import pickle
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from benchmarks.fake_datasets import cifar_members, cifar_rows, idx_files, remote_for, tar_gz, write_cifar_archive
from core.data import cifar
from core.data import registry as datasets
from core.data.download import DownloadLimits, RemoteFile, SingleFlight
from core.errors import DataError

ROWS = 4


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 with a handler class; closed on exit."""

    def __init__(self, handler) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class DripHandler(http.server.BaseHTTPRequestHandler):
    """Promises 1,000 bytes and sends one every 0.2 s (each read arrives well within a per-read
    timeout), then gives up after 40: a mirror that would hold a download for minutes."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(40):
            try:
                self.wfile.write(b"x")
                self.wfile.flush()
            except OSError:  # the client gave up: what the deadline is for
                return
            time.sleep(0.2)  # the hostile mirror's pace (not synchronisation)


def test_a_dripping_mirror_is_cut_off_by_the_overall_deadline(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLAB_DOWNLOAD_DEADLINE_S", "1.5")
    files = {"train-images-idx3-ubyte.gz": b"x" * 1000}
    with _Server(DripHandler) as url:
        remote = datasets.Remote((url,), tuple(RemoteFile(n, hashlib.md5(r).hexdigest(), 10_000)
                                               for n, r in files.items()))
        start = time.monotonic()
        with pytest.raises(DataError, match="took too long"):
            datasets.download("fashion", tmp_path, remote=remote, timeout=5.0)
        elapsed = time.monotonic() - start
    assert elapsed < 4.0, f"the download ran {elapsed:.1f} s past a 1.5 s deadline"
    assert not list((tmp_path / "fashion-mnist").iterdir())


def test_deadline_setting_comes_from_the_environment(monkeypatch):
    assert DownloadLimits().deadline_s == 900
    monkeypatch.setenv("CONVLAB_DOWNLOAD_DEADLINE_S", "30")
    assert DownloadLimits.from_env().deadline_s == 30
    monkeypatch.setenv("CONVLAB_DOWNLOAD_DEADLINE_S", "-1")
    assert DownloadLimits.from_env().deadline_s == 900


def test_one_download_per_dataset_the_second_request_follows_it(tmp_path):
    """The first file's body is held back until the second request has joined (seen progress)."""
    import numpy as np

    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (50, 28, 28), dtype=np.uint8), (np.arange(50) % 10).astype(np.uint8))
    files = idx_files(train, (train[0][:10], train[1][:10]))
    first = datasets.IDX_NAMES[0]
    release, requests = threading.Event(), []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.rsplit("/", 1)[-1]
            requests.append(name)
            raw = files[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw[:10])
            self.wfile.flush()
            if name == first:
                release.wait(30)
            self.wfile.write(raw[10:])

    gate: SingleFlight = SingleFlight()
    joined, seen, results, errors = threading.Event(), [], {}, []

    def follower_progress(name: str, got: int, total: int) -> None:
        seen.append((name, got, total))
        joined.set()

    with _Server(Handler) as url:
        remote = remote_for(url, files)
        started = threading.Event()

        def lead() -> None:
            try:
                results["lead"] = datasets.download("fashion", tmp_path, lambda *a: started.set(), remote=remote,
                                                    gate=gate)
            except Exception as exc:  # reported below
                errors.append(exc)

        def follow() -> None:
            try:
                results["follow"] = datasets.download("fashion", tmp_path, follower_progress, remote=remote,
                                                      gate=gate)
            except Exception as exc:
                errors.append(exc)

        a = threading.Thread(target=lead)
        a.start()
        assert started.wait(30), "the first download never reported progress"
        b = threading.Thread(target=follow)
        b.start()
        assert joined.wait(30), "the second request did not follow the first download's progress"
        release.set()
        a.join(30)
        b.join(30)
    assert not errors, errors
    assert results["lead"] == results["follow"] == tmp_path / "fashion-mnist"
    assert sorted(requests) == sorted(files), requests  # each file fetched once, not twice
    assert seen[0][0] == first and seen[-1][1] == seen[-1][2]  # the follower saw it through to the end
    assert not gate.running(str(results["lead"].resolve()))


def test_a_failed_download_fails_its_followers_with_words():
    gate: SingleFlight = SingleFlight()
    inside, release, out = threading.Event(), threading.Event(), []

    def work(report):
        report("x", 1, 2)
        inside.set()
        release.wait(30)
        raise DataError("Could not download x (no internet).")

    def ask() -> None:
        try:
            gate.run("k", work)
        except DataError as exc:
            out.append(str(exc))

    def follow() -> None:
        try:
            gate.run("k", work, lambda *a: release.set())
        except DataError as exc:
            out.append(str(exc))

    a = threading.Thread(target=ask)
    a.start()
    assert inside.wait(30)
    b = threading.Thread(target=follow)
    b.start()
    a.join(30)
    b.join(30)
    assert out == ["Could not download x (no internet)."] * 2


def _raw_tar_header(name: bytes, size: int, kind: bytes) -> bytes:
    header = bytearray(512)
    header[:len(name)] = name
    header[100:108] = b"0000644\0"
    header[124:136] = f"{size:011o}\0".encode()
    header[156:157] = kind
    header[257:263] = b"ustar "
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    return bytes(header)


def long_name_archive(path: Path, name_bytes: int) -> None:
    """A GNU long-name header of ``name_bytes`` before an ordinary member, gzip-streamed to disk."""
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(_raw_tar_header(b"././@LongLink", name_bytes, b"L"))
        chunk = b"a" * (1 << 20)
        left = name_bytes
        while left:
            out.write(chunk[:min(left, len(chunk))])
            left -= min(left, len(chunk))
        out.write(b"\0" * (-name_bytes % 512))
        member = b"hello"
        out.write(_raw_tar_header(b"x", len(member), b"0") + member + b"\0" * (512 - len(member)))
        out.write(b"\0" * 1024)


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


def test_a_huge_long_name_header_is_refused_before_tarfile_reads_it(tmp_path):
    path = tmp_path / "a.tar.gz"
    long_name_archive(path, 64 * 2**20)  # 64 MB of name: tarfile would read it whole, then more

    def read() -> None:
        with pytest.raises(DataError, match="name or extended header"):
            cifar.read_archive(path, ROWS)

    assert _peak_mb(read) < 8


def test_a_pickle_of_millions_of_small_objects_is_refused_before_it_is_built(tmp_path):
    bomb = pickle.dumps(list(range(256)) * 8000, protocol=2)  # 2 million small ints, 4 MB of pickle
    path = tmp_path / "a.tar.gz"
    path.write_bytes(tar_gz(cifar_members(ROWS, data_batch_1=bomb)))

    def read() -> None:
        with pytest.raises(DataError, match="data_batch_1: holds more than 100,000 objects"):
            cifar.read_archive(path, ROWS)

    assert _peak_mb(read) < 12  # loading it would build 16 MB of list and more of ints


def test_the_conversion_holds_one_batch_not_the_whole_set(tmp_path):
    rows = 2000  # 6.1 MB of pixels a batch, 37 MB in all
    www = tmp_path / "www"
    www.mkdir()
    archive = www / "cifar-10-python.tar.gz"
    write_cifar_archive(archive, rows)
    raw = archive.read_bytes()
    remote = datasets.Remote(("http://127.0.0.1:1/",), (RemoteFile(archive.name, hashlib.md5(raw).hexdigest(),
                                                                   len(raw)),), batch_rows=rows)
    batch_mb = rows * cifar.PIXELS / 2**20
    del raw
    from benchmarks.fake_datasets import local_server

    with local_server(www) as url:
        remote = datasets.Remote((url,), remote.files, batch_rows=rows)
        peak = _peak_mb(lambda: datasets.download("cifar10", tmp_path / "cache", remote=remote))
    train = datasets.load_train("cifar10", tmp_path / "cache")
    assert train.images.shape == (5 * rows, 32, 32, 3)
    assert train.labels[:rows].tolist() == cifar_rows(1, rows)[1]
    # three copies of one batch (the pickle's string, its array, the HWC copy written out; measured 17.7 MB
    # for 5.9 MB batches), never the six batches' 35 MB of pixels (85 MB at the peak before)
    assert peak < 4 * batch_mb, f"{peak:.0f} MB at the peak for {batch_mb:.1f} MB batches"


def test_a_leader_that_stops_leaves_words_for_its_followers_and_room_to_start_again():
    """The student whose run was downloading leaves the page (Streamlit stops that run with an exception)."""
    gate: SingleFlight = SingleFlight()
    inside, release, out = threading.Event(), threading.Event(), []

    class Stopped(Exception):
        pass

    def work(report):
        report("x", 1, 2)
        inside.set()
        release.wait(30)
        raise Stopped()

    def lead() -> None:
        with pytest.raises(Stopped):
            gate.run("k", work)

    def follow() -> None:
        try:
            gate.run("k", work, lambda *a: release.set())
        except DataError as exc:
            out.append(str(exc))

    a = threading.Thread(target=lead)
    a.start()
    assert inside.wait(30)
    b = threading.Thread(target=follow)
    b.start()
    a.join(30)
    b.join(30)
    assert out and "stopped before it finished; press Download again" in out[0]
    assert not gate.running("k") and gate.run("k", lambda report: "done") == "done"
