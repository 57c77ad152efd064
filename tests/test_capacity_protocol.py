"""The simulated student of ``benchmarks/bench_capacity.py`` speaks Streamlit's websocket protocol to a real
server: the slider steps it builds from the page's deltas change what the page sends back.

No browser: ``benchmarks.stclient.SimStudent`` opens the page, learns the widget and fragment ids, and
sends ``rerun_script`` messages; every wait is for the run's ``script_finished`` message (no sleeps).
"""

from __future__ import annotations

import asyncio

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.stclient import SimStudent

TWO_BY_TWO, THREE_BY_THREE = b"(1, 1, 2, 2)", b"(1, 1, 3, 3)"  # output shape for kernel 4 / 3 (h 5, s 2, p 1)


async def _session(url: str) -> dict:
    student = SimStudent(url, "/arithmetic", timeout_s=120)
    await student.connect()
    try:
        seen = {"open": await student.open_page("h=5&k=3&s=2&p=1", needle=THREE_BY_THREE)}
        seen["open_has_2x2"] = (await student.open_page("h=5&k=3&s=2&p=1", needle=TWO_BY_TWO)).found
        seen["up"] = await student.send(student.slider_step("Kernel size", +1), TWO_BY_TWO)
        seen["query_up"] = student.query
        seen["down"] = await student.send(student.slider_step("Kernel size", -1), THREE_BY_THREE)
        step = student.slider_step("Kernel position", +1)  # inside the sliding-window st.fragment
        seen["fragment_id"] = step.fragment_id
        seen["window"] = await student.send(step, b"Output cell (0, 1)")
        return seen
    finally:
        await student.close()


def test_simulated_student_slider_steps_change_the_output_shape(shared_server) -> None:
    seen = asyncio.run(_session(shared_server.url))
    assert seen["open"].found and not seen["open_has_2x2"]  # the link's kernel 3 gives 3×3, not 2×2
    assert seen["up"].found, "kernel size 3 → 4 must answer with the 2×2 output shape"
    assert "k=4" in seen["query_up"].split("&")
    assert seen["down"].found, "kernel size 4 → 3 must answer with the 3×3 output shape again"
    assert seen["fragment_id"], "the kernel position slider lives in a fragment: its step names it"
    assert seen["window"].found
    assert seen["window"].status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY  # only the fragment reran
