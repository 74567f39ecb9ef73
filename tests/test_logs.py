"""Logs: one line per call with a request id (JSON and text), and no narrative text in any log."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import grpc
import pytest

from lenses.v1 import audit_pb2
from tests.api import Client, audit, submit
from tests.server_harness import fresh_database, running_server

MARKER = "Zebra7 narrative about the child"


def test_json_logs_carry_request_ids_and_no_narrative(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with (
        fresh_database("sqlite", tmp_path) as url,
        running_server(url, log_path=log_path, LENSES_LOG_FORMAT="json") as server,
        server.channel() as channel,
    ):
        client = Client(channel)
        message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
        for area in message.areas:
            area.evidence, area.impact = MARKER, MARKER
        message.agreed_actions[0].description = MARKER
        submit(client, message)
        bad = audit_pb2.CaseFileAudit()
        bad.CopyFrom(message)
        bad.completed_on, bad.case_ref = MARKER, MARKER * 5
        with pytest.raises(grpc.RpcError):
            submit(client, bad)
        client.audits.GetAudit(audit_pb2.GetAuditRequest(audit_id=message.audit_id))
    text = log_path.read_text()
    assert MARKER not in text and "Zebra7" not in text
    entries = [_parsed(line) for line in text.splitlines() if line.strip()]
    calls = [e for e in entries if e.get("rpc")]
    # Sorted: two workers write to the log, so lines need not be in call order.
    assert sorted(c["code"] for c in calls if c["rpc"] == "AuditService.SubmitAudit") == [
        "INVALID_ARGUMENT", "OK"]
    assert all(len(c["request_id"]) == 12 for c in calls)
    assert len({c["request_id"] for c in calls}) == len(calls)


def _parsed(line: str) -> dict[str, Any]:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        pytest.fail(f"a log line is not JSON: {line[:300]!r}")
    assert isinstance(entry, dict), line
    return entry


def test_text_logs_carry_the_request_id_and_client_of_each_call(tmp_path: Path) -> None:
    """The default (text) format: a call line names its request id (the one an
    INTERNAL error's message gives the client) and its client, as JSON lines do."""
    log_path = tmp_path / "server.log"
    with (
        fresh_database("sqlite", tmp_path) as url,
        running_server(url, log_path=log_path, LENSES_LOG_FORMAT="text") as server,
        server.channel() as channel,
    ):
        submit(Client(channel), audit())
    lines = [line for line in log_path.read_text().splitlines() if "AuditService.SubmitAudit OK" in line]
    assert len(lines) == 1, log_path.read_text()[-2000:]
    assert re.search(r" request_id=[0-9a-f]{12} client=\S+$", lines[0]), lines[0]
