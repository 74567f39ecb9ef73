"""Audit saves: store the revision, gather history, evaluate, apply escalations.

One save is one transaction: the revision, its evaluation (the decision log)
and its actions are stored together or not at all. Evaluation happens inside
the transaction, before it commits, so a crash in the rules engine leaves
nothing half-written.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from google.protobuf import json_format
from sqlalchemy import (
    Date,
    Row,
    Table,
    TextClause,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from engine import history as summaries
from engine.evaluate import RulesEngine
from engine.model import (
    AT_LEAST_GOOD,
    ActionIntent,
    Audit,
    AuditHistory,
    Calibration,
    ConcernCase,
    EarlierAudit,
    Evaluation,
)
from lenses.v1 import action_pb2, audit_pb2

from . import actions, convert, late, metrics
from .actions import Actor
from .db import Action, AreaDay, AuditArea, AuditConcern, AuditHead, AuditorDay, AuditRevision
from .db import Evaluation as EvaluationRow
from .errors import Conflict, NotFound, StaleRevision
from .late import LaterAudits
from .store import AREA_TURNS, CASE_TURNS, at_commit, take_turn, takes_turns

# The statements of a save, built once: building and hashing a statement costs
# SQLAlchemy more than SQLite takes to run it on an index.
_HEADS = cast(Table, AuditHead.__table__)
_REVISIONS = cast(Table, AuditRevision.__table__)
_EVALUATIONS = cast(Table, EvaluationRow.__table__)
_CONCERNS = cast(Table, AuditConcern.__table__)
_AREAS = cast(Table, AuditArea.__table__)
_AREA_DAY_TABLE = cast(Table, AreaDay.__table__)
_AUDITOR_DAY_TABLE = cast(Table, AuditorDay.__table__)
_ACTIONS = cast(Table, Action.__table__)

# An audit's head: a database row, or the ORM object (``lenses replay``).
Head = Row[Any] | AuditHead

_HEAD = select(_HEADS).where(_HEADS.c.audit_id == bindparam("audit_id"))
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
# PostgreSQL: saves that read the same history take turns, with transaction-scoped
# advisory locks on the service area (ES-03, GC-18), then on the case (GC-16), always
# in that order (``store.take_turn``). At READ COMMITTED a save sees only what has
# committed, so two overlapping saves of one area each missed the other (a third
# concern in the window, and no deep dive). SQLite already has one writer at a time.
_UPDATE_HEAD = update(_HEADS).where(_HEADS.c.audit_id == bindparam("head_id"))
_STORED_DIGEST = select(_REVISIONS.c.content_digest).where(
    _REVISIONS.c.audit_id == bindparam("audit_id"), _REVISIONS.c.revision == bindparam("revision"))
_LOG_EVALUATION = insert(_EVALUATIONS).returning(_EVALUATIONS.c.id)
_DELETE_CONCERNS = delete(_CONCERNS).where(_CONCERNS.c.audit_id == bindparam("audit_id"))
_DELETE_AREAS = delete(_AREAS).where(_AREAS.c.audit_id == bindparam("audit_id"))

_EARLIER_CASE_AUDITS = (
    select(_HEADS.c.audit_id, _HEADS.c.completed_on, _HEADS.c.effective_grade)
    .where(_HEADS.c.case_ref == bindparam("case_ref"), _HEADS.c.audit_id != bindparam("audit_id"),
           _HEADS.c.status == "COMPLETED", _HEADS.c.completed_on <= bindparam("completed_on"))
    .order_by(_HEADS.c.completed_on, _HEADS.c.audit_id)
)
_CONCERNS_IN_WINDOW = select(_CONCERNS).where(
    _CONCERNS.c.service_area == bindparam("service_area"),
    _CONCERNS.c.area.in_(bindparam("areas", expanding=True)),
    _CONCERNS.c.completed_on >= bindparam("start"), _CONCERNS.c.completed_on <= bindparam("end"),
    _CONCERNS.c.audit_id != bindparam("audit_id"),
)


def _window_counts(table: Table, scope: str, *match: Any) -> Any:
    """The audits and good ones on the window's days: one primary-key range scan."""
    return select(literal(scope).label("scope"), func.coalesce(func.sum(table.c.audits), 0),
                  func.coalesce(func.sum(table.c.good), 0)).where(
        *match, table.c.completed_on.between(bindparam("start"), bindparam("end")))


