"""A robustness set: the official test digits changed the ways drawn digits differ from MNIST.

Students draw with thicker or thinner pens than MNIST's writers, off-centre, small, slanted and a little
rotated. Each ``Variant`` is one such change, applied deterministically to 28×28 test digits (white ink
on black, uint8), so every shipped model can be scored on the same images and the scores compared.

Two ways to score (see ``scripts.evaluate_robustness``): the changed digit straight into the model
("raw": what the network itself tolerates), and through the Draw page's preprocessing first ("drawn":
what a student gets, since cropping and centring undo shifts and size changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

REPO_MODELS = Path(__file__).resolve().parents[2] / "exported_models"
SIZE = 28
UPSCALE = 4  # geometric changes work on a 112×112 copy so strokes stay smooth when brought back down


@dataclass(frozen=True)
class Variant:
    key: str
    title: str  # what a student would call it
    apply: Callable[[np.ndarray], np.ndarray]  # (28, 28) uint8 -> (28, 28) uint8


def _big(digit: np.ndarray) -> Image.Image:
    return Image.fromarray(digit, mode="L").resize((SIZE * UPSCALE,) * 2, Image.Resampling.BICUBIC)


def _small(img: Image.Image) -> np.ndarray:
    return np.asarray(img.resize((SIZE, SIZE), Image.Resampling.BOX), dtype=np.uint8)


def _stroke(digit: np.ndarray, grow: bool) -> np.ndarray:
    """Thicker (grey dilation) or thinner (erosion) strokes: one 28-px pixel's worth either way."""
    filt = ImageFilter.MaxFilter(5) if grow else ImageFilter.MinFilter(5)
    return _small(_big(digit).filter(filt))


def _affine(digit: np.ndarray, matrix: tuple[float, float, float, float]) -> np.ndarray:
    """Apply the 2×2 ``matrix`` (a, b, c, d: x' = a x + b y, y' = c x + d y) about the image centre."""
    a, b, c, d = matrix
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det  # PIL maps output pixels back to input pixels
    centre = SIZE * UPSCALE / 2
    tx = centre - ia * centre - ib * centre
    ty = centre - ic * centre - id_ * centre
    img = _big(digit).transform(_big(digit).size, Image.Transform.AFFINE, (ia, ib, tx, ic, id_, ty),
                                resample=Image.Resampling.BILINEAR, fillcolor=0)
    return _small(img)


def _rotate(digit: np.ndarray, degrees: float) -> np.ndarray:
    img = _big(digit).rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=0)
    return _small(img)


def _shift(digit: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move the digit by whole pixels, filling with background (never wrapping round)."""
    out = np.zeros_like(digit)
    h, w = digit.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = digit[max(-dy, 0):h - max(dy, 0),
                                                                      max(-dx, 0):w - max(dx, 0)]
    return out


def _off_centre(digit: np.ndarray) -> np.ndarray:
    """Pushed 5 px towards a corner: as far as MNIST's 4-px margin (and a bit more) allows."""
    return _shift(digit, 5, 5)


def _small_digit(digit: np.ndarray) -> np.ndarray:
    """Written at 60 % of MNIST's size."""
    return _affine(digit, (0.6, 0.0, 0.0, 0.6))


VARIANTS: tuple[Variant, ...] = (
    Variant("thick", "thicker strokes", lambda d: _stroke(d, grow=True)),
    Variant("thin", "thinner strokes", lambda d: _stroke(d, grow=False)),
    Variant("offcentre", "off-centre (5 px down and right)", _off_centre),
    Variant("small", "small (60 % size)", _small_digit),
    Variant("slant", "slanted (shear 0.3)", lambda d: _affine(d, (1.0, -0.3, 0.0, 1.0))),
    Variant("rot+15", "rotated 15° anticlockwise", lambda d: _rotate(d, 15.0)),
    Variant("rot-15", "rotated 15° clockwise", lambda d: _rotate(d, -15.0)),
)


def variant(key: str) -> Variant:
    for v in VARIANTS:
        if v.key == key:
            return v
    raise ValueError(f"Unknown robustness variant {key!r}; choose one of {', '.join(v.key for v in VARIANTS)}.")


def make_set(images: np.ndarray, key: str) -> np.ndarray:
    """``images`` (N, 28, 28) uint8 changed by variant ``key``; same shape and dtype."""
    if images.ndim != 3 or images.shape[1:] != (SIZE, SIZE):
        raise ValueError(f"Expected digits of shape (N, 28, 28), got {images.shape}.")
    change = variant(key).apply
    return np.stack([change(np.ascontiguousarray(d, dtype=np.uint8)) for d in images])


# ---------------------------------------------------------------------------------------------
# Scoring a model (onnxruntime only: this runs on the inference install too)

MODES = ("raw", "drawn")  # straight into the model / through the Draw page's preprocessing first
BATCH = 500  # digits per onnxruntime call: bounded memory for any test-set size


@dataclass(frozen=True)
class Score:
    variant: str  # a Variant key, or "clean" for the unchanged digits
    mode: str  # one of MODES
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def model_inputs(images: np.ndarray, mode: str) -> np.ndarray:
    """(N, 28, 28) uint8 digits → (N, 28, 28) float32 0..1 as the model gets them in ``mode``."""
    from core.infer.preprocess import preprocess

    if mode == "raw":
        return images.astype(np.float32) / 255.0
    if mode == "drawn":
        return np.stack([preprocess(d).image for d in images]).astype(np.float32)
    raise ValueError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")


def score(model, images: np.ndarray, labels: np.ndarray, key: str, mode: str) -> Score:
    """Accuracy of a loaded model (``core.infer.runtime.LoadedModel``) on ``images`` changed by ``key``
    ("clean" = unchanged), fed in ``mode``."""
    from core.infer.runtime import run_model
    from core.infer.preprocess import to_model_input

    correct = 0
    for start in range(0, len(images), BATCH):
        chunk = images[start:start + BATCH]
        changed = chunk if key == "clean" else make_set(chunk, key)
        x = to_model_input(model_inputs(changed, mode), model.card.mean, model.card.std)
        predicted = run_model(model, x).logits.argmax(axis=1)
        correct += int((predicted == labels[start:start + BATCH]).sum())
    return Score(key, mode, correct, len(images))
