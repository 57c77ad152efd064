"""A stroke's work on the draw page. One drawing under several preprocessing settings (the answer and its
"what if a step were skipped" table): one preprocessing pass and ONE onnxruntime batch give exactly what
one-by-one runs give. The pictures sent per stroke are exact PNGs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image, ImageDraw

import core.infer.predict as predict
from core.infer.runtime import SHIPPED_DIR, ModelRefused, load_model
from core.infer.predict import classify, classify_variants
from core.infer.preprocess import Steps, preprocess, preprocess_variants

ALL_STEPS = [Steps(*flags) for flags in itertools.product((True, False), repeat=4)]


def drawing(points, paper: float = 0.0, pen: float = 1.0) -> np.ndarray:
    """A 280×280 canvas (grey floats, as ui.canvas returns it) with one 22-px stroke."""
    img = Image.new("F", (280, 280), paper)
    ImageDraw.Draw(img).line(points, fill=pen, width=22, joint="curve")
    return np.asarray(img, np.float32)


SEVEN = drawing([(55, 52), (220, 45), (129, 245)])
ONE_DARK = drawing([(128, 60), (150, 35), (145, 245)], paper=1.0, pen=0.0)  # black ink on white


@pytest.fixture(scope="module")
def model():
    return load_model(SHIPPED_DIR / "lenet5.onnx")


def test_each_switched_flips_exactly_one_step() -> None:
    steps = Steps(invert=True, crop=False, fit=True, center=False)
    switched = steps.each_switched()
    assert list(switched) == ["invert", "crop", "fit", "center"]
    for name, other in switched.items():
        differ = [f for f in switched if getattr(other, f) != getattr(steps, f)]
        assert differ == [name]


@pytest.mark.parametrize("image", [SEVEN, ONE_DARK], ids=["white-on-black", "black-on-white"])
def test_preprocess_variants_equal_separate_runs(image: np.ndarray) -> None:
    for got, steps in zip(preprocess_variants(image, ALL_STEPS), ALL_STEPS):
        want = preprocess(image, steps)
        for field in ("gray", "cropped", "scaled", "placed", "image"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=f"{steps} {field}")
        assert (got.inverted, got.bbox, got.shift, got.empty, got.reason) == \
            (want.inverted, want.bbox, want.shift, want.empty, want.reason)


@pytest.mark.parametrize("image", [SEVEN, ONE_DARK], ids=["white-on-black", "black-on-white"])
def test_one_batch_gives_the_probabilities_of_one_by_one_runs(model, image: np.ndarray) -> None:
    steps = Steps()
    variants = (steps, *steps.each_switched().values())
    batched = classify_variants(model, image, variants, activations=True)
    assert batched[0].digit == classify(model, image, steps).digit
    for got, s in zip(batched, variants):
        want = classify(model, image, s, activations=True)
        assert got.digit == want.digit and got.pre.empty == want.pre.empty
        if want.probs is None:
            assert got.probs is None
        else:
            np.testing.assert_allclose(got.probs, want.probs, atol=1e-6, rtol=0)
    # the feature maps are the answer's own (the batch's first image), the same as a single run's
    single = classify(model, image, steps, activations=True).activations
    assert set(batched[0].activations) == set(single) and single
    for name, value in single.items():
        np.testing.assert_allclose(batched[0].activations[name], value, atol=1e-5, rtol=0)
    assert all(not p.activations for p in batched[1:])
    drawn = sum(p.digit is not None for p in batched)
    assert all(p.batch == drawn for p in batched if p.digit is not None)


def test_a_blank_variant_is_no_digit_and_is_not_sent_to_the_model(model) -> None:
    # auto-invert off on dark ink: the page is "white", the levelled image a light square, never blank;
    # a blank canvas is blank under every setting
    blank = np.zeros((280, 280), np.float32)
    preds = classify_variants(model, blank, ALL_STEPS[:3])
    assert all(p.digit is None and p.probs is None and p.pre.empty for p in preds)


def test_a_failed_batch_is_retried_image_by_image(model, monkeypatch) -> None:
    """The model fails on one of the what-ifs: that row is None, the others keep their answers."""
    real = predict.run_model
    bad = preprocess(SEVEN, Steps(crop=False)).image

    def fussy(m, batch, activations=False):
        if any(np.allclose(x[0], (bad - m.card.mean) / m.card.std) for x in batch):
            raise ModelRefused("lenet5.onnx: onnxruntime failed while running it (test).")
        return real(m, batch, activations)

    monkeypatch.setattr(predict, "run_model", fussy)
    steps = Steps()
    switched = steps.each_switched()
    preds = dict(zip(["answer", *switched], classify_variants(model, SEVEN, (steps, *switched.values()))))
    assert preds["crop"] is None
    monkeypatch.setattr(predict, "run_model", real)
    for name in ("answer", "invert", "fit", "center"):
        want = classify(model, SEVEN, steps if name == "answer" else switched[name])
        np.testing.assert_allclose(preds[name].probs, want.probs, atol=1e-6, rtol=0)
    # the answer itself failing is the page's error, as with classify
    monkeypatch.setattr(predict, "run_model", fussy)
    with pytest.raises(ModelRefused):
        classify_variants(model, SEVEN, (Steps(crop=False), steps))


@pytest.mark.parametrize("shape", [(28, 28), (1, 1), (20, 16), (140, 115), (3, 200)])
def test_draw_pictures_are_pngs_of_exactly_their_pixels(shape) -> None:
    """The step and feature-map pictures (ui.pictures.png writes grey ones without Pillow) decode, in
    Pillow, to the image's pixels rounded to 8 bits."""
    import io

    from ui.pictures import png

    image = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32) * 1.2 - 0.1  # out of range too
    decoded = Image.open(io.BytesIO(png(image)))
    decoded.load()
    assert decoded.mode == "L" and decoded.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(decoded), (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
