"""Inference speed and memory: onnxruntime vs torch, canvas → probabilities, and the draw page's server RSS.

    python -m benchmarks.bench_inference

1. Batch-1 latency of the best shipped architecture in torch eager (default threads and 1 thread) and in
   onnxruntime (one thread), measured in the same run on the same network (torch model →
   ``core.train.export.onnx_bytes``). Target: ≥ 5× against the faster torch setting.
2. A 280×280 RGBA canvas drawing → ten probabilities (``core.infer.predict.classify``: preprocessing + the
   shipped model in onnxruntime). Target: ≤ 2 ms median.
3. Peak RSS (VmHWM) of a real ``streamlit run`` that has only served the draw page to one Chromium
   session that drew a digit and read the prediction; torch must never be loaded. Target: ≤ 250 MB.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.common import Result, check, median_ms, print_table, time_it
from benchmarks.serverprobe import mapped_libraries, memory_mb


def canvas_drawing() -> np.ndarray:
    """A "7" as the draw page's canvas returns it: (280, 280, 4) uint8, white strokes on black."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(img).line([(60, 50), (215, 45), (120, 240)], fill=(255, 255, 255, 255), width=22, joint="curve")
    return np.asarray(img)


def bench_latency() -> list[Result]:
    """torch eager vs onnxruntime, batch 1, same network, same process, interleaved rounds."""
    import torch

    from core.train.export import onnx_bytes, ort_session, parity_batch
    from core.infer.runtime import default_model_path
    from core.infer.model_card import read_card
    from core.train.convnet import build_model
    from core.arch.spec import spec_from_dict

    card = read_card(default_model_path())
    spec = spec_from_dict(card.architecture)
    torch.manual_seed(0)
    net = build_model(spec).eval()
    session = ort_session(onnx_bytes(net, spec), threads=1)
    x = parity_batch(1)
    xt = torch.from_numpy(x)

    def run_torch() -> None:
        with torch.inference_mode():
            net(xt)

    def run_ort() -> None:
        session.run(["logits"], {"image": x})

    default_threads = torch.get_num_threads()
    times: dict[str, list[float]] = {"torch": [], "torch1": [], "ort": []}
    try:
        for _ in range(5):  # interleave so all three see the same machine load
            torch.set_num_threads(default_threads)
            times["torch"] += time_it(run_torch, repeat=100, warmup=10)
            torch.set_num_threads(1)
            times["torch1"] += time_it(run_torch, repeat=100, warmup=10)
            times["ort"] += time_it(run_ort, repeat=100, warmup=10)
    finally:
        torch.set_num_threads(default_threads)
    t_ms, t1_ms, o_ms = (median_ms(times[k]) for k in ("torch", "torch1", "ort"))
    arch = card.architecture.get("name")
    return [
        check(f"torch eager, batch 1, {default_threads} threads", t_ms * 1000, "µs", note=f"{arch} architecture"),
        check("torch eager, batch 1, 1 thread", t1_ms * 1000, "µs", note=f"{arch} architecture"),
        check("onnxruntime, batch 1", o_ms * 1000, "µs", note="intra_op_num_threads=1"),
        check("onnxruntime speed-up over torch, batch 1", min(t_ms, t1_ms) / o_ms, "x", at_least=5,
              note="against the faster of the two torch settings"),
    ]


def bench_canvas_to_probs() -> list[Result]:
    from core.infer.runtime import default_model_path, load_model
    from core.infer.predict import classify

    model = load_model(default_model_path())
    canvas = canvas_drawing()
    assert classify(model, canvas).digit == 7
    times = time_it(lambda: classify(model, canvas), repeat=300, warmup=20)
    return [check("canvas → probabilities (preprocess + inference)", median_ms(times), "ms", limit=2.0,
                  note=f"280×280 RGBA drawing, {model.path.name}, median of 300")]


def bench_server_rss() -> list[Result]:
    """Serve only /draw to one real browser session that draws a "1"; read the server's VmHWM."""
    from playwright.sync_api import sync_playwright

    from benchmarks.harness import CHROMIUM_ARGS, StreamlitServer, chromium_path

    path = chromium_path()
    if path is None:
        return [Result("draw-page server peak RSS (VmHWM)", float("nan"), "MB", "≤ 250 MB", None, "chromium missing")]
    server = StreamlitServer()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server.url}/draw")  # the first and only page this server renders
            canvas = page.locator("[data-testid='stBidiComponentIsolated'] canvas.cl-canvas").first
            canvas.wait_for(timeout=60_000)
            box = canvas.bounding_box()
            s = box["width"] / 280
            page.mouse.move(box["x"] + 140 * s, box["y"] + 40 * s)
            page.mouse.down()
            page.mouse.move(box["x"] + 142 * s, box["y"] + 240 * s, steps=18)
            page.mouse.up()
            page.get_by_text("Prediction: 1").wait_for(timeout=60_000)
            browser.close()
        hwm = memory_mb(server.proc.pid)["VmHWM"]
        torch_libs = mapped_libraries(server.proc.pid, "libtorch")
    finally:
        server.stop()
    return [check("draw-page server peak RSS (VmHWM)", hwm, "MB", limit=250,
                  note="one Chromium session drew a 1; libtorch " + ("MAPPED" if torch_libs else "never mapped"))]


def run() -> list[Result]:
    return bench_latency() + bench_canvas_to_probs() + bench_server_rss()


if __name__ == "__main__":
    print_table(run())
