"""Shared fixtures: the project's rules and a compiled engine (compiled once)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import RulesEngine

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXAMPLES = ROOT.parent / "shared" / "examples"


@pytest.fixture(scope="session")
def engine() -> RulesEngine:
    """The engine with the project's rules."""
    return RulesEngine.from_directory(RULES)


BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("LENSES_TEST_POSTGRES_URL") else [])


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real server on a loopback port, once per backend (SQLite; PostgreSQL when
    LENSES_TEST_POSTGRES_URL is set). Tests use unique ids, so they can share it."""
    from tests.server_harness import fresh_database, running_server

    tmp = tmp_path_factory.mktemp(request.param)
    with fresh_database(request.param, tmp) as url, running_server(url) as running:
        yield running


def _audits_in_process(backend: str, tmp: Path) -> Iterator[Any]:
    from server.audits import AuditService
    from server.store import Store
    from tests.server_harness import fresh_database

    with fresh_database(backend, tmp) as url:
        store = Store(url)
        yield store, AuditService(RulesEngine.from_directory(RULES))
        store.close()


@pytest.fixture(scope="module", params=BACKENDS)
def audits_in_process(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(Store, AuditService) on a fresh database of each backend, in-process (no
    server): for driving saves and races directly. Tests use unique ids."""
    yield from _audits_in_process(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def pg_audits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """As ``audits_in_process``, on PostgreSQL only (races SQLite's one writer rules
    out); skipped without LENSES_TEST_POSTGRES_URL."""
    if not os.environ.get("LENSES_TEST_POSTGRES_URL"):
        pytest.skip("PostgreSQL only (SQLite has one writer)")
    yield from _audits_in_process("postgres", tmp_path_factory.mktemp("postgres"))


@pytest.fixture()
def client(server: Any) -> Iterator[Any]:
    """A ``tests.api.Client`` on a channel of its own to the session's server."""
    from tests.api import Client  # tests.api imports this module: import it when used

    with server.channel() as channel:
        yield Client(channel)
