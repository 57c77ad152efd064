"""Train and export the shipped linear classifier, ``exported_models/linear.onnx`` (about a second, CPU).

    python -m scripts.train_linear_model [--out DIR]

The "Inside the network" page shows its ten weight rows as 28×28 class templates next to a CNN's
first-layer kernels. It is the training page's "linear" preset (784 → 10, softmax), trained and exported
exactly like the other shipped models (``scripts.train_shipped_models.train_and_export``: ``core.train.runner.fit``
on the 5,000 shipped digits, ``core.train.export`` with checker, parity, sidecar and layer outputs). It is kept
out of that script's list so that reproducing the CNNs (tens of minutes) and this one (a second) stay
separate commands. Fixed seed: the same weights every time on the same versions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from core.infer.runtime import SHIPPED_DIR
from core.arch.spec import PRESETS
from core.arch.recipes import TrainConfig
from scripts.train_shipped_models import Recipe, train_and_export

RECIPE = Recipe(
    "linear", "Linear classifier (templates)", PRESETS["linear"],
    TrainConfig(optimizer="adam", lr=1e-3, batch_size=128, epochs=20, seed=0, val_fraction=0.0, time_limit_s=600),
    "Trained by scripts/train_linear_model.py on all 5,000 shipped MNIST training digits: the training page's "
    "linear preset (one weight per pixel and class, plus ten biases), 20 epochs, Adam lr 1e-3, batch 128, "
    "seed 0, no augmentation. Its weight rows are the class templates shown on the 'Inside the network' page.",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.train_linear_model", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    train_and_export(RECIPE, args.out, log=lambda line: print(line) if not line.startswith("  ") else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
