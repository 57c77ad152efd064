"""core.infer.uploads: built-in pictures and the untrusted-upload decoder."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from core.lessons import kernels as kernel_lib

from core.infer import uploads as images

from core.lessons import pictures


def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def header_only_png(width: int, height: int) -> bytes:
    """A PNG that claims width×height pixels but carries almost no data: a decompression-bomb probe."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


# ---------------------------------------------------------------------------------------------
# Built-ins


@pytest.mark.parametrize("key", list(pictures.BUILTIN_IMAGES))
def test_builtin_images_are_grey_and_small(key):
    img = pictures.builtin_image(key)
    assert img.dtype == np.float64 and img.ndim == 2
    assert max(img.shape) <= images.DISPLAY_MAX_SIDE
    assert 0.0 <= img.min() and img.max() <= 1.0
    assert img.std() > 0.05  # not blank
    assert not img.flags.writeable  # cached: callers must not change it
    assert pictures.BUILTIN_IMAGES[key].label and pictures.BUILTIN_IMAGES[key].description


def test_specific_builtins():
    np.testing.assert_array_equal(pictures.builtin_image("worked"), kernel_lib.WORKED_IMAGE)
    assert pictures.builtin_image("digit3").shape == (28, 28)
    assert pictures.builtin_image("photo").shape == (192, 192)
    np.testing.assert_array_equal(pictures.make_photo(), pictures.make_photo())  # deterministic
    with pytest.raises(ValueError, match="Unknown built-in image"):
        pictures.builtin_image("nope")


# ---------------------------------------------------------------------------------------------
# Valid uploads


def test_rgb_png_to_luma_grey():
    arr = np.zeros((4, 6, 3), dtype=np.uint8)
    arr[..., 0] = 255  # pure red
    arr[2:, :, :] = (0, 255, 0)  # pure green below
    out = images.decode_upload(encode(Image.fromarray(arr)))
    assert out.format == "PNG" and out.original_size == (6, 4)
    np.testing.assert_allclose(out.pixels[0], 0.299)
    np.testing.assert_allclose(out.pixels[3], 0.587)
    assert any("grayscale" in n for n in out.notes)


def test_large_image_is_shrunk_keeping_aspect():
    img = Image.fromarray(np.tile(np.linspace(0, 255, 1000, dtype=np.uint8), (400, 1)))
    out = images.decode_upload(encode(img))
    assert out.pixels.shape == (102, 256)
    assert any("Shrunk from 1000×400 to 256×102" in n for n in out.notes)
    assert out.pixels[:, 0].mean() < 0.05 and out.pixels[:, -1].mean() > 0.95


def test_small_image_is_not_enlarged_and_one_pixel_works():
    out = images.decode_upload(encode(Image.new("L", (1, 1), 200)))
    assert out.pixels.shape == (1, 1)
    assert out.pixels[0, 0] == pytest.approx(200 / 255)
    assert out.notes == ()


def test_jpeg_upload():
    img = Image.fromarray(np.full((300, 200), 128, dtype=np.uint8))
    out = images.decode_upload(encode(img, "JPEG", quality=95))
    assert out.format == "JPEG" and max(out.pixels.shape) <= 256
    assert out.pixels.mean() == pytest.approx(128 / 255, abs=0.02)


