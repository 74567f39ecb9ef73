"""server/late.py and audits._OPEN_HISTORY_ACTIONS, from a third review.

Date order is the yardstick (server/late.py: "the result date order would have
given"): the outcome of a set of saves must not depend on the order they arrive in,
and a save must raise only what it changed."""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event

from lenses.v1 import action_pb2, audit_pb2, common_pb2
from server import late
from server.actions import Actor
from server.audits import AuditService
from server.store import Store
from tests.api import Client, audit, revise, submit, unique
from tests.test_late_review4 import until_waiting

K = common_pb2


def listed(client: Client, **fields: Any) -> list[common_pb2.Action]:
    return list(client.actions.ListActions(action_pb2.ListActionsRequest(
        filter=K.ActionFilter(**fields), page_size=1000)).actions)


def deep_dives(client: Client, service_area: str) -> list[common_pb2.Action]:
    return listed(client, service_area=service_area, kinds=[K.ACTION_KIND_DEEP_DIVE_AUDIT])


def swing_reviews(client: Client, audit_id: str) -> list[common_pb2.Action]:
    return [a for a in listed(client, audit_id=audit_id, kinds=[K.ACTION_KIND_MODERATION_REVIEW])
            if a.rule_id == "GC-16"]


def concern(service_area: str, completed_on: str, *areas: str, **fields: Any) -> audit_pb2.CaseFileAudit:
    return audit(areas or ("PLANS",), serviceArea=service_area, completedOn=completed_on,
                 lookbackFrom=completed_on, **fields)


def complete(client: Client, action: common_pb2.Action, on: str) -> None:
    client.actions.CompleteAction(action_pb2.CompleteActionRequest(
        action_id=action.action_id, completed_by="hos-1", completed_on=on))


# ------------------------------------------------------------------------------
# ES-03: "no DEEP_DIVE_AUDIT is open for that service area and area". A deep dive
# raised on 01-20 and completed on 02-10 was open on 01-25. An audit completed on
# 01-25 finds it open in date order (and does, when it is saved before the
# completion); saved after the completion it must not open a second one.
# _OPEN_HISTORY_ACTIONS counts a completed deep dive completed after this audit's
# date, as well as one raised for a later date.


def test_a_deep_dive_open_on_the_audits_date_and_completed_since_covers_it(client: Client) -> None:
    area = unique("SA")
    for day in ("2026-01-01", "2026-01-10", "2026-01-20"):
        submit(client, concern(area, day))
    (opened,) = deep_dives(client, area)
    complete(client, opened, "2026-02-10")
    saved = submit(client, concern(area, "2026-01-25"))
    assert [a.rule_id for a in saved.actions if a.rule_id == "ES-03"] == []
    assert [a.action_id for a in deep_dives(client, area)] == [opened.action_id]


def test_in_time_and_late_saves_of_the_same_audit_agree(client: Client) -> None:
    """The same 01-25 concern saved before the deep dive's completion (a) and after
    it (b): the store ends alike."""
    outcomes = []
    for saved_late in (False, True):
        area = unique("SA")
        for day in ("2026-01-01", "2026-01-10", "2026-01-20"):
            submit(client, concern(area, day))
        (opened,) = deep_dives(client, area)
        if not saved_late:
            submit(client, concern(area, "2026-01-25"))
        complete(client, opened, "2026-02-10")
        if saved_late:
            submit(client, concern(area, "2026-01-25"))
        outcomes.append(len(deep_dives(client, area)))
    assert outcomes[1] == outcomes[0] == 1


def test_a_later_audit_run_again_finds_the_deep_dive_open_on_its_date(client: Client) -> None:
    """The same through late.py. Z (2025-10-25), A (2025-12-01), B (2026-01-20), three
    cases: B opens the deep dive, completed on 02-10. L (01-25, case A, saved while it
    was open) holds two cases. A back-dated S (01-05, a fourth case) makes L's window
    hold three; on 01-25 the deep dive was open (raised 01-20, completed 02-10), so in
    date order L opens nothing (S, in date order, would have opened it itself)."""
    area = unique("SA")
    first = concern(area, "2025-12-01")
    for message in (concern(area, "2025-10-25"), first, concern(area, "2026-01-20")):
        submit(client, message)
    (opened,) = deep_dives(client, area)
    submit(client, concern(area, "2026-01-25", caseRef=first.case_ref))
    complete(client, opened, "2026-02-10")
    submit(client, concern(area, "2026-01-05"))
    assert [a.action_id for a in deep_dives(client, area)] == [opened.action_id]


# ------------------------------------------------------------------------------
# GC-16 and same-day audits: L (03-02, DOES_NOT_MEET_GOOD) then T (03-02,
# EXCEEDS_GOOD, same case) are saved; T, saved second, holds the swing's review
# (test_history_semantics: "the one saved second sees the first. The swing is the
# second's (its own GC-16), once"). A later save that does not add an audit
# two steps from L to its case's history cannot, in date order, give L a review of
# its own: whichever of the two same-day audits comes first, the swing is reviewed
# once. (A first fix raised whatever L "now asks for and does not hold", so any
# save that changed anything L reads gave L a second review of T's swing.)


