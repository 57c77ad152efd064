"""Training core: learning works, divergence and stops end cleanly, seeds reproduce, the job limiter limits."""

import dataclasses
import os
import threading

import numpy as np
import pytest
import torch

from core.data import mnist as cdata
from core.arch import jobs
from core.arch import spec as archspec
from core.train import convnet
from core.arch import layer_table as lt
from core.arch import recipes
from core.train import devices
from core.train import loop
from core.train import runner
from core.train import tensors
from core.train.augment import random_affine

CPU = torch.device("cpu")
SMALL = recipes.TrainConfig(epochs=1, subset=600, batch_size=64, lr=3e-3, seed=0)


@pytest.fixture(scope="module")
def test_slice():
    return tensors.test_tensors(CPU, limit=2000)


def strip(history):
    return [dataclasses.replace(r, seconds=0.0) for r in history]


def test_pick_device_falls_back_to_cpu():
    assert devices.pick_device("cpu").type == "cpu"
    dev = devices.pick_device()
    assert dev.type == ("cuda" if torch.cuda.is_available() else dev.type)
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert dev.type == "cpu" and devices.pick_device("cuda").type == "cpu"
    assert "CPU" in devices.device_text(CPU)


def test_prepare_data_normalises_and_splits_stratified():
    data = tensors.prepare_data(recipes.TrainConfig(val_fraction=0.1), CPU)
    # Bytes on the device (a quarter of float32), normalised batch by batch.
    assert data.train_x.shape == (4500, 1, 28, 28) and data.train_x.dtype == torch.uint8
    assert data.val_x.shape == (500, 1, 28, 28)
    assert np.bincount(data.val_y.numpy(), minlength=10).tolist() == [50] * 10
    raw = cdata.load_shipped_train()
    x = data.floats(data.train_x)
    assert x.dtype == torch.float32
    expected_min = (0 - cdata.MNIST_MEAN) / cdata.MNIST_STD
    expected_max = (1 - cdata.MNIST_MEAN) / cdata.MNIST_STD
    assert float(x.min()) == pytest.approx(expected_min, abs=1e-6)
    assert float(x.max()) == pytest.approx(expected_max, abs=1e-6)
    # The same digits, just reordered: sums over the whole set match the raw pixels.
    total = (x.sum() + data.floats(data.val_x).sum()).item() * cdata.MNIST_STD + cdata.MNIST_MEAN * 5000 * 784
    assert total == pytest.approx(raw.images.astype(np.float64).sum() / 255, rel=1e-4)
    assert int(data.train_x.sum() + data.val_x.sum()) == int(raw.images.astype(np.int64).sum())


def test_subset_is_stratified():
    data = tensors.prepare_data(dataclasses.replace(SMALL, val_fraction=0.2), CPU)
    assert data.n_train + data.n_val == 600
    assert np.bincount(data.train_y.numpy(), minlength=10).tolist() == [48] * 10


def test_short_training_learns_well_above_chance(test_slice):
    result = runner.fit(archspec.PRESETS["lenet5"], dataclasses.replace(SMALL, epochs=2), device=CPU, test=test_slice)
    assert result.stopped_reason == "completed"
    assert len(result.history) == 2 and result.history[1].epoch == 2
    assert result.history[1].train_loss < result.history[0].train_loss
    assert result.test is not None and result.test.accuracy > 0.6  # chance is 0.1
    assert result.test.n == 2000
    assert result.params == sum(p.numel() for p in result.model.parameters())
    assert result.batch_log and result.batch_log[-1][0] == pytest.approx(2.0)


def test_absurd_learning_rate_diverges_cleanly(test_slice):
    config = dataclasses.replace(SMALL, optimizer="sgd", lr=1e4, epochs=3)
    result = runner.fit(archspec.PRESETS["lenet5"], config, device=CPU, test=test_slice)
    assert result.stopped_reason == "diverged"
    assert result.test is None
    assert "learning rate" in result.message and "lower" in result.message
    assert len(result.history) < 3


