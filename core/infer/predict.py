"""Image → digit: the one code path shared by the draw page and the command line.

    python -m core.infer.predict [--model PATH] IMAGE_OR_DIR...

prints one line of strict JSON (no NaN or Infinity) per image: ``{"file", "digit", "probabilities"}``
(ten numbers, classes 0..9), ``"digit": null`` with a ``"no_digit"`` reason for a blank image, or
``{"file", "error"}`` for a file that cannot be used. Images are read by ``core.infer.uploads`` (the filters
upload's reader: PNG/JPEG, the same size and memory limits, EXIF orientation applied). A folder
contributes its image files (sorted, not recursive). Every file is tried, whatever happened to the
ones before. No torch on this path.

Exit status (the highest that applies):

* 0: every image was classified (a blank image, reported with ``"digit": null``, counts as classified);
* 1: at least one file could not be read (missing, not a regular file, not a usable PNG/JPEG); its
  line says why;
* 2: the model is unusable: refused when loading (a single ``{"model", "error"}`` line, no image is
  tried), or it failed on an image (onnxruntime error, NaN/inf outputs; that image's line says so);
  argparse also exits 2 for a wrong command line;
* 3: standard output was closed or broken before every line was written (e.g. ``| head -1``);
  the command stops quietly at that point.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from core.infer.uploads import ImageError, read_image_file
from core.infer.runtime import LoadedModel, ModelRefused, default_model_path, load_model, run_model
from core.infer.preprocess import Preprocessed, Steps, preprocess_variants, to_model_input

OK, FILE_FAILED, MODEL_FAILED, OUTPUT_CLOSED = 0, 1, 2, 3
# Picked up from a folder; all but PNG/JPEG are then refused by name, so no image is skipped in silence.
FOLDER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def classify_images(model: LoadedModel, images: np.ndarray) -> np.ndarray:
    """Probabilities (N, classes) for a dataset's own uint8 images, (N, H, W) grey or (N, H, W, 3)
    colour: no preprocessing (they are already what the model was trained on), just its normalisation."""
    return run_model(model, model.card.normalise(np.asarray(images, np.float32) / np.float32(255.0))).probs


@dataclass(frozen=True)
class Prediction:
    pre: Preprocessed  # every preprocessing step's image
    digit: int | None  # None when nothing was drawn
    probs: np.ndarray | None  # (10,)
    activations: dict[str, np.ndarray]  # "act_<i>" → (C, H, W) for the drawn digit
    preprocess_ms: float
    inference_ms: float
    batch: int = 1  # images in the onnxruntime run the times are for (the draw page's what-ifs ride along)

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
    """Preprocess an image (canvas RGBA, RGB or grayscale, any size) and run the model on it.

    Raises ``ModelRefused`` when the model fails on this image (see ``core.infer.runtime.run_model``)."""
    return classify_variants(model, image, (steps,), activations)[0]  # type: ignore[return-value]


def classify_variants(model: LoadedModel, image: np.ndarray, variants: Sequence[Steps],
                      activations: bool = False) -> list[Prediction | None]:
    """``classify`` of one image under several preprocessing settings, in ONE onnxruntime run (the graph's
    batch axis is dynamic: five images cost little more than one, five runs cost five times the overhead).

    The first setting is the answer: ``ModelRefused`` when the model fails on it; its activations are kept
    when asked for. Any other setting the model fails on is ``None``. A failed batch is retried image by
    image, so one input the model cannot take never hides the others' answers. The times (the whole
    batch's) are the same in every prediction."""
    t0 = time.perf_counter()
    pres = preprocess_variants(image, variants)
    t1 = time.perf_counter()
    drawn = [i for i, pre in enumerate(pres) if not pre.empty]
    if not drawn:
        return [Prediction(pre, None, None, {}, (t1 - t0) * 1e3, 0.0) for pre in pres]
    try:
        batch = to_model_input(np.stack([pres[i].image for i in drawn]), model.card.mean, model.card.std)
        out = run_model(model, batch, activations=activations)
    except ModelRefused:
        if len(variants) == 1:
            raise
        return [classify(model, image, variants[0], activations),
                *(_or_none(model, image, steps) for steps in variants[1:])]
    t2 = time.perf_counter()
    preds: list[Prediction | None] = [Prediction(pre, None, None, {}, (t1 - t0) * 1e3, 0.0) for pre in pres]
    for row, i in enumerate(drawn):
        probs = out.probs[row]
        acts = {k: v[row] for k, v in out.activations.items()} if i == 0 else {}
        preds[i] = Prediction(pres[i], int(np.argmax(probs)), probs, acts, (t1 - t0) * 1e3, (t2 - t1) * 1e3,
                              len(drawn))
    return preds


