"""``python -m core.predict``: one JSON line per image, bad files reported, non-zero exit at the end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import load_test
from core.inference import default_model_path, load_model
from core.predict import classify, main
from core.images import read_image_file
from tests.test_preprocess import draw_digit

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> tuple[int, list[dict], str]:
    out = subprocess.run([sys.executable, "-m", "core.predict", *args], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines()], out.stderr


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory) -> tuple[Path, dict[str, int | None]]:
    """Real test digits as upscaled PNGs, a drawn "7", a photo-like dark-on-light "1", a blank canvas and
    a corrupt file. Returns the folder and the expected digit per file (None: no digit)."""
    folder = tmp_path_factory.mktemp("digits")
    test = load_test()
    expected: dict[str, int | None] = {}
    for i in range(8):
        name = f"mnist_{i}_{test.labels[i]}.png"
        Image.fromarray(test.images[i]).resize((112, 112), Image.Resampling.BILINEAR).save(folder / name)
        expected[name] = int(test.labels[i])
    Image.fromarray(draw_digit("7", (50, 40, 150, 200), 20)).save(folder / "drawn_7.png")
    expected["drawn_7.png"] = 7
    paper = draw_digit("1", (90, 30, 80, 220), 14, ink=(30, 30, 40, 255), paper=(235, 230, 220, 255))
    Image.fromarray(paper).convert("RGB").save(folder / "paper_1.jpg", quality=90)
    expected["paper_1.jpg"] = 1
    Image.new("RGB", (280, 280)).save(folder / "blank.png")
    expected["blank.png"] = None
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    (folder / "notes.txt").write_text("not an image, not picked up from a folder")
    return folder, expected


def test_cli_on_a_folder_with_a_corrupt_file(digit_folder) -> None:
    folder, expected = digit_folder
    code, lines, stderr = run_cli(str(folder))
    assert code == 1, stderr  # one bad file → non-zero exit, but only after every file was tried
    assert "Traceback" not in stderr
    by_name = {Path(rec["file"]).name: rec for rec in lines}
    assert set(by_name) == set(expected) | {"corrupt.png"}
    assert [Path(rec["file"]).name for rec in lines] == sorted(by_name)
    assert "could not be opened" in by_name["corrupt.png"]["error"]
    for name, digit in expected.items():
        rec = by_name[name]
        assert "error" not in rec, rec
        assert rec["digit"] == digit, (name, rec)
        if digit is None:
            assert rec["probabilities"] is None and rec["no_digit"]
        else:
            probs = np.array(rec["probabilities"])
            assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0, abs=1e-4)
            assert int(probs.argmax()) == digit


def test_cli_exit_zero_when_every_file_is_fine(digit_folder) -> None:
    folder, _ = digit_folder
    code, lines, _ = run_cli(str(folder / "drawn_7.png"), str(folder / "mnist_0_7.png"))
    assert code == 0 and [rec["digit"] for rec in lines] == [7, 7]


def test_cli_reports_missing_files_and_keeps_going(digit_folder) -> None:
    folder, _ = digit_folder
    code, lines, _ = run_cli(str(folder / "nope.png"), str(folder / "drawn_7.png"))
    assert code == 1
    assert lines[0]["error"] == "no such file" and lines[1]["digit"] == 7


def test_cli_uses_the_same_code_as_the_page(digit_folder, capsys) -> None:
    """In-process ``main`` prints exactly what ``classify`` (the draw page's call) computes."""
    folder, _ = digit_folder
    path = folder / "paper_1.jpg"
    assert main([str(path)]) == 0
    record = json.loads(capsys.readouterr().out)
    pred = classify(load_model(default_model_path()), read_image_file(path).pixels)
    np.testing.assert_allclose(record["probabilities"], pred.probs, atol=1e-6)


def test_cli_with_an_explicit_model(digit_folder) -> None:
    folder, _ = digit_folder
    lenet = REPO / "exported_models" / "lenet5.onnx"
    code, lines, _ = run_cli("--model", str(lenet), str(folder / "drawn_7.png"))
    assert code == 0 and lines[0]["digit"] == 7


def test_cli_refuses_an_unusable_model(tmp_path: Path, digit_folder) -> None:
    folder, _ = digit_folder
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(b"not a model")
    code, lines, stderr = run_cli("--model", str(fake), str(folder))
    assert code == 2 and "sidecar" in lines[0]["error"] and "Traceback" not in stderr


def test_cli_reports_a_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello")
    code, lines, _ = run_cli(str(tmp_path))
    assert code == 1 and "no image files" in lines[0]["error"]
