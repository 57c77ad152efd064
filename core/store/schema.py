"""The store's tables and its versioned migrations.

``schema_version`` holds one row per migration applied; ``migrate`` runs the missing ones in order, each
in its own transaction with its version row, so a crash leaves the schema at a known version. On
PostgreSQL an advisory lock makes two replicas starting at once migrate one after the other.
"""

from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import (Column, Connection, Engine, Float, ForeignKey, Integer, LargeBinary, MetaData, String, Table, Text,
                        inspect, select, text)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", Float, nullable=False),
)

saved_models = Table(
    "saved_models", metadata,
    Column("token", String(64), primary_key=True),  # the browser's anonymous token (hex)
    Column("name", String(64), primary_key=True),  # the file stem the export chose
    Column("onnx", LargeBinary, nullable=False),
    Column("card", Text, nullable=False),  # the sidecar JSON, its sha256 checked again on every load
    Column("size", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("touched_at", Float, nullable=False),  # last write or restore: retention counts from here
)


classes = Table(
    "classes", metadata,
    Column("id", String(16), primary_key=True),  # public: in the join link
    Column("name", String(40), nullable=False),  # a teacher's words, shown literally
    Column("digits", String(10), nullable=False),  # e.g. "0123456789"
    Column("per_student", Integer, nullable=False),  # drawings of each digit per student
    Column("key_hash", String(64), nullable=False),  # sha256 of the teacher key; the key itself is never kept
    Column("created_at", Float, nullable=False),
    Column("touched_at", Float, nullable=False),  # last drawing or dashboard visit: expiry counts from here
)

class_drawings = Table(
    "class_drawings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("class_id", String(16), ForeignKey("classes.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("student", String(32), nullable=False),  # the browser's anonymous token
    Column("nickname", String(40), nullable=False),
    Column("label", Integer, nullable=False),  # the digit the student was asked to draw
    Column("pixels", LargeBinary, nullable=False),  # (28, 28) uint8: the model's input before normalisation
    Column("created_at", Float, nullable=False),
)


def _v1_saved_models(conn: Connection) -> None:
    saved_models.create(conn)


def _v2_classes(conn: Connection) -> None:
    classes.create(conn)
    class_drawings.create(conn)


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_v1_saved_models, _v2_classes)
ADVISORY_KEY = 0x436F6E764C6162  # "ConvLab": one lock id for every replica's migration


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    return int(conn.execute(select(schema_version.c.version).order_by(schema_version.c.version.desc())
                            .limit(1)).scalar() or 0)


def migrate(engine: Engine) -> int:
    """Bring the database to the newest version; returns it."""
    for version, step in enumerate(MIGRATIONS, start=1):
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_KEY})
            if version == 1 and not inspect(conn).has_table("schema_version"):
                schema_version.create(conn)
            if current_version(conn) >= version:
                continue
            step(conn)
            conn.execute(schema_version.insert().values(version=version, applied_at=time.time()))
    return len(MIGRATIONS)
