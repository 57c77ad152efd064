"""The job's estimate covers evaluation after training, measured in a fresh interpreter.

Evaluation runs in the process that has just trained, and the memory of the training steps stays with
it (torch's CPU allocator and glibc keep freed blocks), so an evaluation batch comes on top of it; a
max pooling builds its int64 indices in evaluation too. The network here is chosen so that evaluation,
not training, is the larger part: two convolutions with max pooling, trained at batch 16, evaluated at
the batch ``recipes.memory_estimate`` picks. The peak (VmHWM, reset just before the job) must be within
1.2 times the estimate, and not far under it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.arch import recipes
from core.arch import spec as archspec
from tests.conftest import REPO

LAYERS = "c32k3p1-max2-c64k3p1-max2-d64"
CONFIG = dict(batch_size=16, epochs=1, val_fraction=0.1, optimizer="adam")
MARGIN = (0.6, 1.2)

PROBE = r"""
import json, re, sys
sys.path.insert(0, {repo!r})
import torch
from core.arch import spec as archspec
from core.arch import recipes
from core.train import loop, runner, tensors

def status(key):
    return int(re.search(key + r":\s+(\d+)", open("/proc/self/status").read()).group(1)) * 1024

torch.set_num_threads(1)
spec = archspec.ArchSpec("probe", "probe", archspec.layers_from_text({layers!r}))
config = recipes.TrainConfig(**{config!r})
test_x, test_y = tensors.test_tensors(torch.device("cpu"), limit=2048)
warm = runner.TrainingRun(spec, recipes.TrainConfig(**{{**{config!r}, "subset": 200}}), torch.device("cpu"))
loop.train_epoch(warm.model, warm.data, warm.optimizer, torch.device("cpu"), batch_size=16)
loop.evaluate(warm.model, test_x[:64], test_y[:64], torch.device("cpu"), 32)  # torch's one-off buffers
del warm
base = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM to the current RSS
run = runner.TrainingRun(spec, config, torch.device("cpu"))
batches = iter(range(4))
loop.train_epoch(run.model, run.data, run.optimizer, torch.device("cpu"), batch_size=config.batch_size,
                 should_stop=lambda: next(batches, None) is None)
loop.evaluate(run.model, test_x, test_y, torch.device("cpu"), run.memory.eval_batch)
m = run.memory
print(json.dumps({{"peak": status("VmHWM") - base, "total": m.total, "eval_batch": m.eval_batch,
                   "training": m.training, "evaluation": m.evaluation, "fixed": m.parameters + m.data}}))
"""


def test_evaluation_is_the_larger_part_here():
    est = recipes.memory_estimate(archspec.ArchSpec("p", "p", archspec.layers_from_text(LAYERS)),
                                  recipes.TrainConfig(**CONFIG))
    assert est.evaluation > 4 * est.training and est.eval_batch == 1024
    assert est.total == est.parameters + est.data + est.training + est.evaluation


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_measured_peak_of_training_then_evaluation_is_within_the_estimate():
    code = PROBE.format(repo=str(REPO), layers=LAYERS, config=CONFIG)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    m = json.loads(out.stdout.strip().splitlines()[-1])
    ratio = m["peak"] / m["total"]
    print(json.dumps({**m, "ratio": round(ratio, 3)}))
    assert MARGIN[0] <= ratio <= MARGIN[1], m
