"""Hostile files: uploads, model files and shipped data that are wrong, damaged, huge or missing.

Adds what tests/test_images.py, tests/test_inference.py and tests/test_data.py do not already cover, and
checks the pages, not only core: a bad file must give a sentence on the page, never a traceback.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image

from core.data import mnist as data

from core.infer import uploads as images

from core.lessons import pictures
from core.infer.runtime import ModelRefused, default_model_path, list_models, load_model
from core.infer.model_card import sha256_file, sidecar_path
from tests.apptest_checks import assert_clean, open_page, texts
from tests.hostile_models import copy_shipped

def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def header_only_png(width: int, height: int) -> bytes:
    """A valid PNG header that declares width×height pixels, with almost no pixel data behind it."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def noise_png(megabytes: float) -> bytes:
    """An RGB noise PNG of about ``megabytes`` MB (noise does not compress)."""
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    return encode(Image.fromarray(np.random.default_rng(1).integers(0, 256, (side, side, 3), dtype=np.uint8)))


# ---------------------------------------------------------------------------------------------
# Uploads: core.infer.uploads.decode_upload


def test_30000_square_decompression_bomb_is_refused_before_decoding():
    bomb = header_only_png(30_000, 30_000)  # 900 megapixels (2.7 GB decoded) in ~100 bytes
    assert len(bomb) < 200
    t0 = time.perf_counter()
    with pytest.raises(images.ImageError, match="decompression bomb|megapixels"):
        images.decode_upload(bomb)
    assert time.perf_counter() - t0 < 1.0


def test_multi_megabyte_photo_under_the_limit_is_decoded_and_shrunk():
    raw = noise_png(5)
    assert 4 * 2**20 < len(raw) < images.MAX_UPLOAD_BYTES
    out = images.decode_upload(raw)
    assert max(out.pixels.shape) == images.DISPLAY_MAX_SIDE
    assert np.isfinite(out.pixels).all() and 0 <= out.pixels.min() and out.pixels.max() <= 1
    assert any("Shrunk" in n for n in out.notes)


def test_multi_megabyte_random_bytes_are_not_an_image():
    raw = np.random.default_rng(2).integers(0, 256, 3 * 2**20, dtype=np.uint8).tobytes()
    with pytest.raises(images.ImageError, match="not an image"):
        images.decode_upload(raw)


@pytest.mark.parametrize("raw", [
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
    b"PK\x03\x04" + b"\0" * 100,  # a zip
    b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>",
    b"\xff\xd8\xff",  # the first bytes of a JPEG and nothing more
    b"\x89PNG\r\n\x1a\n",  # the PNG signature and nothing more
], ids=["pdf", "zip", "svg", "jpeg_stub", "png_stub"])
def test_wrong_types_and_stubs_are_refused(raw):
    with pytest.raises(images.ImageError):
        images.decode_upload(raw)


@pytest.mark.parametrize("fmt", ["TIFF", "WEBP", "ICO"])
def test_real_images_in_other_formats_are_refused_by_name(fmt):
    try:
        raw = encode(Image.new("RGB", (16, 16), (9, 9, 9)), fmt)
    except (KeyError, OSError):  # this Pillow build cannot write the format
        pytest.skip(f"Pillow cannot write {fmt} here")
    with pytest.raises(images.ImageError, match="PNG and JPEG"):
        images.decode_upload(raw)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_one_pixel_images_of_every_mode(mode):
    out = images.decode_upload(encode(Image.new(mode, (1, 1))))
    assert out.pixels.shape == (1, 1) and np.isfinite(out.pixels).all()
    assert 0.0 <= out.pixels[0, 0] <= 1.0


@pytest.mark.parametrize("mode,fill", [("RGBA", (200, 10, 10, 0)), ("LA", (255, 0)), ("RGBA", (0, 0, 0, 0))])
def test_fully_transparent_images_are_uniform_and_finite(mode, fill):
    out = images.decode_upload(encode(Image.new(mode, (64, 48), fill)))
    assert out.pixels.shape == (48, 64)
    assert np.isfinite(out.pixels).all() and np.ptp(out.pixels) == 0
    assert 0.0 <= out.pixels[0, 0] <= 1.0


def test_extreme_aspect_ratios_keep_at_least_one_pixel():
    wide = images.decode_upload(encode(Image.new("L", (5000, 1), 255)))
    assert wide.pixels.shape == (1, 256)
    tall = images.decode_upload(encode(Image.new("L", (1, 5000), 255)))
    assert tall.pixels.shape == (256, 1)