def test_same_seed_same_curve_different_seed_different(test_slice):
    config = dataclasses.replace(SMALL, augment=True)
    spec = archspec.PRESETS["twoconv"]  # has dropout: the global RNG is seeded too
    a = runner.fit(spec, config, device=CPU, test=test_slice)
    b = runner.fit(spec, config, device=CPU, test=test_slice)
    c = runner.fit(spec, dataclasses.replace(config, seed=1), device=CPU, test=test_slice)
    assert strip(a.history) == strip(b.history)
    assert a.batch_log == b.batch_log
    np.testing.assert_array_equal(a.test.probabilities, b.test.probabilities)
    assert strip(a.history) != strip(c.history)


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_exactly_where_it_was(test_slice):
    """A page interruption mid-epoch (an exception from the callback) loses nothing: resuming gives the
    same model as an uninterrupted run."""
    config = dataclasses.replace(SMALL, epochs=2, augment=True)
    spec = archspec.PRESETS["lenet5"]
    straight = runner.fit(spec, config, device=CPU, test=test_slice)

    run = runner.TrainingRun(spec, config, CPU, test=test_slice)

    def interrupt_at_3(i, n, loss):
        if i == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        run.step(interrupt_at_3)
    assert not run.done and run.cursor.next_batch == 3
    torch.manual_seed(12345)  # someone else used the global RNG meanwhile
    resumed = run.run()
    assert strip(resumed.history) == strip(straight.history)
    np.testing.assert_array_equal(resumed.test.probabilities, straight.test.probabilities)


def test_stop_keeps_partial_model(test_slice):
    result = runner.fit(archspec.PRESETS["linear"], dataclasses.replace(SMALL, epochs=5),
                    on_batch=lambda i, n, loss: i < 4, device=CPU, test=test_slice)
    assert result.stopped_reason == "stopped"
    assert "kept" in result.message
    last = result.history[-1]
    assert last.partial and 0 < last.epoch < 1
    assert result.test is not None and result.test.accuracy > 0.2


def test_should_stop_and_on_epoch_stop(test_slice):
    calls = []
    result = runner.fit(archspec.PRESETS["linear"], dataclasses.replace(SMALL, epochs=4),
                    on_epoch=lambda rec, run: calls.append(rec.epoch) or len(calls) < 2, device=CPU, test=test_slice)
    assert calls == [1, 2] and result.stopped_reason == "stopped" and result.epochs_trained == 2
    flag = {"n": 0}

    def should_stop():
        flag["n"] += 1
        return flag["n"] >= 2

    result = runner.fit(archspec.PRESETS["linear"], SMALL, should_stop=should_stop, device=CPU, test=test_slice)
    assert result.stopped_reason == "stopped" and result.history[-1].partial


def test_time_limit_stops_with_explanation(test_slice):
    config = dataclasses.replace(SMALL, epochs=50, time_limit_s=0.05)
    result = runner.fit(archspec.PRESETS["lenet5"], config, device=CPU, test=test_slice)
    assert result.stopped_reason == "time limit"
    assert "time limit" in result.message and result.epochs_trained < 50
    assert result.test is not None


