"""Reading the lesson picture (ui/lesson_picture.py) in AppTest and in a real browser."""

from __future__ import annotations

import json
from typing import Any

from streamlit.testing.v1 import AppTest

from ui.lesson_picture import READOUT


def payload(at: AppTest, key: str) -> dict[str, Any]:
    """The JSON a lesson picture sent (AppTest sees the element as a ``bidi_component``)."""
    for element in at.get("bidi_component"):
        if element.proto.component_name == "convlab_lesson_picture" and element.proto.id.endswith(key):
            return json.loads(element.proto.json)
    raise AssertionError(f"no lesson picture {key}")


def pictures(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(e.proto.json) for e in at.get("bidi_component")
            if e.proto.component_name == "convlab_lesson_picture"]


def grid_text(data: dict, index: int) -> list[list[str]]:
    g = data["grids"][index]
    return [g["text"][r * g["cols"]:(r + 1) * g["cols"]] for r in range(g["rows"])]


def grid_numbers(data: dict, index: int) -> "list[list[float]]":
    """A grid's texts as numbers ("−" read as a minus sign; "" and "−∞" as NaN and -inf)."""
    def number(t: str) -> float:
        t = t.replace("−", "-")
        return float("nan") if t == "" else float("-inf") if t == "-∞" else float(t)
    return [[number(t) for t in row] for row in grid_text(data, index)]


def fake_pick(monkeypatch, key: str, cell: int, nonce: str = "n1") -> None:
    """Runs from now on see the picture ``key``'s state value as a pick of ``cell`` (what a click in the
    browser leaves in the session: the same value on every later run until the next pick)."""
    import ui.lesson_picture as lp

    def picked(k: str, cells: int):
        return lp.new_pick(k, {"cell": cell, "nonce": nonce} if k == key else None, cells)

    monkeypatch.setattr(lp, "picked", picked)


def hover_readout(pg, frame, data: dict, step: int) -> dict[str, Any]:
    """Move the mouse over output cell ``step`` of the picture whose payload is ``data`` (in the element
    ``frame``, a Playwright locator of its canvas) and read the readout once it names that cell."""
    out = data["grids"][data["output"]]
    r, c = divmod(step, out["cols"])
    box = frame.evaluate("""(canvas, out) => {
        const st = canvas.closest('.lp-root').__lp;
        const b = st.lay.boxes[out], cell = st.lay.cell;
        return {x: b.x, y: b.y, cell};
    }""", data["output"])
    origin = frame.bounding_box()
    pg.mouse.move(origin["x"] + box["x"] + (c + 0.5) * box["cell"], origin["y"] + box["y"] + (r + 0.5) * box["cell"])
    title = f"({out['rowLabels'][r]}, {out['colLabels'][c]})"
    readout = pg.locator(READOUT).first
    readout.locator("[data-testid='lp-readout-title']").filter(has_text=title).wait_for()
    return {
        "window": readout.locator("[data-testid='lp-readout-window'] span").all_inner_texts(),
        "products": readout.locator("[data-testid='lp-readout-products'] span").all_inner_texts(),
        "result": readout.locator("[data-testid='lp-readout-result']").inner_text(),
    }
