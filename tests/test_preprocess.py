"""MNIST-style preprocessing of canvas drawings (core.infer.preprocess): every step, every skip, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from core.data.mnist import MNIST_MEAN, MNIST_STD, load_test
from core.infer.preprocess import (
    BOX, FRAME, MASS_CENTRE, Steps, centre_by_mass, centre_of_mass, ink_bbox, preprocess,
    shift_image, to_gray, to_model_input,
)

CANVAS = 280


def stroke_points(digit: str, box: tuple[float, float, float, float]) -> list[list[tuple[float, float]]]:
    """Polylines of a hand-drawn-looking digit inside box = (left, top, width, height), canvas pixels."""
    left, top, w, h = box

    def p(u: float, v: float) -> tuple[float, float]:
        return left + u * w, top + v * h

    if digit == "1":
        return [[p(0.35, 0.15), p(0.6, 0.0), p(0.55, 1.0)]]
    if digit == "7":
        return [[p(0.0, 0.05), p(1.0, 0.0), p(0.45, 1.0)]]
    if digit == "0":
        t = np.linspace(0, 2 * np.pi, 40)
        return [[p(0.5 + 0.5 * np.sin(a), 0.5 - 0.5 * np.cos(a)) for a in t]]
    if digit == "4":
        return [[p(0.6, 0.0), p(0.0, 0.65), p(1.0, 0.65)], [p(0.7, 0.3), p(0.7, 1.0)]]
    raise ValueError(digit)


def draw_digit(digit: str, box: tuple[float, float, float, float], width: int = 18, size: int = CANVAS,
               ink=(255, 255, 255, 255), paper=(0, 0, 0, 255)) -> np.ndarray:
    """An RGBA canvas like streamlit-drawable-canvas returns: (size, size, 4) uint8."""
    img = Image.new("RGBA", (size, size), paper)
    draw = ImageDraw.Draw(img)
    for line in stroke_points(digit, box):
        draw.line(line, fill=ink, width=width, joint="curve")
        r = width / 2
        for x, y in (line[0], line[-1]):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=ink)
    return np.asarray(img)


def assert_centred(image: np.ndarray) -> None:
    """28×28 in 0..1, ink longer side ≈ 20 px, centre of mass within a pixel of the frame's centre."""
    assert image.shape == (FRAME, FRAME) and image.dtype == np.float32
    assert image.min() >= 0 and image.max() <= 1
    top, left, bottom, right = ink_bbox(image, threshold=0.05)
    assert BOX - 2 <= max(bottom - top, right - left) <= BOX + 2
    cy, cx = centre_of_mass(image)
    assert abs(cy - MASS_CENTRE) <= 1.0 and abs(cx - MASS_CENTRE) <= 1.0


def blur3(image: np.ndarray) -> np.ndarray:
    padded = np.pad(image, 1)
    return sum(padded[i:i + image.shape[0], j:j + image.shape[1]] for i in range(3) for j in range(3)) / 9


CASES = {
    "small in a corner": ((8, 10, 40, 55), 6),
    "large": ((20, 5, 240, 270), 24),
    "thick": ((70, 40, 140, 200), 40),
    "thin": ((70, 40, 140, 200), 3),
    "off-centre": ((175, 150, 90, 120), 14),
}


@pytest.mark.parametrize("digit", ["1", "0", "7", "4"])
@pytest.mark.parametrize("case", list(CASES))
def test_synthetic_drawings_end_up_centred(digit: str, case: str) -> None:
    box, width = CASES[case]
    pre = preprocess(draw_digit(digit, box, width))
    assert not pre.empty
    assert_centred(pre.image)


@pytest.mark.parametrize("digit, other_digit", [("1", "7"), ("0", "4"), ("7", "1")])
def test_same_digit_anywhere_any_size_gives_a_similar_image(digit: str, other_digit: str) -> None:
    def sample(d: str, box, width) -> np.ndarray:
        # Thin strokes one pixel apart do not overlap: compare the images blurred over 3×3 pixels.
        return blur3(preprocess(draw_digit(d, box, width)).image).ravel()

    reference = sample(digit, (70, 40, 140, 200), 16)  # aspect 0.7, like every variant below
    different = sample(other_digit, (70, 40, 140, 200), 16)
    for box, width in [((5, 5, 42, 60), 5), ((170, 160, 80, 115), 11), ((10, 2, 190, 272), 30)]:
        other = sample(digit, box, width)
        same = np.corrcoef(reference, other)[0, 1]
        assert same > 0.8, (box, same)
        assert same > np.corrcoef(different, other)[0, 1] + 0.2