def test_train_epoch_standalone_returns_metrics():
    torch.manual_seed(0)
    model = convnet.build_model(archspec.PRESETS["linear"])
    data = tensors.prepare_data(SMALL, CPU)
    optimizer = loop.make_optimizer(model, SMALL)
    seen = []
    metrics = loop.train_epoch(model, data, optimizer, CPU, on_batch=lambda i, n, loss: seen.append((i, n)),
                             batch_size=SMALL.batch_size)
    n = -(-data.n_train // SMALL.batch_size)
    assert seen[-1] == (n, n) and metrics.batches == n and metrics.samples == data.n_train
    assert 0 < metrics.accuracy <= 1 and np.isfinite(metrics.loss) and not metrics.stopped


def test_evaluate_against_numpy():
    torch.manual_seed(0)
    model = convnet.build_model(archspec.PRESETS["linear"])
    test = cdata.load_test()
    images, labels = test.images[:500], test.labels[:500]
    ev = loop.evaluate(model, images, labels, CPU, batch_size=128)
    with torch.no_grad():
        logits = model(tensors.to_tensor(images, CPU)).numpy()
    pred = logits.argmax(1)
    assert ev.accuracy == pytest.approx((pred == labels).mean())
    np.testing.assert_array_equal(ev.predictions, pred)
    np.testing.assert_allclose(ev.probabilities.sum(1), 1, atol=1e-5)
    assert ev.confusion.sum() == 500
    np.testing.assert_array_equal(ev.confusion.sum(1), np.bincount(labels, minlength=10))
    np.testing.assert_allclose(ev.per_class, np.diag(ev.confusion) / ev.confusion.sum(1))
    assert model.training  # evaluate restores the mode


def test_config_check_messages():
    for bad, word in [(dict(lr=-1.0), "learning rate"), (dict(optimizer="rmsprop"), "optimizer"),
                      (dict(batch_size=0), "batch size"), (dict(dataset="cifar"), "dataset")]:
        with pytest.raises(ValueError, match=word):
            dataclasses.replace(recipes.TrainConfig(), **bad).check()


@pytest.mark.parametrize("optimizer, lr", [("adam", 1e-3), ("adamw", 1e-3), ("sgd", 0.05), ("adadelta", 1.0)])
def test_every_optimizer_and_schedule_runs(optimizer, lr, test_slice):
    for schedule in recipes.SCHEDULES:
        config = dataclasses.replace(SMALL, optimizer=optimizer, lr=lr, schedule=schedule, subset=200)
        result = runner.fit(archspec.PRESETS["linear"], config, device=CPU, test=test_slice)
        assert result.stopped_reason == "completed" and np.isfinite(result.history[-1].train_loss)


def test_full_mnist_not_downloaded_gives_data_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLAB_CACHE", str(tmp_path))
    with pytest.raises(cdata.DataError, match="Download"):
        tensors.prepare_data(recipes.TrainConfig(dataset="full60k"), CPU)


# ---------------------------------------------------------------------------------------------
# Augmentation


def test_augment_identity_when_ranges_are_zero():
    x = tensors.to_tensor(cdata.load_test().images[:8], CPU)
    y = random_affine(x, torch.Generator().manual_seed(0), max_shift_px=0, max_rotate_deg=0, max_scale=0)
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


def test_augment_shifts_are_bounded_and_seeded():
    x = tensors.to_tensor(cdata.load_test().images[:64], CPU)
    a = random_affine(x, torch.Generator().manual_seed(3))
    b = random_affine(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    assert a.shape == x.shape and not torch.allclose(a, x)
    # Centre of mass moves by at most shift + what rotation/scaling about the centre can add.
    def com(t):
        w = (t[:, 0] - t.min()).clamp(min=0)
        ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
        return torch.stack([(w * ys).sum((1, 2)) / w.sum((1, 2)), (w * xs).sum((1, 2)) / w.sum((1, 2))], 1)
    assert float((com(a) - com(x)).abs().max()) < 5.0
    # Pure shift of exactly +2 px in x moves the centre of mass by 2 px.
    gen = torch.Generator().manual_seed(0)
    theta_x = random_affine(x, gen, max_shift_px=2, max_rotate_deg=0, max_scale=0)
    assert float((com(theta_x) - com(x)).abs().max()) <= 2.2


# ---------------------------------------------------------------------------------------------
# Job limiter


def test_job_limiter_refuses_when_full():
    limiter = jobs.JobLimiter(2)
    assert limiter.try_acquire() and limiter.try_acquire()
    assert not limiter.try_acquire() and limiter.running == 2
    with pytest.raises(jobs.ServerBusy, match="busy"):
        with limiter.slot():
            pass
    limiter.release()
    with limiter.slot():
        assert limiter.running == 2
    assert limiter.running == 1
    limiter.release()
    with pytest.raises(ValueError):
        limiter.release()  # BoundedSemaphore: releasing more than acquired is a bug


def test_job_limiter_threads_never_exceed_capacity():
    limiter = jobs.JobLimiter(2)
    peak, lock, barrier = [0], threading.Lock(), threading.Barrier(6)

    def worker():
        barrier.wait()
        for _ in range(200):
            if limiter.try_acquire():
                with lock:
                    peak[0] = max(peak[0], limiter.running)
                limiter.release()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] <= 2 and limiter.running == 0


def test_job_env_settings(monkeypatch):
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "3")
    monkeypatch.setenv(jobs.TIME_LIMIT_ENV, "45")
    assert jobs.JobLimiter().capacity == 3 and jobs.time_limit_from_env() == 45
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "zero")
    monkeypatch.setenv(jobs.TIME_LIMIT_ENV, "-1")
    assert jobs.max_jobs_from_env() == 2 and jobs.time_limit_from_env() == 120


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="per-thread priorities are a Linux feature")
def test_training_priority_is_lowered_for_its_thread_only():
    """Inside ``lower_priority`` this thread (and threads it starts, as torch's OpenMP workers) run
    niced; other threads, and this one afterwards, keep their priority."""
    seen: dict[str, int] = {}

    def nice_of_this_thread() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def trainer() -> None:
        seen["before"] = nice_of_this_thread()
        with jobs.lower_priority(5) as lowered:
            seen["lowered"] = int(lowered)
            seen["inside"] = nice_of_this_thread()
            child = threading.Thread(target=lambda: seen.setdefault("child", nice_of_this_thread()))
            child.start()
            child.join()
        seen["after"] = nice_of_this_thread()

    main_nice = nice_of_this_thread()
    worker = threading.Thread(target=trainer)
    worker.start()
    worker.join()
    assert seen["lowered"] == 1
    assert seen["inside"] == min(19, seen["before"] + 5) == seen["child"]
    assert nice_of_this_thread() == main_nice
    if os.geteuid() == 0:  # raising the priority back needs privileges; a script run's thread ends anyway
        assert seen["after"] == seen["before"]


