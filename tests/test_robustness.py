"""The robustness set: each change does what its name says, measured on hand-made digits."""

from __future__ import annotations

import numpy as np
import pytest

from core.infer import robustness as rb


def bar(width: int = 2) -> np.ndarray:
    """A vertical stroke through the middle of the frame, rows 4..23."""
    d = np.zeros((28, 28), np.uint8)
    d[4:24, 14 - width // 2:14 - width // 2 + width] = 255
    return d


def ink_box(d: np.ndarray, level: int = 64) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(d > level)
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def test_every_variant_keeps_shape_and_dtype():
    digits = np.stack([bar(), bar(4)])
    for v in rb.VARIANTS:
        out = rb.make_set(digits, v.key)
        assert out.shape == digits.shape and out.dtype == np.uint8, v.key


def test_thick_and_thin_change_the_stroke_width():
    d = bar(4)
    ink = lambda img: int(img[14].astype(int).sum())  # one row's ink, in pixel-widths × 255  # noqa: E731
    assert ink(rb.make_set(d[None], "thick")[0]) >= ink(d) + 255  # at least a pixel wider
    assert 0 < ink(rb.make_set(d[None], "thin")[0]) <= ink(d) - 200  # about a pixel narrower (half each side)


def test_off_centre_moves_by_five_pixels_without_wrapping():
    d = np.zeros((28, 28), np.uint8)
    d[10, 12] = 200
    d[27, 27] = 99  # would wrap round to the top-left corner with np.roll
    out = rb.make_set(d[None], "offcentre")[0]
    assert out[15, 17] == 200 and out.sum() == 200


def test_small_shrinks_about_the_centre():
    top, left, bottom, right = ink_box(rb.make_set(bar(6)[None], "small")[0])
    assert 0.5 * 20 <= bottom - top <= 0.7 * 20 + 1  # the 20-row stroke at 60 %
    assert abs((top + bottom) / 2 - 14) <= 1


def test_slant_and_rotation_tilt_a_vertical_stroke():
    for key, sign in (("slant", +1), ("rot+15", -1), ("rot-15", +1)):  # PIL: + is anticlockwise
        out = rb.make_set(bar(2)[None], key)[0].astype(float)
        centre_x = [(out[r] * np.arange(28)).sum() / out[r].sum() for r in (6, 21)]
        lean = centre_x[0] - centre_x[1]  # top minus bottom: > 0 leans right at the top
        expected = {"slant": 0.3 * 15, "rot+15": np.tan(np.radians(15)) * 15, "rot-15": np.tan(np.radians(15)) * 15}
        assert sign * lean == pytest.approx(expected[key], abs=1.2), (key, lean)


def test_unknown_variant_and_bad_shape_are_refused():
    with pytest.raises(ValueError, match="Unknown robustness variant"):
        rb.make_set(np.zeros((1, 28, 28), np.uint8), "upside-down")
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        rb.make_set(np.zeros((28, 28), np.uint8), "thick")


def test_score_counts_the_models_own_predictions():
    from core.data.mnist import load_test
    from core.infer.runtime import load_model, run_model
    from core.infer.preprocess import to_model_input

    model = load_model(rb.REPO_MODELS / "lenet5.onnx")
    test = load_test()
    images, labels = test.images[:60], test.labels[:60]
    s = rb.score(model, images, labels, "thick", "raw")
    x = to_model_input(rb.make_set(images, "thick").astype(np.float32) / 255, model.card.mean, model.card.std)
    expected = int((run_model(model, x).logits.argmax(1) == labels).sum())
    assert (s.correct, s.total) == (expected, 60)
    drawn = rb.score(model, images, labels, "offcentre", "drawn")
    raw = rb.score(model, images, labels, "offcentre", "raw")
    assert drawn.correct > raw.correct  # the Draw page's centring undoes the shift