def _or_none(model: LoadedModel, image: np.ndarray, steps: Steps) -> Prediction | None:
    try:
        return classify(model, image, steps)
    except ModelRefused:
        return None


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # missing, a link loop, a bad name: the reader says which, per file
        return False


def expand_inputs(paths: Sequence[str]) -> Iterator[tuple[Path, str]]:
    """(file, "") for files as given and for a folder's image-named entries (sorted, not recursive,
    whatever their type: a pipe or a link loop named ``x.png`` is reported, not skipped);
    (folder, reason) for a folder that holds no image file or cannot be listed."""
    for raw in paths:
        path = Path(raw)
        if not _is_dir(path):
            yield path, ""
            continue
        try:
            entries = sorted(p for p in path.iterdir() if p.suffix.lower() in FOLDER_SUFFIXES)
        except OSError as exc:
            yield path, f"cannot list this folder ({exc.strerror or type(exc).__name__})"
            continue
        if not entries:
            yield path, f"no image files ({', '.join(FOLDER_SUFFIXES)}) in this folder"
        for entry in entries:
            yield entry, ""


def shown_path(path: Path) -> str:
    """A path as text that strict JSON can carry: bytes that are not UTF-8 become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _predict(model: LoadedModel, path: Path) -> tuple[dict, int]:
    """One JSON-ready record for one file and its exit status; never raises for a bad image or model."""
    name = shown_path(path)
    try:
        pred = classify(model, read_image_file(path).pixels)
    except ModelRefused as exc:  # the model failed on this image
        return {"file": name, "error": str(exc)}, MODEL_FAILED
    except (ImageError, ValueError) as exc:
        return {"file": name, "error": str(exc)}, FILE_FAILED
    if pred.digit is None:
        return {"file": name, "digit": None, "no_digit": pred.pre.reason, "probabilities": None}, OK
    probs = [round(float(p), 6) for p in pred.probs]
    return {"file": name, "digit": pred.digit, "probabilities": probs}, OK



def json_line(record: dict) -> str:
    """Strict JSON (``allow_nan=False``): a record that cannot be written so becomes an error record."""
    try:
        return json.dumps(record, allow_nan=False)
    except ValueError:
        return json.dumps({"file": record.get("file"), "error": "the result is not a finite number"})


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. captured in tests)
        pass


def emit(line: str) -> bool:
    """Write one line; False (and stdout silenced) when stdout is closed, broken or full."""
    if sys.stdout is None:  # started with stdout closed (`>&-`)
        return False
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return True
    except BrokenPipeError:  # the reader went away (`| head -1`): not worth a message
        _silence_stdout()
        return False
    except (OSError, ValueError) as exc:  # e.g. a full disk, or stdout closed by the caller
        _silence_stdout()
        if sys.stderr is not None:
            print(f"core.infer.predict: cannot write the results ({exc}); stopping.", file=sys.stderr)
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.infer.predict",
        description="Classify images of handwritten digits with an exported ConvLab model (onnxruntime). "
                    "Exit status: 0 all classified, 1 a file could not be read, 2 the model is unusable, "
                    "3 the output was closed.",
    )
    parser.add_argument("--model", type=Path, help="a .onnx file with its .json sidecar (default: best shipped model)")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.model or default_model_path())
    except ModelRefused as exc:
        model_name = shown_path(args.model) if args.model else ""
        return MODEL_FAILED if emit(json_line({"model": model_name, "error": str(exc)})) else OUTPUT_CLOSED
    status = OK
    for path, problem in expand_inputs(args.inputs):
        if problem:
            record, code = {"file": shown_path(path), "error": problem}, FILE_FAILED
        else:
            record, code = _predict(model, path)
        if not emit(json_line(record)):
            return OUTPUT_CLOSED
        status = max(status, code)
    return status


if __name__ == "__main__":
    sys.exit(main())
