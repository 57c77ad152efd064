"""The one storage layer: open the database, retry a failed write, turn database errors into a sentence.

A write is tried ``WRITE_TRIES`` times (a restarted PostgreSQL or a busy SQLite file often answers the
second try); if every try fails the caller gets ``StoreUnavailable``, whose message a student can read,
and must report it: nothing is acknowledged that was not committed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from core.store.config import StoreConfig
from core.store.schema import migrate

T = TypeVar("T")
WRITE_TRIES = 3
RETRY_PAUSE_S = 0.2  # a back-off between tries, not a synchronisation: the third failure is reported
UNAVAILABLE = ("The class's database cannot be reached just now, so this was not saved. "
               "Wait a moment and try again; your earlier saved work is safe.")


class StoreUnavailable(RuntimeError):
    """The database did not answer or refused; the message is for the student, the cause is chained."""

    def __init__(self, message: str = UNAVAILABLE) -> None:
        super().__init__(message)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the one writer
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def make_engine(config: StoreConfig) -> Engine:
    if config.is_sqlite:
        db = make_url(config.url).database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = create_engine(config.url, connect_args={"timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # connect_timeout: a database that is down answers "unavailable" in seconds, not after a TCP timeout
    return create_engine(config.url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         connect_args={"connect_timeout": 3})


@dataclass(frozen=True)
class Store:
    """An open, migrated database. Made once per server process (the ui caches it)."""

    engine: Engine
    config: StoreConfig

    @staticmethod
    def open(config: StoreConfig | None = None) -> "Store":
        config = config or StoreConfig.from_env()
        engine = make_engine(config)
        try:
            migrate(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreUnavailable() from exc
        return Store(engine, config)

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction, retried; StoreUnavailable when every try failed."""
        last: Exception | None = None
        for attempt in range(WRITE_TRIES):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except (OperationalError, DBAPIError) as exc:
                last = exc
                if attempt + 1 < WRITE_TRIES:
                    time.sleep(RETRY_PAUSE_S * (attempt + 1))
        raise StoreUnavailable() from last

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run a read; StoreUnavailable (no retry: the page shows the sentence and the student reloads)."""
        try:
            with self.engine.connect() as conn:
                return work(conn)
        except SQLAlchemyError as exc:
            raise StoreUnavailable("The class's database cannot be reached just now. "
                                   "Wait a moment and reload the page.") from exc

    def close(self) -> None:
        self.engine.dispose()