def test_stop_from_another_thread_waits_for_the_running_step():
    """Two script runs of one session can overlap: the Stop click's run calls ``stop`` while the
    interrupted run is still finishing its epoch. ``stop`` must wait for that ``step`` (before the
    lock, ``step`` then failed on the cursor ``stop`` had cleared)."""
    run = runner.TrainingRun(archspec.PRESETS["linear"], recipes.TrainConfig(epochs=3, subset=300, batch_size=64),
                         torch.device("cpu"))
    stopped = threading.Event()
    other = threading.Thread(target=lambda: (run.stop(), stopped.set()))

    def on_batch(i: int, n: int, loss: float) -> None:
        if i == n:  # the epoch's last batch: the other session thread presses Stop now
            other.start()
            assert not stopped.wait(0.5), "stop() ran in the middle of step()"

    record = run.step(on_batch)
    other.join(10)
    assert stopped.is_set() and record is not None and record.epoch == 1
    assert run.done and run.stopped_reason == recipes.STOP_STOPPED
    result = run.finish()
    assert result.epochs_trained == 1 and result.test is not None
    assert run.claim() and not run.claim()


def test_each_optimizer_has_its_own_default_rate_and_far_rates_are_warned():
    assert set(recipes.DEFAULT_LR) == set(recipes.OPTIMIZERS)
    for optimizer, lr in recipes.DEFAULT_LR.items():
        assert recipes.lr_warning(optimizer, lr) is None
        assert recipes.lr_warning(optimizer, lr * 9) is None and recipes.lr_warning(optimizer, lr / 9) is None
    warning = recipes.lr_warning("adadelta", 0.002)
    assert warning and "500× smaller" in warning and "1" in warning
    assert "larger" in recipes.lr_warning("adam", 0.5)