# GC-18's day counts in one round trip: the service area's, then the auditor's.
_CALIBRATION_COUNTS = union_all(
    _window_counts(_AREA_DAY_TABLE, "area", _AREA_DAY_TABLE.c.service_area == bindparam("service_area")),
    _window_counts(_AUDITOR_DAY_TABLE, "auditor",
                   _AUDITOR_DAY_TABLE.c.service_area == bindparam("service_area"),
                   _AUDITOR_DAY_TABLE.c.auditor_id == bindparam("auditor_id")),
)

# The open actions an audit's evaluation must know of, in one round trip: the
# service area's deep dives (ES-03) and the auditor's calibration review (GC-18).
# Deep dives are open as of this audit's completion, not as of the save: a completed
# one counts if it was completed after that date (it was open then), or raised for
# that date (the audit that raised it, and the others of its day, found it) or a
# later one (in date order this audit would have raised it, and that later one found
# it open). So an audit saved late opens no second one. (late.first_day_uncovered
# is the same boundary.)
_OPEN_HISTORY_ACTIONS = union_all(
    select(_ACTIONS.c.kind, _ACTIONS.c.dedupe_key).where(  # indexed (kind, status, service_area)
        _ACTIONS.c.kind == "DEEP_DIVE_AUDIT", _ACTIONS.c.service_area == bindparam("service_area"),
        or_(_ACTIONS.c.status == actions.OPEN,
            (_ACTIONS.c.status == actions.COMPLETED)
            & or_(_ACTIONS.c.origin_on >= bindparam("completed_on"),
                  _ACTIONS.c.completed_on > bindparam("completed_on")))),
    select(_ACTIONS.c.kind, _ACTIONS.c.dedupe_key).where(  # indexed (kind, status, subject_id)
        _ACTIONS.c.kind == "MODERATION_REVIEW", _ACTIONS.c.status == actions.OPEN,
        _ACTIONS.c.rule_id == "GC-18", _ACTIONS.c.subject_id == bindparam("auditor_id")),
)

# Actions an audit's own evaluation raises about that audit: withdrawn when a
# later revision or a moderation no longer asks for them.
AUDIT_SCOPED_RULES = ("ES-01", "GC-16")


def digest(message: audit_pb2.CaseFileAudit) -> str:
    """A digest of the audit exactly as submitted (narrative included)."""
    return hashlib.sha256(message.SerializeToString(deterministic=True)).hexdigest()


def redact(message: audit_pb2.CaseFileAudit) -> audit_pb2.CaseFileAudit:
    """The audit with narrative text replaced by as many placeholder words, so the
    stored record can be re-evaluated (blank / word counts) but holds no narrative."""
    copy = audit_pb2.CaseFileAudit()
    copy.CopyFrom(message)
    copy.lookback_reason = _placeholder(copy.lookback_reason)
    for area in copy.areas:
        area.evidence = _placeholder(area.evidence)
        area.impact = _placeholder(area.impact)
        area.not_applicable_reason = _placeholder(area.not_applicable_reason)
    for action in copy.agreed_actions:
        action.description = _placeholder(action.description)
    return copy


def _placeholder(text: str) -> str:
    return " ".join(["w"] * len(text.split()))


@dataclass(frozen=True)
class Submission:
    """A validated audit ready to save: what ``AuditService.prepare`` returns."""

    audit: Audit
    content_digest: str  # of the audit exactly as submitted
    record: str  # what is stored (narrative redacted unless configured); "" for a dry run


