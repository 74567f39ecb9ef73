"""The history rules give what date order gives, whatever order saves arrive in.

Random audits of one service area (a few cases, distinct completion dates, some
areas below good, graded two steps apart at times) are saved twice, into two
service areas of one store: once in date order, once shuffled. Both must end
with deep dives open for the same areas (ES-03) and the same audits holding
GC-16's moderation review. (Which audit a deep dive names can differ: a deep
dive a later-dated audit opened first is open when the back-dated save completes
an earlier window, as it is for any save, so no second one opens; see
server/late.py.) GC-18 is not run again by a late save; these histories are too
small for it to fire (ten other audits in six months).

Run on SQLite, and on PostgreSQL when LENSES_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import itertools
import logging
from datetime import date, timedelta

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from lenses.v1 import audit_pb2, common_pb2
from server import late
from server.actions import Actor
from server.audits import AuditService
from server.db import Action
from server.store import Store
from tests.api import GOOD

CONCERN_AREAS = ("AREA_PLANS", "AREA_REVIEWS")
GRADES = ("GRADE_EXCEEDS_GOOD", "GRADE_MEETS_GOOD", "GRADE_DOES_NOT_MEET_GOOD")
FIRST_DAY = date(2026, 1, 1)
_runs = itertools.count()


# One audit: (day offset, case, overall grade, areas below good). Offsets are distinct.
audits = st.lists(
    st.tuples(st.integers(0, 150), st.integers(0, 3), st.sampled_from(GRADES),
              st.frozensets(st.sampled_from(CONCERN_AREAS))),
    min_size=2, max_size=8, unique_by=lambda a: a[0])


def message(run: str, index: int, offset: int, case: int, overall: str,
            below: frozenset[str]) -> audit_pb2.CaseFileAudit:
    day = (FIRST_DAY + timedelta(days=offset)).isoformat()
    body = json_format.ParseDict(GOOD, audit_pb2.CaseFileAudit())
    body.audit_id, body.revision = f"{run}-A{index}", 1
    body.case_ref, body.service_area = f"{run}-C{case}", f"SA-{run}"
    body.completed_on = body.lookback_from = day
    body.overall_grade = common_pb2.Grade.Value(overall)
    body.audited_previously = True
    for judgement in body.areas:
        if common_pb2.Area.Name(judgement.area) in below:
            judgement.grade = common_pb2.GRADE_DOES_NOT_MEET_GOOD
    return body


def outcome(store: Store, run: str) -> tuple[set[str], set[str]]:
    """The areas with a deep dive open, and the audits (by index) holding GC-16's review."""
    def read(session):  # type: ignore[no-untyped-def]
        rows = session.scalars(select(Action).where(Action.service_area == f"SA-{run}")).all()
        return ({row.dedupe_key.rsplit(":", 1)[1] for row in rows if row.kind == "DEEP_DIVE_AUDIT"},
                {row.audit_id.rsplit("-", 1)[1] for row in rows if row.rule_id == "GC-16"})
    return store.read(read)  # type: ignore[no-any-return]


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(audits=audits, order=st.randoms(use_true_random=False))
def test_any_order_of_saves_ends_as_date_order_does(
        audits_in_process: tuple[Store, AuditService], audits: list[tuple[int, int, str, frozenset[str]]],
        order: object) -> None:
    store, service = audits_in_process
    actor = Actor("test", date(2026, 12, 1))
    run = next(_runs)
    in_date, shuffled = f"D{run}", f"S{run}"
    indexed = list(enumerate(audits))
    arrivals = indexed.copy()
    order.shuffle(arrivals)  # type: ignore[attr-defined]
    for name, sequence in ((in_date, sorted(indexed, key=lambda a: a[1][0])), (shuffled, arrivals)):
        for index, spec in sequence:
            submission = service.prepare(message(name, index, *spec))
            store.run(lambda session, s=submission: service.submit(session, s, actor))
    assert outcome(store, shuffled) == outcome(store, in_date)


@pytest.mark.parametrize(("limit", "opened"), [(3, True), (2, False)])
def test_a_late_save_reruns_at_most_the_limit_and_says_so(
        audits_in_process: tuple[Store, AuditService], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, limit: int, opened: bool) -> None:
    """Later audits of 02-01 and 02-02 (one case) and 02-03 (another) hold two cases
    each; a back-dated 01-15 (a third case) completes the 02-03 window only. Beyond
    ``LATER_AUDITS_LIMIT`` later audits are not run again, and a warning names the
    saved audit (ids only)."""
    store, service = audits_in_process
    monkeypatch.setattr(late, "LATER_AUDITS_LIMIT", limit)
    actor = Actor("test", date(2026, 12, 1))
    run = f"L{next(_runs)}"
    plans = frozenset({"AREA_PLANS"})
    specs = [(31, 0, "GRADE_MEETS_GOOD", plans), (32, 0, "GRADE_MEETS_GOOD", plans),
             (33, 1, "GRADE_MEETS_GOOD", plans), (14, 2, "GRADE_MEETS_GOOD", plans)]
    with caplog.at_level(logging.WARNING, logger="lenses.history"):
        for index, spec in enumerate(specs):
            submission = service.prepare(message(run, index, *spec))
            store.run(lambda session, s=submission: service.submit(session, s, actor))
    assert bool(outcome(store, run)[0]) is opened
    warned = [r.getMessage() for r in caplog.records if r.name == "lenses.history"]
    assert warned == ([] if opened else [
        f"audit {run}-A3: more than 2 later audits may depend on it; only the first 2 in date "
        "order had their history rules run again"])
