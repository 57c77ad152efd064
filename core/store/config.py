"""Where the store lives: a typed, frozen reading of the environment.

``CONVLAB_DATABASE_URL`` (e.g. ``postgresql://user@host/db``) selects PostgreSQL; without it the store is
a SQLite file in ``CONVLAB_DATA_DIR`` (default ``<repo>/data/store``). ``CONVLAB_RETENTION_DAYS`` is how
long a student's saved models are kept after they were last written (default 30).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.data.mnist import REPO_ROOT

URL_ENV = "CONVLAB_DATABASE_URL"
DATA_DIR_ENV = "CONVLAB_DATA_DIR"
RETENTION_ENV = "CONVLAB_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30.0
MAX_RETENTION_DAYS = 3650.0


@dataclass(frozen=True)
class StoreConfig:
    url: str
    retention_days: float = DEFAULT_RETENTION_DAYS

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def retention_s(self) -> float:
        return self.retention_days * 86400.0

    @staticmethod
    def from_env(env: dict[str, str] | None = None) -> "StoreConfig":
        env = dict(os.environ) if env is None else env
        url = normalise_url(env.get(URL_ENV, "").strip()) or sqlite_url(
            Path(env.get(DATA_DIR_ENV) or REPO_ROOT / "data" / "store"))
        return StoreConfig(url, retention_days(env.get(RETENTION_ENV)))


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'convlab.sqlite3'}"


def normalise_url(url: str) -> str:
    """A plain ``postgresql://`` URL means psycopg 3 (the driver ConvLab installs), not psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def retention_days(raw: str | None) -> float:
    """A host's retention setting, bounded; a value that is not a positive number is refused in words."""
    if raw is None or not raw.strip():
        return DEFAULT_RETENTION_DAYS
    try:
        days = float(raw)
    except ValueError:
        raise ValueError(f"{RETENTION_ENV} must be a number of days, not {raw[:40]!r}.") from None
    if not 0 < days <= MAX_RETENTION_DAYS:
        raise ValueError(f"{RETENTION_ENV} must be between 0 and {MAX_RETENTION_DAYS:.0f} days.")
    return days
