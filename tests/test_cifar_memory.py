"""All 50,000 CIFAR-10 training images fit a 256 MB training job: they stay uint8 on the device and each
batch becomes float32 when it is used (float32 for the whole set would be 614 MB, refused). The job's
estimate (``core.arch.recipes.memory_estimate``) is checked against the peak measured in a fresh interpreter
on a full-size cache of random pixels (``benchmarks/fake_datasets.write_cifar_cache``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.fake_datasets import write_cifar_cache
from core.arch import jobs
from core.arch import spec as archspec
from core.arch import recipes
from core.train import loop, tensors
from tests.conftest import REPO

pytestmark = pytest.mark.system  # measures a full CIFAR-10 training's memory

SPEC = "lenet5"
CONFIG = dict(dataset="cifar10", batch_size=64, epochs=1, val_fraction=0.1, optimizer="adam")
MARGIN = (0.8, 1.2)  # measured / estimated peak (seen 1.07: 207.5 MB measured, 193.3 MB estimated)

PROBE = r"""
import json, os, re, sys
sys.path.insert(0, {repo!r})
os.environ["CONVLAB_CACHE"] = {cache!r}
import torch
from core.data import registry as cds
from core.arch import spec as archspec
from core.arch import layer_table as lt
from core.arch import recipes
from core.train import loop
from core.train import runner
from core.train import tensors

def status(key):
    return int(re.search(key + r":\s+(\d+)", open("/proc/self/status").read()).group(1)) * 1024

torch.set_num_threads(1)
cds.load_train("cifar10")  # the process-wide cache of the download: read once, shared by every job
spec, config = archspec.PRESETS[{spec!r}], recipes.TrainConfig(**{config!r})
small = recipes.TrainConfig(**{{**{config!r}, "subset": 200}})  # warm-up: torch's one-off buffers are not the job's
run = runner.TrainingRun(spec, small, torch.device("cpu"))
loop.train_epoch(run.model, run.data, run.optimizer, torch.device("cpu"), batch_size=64)
loop.evaluate(run.model, run.data.val_x, run.data.val_y, torch.device("cpu"), 256, meta=run.data.meta)
del run
base = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM to the current RSS
run = runner.TrainingRun(spec, config, torch.device("cpu"))
batches = iter(range(4))
loop.train_epoch(run.model, run.data, run.optimizer, torch.device("cpu"), batch_size=config.batch_size,
               should_stop=lambda: next(batches, None) is None)
loop.evaluate(run.model, run.data.val_x[:1024], run.data.val_y[:1024], torch.device("cpu"), run.memory.eval_batch,
            meta=run.data.meta)
print(json.dumps({{"peak": status("VmHWM") - base, "estimate": run.memory.total, "data": run.memory.data,
                   "stored": run.data.train_x.numel() + run.data.val_x.numel(), "n": run.data.n_train + run.data.n_val,
                   "dtype": str(run.data.train_x.dtype)}}))
"""


def test_the_estimate_keeps_all_of_cifar10_within_a_job():
    spec, config = archspec.PRESETS[SPEC], recipes.TrainConfig(**CONFIG)
    est = recipes.memory_estimate(spec, config)
    assert est.data == 50_000 * 3 * 32 * 32  # one byte per value
    assert est.total <= jobs.DEFAULT_JOB_MEMORY_MB * 2**20 and recipes.memory_reason(spec, config) is None
    as_floats = est.data * 4 + est.parameters + est.training + est.evaluation
    assert as_floats > jobs.DEFAULT_JOB_MEMORY_MB * 2**20  # what float32 storage would have needed: refused


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_measured_peak_of_full_cifar10_training_matches_the_estimate(tmp_path):
    write_cifar_cache(tmp_path, n=50_000, random=False)
    code = PROBE.format(repo=str(REPO), cache=str(tmp_path), spec=SPEC, config=CONFIG)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert m["n"] == 50_000 and m["dtype"] == "torch.uint8" and m["stored"] == m["data"]
    ratio = m["peak"] / m["estimate"]
    assert MARGIN[0] <= ratio <= MARGIN[1], m
    assert m["peak"] <= jobs.DEFAULT_JOB_MEMORY_MB * 2**20, m


def test_bytes_float_and_numpy_inputs_evaluate_alike():
    """uint8 on the device, normalised per batch, gives what normalising the whole set first gives."""
    import numpy as np
    import torch

    from core.data import registry as cds
    from core.train.convnet import build_model

    meta = cds.DATASETS["cifar10"]
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), np.arange(40) % 10
    model = build_model(archspec.PRESETS[SPEC], meta.shape, generator=torch.Generator().manual_seed(0))
    cpu = torch.device("cpu")
    as_bytes = loop.evaluate(model, tensors.to_bytes(images, cpu), labels, cpu, batch_size=16, meta=meta)
    as_numpy = loop.evaluate(model, images, labels, cpu, batch_size=7, meta=meta)
    as_floats = loop.evaluate(model, torch.from_numpy(cds.to_float(images, meta)), labels, cpu, batch_size=40)
    np.testing.assert_allclose(as_bytes.probabilities, as_floats.probabilities, atol=1e-6)
    np.testing.assert_allclose(as_numpy.probabilities, as_floats.probabilities, atol=1e-6)
    assert tensors.to_bytes(images, cpu, np.array([5, 2])).shape == (2, 3, 32, 32)
    assert int(tensors.to_bytes(images, cpu, np.array([5, 2]))[1, 2, 3, 4]) == int(images[2, 3, 4, 2])  # (N, H, W, C) → (N, C, H, W)