class AuditService:
    """The logic behind AuditService's RPCs (transport-free)."""

    def __init__(self, engine: RulesEngine, store_narrative: bool = False) -> None:
        self.engine = engine
        self.store_narrative = store_narrative

    # ----------------------------------------------------------- submit

    def prepare(self, message: audit_pb2.CaseFileAudit, dry_run: bool = False) -> Submission:
        """The part of a save that needs no database (validation, digest, the record
        to store), so that it runs before the save waits for its turn to write."""
        audit = convert.audit_from_proto(message)
        record = ""
        if not dry_run:
            stored_message = message if self.store_narrative else redact(message)
            record = json_format.MessageToJson(stored_message, indent=None)
        return Submission(audit, digest(message), record)

    def submit(self, session: Session, message: audit_pb2.CaseFileAudit | Submission, actor: Actor,
               dry_run: bool = False) -> audit_pb2.AuditEvaluation:
        """SubmitAudit (or EvaluateAudit with ``dry_run``), from the request or from
        what ``prepare`` made of it."""
        submission = message if isinstance(message, Submission) else self.prepare(message, dry_run)
        audit, content = submission.audit, submission.content_digest
        head = (self._head(session, audit.audit_id, lock=False) if dry_run
                else self._turns_then_head(session, audit.audit_id, joining=audit))
        if head is not None and not dry_run:
            # Revisions are saved in order and the head is the highest, so only a
            # revision at or below the head's can already be stored.
            stored = (self._stored_digest(session, audit.audit_id, audit.revision)
                      if audit.revision <= head.revision else None)
            if stored is not None:
                if stored != content:
                    raise Conflict(f"audit {audit.audit_id} revision {audit.revision} was already "
                                   "saved with different content")
                return self._replay(session, audit.audit_id, audit.revision, actor.today)
            if head.revision > audit.revision:
                raise StaleRevision(f"audit {audit.audit_id} is at revision {head.revision}; "
                                    f"revision {audit.revision} is stale")
        audit = dataclasses.replace(audit, moderated_grade=head.moderated_grade if head else None)
        evaluation = self.engine.evaluate_audit(audit, self.gather_history(session, audit, head))
        if dry_run:
            return self._dry_result(session, audit, evaluation, actor.today)
        # Unique (audit_id, revision): a racing twin fails here, and the save is retried.
        session.execute(insert(_REVISIONS), {
            "audit_id": audit.audit_id, "revision": audit.revision, "status": audit.status,
            "content_digest": content, "record": submission.record,
            "client": actor.client, "created_at": actions.now(),
        })
        return self._commit_evaluation(session, head, audit, evaluation, content, "submit", actor)

    def _commit_evaluation(self, session: Session, head: Head | None, audit: Audit,
                           evaluation: Evaluation, content: str, cause: str,
                           actor: Actor, moderator_id: str = "") -> audit_pb2.AuditEvaluation:
        # Read before this save writes anything: the later audits' history as it was.
        later = LaterAudits.find(self, session, audit, head)
        result = convert.audit_evaluation_to_proto(audit, evaluation, [])
        evaluation_id = session.execute(_LOG_EVALUATION, {
            "audit_id": audit.audit_id, "revision": audit.revision, "cause": cause,
            "input_digest": content, "ruleset_version": evaluation.ruleset_version,
            "result": json_format.MessageToJson(result, indent=None), "client": actor.client,
            "created_at": actions.now(), "moderator_id": moderator_id,
        }).scalar_one()
        self._save_head(session, head, audit, evaluation_id)
        metrics.findings_once_stored(session, evaluation.findings)
        if audit.completed:
            self._escalate(session, head, audit, evaluation, actor)
        # After this audit's own actions: in date order it comes first.
        later.run(self, session, actor)
        # A first save of an audit that asks for no action has none (its actions can
        # only come from its own evaluations): no need to look.
        if head is not None or (audit.completed and evaluation.actions):
            result.actions.extend(actions.to_proto(r, actor.today)
                                  for r in actions.for_audit(session, audit.audit_id))
        # Every save of a service area on one day updates the same day-count rows:
        # updated at commit (``at_commit``), their row locks are never waited for.
        # (So a transaction holds one save: a second would not see the first's counts.)
        changes = [(_contribution(head), -1) if head is not None else (None, 0),
                   (_contribution(audit), +1)]
        if any(counted is not None for counted, _ in changes):
            at_commit(session, lambda s: _count(s, changes))
        return result

    def _escalate(self, session: Session, head: Head | None, audit: Audit, evaluation: Evaluation,
                  actor: Actor) -> None:
        kept = self.raise_intents(session, audit, evaluation.ruleset_version, evaluation.actions, actor)
        if head is None:
            return  # a first save: no earlier revision raised anything to withdraw
        if audit.effective_grade is None:
            # rules.md ES-01: the corrective action is withdrawn when the grade is lifted
            # to at least good. A completed revision with its grade cleared (GC-01 blocks
            # it) lifts nothing, so it withdraws nothing; the next graded save decides.
            return
        keep_ids = {row.action_id for row in kept}
        reason = (f"revision {audit.revision}: effective grade "
                  f"{audit.effective_grade} no longer calls for it")
        # Locked (PostgreSQL): an action being completed meanwhile is withdrawn only if
        # it is still open once that completion has committed, and is not completed after.
        for row in session.scalars(select(Action).where(
                Action.audit_id == audit.audit_id, Action.status == actions.OPEN,
                Action.rule_id.in_(AUDIT_SCOPED_RULES)).with_for_update()).all():
            if row.action_id not in keep_ids:
                actions.withdraw(session, row, reason, actor)

    def raise_intents(self, session: Session, audit: Audit, ruleset_version: str,
                      intents: Sequence[ActionIntent], actor: Actor) -> list[Action]:
        """Raise a completed audit's action intents: its own actions (ES-01, GC-16) once
        per key, the others (ES-03, GC-18) while none is open under their key. The
        actions it keeps or creates."""
        assert audit.completed_on is not None
        scoped = [i for i in intents if i.rule_id in AUDIT_SCOPED_RULES]
        others = [i for i in intents if i.rule_id not in AUDIT_SCOPED_RULES]
        kept = actions.apply_intents(session, scoped, ruleset_version, audit.completed_on, actor,
                                     once_per_key=True)
        return kept + actions.apply_intents(session, others, ruleset_version, audit.completed_on,
                                            actor)

    # ---------------------------------------------------------- actions

    def complete_action(self, session: Session, request: action_pb2.CompleteActionRequest,
                        actor: Actor) -> Action:
        """CompleteAction. A deep dive's completion runs ES-03 again for the audits it
        no longer covers that were saved while it was open (``late.after_deep_dive_completed``):
        in date order they found none open. On PostgreSQL it first takes the history
        turns of its service area and of those audits' cases, as a save takes its own:
        turns before rows, and no write that reads or runs those audits again runs
        meanwhile."""
        reruns: list[Any] = []

        def take_turns(unlocked: Action, completed_on: date) -> None:
            if unlocked.kind != "DEEP_DIVE_AUDIT":
                return
            turns = takes_turns(session)
            # The area's turn first: the audits to run again are read once no write can
            # add one (a save joining the area takes its turn too), then their cases'.
            if turns:
                _take_turns(session, {unlocked.service_area}, set())
            reruns.extend(late.deep_dive_reruns(session, unlocked, completed_on))
            if turns:
                _take_turns(session, set(), {r.case_ref for r in reruns})

        def completed(row: Action) -> None:
            if row.kind == "DEEP_DIVE_AUDIT":
                session.flush()  # the history queries are Core statements: no autoflush
                late.after_deep_dive_completed(self, session, row, reruns, actor)

        return actions.complete(session, request, actor, first=take_turns, then=completed)

    # ------------------------------------------------------------ state

    @staticmethod
    def _head(session: Session, audit_id: str, lock: bool = True) -> Head | None:
        """The audit's head row; locked (PostgreSQL) when the save will change it."""
        return session.execute(_HEAD_FOR_UPDATE if lock else _HEAD, {"audit_id": audit_id}).first()

    @staticmethod
    def _stored_digest(session: Session, audit_id: str, revision: int) -> str | None:
        return session.execute(_STORED_DIGEST, {"audit_id": audit_id, "revision": revision}).scalar()

    def _save_head(self, session: Session, head: Head | None, audit: Audit,
                   evaluation_id: int) -> None:
        """Update the head read (and locked) at the start, or INSERT a new one: never
        re-read it, or a head a racing writer committed meanwhile would be overwritten
        without the stale check (the INSERT fails instead, and the save is retried)."""
        values = {
            "revision": audit.revision, "status": audit.status, "case_ref": audit.case_ref,
            "service_area": audit.service_area, "team": audit.team, "auditor_id": audit.auditor_id,
            "strand": audit.strand, "age_band": audit.age_band, "completed_on": audit.completed_on,
            "overall_grade": audit.overall_grade, "moderated_grade": audit.moderated_grade,
            "effective_grade": audit.effective_grade, "evaluation_id": evaluation_id,
        }
        if head is None:
            session.execute(insert(_HEADS), {"audit_id": audit.audit_id, **values})
        else:
            session.execute(_UPDATE_HEAD, {"head_id": audit.audit_id, **values})
            session.execute(_DELETE_CONCERNS, {"audit_id": audit.audit_id})
            session.execute(_DELETE_AREAS, {"audit_id": audit.audit_id})
        if not audit.completed or audit.completed_on is None:
            return
        common = {"audit_id": audit.audit_id, "service_area": audit.service_area,
                  "completed_on": audit.completed_on}
        concerns = [{**common, "area": area.area, "case_ref": audit.case_ref,
                     "strand": audit.strand, "age_band": audit.age_band}
                    for area in audit.areas if area.grade == "DOES_NOT_MEET_GOOD"]
        if concerns:
            session.execute(insert(_CONCERNS), concerns)
        graded = [{**common, "team": audit.team, "area": area.area, "grade": area.grade}
                  for area in audit.areas]
        if graded:
            session.execute(insert(_AREAS), graded)

    def _replay(self, session: Session, audit_id: str, revision: int,
                today: date) -> audit_pb2.AuditEvaluation:
        """The same revision again: the evaluation it has now, and nothing changes."""
        row = session.scalar(select(EvaluationRow).where(
            EvaluationRow.audit_id == audit_id, EvaluationRow.revision == revision)
            .order_by(EvaluationRow.id.desc()).limit(1))
        assert row is not None
        result = json_format.Parse(row.result, audit_pb2.AuditEvaluation())
        result.actions.extend(actions.to_proto(r, today) for r in actions.for_audit(session, audit_id))
        return result

    def _dry_result(self, session: Session, audit: Audit, evaluation: Evaluation,
                    today: date) -> audit_pb2.AuditEvaluation:
        """What a save would return; actions it would create have no id, open ones
        it would keep are shown as the save would leave them (``actions.follow``),
        both with ``overdue`` as of ``today`` (as the save would show them), and one
        it would not raise again (completed under the same key) is left out."""
        proposed = []
        if audit.completed and evaluation.actions:
            known = actions.open_rows_by_keys(session, [i.dedupe_key for i in evaluation.actions])
            # As ``_escalate``: an audit's own action completed under the same key is
            # not raised again, so a save would create none.
            once = [i.dedupe_key for i in evaluation.actions
                    if i.rule_id in AUDIT_SCOPED_RULES and i.dedupe_key not in known]
            done = actions.completed_keys(session, once) if once else set()
            for intent in evaluation.actions:
                existing = known.get(intent.dedupe_key)
                if existing is None and intent.dedupe_key in done:
                    continue
                proposed.append(
                    actions.followed_proto(existing, intent, today) if existing is not None
                    else convert.intent_to_proto(intent, evaluation.ruleset_version, today)
                )
        return convert.audit_evaluation_to_proto(audit, evaluation, proposed)

    # ---------------------------------------------------------- history

    def gather_history(self, session: Session, audit: Audit,
                       head: Head | None = None) -> AuditHistory:
        """GC-16/17/18 and ES-03 inputs through indexed, windowed queries
        (the same meaning as ``engine.history.summarise``). The statements are
        built once (module level): building and hashing one costs more than
        running it on an index."""
        if not audit.completed or audit.completed_on is None:
            return AuditHistory()
        params = self.engine.params
        deep_dive_areas, review_open = self._open_actions(session, audit)
        return AuditHistory(
            earlier_case_audits=self._earlier_case_audits(session, audit),
            concerns=self._concerns(session, audit, params),
            calibration=self._calibration(session, audit, params, head),
            open_deep_dive_areas=deep_dive_areas,
            calibration_review_open=review_open,
        )

    @staticmethod
    def _earlier_case_audits(session: Session, audit: Audit) -> tuple[EarlierAudit, ...]:
        rows = session.execute(_EARLIER_CASE_AUDITS, {
            "case_ref": audit.case_ref, "audit_id": audit.audit_id,
            "completed_on": audit.completed_on})
        return tuple(EarlierAudit(r.audit_id, r.completed_on, r.effective_grade) for r in rows)

    @staticmethod
    def _concerns(session: Session, audit: Audit, params: object) -> dict[str, tuple[ConcernCase, ...]]:
        areas = [a.area for a in audit.areas if a.grade == "DOES_NOT_MEET_GOOD"]
        if not areas:
            return {}
        assert audit.completed_on is not None
        start, end = summaries.deep_dive_window(audit.completed_on, params)  # type: ignore[arg-type]
        rows = session.execute(_CONCERNS_IN_WINDOW, {
            "service_area": audit.service_area, "areas": areas, "start": start, "end": end,
            "audit_id": audit.audit_id})
        concerns: dict[str, list[ConcernCase]] = {}
        for r in rows:
            concerns.setdefault(r.area, []).append(
                ConcernCase(r.audit_id, r.case_ref, r.completed_on, r.strand, r.age_band))
        return {area: tuple(cases) for area, cases in concerns.items()}

    @staticmethod
    def _calibration(session: Session, audit: Audit, params: object,
                     head: Head | None) -> Calibration:
        """Day counts over the window (bounded by its length, not by the history),
        less this audit's own stored revision."""
        assert audit.completed_on is not None
        start, end = summaries.calibration_window(audit.completed_on, params)  # type: ignore[arg-type]
        counts = {scope: (total, good) for scope, total, good in session.execute(_CALIBRATION_COUNTS, {
            "service_area": audit.service_area, "auditor_id": audit.auditor_id,
            "start": start, "end": end})}
        (area_total, area_good), (mine_total, mine_good) = counts["area"], counts["auditor"]
        stored = _contribution(head) if head is not None else None
        if stored and stored.service_area == audit.service_area and start <= stored.completed_on <= end:
            area_total, area_good = area_total - 1, area_good - stored.good
            if stored.auditor_id == audit.auditor_id:
                mine_total, mine_good = mine_total - 1, mine_good - stored.good
        return Calibration(int(mine_total), int(mine_good),
                           int(area_total - mine_total), int(area_good - mine_good))

    @staticmethod
    def _open_actions(session: Session, audit: Audit) -> tuple[frozenset[str], bool]:
        """The areas with an open deep dive in the audit's service area (the key
        names the area; see ``_OPEN_HISTORY_ACTIONS``), and whether its auditor
        has an open calibration review."""
        rows = session.execute(_OPEN_HISTORY_ACTIONS, {
            "service_area": audit.service_area, "auditor_id": audit.auditor_id,
            "completed_on": audit.completed_on}).all()
        areas = frozenset(late.deep_dive_area(key) for kind, key in rows if kind == "DEEP_DIVE_AUDIT")
        return areas, any(kind == "MODERATION_REVIEW" for kind, _ in rows)

    # --------------------------------------------------- get / moderate

    def get(self, session: Session, audit_id: str, today: date) -> audit_pb2.GetAuditResponse:
        """The latest revision and its evaluation."""
        head = session.get(AuditHead, audit_id)
        if head is None:
            raise NotFound(f"no audit {audit_id!r}")
        record = self._stored_record(session, audit_id, head.revision)
        return audit_pb2.GetAuditResponse(audit=record,
                                          evaluation=self._replay(session, audit_id, head.revision, today))

    @staticmethod
    def _stored_record(session: Session, audit_id: str, revision: int) -> audit_pb2.CaseFileAudit:
        row = session.scalar(select(AuditRevision.record).where(
            AuditRevision.audit_id == audit_id, AuditRevision.revision == revision))
        assert row is not None
        return json_format.Parse(row, audit_pb2.CaseFileAudit())

    def moderate(self, session: Session, request: audit_pb2.ModerateAuditRequest,
                 actor: Actor) -> audit_pb2.AuditEvaluation:
        """MO-01: record the moderated grade and re-run escalations on it."""
        check = convert.Checker()
        check.ident("audit_id", request.audit_id, required=True)
        check.ident("moderator_id", request.moderator_id, required=True)
        grade = check.enum("moderated_grade", convert.GRADE, request.moderated_grade, required=True)
        if grade == "NOT_APPLICABLE":
            check.add("moderated_grade", "an overall grade cannot be not applicable")
        check.text("note", request.note, limit=convert.MAX_TEXT)
        check.done()
        head = self._turns_then_head(session, request.audit_id)
        if head is None:
            raise NotFound(f"no audit {request.audit_id!r}")
        record = self._stored_record(session, head.audit_id, head.revision)
        audit = dataclasses.replace(convert.audit_from_proto(record), moderated_grade=grade)
        if not audit.completed:
            raise StaleRevision(f"audit {audit.audit_id} is a draft; only completed audits are moderated")
        evaluation = self.engine.evaluate_audit(audit, self.gather_history(session, audit, head))
        # The note is not stored: free text about a child's case (narrative), and no
        # response carries it back.
        return self._commit_evaluation(session, head, audit, evaluation, digest(record), "moderate",
                                       actor, moderator_id=request.moderator_id)


    def _turns_then_head(self, session: Session, audit_id: str,
                         joining: Audit | None = None) -> Head | None:
        """The audit's head, locked (PostgreSQL) once the history turns of what the
        write changes are taken: the history the audit leaves (its stored head) and
        the one it joins (``joining``). Every writer takes turns, then rows, in one
        order (``_take_history_turns``): a save run late holds its turns while it runs
        later audits again (``late.py``), and a save of one of those that moves it
        elsewhere takes the turn of the history it leaves, so it waits for that save.
        A head revised between the unlocked read and the lock is read again; the
        turns taken for it are released (a savepoint)."""
        if not takes_turns(session):
            return self._head(session, audit_id)  # SQLite: one writer at a time
        while True:
            stored = self._head(session, audit_id, lock=False)
            turn = session.begin_nested()
            _take_history_turns(session, [r for r in (stored, joining) if r is not None])
            locked = self._head(session, audit_id)
            if _revision(locked) == _revision(stored):
                turn.commit()
                return locked
            turn.rollback()


