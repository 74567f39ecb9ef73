"""PostgreSQL restarts under load: clients see UNAVAILABLE, retry, and nothing
acknowledged is lost or stored twice. Runs where CI runs it: as root next to a
local PostgreSQL cluster (LENSES_TEST_POSTGRES_URL set)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.api import audit
from tests.load import save_with_disruption, stored_counts
from tests.server_harness import POSTGRES_URL, fresh_database, running_server

CLIENTS, SAVES = 8, 600
CLUSTERS = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []

# ``serial``: PostgreSQL goes down for every test using it meanwhile, so ``make test``
# runs this after the others, on its own (pyproject.toml, Makefile).
pytestmark = [pytest.mark.serial, pytest.mark.skipif(
    not POSTGRES_URL
    or os.geteuid() != 0
    or not shutil.which("pg_ctlcluster")
    or not CLUSTERS
    or "127.0.0.1" not in POSTGRES_URL,
    reason="needs root, a local PostgreSQL cluster and LENSES_TEST_POSTGRES_URL",
)]


def _restart_postgres() -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", CLUSTERS[-1], "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_postgres_restart_during_load(tmp_path: Path) -> None:
    messages = [
        audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15") for _ in range(SAVES)
    ]
    with fresh_database("postgres", tmp_path) as url:
        with running_server(url, log_path=tmp_path / "server.log", LENSES_WORKERS="2") as server:
            outcome = save_with_disruption(server.address, messages, CLIENTS, _restart_postgres)
        stored, corrective = stored_counts(url)
    assert len(outcome.acknowledged) == SAVES
    assert set(outcome.errors) <= {"UNAVAILABLE"} and outcome.errors["UNAVAILABLE"] > 0, outcome.errors
    assert all(stored[audit_id] == 1 for audit_id in outcome.acknowledged)
    assert len(corrective) == SAVES and max(corrective.values()) == 1
