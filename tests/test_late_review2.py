"""server/late.py, from a second review: a same-day audit does not hide what a
back-dated save adds; another audit's unreadable stored record never makes a save
fail; on PostgreSQL, a later audit revised by a save still in flight is not run
again as it was."""

from __future__ import annotations

import json
import threading
from datetime import date
from typing import Any

import grpc
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from lenses.v1 import action_pb2, common_pb2
from server import late
from server.actions import Actor
from server.audits import AuditService
from server.db import Action
from server.store import Store
from tests.api import Client, audit, revise, submit, unique
from tests.test_history_semantics import same_day_swing

K = common_pb2


def reviews(client: Client, audit_id: str, *statuses: int) -> list[common_pb2.Action]:
    """GC-16's moderation reviews about one audit."""
    return [a for a in client.actions.ListActions(action_pb2.ListActionsRequest(
        filter=K.ActionFilter(audit_id=audit_id, kinds=[K.ACTION_KIND_MODERATION_REVIEW],
                              statuses=list(statuses)), page_size=1000)).actions
            if a.rule_id == "GC-16"]


# ------------------------------------------------------------------------------
# Ties: an audit of the same day saved after the later audit is in that audit's
# history ("completed_on <= "), yet its save does not run that audit's rules again
# ("strictly later"). The 'before' evaluation can then ask for what the later audit
# was never given: the difference must not hide what the back-dated save adds.


def test_a_same_day_audit_saved_after_the_later_one_does_not_hide_its_swing(client: Client) -> None:
    """Case C: L (03-02, DOES_NOT_MEET_GOOD) is saved, then T (03-02, EXCEEDS_GOOD,
    saved after L, so T holds the swing review against L). Then A (01-10,
    EXCEEDS_GOOD) is saved late. In date order A comes before both: whichever of
    the two same-day audits is taken first, L is completed after an EXCEEDS_GOOD
    earlier audit of its case (A) and gets GC-16's review (due 20 working days after
    03-02). Here L's 'before' history already holds T's EXCEEDS_GOOD (same day), so
    before and after both ask for L's review: the difference is empty, yet L must get it."""
    later, same_day = same_day_swing(client)
    assert [a.rule_id for a in same_day.actions] == ["GC-16"]  # T's own, against L
    submit(client, audit(overall="EXCEEDS_GOOD", caseRef=later.case_ref, completedOn="2026-01-10",
                         lookbackFrom="2026-01-10"))
    (review,) = reviews(client, later.audit_id)
    assert review.due_on == "2026-03-30"


# ------------------------------------------------------------------------------
# A save must never fail because of another audit's data. LaterAudits.find converts
# every later audit's stored record with the validation of today's release; a record
# an earlier release accepted (before b2918e9 a date was any 10-character ISO form,
# so a week date "2026-W14-1" was stored as given) no longer converts: that audit is
# skipped (with a warning), and the save of an unrelated, valid, earlier-dated audit
# goes through.


def test_a_later_audits_record_from_an_earlier_release_does_not_fail_the_save(
        server: Any, client: Client) -> None:
    later = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-03-02",
                  lookbackFrom="2026-03-02", auditedPreviously=True)
    submit(client, later)
    database = create_engine(server.database_url, poolclass=NullPool)
    try:
        with database.begin() as connection:
            record = connection.execute(text(
                "SELECT record FROM audit_revisions WHERE audit_id = :a AND revision = :n"),
                {"a": later.audit_id, "n": later.revision}).scalar_one()
            body = json.loads(record)
            body["agreedActions"][0]["byWhen"] = "2026-W14-1"  # 2026-03-30, as stored then
            connection.execute(text(
                "UPDATE audit_revisions SET record = :r WHERE audit_id = :a AND revision = :n"),
                {"r": json.dumps(body), "a": later.audit_id, "n": later.revision})
    finally:
        database.dispose()
    earlier = audit(overall="EXCEEDS_GOOD", caseRef=later.case_ref, completedOn="2026-01-10",
                    lookbackFrom="2026-01-10")
    try:
        saved = submit(client, earlier)
    except grpc.RpcError as error:
        raise AssertionError(f"the save of {earlier.audit_id} failed because of "
                             f"{later.audit_id}'s stored record: {error.code()} "
                             f"{error.details()}") from None
    assert saved.audit_id == earlier.audit_id


# ------------------------------------------------------------------------------
# PostgreSQL: a revision of a later audit that moves it out of a back-dated save's
# history, started while that save runs its later audits again, must not leave a
# stale review: it takes the turns of the history it leaves, so it waits for the
# back-dated save, and then withdraws the review its own evaluation no longer asks
# for. (Before, it took only the turns of where it went, saved meanwhile, and the
# stale revision was run.)


ACTOR = Actor("test", date(2026, 12, 1))


def test_a_later_audit_revised_concurrently_and_committed_after_the_check_gets_no_stale_review(
        pg_audits: tuple[Store, AuditService], monkeypatch: pytest.MonkeyPatch) -> None:
    """L (03-02, DOES_NOT_MEET_GOOD, case C, area S) is found as a later audit of a
    back-dated A (01-10, EXCEEDS_GOOD, case C). Meanwhile L's revision 2 moves it to
    another case and service area; it has saved (its own evaluation: no earlier
    audit, nothing withdrawn) but not yet committed when A's run() compares head
    revisions, and commits after A. In date order L's latest revision has no earlier
    audit: no GC-16 review. (test_late_review covers only a revision committed before
    the check.)"""
    store, service = pg_audits
    area = unique("SA")
    later = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                  completedOn="2026-03-02", lookbackFrom="2026-03-02", auditedPreviously=True)
    store.run(lambda session: service.submit(session, service.prepare(later), ACTOR))
    moved = service.prepare(revise(later, caseRef=unique("C-else"), serviceArea=unique("SA-else")))
    saved, go = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def revise_meanwhile() -> None:
        def work(session):  # type: ignore[no-untyped-def]
            result = service.submit(session, moved, ACTOR)
            saved.set()
            assert go.wait(30)
            return result
        try:
            store.run(work)
        except BaseException as error:  # noqa: BLE001
            failures.append(error)
            saved.set()

    original = late.LaterAudits.run
    thread = threading.Thread(target=revise_meanwhile)

    def run(self, service, session, actor):  # type: ignore[no-untyped-def]
        if not self.later or thread.is_alive():
            return original(self, service, session, actor)
        thread.start()
        # The revision leaves this save's history, so it waits for this save's turns
        # (it saves once this save has committed): nothing is in flight meanwhile.
        saved.wait(2)
        # The revision commits once this run is done, or after 2 s if the run waits
        # for it (as a run that locks the later audit's head would).
        timer = threading.Timer(2.0, go.set)
        timer.start()
        try:
            return original(self, service, session, actor)
        finally:
            go.set()
            timer.cancel()

    monkeypatch.setattr(late.LaterAudits, "run", run)
    earlier = audit(overall="EXCEEDS_GOOD", serviceArea=area, caseRef=later.case_ref,
                    completedOn="2026-01-10", lookbackFrom="2026-01-10")
    try:
        store.run(lambda session: service.submit(session, service.prepare(earlier), ACTOR))
    finally:
        go.set()
        thread.join(30)
    assert not failures, failures
    open_reviews = store.read(lambda session: session.scalars(select(Action).where(
        Action.audit_id == later.audit_id, Action.rule_id == "GC-16",
        Action.status == "OPEN")).all())
    assert open_reviews == []
