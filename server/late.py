"""What a record's rules raise late, once a later call changes what they read.

Rules read other records by date: an audit's history rules read the audits
completed before it (GC-16, GC-17: the case's earlier audits; ES-03: the
service area's concerns in the window up to its completion), a placement's
rules read the provider's rating on its start date. When a call stores a fact
dated before records already evaluated (an audit saved after later-dated ones,
its revision or moderation, a deep dive's completion dated before audits saved
while it was open, a placement or inspection recorded out of date order), those
records were evaluated without it. They are evaluated again,
as the call found them and as it leaves them, and what the second evaluation
asks for beyond the first is raised: the result date order would have given.
Nothing is withdrawn.

The provider rules' version is in ``providers.py``; the audits' is here:

- The later audits are those whose history can hold the saved audit as it is
  now (same case, or a concern in the same service area and area within the
  window), strictly later (an audit of the same day is in the saved audit's own
  history). A revision or draft that takes an audit out of a history raises
  nothing: in the framework's rules fewer concerns or earlier audits never
  call for more.
- Only what the save changed is raised: an unchanged revision raises nothing,
  even if an action it once called for was completed since. The case's audits
  of a later audit's own day are left out of both its evaluations (the one of a
  same-day pair saved second decided on both).
- In date order, each later audit seeing what was raised for those before it.
  Deep dives are open as of an audit's completion (``audits._OPEN_HISTORY_ACTIONS``):
  one completed after it, or raised for a later completion, covers it, and no
  second one opens (the one there keeps its due date).
- GC-18 is not run again (its counts are held as they were).
- PostgreSQL: every write takes the history turns of what it leaves and joins
  before its head row (``audits._turns_then_head``), and this save holds its
  own: no later audit it runs again can be revised meanwhile, and no two
  writers wait on each other in a cycle. Two writes holding different turns of
  one later audit's history (its service area's, its case's) take its log turn
  before logging it, so neither's findings hide the other's (``store.LOG_TURNS``).
- At most ``LATER_AUDITS_LIMIT`` later audits per save, the earliest; beyond
  that a warning is logged, as for a later audit whose stored record no longer
  reads (it is skipped: another audit's data never fails this save).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol, cast

from google.protobuf import json_format
from sqlalchemy import Table, bindparam, insert, select, union
from sqlalchemy.orm import Session

from engine import model
from engine.evaluate import Evaluation, RulesEngine
from engine.model import Audit, AuditHistory
from lenses.v1 import audit_pb2

from . import actions, convert, metrics
from .actions import Actor
from .db import Action, AuditConcern, AuditHead, AuditRevision
from .db import Evaluation as EvaluationRow
from .store import LOG_TURNS, take_turn

log = logging.getLogger("lenses.history")

_HEADS = cast(Table, AuditHead.__table__)
_CONCERNS = cast(Table, AuditConcern.__table__)
_REVISIONS = cast(Table, AuditRevision.__table__)
_EVALUATIONS = cast(Table, EvaluationRow.__table__)
_ACTIONS = cast(Table, Action.__table__)

# A back-dated save re-runs at most this many later audits (each costs two
# evaluations and two history reads, under the write lock). Real service areas
# have tens; beyond the limit the rest are logged, never silently skipped.
LATER_AUDITS_LIMIT = 200

# Completed audits whose history can hold the saved audit: later audits of its
# case (GC-16, GC-17), and later audits of its service area with a concern in an
# area it is below good in, whose window reaches back to it (ES-03). Strictly
# later: an audit of the same day is in the saved audit's own history, and the
# saved audit's own evaluation has already decided on both.
_LATER_AUDITS = union(
    select(_HEADS.c.audit_id, _HEADS.c.completed_on).where(
        _HEADS.c.case_ref == bindparam("case_ref"), _HEADS.c.status == "COMPLETED",
        _HEADS.c.completed_on > bindparam("completed_on"),
        _HEADS.c.audit_id != bindparam("audit_id")),
    select(_CONCERNS.c.audit_id, _CONCERNS.c.completed_on).where(
        _CONCERNS.c.service_area == bindparam("service_area"),
        _CONCERNS.c.area.in_(bindparam("areas", expanding=True)),
        _CONCERNS.c.completed_on > bindparam("completed_on"),
        _CONCERNS.c.completed_on <= bindparam("window_end"),
        _CONCERNS.c.audit_id != bindparam("audit_id")),
).order_by("completed_on", "audit_id").limit(bindparam("limit"))
# Their heads and records, once there are any (a save in date order has none).
_LATER_HEADS = (
    select(_HEADS, _REVISIONS.c.record, _REVISIONS.c.content_digest)
    .join(_REVISIONS, (_REVISIONS.c.audit_id == _HEADS.c.audit_id)
          & (_REVISIONS.c.revision == _HEADS.c.revision))
    .where(_HEADS.c.audit_id.in_(bindparam("audit_ids", expanding=True)))
    .order_by(_HEADS.c.completed_on, _HEADS.c.audit_id)
)
# The concern audits of one area of a service area dated on or after a day.
_AREA_CONCERNS_FROM = (
    select(_CONCERNS.c.audit_id, _CONCERNS.c.case_ref)
    .where(_CONCERNS.c.service_area == bindparam("service_area"),
           _CONCERNS.c.area == bindparam("area"), _CONCERNS.c.completed_on >= bindparam("from_on"))
    .order_by(_CONCERNS.c.completed_on, _CONCERNS.c.audit_id).limit(bindparam("limit"))
)
_CONCERN_AREAS = select(_CONCERNS.c.area).where(_CONCERNS.c.audit_id == bindparam("audit_id"))
_LATEST_RESULT = (
    select(_EVALUATIONS.c.result)
    .where(_EVALUATIONS.c.audit_id == bindparam("audit_id"),
           _EVALUATIONS.c.revision == bindparam("revision"))
    .order_by(_EVALUATIONS.c.id.desc()).limit(1)
)
_LOG_EVALUATION = insert(_EVALUATIONS)
# The log turn (``store.LOG_TURNS``, taken in ``_log``). PostgreSQL: two writes can
# run one later audit again at once when each holds a different turn of its history
# (a back-dated concern of its service area holds the area's turn; a back-dated audit
# of its case in another service area, the case's). Each builds the audit's next
# decision-log row on the last committed one, so the row written last would hide the
# findings the other gained. Each takes the audit's log turn first: the second then
# reads the first's row (at READ COMMITTED a read after the wait sees what committed
# meanwhile). Why no two writers wait on each other in a cycle: log turns are taken
# after every history turn, in date order (every writer runs later audits in that
# order); and the only two writers that can want one audit's log turn, the holders of
# its area's and of its case's turn, raise disjoint action keys in between (ES-03's are
# the area's, GC-16's the audit's; GC-18, whose key spans both, is never run again). A
# rule run again here whose key spans both turns could make a cycle, which PostgreSQL
# breaks (the save is retried, ``Store.run``).


def difference(before: Evaluation, after: Evaluation) -> tuple[list[model.Finding],
                                                               list[model.ActionIntent]]:
    """What ``after`` says that ``before`` does not: findings of another rule (or
    area), actions under another key."""
    said = {(f.rule_id, f.area) for f in before.findings}
    keys = {i.dedupe_key for i in before.actions}
    return ([f for f in after.findings if (f.rule_id, f.area) not in said],
            [i for i in after.actions if i.dedupe_key not in keys])


class AuditRules(Protocol):
    """What ``LaterAudits`` needs of the audit service (``AuditService`` is one)."""

    engine: RulesEngine

    def gather_history(self, session: Session, audit: Audit, head: Any = None) -> AuditHistory:
        """The audit's history inputs as the store holds them now."""

    def raise_intents(self, session: Session, audit: Audit, ruleset_version: str,
                      intents: Sequence[model.ActionIntent], actor: Actor) -> list[Action]:
        """Raise an audit's action intents as its own save does."""


