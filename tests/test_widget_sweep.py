"""Every input widget of every page, swept across its range one at a time: no exception, no traceback.

For each page, each slider / number input / selectbox / radio / toggle / checkbox / select slider / text
input found on it is moved, starting from a fresh session on the page defaults, through its edge values
(min, max, a middle value; every option; on/off). The widget list is re-read after every run because
pages change shape (a kernel preset adds a sigma slider, padding mode "explicit" adds a padding slider,
...). A widget that first appears after one of those changes is swept too, from that changed state.
The Train button is never pressed: on the training page only its configuration widgets are swept.
Values per widget are capped (``MAX_OPTIONS``) to keep each page around a minute on a busy 2-core box.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from streamlit.proto.NumberInput_pb2 import NumberInput as NumberInputProto
from streamlit.proto.Slider_pb2 import Slider as SliderProto

from tests.apptest_checks import WIDGET_KINDS, assert_clean, choose_label, open_page
from ui.registry import LESSONS

pytestmark = pytest.mark.system  # every widget of every page moved through its range

MAX_OPTIONS = 12  # options tried per selectbox / radio / select slider (evenly spaced, first and last included)
TEXT_VALUES = ("", "abc", "é漢字🙂", "9" * 1000, "-1", "nan")
Ident = tuple[str, str]  # (kind, key or label)


@dataclass
class Sweep:
    page: str
    runs: int = 0
    swept: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def ident_of(kind: str, widget) -> Ident:
    return kind, widget.key or widget.label


def find(at, ident: Ident):
    kind, name = ident
    for w in getattr(at, kind):
        if (w.key or w.label) == name:
            return w
    return None


def current_idents(at, enabled_only: bool = False) -> list[Ident]:
    return [ident_of(kind, w) for kind in WIDGET_KINDS for w in getattr(at, kind)
            if not (enabled_only and w.disabled)]


def _spread(n: int, cap: int) -> list[int]:
    """Up to ``cap`` indices out of range(n), evenly spaced, first and last included."""
    if n <= cap:
        return list(range(n))
    return sorted({round(i * (n - 1) / (cap - 1)) for i in range(cap)})


def _numeric(lo, hi, step, is_int: bool) -> list:
    if is_int:
        lo, hi = int(lo), int(hi)
        return [lo, hi, (lo + hi) // 2]
    mid = lo + round((hi - lo) / 2 / step) * step if step else (lo + hi) / 2
    return [float(lo), float(hi), float(mid)]


def candidates(kind: str, w) -> list[Any]:
    """The values to try, edge values first; the widget's current value is left out (already seen)."""
    if kind == "slider":
        values = _numeric(w.min, w.max, w.step, w.proto.data_type == SliderProto.INT)
    elif kind == "number_input":
        is_int = w.proto.data_type == NumberInputProto.INT
        lo = w.min if w.min is not None else (w.value or 0) - 10**6
        hi = w.max if w.max is not None else (w.value or 0) + 10**6
        values = _numeric(lo, hi, w.step, is_int)
    elif kind in ("selectbox", "radio", "select_slider"):
        values = [w.options[i] for i in _spread(len(w.options), MAX_OPTIONS)]
    elif kind in ("toggle", "checkbox"):
        values = [not w.value]
    elif kind == "text_input":
        values = list(TEXT_VALUES)
    else:  # pragma: no cover - WIDGET_KINDS lists only the kinds above
        raise AssertionError(kind)
    current = _current_label(kind, w)
    out = []
    for v in values:
        if v != current and v not in out:
            out.append(v)
    return out


def _current_label(kind: str, w) -> Any:
    if kind in ("selectbox", "radio"):
        return w.options[w.index] if w.index is not None else None
    if kind == "select_slider":
        return w.format_func(w.value)
    return w.value


def set_widget(kind: str, w, value: Any) -> None:
    if kind in ("selectbox", "radio"):
        choose_label(w, value)
    elif kind in ("slider", "number_input"):
        w.set_value(value)
    elif kind == "select_slider":
        w.set_value(value)
    else:
        w.set_value(value)


def apply(at, ident: Ident, value: Any, sweep: Sweep, context: str) -> bool:
    """Set one widget and run; False when the widget is gone or disabled (the page changed shape)."""
    w = find(at, ident)
    if w is None or w.disabled:
        return False
    set_widget(ident[0], w, value)
    at.run()
    sweep.runs += 1
    assert_clean(at, f"{context}: {ident[0]} {ident[1]!r} = {value!r}")
    return True


def sweep_page(file: str) -> Sweep:
    sweep = Sweep(file)
    at = open_page(file)
    assert_clean(at, f"{file} defaults")
    defaults = current_idents(at, enabled_only=True)
    seen = set(defaults)  # a widget disabled by default is swept once a change enables it
    queue: list[tuple[tuple[tuple[Ident, Any], ...], Ident]] = [((), ident) for ident in defaults]
    while queue:
        path, ident = queue.pop(0)
        where = " → ".join(f"{i[1]}={v!r}" for i, v in path) or "defaults"
        context = f"{file} [{where}]"
        at = open_page(file)
        for step_ident, step_value in path:
            assert apply(at, step_ident, step_value, sweep, context), f"{context}: could not replay {step_ident}"
        w = find(at, ident)
        if w is None or w.disabled:
            sweep.skipped.append(f"{ident} ({'disabled' if w is not None else 'absent'}) at {where}")
            continue
        sweep.swept.append(f"{ident[0]} {ident[1]!r} at {where}")
        for value in candidates(ident[0], w):
            if not apply(at, ident, value, sweep, context):
                break
            if path:
                continue
            for new in current_idents(at, enabled_only=True):  # widgets this value revealed or enabled: sweep them from here too
                if new not in seen:
                    seen.add(new)
                    queue.append((((ident, value),), new))
    return sweep


@pytest.mark.slow
@pytest.mark.parametrize("page", LESSONS, ids=lambda p: p.url_path)
def test_sweep_every_widget(page):
    t0, cpu0 = time.monotonic(), time.process_time()
    sweep = sweep_page(page.file)
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    print(f"\n{page.url_path}: {len(sweep.swept)} widgets, {sweep.runs} runs, {elapsed:.0f} s wall, {cpu:.0f} s CPU;"
          f" skipped: {sweep.skipped}\n  " + "\n  ".join(sweep.swept))
    assert len(sweep.swept) >= 3, f"{page.file}: only swept {sweep.swept}: did the widget lookup break?"
    assert sweep.runs >= len(sweep.swept)


def test_candidates_cover_edges_and_options():
    """The sweep itself: edge values for numbers, every option up to the cap, a flip for booleans."""

    class W:  # the attributes candidates() reads, like AppTest's widget objects
        def __init__(self, **kw):
            self.__dict__.update(kw)

    slider = W(min=1.0, max=9.0, step=1.0, value=3, proto=W(data_type=SliderProto.INT))
    assert candidates("slider", slider) == [1, 9, 5]
    flt = W(min=0.3, max=3.0, step=0.1, value=1.0, proto=W(data_type=SliderProto.FLOAT))
    assert candidates("slider", flt)[:2] == [0.3, 3.0] and 1.5 < candidates("slider", flt)[2] < 1.8
    radio = W(options=list("abcd"), index=1, value="b")
    assert candidates("radio", radio) == ["a", "c", "d"]
    many = W(options=[str(i) for i in range(30)], index=0, value="0")
    picked = candidates("selectbox", many)
    assert len(picked) == MAX_OPTIONS - 1 and picked[-1] == "29"
    assert candidates("toggle", W(value=False)) == [True]
