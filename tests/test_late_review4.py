"""server/late.py and the PostgreSQL lock order, from a fourth review.

- PostgreSQL lock order: every writer takes its history turns (advisory locks,
  areas then cases) for what it leaves and joins before its audit's head row, so
  no pair of writers deadlocks: a moderation whose unlocked read saw a revision
  replaced meanwhile, and a back-dated save against a revision that moves one of
  its later audits to another service area (both deadlocked, 40P01, before).
- A property test: late saves, partial and draft first revisions, moderations and
  deep dive completions end as date order does, up to the documented deviations.
- ES-03 "open as of the completion date": a completion recorded after a save it
  predates gives what date order gives.
- The decision-log row of cause "history": GetAudit and a retried save.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import date, timedelta
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select, text

from lenses.v1 import action_pb2, audit_pb2, common_pb2
from server import late
from server.actions import Actor
from server.audits import AuditService
from server.db import Action
from server.store import Store
from tests.api import GOOD, Client, audit, revise, submit, unique

K = common_pb2
ACTOR = Actor("test", date(2026, 12, 1))


class Aborts:
    """The SQLSTATEs the store's engine saw (40P01: a deadlock PostgreSQL broke)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.states: list[str] = []

    def __enter__(self) -> list[str]:
        event.listen(self.store.engine, "handle_error", self._record)
        return self.states

    def __exit__(self, *_: object) -> None:
        event.remove(self.store.engine, "handle_error", self._record)

    def _record(self, context: Any) -> None:
        state = getattr(context.original_exception, "sqlstate", None)
        if state:
            self.states.append(state)


def _save(store: Store, service: AuditService, message: audit_pb2.CaseFileAudit) -> Any:
    submission = service.prepare(message)
    return store.run(lambda session: service.submit(session, submission, ACTOR))


