"""A real PostgreSQL 15 for tests, started by the test itself (Debian's binaries, a Unix socket only).

The server refuses to run as root, so when the tests run as root its folder belongs to ``postgres`` and
the binaries run through ``runuser``. Absent binaries skip the test locally and fail it on CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class Postgres:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://convlab@/postgres?host={self.folder}&port={self.port}"

    def _run(self, *args: str) -> None:
        cmd = [str(BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-o",
                  f"-k {self.folder} -p {self.port} -c listen_addresses=''", "-l", str(self.folder / "log"),
                  "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")


def _free_port() -> int:
    with socket.socket() as s:  # only a number for the socket file's name: the server listens on no TCP port
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available() -> bool:
    return (BIN / "initdb").exists() and (os.geteuid() != 0 or shutil.which("runuser") is not None)


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    if not available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL 15 is not installed (.ci/run installs it)")
        pytest.skip("PostgreSQL 15 is not installed here")
    folder = Path(tempfile.mkdtemp(prefix="convlab-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    pg = Postgres(folder, _free_port())
    pg._run("initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "convlab")
    pg.start()
    try:
        yield pg
    finally:
        try:
            pg.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
