"""Operations through a real server (found in review): each call is counted and
logged with the status its client saw, findings are counted for every rule,
and narrative text reaches no log and no stored row."""

from __future__ import annotations

import fcntl
import json
import socket
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from lenses.v1 import action_pb2, audit_pb2, common_pb2, provider_pb2, review_pb2
from tests.api import Client, audit, submit, unique
from tests.conftest import EXAMPLES
from tests.server_harness import RunningServer, fresh_database, running_server

MARKER = "Xylophone9"  # narrative no id, code or message of the rules contains


@dataclass
class Metered:
    """A one-worker SQLite server with metrics, and where its log and database are."""

    server: RunningServer
    metrics_port: int
    log_path: Path
    db_path: Path

    def scrape(self) -> dict[str, float]:
        """Every sample of /metrics (summed over workers), by its line's name and labels."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                      timeout=10).read().decode()
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in text.splitlines() if line and not line.startswith("#")}

    def calls(self) -> list[tuple[str, str]]:
        """(rpc, code) of each call line in the JSON log."""
        entries = [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]
        return [(e["rpc"], e["code"]) for e in entries if e.get("rpc")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    tmp = tmp_path_factory.mktemp("metered")
    port = _free_port()
    with fresh_database("sqlite", tmp) as url, running_server(
            url, log_path=tmp / "server.log", LENSES_WORKERS="1", LENSES_LOG_FORMAT="json",
            LENSES_METRICS_LISTEN=f"127.0.0.1:{port}") as server:
        yield Metered(server, port, tmp / "server.log", tmp / "lenses.db")


def _settled(metered: Metered, rpc: str, codes: list[str]) -> list[str]:
    """The codes logged for ``rpc`` once as many calls as ``codes`` have ended (sorted)."""
    deadline = time.monotonic() + 10
    while True:
        logged = sorted(code for name, code in metered.calls() if name == rpc)
        if len(logged) >= len(codes) or time.monotonic() > deadline:
            return logged
        time.sleep(0.1)


def _write_turn_taken(db_path: Path) -> bool:
    """Whether a server thread holds the write turn (``server.store.WriteTurn``'s flock):
    a save's handler is running, inside ``Store.run``, waiting for SQLite's write lock."""
    with open(f"{db_path}.write-lock", "a") as turn:
        try:
            fcntl.flock(turn.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(turn.fileno(), fcntl.LOCK_UN)
        return False


def submit_timeout(client: Client, message: audit_pb2.CaseFileAudit, timeout: float) -> object:
    """SubmitAudit with a deadline of ``timeout`` seconds."""
    return client.audits.SubmitAudit(audit_pb2.SubmitAuditRequest(audit=message), timeout=timeout)


def test_calls_past_their_deadline_or_cancelled_are_not_counted_as_ok(metered: Metered) -> None:
    """A handler ended by its deadline or by the client's cancel had no status set:
    it was logged and counted as OK, so a dashboard showed timeouts as successes."""
    with metered.server.channel() as channel:
        client = Client(channel)
        stream = client.actions.WatchActions(action_pb2.WatchActionsRequest(
            filter=common_pb2.ActionFilter(case_ref=unique("C"))), timeout=1)
        with pytest.raises(grpc.RpcError) as watched:
            list(stream)
        assert watched.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # Another writer holds SQLite's write lock: saves wait (then commit once it is let go).
        holder = sqlite3.connect(metered.db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            assert not _write_turn_taken(metered.db_path)
            pending = client.audits.SubmitAudit.future(
                audit_pb2.SubmitAuditRequest(audit=audit(completedOn="2026-01-15")), timeout=60)
            # Cancelled only once its handler is running: a cancel that reaches the server
            # first ends the call before any handler, so nothing would be logged for it.
            deadline = time.monotonic() + 30
            while not _write_turn_taken(metered.db_path) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _write_turn_taken(metered.db_path), "the save never reached its handler"
            pending.cancel()
            # Its thread keeps the write turn until the holder lets go: this one waits too.
            with pytest.raises(grpc.RpcError) as late:
                submit_timeout(client, audit(completedOn="2026-01-15"), 0.5)
            assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert _settled(metered, "ActionService.WatchActions", ["DEADLINE_EXCEEDED"]) == ["DEADLINE_EXCEEDED"]
    assert _settled(metered, "AuditService.SubmitAudit", ["CANCELLED", "DEADLINE_EXCEEDED"]) == [
        "CANCELLED", "DEADLINE_EXCEEDED"]
    samples = metered.scrape()
    assert samples['lenses_requests_total{code="DEADLINE_EXCEEDED",rpc="AuditService.SubmitAudit"}'] == 1
    assert samples['lenses_requests_total{code="CANCELLED",rpc="AuditService.SubmitAudit"}'] == 1
    assert 'lenses_requests_total{code="OK",rpc="AuditService.SubmitAudit"}' not in samples
    assert 'lenses_requests_total{code="OK",rpc="ActionService.WatchActions"}' not in samples


def _findings(samples: dict[str, float], rule: str) -> float:
    return samples.get(f'lenses_findings_total{{rule="{rule}"}}', 0.0)


def test_findings_are_counted_for_every_rule_that_finds(metered: Metered) -> None:
    """Only SubmitAudit counted findings: placement (ES-05, ES-06), review (LS-*) and
    moderation (MO-01) findings were returned to clients but never counted."""
    with metered.server.channel() as channel:
        client = Client(channel)
        before = metered.scrape()
        placement = json_format.ParseDict(
            json.loads((EXAMPLES / "placement.json").read_text())["placement"], provider_pb2.Placement())
        placement.placement_id, placement.provider_id = unique("PL"), unique("PRV")
        placed = client.providers.RecordPlacement(
            provider_pb2.RecordPlacementRequest(placement=placement), timeout=30)
        client.providers.RecordPlacement(  # a repeat: nothing new to count
            provider_pb2.RecordPlacementRequest(placement=placement), timeout=30)
        review = json_format.ParseDict(
            json.loads((EXAMPLES / "review.json").read_text())["review"], review_pb2.ServiceReview())
        review.review_id = unique("SPR")
        for judgement in review.judgements[:1]:
            judgement.evidence = ""  # LS-01
        scored = client.reviews.SubmitReview(review_pb2.SubmitReviewRequest(review=review), timeout=30)
        message = audit(completedOn="2026-01-15")
        submit(client, message)
        moderated = client.audits.ModerateAudit(audit_pb2.ModerateAuditRequest(
            audit_id=message.audit_id, moderator_id="psw-1",
            moderated_grade=common_pb2.GRADE_DOES_NOT_MEET_GOOD), timeout=30)
        after = metered.scrape()
    expected: dict[str, int] = {}
    for finding in [*placed.findings, *scored.findings,
                    *(f for f in moderated.findings if f.rule_id == "MO-01")]:
        expected[finding.rule_id] = expected.get(finding.rule_id, 0) + 1
    assert {"ES-06", "LS-01", "MO-01"} <= set(expected), expected
    counted = {rule: _findings(after, rule) - _findings(before, rule) for rule in expected}
    assert counted == expected


def test_narrative_reaches_no_log_and_no_stored_row(metered: Metered) -> None:
    """Evidence, impact, reasons and agreed actions: not in the log (the JSON one here;
    tests/test_logs.py has the text one too), nor in any stored audit, evaluation or
    action, nor in any action's detail, when LENSES_STORE_NARRATIVE is unset."""
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15",
                    lookbackFrom="2024-01-01")
    message.lookback_reason = f"{MARKER} look-back reason"
    for area in message.areas:
        area.evidence, area.impact = f"{MARKER} evidence", f"{MARKER} impact"
    message.agreed_actions[0].description = f"{MARKER} agreed action"
    with metered.server.channel() as channel:
        client = Client(channel)
        result = submit(client, message)
        client.audits.ModerateAudit(audit_pb2.ModerateAuditRequest(
            audit_id=message.audit_id, moderator_id="psw-1", note=f"{MARKER} note",
            moderated_grade=common_pb2.GRADE_MEETS_GOOD), timeout=30)
        stored = client.audits.GetAudit(audit_pb2.GetAuditRequest(audit_id=message.audit_id), timeout=30)
    assert result.actions and MARKER not in str(result) and MARKER not in str(stored)
    assert MARKER not in metered.log_path.read_text()
    with sqlite3.connect(metered.db_path) as db:
        tables = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'review%'")]
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):  # noqa: S608 - names from the schema
                assert MARKER not in " ".join(map(str, row)), table


