"""The Data page ("Look at the data") under AppTest: the numbers it shows are the dataset's, links work,
downloads are offered only where they make sense, and colour datasets get their channels."""

from __future__ import annotations

import gzip
import http.server
import re
import threading
from functools import partial

import numpy as np
import pytest

from core.data import mnist as data

from core.lessons import data_stats

from core.data import registry as datasets
from tests.apptest_checks import assert_clean, open_page, texts
from benchmarks.fake_datasets import write_cifar_cache
from tests.test_hostile_files import no_data  # noqa: F401  (fixture: the shipped files are gone)

PAGE = "pages/data.py"


def cells(at, n: int = 0) -> list[str]:
    """The numbers of the n-th HTML grid on the page."""
    return re.findall(r"<i[^>]*>([^<]*)</i>", at.get("html")[n].proto.body)


def link(at) -> dict[str, str]:
    return {k: v if isinstance(v, str) else v[-1] for k, v in at.query_params.items()}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty dataset cache for the page (AppTest runs it in this process)."""
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv("CONVLAB_CACHE", str(root))
    return root


def test_default_view_shows_the_digits_own_numbers(cache):
    at = open_page(PAGE)
    assert_clean(at, "data page defaults")
    train = datasets.load_train("shipped5k")
    digit = train.images[data_stats.pick(train.labels, 3, 0)]
    assert cells(at, 0) == [str(v) for v in digit.ravel()]  # 784 numbers, row by row
    assert link(at) == {"ds": "shipped5k", "cls": "3", "i": "0", "ch": "0"}
    body = " ".join(m.value for m in at.markdown)
    where = data_stats.flat_index(0, *np.unravel_index(int(np.argmax(digit)), digit.shape), 28)
    assert f"= **{where:,}**" in body  # the worked flatten example names the right entry
    (m,), (s,) = data_stats.channel_stats(train.images)
    assert f"over the 5,000 digits here they measure {m:.4f} and {s:.4f}" in texts(at.caption)
    assert [s.value for s in at.subheader][:3] == ["1 · One image is 28×28 numbers",
                                                   "2 · … or one long vector of 784 numbers",
                                                   "3 · Normalise, then standardise"]


def test_share_link_opens_class_and_sample(cache):
    at = open_page(PAGE, {"ds": "shipped5k", "cls": "7", "i": "42"})
    assert_clean(at, "data page link")
    train = datasets.load_train("shipped5k")
    digit = train.images[data_stats.pick(train.labels, 7, 42)]
    assert cells(at, 0) == [str(v) for v in digit.ravel()]
    assert at.selectbox(key="data.cls").value == 7 and at.number_input(key="data.i").value == 42
    at.number_input(key="data.i").set_value(43).run()
    assert link(at)["i"] == "43"
    assert cells(at, 0) == [str(v) for v in train.images[data_stats.pick(train.labels, 7, 43)].ravel()]


def test_sample_index_is_clamped_to_the_class(cache):
    at = open_page(PAGE, {"ds": "shipped5k", "cls": "1", "i": "9999"})
    assert_clean(at, "sample beyond the class")
    assert at.number_input(key="data.i").value == 499 and link(at)["i"] == "499"


def test_standardised_patch_numbers(cache):
    at = open_page(PAGE, {"cls": "5", "i": "3"})
    train = datasets.load_train("shipped5k")
    digit = train.images[data_stats.pick(train.labels, 5, 3)].astype(np.float64)
    r, c = data_stats.busiest_patch(digit, 8)
    patch = digit[r:r + 8, c:c + 8]
    assert cells(at, 1) == [str(int(v)) for v in patch.ravel()]
    assert cells(at, 2) == [f"{v:.2f}" for v in (patch / 255).ravel()]
    expected = ((patch / 255 - 0.1307) / 0.3081).ravel()
    np.testing.assert_allclose([float(v) for v in cells(at, 3)], expected, atol=0.006)


def test_dataset_not_downloaded_offers_the_download(cache):
    at = open_page(PAGE, {"ds": "fashion"})
    assert_clean(at, "fashion not downloaded")
    assert "not downloaded on this server yet" in texts(at.info)
    assert any("Download Fashion-MNIST" in b.label for b in at.button)
    assert link(at)["ds"] == "fashion"  # the link keeps asking for it
    assert at.selectbox(key="data.cls").options[0] == "0"  # meanwhile: the shipped digits


def test_download_button_fetches_and_shows_fashion(cache, tmp_path, monkeypatch):
    """The button runs the real downloader against a local server; the page then shows Fashion-MNIST."""
    rng = np.random.default_rng(3)
    arrays = (rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), (np.arange(30) % 10).astype(np.uint8),
              rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), (np.arange(10) % 10).astype(np.uint8))
    www = tmp_path / "www"
    www.mkdir()
    files = {}
    for name, array in zip(datasets.IDX_NAMES, arrays):
        files[name] = gzip.compress(data.encode_idx(array))
        (www / name).write_bytes(files[name])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        import hashlib

        remote = datasets.Remote((f"http://127.0.0.1:{server.server_address[1]}/",),
                                 tuple(datasets.fetch.RemoteFile(n, hashlib.md5(b).hexdigest(), 10**6)
                                       for n, b in files.items()))
        real = datasets.download
        monkeypatch.setattr(datasets, "download",  # the page's gate and budget are passed through
                            lambda key, progress=None, **kw: real(key, progress=progress, remote=remote, **kw))
        at = open_page(PAGE, {"ds": "fashion", "cls": "9", "i": "1"})
        next(b for b in at.button if "Download" in b.label).click().run()
    finally:
        server.shutdown()
        server.server_close()
    assert_clean(at, "after the download")
    assert datasets.is_cached("fashion", cache)
    assert "not downloaded" not in texts(at.info)
    assert at.selectbox(key="data.cls").options[9] == "9 · Ankle boot"
    assert cells(at, 0) == [str(v) for v in arrays[0][data_stats.pick(arrays[1], 9, 1)].ravel()]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_offline_download_says_so(cache, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    real = datasets.download
    remote = datasets.Remote((f"http://127.0.0.1:{dead}/",), datasets.DATASETS["cifar10"].remote.files)
    monkeypatch.setattr(datasets, "download",
                        lambda key, progress=None, **kw: real(key, progress=progress, remote=remote, **kw))
    at = open_page(PAGE, {"ds": "cifar10"})
    next(b for b in at.button if "Download" in b.label).click().run()
    assert_clean(at, "offline download")
    assert "no internet" in texts(at.error) and "Traceback" not in texts(at.error)
    assert not datasets.is_cached("cifar10", cache)


def test_colour_dataset_shows_the_chosen_channel(cache):
    images, labels = write_cifar_cache(cache)
    at = open_page(PAGE, {"ds": "cifar10", "cls": "2", "i": "1", "ch": "1"})
    assert_clean(at, "cifar10")
    image = images[data_stats.pick(labels, 2, 1)]
    assert at.radio(key="data.ch").value == 1
    assert cells(at, 0) == [str(v) for v in image[..., 1].ravel()]  # the green numbers
    assert [s.value for s in at.subheader][:2] == ["1 · One image is 32×32×3 numbers",
                                                   "2 · … or one long vector of 3,072 numbers"]
    assert at.selectbox(key="data.cls").value == 2
    at.radio(key="data.ch").set_value(2).run()
    assert cells(at, 0) == [str(v) for v in image[..., 2].ravel()] and link(at)["ch"] == "2"
    mean_text = " ".join(c.value for c in at.caption)
    assert "μ = 0.4465 and σ = 0.2616 are the published values; over these 60 training images" in mean_text


def test_classroom_link_fixes_the_dataset(cache):
    at = open_page(PAGE, {"ds": "cifar10", "classroom": "1"})
    assert_clean(at, "classroom, dataset missing")
    keys = {w.key for w in at.radio}
    assert "data.ds" not in keys and not any("Download" in b.label for b in at.button)
    assert "ask them to download it" in texts(at.caption)
    assert "Set by your teacher: dataset" in texts(at.caption) and "CIFAR" in texts(at.caption)
    write_cifar_cache(cache)
    at = open_page(PAGE, {"ds": "cifar10", "classroom": "1", "cls": "4"})
    assert_clean(at, "classroom, dataset there")
    assert at.radio(key="data.ch") is not None and link(at)["ds"] == "cifar10"


def test_overview_is_per_dataset_and_folder(cache):
    from ui import data_views as dv

    a = dv.overview("shipped5k", str(datasets.folder("shipped5k")))
    assert a.train_counts == (500,) * 10 and sum(a.test_counts) == 10_000
    assert a.examples.startswith(b"\x89PNG") and a.means.startswith(b"\x89PNG")  # encoded once per dataset
    assert len(a.examples) < 400_000
    images, labels = write_cifar_cache(cache)
    b = dv.overview("cifar10", str(datasets.folder("cifar10")))
    assert b.train_counts == (6,) * 10 and len(b.mean) == 3
    np.testing.assert_allclose(b.mean, (images / 255).mean(axis=(0, 1, 2)), rtol=1e-9)


def test_damaged_download_is_explained_and_offered_again(cache):
    write_cifar_cache(cache)
    images = cache / "cifar-10" / datasets.CIFAR_NAMES[0]
    images.write_bytes(images.read_bytes()[:-100])
    at = open_page(PAGE, {"ds": "cifar10"})
    assert_clean(at, "damaged CIFAR cache")
    assert "could not be read" in texts(at.error) and "truncated" in texts(at.error)
    assert "shipped MNIST digits could not be read" not in texts(at.error)
    assert any("Download again CIFAR-10" in b.label for b in at.button)
    assert at.selectbox(key="data.cls").options[0] == "0"  # the shipped digits meanwhile


def test_without_the_shipped_files_the_page_explains(no_data):
    at = open_page(PAGE)
    assert_clean(at, "data page without data/")
    assert "shipped MNIST digits could not be read" in texts(at.error) and "missing" in texts(at.error)
