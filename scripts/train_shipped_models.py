"""Train and export the models shipped in ``exported_models/`` (so the draw page works at once).

    python -m scripts.train_shipped_models [--only NAME] [--out DIR]

Reproducible: fixed seeds, the shipped 5,000 training digits only (``data/``), CPU. Each model is
trained with ``core.train.runner.fit``, exported with ``core.train.export.export_model`` (checker + parity), and its
accuracy on the official 10,000 test digits is written into the sidecar. The test set is never used to
pick anything: the recipes were chosen on a 10% validation split, then retrained on all 5,000 digits.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from core.train.export import export_model, provenance
from core.infer.runtime import SHIPPED_DIR
from core.arch.spec import PRESETS, ArchSpec, batchnorm, conv, dropout, pool
from core.arch.recipes import RECOMMENDED, TrainConfig
from core.train.runner import fit
from core.train.devices import pick_device


# The best shipped model, spelled out here (not taken from PRESETS) so that a later change to a preset
# cannot change what this script reproduces. It is the two-conv idea (3×3 convolutions, each followed by
# 2×2 max-pooling) with batch norm after every convolution and a third, unpadded conv block; at the time
# of writing it equals the training page's "bncnn" preset. About 26k parameters.
SHIPPED_CNN = ArchSpec(
    "bncnn", "BN conv net (16, 32, 64)",
    (conv(16, 3, padding=1), batchnorm(), pool(2),
     conv(32, 3, padding=1), batchnorm(), pool(2),
     conv(64, 3), batchnorm(), pool(2), dropout(0.3)),
    note="Three 3×3 conv blocks (16, 32, 64 filters), each with batch norm, ReLU and 2×2 max-pooling, then "
         "dropout and one dense layer to the 10 classes.",
)


def differences_from_recommended(config: TrainConfig, preset: str) -> str:
    """A sentence comparing ``config`` with the training page's recommended settings for ``preset``,
    computed from both, so the sidecar's description cannot drift from what the page offers."""
    rec = RECOMMENDED[preset]
    diffs = []
    if config.epochs != rec.epochs:
        diffs.append(f"{config.epochs} epochs instead of {rec.epochs}")
    if config.val_fraction != rec.val_fraction:
        diffs.append("no validation split" if config.val_fraction == 0 else
                     f"a {config.val_fraction:.0%} validation split instead of {rec.val_fraction:.0%}")
    same = ("optimizer", "lr", "batch_size", "augment", "schedule", "weight_decay", "label_smoothing", "seed")
    diffs += [f"{name} {getattr(config, name)} instead of {getattr(rec, name)}" for name in same
              if getattr(config, name) != getattr(rec, name)]
    if not diffs:
        return "These are the training page's recommended settings for this architecture."
    listed = diffs[0] if len(diffs) == 1 else f"{', '.join(diffs[:-1])} and {diffs[-1]}"
    return f"These are the training page's recommended settings for this architecture, except {listed}."


BNCNN_CONFIG = TrainConfig(optimizer="adamw", lr=4e-3, batch_size=128, epochs=20, seed=0, augment=True,
                           val_fraction=0.0, schedule="onecycle", weight_decay=5e-4, label_smoothing=0.05,
                           time_limit_s=3600, memory_mb=1024)


@dataclass(frozen=True)
class Recipe:
    name: str  # file stem in exported_models/
    title: str  # what the model picker shows
    spec: ArchSpec
    config: TrainConfig
    notes: str


RECIPES: tuple[Recipe, ...] = (
    Recipe(
        "bncnn", "BN conv net", SHIPPED_CNN, BNCNN_CONFIG,
        "Trained by scripts/train_shipped_models.py on all 5,000 shipped MNIST training digits (no "
        "validation split), 20 epochs, AdamW with a one-cycle learning rate (max 4e-3), weight decay 5e-4, "
        "label smoothing 0.05, batch 128, seed 0, with random shifts, rotations and scaling of every "
        "training batch (augmentation). " + differences_from_recommended(BNCNN_CONFIG, "bncnn"),
    ),
    Recipe(
        "lenet5", "LeNet-5", PRESETS["lenet5"],
        TrainConfig(optimizer="adam", lr=2e-3, batch_size=128, epochs=20, seed=0, augment=True,
                    val_fraction=0.0, schedule="onecycle", time_limit_s=3600, memory_mb=1024),
        "Trained by scripts/train_shipped_models.py on all 5,000 shipped MNIST training digits, 20 epochs, "
        "Adam with a one-cycle learning rate (max 2e-3), batch 128, seed 0, with random shifts, rotations "
        "and scaling of every training batch (augmentation).",
    ),
)


def train_and_export(recipe: Recipe, out_dir: Path, log=print):
    """Train one recipe on the CPU and export it into ``out_dir``; returns the ``ExportResult``."""
    t0 = time.perf_counter()

    def on_epoch(record, run) -> None:
        log(f"  {recipe.name} epoch {record.epoch:g}: loss {record.train_loss:.4f}, "
            f"train acc {record.train_acc:.4f}, {record.seconds:.1f} s")

    result = fit(recipe.spec, recipe.config, on_epoch=on_epoch, device=pick_device("cpu"))
    if result.stopped_reason != "completed":
        raise SystemExit(f"{recipe.name}: training ended early ({result.message})")
    res = export_model(result.model, recipe.spec, provenance(result, recipe.title, recipe.notes), out_dir,
                       recipe.name, overwrite=True, allow_shipped=True)
    log(f"{recipe.name}: test accuracy {result.test.accuracy:.4f}, {res.size_bytes / 1024:.0f} KB, "
        f"parity {res.parity.max_abs_logits:.1e}, {time.perf_counter() - t0:.0f} s")
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.train_shipped_models", description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=[r.name for r in RECIPES], help="train just this model")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR, help="output folder (default: exported_models/)")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    for recipe in RECIPES:
        if args.only in (None, recipe.name):
            train_and_export(recipe, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