@dataclass(frozen=True)
class _Later:
    """A later audit and its history as the save found it."""

    audit: Audit
    head: Any  # its audit_heads row
    content_digest: str
    before: AuditHistory


@dataclass(frozen=True)
class LaterAudits:
    """The later audits a save of ``saved`` can change, read before the save
    writes anything (``find``); their rules run again once it has (``run``)."""

    saved: Audit
    later: tuple[_Later, ...]

    @classmethod
    def find(cls, service: AuditRules, session: Session, saved: Audit,
             stored: Any = None) -> LaterAudits:
        """The later audits whose history can hold ``saved`` as it is about to be
        stored (``stored``: its head row until then, if any), each with its history as
        it is now, in date order. None of them when the save changes nothing other
        audits read (an unchanged revision, a moderation to the same grade)."""
        if not saved.completed or saved.completed_on is None:
            return cls(saved, ())  # a draft is in no history
        if stored is not None and _reads_the_same(session, stored, saved):
            return cls(saved, ())
        params = service.engine.params
        window_end = saved.completed_on + timedelta(days=int(params["deep_dive_window_days"]))
        audit_ids = session.execute(_LATER_AUDITS, {
            "case_ref": saved.case_ref, "service_area": saved.service_area,
            "areas": sorted(_concern_areas(saved)), "completed_on": saved.completed_on,
            "window_end": window_end, "audit_id": saved.audit_id, "limit": LATER_AUDITS_LIMIT + 1,
        }).scalars().all()
        if not audit_ids:
            return cls(saved, ())
        if len(audit_ids) > LATER_AUDITS_LIMIT:
            # Pseudonymous ids only. The earliest are run: date order decides first there.
            log.warning("audit %s: more than %d later audits may depend on it; only the first "
                        "%d in date order had their history rules run again",
                        saved.audit_id, LATER_AUDITS_LIMIT, LATER_AUDITS_LIMIT)
            audit_ids = audit_ids[:LATER_AUDITS_LIMIT]
        later = []
        for row in session.execute(_LATER_HEADS, {"audit_ids": audit_ids}):
            audit = _stored_audit(row)
            if audit is not None:
                later.append(_Later(audit, row, row.content_digest,
                                    service.gather_history(session, audit, row)))
        return cls(saved, tuple(later))

    def run(self, service: AuditRules, session: Session, actor: Actor) -> None:
        """Run each later audit's rules with its history as the save left it, in date
        order (each sees what was raised for the ones before it), and raise what they
        ask for beyond what they asked for before."""
        for later in self.later:
            after = service.gather_history(session, later.audit, later.head)
            # Only this save's part of the history may differ: GC-18's counts are held
            # as they were (it is not run again), and the open actions are read once, as
            # they are now (an action completed meanwhile is no change of this save's).
            before = dataclasses.replace(
                _strictly_earlier(later.before, later.audit),
                open_deep_dive_areas=after.open_deep_dive_areas,
                calibration_review_open=after.calibration_review_open)
            after = dataclasses.replace(_strictly_earlier(after, later.audit),
                                        calibration=before.calibration)
            _raise_difference(service, session, later, before, after, actor,
                              f"after audit {self.saved.audit_id} was saved")