def test_cmyk_jpeg_is_converted_to_grey():
    out = images.decode_upload(encode(Image.new("CMYK", (20, 10), (0, 0, 0, 0)), "JPEG"))
    assert out.format == "JPEG" and out.pixels.shape == (10, 20)
    assert out.pixels.mean() > 0.9  # no ink on CMYK paper: white


# ---------------------------------------------------------------------------------------------
# Uploads through the filters page


def upload(name: str, raw: bytes, mime: str = "image/png"):
    at = open_page("pages/filters.py")
    at.selectbox(key="filters.img").set_value("upload").run()
    at.file_uploader(key="filters.file").set_value((name, raw, mime)).run()
    assert_clean(at, f"filters upload {name}")
    return at


@pytest.mark.parametrize("name,raw,message", [
    ("bomb.png", header_only_png(30_000, 30_000), "decompression bomb|megapixels"),
    ("empty.png", b"", "empty"),
    ("anim.png", encode(Image.new("P", (8, 8)), "GIF"), "PNG and JPEG"),
    ("noise.png", np.random.default_rng(3).integers(0, 256, 3 * 2**20, dtype=np.uint8).tobytes(), "not an image"),
], ids=["bomb_30000", "empty", "gif_named_png", "3MB_random_bytes"])
def test_bad_uploads_explain_on_the_page(name, raw, message):
    import re

    at = upload(name, raw)
    error = texts(at.error)
    assert name in error and re.search(message, error), error
    assert at.get("plotly_chart"), "the page must keep working with the built-in picture"


@pytest.mark.parametrize("name,raw", [
    ("clear.png", encode(Image.new("RGBA", (32, 32), (0, 0, 0, 0)))),
    ("dot.png", encode(Image.new("RGBA", (1, 1), (255, 255, 255, 255)))),
    ("big.png", noise_png(5)),
], ids=["fully_transparent", "one_pixel_rgba", "5MB_photo"])
def test_odd_but_valid_uploads_render(name, raw):
    at = upload(name, raw)
    assert name in texts(at.caption)
    assert at.get("plotly_chart")


# ---------------------------------------------------------------------------------------------
# Model files: core.infer.runtime


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    src = default_model_path()
    dst = tmp_path / "net.onnx"
    shutil.copyfile(src, dst)
    shutil.copyfile(sidecar_path(src), sidecar_path(dst))
    return dst


def set_card(path: Path, **changes) -> None:
    card = json.loads(sidecar_path(path).read_text())
    card.update(changes)
    sidecar_path(path).write_text(json.dumps(card))


@pytest.mark.parametrize("content", [b"", b"\0" * 1000, b"not a protobuf at all" * 50,
                                     np.random.default_rng(4).bytes(300_000)],
                         ids=["empty", "zeros", "text", "random_300kB"])
def test_corrupt_model_with_a_matching_digest_is_refused(model_copy, content):
    model_copy.write_bytes(content)
    set_card(model_copy, sha256=sha256_file(model_copy))  # the sidecar vouches for it: the graph check must refuse
    with pytest.raises(ModelRefused, match="not a valid model"):
        load_model(model_copy)


@pytest.mark.parametrize("card", ["", "[]", "null", '{"name": 1}', "{" * 10_000, json.dumps({"sha256": 5})],
                         ids=["empty", "list", "null", "fields_missing", "deep_garbage", "wrong_types"])
def test_broken_sidecars_are_refused_with_a_reason(model_copy, card):
    sidecar_path(model_copy).write_text(card)
    with pytest.raises(ModelRefused) as info:
        load_model(model_copy)
    assert str(info.value)


def test_sidecar_with_a_bogus_shape_or_normalisation_is_refused(model_copy):
    set_card(model_copy, input_shape=[3, 32, 32])
    with pytest.raises(ModelRefused, match="expected .image. \\(N, 3, 32, 32\\)"):  # a valid shape, not this graph's
        load_model(model_copy)
    set_card(model_copy, input_shape=[1, 28, 28], std=0)
    with pytest.raises(ModelRefused, match="std"):
        load_model(model_copy)


def test_a_folder_named_like_a_model_is_refused(tmp_path):
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(ModelRefused, match="a folder, not a file"):
        load_model(tmp_path / "dir.onnx")


def _graph(tmp_path: Path, inputs, outputs, nodes) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs)
    path = tmp_path / "odd.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), path)
    shutil.copyfile(sidecar_path(default_model_path()), sidecar_path(path))
    set_card(path, sha256=sha256_file(path), activations=[])
    return path


