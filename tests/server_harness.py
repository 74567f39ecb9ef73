"""A real Lenses server for tests: ``lenses serve`` on a free loopback port,
on a fresh SQLite file or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.conftest import ROOT

LENSES = Path(sys.executable).parent / "lenses"
POSTGRES_URL = os.environ.get("LENSES_TEST_POSTGRES_URL", "")


@dataclass
class RunningServer:
    """A started server: its address, database URL and process."""

    address: str
    database_url: str
    process: subprocess.Popen[str]

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.address)

    def alive(self) -> bool:
        return self.process.poll() is None


@contextmanager
def fresh_database(backend: str, tmp: Path) -> Iterator[str]:
    """A migrated, empty database of ``backend`` ("sqlite" or "postgres")."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'lenses.db'}"
        _migrate(url)
        yield url
        return
    name = f"lenses_test_{uuid.uuid4().hex[:10]}"
    # NullPool: a fresh connection each time (a test may restart PostgreSQL meanwhile).
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(url: str) -> None:
    subprocess.run([str(LENSES), "migrate"], check=True, capture_output=True, text=True,
                   env={**os.environ, "LENSES_DATABASE_URL": url}, timeout=120)


@contextmanager
def running_server(database_url: str, log_path: Path | None = None, **env: str) -> Iterator[RunningServer]:
    """Start ``lenses serve`` on 127.0.0.1:0 and wait for its address (its log goes to
    ``log_path`` when given)."""
    environment = {**os.environ, "LENSES_DATABASE_URL": database_url, "LENSES_LISTEN": "127.0.0.1:0",
                   "LENSES_RULES_DIR": str(ROOT / "rules"),
                   # Tests sweep at chosen dates; the daily sweep (at today's date) is tested on its own.
                   "LENSES_DAILY_SWEEP": "0", **env}
    log = open(log_path, "w") if log_path else None  # noqa: SIM115 - closed below
    process = subprocess.Popen([str(LENSES), "serve"], stdout=subprocess.PIPE, stderr=log, text=True,
                               env=environment, cwd=ROOT)
    try:
        try:
            address = _wait_for_address(process)
        except RuntimeError as exc:
            if log is not None:
                log.flush()
                raise RuntimeError(f"{exc}; its log ends:\n{Path(log.name).read_text()[-3000:]}") from exc
            raise
        yield RunningServer(address, database_url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        if log:
            log.close()


def _wait_for_address(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("lenses: serving on "):
            return line.split()[3]  # "lenses: serving on HOST:PORT (N workers)"
        if not line and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
    raise RuntimeError("server did not start in time")