def first_day_uncovered(origin_on: date, completed_on: date) -> date:
    """The first day a completed deep dive no longer covers: it covers the day it was
    raised for (that audit raised it; the others of its day found it) and every day
    before its completion date (``audits._OPEN_HISTORY_ACTIONS``). A completion dated
    before the day it was raised for counts as on that day."""
    return max(completed_on, origin_on + timedelta(days=1))


def deep_dive_area(dedupe_key: str) -> str:
    """The area a deep dive is for: its key is "ES-03:DEEP_DIVE_AUDIT:{service area}:{area}"."""
    return dedupe_key.rsplit(":", 1)[1]


def deep_dive_reruns(session: Session, deep_dive: Action, completed_on: date) -> list[Any]:
    """(audit_id, case_ref) of the concern audits, in date order, that a deep dive
    completed on ``completed_on`` no longer covers: those of its service area and
    area dated on or after ``first_day_uncovered``. At most ``LATER_AUDITS_LIMIT``,
    the earliest, with a warning beyond."""
    rows = session.execute(_AREA_CONCERNS_FROM, {
        "service_area": deep_dive.service_area, "area": deep_dive_area(deep_dive.dedupe_key),
        "from_on": first_day_uncovered(deep_dive.origin_on, completed_on),
        "limit": LATER_AUDITS_LIMIT + 1}).all()
    if len(rows) > LATER_AUDITS_LIMIT:
        log.warning("deep dive %s: more than %d later audits may depend on its completion; only "
                    "the first %d in date order had ES-03 run again",
                    deep_dive.action_id, LATER_AUDITS_LIMIT, LATER_AUDITS_LIMIT)
    return list(rows[:LATER_AUDITS_LIMIT])