def test_aspect_ratio_is_kept() -> None:
    pre = preprocess(draw_digit("1", (100, 20, 60, 240), 14))
    h, w = pre.scaled.shape
    assert h == BOX and w < 10  # a tall narrow "1" stays tall and narrow
    wide = preprocess(draw_digit("0", (10, 100, 260, 80), 14))
    assert wide.scaled.shape[1] == BOX and wide.scaled.shape[0] < 10


def test_crop_box_is_the_ink_bounding_box() -> None:
    canvas = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[50:150, 30:90, :3] = 255
    pre = preprocess(canvas)
    assert pre.bbox == (50, 30, 150, 90)
    assert pre.cropped.shape == (100, 60)
    assert pre.scaled.shape == (20, 12)


def test_dark_ink_on_light_paper_is_inverted() -> None:
    light = draw_digit("7", (60, 40, 150, 200), 16)
    dark = draw_digit("7", (60, 40, 150, 200), 16, ink=(20, 20, 20, 255), paper=(250, 250, 250, 255))
    a, b = preprocess(light), preprocess(dark)
    assert not a.inverted and b.inverted
    np.testing.assert_allclose(a.image, b.image, atol=0.02)


def test_black_ink_on_transparent_background() -> None:
    light = preprocess(draw_digit("0", (60, 40, 150, 200), 16)).image
    transparent = draw_digit("0", (60, 40, 150, 200), 16, ink=(0, 0, 0, 255), paper=(0, 0, 0, 0))
    np.testing.assert_allclose(preprocess(transparent).image, light, atol=0.02)


def test_canvas_stroke_on_transparent_background() -> None:
    light = preprocess(draw_digit("4", (60, 40, 150, 200), 16)).image
    transparent = draw_digit("4", (60, 40, 150, 200), 16, paper=(0, 0, 0, 0))
    np.testing.assert_allclose(preprocess(transparent).image, light, atol=0.02)


@pytest.mark.parametrize("image, reason", [
    (np.zeros((CANVAS, CANVAS, 4), np.uint8), "blank"),
    (np.full((CANVAS, CANVAS, 3), 255, np.uint8), "blank"),
    (np.zeros((28, 28), np.float32), "blank"),
])
def test_blank_input_is_no_digit(image: np.ndarray, reason: str) -> None:
    pre = preprocess(image)
    assert pre.empty and reason in pre.reason
    assert not pre.image.any()


def test_a_speck_is_no_digit() -> None:
    canvas = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[100:103, 100:103, :3] = 255  # 9 pixels
    pre = preprocess(canvas)
    assert pre.empty and "speck" in pre.reason


def test_faint_noise_is_no_digit() -> None:
    rng = np.random.default_rng(0)
    noise = (rng.random((CANVAS, CANVAS)) * 20).astype(np.uint8)  # at most 8% grey
    assert preprocess(noise).empty


def test_skip_crop_uses_the_whole_canvas() -> None:
    image = draw_digit("1", (20, 20, 40, 60), 6)  # small, top-left
    pre = preprocess(image, Steps(crop=False))
    assert pre.cropped.shape == (CANVAS, CANVAS)
    assert pre.scaled.shape == (BOX, BOX)
    # The whole 280-px canvas shrunk to 20 px: the digit becomes a few pixels.
    assert ink_bbox(pre.image, 0.05)[2] - ink_bbox(pre.image, 0.05)[0] <= 6


def test_skip_fit_stretches_to_the_frame() -> None:
    pre = preprocess(draw_digit("1", (100, 20, 60, 240), 14), Steps(fit=False))
    assert pre.scaled.shape == (FRAME, FRAME)
    assert ink_bbox(pre.image, 0.05)[3] - ink_bbox(pre.image, 0.05)[1] >= 26  # a "1" stretched wide


