"""PostgreSQL restarts under load: clients see UNAVAILABLE, retry, and nothing
acknowledged is lost or stored twice. Runs where CI runs it: as root next to a
local PostgreSQL cluster (LENSES_TEST_POSTGRES_URL set)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest
from sqlalchemy import create_engine, text

from lenses.v1 import audit_pb2
from tests.api import Client, audit
from tests.server_harness import POSTGRES_URL, fresh_database, running_server

CLIENTS, SAVES = 8, 600
CLUSTERS = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL
    or os.geteuid() != 0
    or not shutil.which("pg_ctlcluster")
    or not CLUSTERS
    or "127.0.0.1" not in POSTGRES_URL,
    reason="needs root, a local PostgreSQL cluster and LENSES_TEST_POSTGRES_URL",
)


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
    acknowledged: list[str] = []
    codes: Counter[str] = Counter()
    lock = threading.Lock()
    with fresh_database("postgres", tmp_path) as url:
        with running_server(url, LENSES_WORKERS="2") as server:

            def load(chunk: list[audit_pb2.CaseFileAudit]) -> None:
                with grpc.insecure_channel(server.address) as channel:
                    client = Client(channel)
                    for message in chunk:
                        for _ in range(300):
                            try:
                                client.audits.SubmitAudit(
                                    audit_pb2.SubmitAuditRequest(audit=message), timeout=30
                                )
                            except grpc.RpcError as error:
                                with lock:
                                    codes[error.code().name] += 1
                                time.sleep(0.1)
                                continue
                            with lock:
                                acknowledged.append(message.audit_id)
                            break

            threads = [threading.Thread(target=load, args=(messages[i::CLIENTS],)) for i in range(CLIENTS)]
            for thread in threads:
                thread.start()
            while len(acknowledged) < SAVES // 4 and any(t.is_alive() for t in threads):
                time.sleep(0.05)
            _restart_postgres()
            for thread in threads:
                thread.join(300)
        engine = create_engine(url)
        with engine.connect() as connection:
            stored = Counter(
                row[0] for row in connection.execute(text("SELECT audit_id FROM audit_revisions"))
            )
            corrective = Counter(
                row[0]
                for row in connection.execute(
                    text("SELECT audit_id FROM actions WHERE kind = 'CORRECTIVE_ACTION'")
                )
            )
        engine.dispose()
    assert len(acknowledged) == SAVES
    assert set(codes) <= {"UNAVAILABLE"} and codes["UNAVAILABLE"] > 0, codes
    assert all(stored[audit_id] == 1 for audit_id in acknowledged)
    assert len(corrective) == SAVES and max(corrective.values()) == 1
