"""What an exported model's sidecar says about how it was made: the provenance of a training run, the
library versions, and the export's error type (kept apart from ``core.train.export`` to keep it short)."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch


class ExportError(ValueError):
    """The model could not be exported or failed a check; nothing was written."""


def versions() -> dict[str, str]:
    import onnxscript

    return {
        "torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
        "onnxscript": onnxscript.__version__, "numpy": np.__version__, "python": platform.python_version(),
    }


@dataclass(frozen=True)
class Provenance:
    """What the sidecar says about how the model was made (everything except the graph itself)."""

    title: str
    dataset: str
    training: dict[str, Any]
    test_accuracy: float  # 0..1 on the dataset's official test set
    per_class_accuracy: tuple[float, ...] = ()
    notes: str = ""
    dataset_key: str = "shipped5k"  # core.data.registry key: shape, class names, normalisation, parity images


def provenance(result: Any, title: str | None = None, notes: str = "") -> Provenance:
    """The sidecar facts of a ``core.train.runner.TrainResult`` (how it was trained, on what, how well)."""
    if result.test is None:
        raise ExportError("This run diverged (its weights are NaN): there is nothing worth exporting.")
    cfg = result.config
    last = result.history[-1] if result.history else None
    training = {
        "optimizer": cfg.optimizer, "lr": cfg.lr, "batch_size": cfg.batch_size, "epochs": cfg.epochs,
        "epochs_trained": result.epochs_trained, "seed": cfg.seed, "augment": cfg.augment,
        "augmentation": AUGMENTATION_TEXT if cfg.augment else "none",
        "val_fraction": cfg.val_fraction, "schedule": cfg.schedule, "weight_decay": cfg.weight_decay,
        "label_smoothing": cfg.label_smoothing, "seconds": round(float(result.seconds), 2),
        "stopped_reason": result.stopped_reason, "device": result.device,
        "final_train_loss": None if last is None else round(float(last.train_loss), 5),
        "final_val_accuracy": None if last is None or last.val_acc is None else round(float(last.val_acc), 5),
    }
    per_class = np.nan_to_num(np.asarray(result.test.per_class, dtype=float), nan=0.0)
    return Provenance(
        title=title or result.spec.title, dataset=result.data_description, training=training,
        test_accuracy=float(result.test.accuracy), per_class_accuracy=tuple(per_class.round(5)), notes=notes,
        dataset_key=cfg.dataset,
    )


def _augmentation_text() -> str:
    """What ``TrainConfig.augment=True`` does: core.train.loop calls ``random_affine`` with its defaults,
    so the sidecar reads the strengths from there instead of repeating the numbers."""
    import inspect

    from core.train.augment import random_affine

    p = inspect.signature(random_affine).parameters
    return (f"random shift ±{p['max_shift_px'].default:g} px, rotation ±{p['max_rotate_deg'].default:g}°, "
            f"scale ±{100 * p['max_scale'].default:g}% per training image (core.train.augment.random_affine)")


AUGMENTATION_TEXT = _augmentation_text()
