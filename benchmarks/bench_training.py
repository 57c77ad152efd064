"""Training speed, the best recipe's accuracy and time, and the app's memory while training.

* LeNet-5, one epoch over the 4,500 shipped training digits (batch 128, Adam), CPU: seconds per epoch.
* The "bncnn" recipe (``core.arch.recipes.RECOMMENDED["bncnn"]``), trained only on the shipped digits:
  accuracy on the official 10k test set and wall time of the whole ``fit`` (data, training, test).
* Peak RSS of a process running the Train page under Streamlit's AppTest while it trains that recipe
  (Streamlit runtime + page + torch + training, measured in a fresh subprocess).
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from core.arch import recipes
from core.train import runner  # first: core.train configures OpenMP before torch loads  # isort: skip
import torch  # noqa: E402

from benchmarks.common import Result, check  # noqa: E402
from core.arch import spec as archspec  # noqa: E402
from core.arch import layer_table as lt  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


def lenet_epoch_seconds(epochs: int = 5) -> tuple[float, float]:
    """Median training seconds of epochs 2..n (the first warms up the allocator and kernels), and the
    median process CPU seconds per epoch (validation included): on a shared, loaded machine the CPU
    time says what the epoch costs when the cores are free."""
    config = dataclasses.replace(recipes.RECOMMENDED["lenet5"], epochs=epochs, time_limit_s=1e9)
    run = runner.TrainingRun(archspec.PRESETS["lenet5"], config, CPU)
    times, cpu = [], []
    while not run.done:
        c0 = time.process_time()
        record = run.step()
        if record is not None:
            times.append(record.seconds)
            cpu.append(time.process_time() - c0)
    return statistics.median(times[1:]), statistics.median(cpu[1:])


def recipe(seed: int = 0) -> tuple[float, float, float, float]:
    """(test accuracy, wall seconds of fit, training seconds, process CPU seconds) for the bncnn recipe."""
    config = dataclasses.replace(recipes.RECOMMENDED["bncnn"], seed=seed, time_limit_s=1e9)
    t0, c0 = time.perf_counter(), time.process_time()
    result = runner.fit(archspec.PRESETS["bncnn"], config, device=CPU)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert result.test is not None
    return result.test.accuracy, wall, result.seconds, cpu


APP_SCRIPT = textwrap.dedent("""
    import json, resource, sys, time
    sys.path.insert(0, {repo!r})
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file({app!r}, default_timeout=600)
    at.query_params["arch"] = "bncnn"
    at.run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train.arch").set_value("lenet5").run()
    at.selectbox(key="train.arch").set_value("bncnn").run()   # loads the recipe's settings
    t0 = time.perf_counter()
    at.button(key="train.go").click().run()
    wall = time.perf_counter() - t0
    result = at.session_state["train.result"]
    print(json.dumps({{"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "acc": result.test.accuracy, "wall": wall, "reason": result.stopped_reason,
                      "exceptions": [str(e.value) for e in at.exception]}}))
""")


def app_training_rss() -> dict:
    script = APP_SCRIPT.format(repo=str(REPO), app=str(REPO / "streamlit_app.py"))
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "CONVLAB_TRAINING_TIME_LIMIT_S": "600", "CONVLAB_TRAIN_SUBSET": ""})
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not line:
        raise RuntimeError(f"app run failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(line[-1])


def load_note() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def run() -> list[Result]:
    epoch_s, epoch_cpu = lenet_epoch_seconds()
    results = [check("LeNet-5 epoch, 4,500 shipped digits, CPU", epoch_s, "s", limit=0.3,
                     note=f"batch 128, Adam, {torch.get_num_threads()} threads, median of epochs 2-5; "
                          f"{epoch_cpu:.2f} CPU s per epoch incl. validation; {load_note()}")]
    acc, wall, train_s, cpu = recipe()
    cfg = recipes.RECOMMENDED["bncnn"]
    note = (f"bncnn: {lt.count_params(archspec.PRESETS['bncnn']):,} params, {cfg.epochs} epochs, AdamW one-cycle "
            f"lr {cfg.lr:g}, augmentation; trained on the 5k shipped digits only")
    results.append(check("recipe: test accuracy (official 10k)", 100 * acc, "%", at_least=98.0, note=note))
    results.append(check("recipe: wall time of fit (data + training + test)", wall, "s", limit=30.0,
                         note=f"{train_s:.1f} s of it training; {cpu:.1f} CPU s; {load_note()}"))
    app = app_training_rss()
    results.append(check("app process peak RSS while training the recipe", app["rss_mb"], "MB", limit=700.0,
                         note=f"AppTest of the Train page; {app['reason']}, {100 * app['acc']:.2f}% test, "
                              f"{app['wall']:.1f} s"))
    return results


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
