"""The class activity end to end through AppTest on SQLite: a teacher creates a class, two students
draw (the canvas replaced by real MNIST test digits: AppTest runs no JavaScript), the dashboard's
counts and accuracies equal core's; hostile names and keys are shown literally and do nothing."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests import apptest_checks as checks

from core.data.mnist import load_test
from core.infer.class_report import score
from core.store import classes as cl
from core.store.config import StoreConfig
from core.store.store import Store
from ui.class_dashboard import _shipped_models

APP, PAGE = str(__import__("pathlib").Path(__file__).resolve().parent.parent / "streamlit_app.py"), "pages/classroom.py"
HOSTILE = "<img src=x onerror=alert(1)> **bold** [x](javascript:1) $x$"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLAB_DATA_DIR", str(tmp_path / "data"))
    from ui.store_access import store

    store.clear()  # this test's own database, not one an earlier test opened
    yield
    store.clear()


def open_page(query: dict[str, str] | None = None, token: str | None = None) -> AppTest:
    at = checks.open_page(PAGE, query, token)
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return "\n".join(e.value for kind in ("markdown", "success", "error", "info", "subheader", "caption", "warning")
                     for e in getattr(at, kind))


def test_teacher_creates_two_students_draw_dashboard_matches_core(env, monkeypatch):
    at = open_page()
    at.text_input(key="class.name").set_value(HOSTILE)
    at.multiselect(key="class.digits").set_value([1, 7])
    at.number_input(key="class.per").set_value(2)
    at.button[0].click().run()
    assert not at.exception, at.exception
    store = Store.open(StoreConfig.from_env())
    (class_id,) = [r for r in store.engine.connect().exec_driver_sql("select id from classes").scalars()]
    _, key = at.session_state["class.created"]
    assert "\\<img" in texts(at) or "&lt;img" in texts(at)  # the name is escaped, not rendered

    test = load_test()
    images = {d: test.images[test.labels == d][:4] for d in (1, 7)}
    import ui.canvas

    for s, token in enumerate(("a" * 32, "b" * 32)):
        student = open_page({"c": class_id}, token=token)
        student.text_input(key="class.nick").set_value(HOSTILE).run()
        for n in range(4):
            prompt = cl.prompts(cl.get_class(store, class_id), token)[n]
            big = np.kron(images[prompt][s * 2 + n // 2].astype(np.float32) / 255, np.ones((10, 10), np.float32))
            monkeypatch.setattr(ui.canvas, "drawing_canvas", lambda *a, _b=big, **k: _b)
            student.run()
            student.button(key=f"class.store.{n}").click().run()
            assert not student.exception, student.exception
            assert f"Stored your **{prompt}**" in texts(student)
        assert "You drew all 4 digits" in texts(student)

    data = cl.class_set(store, cl.get_class(store, class_id))
    assert len(data.labels) == 8 and sorted(data.labels) == [1] * 4 + [7] * 4
    assert data.nicknames == (HOSTILE[:40].strip(),) * 8
    dash = open_page({"c": class_id, "k": key})
    assert [m.value for m in dash.metric][:2] == ["8", "2"]
    table = dash.dataframe[1].value
    expected = [score(m, data.images, data.labels) for m in _shipped_models()]
    assert list(table["our class"]) == [f"{s.class_accuracy:.1%}" for s in expected]
    assert list(table["MNIST test"]) == [f"{m.card.test_accuracy:.1%}" for m in _shipped_models()]
    assert list(dash.dataframe[0].value["nickname"]) == [HOSTILE[:40].strip()] * 2  # literally, as typed
    assert (dash.dataframe[2].value.to_numpy() == expected[0].confusion).all()
    store.close()


@pytest.mark.parametrize("key", ["", "wrong-key-000", "' OR 1=1 --", HOSTILE, "k" * 65, "k" * 300])
def test_wrong_key_sees_and_deletes_nothing(env, key):
    store = Store.open(StoreConfig.from_env())
    info, real = cl.create_class(store, "Class 4C", "1", 1)
    cl.add_drawing(store, info, "c" * 32, "Sam", 1, np.ones((28, 28), np.float32) * 0.5)
    at = open_page({"c": info.id, "k": key} if key else {"c": info.id, "k": "x"})
    assert ("This teacher link is not valid" in texts(at)) is (len(key) <= 256)  # overlong: a student view
    assert not at.metric and not at.dataframe and not at.get("download_button")
    assert not [b for b in at.button if "Delete" in str(b.label)]
    assert cl.get_class(store, info.id) == info and len(cl.class_set(store, info).labels) == 1
    store.close()


@pytest.mark.parametrize("class_id", [HOSTILE, "0" * 16, "../../etc/passwd"])
def test_unknown_or_hostile_join_links_say_so(env, class_id):
    at = open_page({"c": class_id})
    assert not at.exception
    assert "This class link is not valid" in texts(at) or "Create the class" in [b.label for b in at.button]