def after_deep_dive_completed(service: AuditRules, session: Session, deep_dive: Action,
                              reruns: Sequence[Any], actor: Actor) -> None:
    """ES-03 again for the audits a deep dive completed late no longer covers.

    A concern audit of its service area and area dated on or after its completion
    date (and after the day it was raised for) found no deep dive open in date order
    (``first_day_uncovered``). Saved before the completion was recorded, it found this
    one open and opened none. Each such audit, in date order, is evaluated with its
    history as it is now and as its save found it (this deep dive open), and what the
    first asks for beyond the second is raised, as for a back-dated save: a deep dive
    raised for one covers those after it. ``reruns``: those audits, as
    ``deep_dive_reruns`` read them for this completion. The caller holds the history
    turns of the service area and of these audits' cases (PostgreSQL): none of them
    is revised, or run again by another write, meanwhile, and no other is added.
    """
    if not reruns:
        return  # the usual case: a completion recorded before any audit dated after it
    area = deep_dive_area(deep_dive.dedupe_key)
    heads = session.execute(_LATER_HEADS, {"audit_ids": [r.audit_id for r in reruns]}).all()
    for row in heads:
        audit = _stored_audit(row)
        if audit is None:
            continue
        after = service.gather_history(session, audit, row)
        before = dataclasses.replace(after, open_deep_dive_areas=after.open_deep_dive_areas | {area})
        raised = _raise_difference(service, session, _Later(audit, row, row.content_digest, before),
                                   before, after, actor,
                                   f"after deep dive {deep_dive.action_id} was completed")
        if any(r.kind == "DEEP_DIVE_AUDIT" and r.status == actions.OPEN
               and r.dedupe_key == deep_dive.dedupe_key for r in raised):
            break  # open from here on: every later audit finds it, as its save found this one


def _raise_difference(service: AuditRules, session: Session, later: _Later, before: AuditHistory,
                      after: AuditHistory, actor: Actor, cause: str) -> list[Action]:
    """Raise what ``later``'s audit asks for with history ``after`` beyond what it asks
    for with ``before``, and log it (the decision log and a log line). The actions
    raised or kept."""
    if after == before:
        return []  # the change touched nothing this audit reads
    engine = service.engine
    evaluation = engine.evaluate_audit(later.audit, after)
    findings, intents = difference(engine.evaluate_audit(later.audit, before), evaluation)
    if findings or intents:
        raised = service.raise_intents(session, later.audit, evaluation.ruleset_version, intents, actor)
        _log(session, later, evaluation, findings, actor)
        log.info("audit %s: history rules run again %s; %d finding(s) and %d action(s) raised "
                 "or kept", later.audit.audit_id, cause, len(findings), len(raised))
        return raised
    return []


