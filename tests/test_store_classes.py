"""The class activity's store on SQLite and a real PostgreSQL: keys, limits, prompts, expiry, export."""

from __future__ import annotations

import io

import numpy as np
import pytest

from core.infer.class_report import score, to_csv, to_npz, worst_mistakes
from core.store import classes as cl
from core.store.config import StoreConfig, sqlite_url
from core.store.store import Store, StoreUnavailable
from tests.postgres import running_postgres

DIGIT = np.zeros((28, 28), np.float32)
DIGIT[6:22, 12:16] = 1.0  # a plain "1"


@pytest.fixture(scope="module")
def pg():
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        opened = Store.open(StoreConfig(sqlite_url(tmp_path)))
    else:
        opened = Store.open(StoreConfig(request.getfixturevalue("pg").url))
    yield opened
    opened.close()


def test_class_roundtrip_and_teacher_key(store):
    info, key = cl.create_class(store, "  7B <b>maths</b>\u202e" + "x" * 60, "9a31", 2, now=100.0)
    assert info.name == "7B <b>maths</b>" + "x" * 25 and len(info.name) == 40  # kept literally, bounded
    assert info.digits == (1, 3, 9) and cl.get_class(store, info.id) == info
    assert cl.teacher_class(store, info.id, key) == info
    for wrong in ("", "x" * 8, key[:-1] + ("A" if key[-1] != "A" else "B"), key + "'--"):
        assert cl.teacher_class(store, info.id, wrong) is None
        assert cl.delete_class(store, info.id, wrong) is False
    assert cl.get_class(store, info.id) == info  # a wrong key deleted nothing
    assert cl.get_class(store, "'; drop table classes;") is None


def test_drawings_limits_and_prompts(store):
    info, key = cl.create_class(store, "class", "12", 2, now=0.0)
    order = cl.prompts(info, "a" * 32)
    assert sorted(order) == [1, 1, 2, 2] and order == cl.prompts(info, "a" * 32)
    for i, label in enumerate(order):
        cl.add_drawing(store, info, "a" * 32, "=cmd()", label, DIGIT, now=100.0 + 10 * i)
    with pytest.raises(cl.ClassRefused, match="every digit"):
        cl.add_drawing(store, info, "a" * 32, "", 1, DIGIT, now=500.0)
    with pytest.raises(cl.ClassRefused, match="28×28"):
        cl.add_drawing(store, info, "b" * 32, "", 7, DIGIT, now=500.0)  # 7 is not one of this class's digits
    data = cl.class_set(store, info)
    assert data.images.shape == (4, 28, 28) and data.images.dtype == np.uint8
    assert (data.images[0] == np.uint8(255) * DIGIT.astype(np.uint8)).all()
    assert list(data.labels) == order and data.nicknames == ("=cmd()",) * 4
    assert cl.delete_class(store, info.id, key) and cl.get_class(store, info.id) is None


def test_rate_limit_per_student(store):
    info, _ = cl.create_class(store, "fast", "0123456789", 10, now=0.0)
    for i in range(cl.RATE_N):
        cl.add_drawing(store, info, "c" * 32, "", 0, DIGIT, now=1000.0 + i)
    with pytest.raises(cl.ClassRefused, match="Slow down"):
        cl.add_drawing(store, info, "c" * 32, "", 0, DIGIT, now=1000.0 + cl.RATE_N)
    cl.add_drawing(store, info, "d" * 32, "", 0, DIGIT, now=1000.0 + cl.RATE_N)  # another student is not slowed
    cl.add_drawing(store, info, "c" * 32, "", 0, DIGIT, now=1000.0 + cl.RATE_S + cl.RATE_N)


def test_untouched_classes_expire_with_their_drawings(store):
    old, _ = cl.create_class(store, "old", "1", 1, now=0.0)
    new, _ = cl.create_class(store, "new", "1", 1, now=0.0)
    cl.add_drawing(store, new, "e" * 32, "", 1, DIGIT, now=10 * 86400.0)  # drawing touches the class
    assert cl.expire_classes(store, days=5, now=12 * 86400.0) >= 1
    assert cl.get_class(store, old.id) is None and cl.get_class(store, new.id) == new


def test_report_and_export_match_numpy():
    from core.infer.runtime import default_model_path, load_model

    model = load_model(default_model_path())
    images = np.stack([DIGIT] * 3)
    labels = np.array([1, 7, 1])
    data = (images * 255).astype(np.uint8)
    result = score(model, data, labels)
    assert result.confusion.sum() == 3 and result.confusion[1].sum() == 2 and result.confusion[7].sum() == 1
    assert result.class_accuracy == pytest.approx(float((result.predicted == labels).mean()))
    assert result.mnist_accuracy == model.card.test_accuracy
    assert set(worst_mistakes(result)) == set(np.flatnonzero(result.predicted != labels))
    loaded = np.load(io.BytesIO(to_npz(data, labels)))
    assert (loaded["images"] == data).all() and list(loaded["labels"]) == [1, 7, 1]
    text = to_csv(np.array([5, 6, 7]), labels, ("=HYPERLINK()", "Ann", "@x"))
    assert text.splitlines()[1:] == ["0,5,1,'=HYPERLINK()", "1,6,7,Ann", "2,7,1,'@x"]


@pytest.mark.system
def test_database_stopped_mid_class_loses_nothing_acknowledged(pg):
    store = Store.open(StoreConfig(pg.url))
    info, _ = cl.create_class(store, "mid-class", "1", 10)
    acknowledged = [cl.add_drawing(store, info, "f" * 32, "", 1, DIGIT, now=1000.0 + i) for i in range(3)]
    pg.stop()
    try:
        with pytest.raises(StoreUnavailable, match="was not saved"):  # the sentence the student sees
            cl.add_drawing(store, info, "f" * 32, "", 1, DIGIT, now=1004.0)
    finally:
        pg.start()
    acknowledged.append(cl.add_drawing(store, info, "f" * 32, "", 1, DIGIT, now=1005.0))
    assert list(cl.class_set(store, info).ids) == acknowledged
    store.close()
