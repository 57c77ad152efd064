"""The store on SQLite and on a real PostgreSQL: migrations, saved models, limits, retention, errors."""

from __future__ import annotations

import hashlib
import json
import secrets

import pytest
from sqlalchemy import select

from core.store import models
from core.store.config import StoreConfig, normalise_url, retention_days, sqlite_url
from core.store.schema import MIGRATIONS, current_version, metadata, schema_version
from core.store.store import Store, StoreUnavailable
from tests.postgres import running_postgres


@pytest.fixture(scope="module")
def pg():
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request, tmp_path):
    if request.param == "sqlite":
        return StoreConfig(sqlite_url(tmp_path / "data"), retention_days=2)
    pg = request.getfixturevalue("pg")
    store = Store.open(StoreConfig(pg.url))
    metadata.drop_all(store.engine)  # each test starts from an empty database
    store.close()
    return StoreConfig(pg.url, retention_days=2)


@pytest.fixture
def store(config):
    opened = Store.open(config)
    yield opened
    opened.close()


def _model(size: int = 1000) -> tuple[bytes, str]:
    onnx = secrets.token_bytes(size)
    return onnx, json.dumps({"sha256": hashlib.sha256(onnx).hexdigest(), "name": "m"})


def test_migrations_run_once_and_record_their_version(config):
    first = Store.open(config)
    second = Store.open(config)  # a second replica (or restart) finds the schema current
    with second.engine.connect() as conn:
        assert current_version(conn) == len(MIGRATIONS)
        assert conn.execute(select(schema_version.c.version)).scalars().all() == list(range(1, len(MIGRATIONS) + 1))
    first.close(), second.close()


def test_saved_model_survives_reopening_and_restores_byte_exact(config, tmp_path):
    token = secrets.token_hex(16)
    onnx, card = _model()
    store = Store.open(config)
    models.save_model(store, token, "mine-97_1", onnx, card, byte_limit=10**6)
    store.close()
    reopened = Store.open(config)  # a server restart: a new engine, the same database
    assert [m.name for m in models.list_saved(reopened, token)] == ["mine-97_1"]
    folder = tmp_path / "session"
    folder.mkdir()
    assert models.restore_into(reopened, token, folder) == ["mine-97_1"]
    assert (folder / "mine-97_1.onnx").read_bytes() == onnx
    assert (folder / "mine-97_1.json").read_text() == card
    assert models.restore_into(reopened, token, folder) == []  # already there: not written twice
    assert models.list_saved(reopened, secrets.token_hex(16)) == []  # another browser sees nothing
    reopened.close()


def test_limits_count_and_bytes(store):
    token = secrets.token_hex(16)
    for i in range(models.MAX_MODELS):
        models.save_model(store, token, f"m{i}", *_model(10), byte_limit=10**6)
    with pytest.raises(models.SaveRefused, match="20 models"):
        models.save_model(store, token, "one-more", *_model(10), byte_limit=10**6)
    models.save_model(store, token, "m0", *_model(20), byte_limit=10**6)  # replacing is not one more
    other = secrets.token_hex(16)
    models.save_model(store, other, "a", *_model(600), byte_limit=1000)
    with pytest.raises(models.SaveRefused, match="MB you may keep"):
        models.save_model(store, other, "b", *_model(600), byte_limit=1000)
    assert [m.name for m in models.list_saved(store, other)] == ["a"]


def test_refuses_mismatched_sidecar_bad_names_and_tokens(store):
    token = secrets.token_hex(16)
    onnx, _ = _model()
    with pytest.raises(models.SaveRefused, match="does not match"):
        models.save_model(store, token, "x", onnx, json.dumps({"sha256": "0" * 64}), byte_limit=10**6)
    with pytest.raises(models.SaveRefused, match="does not match"):
        models.save_model(store, token, "x", onnx, "not json", byte_limit=10**6)
    with pytest.raises(models.SaveRefused, match="letters"):
        models.save_model(store, token, "../etc/passwd", *_model(), byte_limit=10**6)
    with pytest.raises(ValueError, match="hex"):
        models.list_saved(store, "'; DROP TABLE saved_models; --")


def test_retention_removes_only_models_untouched_for_longer(store):
    old, new = secrets.token_hex(16), secrets.token_hex(16)
    models.save_model(store, old, "old", *_model(), byte_limit=10**6, now=1_000.0)
    models.save_model(store, new, "new", *_model(), byte_limit=10**6, now=1_000.0 + 86400)
    assert models.expire(store, now=1_000.0 + 2.5 * 86400) == 1  # retention_days=2
    assert models.list_saved(store, old) == []
    assert [m.name for m in models.list_saved(store, new)] == ["new"]
    assert models.total_bytes(store) == 1000


def test_database_errors_become_a_sentence(tmp_path):
    bad = StoreConfig("postgresql+psycopg://nobody@/nothing?host=/nonexistent&port=1")
    with pytest.raises(StoreUnavailable, match="cannot be reached") as info:
        Store.open(bad)
    assert "Traceback" not in str(info.value) and "psycopg" not in str(info.value)


def test_settings_from_the_environment(tmp_path):
    cfg = StoreConfig.from_env({"CONVLAB_DATA_DIR": str(tmp_path)})
    assert cfg.is_sqlite and cfg.url.endswith(f"{tmp_path}/convlab.sqlite3") and cfg.retention_days == 30
    cfg = StoreConfig.from_env({"CONVLAB_DATABASE_URL": "postgresql://u@h/db", "CONVLAB_RETENTION_DAYS": "7"})
    assert cfg.url == "postgresql+psycopg://u@h/db" and cfg.retention_days == 7
    assert normalise_url("sqlite:///x") == "sqlite:///x"
    for raw in ("0", "-1", "ten", "99999"):
        with pytest.raises(ValueError, match="CONVLAB_RETENTION_DAYS"):
            retention_days(raw)


@pytest.mark.system
def test_postgres_stopped_then_back_loses_nothing_acknowledged(pg):
    store = Store.open(StoreConfig(pg.url))
    token = secrets.token_hex(16)
    kept = models.save_model(store, token, "before", *_model(), byte_limit=10**6)
    pg.stop()
    try:
        with pytest.raises(StoreUnavailable, match="was not saved"):
            models.save_model(store, token, "during", *_model(), byte_limit=10**6)
        with pytest.raises(StoreUnavailable, match="reload"):
            models.list_saved(store, token)
    finally:
        pg.start()
    models.save_model(store, token, "after", *_model(), byte_limit=10**6)  # the same engine reconnects
    assert [m.name for m in models.list_saved(store, token)] == [kept.name, "after"]
    store.close()
