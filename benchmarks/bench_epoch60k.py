"""Seconds per 60,000-image training epoch, LeNet-5 and the two-conv net: CPU, and CUDA where there is one.

These figures matter on a GPU, "when one can be had", with the CPU/GPU ratio. This script
runs the same ``core.train.runner.TrainingRun`` the Train page runs, on every device this machine has
(``pick_device`` order: CUDA, then the CPU), so on a GPU host it shows that the CUDA path really
runs, and how much faster it is.

The 60,000 images are full MNIST when it has been downloaded (Train page, or
``core.data.mnist.download_full_mnist``); otherwise the 5,000 shipped digits repeated 12 times, which costs
the same arithmetic per epoch (the note says which). One warm-up pass over 2,048 images first (kernel
selection, allocator), then one timed epoch at batch 128, Adam, no augmentation, no validation split.

``python -m benchmarks.bench_epoch60k``
"""

from __future__ import annotations

import dataclasses
import os

from core.train import runner, tensors  # first: core.train configures OpenMP before torch loads  # isort: skip
from core.train.devices import device_text, pick_device  # isort: skip
from core.arch import recipes  # isort: skip
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import Result, check  # noqa: E402
from core.data import mnist as cdata  # noqa: E402
from core.arch import spec as archspec  # noqa: E402

ARCHS = ("lenet5", "twoconv")
N_IMAGES = 60_000
BATCH = 128


def sixty_thousand() -> cdata.ImageSet:
    if cdata.full_mnist_cached():
        return cdata.load_full_train()
    shipped = cdata.load_shipped_train()
    reps = -(-N_IMAGES // len(shipped))
    return cdata.ImageSet(np.tile(shipped.images, (reps, 1, 1))[:N_IMAGES], np.tile(shipped.labels, reps)[:N_IMAGES],
                          f"{shipped.name} ×{reps}")


def devices() -> list[torch.device]:
    found = [torch.device("cpu")]
    if pick_device("cuda").type == "cuda":
        found.insert(0, torch.device("cuda"))
    return found


def epoch_seconds(arch: str, device: torch.device, digits: cdata.ImageSet) -> float:
    config = recipes.TrainConfig(optimizer="adam", lr=2e-3, batch_size=BATCH, epochs=1, val_fraction=0.0,
                            time_limit_s=1e9)
    data = tensors.prepare_data(config, device, digits)
    warm = runner.TrainingRun(archspec.PRESETS[arch], config, device,
                          data=dataclasses.replace(data, train_x=data.train_x[:2048], train_y=data.train_y[:2048]))
    warm.step()
    run = runner.TrainingRun(archspec.PRESETS[arch], config, device, data=data)
    record = run.step()  # each batch reads its loss back, so the timing includes the GPU's work
    if record is None:
        raise RuntimeError(f"{arch} on {device}: the epoch did not finish ({run.message})")
    return record.seconds


def run() -> list[Result]:
    digits = sixty_thousand()
    results: list[Result] = []
    devs = devices()
    gpu_note = ("" if devs[0].type == "cuda" else
                "; no CUDA device on this machine: run this script on a GPU host for the GPU rows")
    for arch in ARCHS:
        title = archspec.PRESETS[arch].title
        times = {}
        for dev in devs:
            times[dev.type] = epoch_seconds(arch, dev, digits)
            results.append(check(f"{title}: one {N_IMAGES:,}-image epoch, {device_text(dev)}", times[dev.type], "s",
                                 note=f"batch {BATCH}, Adam; images: {digits.name}"
                                      + (f"; load average {os.getloadavg()[0]:.1f}" if dev.type == "cpu" else "")
                                      + (gpu_note if dev.type == "cpu" else "")))
        if "cuda" in times:
            results.append(check(f"{title}: CPU time / GPU time", times["cpu"] / times["cuda"], "x",
                                 note="same epoch, same batch size"))
    return results


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