def _log(session: Session, later: _Later, evaluation: Evaluation,
         findings: Sequence[model.Finding], actor: Actor) -> None:
    """The decision log: the later audit's last evaluation with the findings it
    gained (cause "history"), so that reading it again explains its new actions.
    Its other findings stay as its own save gave them: only what the change
    touched was run again."""
    audit = later.audit
    take_turn(session, LOG_TURNS, audit.audit_id)  # see "The log turn" above
    stored = session.execute(_LATEST_RESULT, {"audit_id": audit.audit_id,
                                              "revision": audit.revision}).scalar()
    result = _stored_result(stored) if stored is not None else None
    if result is None:  # not saved through the server (seeded), or unreadable: as it is now
        result = convert.audit_evaluation_to_proto(audit, evaluation, [])
    else:
        # A gained finding replaces one the stored evaluation has for the same rule
        # and area (its history can have held it before, and lost it since).
        gained = {(f.rule_id, f.area): f for f in map(convert.finding_to_proto, findings)}
        kept = [f for f in result.findings if (f.rule_id, f.area) not in gained]
        del result.findings[:]
        result.findings.extend([*kept, *gained.values()])
        result.ready_to_complete = result.ready_to_complete and all(
            f.severity != "BLOCKING" for f in findings)
        result.ruleset_version = evaluation.ruleset_version
    session.execute(_LOG_EVALUATION, {
        "audit_id": audit.audit_id, "revision": audit.revision, "cause": "history",
        "input_digest": later.content_digest, "ruleset_version": evaluation.ruleset_version,
        "result": json_format.MessageToJson(result, indent=None), "client": actor.client,
        "created_at": actions.now(), "moderator_id": "",
    })
    metrics.findings_once_stored(session, findings)


def _strictly_earlier(history: AuditHistory, audit: Audit) -> AuditHistory:
    """``history`` without the case's audits of the audit's own day. Such an audit is
    in its history ("earlier" is on or before), yet the one of a same-day pair saved
    second decided on both (GC-16's review is the pair's, once), and its save did not
    run this one again; left in, it would make this audit ask, before the save as
    after, for what it never got, and hide what the save adds. The saved audit is
    never among them: it is dated before every audit run again."""
    return dataclasses.replace(history, earlier_case_audits=tuple(
        e for e in history.earlier_case_audits if e.completed_on != audit.completed_on))


def _stored_result(stored: str) -> audit_pb2.AuditEvaluation | None:
    try:
        return json_format.Parse(stored, audit_pb2.AuditEvaluation())
    except json_format.ParseError:
        return None


def _stored_audit(row: Any) -> Audit | None:
    """A later audit as stored (with its moderated grade); None, with a warning, if
    its record no longer reads (stored by an earlier release under looser checks):
    another audit's data never makes this save fail."""
    try:
        audit = convert.audit_from_proto(json_format.Parse(row.record, audit_pb2.CaseFileAudit()))
    except (json_format.ParseError, convert.InvalidInput):
        log.warning("audit %s: its stored revision %d no longer reads; its history rules were "
                    "not run again", row.audit_id, row.revision)
        return None
    return dataclasses.replace(audit, moderated_grade=row.moderated_grade)


def _concern_areas(audit: Audit) -> set[str]:
    return {a.area for a in audit.areas if a.grade == "DOES_NOT_MEET_GOOD"}


def _reads_the_same(session: Session, stored: Any, saved: Audit) -> bool:
    """Whether other audits' history rules read the same of ``saved`` as of its stored
    head: what the history queries select (the case's earlier audits, the service
    area's concerns)."""
    if stored.status != "COMPLETED":
        return False
    fields = ("case_ref", "service_area", "completed_on", "effective_grade", "strand", "age_band")
    if any(getattr(stored, name) != getattr(saved, name) for name in fields):
        return False
    areas = set(session.execute(_CONCERN_AREAS, {"audit_id": saved.audit_id}).scalars())
    return areas == _concern_areas(saved)