def test_skip_centre_keeps_the_geometric_placement() -> None:
    image = draw_digit("7", (60, 40, 150, 200), 16)
    on, off = preprocess(image), preprocess(image, Steps(center=False))
    assert off.shift == (0, 0)
    np.testing.assert_array_equal(off.image, off.placed)
    np.testing.assert_array_equal(on.placed, off.placed)
    assert on.shift != (0, 0)  # a 7's ink is top-heavy: centring by mass moves it


def test_skip_invert_shows_the_model_a_light_square() -> None:
    dark = draw_digit("0", (60, 40, 150, 200), 16, ink=(0, 0, 0, 255), paper=(255, 255, 255, 255))
    pre = preprocess(dark, Steps(invert=False))
    assert not pre.inverted
    assert pre.bbox == (0, 0, CANVAS, CANVAS)  # the white paper itself counts as "ink"
    assert np.count_nonzero(pre.image > 0.5) > 300  # the model sees a light square with a dark ring


def test_centre_by_mass_never_pushes_ink_out() -> None:
    image = np.zeros((FRAME, FRAME), np.float32)
    image[5:20, 0:5] = 1.0  # the mass is far left and wants to move right by 11 px...
    image[12, 0:FRAME] = 0.05  # ...but a faint line reaches the right edge and holds it
    shifted, (dy, dx) = centre_by_mass(image)
    assert dx == 0 and dy == 2
    assert shifted.sum() == pytest.approx(image.sum())


def test_shift_image_matches_numpy_roll_without_wraparound() -> None:
    rng = np.random.default_rng(1)
    image = rng.random((FRAME, FRAME)).astype(np.float32)
    for dy, dx in [(2, -3), (-5, 4), (0, 0), (27, 0)]:
        expected = np.roll(image, (dy, dx), axis=(0, 1))
        rows = slice(dy, None) if dy >= 0 else slice(None, dy)
        cols = slice(dx, None) if dx >= 0 else slice(None, dx)
        got = shift_image(image, dy, dx)
        np.testing.assert_array_equal(got[rows, cols], expected[rows, cols])
        assert got.sum() <= image.sum() + 1e-4


def test_mnist_test_digits_pass_through_almost_unchanged() -> None:
    test = load_test()
    digits = test.images[::100] / 255.0  # 100 digits, already MNIST-preprocessed
    out = np.stack([preprocess(d).image for d in test.images[::100]])
    diff = np.abs(out - digits).mean(axis=(1, 2))
    assert np.median(diff) < 0.01 and diff.max() < 0.1


def test_to_model_input_normalises_like_training() -> None:
    image = np.linspace(0, 1, FRAME * FRAME, dtype=np.float32).reshape(FRAME, FRAME)
    x = to_model_input(image, MNIST_MEAN, MNIST_STD)
    assert x.shape == (1, 1, FRAME, FRAME) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], (image - 0.1307) / 0.3081, rtol=1e-6)
    with pytest.raises(ValueError, match="28×28"):
        to_model_input(np.zeros((20, 20)), MNIST_MEAN, MNIST_STD)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((5, 5, 2), np.uint8), "grayscale, RGB or RGBA"),
    (np.zeros((0, 5), np.uint8), "empty"),
    (np.full((5, 5), np.nan, np.float32), "NaN"),
    (np.zeros((5, 5), np.int64), "uint8"),
    (np.zeros((5000, 10), np.uint8), "limit"),
])
def test_bad_arrays_raise_a_readable_error(bad: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preprocess(bad)


def test_to_gray_uses_luminance() -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    np.testing.assert_allclose(to_gray(rgb)[0, 0], 0.299, atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(
    left=st.integers(0, 200), top=st.integers(0, 200), w=st.integers(30, 270), h=st.integers(40, 270),
    width=st.integers(3, 30), digit=st.sampled_from(["1", "0", "7", "4"]),
)
def test_any_placement_and_size_is_centred(left: int, top: int, w: int, h: int, width: int, digit: str) -> None:
    w, h = min(w, CANVAS - left - 2), min(h, CANVAS - top - 2)
    if w < 25 or h < 35:
        return
    pre = preprocess(draw_digit(digit, (left, top, w, h), width))
    assert not pre.empty
    assert_centred(pre.image)