def _revision(head: Head | None) -> int | None:
    return head.revision if head is not None else None


def _take_history_turns(session: Session, records: list[Audit | Head]) -> None:
    """Wait (PostgreSQL) until no other write reading or changing these records'
    histories is in flight; held until this transaction ends. Areas then cases, each
    in sorted order, so two writers never wait on each other's turns. Drafts are in
    no history."""
    completed = [r for r in records if r.status == "COMPLETED"]
    _take_turns(session, {r.service_area for r in completed}, {r.case_ref for r in completed})


def _take_turns(session: Session, service_areas: set[str], case_refs: set[str]) -> None:
    """The history turns of these service areas, then of these cases, each in sorted
    order (PostgreSQL; see ``_take_history_turns``)."""
    for space, keys in ((AREA_TURNS, service_areas), (CASE_TURNS, case_refs)):
        for key in sorted(keys):
            take_turn(session, space, key)


@dataclass(frozen=True)
class _Counted:
    service_area: str
    auditor_id: str
    completed_on: date
    good: int


def _contribution(record: Audit | Head) -> _Counted | None:
    """What a completed audit adds to the calibration day counts (None for drafts)."""
    if record.status != "COMPLETED" or record.completed_on is None:
        return None
    return _Counted(record.service_area, record.auditor_id, record.completed_on,
                    int(record.overall_grade in AT_LEAST_GOOD))


