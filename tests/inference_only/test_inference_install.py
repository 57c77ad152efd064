"""The inference-only install (requirements-inference.txt + pytest, NO torch, NO onnx): every page but
Train works, Train says what to install, and the shipped model reads real MNIST test digits.

CI runs this folder in its own venv (``.ci/run``); in the full dev venv, where torch is importable, the
module skips itself, because there it would prove nothing about a torch-free install.
Only the standard library, pytest, numpy, Pillow, streamlit and onnxruntime may be imported here.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

if importlib.util.find_spec("torch") is not None:
    pytest.skip("torch is importable: these tests are for the inference-only venv (see .ci/run)",
                allow_module_level=True)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from tests.apptest_checks import assert_clean, open_page, texts  # noqa: E402
from tests.conftest import REPO  # noqa: E402
from ui.registry import LESSONS, PAGES as MENU  # noqa: E402

PAGES = [p for p in MENU if p.url_path != "train"]
TRAIN = next(p for p in LESSONS if p.url_path == "train")


def test_this_venv_really_lacks_the_training_stack():
    for name in ("torch", "onnx", "onnxscript", "hypothesis", "playwright"):
        assert importlib.util.find_spec(name) is None, f"{name} is installed: not an inference-only venv"
    for name in ("streamlit", "plotly", "numpy", "PIL", "onnxruntime"):
        assert importlib.util.find_spec(name) is not None, f"{name} is missing from requirements-inference.txt"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.url_path)
def test_page_runs_without_torch(page):
    at = open_page(page.file)
    assert_clean(at, f"{page.file} (inference-only install)")
    assert at.title and page.title in at.title[0].value
    assert not at.error, texts(at.error)


def test_home_page_runs():
    from tests.apptest_checks import new_app

    at = new_app().run()
    assert_clean(at, "home (inference-only install)")
    assert at.title


def test_train_page_says_what_to_install():
    at = open_page(TRAIN.file)
    assert_clean(at, "train page without torch")
    assert at.title and TRAIN.title in at.title[0].value
    message = texts(at.error)
    assert "Training needs PyTorch" in message and "pip install -r requirements.txt" in message, message
    assert not at.get("plotly_chart") and not at.button, "nothing of the training UI may render without torch"


def test_arithmetic_pytorch_check_explains_instead_of_failing():
    at = open_page("pages/arithmetic.py", {"more": "torch"})
    at.toggle(key="arithmetic.torch").set_value(True).run()
    assert_clean(at, "arithmetic PyTorch check without torch")
    assert "needs the full install" in texts(at.info)
    assert "❌" not in texts(at.markdown) and "PyTorch refuses" not in texts(at.markdown)


def test_pages_reach_their_data_paths():
    """The code paths that load shipped MNIST digits, on the pages that have them."""
    at = open_page("pages/pooling.py")
    for src in ("digit", "feature"):
        at.radio(key="pooling.src").set_value(src).run()
        assert_clean(at, f"pooling src={src}")
    at = open_page("pages/filters.py")
    at.selectbox(key="filters.img").set_value("digit7").run()
    assert_clean(at, "filters img=digit7")


def test_draw_page_classifies_real_test_digits():
    from core.data.mnist import load_test

    test = load_test()
    at = open_page("pages/draw.py")
    at.radio(key="draw.src").set_value("test").run()
    correct = 0
    indices = [int(np.flatnonzero(test.labels == d)[0]) for d in range(10)]
    for index in indices:
        at.number_input(key="draw.t").set_value(index).run()
        assert_clean(at, f"draw test digit {index}")
        correct += f"**Prediction: {int(test.labels[index])}** ✓" in texts(at.markdown)
    assert correct >= 9, f"only {correct}/10 test digits (one per class) read correctly"


def test_inference_core_on_a_shipped_model():
    from core.data.mnist import load_test
    from core.infer.runtime import default_model_path, load_model
    from core.infer.predict import classify

    model = load_model(default_model_path())
    test = load_test()
    rng = np.random.default_rng(0)
    picks = rng.choice(len(test), size=200, replace=False)
    right = sum(classify(model, test.images[i]).digit == int(test.labels[i]) for i in picks)
    assert right / len(picks) >= 0.9, f"{right}/200 correct"
    assert "torch" not in sys.modules and "onnx" not in sys.modules


def test_predict_cli_without_torch(tmp_path):
    from core.data.mnist import load_test

    test = load_test()
    index = int(np.flatnonzero(test.labels == 7)[0])
    png = tmp_path / "seven.png"
    Image.fromarray(test.images[index]).save(png)
    out = subprocess.run([sys.executable, "-m", "core.infer.predict", str(png)], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads(out.stdout.strip().splitlines()[-1])
    assert record["digit"] == 7 and abs(sum(record["probabilities"]) - 1) < 1e-3, record