def test_refuses_an_integer_input(tmp_path):
    from onnx import TensorProto, helper

    shape = ["N", 1, 28, 28]
    path = _graph(tmp_path, [helper.make_tensor_value_info("image", TensorProto.INT64, shape)],
                  [helper.make_tensor_value_info("logits", TensorProto.INT64, shape)],
                  [helper.make_node("Identity", ["image"], ["logits"])])
    with pytest.raises(ModelRefused, match="expected float32"):
        load_model(path)


def test_refuses_two_inputs(tmp_path):
    from onnx import TensorProto, helper

    shape = ["N", 1, 28, 28]
    path = _graph(tmp_path, [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("image", "extra")],
                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, shape)],
                  [helper.make_node("Add", ["image", "extra"], ["logits"])])
    with pytest.raises(ModelRefused, match="exactly one"):
        load_model(path)


def test_refuses_a_sidecar_promising_activations_the_graph_lacks(tmp_path):
    from onnx import TensorProto, helper

    shape = ["N", 1, 28, 28]
    path = _graph(tmp_path, [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, shape)],
                  [helper.make_node("Identity", ["image"], ["logits"])])
    set_card(path, activations=[{"name": "act_9", "layer": "conv9", "shape": [4, 5, 5]}])
    with pytest.raises(ModelRefused, match="does not output"):
        load_model(path)


# ---------------------------------------------------------------------------------------------
# Model files through the draw page


@pytest.fixture
def shipped_dir(tmp_path, monkeypatch) -> Path:
    """The draw page's shipped-model folder, pointed at an empty temp folder."""
    import core.infer.runtime

    global _REAL_MODEL
    _REAL_MODEL = default_model_path()
    folder = tmp_path / "exported"
    folder.mkdir()
    monkeypatch.setattr(core.infer.runtime, "SHIPPED_DIR", folder)
    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(tmp_path / "sessions"))
    return folder


_REAL_MODEL: Path | None = None  # the best real shipped model, found before SHIPPED_DIR is repointed


def _copy_shipped(folder: Path, stem: str) -> Path:
    assert _REAL_MODEL is not None
    return copy_shipped(folder, stem, _REAL_MODEL)


def test_draw_page_without_any_model_explains(shipped_dir):
    at = open_page("pages/draw.py")
    assert_clean(at, "draw page, no model")
    assert "No usable model" in texts(at.error)


def test_draw_page_skips_a_broken_model_and_uses_a_good_one(shipped_dir):
    _copy_shipped(shipped_dir, "good")
    broken = _copy_shipped(shipped_dir, "broken")
    sidecar_path(broken).write_text("{oops")
    at = open_page("pages/draw.py", {"src": "test", "t": "3"})
    assert_clean(at, "draw page, one broken model")
    assert "skipped" in texts(at.warning) and "broken" in texts(at.warning)
    assert "**Prediction:" in texts(at.markdown)


def test_draw_page_refuses_a_tampered_shipped_model(shipped_dir):
    path = _copy_shipped(shipped_dir, "tampered")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    at = open_page("pages/draw.py")
    assert_clean(at, "draw page, tampered model")
    assert "SHA-256 does not match" in texts(at.error)


def test_draw_page_link_to_a_model_that_does_not_exist(shipped_dir):
    _copy_shipped(shipped_dir, "good")
    at = open_page("pages/draw.py", {"m": "../../etc/passwd"})
    assert_clean(at, "draw page, link to an unknown model")
    assert "could not use" in texts(at.warning)
    assert [e.path.stem for e in list_models()] == ["good"]


@pytest.mark.parametrize("sidecar", ["[" * 100_000 + "]" * 100_000, '{"notes": "' + "x" * 2_000_000 + '"}'],
                         ids=["nested_100000_deep", "2MB"])
def test_draw_page_survives_one_hostile_sidecar(shipped_dir, sidecar):
    """One deeply nested or huge sidecar once broke the Draw page for every model."""
    _copy_shipped(shipped_dir, "good")
    bad = _copy_shipped(shipped_dir, "bad")
    sidecar_path(bad).write_text(sidecar)
    at = open_page("pages/draw.py", {"src": "test", "t": "3"})
    assert_clean(at, "draw page, one hostile sidecar")
    assert "bad.json" in texts(at.warning)
    assert "**Prediction:" in texts(at.markdown)


def test_draw_page_model_failing_on_the_digit_explains(shipped_dir, tmp_path):
    """A model that passes the load-time checks but fails inside onnxruntime on a real digit."""
    from tests.hostile_models import fails_on_digits

    fails_on_digits(shipped_dir)
    at = open_page("pages/draw.py", {"src": "test", "t": "3"})
    assert_clean(at, "draw page, model failing on a digit")
    assert "onnxruntime failed while running it" in texts(at.error)


# ---------------------------------------------------------------------------------------------
# Shipped data: core.data.mnist and the pages that need it