def _same_day_swing(client: Client, area: str) -> tuple[audit_pb2.CaseFileAudit, str]:
    later = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                  completedOn="2026-03-02", lookbackFrom="2026-03-02", auditedPreviously=True)
    submit(client, later)
    same_day = audit(overall="EXCEEDS_GOOD", serviceArea=area, caseRef=later.case_ref,
                     completedOn="2026-03-02", lookbackFrom="2026-03-02", auditedPreviously=True)
    saved = submit(client, same_day)
    assert [a.rule_id for a in saved.actions] == ["GC-16"]
    assert swing_reviews(client, later.audit_id) == []
    return later, same_day.audit_id


def test_an_unrelated_concern_gives_no_second_review_of_a_same_day_swing(client: Client) -> None:
    """A back-dated concern of another case (02-20, PLANS) is in L's ES-03 window:
    it changes L's concerns (two cases, no deep dive), nothing of its case."""
    area = unique("SA")
    later, same_day = _same_day_swing(client, area)
    submit(client, concern(area, "2026-02-20"))
    assert swing_reviews(client, later.audit_id) == []
    assert len(swing_reviews(client, later.audit_id)) + len(swing_reviews(client, same_day)) == 1


def test_a_back_dated_one_step_audit_gives_no_second_review_of_a_same_day_swing(
        client: Client) -> None:
    """A back-dated MEETS_GOOD audit of the case (01-10) is one step from L: no swing
    of its own (GC-17 may be gained, not GC-16's review)."""
    area = unique("SA")
    later, same_day = _same_day_swing(client, area)
    submit(client, audit(overall="MEETS_GOOD", serviceArea=area, caseRef=later.case_ref,
                         completedOn="2026-01-10", lookbackFrom="2026-01-10"))
    assert swing_reviews(client, later.audit_id) == []
    got = client.audits.GetAudit(audit_pb2.GetAuditRequest(audit_id=later.audit_id))
    assert "GC-16" not in {f.rule_id for f in got.evaluation.findings}


# ------------------------------------------------------------------------------
# PostgreSQL lock order. Every writer takes its service area's and case's turns
# (advisory locks) before its audit's head row (FOR UPDATE); a back-dated save holds
# those turns while it runs later audits again. Before, a save locked its head row
# first and then took the turns, while LaterAudits.run locked later heads holding its
# turns: a revision of a later audit of the same service area arriving meanwhile held
# its head and waited for the turn while the back-dated save waited for that head, a
# deadlock broken by PostgreSQL only after deadlock_timeout (1 s by default), one
# transaction aborted and redone (Store.run retries at most RETRIES_ON_CONFLICT times).


ACTOR = Actor("test", date(2026, 12, 1))


def test_a_later_audits_revision_in_flight_does_not_deadlock_a_back_dated_save(
        pg_audits: tuple[Store, AuditService], monkeypatch: pytest.MonkeyPatch) -> None:
    store, service = pg_audits
    aborted: list[str] = []

    @event.listens_for(store.engine, "handle_error")
    def record(context: Any) -> None:
        state = getattr(context.original_exception, "sqlstate", None)
        if state:
            aborted.append(state)

    area = unique("SA")
    later = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                  completedOn="2026-03-02", lookbackFrom="2026-03-02", auditedPreviously=True)
    store.run(lambda session: service.submit(session, service.prepare(later), ACTOR))
    revised = service.prepare(revise(later))  # same service area and case
    failures: list[BaseException] = []

    def revise_meanwhile() -> None:
        try:
            store.run(lambda session: service.submit(session, revised, ACTOR))
        except BaseException as error:  # noqa: BLE001
            failures.append(error)

    original = late.LaterAudits.run
    thread = threading.Thread(target=revise_meanwhile)

    def run(self, service, session, actor):  # type: ignore[no-untyped-def]
        if self.later and not thread.is_alive() and not thread.ident:
            thread.start()
            until_waiting(store, thread)  # it waits for the area's turn (before, it held its head)
        return original(self, service, session, actor)

    monkeypatch.setattr(late.LaterAudits, "run", run)
    earlier = audit(overall="EXCEEDS_GOOD", serviceArea=area, caseRef=later.case_ref,
                    completedOn="2026-01-10", lookbackFrom="2026-01-10")
    started = time.monotonic()
    store.run(lambda session: service.submit(session, service.prepare(earlier), ACTOR))
    thread.join(30)
    elapsed = time.monotonic() - started
    event.remove(store.engine, "handle_error", record)
    assert not failures, failures
    assert "40P01" not in aborted, (aborted, f"{elapsed:.2f} s")