def test_adadelta_learns_at_its_default_rate_not_at_adams(test_slice):
    config = dataclasses.replace(SMALL, optimizer="adadelta", subset=1000, epochs=2)
    good = runner.fit(archspec.PRESETS["linear"], dataclasses.replace(config, lr=recipes.DEFAULT_LR["adadelta"]), device=CPU,
                  test=test_slice)
    slow = runner.fit(archspec.PRESETS["linear"], dataclasses.replace(config, lr=0.002), device=CPU, test=test_slice)
    assert good.test.accuracy > 0.6 and good.test.accuracy > slow.test.accuracy + 0.3, (good.test.accuracy, slow.test.accuracy)


def test_shipped_sidecar_describes_its_recipe_truthfully():
    import json

    from scripts.train_shipped_models import RECIPES
    from tests.conftest import REPO

    for recipe in RECIPES:
        sidecar = json.loads((REPO / "exported_models" / f"{recipe.name}.json").read_text())
        assert sidecar["notes"] == recipe.notes
        assert sidecar["training"]["epochs"] == recipe.config.epochs
    bncnn = RECIPES[0]
    assert f"{bncnn.config.epochs} epochs instead of {recipes.RECOMMENDED['bncnn'].epochs}" in bncnn.notes


def test_train_size_is_stratified_and_keeps_the_validation_split():
    full = tensors.prepare_data(recipes.TrainConfig(val_fraction=0.1), CPU)
    small = tensors.prepare_data(recipes.TrainConfig(val_fraction=0.1, train_size=1000), CPU)
    assert small.n_train == 1000 and np.bincount(small.train_y.numpy(), minlength=10).tolist() == [100] * 10
    assert small.n_val == full.n_val == 500
    torch.testing.assert_close(small.val_x, full.val_x)  # the same validation digits: curves comparable
    assert recipes.planned_images(recipes.TrainConfig(train_size=1000)) == 1500


@pytest.mark.system  # 20 epochs
def test_overfitting_is_visible_with_1000_images(test_slice):
    """With 1,000 training images the training and validation curves diverge."""
    config = recipes.TrainConfig(optimizer="adam", lr=2e-3, batch_size=64, epochs=15, train_size=1000, seed=0)
    result = runner.fit(archspec.PRESETS["mlp"], config, device=CPU, test=test_slice)
    last = result.history[-1]
    assert last.train_acc > 0.99 and last.train_acc - last.val_acc > 0.05
    assert last.val_loss > 2 * last.train_loss
    best_val_loss = min(h.val_loss for h in result.history)
    assert last.val_loss > best_val_loss  # validation loss turned up again while training loss kept falling


def test_exponential_schedule_ends_at_a_tenth():
    model = torch.nn.Linear(2, 2)
    config = recipes.TrainConfig(schedule="exponential", lr=0.01, epochs=4)
    optimizer = loop.make_optimizer(model, config)
    scheduler = loop.make_scheduler(optimizer, config, steps_per_epoch=25)
    lrs = []
    for _ in range(100):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs[-1] == pytest.approx(0.001, rel=1e-6)
    ratios = np.array(lrs[1:]) / np.array(lrs[:-1])
    np.testing.assert_allclose(ratios, 0.1 ** (1 / 100), rtol=1e-9)  # the same factor every step


def test_lesson_presets_as_in_the_lessons():
    one = {r.name: r for r in lt.layer_table(archspec.PRESETS["lesson1"])}
    assert one["conv1"].out_shape == (32, 26, 26) and one["conv2"].out_shape == (64, 24, 24)
    assert one["pool1"].out_shape == (64, 12, 12) and one["flatten"].out_shape == (9216,)
    assert one["dense1"].params == 9216 * 128 + 128
    three = {r.name: r for r in lt.layer_table(archspec.PRESETS["lesson3"])}
    assert three["conv1"].out_shape == (32, 28, 28) and three["conv2"].out_shape == (64, 14, 14)  # "same"
    assert three["dense1"].out_shape == (100,) and three["flatten"].out_shape == (64 * 7 * 7,)
    for key in ("lesson1", "lesson3"):
        assert archspec.PRESETS[key].note.startswith("As in the lesson")


