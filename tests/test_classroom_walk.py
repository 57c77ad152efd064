"""Classroom links, field by field, on every lesson that declares typed settings (``core.links.settings``).

For each registered lesson page whose settings class (a ``Settings`` subclass with ``PAGE`` equal to the
page's url path) is declared — found by running the page, so a page converted later joins without an
edit here — a ``classroom=1`` link that gives every hidden field a value other than its default must:

* show each of the teacher's values in the "Set by your teacher" caption (label and value, literally),
* offer no widget with that field's key,
* keep the teacher's values in the link, also after the student moves a widget the page does offer.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from core.links import share
from core.links.settings import Settings
from tests.apptest_checks import assert_clean, open_page
from ui.registry import LESSONS
from ui.state import wkey
from ui.text import literal

_declared: list[type[Settings]] = []  # every Settings subclass defined while this module's tests run


@pytest.fixture(scope="module", autouse=True)
def record_settings_classes() -> Iterator[None]:
    """Note every settings class a page defines, also one declared inside a page script (re-created on
    every run, so it is not importable by name)."""
    original = Settings.__dict__["__init_subclass__"]

    def hook(cls, **kwargs: Any) -> None:
        original.__func__(cls, **kwargs)
        _declared.append(cls)

    Settings.__init_subclass__ = classmethod(hook)  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        Settings.__init_subclass__ = original  # type: ignore[method-assign]


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_all_subclasses(sub)]
    return out


def settings_class(page) -> type[Settings] | None:
    """The settings class the page declares: run the page once, then look for ``PAGE == url_path``."""
    at = open_page(page.file)
    assert_clean(at, f"{page.file} defaults")
    found = [c for c in [*_all_subclasses(Settings), *_declared] if c.PAGE == page.url_path and _fits(c, at)]
    return found[-1] if found else None


def _fits(cls: type[Settings], at) -> bool:
    """The page's choices hold the values its widgets have now. A page that derives its class at run time
    (Draw: one class per list of shipped models) leaves classes from other tests in this process, e.g. one
    whose only model was a hostile test file; the class of this run is one that fits."""
    for name in cls.names():
        key = wkey(cls.PAGE, name)
        param = cls.param(name)
        if isinstance(param, share.ChoiceParam) and key in at.session_state \
                and at.session_state[key] not in param.choices:
            return False
    return True


def other_value(param: share.Param) -> Any:
    """A valid value of ``param`` other than its default (None when the kind of field is unknown)."""
    d = param.default
    if isinstance(param, share.BoolParam):
        return not d
    if isinstance(param, share.IntParam):
        return d + 1 if d + 1 <= param.hi else d - 1
    if isinstance(param, share.FloatParam):
        return d * 2 if param.lo <= d * 2 <= param.hi and d else (param.lo + param.hi) / 2
    if isinstance(param, share.ChoiceParam):
        return next(c for c in param.choices if c != d)
    if isinstance(param, (share.IntListParam, share.FloatListParam)):
        first = d[0] + 1 if d[0] + 1 <= param.hi else d[0] - 1
        return (type(d[0])(first), *d[1:])
    return None


def teacher_link(cls: type[Settings]) -> tuple[dict[str, str], dict[str, Any]]:
    """Query parameters (as text) and values: every hidden field off its default."""
    values = {}
    for name in cls.hidden():
        value = other_value(cls.param(name))
        if value is not None:
            values[name] = value
    return {name: cls.param(name).format(v) for name, v in values.items()}, values


def widget_keys(at) -> set[str]:
    keys = set()
    for node in at._tree:
        try:
            key = node.key
        except Exception:  # noqa: BLE001 - nodes without a key property
            key = None
        if key:
            keys.add(key)
    return keys


def link(at) -> dict[str, str]:
    return {k: (v if isinstance(v, str) else v[-1]) for k, v in at.query_params.items()}


def check_teachers_view(at, cls: type[Settings], params: dict[str, str], values: dict[str, Any], when: str) -> None:
    assert_clean(at, when)
    caption = " ".join(c.value for c in at.caption if "Set by your teacher" in c.value)
    assert caption, f"{when}: no “Set by your teacher” caption"
    cfg = cls().with_(**values)
    offered = widget_keys(at)
    for name in values:
        assert f"{literal(cls.label(name))} **{literal(cfg.shown(name))}**" in caption, \
            f"{when}: the caption does not show the teacher's {name} = {cfg.shown(name)}: {caption}"
        assert wkey(cls.PAGE, name) not in offered, f"{when}: a widget for the hidden field {name!r} is offered"
        assert link(at).get(name) == params[name], f"{when}: the link lost the teacher's {name}"
    assert link(at).get("classroom") == "1"


@pytest.mark.parametrize("page", LESSONS, ids=lambda p: p.url_path)
def test_classroom_link_hides_every_hidden_field_and_shows_the_teachers_value(page):
    cls = settings_class(page)
    if cls is None:
        pytest.skip(f"{page.file} declares no typed settings yet")
    params, values = teacher_link(cls)
    if not values:
        pytest.skip(f"{cls.__name__} hides no field a link can set generically")
    at = open_page(page.file, {**params, "classroom": "1"})
    check_teachers_view(at, cls, params, values, f"{page.file}?classroom=1&{params}")

    # The student moves a control the page does offer: the teacher's values must survive it.
    visible = [s for s in at.slider if s.key and s.key.startswith(f"{cls.PAGE}.") and not s.disabled]
    if visible:
        slider = visible[0]
        slider.set_value(slider.max if slider.value != slider.max else slider.min).run()
        check_teachers_view(at, cls, params, values, f"{page.file} after moving {slider.key}")


def test_the_walk_finds_the_converted_lessons():
    """The discovery itself: the lessons known to use typed settings are found (a walk that finds
    nothing would pass vacuously)."""
    by_page = {p.url_path: p for p in LESSONS}
    for name in ("arithmetic", "pooling"):
        cls = settings_class(by_page[name])
        assert cls is not None and cls.hidden(), name
        assert teacher_link(cls)[1], name
