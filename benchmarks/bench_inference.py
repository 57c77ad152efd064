"""Inference speed and memory: onnxruntime vs torch, canvas → probabilities, and the draw page's server RSS.

    python -m benchmarks.bench_inference

1. Batch-1 latency of the best shipped architecture in torch eager and in onnxruntime (one thread),
   measured in the same run on the same network (torch model → ``core.export.onnx_bytes``). Target: ≥ 5×.
2. A 280×280 RGBA canvas drawing → ten probabilities (``core.predict.classify``: preprocessing + the
   shipped model in onnxruntime). Target: ≤ 2 ms median.
3. Peak RSS (VmHWM) of a real ``streamlit run`` that has only served the draw page to one Chromium
   session that drew a digit and read the prediction; torch must never be loaded. Target: ≤ 250 MB.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.common import Result, check, median_ms, print_table, time_it

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def canvas_drawing() -> np.ndarray:
    """A "7" as the draw page's canvas returns it: (280, 280, 4) uint8, white strokes on black."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(img).line([(60, 50), (215, 45), (120, 240)], fill=(255, 255, 255, 255), width=22, joint="curve")
    return np.asarray(img)


def bench_latency() -> list[Result]:
    """torch eager vs onnxruntime, batch 1, same network, same process, interleaved rounds."""
    import torch

    from core.export import onnx_bytes, ort_session, parity_batch
    from core.inference import default_model_path
    from core.model_card import read_card
    from core.models import build_model, spec_from_dict

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

    torch_times, ort_times = [], []
    for _ in range(5):  # interleave so both see the same machine load
        torch_times += time_it(run_torch, repeat=100, warmup=10)
        ort_times += time_it(run_ort, repeat=100, warmup=10)
    t_ms, o_ms = median_ms(torch_times), median_ms(ort_times)
    note = f"{card.architecture.get('name')} architecture; torch {torch.get_num_threads()} threads, onnxruntime 1"
    return [
        check("torch eager, batch 1", t_ms * 1000, "µs", note=note),
        check("onnxruntime, batch 1", o_ms * 1000, "µs", note="intra_op_num_threads=1"),
        check("onnxruntime speed-up over torch, batch 1", t_ms / o_ms, "x", at_least=5),
    ]


def bench_canvas_to_probs() -> list[Result]:
    from core.inference import default_model_path, load_model
    from core.predict import classify

    model = load_model(default_model_path())
    canvas = canvas_drawing()
    assert classify(model, canvas).digit == 7
    times = time_it(lambda: classify(model, canvas), repeat=300, warmup=20)
    return [check("canvas → probabilities (preprocess + inference)", median_ms(times), "ms", limit=2.0,
                  note=f"280×280 RGBA drawing, {model.path.name}, median of 300")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status_kb(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


def bench_server_rss() -> list[Result]:
    """Serve only /draw to one real browser session that draws a "1"; read the server's VmHWM."""
    if not Path(CHROMIUM).exists():
        return [Result("draw-page server peak RSS", float("nan"), "MB", "≤ 250 MB", None, "chromium missing")]
    from playwright.sync_api import sync_playwright

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("streamlit did not start") from None
                time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/draw")
            canvas = page.locator("[data-testid='stBidiComponentIsolated'] canvas.upper-canvas")
            canvas.wait_for(timeout=60_000)
            box = canvas.bounding_box()
            s = box["width"] / 280
            page.mouse.move(box["x"] + 140 * s, box["y"] + 40 * s)
            page.mouse.down()
            page.mouse.move(box["x"] + 142 * s, box["y"] + 240 * s, steps=18)
            page.mouse.up()
            page.get_by_text("Prediction: 1").wait_for(timeout=60_000)
            browser.close()
        hwm = _status_kb(proc.pid, "VmHWM") / 1024
        torch_loaded = "libtorch" in Path(f"/proc/{proc.pid}/maps").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return [check("draw-page server peak RSS (VmHWM)", hwm, "MB", limit=250,
                  note="one Chromium session drew a 1; torch " + ("LOADED" if torch_loaded else "never loaded"))]


def run() -> list[Result]:
    return bench_latency() + bench_canvas_to_probs() + bench_server_rss()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print_table(run())
