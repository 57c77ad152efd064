"""Export follows the dataset: Fashion-MNIST (1×28×28, clothing) and CIFAR-10 (3×32×32, colour) models go
through export → sidecar → model card → onnxruntime, on data downloaded from a local server in the real
formats (benchmarks/fake_datasets.py); old sidecars still read as MNIST digit models."""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import core.train.export as export
from benchmarks.fake_datasets import cifar_members, download_fake, idx_files, local_server, tar_gz
from core.data import registry as cds
from core.infer.runtime import SHIPPED_DIR, load_model, run_model
from core.infer.session_folders import session_dir
from core.infer.model_card import ModelCardError, card_from_dict, read_card, sidecar_path
from core.arch.spec import PRESETS
from core.arch.recipes import TrainConfig
from core.train.runner import fit
from core.train.tensors import to_tensor
from tests.conftest import REPO

SPEC = PRESETS["lenet5"]  # pads 28×28 to 32×32 in its first conv, so it takes both sizes
CIFAR_ROWS = 20  # per fake batch: 100 training, 20 test images


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache holding fake Fashion-MNIST and CIFAR-10, downloaded from 127.0.0.1; CONVLAB_CACHE points at it."""
    root = tmp_path_factory.mktemp("convlab-cache")
    www = tmp_path_factory.mktemp("www")
    rng = np.random.default_rng(5)
    fashion = idx_files((rng.integers(0, 256, (60, 28, 28), dtype=np.uint8), np.arange(60, dtype=np.uint8) % 10),
                        (rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12, dtype=np.uint8) % 10))
    with local_server(www) as url:
        download_fake("fashion", root, www / "fashion", url + "fashion/", fashion)
        download_fake("cifar10", root, www / "cifar", url + "cifar/",
                      {"cifar-10-python.tar.gz": tar_gz(cifar_members(CIFAR_ROWS))}, batch_rows=CIFAR_ROWS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONVLAB_CACHE", str(root))
        yield root


def _export(key: str, folder):
    result = fit(SPEC, TrainConfig(dataset=key, epochs=1, batch_size=16, val_fraction=0.2, seed=1))
    return result, export.export_model(result.model, SPEC, export.provenance(result, f"{key} net"), folder, key)


@pytest.fixture(scope="module")
def cifar(cache, tmp_path_factory):
    return _export("cifar10", tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def fashion(cache, tmp_path_factory):
    return _export("fashion", tmp_path_factory.mktemp("models"))


def test_cifar_export_records_its_dataset_and_runs_in_onnxruntime(cifar) -> None:
    result, out = cifar
    card = read_card(out.onnx_path)
    raw = json.loads(out.card_path.read_text())
    assert raw["dataset_key"] == "cifar10" and raw["input_shape"] == [3, 32, 32]
    assert raw["labels"] == list(cds.CIFAR10_CLASSES)
    assert raw["mean"] == list(cds.DATASETS["cifar10"].mean) and raw["std"] == list(cds.DATASETS["cifar10"].std)
    assert card.channel_mean == cds.DATASETS["cifar10"].mean and not card.reads_digits
    assert out.parity.digits == CIFAR_ROWS and out.parity.max_abs_logits <= export.PARITY_TOLERANCE  # its test images
    assert [a.shape for a in card.activations] == [(6, 32, 32), (16, 12, 12)]  # lenet5 on 3×32×32: pad 2 → 36 − 4
    model = load_model(out.onnx_path)
    test = cds.load_test("cifar10")
    x = card.normalise(test.images / 255.0)  # (20, 32, 32, 3) HWC → (20, 3, 32, 32)
    np.testing.assert_allclose(x, to_tensor(test.images, torch.device("cpu"), cds.info(test.key)).numpy(), atol=1e-6)
    with torch.inference_mode():
        expected = torch.softmax(result.model.cpu().eval()(torch.from_numpy(x)), 1).numpy()
    np.testing.assert_allclose(run_model(model, x).probs, expected, atol=1e-5)


def test_fashion_export_is_grey_28_with_clothing_names(fashion) -> None:
    _, out = fashion
    raw = json.loads(out.card_path.read_text())
    assert raw["dataset_key"] == "fashion" and raw["input_shape"] == [1, 28, 28]
    assert raw["labels"][9] == "Ankle boot" and raw["mean"] == pytest.approx(0.2860)  # one number: grey
    card = load_model(out.onnx_path).card
    assert card.input_shape == (1, 28, 28) and not card.reads_digits  # 28×28 grey, but not digits
    assert out.parity.digits == 12


def test_a_sidecar_from_before_datasets_reads_as_an_mnist_digit_model() -> None:
    raw = json.loads(sidecar_path(next(SHIPPED_DIR.glob("*.onnx"))).read_text())
    for field in ("dataset_key", "input_shape", "labels"):
        raw.pop(field, None)
    card = card_from_dict(raw)
    assert card.reads_digits and card.input_shape == (1, 28, 28) and card.labels == tuple("0123456789")
    assert card.dataset_key == "shipped5k" and card.channel_mean == (raw["mean"],)


@pytest.mark.parametrize("change, message", [
    ({"input_shape": [2, 28, 28]}, "channels 1 or 3"),
    ({"input_shape": [3, 28, 32]}, "same side"),
    ({"input_shape": [1, 64, 64]}, "28 or 32"),
    ({"input_shape": [3, 32, 32], "mean": [0.5, 0.5]}, "2 normalisation mean values for 3 channels"),
    ({"labels": ["only"]}, "2 to 100 class labels"),
    ({"std": [0.2, 0.0, 0.2], "mean": [0.5, 0.5, 0.5], "input_shape": [3, 32, 32]}, "positive"),
])
def test_model_card_checks_shapes_instead_of_refusing_colour(change, message) -> None:
    raw = json.loads(sidecar_path(next(SHIPPED_DIR.glob("*.onnx"))).read_text())
    with pytest.raises(ModelCardError, match=message):
        card_from_dict({**raw, **change})
    colour = {**raw, "input_shape": [3, 32, 32], "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.2],
              "labels": list(cds.CIFAR10_CLASSES), "dataset_key": "cifar10"}
    assert card_from_dict(colour).channel_std == (0.2, 0.2, 0.2)  # the valid colour card is accepted


def test_export_without_the_cached_test_images_says_so(cifar, tmp_path, monkeypatch) -> None:
    result, _ = cifar
    monkeypatch.setenv("CONVLAB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(export.ExportError, match="No test images.*Download"):
        export.export_model(result.model, SPEC, export.provenance(result), tmp_path / "out", "gone")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ---------------------------------------------------------------------------------------------
# The Draw and Network pages with a CIFAR-10 model of this session: a test-image picker, not the canvas


def _session_copy(out, tmp_path, monkeypatch, token: str) -> str:
    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(tmp_path))
    folder = session_dir(token)
    folder.mkdir(parents=True)
    shutil.copyfile(out.onnx_path, folder / out.onnx_path.name)
    shutil.copyfile(out.card_path, folder / out.card_path.name)
    return token


def _open(page: str, token: str, query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.session_state["convlab.session_token"] = token
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _bars(at: AppTest, first_class: str = "airplane") -> tuple[list[str], np.ndarray]:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        bar = spec["data"][0]
        if bar["type"] == "bar" and first_class in bar["x"]:
            y = bar["y"]
            y = np.frombuffer(base64.b64decode(y["bdata"]), y["dtype"]) if isinstance(y, dict) else np.asarray(y)
            return bar["x"], y
    raise AssertionError(f"no chart with the class names ({first_class}, …)")


def _image_captions(at: AppTest) -> str:
    return "\n".join(img.caption for element in at.get("image") for img in element.proto.imgs)


def test_draw_page_gives_a_cifar_model_a_test_image_picker(cifar, tmp_path, monkeypatch) -> None:
    _, out = cifar
    token = _session_copy(out, tmp_path, monkeypatch, "c" * 32)
    at = _open("pages/draw.py", token, {"t": "3"})
    key = f"session/{out.onnx_path.stem}"
    assert "test images, not drawings" in at.selectbox(key="draw.m").format_func(key)
    at.selectbox(key="draw.m").set_value(key).run()
    assert not at.exception, at.exception
    assert at.number_input(key="draw.t").value == 3  # the link's test-image number
    assert not any(r.key == "draw.src" for r in at.radio)  # no canvas / digit input for this model
    names, probs = _bars(at)
    test = cds.load_test("cifar10")
    expected = run_model(load_model(out.onnx_path), read_card(out.onnx_path).normalise(test.images[3:4] / 255.0))
    assert names == list(cds.CIFAR10_CLASSES)
    np.testing.assert_allclose(probs, expected.probs[0], atol=1e-6)
    assert f"test image #3: labelled **{cds.CIFAR10_CLASSES[test.labels[3]]}**" in _image_captions(at)
    at.number_input(key="draw.t").set_value(CIFAR_ROWS + 50).run()  # beyond this test set: clamped, no traceback
    assert not at.exception and at.number_input(key="draw.t").value <= CIFAR_ROWS - 1


def test_draw_page_gives_a_fashion_model_the_picker_too(fashion, tmp_path, monkeypatch) -> None:
    """Grey and 28×28 like MNIST, but clothing: not a model for drawn digits."""
    _, out = fashion
    token = _session_copy(out, tmp_path, monkeypatch, "a" * 32)
    at = _open("pages/draw.py", token)
    at.selectbox(key="draw.m").set_value(f"session/{out.onnx_path.stem}").run()
    assert not at.exception, at.exception
    assert not any(r.key == "draw.src" for r in at.radio)
    names, probs = _bars(at, "T-shirt/top")
    test = cds.load_test("fashion")
    expected = run_model(load_model(out.onnx_path), read_card(out.onnx_path).normalise(test.images[:1] / 255.0))
    assert names == list(cds.FASHION_CLASSES)
    np.testing.assert_allclose(probs, expected.probs[0], atol=1e-6)


def test_network_page_shows_every_layer_of_a_colour_model(cifar, tmp_path, monkeypatch) -> None:
    _, out = cifar
    token = _session_copy(out, tmp_path, monkeypatch, "f" * 32)
    at = _open("pages/network.py", token, {"m": f"session/{out.onnx_path.stem}", "t": "2"})
    text = "\n".join(m.value for m in at.markdown)
    assert not at.warning and not at.error, [w.value for w in (*at.warning, *at.error)]
    assert "`3×32×32`" in text  # the input view: the colour image
    assert "6×32×32" in text  # conv1's maps on 32×32 (pad 2, 5×5)
    assert not any("linear model learns" in h.value for h in at.subheader)  # digit templates: not for photos
    assert "test image #2: labelled" in _image_captions(at)
