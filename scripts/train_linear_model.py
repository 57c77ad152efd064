"""Train and export the shipped linear classifier, ``exported_models/linear.onnx`` (a few seconds, CPU).

    python -m scripts.train_linear_model [--out DIR]

The "Inside the network" page shows its ten weight rows as 28×28 class templates next to a CNN's
first-layer kernels. It is the training page's "linear" preset (784 → 10, softmax), trained with the
project's own ``core.training.fit`` on the 5,000 shipped digits and exported with ``core.export`` (checker,
parity with torch, sidecar, layer outputs). Fixed seed: the same file every time on the same versions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from core.export import export_model, provenance
from core.inference import SHIPPED_DIR
from core.models import PRESETS
from core.training import TrainConfig, fit, pick_device

CONFIG = TrainConfig(optimizer="adam", lr=1e-3, batch_size=128, epochs=20, seed=0, val_fraction=0.0,
                     time_limit_s=600)
NOTES = ("Trained by scripts/train_linear_model.py on all 5,000 shipped MNIST training digits: the training "
         "page's linear preset (one weight per pixel and class, plus ten biases), 20 epochs, Adam lr 1e-3, "
         "batch 128, seed 0, no augmentation. Its weight rows are the class templates "
         "shown on the 'Inside the network' page.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.train_linear_model", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = fit(PRESETS["linear"], CONFIG, device=pick_device("cpu"))
    if result.stopped_reason != "completed":
        raise SystemExit(f"training ended early: {result.message}")
    res = export_model(result.model, PRESETS["linear"], provenance(result, "Linear classifier (templates)", NOTES),
                       args.out, "linear", overwrite=True, allow_shipped=True)
    print(f"linear: test accuracy {result.test.accuracy:.4f}, {res.size_bytes / 1024:.0f} KB, "
          f"parity {res.parity.max_abs_logits:.1e}, {result.seconds:.1f} s training")
    return 0


if __name__ == "__main__":
    sys.exit(main())
