"""A student's exported models, kept under their browser's anonymous token.

The store holds the ONNX bytes and the sidecar text; ``restore_into`` writes them back into the
session's private folder, where ``core.infer.runtime.load_model`` checks them exactly as any other
export (size, sidecar SHA-256, graph, plan). Limits are today's: ``MAX_MODELS`` per token and the byte
quota per session, plus a retention period counted from the last write.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, and_, delete, func, select, update

from core.store.schema import saved_models
from core.store.store import Store

TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_MODELS = 20  # as many as a session folder keeps (core.train.export)


class SaveRefused(ValueError):
    """A model the store will not keep; the message says why."""


@dataclass(frozen=True)
class SavedModel:
    token: str
    name: str
    size: int
    created_at: float
    touched_at: float


def check_token(token: str) -> str:
    if not TOKEN_RE.match(token or ""):
        raise ValueError("A browser token is 32 lowercase hex characters.")
    return token


def _rows(conn: Connection, token: str) -> list[SavedModel]:
    c = saved_models.c
    rows = conn.execute(select(c.token, c.name, c.size, c.created_at, c.touched_at)
                        .where(c.token == token).order_by(c.created_at)).all()
    return [SavedModel(*row) for row in rows]


def list_saved(store: Store, token: str) -> list[SavedModel]:
    check_token(token)
    return store.read(lambda conn: _rows(conn, token))


def save_model(store: Store, token: str, name: str, onnx: bytes, card: str, byte_limit: int,
               now: float | None = None) -> SavedModel:
    """Keep (or replace) one model; refused past MAX_MODELS or ``byte_limit`` for this token."""
    check_token(token)
    if not NAME_RE.match(name):
        raise SaveRefused("A model name is 1 to 64 letters, digits, '-' or '_'.")
    try:
        digest = json.loads(card).get("sha256")
    except (ValueError, AttributeError):
        digest = None
    if digest != hashlib.sha256(onnx).hexdigest():
        raise SaveRefused("The model's file does not match its sidecar; it was not saved.")
    now = time.time() if now is None else now

    def work(conn: Connection) -> SavedModel:
        others = [m for m in _rows(conn, token) if m.name != name]
        if len(others) >= MAX_MODELS:
            raise SaveRefused(f"You already keep {MAX_MODELS} models; delete one to keep another.")
        used = sum(m.size for m in others)
        if used + len(onnx) > byte_limit:
            raise SaveRefused(f"Keeping it would take {(used + len(onnx)) / 2**20:.1f} MB of the "
                              f"{byte_limit / 2**20:.0f} MB you may keep; delete a model first.")
        conn.execute(delete(saved_models).where(and_(saved_models.c.token == token, saved_models.c.name == name)))
        conn.execute(saved_models.insert().values(token=token, name=name, onnx=onnx, card=card, size=len(onnx),
                                                  created_at=now, touched_at=now))
        return SavedModel(token, name, len(onnx), now, now)

    return store.write(work)


def delete_model(store: Store, token: str, name: str) -> bool:
    check_token(token)
    c = saved_models.c
    return store.write(lambda conn: conn.execute(
        delete(saved_models).where(and_(c.token == token, c.name == name))).rowcount > 0)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def restore_into(store: Store, token: str, folder: Path, now: float | None = None) -> list[str]:
    """Write this token's kept models missing from ``folder`` into it; returns their names.

    ``folder`` is the session's private folder (``session_folders.ensure_session_dir``); the bytes are
    checked again when a page loads them. Restoring counts as use: retention restarts from now.
    """
    check_token(token)
    c = saved_models.c
    rows = store.read(lambda conn: conn.execute(
        select(c.name, c.onnx, c.card).where(c.token == token)).all())
    restored = []
    for name, onnx, card in rows:
        if not NAME_RE.match(name) or (folder / f"{name}.onnx").exists():
            continue
        _write_private(folder / f"{name}.onnx", bytes(onnx))
        _write_private(folder / f"{name}.json", card.encode())
        restored.append(name)
    if rows:
        now = time.time() if now is None else now
        store.write(lambda conn: conn.execute(update(saved_models).where(c.token == token).values(touched_at=now)))
    return restored


def expire(store: Store, now: float | None = None) -> int:
    """Delete the models untouched for longer than the host's retention period; returns how many."""
    cutoff = (time.time() if now is None else now) - store.config.retention_s
    return store.write(lambda conn: conn.execute(
        delete(saved_models).where(saved_models.c.touched_at < cutoff)).rowcount)


def total_bytes(store: Store) -> int:
    return int(store.read(lambda conn: conn.execute(select(func.coalesce(func.sum(saved_models.c.size), 0)))
                          .scalar()))