def test_jpeg_exif_rotation_is_applied():
    img = Image.new("L", (40, 20), 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    out = images.decode_upload(encode(img, "JPEG", exif=exif.tobytes()))
    assert out.pixels.shape == (40, 20)


@pytest.mark.parametrize("ink,background", [(0, 1.0), (255, 0.0)])
def test_transparency_on_the_contrasting_background(ink, background):
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[4:6, 4:6] = (ink, ink, ink, 255)  # a small opaque square, the rest fully transparent
    out = images.decode_upload(encode(Image.fromarray(rgba, "RGBA")))
    assert out.pixels[0, 0] == pytest.approx(background)
    assert out.pixels[5, 5] == pytest.approx(ink / 255)
    assert any(("white" if background else "black") in n for n in out.notes)


def test_fully_transparent_and_half_transparent_pixels():
    out = images.decode_upload(encode(Image.new("RGBA", (1, 1), (0, 0, 0, 0))))
    assert out.pixels.shape == (1, 1) and 0.0 <= out.pixels[0, 0] <= 1.0
    half = images.decode_upload(encode(Image.new("LA", (3, 3), (0, 128))))  # black at 50% on white
    np.testing.assert_allclose(half.pixels, 1 - 128 / 255, atol=1e-9)


def test_palette_with_transparency_and_sixteen_bit():
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    pal.info["transparency"] = 1
    pal.putpixel((0, 0), 1)
    out = images.decode_upload(encode(pal, transparency=1))
    assert out.pixels.shape == (4, 4) and out.pixels[0, 0] == pytest.approx(1.0)  # transparent on white
    deep = Image.fromarray(np.array([[0, 65535], [32768, 0]], dtype=np.uint16))
    np.testing.assert_allclose(images.decode_upload(encode(deep)).pixels, [[0, 1], [32768 / 65535, 0]])


# ---------------------------------------------------------------------------------------------
# Refused uploads


def test_too_many_bytes():
    with pytest.raises(images.ImageError, match="8.0 MB"):
        images.decode_upload(b"\0" * (images.MAX_UPLOAD_BYTES + 1))
    with pytest.raises(images.ImageError, match="empty"):
        images.decode_upload(b"")


def test_too_many_pixels_refused_before_decoding():
    bomb = header_only_png(8000, 6000)  # 48 MP claimed in a ~100-byte file
    t0 = time.perf_counter()
    with pytest.raises(images.ImageError, match="8000×6000 pixels .48.0 megapixels.*40 megapixels"):
        images.decode_upload(bomb)
    assert time.perf_counter() - t0 < 1.0


def test_real_oversized_image():
    raw = encode(Image.new("1", (7000, 6000)))  # 42 MP, a few kB as PNG
    assert len(raw) < images.MAX_UPLOAD_BYTES
    with pytest.raises(images.ImageError, match="megapixels"):
        images.decode_upload(raw)


def test_pil_decompression_bomb_error_is_an_image_error():
    # 100k × 100k exceeds PIL's own hard limit: PIL refuses in open(), we turn it into our message
    with pytest.raises(images.ImageError, match="decompression bomb|megapixels"):
        images.decode_upload(header_only_png(100_000, 100_000), max_pixels=10**12)


@pytest.mark.parametrize("raw,match", [
    (b"hello, this is a text file", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image|could not be opened|damaged"),
])
def test_non_images(raw, match):
    with pytest.raises(images.ImageError, match=match):
        images.decode_upload(raw)


def test_other_formats_are_refused():
    with pytest.raises(images.ImageError, match="PNG and JPEG.*GIF"):
        images.decode_upload(encode(Image.new("L", (8, 8)), "GIF"))
    with pytest.raises(images.ImageError, match="PNG and JPEG.*BMP"):
        images.decode_upload(encode(Image.new("L", (8, 8)), "BMP"))


def test_truncated_and_corrupted_png():
    raw = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)))
    with pytest.raises(images.ImageError, match="damaged or incomplete"):
        images.decode_upload(raw[: len(raw) // 2])
    corrupt = bytearray(raw)
    idat = raw.index(b"IDAT")
    corrupt[idat + 20] ^= 0xFF  # flip bits inside the pixel data: the chunk's CRC no longer matches
    with pytest.raises(images.ImageError, match="damaged or incomplete"):
        images.decode_upload(bytes(corrupt))


def test_truncated_jpeg():
    raw = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)), "JPEG")
    with pytest.raises(images.ImageError, match="damaged or incomplete"):
        images.decode_upload(raw[: len(raw) // 2])


# ---------------------------------------------------------------------------------------------
# The same reader for files named on a command line


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_shows_the_picture_upright(fmt, orientation):
    """An L-shaped mark stored as a camera would for each orientation reads back upright."""
    upright = np.zeros((40, 24), np.uint8)  # (H, W): taller than wide
    upright[4:36, 4:10] = 255  # the stem of an "L"...
    upright[30:36, 4:20] = 255  # ...and its foot, bottom left
    inverse = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
               4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
               7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}  # what the camera stored
    stored = Image.fromarray(upright)
    if orientation in inverse:
        stored = stored.transpose(inverse[orientation])
    extra = {"quality": 95} if fmt == "JPEG" else {}
    out = images.decode_upload(encode(stored, fmt, exif=_exif(orientation), **extra))
    assert out.pixels.shape == (40, 24)
    np.testing.assert_allclose(out.pixels, upright / 255.0, atol=0.2)
    assert out.original_size == (24, 40)


def test_read_image_file_uses_the_upload_reader(tmp_path):
    path = tmp_path / "d.png"
    Image.fromarray(np.full((300, 600), 200, np.uint8)).save(path)
    out = images.read_image_file(path)
    np.testing.assert_array_equal(out.pixels, images.decode_upload(path.read_bytes()).pixels)
    assert out.pixels.shape == (128, 256)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(images.ImageError, match="could not be opened|damaged"):
        images.read_image_file(tmp_path / "bad.png")


def test_read_image_file_refuses_what_is_not_a_regular_file(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.png")  # opening it would wait for a writer forever
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "dir.png").mkdir()
    cases = {"pipe.png": "named pipe", "loop.png": "loops", "dir.png": "folder", "none.png": "no such file"}
    for name, reason in cases.items():
        with pytest.raises(images.ImageError, match=reason):
            images.read_image_file(tmp_path / name)
    with pytest.raises(images.ImageError, match="device"):
        images.read_image_file("/dev/zero")


def test_read_image_file_has_the_upload_size_limit(tmp_path):
    path = tmp_path / "big.png"
    with open(path, "wb") as fh:
        fh.truncate(images.MAX_UPLOAD_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(images.ImageError, match="limit"):
        images.read_image_file(path)
