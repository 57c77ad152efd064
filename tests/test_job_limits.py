"""The job limit and the time limit cover the whole job (training, validation, test),
and "same seed, same curves" holds while other students train at the same time."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
import torch

from core.arch import spec as archspec

from core.train import convnet
from core.arch import recipes
from core.train import loop
from core.train import runner
from core.train import tensors
from tests.conftest import REPO

CPU = torch.device("cpu")
SMALL = recipes.TrainConfig(epochs=1, subset=600, batch_size=32, lr=3e-3, seed=0, augment=True)


@pytest.fixture(scope="module")
def test_slice():
    return tensors.test_tensors(CPU, limit=1000)


def strip(history):
    return [dataclasses.replace(r, seconds=0.0) for r in history]


@pytest.mark.system  # two trainings at once
def test_same_seed_same_curves_while_another_student_trains(test_slice):
    """Two threads train at once (different seeds, dropout and augmentation on); each one's curves are
    exactly what it gets alone. Saving/restoring torch's global RNG around steps cannot give this."""
    spec = archspec.PRESETS["twoconv"]  # dropout 0.5: masks need random numbers at every batch
    alone = {seed: runner.fit(spec, dataclasses.replace(SMALL, seed=seed), device=CPU, test=test_slice)
             for seed in (0, 1)}
    together: dict[int, runner.TrainResult] = {}
    start = threading.Barrier(2)

    def train(seed: int) -> None:
        start.wait()
        together[seed] = runner.fit(spec, dataclasses.replace(SMALL, seed=seed), device=CPU, test=test_slice)

    threads = [threading.Thread(target=train, args=(seed,)) for seed in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in (0, 1):
        assert together[seed].batch_log == alone[seed].batch_log, f"seed {seed}"
        assert strip(together[seed].history) == strip(alone[seed].history)
        np.testing.assert_array_equal(together[seed].test.probabilities, alone[seed].test.probabilities)
    assert alone[0].batch_log != alone[1].batch_log


def test_training_touches_no_global_random_state(test_slice):
    before = torch.get_rng_state()
    runner.fit(archspec.PRESETS["twoconv"], SMALL, device=CPU, test=test_slice)
    assert torch.equal(torch.get_rng_state(), before)


def test_validation_time_counts_against_the_time_limit(test_slice):
    run = runner.TrainingRun(archspec.PRESETS["lenet5"], dataclasses.replace(SMALL, epochs=2, val_fraction=0.3),
                         CPU, test=test_slice)
    run.run()
    training_only = sum(h.seconds for h in run.history)
    assert run.seconds > training_only  # validation (and the test) are part of the job's seconds


@pytest.mark.system  # waits for a time limit
def test_time_limit_covers_the_test_evaluation():
    """A run whose time is used up by training gets its test cut at the limit, and says so."""
    run = runner.TrainingRun(archspec.PRESETS["lenet5"], dataclasses.replace(SMALL, time_limit_s=30.0), CPU)
    run.step()
    run.seconds = run.config.time_limit_s  # as if training had used the whole limit
    result = run.finish()
    assert result.test.cut_short and result.test.n == run.memory.eval_batch < 10_000
    assert "time limit ended the test" in result.message


def test_evaluate_stops_at_its_deadline_but_always_reports_one_batch(test_slice):
    model = convnet.build_model(archspec.PRESETS["lenet5"], generator=torch.Generator().manual_seed(0))
    x, y = test_slice
    full = loop.evaluate(model, x, y, CPU, batch_size=100)
    cut = loop.evaluate(model, x, y, CPU, batch_size=100, deadline=0.0)
    assert not full.cut_short and full.n == 1000
    assert cut.cut_short and cut.n == 100
    np.testing.assert_array_equal(cut.probabilities, full.probabilities[:100])


def test_the_test_evaluation_holds_a_training_slot(monkeypatch):
    """On the page, the job slot is held until the test set is evaluated, not released before it."""
    from streamlit.testing.v1 import AppTest

    from ui import train_views as tv

    seen: list[int] = []
    real_finish = runner.TrainingRun.finish

    def finish(self, *args, **kwargs):
        seen.append(tv.job_limiter().running)
        return real_finish(self, *args, **kwargs)

    monkeypatch.setenv("CONVLAB_TRAIN_SUBSET", "300")
    monkeypatch.setattr(runner.TrainingRun, "finish", finish)
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
    at.query_params.update({"ep": "1", "arch": "linear"})
    at.run()
    at.switch_page("pages/train.py").run()
    at.button(key="train.go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert seen and seen[0] == 1
    assert tv.job_limiter().running == 0 and at.session_state["train.result"].test is not None
