"""Give already-exported models every layer's output, as a fresh export would (no retraining).

    python -m scripts.add_layer_outputs [MODEL.onnx ...]        # default: every model in exported_models/

For each model: drop any layer outputs added before (so running it twice changes nothing), apply
``core.train.graph_surgery.add_layer_outputs`` (the exporter's own surgery), check that onnxruntime's logits
on 256 test digits are bit-identical to the model's before, then rewrite the ONNX file and its sidecar
(``sha256`` and ``extra["layer_outputs"]``), each atomically. Torch is not needed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from core.data.mnist import MNIST_MEAN, MNIST_STD, atomic_write_bytes, load_test
from core.infer.runtime import SHIPPED_DIR
from core.infer.model_card import LOGITS_NAME, read_card, sidecar_path
from core.infer.plan import LAYER_OUTPUTS_KEY
from core.train.graph_surgery import add_layer_outputs, strip_layer_outputs


def _logits(data: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run([LOGITS_NAME], {"image": x})[0]


def update(path: Path, digits: int = 256) -> str:
    card = read_card(path)
    keep = [LOGITS_NAME, *(a.name for a in card.activations)]
    proto = strip_layer_outputs(onnx.load(path), keep)
    data, plan = add_layer_outputs(proto, card.architecture)
    x = ((load_test().images[:digits].astype(np.float32) / 255.0 - MNIST_MEAN) / MNIST_STD)[:, None]
    before, after = _logits(path.read_bytes(), x), _logits(data, x)
    if not np.array_equal(before, after):
        raise SystemExit(f"{path.name}: logits changed by {np.abs(before - after).max():.2e}; nothing written.")
    raw = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    raw["sha256"] = hashlib.sha256(data).hexdigest()
    raw.setdefault("extra", {})[LAYER_OUTPUTS_KEY] = plan.to_dict()
    atomic_write_bytes(path, data)
    atomic_write_bytes(sidecar_path(path), (json.dumps(raw, indent=2) + "\n").encode("utf-8"))
    read_card(path)  # the sidecar still satisfies its reader
    return f"{path.name}: {len(plan.steps)} steps, {len(plan.tensor_names())} tensors and " \
           f"{len(plan.param_names())} parameters exposed; logits unchanged on {digits} test digits"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.add_layer_outputs", description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", type=Path)
    args = parser.parse_args(argv)
    for path in args.models or sorted(SHIPPED_DIR.glob("*.onnx")):
        print(update(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
