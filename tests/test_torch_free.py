"""Pages other than Train, and the inference CLI, never import torch (checked in fresh interpreters).

AppTest runs pages in-process, so any other test that touched torch would hide an import: every check
here starts a new Python, runs the pages one after another (each with a few interactions that reach its
data and model code paths), and after each page reports whether ``torch`` is in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO
from ui.registry import LESSONS, PAGES

NO_TORCH_PAGES = [p for p in PAGES if p.url_path != "train"]
# Interactions that reach more of a page's code (data loading, models); (widget kind, key, value).
INTERACTIONS: dict[str, list[tuple[str, str, object]]] = {
    "arithmetic": [("radio", "arithmetic.op", "transposed")],
    "filters": [("selectbox", "filters.img", "digit3"), ("selectbox", "filters.k", "gaussian")],
    "pooling": [("radio", "pooling.src", "digit"), ("radio", "pooling.src", "feature")],
    "draw": [("radio", "draw.src", "test"), ("number_input", "draw.t", 7), ("toggle", "draw_maps_shown", True)],
    "data": [("selectbox", "data.cls", 5), ("radio", "data.ds", "cifar10"), ("number_input", "data.i", 9)],
    "network": [("selectbox", "network.m", "lenet5"), ("selectbox", "network.L", "dense1"),
                ("slider", "network.T", 2.0), ("slider", "network.p", 4)],
    "classroom": [("text_input", "class.name", "7B <maths>"), ("multiselect", "class.digits", [1, 7])],
}

PAGES_SCRIPT = r"""
import json, sys
sys.path.insert(0, {repo!r})
import tests.conftest  # noqa: F401  (AppTest routes like a running server; stdlib + pytest + streamlit only)
from streamlit.testing.v1 import AppTest

results = {{}}
for page, interactions in {pages!r}:
    at = AppTest.from_file({app!r}, default_timeout=120)
    at.run()
    at.switch_page(page).run()
    problems = [e.proto.message for e in at.exception]
    for kind, key, value in interactions:
        widget = getattr(at, kind)(key=key)
        widget.set_value(value)
        at.run()
        problems += [f"after {{key}}={{value!r}}: {{e.proto.message}}" for e in at.exception]
    # torch in sys.modules after this page: pages run in order, so the first page that reports it imported it
    torch = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
    results[page] = {{"torch": torch[:5], "problems": problems, "title": [t.value for t in at.title]}}
print("RESULT " + json.dumps(results))
"""


def run_python(code: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def result_of(out: subprocess.CompletedProcess) -> dict:
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, f"rc={out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def pages_in_one_interpreter(pages) -> dict:
    """Each page (and its interactions) in turn in ONE fresh interpreter: {page file: result}. One start of
    Python, streamlit and numpy instead of one per page."""
    code = PAGES_SCRIPT.format(repo=str(REPO), app=str(REPO / "streamlit_app.py"),
                               pages=[(p.file, INTERACTIONS.get(p.url_path, [])) for p in pages])
    return result_of(run_python(code))


@pytest.fixture(scope="module")
def no_torch_results() -> dict:
    return pages_in_one_interpreter(NO_TORCH_PAGES)


@pytest.mark.parametrize("page", NO_TORCH_PAGES, ids=lambda p: p.url_path)
def test_page_never_imports_torch(no_torch_results, page):
    result = no_torch_results[page.file]
    assert not result["problems"], result["problems"]
    assert result["title"], f"{page.file} rendered no title"
    assert result["torch"] == [], f"{page.file} imported torch: {result['torch']}"


def test_every_non_training_page_is_checked():
    assert {p.url_path for p in NO_TORCH_PAGES} <= set(INTERACTIONS)


@pytest.mark.system  # the check's own check, in a fresh interpreter
def test_the_check_would_see_torch():
    """The detector itself: the training page does import torch, and the same script reports it."""
    train = next(p for p in LESSONS if p.url_path == "train")
    assert "torch" in pages_in_one_interpreter([train])[train.file]["torch"]


def test_predict_cli_help_never_imports_torch():
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "core.infer.predict", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage: python -m core.infer.predict" in out.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")]
    assert "onnxruntime" in imported, "-X importtime output changed: the check below would prove nothing"
    torch = [name for name in imported if name == "torch" or name.startswith("torch.")]
    assert torch == [], torch


def test_predict_cli_on_a_digit_png_never_imports_torch(tmp_path: Path):
    from core.data.mnist import load_test

    test = load_test()
    index = int(np.flatnonzero(test.labels == 4)[0])
    png = tmp_path / "four.png"
    Image.fromarray(test.images[index]).save(png)
    code = (
        "import io, json, runpy, sys, contextlib\n"
        f"sys.argv = ['core.infer.predict', {str(png)!r}]\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try:\n"
        "        runpy.run_module('core.infer.predict', run_name='__main__')\n"
        "    except SystemExit as exc:\n"
        "        code = exc.code\n"
        "torch = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "print('RESULT ' + json.dumps({'rc': code, 'out': buf.getvalue(), 'torch': torch[:5]}))\n"
    )
    result = result_of(run_python(code))
    assert result["rc"] == 0, result
    record = json.loads(result["out"].strip().splitlines()[-1])
    assert record["digit"] == 4, record
    assert result["torch"] == [], result["torch"]
