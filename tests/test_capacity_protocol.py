"""The simulated student of ``benchmarks/bench_capacity.py`` speaks Streamlit's websocket protocol to a real
server: the slider steps it builds from the page's deltas change what the page sends back.

No browser: ``benchmarks.stclient.SimStudent`` opens the page, learns the widget and fragment ids, and
sends ``rerun_script`` messages; every wait is for the run's ``script_finished`` message (no sleeps).
Two unit tests without a server cover the replay side: how recorded browser frames are named by their
answer, and how a replayed drawing becomes a new image.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import io
import json
import zlib

import numpy as np
import pytest
from PIL import Image
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.stclient import Frame, FrameRecorder, SimStudent, varied

TWO_BY_TWO, THREE_BY_THREE = b"(1, 1, 2, 2)", b"(1, 1, 3, 3)"  # output shape for kernel 4 / 3 (h 5, s 2, p 1)


async def _session(url: str) -> dict:
    student = SimStudent(url, "/arithmetic", timeout_s=120)
    await student.connect()
    try:
        seen = {"open": await student.open_page("h=5&k=3&s=2&p=1", needle=THREE_BY_THREE)}
        seen["open_has_2x2"] = (await student.open_page("h=5&k=3&s=2&p=1", needle=TWO_BY_TWO)).found
        up = student.slider_step("Kernel size", +1)  # inside the lesson's st.fragment
        seen["fragment_id"] = up.fragment_id
        seen["up"] = await student.send(up, TWO_BY_TWO)
        seen["query_up"] = student.query
        seen["down"] = await student.send(student.slider_step("Kernel size", -1), THREE_BY_THREE)
        return seen
    finally:
        await student.close()


def test_simulated_student_slider_steps_change_the_output_shape(shared_server) -> None:
    # In its own thread: a browser test that ran earlier in this worker leaves Playwright's event loop
    # running in the main thread, where asyncio.run() refuses to start another.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        seen = pool.submit(asyncio.run, _session(shared_server.url)).result()
    assert seen["open"].found and not seen["open_has_2x2"]  # the link's kernel 3 gives 3×3, not 2×2
    assert seen["up"].found, "kernel size 3 → 4 must answer with the 2×2 output shape"
    assert "k=4" in seen["query_up"].split("&")
    assert seen["down"].found, "kernel size 4 → 3 must answer with the 3×3 output shape again"
    assert seen["fragment_id"], "the kernel size slider lives in the lesson's fragment: its step names it"
    assert seen["up"].status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY  # only the fragment reran


def _payload(form: str, ink: np.ndarray) -> str:
    """A drawing as a component sends it: a PNG data URL (RGBA), or ConvLab's canvas ink bytes."""
    if form == "png":
        rgba = np.zeros((*ink.shape, 4), np.uint8)
        rgba[..., :3], rgba[..., 3] = ink[..., None], 255
        buf = io.BytesIO()
        Image.fromarray(rgba).save(buf, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    body = zlib.compress(ink.tobytes()) if form == "deflate" else ink.tobytes()
    return f"ink{ink.shape[0]}/{form};base64," + base64.b64encode(body).decode()


def _ink(payload: str) -> np.ndarray:
    head, b64 = payload.split(",", 1)
    data = base64.b64decode(b64)
    if head.startswith("data:image/png"):
        return np.asarray(Image.open(io.BytesIO(data)))[..., 0]
    raw = zlib.decompress(data) if "/deflate;" in head else data
    side = int(head[3:].split("/")[0])
    return np.frombuffer(raw, np.uint8).reshape(side, side)


@pytest.mark.parametrize("form", ["png", "deflate", "raw"])
def test_a_replayed_drawing_is_a_new_image_and_a_blank_one_stays_blank(form: str) -> None:
    ink = np.zeros((28, 28), np.uint8)
    ink[8:20, 13:15] = 255  # a "1"
    state = ClientState()
    for wid, image in (("canvas", ink), ("empty", np.zeros_like(ink))):
        w = state.widget_states.widgets.add()
        w.id, w.json_value = wid, json.dumps({"drawing": _payload(form, image), "other": 1})
    out = varied(state, np.random.default_rng(1))
    moved, kept = (json.loads(w.json_value) for w in out.widget_states.widgets)
    assert moved["other"] == 1 and moved["drawing"].split(",")[0] == _payload(form, ink).split(",")[0]
    assert not np.array_equal(_ink(moved["drawing"]), ink)  # moved and/or dimmed
    assert (_ink(moved["drawing"]) > 200).sum() == (ink > 200).sum()  # the same stroke
    assert kept["drawing"] == _payload(form, np.zeros_like(ink))


def _frame(sent: bool, msg) -> Frame:
    return Frame(0.0, sent, msg.SerializeToString())


def test_recorded_frames_are_named_by_the_answer_they_got() -> None:
    def rerun(value: float | None) -> BackMsg:
        msg = BackMsg()
        msg.rerun_script.page_name = "arithmetic"
        msg.rerun_script.widget_states.SetInParent()
        if value is not None:
            w = msg.rerun_script.widget_states.widgets.add(id="k")
            w.double_array_value.data.append(value)
        return msg

    def answer(text: str) -> ForwardMsg:
        msg = ForwardMsg()
        msg.delta.new_element.metric.body = text
        return msg

    recorder = FrameRecorder(browser=None)
    recorder.frames = [_frame(True, rerun(None)), _frame(False, answer("(1, 1, 3, 3)")),
                       _frame(True, rerun(4)), _frame(False, answer("(1, 1, 2, 2)")),
                       _frame(True, rerun(5)), _frame(False, answer("(1, 1, 1, 1)")),
                       _frame(True, rerun(3)), _frame(False, answer("(1, 1, 3, 3)"))]
    named = recorder.interactions({"2x2": TWO_BY_TWO, "3x3": THREE_BY_THREE})
    assert [(name, list(s.widget_states.widgets[0].double_array_value.data)) for name, s in named] == [
        ("2x2", [4.0]), ("3x3", [3.0])]  # the page load and the unanswered step are left out
    assert recorder.page_load().page_name == "arithmetic"
