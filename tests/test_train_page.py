"""The Train page under AppTest: every preset's layer table, a tiny real training run with curves,
confusion matrix and galleries, the Stop and resume paths, the server-wide job limit, and the
inference-only install. Plus one real-browser test that Stop interrupts a live run."""

import base64
import dataclasses
import json
import sys

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.arch import layer_table as lt
from core.arch import recipes
from core.arch import spec as archspec
from core.data import registry as cds
from core.train import runner
from tests.conftest import REPO, StreamlitServer, wait_for_app_idle

APP = str(REPO / "streamlit_app.py")
PAGE = "pages/train.py"


@pytest.fixture(autouse=True)
def tiny_runs(monkeypatch):
    monkeypatch.setenv("CONVLAB_TRAIN_SUBSET", "300")


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def decode(arr):
    if isinstance(arr, dict) and "bdata" in arr:
        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
    return np.asarray(arr)


def table_column(at: AppTest, index: int, column: str) -> list:
    """A column of the layer table (the custom editor, when shown, is a dataframe too)."""
    tables = [d.value for d in at.dataframe if column in getattr(d.value, "columns", ())]
    return list(tables[index][column])


def query(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value[-1] if isinstance(value, list) else value


def train_button(at: AppTest):
    return at.button(key="train.go")


@pytest.mark.parametrize("preset", archspec.PRESET_KEYS)
def test_every_preset_builds_its_layer_table(preset):
    at = open_page()
    at.selectbox(key="train.arch").set_value(preset).run()
    assert not at.exception
    rows = lt.layer_table(archspec.PRESETS[preset])
    assert table_column(at, 0, "output shape") == [r.shape_text for r in rows]
    assert table_column(at, 0, "layer") == [r.name for r in rows]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters"] == f"{lt.count_params(archspec.PRESETS[preset]):,}"
    assert not train_button(at).disabled
    assert at.button(key="train.stop").disabled
    # Choosing a preset loads its recommended settings.
    rec = recipes.RECOMMENDED[preset]
    assert at.slider(key="train.ep").value == rec.epochs
    assert at.toggle(key="train.aug").value == rec.augment


def test_custom_impossible_stack_is_explained_and_train_disabled():
    at = open_page({"layers": "c8k5-max2-c8k5-max2-c8k5"})
    at.selectbox(key="train.arch").set_value("custom").run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "cannot be built" in errors and "conv3" in errors and "4×4" in errors
    assert train_button(at).disabled
    assert table_column(at, 0, "output shape")[-1] == "impossible"


def test_custom_stack_with_activation_choice():
    at = open_page({"layers": "c4k3-bn-max2-d16"})
    at.selectbox(key="train.arch").set_value("custom").run()
    at.selectbox(key="train.act").set_value("tanh").run()
    assert not at.exception and not at.error
    assert "conv 3×3, 4 ch → tanh" in table_column(at, 0, "what")
    assert not train_button(at).disabled


def test_share_link_restores_settings():
    at = open_page({"arch": "twoconv", "ep": "3", "lr": "0.01", "opt": "sgd"})
    assert at.selectbox(key="train.arch").value == "twoconv"
    assert at.slider(key="train.ep").value == 3
    assert at.selectbox(key="train.opt").value == "sgd"
    assert at.number_input(key="train.lr").value == pytest.approx(0.01)


def test_custom_network_travels_in_the_share_link():
    # A teacher's own network: conv 8×3×3 stride 2 pad 1 → avg pool 2 → dropout → dense 32.
    at = open_page({"arch": "custom", "layers": "c8k3s2p1-avg2-do0.25-d32", "act": "tanh"})
    expected = archspec.ArchSpec("custom", "", (archspec.conv(8, 3, 2, 1), archspec.pool(2, mode="avg"), archspec.dropout(0.25),
                                          archspec.dense(32)), activation="tanh")
    rows = lt.layer_table(expected)
    assert table_column(at, 0, "output shape") == [r.shape_text for r in rows]
    assert {m.label: m.value for m in at.metric}["Parameters"] == f"{lt.count_params(expected):,}"
    assert query(at, "layers") == "c8k3s2p1-avg2-do0.25-d32"
    assert at.selectbox(key="train.act").value == "tanh"
    # Starting from a preset puts that preset's layers into the link.
    at.selectbox(key="train._start_from").set_value("twoconv").run()
    assert not at.exception
    assert query(at, "layers") == archspec.layers_to_text(archspec.PRESETS["twoconv"].layers)
    assert table_column(at, 0, "output shape") == [r.shape_text for r in lt.layer_table(archspec.PRESETS["twoconv"])]


def test_custom_network_link_that_cannot_be_built_is_explained():
    at = open_page({"arch": "custom", "layers": "c8k11-c8k11-c8k11"})
    assert any("cannot be built" in e.value and "conv3" in e.value for e in at.error)
    assert train_button(at).disabled
    garbage = open_page({"arch": "custom", "layers": "c8k3-<script>"})
    assert any("custom layers" in w.value and "could not use" in w.value for w in garbage.warning)
    assert table_column(garbage, 0, "output shape") == [r.shape_text for r in lt.layer_table(archspec.PRESETS["lenet5"])]


def test_classroom_link_shows_the_teachers_network_and_settings_read_only():
    link = {"arch": "custom", "layers": "c4k5-max2-d16", "opt": "sgd", "lr": "0.05", "bs": "64", "ep": "2",
            "seed": "11", "classroom": "1"}
    at = open_page(link)
    keys = {w.key for kind in ("selectbox", "slider", "number_input", "toggle", "select_slider")
            for w in getattr(at, kind)}
    assert "train.ep" in keys and "train.arch" in keys
    assert not keys & {"train.opt", "train.lr", "train.bs", "train.seed", "train.sch", "train.act"}
    assert not [d for d in at.dataframe if "kind" in getattr(d.value, "columns", ())], "no layer editor"
    assert table_column(at, 0, "output shape")[1:3] == ["(4, 24, 24)", "(4, 12, 12)"]
    caption = " ".join(c.value for c in at.caption)
    # what the teacher changed, in the lesson's words (the defaults nobody touched are not listed)
    assert "optimizer **SGD \\+ momentum** · learning rate **0\\.05** · batch size **64**" in caption
    assert "seed **11**" in caption and "schedule" not in caption
    train_button(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    result = at.session_state["train.result"]
    assert result.config.optimizer == "sgd" and result.config.lr == pytest.approx(0.05)
    assert result.config.batch_size == 64 and result.config.seed == 11 and result.epochs_trained == 2
    assert archspec.layers_to_text(result.spec.layers) == "c4k5-max2-d16"
    assert query(at, "classroom") == "1" and query(at, "opt") == "sgd"


def test_tiny_training_run_shows_curves_confusion_galleries_and_comparison():
    at = open_page({"arch": "lenet5", "ep": "1", "seed": "3"})
    train_button(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Trained 1 epoch" in s.value for s in at.success)
    result = at.session_state["train.result"]
    assert result.stopped_reason == "completed" and result.test.n == 10_000
    assert at.session_state["train.spec"] == archspec.PRESETS["lenet5"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy (10,000 digits)"] == f"{100 * result.test.accuracy:.2f}%"
    # the training set beside the test set: accuracy and loss of the final network on its own images
    train = result.train
    assert train is not None and train.n == result.config.subset - round(result.config.subset * result.config.val_fraction)
    assert metrics[f"Training accuracy ({train.n:,} digits)"] == f"{100 * train.accuracy:.2f}%"
    assert f"training {train.loss:.4f} · test {result.test.loss:.4f}" in " ".join(c.value for c in at.caption)

    specs = plotly_specs(at)
    curves = next(s for s in specs if any(tr.get("name") == "validation accuracy" for tr in s["data"]))
    val = next(t for t in curves["data"] if t.get("name") == "validation accuracy")
    np.testing.assert_allclose(decode(val["y"]), [100 * h.val_acc for h in result.history])
    confusion = next(s for s in specs if s["data"][0].get("type") == "heatmap" and
                     s["layout"].get("xaxis", {}).get("title", {}).get("text") == "predicted")
    np.testing.assert_array_equal(decode(confusion["data"][0]["customdata"]).reshape(10, 10), result.test.confusion)
    # First-layer kernels plus one activation figure per conv layer.
    titles = [s["layout"].get("title", {}).get("text", "") for s in specs]
    assert any("conv1 kernels (5×5)" in t for t in titles)
    assert sum("feature maps" in t for t in titles) == 2

    # Galleries: the selected confusion cell, and the misclassified digits with top-3 captions.
    captions = gallery_captions(at)
    wrong = int((result.test.labels != result.test.predictions).sum())
    t, p = at.selectbox(key="train.cm_true").value, at.selectbox(key="train.cm_pred").value
    expected = min(18, int(result.test.confusion[t, p])) + min(24, wrong)
    assert len(captions) == expected
    assert all(c[0].startswith("true ") and len(c) == 3 and all(line.endswith("%") for line in c) for c in captions)

    # Another cell through the fallback selectboxes: the gallery follows. (AppTest drops the first widget
    # change after a run that ended in st.rerun(); a real browser does not, see the browser test.)
    at.run()
    at.selectbox(key="train.cm_true").set_value(3).run()
    at.selectbox(key="train.cm_pred").set_value(3).run()
    captions = gallery_captions(at)
    assert sum(c[0].startswith("true 3 → 3:") for c in captions) == min(18, int(result.test.confusion[3, 3]))

    runs = at.session_state["train.runs"]
    assert len(runs) == 1 and runs[0]["parameters"] == result.params
    assert at.dataframe[-1].value["test accuracy (%)"].iloc[0] == pytest.approx(100 * result.test.accuracy, abs=0.01)


def _interrupted_run(spec=archspec.PRESETS["lenet5"]) -> runner.TrainingRun:
    """A run that a page interruption left after batch 2 of epoch 1 (what a Stop click leaves behind)."""
    run = runner.TrainingRun(spec, recipes.TrainConfig(epochs=3, subset=300, batch_size=32), torch.device("cpu"))

    class Interrupt(Exception):
        pass

    def hook(i, n, loss):
        if i == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run.step(hook)
    return run


def test_stop_keeps_the_partial_model():
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(PAGE).run()
    run = _interrupted_run()
    at.session_state["train.run"] = run
    at.session_state["train._stop"] = True  # what the Stop button's callback sets
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Stopped after" in w.value and "kept" in w.value for w in at.warning)
    result = at.session_state["train.result"]
    assert result.stopped_reason == "stopped" and result.model is run.model
    assert result.history[-1].partial and result.epochs_trained < 1
    assert result.test is not None
    assert "train.run" not in at.session_state
    assert not train_button(at).disabled and at.button(key="train.stop").disabled


def test_interrupted_run_without_stop_resumes():
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(PAGE).run()
    run = _interrupted_run(archspec.PRESETS["linear"])
    at.session_state["train.run"] = run
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    result = at.session_state["train.result"]
    assert result.stopped_reason == "completed" and result.epochs_trained == 3


def test_diverging_run_is_explained_not_raised():
    at = open_page({"arch": "lenet5", "ep": "2", "opt": "sgd", "lr": "100", "bs": "32"})
    train_button(at).click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "diverged" in errors and "learning rate" in errors
    assert at.session_state["train.result"].test is None
    assert any("no test accuracy" in i.value for i in at.info)


def test_full_server_says_busy():
    from ui import train_views as tv

    limiter = tv.job_limiter()
    held = 0
    while limiter.try_acquire():
        held += 1
    try:
        at = open_page({"arch": "linear", "ep": "1"})
        train_button(at).click().run()
        assert not at.exception
        assert any("server is busy" in w.value for w in at.warning)
        assert "train.result" not in at.session_state and "train.run" not in at.session_state
        assert not train_button(at).disabled
    finally:
        for _ in range(held):
            limiter.release()
    train_button(at).click().run()  # a free slot again: it trains
    assert at.session_state["train.result"].stopped_reason == "completed"


def test_without_torch_the_page_explains(monkeypatch):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    at.switch_page(PAGE).run()
    assert not at.exception
    assert any("Training needs PyTorch" in e.value for e in at.error)
    assert not at.get("plotly_chart")


def test_clicked_cell_reads_plotly_points_in_both_shapes():
    from types import SimpleNamespace

    from ui.plot_click import clicked_cell

    assert clicked_cell({"selection": {"points": [{"x": 7, "y": 2}]}}) == (2, 7)
    assert clicked_cell({"selection": {"points": [{"x": 6.6, "y": 1.2}]}}) == (1, 7)  # nearest cell
    assert clicked_cell(SimpleNamespace(selection=SimpleNamespace(points=[{"x": 3, "y": 4}]))) == (4, 3)
    assert clicked_cell({"selection": {"points": [{"x": None, "y": 1}, {"x": 0, "y": 5}]}}) == (5, 0)
    assert clicked_cell({"selection": {"points": []}}) is None
    assert clicked_cell(None) is None


def test_editor_rows_round_trip():
    from ui import train_views as tv

    for spec in archspec.PRESETS.values():
        assert tv.rows_to_layers(tv.layers_to_rows(spec.layers)) == tuple(
            dataclasses.replace(layer, stride=layer.effective_stride) if layer.kind in ("conv", "pool") else layer
            for layer in spec.layers)


def select_option(page, label: str, option: str, attempts: int = 3) -> None:
    """Open a selectbox and pick an option; reopen if a rerun closed the dropdown before the pick."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator("[data-testid='stSelectbox']").filter(has_text=label)
    for attempt in range(attempts):
        wait_for_app_idle(page, 60_000)
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise


@pytest.mark.system  # Train, Stop and the test evaluation in a browser
@pytest.mark.browser
def test_stop_button_interrupts_live_training_in_a_browser(page):
    """A real click on Stop during a long run ends it and keeps the model; the results then react to clicks."""
    server = StreamlitServer(env={"CONVLAB_TRAIN_SUBSET": ""})
    try:
        page.goto(f"{server.url}/train?arch=twoconv&ep=50")
        page.get_by_text("1 · Architecture").wait_for()
        wait_for_app_idle(page, 120_000)
        page.get_by_role("button", name="Train").click()
        page.get_by_text("Epoch 1/50").first.wait_for(timeout=120_000)
        page.get_by_role("button", name="Stop").click()
        page.get_by_text("Stopped after").wait_for(timeout=60_000)
        page.get_by_text("4 · Results").wait_for()
        page.get_by_text("Test accuracy (10,000 digits)").wait_for()
        wait_for_app_idle(page, 60_000)
        assert page.get_by_role("button", name="Train").is_enabled()
        # The first widget change after training reaches the page (the confusion-cell fallback).
        select_option(page, "True digit", "3")
        page.get_by_text("labelled 3, classified as").wait_for(timeout=60_000)
    finally:
        server.stop()


def test_custom_start_from_preset_replaces_the_layers():
    at = open_page()
    at.selectbox(key="train.arch").set_value("custom").run()
    assert table_column(at, 0, "layer")[1:3] == ["conv1", "pool1"]  # starts as LeNet-5
    at.selectbox(key="train._start_from").set_value("allconv").run()
    assert not at.exception, [e.value for e in at.exception]
    assert table_column(at, 0, "output shape") == [r.shape_text for r in lt.layer_table(archspec.PRESETS["allconv"])]


def test_sessions_do_not_see_each_others_runs():
    a, b = open_page({"arch": "linear", "ep": "1"}), open_page({"arch": "linear", "ep": "1"})
    train_button(a).click().run()
    assert a.session_state["train.result"].stopped_reason == "completed"
    b.run()
    assert "train.result" not in b.session_state and "train.runs" not in b.session_state
    assert not any("Your runs so far" == s.value for s in b.subheader)


def test_time_limit_from_env_stops_the_run(monkeypatch):
    monkeypatch.setenv("CONVLAB_TRAINING_TIME_LIMIT_S", "0.01")
    at = open_page({"arch": "lenet5", "ep": "20"})
    train_button(at).click().run()
    assert not at.exception
    assert any("time limit of 0.01 s" in w.value for w in at.warning)
    result = at.session_state["train.result"]
    assert result.stopped_reason == "time limit" and result.epochs_trained < 20


def test_download_failure_shows_the_data_error(monkeypatch):
    from core.data import mnist as cdata

    def offline(**kwargs):
        raise cdata.DataError("Could not download train-images-idx3-ubyte.gz (no internet, or every mirror failed).")

    monkeypatch.setenv("CONVLAB_CACHE", "/nonexistent/convlab-cache")
    monkeypatch.setattr(cdata, "download_full_mnist", offline)
    at = open_page()
    at.button(key="train._download").click().run()
    assert not at.exception
    assert any("no internet" in e.value for e in at.error)


def test_a_download_error_is_shown_literally(monkeypatch):
    """A mirror's or the OS's words reach the page as text, never as Markdown (a link, bold, an image)."""
    from core.data import mnist as cdata
    from ui.text import literal

    words = "Mirror said **moved** to [here](http://evil.example) ![x](http://evil.example/x.png)"

    def hostile(**kwargs):
        raise cdata.DataError(words)

    monkeypatch.setenv("CONVLAB_CACHE", "/nonexistent/convlab-cache")
    monkeypatch.setattr(cdata, "download_full_mnist", hostile)
    at = open_page()
    at.button(key="train._download").click().run()
    assert not at.exception
    assert [e.value for e in at.error if "Mirror said" in e.value] == [literal(words, 400)]


def test_trains_on_full_mnist_once_downloaded(tmp_path, monkeypatch):
    """With the 60k files in the cache (here: a stand-in of 1,000 real digits), the dataset choice is used."""
    from core.data import mnist as cdata

    test = cdata.load_test()
    names = list(cdata.FULL_MNIST_FILES)
    cdata.write_idx_gz(tmp_path / names[0], test.images[:1000])
    cdata.write_idx_gz(tmp_path / names[1], test.labels[:1000])
    monkeypatch.setenv("CONVLAB_CACHE", str(tmp_path))
    monkeypatch.setenv("CONVLAB_TRAIN_SUBSET", "")
    at = open_page({"arch": "linear", "ep": "1", "data": "full60k"})
    assert not at.get("button") or all(b.key != "train._download" for b in at.button)
    train_button(at).click().run()
    result = at.session_state["train.result"]
    assert result.config.dataset == "full60k"
    assert result.data_description.startswith("MNIST 60k training set: 899 training / 101 validation")  # per-class rounding


def test_optimizer_change_loads_its_rate_and_far_rates_are_warned():
    at = open_page({"opt": "adadelta", "lr": "0.002"})
    assert any("500× smaller" in w.value for w in at.warning)
    at.selectbox(key="train.opt").set_value("sgd").run()
    assert at.number_input(key="train.lr").value == recipes.DEFAULT_LR["sgd"]
    assert not any("usually trains" in w.value for w in at.warning)
    assert query(at, "lr") == "0.05"


def test_classroom_link_with_a_preset_shows_that_preset_read_only():
    """The teacher chose the two-conv net; the student sees it (not LeNet-5), cannot change the
    picker, and nothing replaces the teacher's optimizer or epochs."""
    at = open_page({"arch": "twoconv", "opt": "sgd", "lr": "0.05", "ep": "3", "classroom": "1"})
    picker = at.selectbox(key="train.arch")
    assert picker.value == "twoconv" and picker.disabled
    rows = lt.layer_table(archspec.PRESETS["twoconv"])
    assert table_column(at, 0, "output shape") == [r.shape_text for r in rows]
    assert {m.label: m.value for m in at.metric}["Parameters"] == f"{lt.count_params(archspec.PRESETS['twoconv']):,}" == "34,826"
    assert not any("Your teacher's network" in str(o) for o in picker.options)
    at.run()
    assert at.slider(key="train.ep").value == 3
    assert query(at, "opt") == "sgd" and query(at, "ep") == "3" and query(at, "arch") == "twoconv"
    assert "optimizer **SGD \\+ momentum**" in " ".join(c.value for c in at.caption)


def test_curve_is_drawn_from_the_first_batch(monkeypatch):
    """The live curve is redrawn right after the first batch, not after two epochs."""
    from ui import train_views as tv

    drawn: list[int] = []
    real = tv.curves_figure

    def spy(history, batch_log, epochs=None):
        drawn.append(len(batch_log))
        return real(history, batch_log, epochs)

    monkeypatch.setattr(tv, "curves_figure", spy)
    at = open_page({"arch": "linear", "ep": "1", "bs": "32"})
    train_button(at).click().run()
    assert not at.exception
    assert drawn[:2] == [0, 1], drawn  # the empty chart, then the curve after batch 1


def gallery_captions(at) -> list[list[str]]:
    """Each gallery image's caption lines, read from the galleries' HTML."""
    import html
    import re

    bodies = [el.proto.body for el in at.get("html") if "cl-gallery" in el.proto.body]
    return [[html.unescape(line) for line in cap.split("<br>")]
            for body in bodies for cap in re.findall(r"<figcaption>(.*?)</figcaption>", body)]


def test_gallery_captions_put_each_guess_on_its_own_line_in_class_names():
    from ui.train_results import gallery_html, top3_caption

    probs = np.array([0.01, 0, 0, 0, 0.14, 0, 0, 0, 0, 0.85])
    assert top3_caption(probs, 4) == ["true 4 → 9: 85%", "4: 14%", "0: 1%"]
    cifar = cds.info("cifar10").class_names
    assert top3_caption(probs, 4, cifar) == ["true deer → truck: 85%", "deer: 14%", "airplane: 1%"]
    page = gallery_html([np.zeros((28, 28), np.uint8)], [["true <b>4</b> → 9: 85%", "4: 14%"]])
    assert "<figcaption>true &lt;b&gt;4&lt;/b&gt; → 9: 85%<br>4: 14%</figcaption>" in page  # literal, one a line
    assert "overflow-wrap:anywhere" in page  # a long class name wraps inside its own cell


def test_dense_vs_conv_comparison_trains_both_in_one_click():
    at = open_page({"arch": "lenet5", "ep": "1", "n": "100"})
    at.button(key="train.compare").click().run()
    assert not at.exception, [e.value for e in at.exception]
    at.run()  # the queued dense network starts on the next run
    assert not at.exception, [e.value for e in at.exception]
    runs = at.session_state["train.runs"]
    conv = lt.count_params(archspec.PRESETS["lenet5"])
    dense = lt.count_params(archspec.matched_dense(conv))
    assert [r["parameters"] for r in runs] == [conv, dense]
    assert runs[1]["architecture"].startswith("Dense net") and abs(dense - conv) < 400
    assert all(r["training images"] == "100" for r in runs)
    frame = at.dataframe[-1].value
    assert list(frame["parameters"]) == [conv, dense]
    assert list(frame.columns[:3]) == ["run", "architecture", "test accuracy (%)"]  # what matters is never cut off
    # both nets' results side by side, not only the dense one's
    side = [m.value for m in at.metric if m.label == "Test accuracy"]
    assert side == [f"{r['test accuracy (%)']:.2f}%" for r in runs]
    text = " ".join(c.value for c in at.caption)
    assert f"{conv:,} parameters" in text and f"{dense:,} parameters" in text


def test_training_images_setting_travels_in_the_link():
    at = open_page({"arch": "linear", "ep": "1", "n": "300"})
    assert at.select_slider(key="train.n").value == "300"
    at.select_slider(key="train.n").set_value("100").run()
    assert query(at, "n") == "100"
    train_button(at).click().run()
    assert at.session_state["train.result"].data_description.split(": ")[-1].startswith("100 training")


def test_cifar10_networks_take_colour_32px_input_and_train(tmp_path, monkeypatch):
    """The dataset's shape flows into the layer table, the network and training."""
    from benchmarks.fake_datasets import write_cifar_cache

    write_cifar_cache(tmp_path, n=60)
    monkeypatch.setenv("CONVLAB_CACHE", str(tmp_path))
    at = open_page({"arch": "lenet5", "ep": "1", "data": "cifar10"})
    rows = lt.layer_table(archspec.PRESETS["lenet5"], (3, 32, 32))
    assert table_column(at, 0, "output shape") == [r.shape_text for r in rows]
    assert table_column(at, 0, "output shape")[:2] == ["(3, 32, 32)", "(6, 32, 32)"]
    assert {m.label: m.value for m in at.metric}["Parameters"] == f"{lt.count_params(archspec.PRESETS['lenet5'], (3, 32, 32)):,}"
    train_button(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    result = at.session_state["train.result"]
    assert result.config.dataset == "cifar10" and result.test.n == 20
    assert result.model.layers[0].weight.shape[1] == 3 and result.params == sum(r.params for r in rows)
    assert query(at, "data") == "cifar10"


def test_dataset_not_downloaded_offers_its_download(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLAB_CACHE", str(tmp_path))
    at = open_page({"data": "fashion", "ep": "1"})
    assert at.button(key="train._download_fashion")
    assert table_column(at, 0, "output shape")[0] == "(1, 28, 28)"
    # Train waits for the data, and says why next to the button (not only after a click)
    assert train_button(at).disabled and at.button(key="train.compare").disabled
    assert any(c.value.startswith("Train is off: Fashion-MNIST") and "not downloaded yet" in c.value for c in at.caption)
    at.session_state["train._start"] = True  # a crafted request presses the disabled button anyway
    at.run()
    assert not at.exception and "train.run" not in at.session_state


def test_memory_caption_states_the_budget_in_words(monkeypatch):
    monkeypatch.setenv("CONVLAB_MAX_JOB_MEMORY_MB", "300")
    at = open_page()
    (caption,) = [c.value for c in at.caption if "gives one training job at most" in c.value]
    assert "at most 300.0 MB" in caption and "{" not in caption


def test_initial_weights_are_a_setting_and_the_kernels_before_training_are_shown():
    from core.train import convnet

    at = open_page({"arch": "lenet5", "init": "normal", "sigma": "0.1", "seed": "5"})
    assert at.selectbox(key="train.init").value == "normal" and at.number_input(key="train.sigma").value == 0.1
    fig = next(s for s in plotly_specs(at) if "before training" in s["layout"].get("title", {}).get("text", ""))
    shown = decode(fig["data"][0]["z"]).reshape(-1)
    want = convnet.first_conv_weight(convnet.seeded_model(archspec.PRESETS["lenet5"], (1, 28, 28), 5, "normal", 0.1))
    np.testing.assert_allclose(np.sort(shown[~np.isnan(shown)]), np.sort(want.reshape(-1)), rtol=1e-6)
    at.selectbox(key="train.init").set_value("zeros").run()
    assert query(at, "init") == "zeros" and "train.sigma" not in {w.key for w in at.number_input}
    assert any("identical copies" in c.value for c in at.caption)