def test_matched_dense_network_has_about_the_same_parameters():
    for key in ("twoconv", "lenet5", "lesson3"):
        target = lt.count_params(archspec.PRESETS[key])
        dense = archspec.matched_dense(target)
        h = dense.layers[0].units
        assert lt.count_params(dense) == 784 * h + h + 10 * h + 10  # by hand
        assert abs(lt.count_params(dense) - target) <= 795 / 2 + 1  # within half a hidden unit


@pytest.mark.parametrize("key", ["lesson0", "lesson4"])
def test_the_lesson_presets_are_the_lessons_networks_and_train(key, test_slice):
    """seed 000's LeNet-like net (valid 5×5 convs: 28→24→12→8→4, dense 128, dropout 0.2, dense 84) and seed
    004's 4 shared 3×3 kernels with tanh on 1,000 images, at their recommended settings."""
    spec, recipe = archspec.PRESETS[key], recipes.RECOMMENDED[key]
    rows = lt.layer_table(spec)
    shapes = [r.out_shape for r in rows if r.kind in ("conv", "pool")]
    if key == "lesson0":
        assert shapes == [(6, 24, 24), (6, 12, 12), (16, 8, 8), (16, 4, 4)]
        assert [r.out_shape for r in rows if r.kind == "dense"][:2] == [(128,), (84,)]
        assert (recipe.optimizer, recipe.batch_size) == ("adam", 32)
    else:
        assert shapes == [(4, 26, 26)] and spec.activation == "tanh" and recipe.train_size == 1_000
        assert lt.count_params(spec) == 4 * 9 + 4 + 2704 * 10 + 10  # 40 shared kernel weights, then 2,704 → 10
    config = dataclasses.replace(recipe, epochs=2, subset=2_000, time_limit_s=60.0)
    result = runner.fit(spec, config, device=CPU, test=test_slice)
    assert result.stopped_reason == "completed" and result.test.accuracy > 0.5, result.message


def test_initialisations_draw_what_they_say():
    """PyTorch's default, normal with the lesson's σ = 0.1, and zeros (reproducible from the seed)."""
    spec = archspec.PRESETS["lenet5"]
    normal = convnet.seeded_model(spec, (1, 28, 28), seed=3, init="normal", sigma=0.1)
    w = torch.cat([p.detach().flatten() for n, p in normal.named_parameters() if n.endswith("weight")])
    assert abs(float(w.std()) - 0.1) < 0.005 and abs(float(w.mean())) < 0.005
    again = convnet.seeded_model(spec, (1, 28, 28), seed=3, init="normal", sigma=0.1)
    assert all(torch.equal(a, b) for a, b in zip(normal.parameters(), again.parameters()))
    zeros = convnet.seeded_model(spec, (1, 28, 28), seed=3, init="zeros")
    assert all(float(p.abs().max()) == 0.0 for p in zeros.parameters())
    default = convnet.first_conv_weight(convnet.seeded_model(spec, (1, 28, 28), seed=3))
    bound = 1 / np.sqrt(25)  # Kaiming uniform with a = √5 on a 1×5×5 fan-in: U(−1/√25, 1/√25)
    assert np.abs(default).max() <= bound and np.abs(default).max() > 0.9 * bound


def test_zero_weights_keep_every_kernel_identical(test_slice):
    """Why not zeros: every unit of a layer gets the same gradient, so after training the kernels are still
    copies of one another (the page says so next to the choice)."""
    config = dataclasses.replace(SMALL, init="zeros", optimizer="sgd", lr=0.05)
    result = runner.fit(archspec.PRESETS["lenet5"], config, device=CPU, test=test_slice)
    k = convnet.first_conv_weight(result.model)  # (6, 1, 5, 5)
    assert np.allclose(k, k[0:1], atol=1e-7)
    with pytest.raises(ValueError, match="initialisation"):
        dataclasses.replace(SMALL, init="ones").check()
