"""Image → digit: the one code path shared by the draw page and the command line.

    python -m core.predict [--model PATH] IMAGE_OR_DIR...

prints one JSON line per image: ``{"file", "digit", "probabilities"}`` (ten numbers, classes 0..9),
``"digit": null`` with a ``"no_digit"`` reason for a blank image, or ``{"file", "error"}`` for a file
that cannot be read. Every file is tried; the exit status is 1 if any file failed, 2 if the model is
unusable. No torch on this path.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from core.inference import LoadedModel, ModelRefused, default_model_path, load_model, run_model
from core.preprocess import IMAGE_SUFFIXES, Preprocessed, Steps, preprocess, read_image_file, to_model_input


@dataclass(frozen=True)
class Prediction:
    pre: Preprocessed  # every preprocessing step's image
    digit: int | None  # None when nothing was drawn
    probs: np.ndarray | None  # (10,)
    activations: dict[str, np.ndarray]  # "act_<i>" → (C, H, W) for the drawn digit
    preprocess_ms: float
    inference_ms: float

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        """The k most likely digits with their probabilities, best first."""
        if self.probs is None:
            return []
        order = np.argsort(self.probs)[::-1][:k]
        return [(int(i), float(self.probs[i])) for i in order]


def classify(model: LoadedModel, image: np.ndarray, steps: Steps = Steps(), activations: bool = False) -> Prediction:
    """Preprocess an image (canvas RGBA, RGB or grayscale, any size) and run the model on it."""
    t0 = time.perf_counter()
    pre = preprocess(image, steps)
    t1 = time.perf_counter()
    if pre.empty:
        return Prediction(pre, None, None, {}, (t1 - t0) * 1e3, 0.0)
    out = run_model(model, to_model_input(pre.image, model.card.mean, model.card.std), activations=activations)
    t2 = time.perf_counter()
    probs = out.probs[0]
    acts = {k: v[0] for k, v in out.activations.items()}
    return Prediction(pre, int(np.argmax(probs)), probs, acts, (t1 - t0) * 1e3, (t2 - t1) * 1e3)


def expand_inputs(paths: Sequence[str]) -> Iterator[tuple[Path, str]]:
    """(file, "") for files as given and for a folder's image files (sorted, not recursive);
    (folder, reason) for a folder that holds no image file."""
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            yield path, ""
            continue
        images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            yield path, f"no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder"
        for image in images:
            yield image, ""


def predict_file(model: LoadedModel, path: Path) -> dict:
    """One JSON-ready record for one file; never raises for a bad image."""
    try:
        if not path.is_file():
            raise ValueError("no such file")
        pred = classify(model, read_image_file(path))
    except ValueError as exc:
        return {"file": str(path), "error": str(exc)}
    if pred.digit is None:
        return {"file": str(path), "digit": None, "no_digit": pred.pre.reason, "probabilities": None}
    return {
        "file": str(path),
        "digit": pred.digit,
        "probabilities": [round(float(p), 6) for p in pred.probs],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.predict",
        description="Classify images of handwritten digits with an exported ConvLab model (onnxruntime).",
    )
    parser.add_argument("--model", type=Path, help="a .onnx file with its .json sidecar (default: best shipped model)")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.model or default_model_path())
    except ModelRefused as exc:
        print(json.dumps({"model": str(args.model or ""), "error": str(exc)}), flush=True)
        return 2
    failed = 0
    for path, problem in expand_inputs(args.inputs):
        record = {"file": str(path), "error": problem} if problem else predict_file(model, path)
        failed += "error" in record
        print(json.dumps(record), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
