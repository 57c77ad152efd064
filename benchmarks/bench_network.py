"""Server CPU of the "Inside the network" page per interaction (``time.process_time``, this process only).

Goals: a new drawing → the whole overview (preprocessing, every layer through onnxruntime, every layer's
picture built and PNG-encoded: ``st.image`` sends those bytes as they are) ≤ 150 ms of server CPU; the occlusion map (785 images in one onnxruntime call + both pictures PNG-encoded) ≤ 100 ms. CPU time,
not wall time, because the shared 2-core machine makes wall times noisy.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np
import onnxruntime as ort
from PIL import Image

from benchmarks.common import Result, check
from core.infer import explain as nw
from core.infer import plan as layer_plan
from core.data.mnist import load_test
from core.infer.runtime import SHIPPED_DIR, load_model, session_options
from core.infer.onnx_wire import keep_outputs
from core.infer.preprocess import Steps, preprocess
from ui import network_views as views

MODELS = ("bncnn", "lenet5")


def cpu_ms(fn: Callable[[], object], repeat: int = 15, warmup: int = 3) -> float:
    """Median CPU milliseconds of ``fn`` (process_time: user + system of this process)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times) * 1e3


def canvas_of(digit: np.ndarray) -> np.ndarray:
    """A 280×280 RGBA 'drawing' of a test digit, as the canvas component hands it over."""
    big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BILINEAR))
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., :3] = big[..., None]
    rgba[..., 3] = 255
    return rgba


def overview(model, plan: layer_plan.LayerOutputs, canvas: np.ndarray) -> int:
    image = preprocess(canvas, Steps()).image
    x = layer_plan.normalise(image, model.card.mean, model.card.std)
    values = layer_plan.run_layers(layer_plan.session_runner(model.session), plan, x)
    probs = nw.softmax_steps(values["logits"]).probs
    size = len(views.png(views.input_picture(image, None, 168)))
    for view in plan.views():
        picture = views.to_rgb(views.mosaic(probs), False, 1.0) if view.key == "softmax" else views.layer_picture(view, values[view.output])
        size += len(views.png(picture))  # st.image sends these bytes as they are
    return size


def logits_session(model):
    """What the page runs the occlusion batch on: the model without its layer outputs (fused again)."""
    return ort.InferenceSession(keep_outputs(model.path.read_bytes()), sess_options=session_options(1),
                                providers=["CPUExecutionProvider"])


def occlusion(session, model, image: np.ndarray, patch: int = 6) -> int:
    occ = nw.occlusion(layer_plan.session_runner(session), image, patch, model.card.mean, model.card.std)
    a, b, _ = views.occlusion_pictures(occ, image)
    return len(a) + len(b)


def run() -> list[Result]:
    test = load_test()
    results = []
    for name in MODELS:
        model = load_model(SHIPPED_DIR / f"{name}.onnx")
        plan = layer_plan.plan_of(model.card.extra)
        canvas = canvas_of(test.images[0])
        image = test.images[0].astype(np.float32) / 255.0
        fused = logits_session(model)
        results.append(check(f"{name}: drawing → whole overview ({len(plan.views())} layer pictures)",
                             cpu_ms(lambda: overview(model, plan, canvas)), "ms", limit=150.0))
        results.append(check(f"{name}: occlusion map, 785 images in one call + 2 pictures",
                             cpu_ms(lambda: occlusion(fused, model, image)), "ms", limit=100.0))
        results.append(check(f"{name}: same on the session with every layer output (no fusion)",
                             cpu_ms(lambda: occlusion(model.session, model, image)), "ms",
                             note="why the page batches on a logits-only copy"))
        x = layer_plan.normalise(image, model.card.mean, model.card.std)
        run_all = layer_plan.session_runner(model.session)
        results.append(check(f"{name}: onnxruntime, every layer of one digit",
                             cpu_ms(lambda: layer_plan.run_layers(run_all, plan, x), repeat=50), "ms"))
    return results


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