def _count(session: Session, changes: list[tuple[_Counted | None, int]]) -> None:
    """Remove and add audits to the area's and the auditor's day counts. Rows are
    always locked in one order (table, then key), so two saves never deadlock."""
    deltas = [
        {"service_area": c.service_area, "auditor_id": c.auditor_id, "completed_on": c.completed_on,
         "audits": sign, "good": sign * c.good}
        for c, sign in changes if c is not None
    ]
    for statement, key in ((_ADD_AREA_DAY, ("service_area", "completed_on")),
                           (_ADD_AUDITOR_DAY, ("service_area", "auditor_id", "completed_on"))):
        for values in sorted(deltas, key=lambda v: tuple(v[k] for k in key)):
            session.execute(statement, values)


def _upsert_counts(table: str, key: tuple[str, ...]) -> TextClause:
    """INSERT .. ON CONFLICT DO UPDATE adding to the day's counts. Written as SQL
    because SQLite and PostgreSQL spell it alike, and SQLAlchemy's own upsert
    construct is not cacheable (it would be compiled again on every save)."""
    columns = (*key, "audits", "good")
    return text(
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(':' + c for c in columns)}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        f"audits = {table}.audits + excluded.audits, good = {table}.good + excluded.good"
    ).bindparams(bindparam("completed_on", type_=Date()))


_ADD_AREA_DAY = _upsert_counts(AreaDay.__tablename__, ("service_area", "completed_on"))
_ADD_AUDITOR_DAY = _upsert_counts(AuditorDay.__tablename__, ("service_area", "auditor_id", "completed_on"))

