"""``python -m core.infer.predict``: one JSON line per image, bad files reported, non-zero exit at the end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data.mnist import load_test
from core.infer.runtime import default_model_path, load_model
from core.infer.predict import classify, main
from core.infer.uploads import read_image_file
from tests.test_preprocess import draw_digit

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> tuple[int, list[dict], str]:
    out = subprocess.run([sys.executable, "-m", "core.infer.predict", *args], cwd=REPO, capture_output=True,
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


# ---------------------------------------------------------------------------------------------
# One reader (EXIF), strict JSON, hostile files and models, exit statuses


def strict(line: str) -> dict:
    """Parse one CLI line as strict JSON: NaN/Infinity and lone surrogates are failures."""
    def no_constant(name):
        raise AssertionError(f"{name} is not JSON: {line}")

    record = json.loads(line, parse_constant=no_constant)
    json.dumps(record, allow_nan=False).encode("utf-8")  # raises on a lone surrogate
    return record


def run_strict(*args: str, timeout: int = 120) -> tuple[int, list[dict], str]:
    out = subprocess.run([sys.executable, "-m", "core.infer.predict", *args], cwd=REPO, capture_output=True,
                         timeout=timeout)
    stderr = out.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    return out.returncode, [strict(line) for line in out.stdout.decode("utf-8").splitlines()], stderr


def phone_jpegs(folder: Path, n: int = 20) -> dict[str, int]:
    """The first ``n`` test digits as JPEGs twice: upright, and stored rotated with EXIF orientation 6
    (as a phone held upright writes them: pixels turned 90° anticlockwise, 'rotate 90° clockwise to
    display' in the tag). Returns file name → label."""
    test = load_test()
    labels = {}
    exif = Image.Exif()
    exif[0x0112] = 6
    for i in range(n):
        upright = Image.fromarray(255 - test.images[i]).resize((112, 112), Image.Resampling.BILINEAR).convert("RGB")
        upright.save(folder / f"up_{i:02d}.jpg", quality=92)
        upright.transpose(Image.Transpose.ROTATE_90).save(folder / f"rot_{i:02d}.jpg", quality=92,
                                                          exif=exif.tobytes())
        labels[f"up_{i:02d}.jpg"] = labels[f"rot_{i:02d}.jpg"] = int(test.labels[i])
    return labels


def test_phone_rotated_jpegs_are_read_upright_by_the_cli(tmp_path: Path) -> None:
    labels = phone_jpegs(tmp_path)
    code, lines, _ = run_strict(str(tmp_path))
    assert code == 0
    digit = {Path(rec["file"]).name: rec["digit"] for rec in lines}
    up = [digit[f"up_{i:02d}.jpg"] for i in range(20)]
    rot = [digit[f"rot_{i:02d}.jpg"] for i in range(20)]
    right = sum(d == labels[f"up_{i:02d}.jpg"] for i, d in enumerate(up))
    assert right >= 19, up
    assert rot == up  # the tag is honoured: the model sees the same upright digit


def test_phone_rotated_jpegs_are_read_upright_by_the_reader(tmp_path: Path) -> None:
    phone_jpegs(tmp_path, n=5)
    model = load_model(default_model_path())
    for i in range(5):
        up = read_image_file(tmp_path / f"up_{i:02d}.jpg").pixels
        rot = read_image_file(tmp_path / f"rot_{i:02d}.jpg").pixels
        assert rot.shape == up.shape == (112, 112)
        assert np.abs(rot - up).mean() < 0.01  # the same picture, up to JPEG noise
        assert classify(model, rot).digit == classify(model, up).digit


def _named_pipe(folder: Path, name: str) -> Path:
    import os

    path = folder / name
    os.mkfifo(path)
    return path


def test_pipes_devices_and_link_loops_get_a_reason_and_never_hang(tmp_path: Path, digit_folder) -> None:
    """Given by name and inside a folder; a pipe nobody writes to would block ``open`` forever."""
    good = digit_folder[0] / "drawn_7.png"
    fifo = _named_pipe(tmp_path, "pipe.png")
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    code, lines, _ = run_strict(str(fifo), "/dev/zero", str(loop), str(good), str(tmp_path), timeout=60)
    assert code == 1
    errors = [rec.get("error", "") for rec in lines]
    assert "named pipe" in errors[0] and "device" in errors[1] and "loops" in errors[2]
    assert lines[3]["digit"] == 7
    in_folder = {Path(rec["file"]).name: rec.get("error", "") for rec in lines[4:]}
    assert set(in_folder) == {"pipe.png", "loop.png"}  # reported, not skipped in silence
    assert "named pipe" in in_folder["pipe.png"] and "loops" in in_folder["loop.png"]


def test_file_names_that_are_not_utf8_stay_strict_json(tmp_path: Path, digit_folder) -> None:
    import os

    odd = os.path.join(os.fsencode(tmp_path), b"\xff\xfe seven.png")
    with open(odd, "wb") as fh:
        fh.write((digit_folder[0] / "drawn_7.png").read_bytes())
    code, lines, _ = run_strict(str(tmp_path))
    assert code == 0 and lines[0]["digit"] == 7
    assert lines[0]["file"].endswith("\\xff\\xfe seven.png")


def test_a_closed_pipe_ends_quietly_with_status_3(digit_folder) -> None:
    """``python -m core.infer.predict many files | head -1``: the reader leaves after one line."""
    image = str(digit_folder[0] / "drawn_7.png")
    proc = subprocess.Popen([sys.executable, "-m", "core.infer.predict", *[image] * 2000], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()  # 2,000 lines are ~150 KB: far more than a pipe holds
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 3
    assert strict(first.decode())["digit"] == 7
    assert stderr == "", stderr


def test_stdout_closed_from_the_start_is_status_3(digit_folder) -> None:
    out = subprocess.run(f"{sys.executable} -m core.infer.predict {digit_folder[0] / 'drawn_7.png'} >&-", shell=True,
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 3 and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("make", ["wrong_class_count", "nan_always"])
def test_models_refused_when_loaded_exit_2_with_one_json_line(tmp_path: Path, digit_folder, make) -> None:
    from tests import hostile_models

    path = getattr(hostile_models, make)(tmp_path)
    code, lines, _ = run_strict("--model", str(path), str(digit_folder[0]))
    assert code == 2 and len(lines) == 1 and lines[0]["model"] == str(path)
    assert path.name in lines[0]["error"]


def test_non_finite_normalisation_is_refused(tmp_path: Path, digit_folder) -> None:
    from tests.hostile_models import copy_shipped

    path = copy_shipped(tmp_path, "tiny_std")
    card = json.loads(path.with_suffix(".json").read_text())
    card["std"] = 1e-39  # a float32 denormal: (1 - mean) / std overflows to infinity
    path.with_suffix(".json").write_text(json.dumps(card))
    code, lines, _ = run_strict("--model", str(path), str(digit_folder[0] / "drawn_7.png"))
    assert code == 2 and "normalisation" in lines[0]["error"]


@pytest.mark.parametrize("make,message", [("nan_on_digits", "NaN"), ("fails_on_digits", "onnxruntime failed")])
def test_model_failing_on_an_image_is_reported_per_file_and_every_file_is_tried(tmp_path: Path, digit_folder,
                                                                                 make, message) -> None:
    from tests import hostile_models

    path = getattr(hostile_models, make)(tmp_path)
    folder, expected = digit_folder
    code, lines, _ = run_strict("--model", str(path), str(folder))
    assert code == 2  # the model failed: the documented status, after every file was tried
    by_name = {Path(rec["file"]).name: rec for rec in lines}
    assert set(by_name) == set(expected) | {"corrupt.png"}
    assert message in by_name["drawn_7.png"]["error"] and path.name in by_name["drawn_7.png"]["error"]
    assert by_name["blank.png"]["digit"] is None  # nothing drawn: the model is never asked


def test_the_documented_exit_statuses_are_the_ones_used() -> None:
    import core.infer.predict as predict

    doc = predict.__doc__
    for code in (predict.OK, predict.FILE_FAILED, predict.MODEL_FAILED, predict.OUTPUT_CLOSED):
        assert f"* {code}:" in doc