def _in_thread(work: Any, failures: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - asserted by the test
            failures.append(error)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


# Sessions of the current database (each fixture has its own) waiting for a lock:
# an advisory lock (a history or log turn), a row, a transaction.
_WAITING_FOR_A_LOCK = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'")


def until_waiting(store: Store, thread: threading.Thread, timeout: float = 30) -> bool:
    """Return once a transaction of ``store``'s PostgreSQL database waits for a lock
    (the writer started in ``thread`` has reached the turn or row it must wait for)
    or ``thread`` has ended (it had nothing to wait for); False if neither happened
    within ``timeout``. A race set up with a fixed sleep instead is silently not run
    when a loaded machine starts the thread late."""
    deadline = time.monotonic() + timeout
    while thread.is_alive():
        if time.monotonic() > deadline:
            return False
        with store.engine.connect() as connection:
            if connection.execute(_WAITING_FOR_A_LOCK).scalar():
                return True
        thread.join(0.05)
    return True


# ------------------------------------------------------------------------------
# A moderation reads the head without a lock, takes the turns of its history, then
# locks the head (AuditService._turns_then_head). When the revision it read was
# replaced meanwhile (a revision that moved the audit to another service area and
# case), it must not take the new revision's turns while holding the head's row lock
# (head, then turns: the order every writer avoids): a save of that audit arriving
# meanwhile takes the new turns, then waits for the head, a deadlock PostgreSQL
# breaks only after deadlock_timeout, aborting one of the two (40P01). The turns and
# the lock taken for the replaced revision are released (a savepoint) and it reads
# the head again.


def test_a_moderation_that_reads_a_replaced_revision_does_not_deadlock_a_save(
        pg_audits: tuple[Store, AuditService], monkeypatch: pytest.MonkeyPatch) -> None:
    store, service = pg_audits
    first = audit(overall="MEETS_GOOD", completedOn="2026-03-02", lookbackFrom="2026-03-02")
    _save(store, service, first)
    moved = revise(first, serviceArea=unique("SA"), caseRef=unique("C"))  # another area and case
    again = revise(moved, feedbackDiscussed=False)  # the next save, same area and case as ``moved``
    failures: list[BaseException] = []
    moderating = threading.current_thread()
    calls: list[int] = []
    original = AuditService._head
    saving: list[threading.Thread] = []
    hooked = [True]

    def head(session: Any, audit_id: str, lock: bool = True) -> Any:
        found = original(session, audit_id, lock)
        if hooked[0] and not lock and audit_id == first.audit_id \
                and threading.current_thread() is moderating:
            hooked[0] = False  # the saves below read heads too
            calls.append(found.revision)
            if len(calls) == 1:
                # The unlocked read has seen the first revision; the moved one commits now.
                _save(store, service, moved)
            elif len(calls) == 2:
                # The moderation found the moved revision and is about to take its turns;
                # the next revision takes them first, then wants the head.
                saving.append(_in_thread(lambda: _save(store, service, again), failures))
                until_waiting(store, saving[-1])
            hooked[0] = True
        return found

    monkeypatch.setattr(AuditService, "_head", staticmethod(head))
    request = audit_pb2.ModerateAuditRequest(audit_id=first.audit_id, moderator_id="psw-1",
                                             moderated_grade=K.GRADE_EXCEEDS_GOOD)
    with Aborts(store) as aborted:
        store.run(lambda session: service.moderate(session, request, ACTOR))
        for thread in saving:
            thread.join(30)
    assert calls[:2] == [first.revision, moved.revision]
    assert not failures, failures
    assert "40P01" not in aborted, aborted


# ------------------------------------------------------------------------------
# A back-dated save (B) runs its later audits again holding its turns. A revision of
# one of those later audits (A) that moves it to another service area (and earlier)
# used to take only the turns of where it went, so it was not kept out: holding A's
# head, its own re-run locked the head of an audit (L) that B had locked, while B
# waited for A's head (when late.py locked later heads): a deadlock. A write now
# takes the turns of the history it leaves too, so A's revision waits for B.
#
#   B  (back-dated): area S,  case CB, PLANS below good, 03-01
#   L              : area S2, case CB, PLANS below good, 03-10 (B's later by case)
#   A  revision 1  : area S,  case CA, PLANS below good, 03-20 (B's later by concern)
#   A  revision 2  : area S2, case CA, PLANS below good, 03-05 (L is its later audit)


def test_a_later_audit_moved_to_another_area_does_not_deadlock_a_back_dated_save(
        pg_audits: tuple[Store, AuditService], monkeypatch: pytest.MonkeyPatch) -> None:
    store, service = pg_audits
    area, other = unique("SA"), unique("SA")
    back_dated = audit(("PLANS",), serviceArea=area, completedOn="2026-03-01",
                       lookbackFrom="2026-03-01")
    later = audit(("PLANS",), serviceArea=other, caseRef=back_dated.case_ref,
                  completedOn="2026-03-10", lookbackFrom="2026-03-10", auditedPreviously=True)
    moving = audit(("PLANS",), serviceArea=area, completedOn="2026-03-20", lookbackFrom="2026-03-20")
    moved = revise(moving, serviceArea=other, completedOn="2026-03-05", lookbackFrom="2026-03-05")
    _save(store, service, later)
    _save(store, service, moving)
    failures: list[BaseException] = []
    saving: list[threading.Thread] = []
    back_dating = threading.current_thread()
    running: list[bool] = []
    original = late.LaterAudits.run

    def run(self, service, session, actor):  # type: ignore[no-untyped-def]
        running.append(bool(self.later))
        return original(self, service, session, actor)

    monkeypatch.setattr(late.LaterAudits, "run", run)

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        values = parameters.values() if isinstance(parameters, dict) else parameters or ()
        if (threading.current_thread() is back_dating and not saving and running and running[-1]
                and moving.audit_id in values):
            # B runs its later audits again (L done, A next); A's revision starts now. It
            # leaves B's area, so it waits for B's turn before it takes A's head: no cycle.
            saving.append(_in_thread(lambda: _save(store, service, moved), failures))
            until_waiting(store, saving[-1])

    event.listen(store.engine, "before_cursor_execute", before)
    try:
        with Aborts(store) as aborted:
            _save(store, service, back_dated)
            for thread in saving:
                thread.join(30)
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
    assert saving, "the back-dated save never ran the moving audit again"
    assert not failures, failures
    assert "40P01" not in aborted, aborted


# ------------------------------------------------------------------------------
# The property of test_history_order, extended. A real timeline: each audit's saves
# (a first revision that is a draft, or holds only some of its final concerns; the
# final revision; a moderation) arrive on or after its completion date, and deep
# dives are completed on fixed days ("complete every open deep dive raised by then"),
# each completion recorded up to 60 days later. The yardstick is date order: every
# save arrives on its completion date, every completion on the day it was done.
# What late saves may legitimately change (server/late.py) is which audit a deep
# dive names, its due date, and nothing withdrawn on removals (here only a
# moderation removes anything). What must hold in both worlds:
#
# - ES-03: every completed audit whose final window holds an area below good in
#   three cases is covered by a deep dive of that area open as of its completion
#   date (open, completed after that date, or raised for that date or a later one);
# - GC-16: every audit two steps from an earlier audit of its case (final effective
#   grades) holds a review; without moderations, exactly those;
# - ES-01: exactly the audits whose final effective grade is below good have an
#   open corrective action;
# - without completions, the same areas have an open deep dive.


AREAS = ("AREA_PLANS", "AREA_REVIEWS")
GRADES = ("EXCEEDS_GOOD", "MEETS_GOOD", "DOES_NOT_MEET_GOOD")
RANK = {"EXCEEDS_GOOD": 2, "MEETS_GOOD": 1, "DOES_NOT_MEET_GOOD": 0}
DAY0 = date(2026, 1, 1)
_runs = itertools.count()


# (even day, case, overall, final concerns, kind, concerns of a first partial revision,
#  moderated grade or None, delays of its steps in days (even), moderated before the final
#  revision when its first is a completed one)
one_audit = st.tuples(
    st.integers(0, 60).map(lambda n: 2 * n), st.integers(0, 3), st.sampled_from(GRADES),
    st.frozensets(st.sampled_from(AREAS)), st.sampled_from(("plain", "adds", "draft")),
    st.frozensets(st.sampled_from(AREAS)), st.one_of(st.none(), st.sampled_from(GRADES)),
    st.lists(st.integers(0, 60).map(lambda n: 2 * n), min_size=3, max_size=3), st.booleans())
# Deep dive completions: (odd day done, even delay before it is recorded when late).
timelines = st.tuples(
    st.lists(one_audit, min_size=2, max_size=7, unique_by=lambda a: a[0]),
    st.lists(st.tuples(st.integers(0, 100).map(lambda n: 2 * n + 1),
                       st.integers(0, 30).map(lambda n: 2 * n)),
             max_size=2, unique_by=lambda c: c[0]))


def _message(sa: str, index: int, spec: Any, revision: int, concerns: frozenset[str],
             draft: bool = False) -> audit_pb2.CaseFileAudit:
    offset, case, overall = spec[0], spec[1], spec[2]
    day = (DAY0 + timedelta(days=offset)).isoformat()
    body = json_format.ParseDict(GOOD, audit_pb2.CaseFileAudit())
    body.audit_id, body.revision = f"{sa}-A{index}", revision
    body.case_ref, body.service_area = f"{sa}-C{case}", sa
    body.completed_on = body.lookback_from = day
    body.overall_grade = common_pb2.Grade.Value(f"GRADE_{overall}")
    body.audited_previously = True
    if draft:
        body.status = common_pb2.AUDIT_STATUS_DRAFT
    for judgement in body.areas:
        if common_pb2.Area.Name(judgement.area) in concerns:
            judgement.grade = common_pb2.GRADE_DOES_NOT_MEET_GOOD
    return body


def _steps(sa: str, index: int, spec: Any, late: bool) -> list[tuple[int, int, int, Any]]:
    """(arrival day, audit, step, what) of one audit's saves and moderation."""
    offset, _, _, final, kind, partial, moderated, delays, early = spec
    plan: list[Any] = []
    if kind == "adds" and partial < final:
        plan.append(("save", _message(sa, index, spec, len(plan) + 1, partial & final)))
    elif kind == "draft":
        plan.append(("save", _message(sa, index, spec, len(plan) + 1, final, draft=True)))
    plan.append(("save", _message(sa, index, spec, len(plan) + 1, final)))
    if moderated is not None:
        moderation = ("moderate", audit_pb2.ModerateAuditRequest(
            audit_id=f"{sa}-A{index}", moderator_id="psw",
            moderated_grade=common_pb2.Grade.Value(f"GRADE_{moderated}")))
        plan.insert(1 if early and kind == "adds" and len(plan) == 2 else len(plan), moderation)
    arrivals = itertools.accumulate(sorted(delays)) if late else itertools.repeat(0)
    return [(offset + delay, index, step, what)
            for step, (what, delay) in enumerate(zip(plan, arrivals, strict=False))]


def _complete_deep_dives(store: Store, service: AuditService, sa: str, day: int) -> None:
    """Complete, on ``day``, every deep dive open now that was raised by then."""
    on = DAY0 + timedelta(days=day)
    request = action_pb2.CompleteActionRequest(completed_by="hos", completed_on=on.isoformat())
    for action_id in store.read(lambda session: session.scalars(select(Action.action_id).where(
            Action.service_area == sa, Action.kind == "DEEP_DIVE_AUDIT", Action.status == "OPEN",
            Action.origin_on <= on)).all()):
        request.action_id = action_id
        store.run(lambda session: service.complete_action(session, request, ACTOR))


def _play(store: Store, service: AuditService, sa: str, specs: list[Any],
          completions: list[tuple[int, int]], late: bool) -> None:
    events: list[tuple[int, int, int, Any]] = []
    for index, spec in enumerate(specs):
        events += _steps(sa, index, spec, late)
    events += [(day + (delay if late else 0), -1, 0, ("complete", day)) for day, delay in completions]
    for _, _, _, (kind, what) in sorted(events, key=lambda e: e[:3]):
        if kind == "save":
            submission = service.prepare(what)
            store.run(lambda session, s=submission: service.submit(session, s, ACTOR))  # type: ignore[misc]
        elif kind == "moderate":
            store.run(lambda session, m=what: service.moderate(session, m, ACTOR))  # type: ignore[misc]
        else:
            _complete_deep_dives(store, service, sa, what)


def _rows(store: Store, sa: str) -> list[Action]:
    return store.read(lambda s: list(s.scalars(select(Action).where(Action.service_area == sa))))


def _problems(rows: list[Action], specs: list[Any], exact_reviews: bool) -> list[str]:
    final = [(DAY0 + timedelta(days=s[0]), s[1], s[6] or s[2], s[3]) for s in specs]
    problems = []
    dives = [r for r in rows if r.kind == "DEEP_DIVE_AUDIT"]
    for index, (day, _, _, concerns) in enumerate(final):
        for area in concerns:
            cases = {c for d, c, _, a in final if area in a and day - timedelta(days=90) <= d <= day}
            covered = [r for r in dives if r.dedupe_key.endswith(":" + area.removeprefix("AREA_"))
                       and (r.status == "OPEN" or r.origin_on >= day
                            or (r.completed_on is not None and r.completed_on > day))]
            if len(cases) >= 3 and not covered:
                problems.append(f"ES-03: A{index} ({day}, {area}, cases {sorted(cases)}) has no deep dive")
    swings = {f"A{i}" for i, (day, case, grade, _) in enumerate(final)
              if any(c == case and d < day and abs(RANK[g] - RANK[grade]) == 2
                     for d, c, g, _ in final)}
    reviews = {r.audit_id.rsplit("-", 1)[1] for r in rows if r.rule_id == "GC-16" and r.status == "OPEN"}
    if not swings <= reviews or (exact_reviews and swings != reviews):
        problems.append(f"GC-16: reviews {sorted(reviews)}, swings {sorted(swings)}")
    for first, second in itertools.permutations(dives, 2):
        if first.dedupe_key == second.dedupe_key and first.origin_on <= second.origin_on and not (
                first.completed_on is not None and first.completed_on <= second.origin_on):
            problems.append(f"ES-03: a second deep dive ({second.origin_on}) while the one raised "
                            f"for {first.origin_on} was open (completed {first.completed_on})")
    below = {f"A{i}" for i, (_, _, grade, _) in enumerate(final) if grade == "DOES_NOT_MEET_GOOD"}
    corrective = {r.audit_id.rsplit("-", 1)[1] for r in rows
                  if r.rule_id == "ES-01" and r.status == "OPEN"}
    if corrective != below:
        problems.append(f"ES-01: open {sorted(corrective)}, below good {sorted(below)}")
    return problems


def _open_areas(rows: list[Action]) -> set[str]:
    return {r.dedupe_key.rsplit(":", 1)[1] for r in rows
            if r.kind == "DEEP_DIVE_AUDIT" and r.status == "OPEN"}


@settings(max_examples=90, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(timeline=timelines)
@example(timeline=(  # a completion recorded after a save it predates (the 02-15 case below)
    [(day, case, "MEETS_GOOD", frozenset({"AREA_PLANS"}), "plain", frozenset(), None, [0, 0, 0],
      False) for day, case in ((0, 0), (10, 1), (20, 2), (46, 3))],
    [(41, 10)]))
def test_late_saves_revisions_moderations_and_completions_end_as_date_order_does(
        audits_in_process: tuple[Store, AuditService],
        timeline: tuple[list[Any], list[tuple[int, int]]]) -> None:
    store, service = audits_in_process
    specs, completions = timeline
    run = next(_runs)
    in_date, late = f"SA4-D{run}", f"SA4-L{run}"
    _play(store, service, in_date, specs, completions, late=False)
    _play(store, service, late, specs, completions, late=True)
    exact = all(s[6] is None for s in specs)
    dated, arrived = _rows(store, in_date), _rows(store, late)
    assert _problems(dated, specs, exact) == []  # the yardstick itself
    assert _problems(arrived, specs, exact) == []
    if not completions:
        assert _open_areas(arrived) == _open_areas(dated)


# ------------------------------------------------------------------------------
# ES-03 "open as of an audit's completion" (audits._OPEN_HISTORY_ACTIONS) with a
# completion recorded after a save it predates (a completion recorded a few days
# late, with the day it was done). Deep dive raised 01-20 (three cases); an audit of
# a fourth case completed 02-15; the deep dive completed 02-10. In date order
# (completion, then the 02-15 save) the 02-15 audit opens a second deep dive (the
# first was not open on 02-15). Recorded after the save, the completion runs ES-03
# again for the 02-15 audit (late.after_deep_dive_completed): the same outcome.


def _concern(area: str, day: str, **fields: Any) -> audit_pb2.CaseFileAudit:
    return audit(("PLANS",), serviceArea=area, completedOn=day, lookbackFrom=day, **fields)


def _deep_dives(client: Client, area: str) -> list[common_pb2.Action]:
    return list(client.actions.ListActions(action_pb2.ListActionsRequest(
        filter=K.ActionFilter(service_area=area, kinds=[K.ACTION_KIND_DEEP_DIVE_AUDIT]),
        page_size=1000)).actions)


# Three cases' audits below good in PLANS: the third raises a deep dive for 01-20.
RAISING_DAYS = ("2026-01-01", "2026-01-10", "2026-01-20")


def _raised_deep_dive(client: Client, area: str) -> common_pb2.Action:
    """The deep dive the RAISING_DAYS audits of ``area`` raise, saved through the server."""
    for day in RAISING_DAYS:
        submit(client, _concern(area, day))
    (opened,) = _deep_dives(client, area)
    return opened


def _raised_deep_dive_in_process(store: Store, service: AuditService, area: str) -> Action:
    """As ``_raised_deep_dive``, saved in process: the deep dive's row."""
    for day in RAISING_DAYS:
        _save(store, service, _concern(area, day))
    (dive,) = store.read(lambda session: session.scalars(select(Action).where(
        Action.service_area == area, Action.kind == "DEEP_DIVE_AUDIT")).all())
    return dive


@pytest.mark.parametrize("completion_recorded", ["before the save", "after the save"])
@pytest.mark.parametrize(("completed_on", "second_due"), [
    ("2026-02-10", "2026-04-16"),  # before the 02-15 audit: it found none open, and opens one
    ("2026-02-15", "2026-04-16"),  # on its day: completed that day, not open for it
    ("2026-02-16", None),  # after it: the first was open on 02-15, so no second
])
def test_a_deep_dive_completion_recorded_late_gives_what_date_order_gives(
        client: Client, completion_recorded: str, completed_on: str, second_due: str | None) -> None:
    area = unique("SA")
    opened = _raised_deep_dive(client, area)
    complete = action_pb2.CompleteActionRequest(action_id=opened.action_id, completed_by="hos-1",
                                                completed_on=completed_on)
    if completion_recorded == "before the save":
        client.actions.CompleteAction(complete)
    fourth = _concern(area, "2026-02-15")
    submit(client, fourth)
    if completion_recorded == "after the save":
        client.actions.CompleteAction(complete)
    client.actions.CompleteAction(complete)  # the same completion again changes nothing
    dives = _deep_dives(client, area)
    # Date order: a deep dive completed before 02-15 was not open for the 02-15 audit.
    expected = [(K.ACTION_STATUS_COMPLETED, opened.due_on)]
    if second_due is not None:
        expected.append((K.ACTION_STATUS_OPEN, second_due))
    assert [(d.status, d.due_on) for d in dives] == expected, completion_recorded
    # The audit that raised it shows it (ES-03 is an action, with no finding).
    got = client.audits.GetAudit(audit_pb2.GetAuditRequest(audit_id=fourth.audit_id))
    assert [a.action_id for a in got.evaluation.actions if a.kind == K.ACTION_KIND_DEEP_DIVE_AUDIT] \
        == [d.action_id for d in dives[1:]]


# PostgreSQL: a completion and a save of the area racing. The save of the 02-15
# audit has read its history (the deep dive open) when the completion (done 02-10)
# arrives. The completion takes the area's history turn before anything else, so it
# waits for the save to commit, then runs ES-03 again for the 02-15 audit. (Without
# the turn it committed first, its re-run did not see the save in flight, and the
# save committed what it had read: no second deep dive.)


def test_a_completion_arriving_while_a_save_of_its_area_runs_waits_for_it(
        pg_audits: tuple[Store, AuditService], monkeypatch: pytest.MonkeyPatch) -> None:
    store, service = pg_audits
    area = unique("SA")
    opened = _raised_deep_dive_in_process(store, service, area).action_id
    request = action_pb2.CompleteActionRequest(action_id=opened, completed_by="hos-1",
                                               completed_on="2026-02-10")
    failures: list[BaseException] = []
    completing: list[threading.Thread] = []
    original = late.LaterAudits.find

    def find(service, session, saved, stored=None):  # type: ignore[no-untyped-def]
        if not completing:  # the save has evaluated the 02-15 audit: the completion arrives
            completing.append(_in_thread(lambda: store.run(
                lambda s: service.complete_action(s, request, ACTOR)), failures))
            until_waiting(store, completing[-1])
        return original(service, session, saved, stored)

    monkeypatch.setattr(late.LaterAudits, "find", staticmethod(find))
    with Aborts(store) as aborted:
        _save(store, service, _concern(area, "2026-02-15"))
        completing[0].join(30)
    assert not failures, failures
    assert "40P01" not in aborted, aborted
    dives = store.read(lambda session: session.execute(select(Action.status, Action.due_on).where(
        Action.service_area == area, Action.kind == "DEEP_DIVE_AUDIT").order_by(Action.origin_on)).all())
    assert [tuple(d) for d in dives] == [("COMPLETED", date(2026, 3, 21)), ("OPEN", date(2026, 4, 16))]


# ------------------------------------------------------------------------------
# The decision-log row a late save writes for a later audit (cause "history"): GetAudit
# shows it, a retried SubmitAudit of the later audit returns it and changes nothing,
# and a moderation of the later audit afterwards works. (These hold.)


def test_the_history_row_is_what_getaudit_and_a_retried_save_of_the_later_audit_return(
        client: Client) -> None:
    area = unique("SA")
    later = audit(overall="DOES_NOT_MEET_GOOD", serviceArea=area, completedOn="2026-03-02",
                  lookbackFrom="2026-03-02", auditedPreviously=False)
    first = submit(client, later)
    submit(client, audit(overall="EXCEEDS_GOOD", serviceArea=area, caseRef=later.case_ref,
                         completedOn="2026-01-10", lookbackFrom="2026-01-10"))
    got = client.audits.GetAudit(audit_pb2.GetAuditRequest(audit_id=later.audit_id))
    retried = submit(client, later)
    assert retried == got.evaluation
    gained = {f.rule_id for f in got.evaluation.findings} - {f.rule_id for f in first.findings}
    assert gained == {"GC-16", "GC-17"}
    assert got.evaluation.ready_to_complete == first.ready_to_complete
    assert sorted(a.rule_id for a in got.evaluation.actions) == ["ES-01", "GC-16"]
    assert client.audits.GetAudit(audit_pb2.GetAuditRequest(audit_id=later.audit_id)) == got
    moderated = client.audits.ModerateAudit(audit_pb2.ModerateAuditRequest(
        audit_id=later.audit_id, moderator_id="psw-1", moderated_grade=K.GRADE_MEETS_GOOD))
    assert "GC-16" not in {f.rule_id for f in moderated.findings}