def test_run_escalations_is_counted_as_a_sweep_with_what_it_created(metered: Metered) -> None:
    """operations.md's metrics count "sweep results": RunEscalations (and so a client
    driving the sweep itself) was not counted, only the daily sweep inside the server."""
    with metered.server.channel() as channel:
        client = Client(channel)
        submit(client, audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15"))
        before = metered.scrape()
        swept = client.actions.RunEscalations(
            action_pb2.RunEscalationsRequest(as_of="2026-03-02"), timeout=30)
        after = metered.scrape()
    assert len(swept.created) >= 1  # at least this audit's overdue corrective action

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert grew('lenses_sweeps_total{result="requested"}') == 1
    assert grew("lenses_sweep_actions_created_total") == len(swept.created)


def test_health_is_not_serving_until_the_server_has_checked_its_database() -> None:
    """operations.md: SERVING only once the rules and the database are ready. grpcio's
    health servicer starts SERVING for the whole server, which the port answered
    between ``server.start()`` and the database check."""
    import asyncio

    from grpc_health.v1 import health_pb2

    from server.app import new_health_servicer

    async def status() -> int:
        servicer = await new_health_servicer()
        response = await servicer.Check(health_pb2.HealthCheckRequest(service=""), None)
        return int(response.status)

    assert asyncio.run(status()) == health_pb2.HealthCheckResponse.NOT_SERVING
