"""Score every shipped model on the robustness set and write the accuracies into its sidecar.

    python -m scripts.evaluate_robustness [--digits 2000] [--write]

The robustness set (``core.infer.robustness``) is the official test digits made thicker, thinner, off-centre,
small, slanted and rotated ±15°. Each model is scored two ways: the changed digit straight into the
network ("raw") and through the Draw page's preprocessing first ("drawn", what a student gets). Prints a
Markdown table (for docs/benchmarks.md); with ``--write`` also stores the figures in each sidecar's
``robustness`` field (the sidecar's SHA-256 covers the ONNX file, which is not touched). onnxruntime only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from core.infer import robustness as rb
from core.data.mnist import atomic_write_bytes, load_test
from core.infer.runtime import load_model
from core.infer.model_card import sidecar_path

KEYS = ("clean", *(v.key for v in rb.VARIANTS))


def evaluate(path: Path, digits: int) -> dict[str, dict[str, float]]:
    model = load_model(path)
    test = load_test()
    images, labels = test.images[:digits], test.labels[:digits]
    return {mode: {key: round(rb.score(model, images, labels, key, mode).accuracy, 4) for key in KEYS}
            for mode in rb.MODES}


def table(results: dict[str, dict[str, dict[str, float]]], digits: int) -> str:
    titles = {"clean": "unchanged", **{v.key: v.title for v in rb.VARIANTS}}
    head = "| model | fed | " + " | ".join(titles[k] for k in KEYS) + " |"
    rule = "|---|---|" + "---:|" * len(KEYS)
    rows = [f"| {name} | {mode} | " + " | ".join(f"{100 * scores[mode][k]:.1f} %" for k in KEYS) + " |"
            for name, scores in results.items() for mode in rb.MODES]
    return "\n".join([f"Robustness set: the first {digits:,} official test digits, each change applied to all.",
                      "", head, rule, *rows])


def write_sidecar(path: Path, scores: dict[str, dict[str, float]], digits: int) -> None:
    side = sidecar_path(path)
    data = json.loads(side.read_text())
    data["robustness"] = {"digits": digits, **scores}
    atomic_write_bytes(side, (json.dumps(data, indent=2) + "\n").encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.evaluate_robustness", description=__doc__.split("\n")[0])
    parser.add_argument("--digits", type=int, default=2000, help="how many test digits (default 2000)")
    parser.add_argument("--models", type=Path, default=rb.REPO_MODELS, help="folder of .onnx + .json files")
    parser.add_argument("--write", action="store_true", help="store the figures in each sidecar")
    args = parser.parse_args(argv)
    results = {}
    for path in sorted(args.models.glob("*.onnx")):
        t0 = time.perf_counter()
        results[path.stem] = evaluate(path, args.digits)
        print(f"{path.stem}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        if args.write:
            write_sidecar(path, results[path.stem], args.digits)
    print(table(results, args.digits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