def _write(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


def test_every_missing_shipped_file_is_named(tmp_path):
    for loader, names in ((data.load_shipped_train, data.SHIPPED_TRAIN), (data.load_test, data.SHIPPED_TEST)):
        with pytest.raises(data.DataError, match=f"{names[0]} is missing"):
            loader(tmp_path)
        shutil.copyfile(data.DATA_DIR / names[0], tmp_path / names[0])
        with pytest.raises(data.DataError, match=f"{names[1]} is missing"):
            loader(tmp_path)


@pytest.mark.parametrize("raw,message", [
    (b"", "too short"),
    (b"this is not gzip nor idx", "magic number"),
    (gzip.compress(b"\0\0\x08\x03")[:-4], "decompressed"),  # truncated gzip stream
    (gzip.compress(data.encode_idx(np.zeros(3, np.uint8))), "magic number 2049, expected 2051"),  # labels as images
    (gzip.compress(data.encode_idx(np.zeros((2, 28, 28), np.uint8)) + b"extra"), "trailing bytes"),
], ids=["empty", "text", "truncated_gzip", "labels_as_images", "trailing"])
def test_damaged_image_file_gives_a_clear_data_error(tmp_path, raw, message):
    _write(tmp_path / data.SHIPPED_TEST[0], raw)
    shutil.copyfile(data.DATA_DIR / data.SHIPPED_TEST[1], tmp_path / data.SHIPPED_TEST[1])
    with pytest.raises(data.DataError, match=message):
        data.load_test(tmp_path)


def test_images_and_labels_that_disagree(tmp_path):
    _write(tmp_path / data.SHIPPED_TEST[0], gzip.compress(data.encode_idx(np.zeros((3, 28, 28), np.uint8))))
    _write(tmp_path / data.SHIPPED_TEST[1], gzip.compress(data.encode_idx(np.zeros(2, np.uint8))))
    with pytest.raises(data.DataError, match="3 images but 2 labels"):
        data.load_test(tmp_path)
    _write(tmp_path / data.SHIPPED_TEST[1], gzip.compress(data.encode_idx(np.full(3, 11, np.uint8))))
    with pytest.raises(data.DataError, match="label 11 is not a digit"):
        data.load_test(tmp_path)


def _clear_data_caches() -> None:
    data.load_shipped_train.cache_clear()
    data.load_test.cache_clear()
    pictures._builtin_cached.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """The shipped MNIST files are gone. AppTest runs pages in this process, so the loaders' default
    folder (bound when core.data.mnist was imported) is repointed, and every cache that may hold digits is
    cleared before and after."""
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setattr(data, "DATA_DIR", empty)
    for loader in (data.load_shipped_train, data.load_test):
        monkeypatch.setattr(loader.__wrapped__, "__defaults__", (empty,))
    _clear_data_caches()
    yield empty
    _clear_data_caches()


def test_no_data_fixture_really_hides_the_data(no_data):
    with pytest.raises(data.DataError, match="missing"):
        data.load_test()
    with pytest.raises(data.DataError, match="missing"):
        pictures.builtin_image("digit3")


def _friendly(at, context: str) -> str:
    assert_clean(at, context)
    message = texts(at.error) + texts(at.warning) + texts(at.info)
    assert "missing" in message or "data" in message.lower(), f"{context}: no message about the data: {message!r}"
    return message


@pytest.mark.parametrize("src", ["digit", "feature"])
def test_pooling_without_data_explains(no_data, src):
    at = open_page("pages/pooling.py")
    at.radio(key="pooling.src").set_value(src).run()
    _friendly(at, f"pooling src={src} without data")


def test_filters_digit_image_without_data_explains(no_data):
    at = open_page("pages/filters.py")
    at.selectbox(key="filters.img").set_value("digit3").run()
    _friendly(at, "filters img=digit3 without data")


def test_draw_test_digit_without_data_explains(no_data):
    at = open_page("pages/draw.py")
    at.radio(key="draw.src").set_value("test").run()
    _friendly(at, "draw src=test without data")


def test_pages_that_do_not_need_data_still_open_without_it(no_data):
    for file in ("pages/arithmetic.py", "pages/filters.py", "pages/pooling.py", "pages/draw.py", "pages/train.py"):
        at = open_page(file)
        assert_clean(at, f"{file} defaults without data")
        assert at.title


def test_train_button_without_data_explains(no_data):
    """The data is read when training starts: the Train button gets a sentence, not a traceback."""
    at = open_page("pages/train.py")
    at.button(key="train.go").click().run()
    message = _friendly(at, "train without data")
    assert "is missing" in message
    assert "train.result" not in at.session_state
