"""Supervised workers: a worker killed with SIGKILL in the middle of a load loses
no acknowledged save and is replaced; metrics add up across workers."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import grpc
import pytest
from sqlalchemy import create_engine, text

from lenses.v1 import audit_pb2
from tests.api import Client, audit
from tests.conftest import BACKENDS
from tests.server_harness import fresh_database, running_server

CLIENTS, SAVES = 16, 2000
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
}


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (the workers of a supervisor)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _save_with_retries(client: Client, message: audit_pb2.CaseFileAudit) -> bool:
    for _ in range(60):
        try:
            client.audits.SubmitAudit(audit_pb2.SubmitAuditRequest(audit=message), timeout=30)
            return True
        except grpc.RpcError as error:
            if error.code() not in RETRYABLE:
                raise
            time.sleep(0.1)
    return False


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killed_worker_loses_no_acknowledged_save(backend: str, tmp_path: Path) -> None:
    messages = [
        audit(
            ("PLANS",) if i % 4 == 0 else (),
            overall="DOES_NOT_MEET_GOOD" if i % 4 == 0 else "MEETS_GOOD",
            completedOn="2026-01-15",
        )
        for i in range(SAVES)
    ]
    acknowledged: list[str] = []
    with fresh_database(backend, tmp_path) as url:
        scraped = _load_and_kill(url, messages, acknowledged)
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
    assert all(stored[audit_id] == 1 for audit_id in acknowledged)
    assert max(corrective.values()) == 1 and len(corrective) == SAVES // 4
    submitted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in scraped.splitlines()
        if line.startswith("lenses_requests_total{")
        and 'rpc="AuditService.SubmitAudit"' in line
        and 'code="OK"' in line
    )
    assert submitted >= SAVES - 20  # the killed worker's counts since its last write may be lost


def _load_and_kill(url: str, messages: list[audit_pb2.CaseFileAudit], acknowledged: list[str]) -> str:
    """16 clients save with retries; one worker is killed a quarter of the way in.
    Returns the metrics scraped at the end."""
    lock = threading.Lock()
    port = _free_port()
    with running_server(url, LENSES_WORKERS="2", LENSES_METRICS_LISTEN=f"127.0.0.1:{port}") as server:
        workers = children(server.process.pid)
        assert len(workers) == 2

        def load(chunk: list[audit_pb2.CaseFileAudit]) -> None:
            with grpc.insecure_channel(server.address) as channel:
                client = Client(channel)
                for message in chunk:
                    if _save_with_retries(client, message):
                        with lock:
                            acknowledged.append(message.audit_id)

        threads = [threading.Thread(target=load, args=(messages[i::CLIENTS],)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        while len(acknowledged) < SAVES // 4 and any(t.is_alive() for t in threads):
            time.sleep(0.05)
        os.kill(workers[0], signal.SIGKILL)
        for thread in threads:
            thread.join(300)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(children(server.process.pid)) < 2:
            time.sleep(0.2)
        replaced = children(server.process.pid)
        assert len(replaced) == 2 and workers[0] not in replaced
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
