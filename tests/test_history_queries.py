"""The server's history queries (indexes, day counts) mean exactly what
``engine.history.summarise`` means, on random histories with revisions that
change the auditor, the service area, the grades, the date and the status."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from google.protobuf import json_format

from engine import RulesEngine
from engine import history as summaries
from lenses.v1 import audit_pb2, common_pb2
from server import convert
from server.actions import Actor
from server.audits import AuditService
from server.db import AuditHead
from server.store import Store
from tests.api import GOOD
from tests.conftest import BACKENDS, RULES
from tests.server_harness import fresh_database

AREAS = ["RISK", "PLANS", "REVIEWS"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with fresh_database(request.param, tmp_path) as url:
        store = Store(url)
        yield store
        store.close()


def _random_audit(rng: random.Random, audit_id: str, revision: int) -> audit_pb2.CaseFileAudit:
    body = json_format.ParseDict(GOOD, audit_pb2.CaseFileAudit())
    body.audit_id, body.revision = audit_id, revision
    body.case_ref = f"C{rng.randrange(6)}"
    body.service_area = rng.choice(["S1", "S2"])
    body.auditor_id = rng.choice(["a1", "a2", "a3"])
    body.status = rng.choice([common_pb2.AUDIT_STATUS_COMPLETED] * 4 + [common_pb2.AUDIT_STATUS_DRAFT])
    body.completed_on = (date(2026, 6, 1) - timedelta(days=rng.randrange(260))).isoformat()
    body.overall_grade = rng.choice([1, 2, 3])  # type: ignore[assignment]
    for area in body.areas:
        if convert.short_name(convert.AREA, common_pb2.Area.Name(area.area)) in AREAS:
            area.grade = rng.choice([2, 2, 3])  # type: ignore[assignment]
    return body


def test_history_queries_match_the_reference_summary(store: Store) -> None:
    engine = RulesEngine.from_directory(RULES)
    service = AuditService(engine)
    actor = Actor("test", date(2026, 6, 1))
    rng = random.Random(11)
    latest: dict[str, audit_pb2.CaseFileAudit] = {}
    saved: list[audit_pb2.CaseFileAudit] = []  # every revision, in the order saved
    for step in range(160):
        audit_id = f"A{rng.randrange(40)}"
        revision = latest[audit_id].revision + 1 if audit_id in latest else 1
        message = _random_audit(rng, audit_id, revision)
        store.run(lambda session, m=message: service.submit(session, m, actor))
        latest[audit_id] = message
        saved.append(message)
        if step % 10:
            continue
        probe = convert.audit_from_proto(_random_audit(rng, f"A{rng.randrange(45)}", 1))
        probe = dataclasses.replace(probe, status="COMPLETED")
        stored = [convert.audit_from_proto(m) for m in latest.values()]
        expected = summaries.summarise(probe, stored, engine.params)
        # Given every revision (as a --history file may), newest first or last, the
        # summary is the same: each audit is what its latest revision says.
        every = [convert.audit_from_proto(m) for m in saved]
        for given in (every, every[::-1]):
            summary = summaries.summarise(probe, given, engine.params)
            assert summary.calibration == expected.calibration
            assert summary.earlier_case_audits == expected.earlier_case_audits
            assert _concerns(summary.concerns) == _concerns(expected.concerns)

        def gathered(session, probe=probe):  # type: ignore[no-untyped-def]
            head = session.get(AuditHead, probe.audit_id)
            return service.gather_history(session, probe, head)

        actual = store.read(gathered)
        assert actual.calibration == expected.calibration
        assert actual.earlier_case_audits == expected.earlier_case_audits
        assert _concerns(actual.concerns) == _concerns({
            area: cases for area, cases in expected.concerns.items()
            if any(a.area == area and a.grade == "DOES_NOT_MEET_GOOD" for a in probe.areas)
        })


def _concerns(concerns: dict) -> dict:  # type: ignore[type-arg]
    return {area: sorted(cases, key=lambda c: c.audit_id) for area, cases in concerns.items() if cases}
