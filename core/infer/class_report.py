"""What a class's own drawings say about the shipped models: accuracy, confusion, worst mistakes, export.

The drawings are the (N, 28, 28) uint8 inputs the models saw when the students drew, so scoring them is
``classify_images`` with no preprocessing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from core.infer.predict import classify_images
from core.infer.runtime import LoadedModel


@dataclass(frozen=True)
class ModelScore:
    name: str  # the model's title
    class_accuracy: float  # on the class's drawings
    mnist_accuracy: float  # on the MNIST test set, from its sidecar
    confusion: np.ndarray  # (10, 10) counts: row = asked digit, column = the model's answer
    predicted: np.ndarray  # (N,) the model's answers
    confidence_wrong: np.ndarray  # (N,) probability of the wrong answer (0 where right)


def score(model: LoadedModel, images: np.ndarray, labels: np.ndarray) -> ModelScore:
    probs = classify_images(model, images) if len(images) else np.zeros((0, 10), np.float32)
    predicted = probs.argmax(axis=1) if len(images) else np.zeros(0, np.int64)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    wrong = predicted != labels
    confidence = np.where(wrong, probs.max(axis=1) if len(images) else 0.0, 0.0)
    accuracy = float((~wrong).mean()) if len(images) else float("nan")
    return ModelScore(model.card.title, accuracy, float(model.card.test_accuracy), confusion, predicted, confidence)


def worst_mistakes(result: ModelScore, k: int = 8) -> np.ndarray:
    """Indices of the k wrong answers given with the most confidence, worst first."""
    wrong = np.flatnonzero(result.confidence_wrong > 0)
    return wrong[np.argsort(-result.confidence_wrong[wrong], kind="stable")][:k]


def to_npz(images: np.ndarray, labels: np.ndarray) -> bytes:
    """``images`` (N, 28, 28) uint8 and ``labels`` (N,) in one NumPy archive (np.load reads it)."""
    out = io.BytesIO()
    np.savez_compressed(out, images=images.astype(np.uint8), labels=labels.astype(np.int64))
    return out.getvalue()


def to_csv(ids: np.ndarray, labels: np.ndarray, nicknames: tuple[str, ...]) -> str:
    """One row per drawing (its index in the NPZ, label, nickname). A nickname that a spreadsheet would
    run as a formula (=, +, -, @) gets a leading apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["index", "id", "label", "nickname"])
    for i, (row_id, label, nick) in enumerate(zip(ids, labels, nicknames)):
        safe = "'" + nick if nick[:1] in ("=", "+", "-", "@", "\t", "\r") else nick
        writer.writerow([i, int(row_id), int(label), safe])
    return out.getvalue()
