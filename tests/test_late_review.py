"""server/late.py, from a review: a later audit's decision log does not repeat a
finding; on PostgreSQL, a commit by another transaction while a save runs the later
audits again (an action completed, a later audit revised) is not taken for a change
of that save's; an unchanged revision does not read the later audits' history."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from engine import RulesEngine
from lenses.v1 import action_pb2, audit_pb2, common_pb2
from server import actions as actions_module
from server import late
from server.actions import Actor
from server.audits import AuditService
from server.db import Action
from server.store import Store
from tests.api import Client, audit, revise, submit, unique
from tests.conftest import RULES
from tests.server_harness import POSTGRES_URL, fresh_database
from tests.test_late_review4 import until_waiting

K = common_pb2


def moderate(client: Client, message: audit_pb2.CaseFileAudit, grade: int) -> audit_pb2.AuditEvaluation:
    return client.audits.ModerateAudit(audit_pb2.ModerateAuditRequest(
        audit_id=message.audit_id, moderator_id="psw-1", moderated_grade=grade, note=""))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------
# The decision-log row replaces a finding the later audit's stored evaluation
# already holds (same rule and area) instead of showing it twice.


def test_a_history_rerun_does_not_duplicate_a_finding_the_audit_already_has(client: Client) -> None:
    """Saved in date order: the 03-02 audit gets GC-16 itself (the 01-10 one is
    EXCEEDS_GOOD). The 01-10 audit is moderated to MEETS_GOOD (the swing is gone;
    nothing is re-run: "fewer never call for more") and then back to EXCEEDS_GOOD:
    the re-run finds the swing "new" against the history before that save; the
    stored evaluation, which already carries GC-16, must not show it twice."""
    earlier = audit(overall="EXCEEDS_GOOD", completedOn="2026-01-10", lookbackFrom="2026-01-10")
    submit(client, earlier)
    later = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", caseRef=earlier.case_ref,
                  completedOn="2026-03-02", lookbackFrom="2026-03-02", auditedPreviously=True)
    own = submit(client, later)
    assert [f.rule_id for f in own.findings].count("GC-16") == 1
    moderate(client, earlier, K.GRADE_MEETS_GOOD)
    moderate(client, earlier, K.GRADE_EXCEEDS_GOOD)
    got = client.audits.GetAudit(audit_pb2.GetAuditRequest(audit_id=later.audit_id))
    assert [f.rule_id for f in got.evaluation.findings].count("GC-16") == 1
    # ... and SubmitAudit of the same id + revision (a retry) returns what it returned.
    assert [f.rule_id for f in submit(client, later).findings].count("GC-16") == 1


# ------------------------------------------------------------------------------
# PostgreSQL: the 'before' history and the later audits are read in find(), the
# 'after' history in run(), in one READ COMMITTED transaction, without any lock on
# what the later audits read beyond the saved audit's own area and case. A commit by
# another transaction in between must not count as a change of this save's.

needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only (SQLite has one writer)")


ACTOR = Actor("test", date(2026, 12, 1))


def _save(store: Store, service: AuditService, message: audit_pb2.CaseFileAudit) -> audit_pb2.AuditEvaluation:
    submission = service.prepare(message)
    return store.run(lambda session: service.submit(session, submission, ACTOR))


def _actions(store: Store, **where: Any) -> list[Action]:
    def read(session):  # type: ignore[no-untyped-def]
        query = select(Action)
        for name, value in where.items():
            query = query.where(getattr(Action, name) == value)
        return session.scalars(query).all()
    return store.read(read)  # type: ignore[no-any-return]


def _between_find_and_run(monkeypatch: pytest.MonkeyPatch, commit_meanwhile: Any) -> None:
    """Another transaction commits after the save has read the 'before' history and
    before it reads the 'after' history (as a concurrent request can, on PostgreSQL)."""
    original = late.LaterAudits.run

    def run(self, service, session, actor):  # type: ignore[no-untyped-def]
        if self.later:
            commit_meanwhile()
        return original(self, service, session, actor)

    monkeypatch.setattr(late.LaterAudits, "run", run)


@needs_postgres
def test_a_deep_dive_completed_meanwhile_is_not_raised_again_by_an_unrelated_save(
        pg_audits: tuple[Store, AuditService], monkeypatch: pytest.MonkeyPatch) -> None:
    """01-01, 01-10, 01-20 (three cases, PLANS): the 01-20 audit opens the deep dive.
    A back-dated 01-15 audit of the 01-20 audit's case (all good) changes only that
    audit's GC-16/GC-17 history. If the deep dive is completed before the save,
    nothing new opens (before and after both fire ES-03: no difference). Nor if the
    completion commits while the save runs: the open actions are read once, so no
    second deep dive is raised by a save that changed no concern."""
    store, service = pg_audits
    area = unique("SA")
    days = ("2026-01-01", "2026-01-10", "2026-01-20")
    messages = [audit(("PLANS",), serviceArea=area, completedOn=d, lookbackFrom=d) for d in days]
    for message in messages:
        _save(store, service, message)
    (opened,) = _actions(store, service_area=area, kind="DEEP_DIVE_AUDIT")

    def complete() -> None:
        store.run(lambda session: actions_module.complete(session, action_pb2.CompleteActionRequest(
            action_id=opened.action_id, completed_by="hos-1", completed_on="2026-02-01"), ACTOR))

    _between_find_and_run(monkeypatch, complete)
    back_dated = audit(serviceArea=area, caseRef=messages[2].case_ref, overall="EXCEEDS_GOOD",
                       completedOn="2026-01-15", lookbackFrom="2026-01-15")
    _save(store, service, back_dated)
    dives = _actions(store, service_area=area, kind="DEEP_DIVE_AUDIT")
    assert [(d.action_id, d.status) for d in dives] == [(opened.action_id, "COMPLETED")]


@needs_postgres
def test_a_later_audit_revised_meanwhile_ends_without_a_stale_review(
        pg_audits: tuple[Store, AuditService], monkeypatch: pytest.MonkeyPatch) -> None:
    """The 03-02 audit (DOES_NOT_MEET_GOOD) of case C is found as a later audit of a
    back-dated 01-10 EXCEEDS_GOOD audit of C. Meanwhile its revision 2, moving it to
    another case and service area, is sent. It leaves the back-dated save's history,
    so it waits for that save's turns; then its own evaluation (no earlier audit)
    withdraws the review the back-dated save raised on revision 1. Its latest
    revision ends with no open GC-16 review, and both saves succeed."""
    store, service = pg_audits
    area = unique("SA")
    later = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                  completedOn="2026-03-02", lookbackFrom="2026-03-02", auditedPreviously=True)
    _save(store, service, later)
    moved = revise(later, caseRef=unique("C-else"), serviceArea=unique("SA-else"))
    failures: list[BaseException] = []

    def save_moved() -> None:
        try:
            _save(store, service, moved)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    revision = threading.Thread(target=save_moved)
    _between_find_and_run(monkeypatch, lambda: (revision.start(), until_waiting(store, revision)))
    earlier = audit(overall="EXCEEDS_GOOD", serviceArea=area, caseRef=later.case_ref,
                    completedOn="2026-01-10", lookbackFrom="2026-01-10")
    _save(store, service, earlier)
    revision.join(30)
    assert not revision.is_alive() and not failures, failures
    open_reviews = [a for a in _actions(store, audit_id=later.audit_id)
                    if a.rule_id == "GC-16" and a.status == "OPEN"]
    assert open_reviews == []


# ------------------------------------------------------------------------------
# Cost under the write lock: a save that cannot change any later audit's history (an
# unchanged revision, which the case management system sends on every save) does
# not read the later audits' history (up to 200 of them, four statements each).


@pytest.fixture()
def sqlite_store(tmp_path: Any) -> Iterator[tuple[Store, AuditService]]:
    with fresh_database("sqlite", tmp_path) as url:
        store = Store(url)
        yield store, AuditService(RulesEngine.from_directory(RULES))
        store.close()


def test_an_unchanged_revision_does_not_read_the_later_audits_history(
        sqlite_store: tuple[Store, AuditService]) -> None:
    """An unchanged revision of an audit costs the same whether 0 or 20 later audits of
    its service area hold it in their ES-03 window (before the fix: 20 later audits,
    181 statements instead of 20; 200 later audits, 1,621 statements, ~330 ms on
    SQLite, ~480 ms on PostgreSQL, holding the area's and the case's locks)."""
    from sqlalchemy import event

    store, service = sqlite_store
    statements = [0]

    @event.listens_for(store.engine, "before_cursor_execute")
    def count(*_: Any) -> None:
        statements[0] += 1

    def resave_cost(message: audit_pb2.CaseFileAudit) -> int:
        _save(store, service, message)
        body = revise(message)
        statements[0] = 0
        _save(store, service, body)
        return statements[0]

    area = unique("SA")
    alone = resave_cost(audit(("PLANS",), serviceArea=area, completedOn="2025-01-01",
                              lookbackFrom="2025-01-01"))
    earliest = audit(("PLANS",), serviceArea=area, completedOn="2026-01-01", lookbackFrom="2026-01-01")
    _save(store, service, earliest)
    for day in range(2, 22):
        on = f"2026-01-{day:02d}"
        _save(store, service, audit(("PLANS",), serviceArea=area, completedOn=on, lookbackFrom=on))
    with_later = resave_cost(revise(earliest))
    assert with_later <= alone + 1, (alone, with_later)
