"""Provider monitoring: inspections, placements and plan ratings (ES-04..ES-08).

Each call is one transaction and idempotent on its id: the same id and
content again returns the stored response and changes nothing; the same id
with other content is ALREADY_EXISTS (except a placement's ``end_on``, which
a later call may set to end it).

Writes about one provider take its lock first (PostgreSQL; SQLite has one writer at
a time), so each call sees the other's rows: an inadequate inspection and a
placement recorded at once end as one or the other order would (ES-04 or ES-05).

The rules decide on dates, not on the order calls arrive in: a placement recorded
after an inspection whose rating date it spans gets what ES-04 gives the children
placed then; an inspection recorded after a placement that started since (before
the provider's next rating) raises what ES-05 raises on the new grade (and brings an open
exception raised on the old grade up to it), and after the provider's next
inspection, what ES-07 raises on it with this grade before it. Only what is new is
raised (once per key); nothing is withdrawn. A child placed on the
rating date itself gets both ES-04's visit and decision and ES-05's exception, in
either order. (Two inspections of one provider rated the same day are still ordered
by id, so ES-07 between them depends on which was recorded first.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Collection, Iterable
from datetime import date

from google.protobuf import json_format
from google.protobuf.message import Message
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine import model
from engine.evaluate import RulesEngine
from engine.model import Evaluation
from lenses.v1 import audit_pb2, common_pb2, provider_pb2

from . import actions, convert, metrics
from .actions import Actor
from .db import Action, Inspection, Placement, PlanRating, Provider, Record
from .errors import Conflict, NotFound
from .late import difference
from .store import PROVIDER_TURNS, take_turn


def _digest(message: Message) -> str:
    return hashlib.sha256(message.SerializeToString(deterministic=True)).hexdigest()


def _stored(session: Session, kind: str, record_id: str, content: str) -> Record | None:
    """The earlier response for this id, if any; other content is a conflict."""
    record = session.get(Record, (kind, record_id))
    if record is not None and record.content_digest != content:
        raise Conflict(f"{kind} {record_id} was already recorded with different content")
    return record


def _respond(session: Session, record: Record, response: Message, today: date) -> Message:
    """Fill ``{findings, actions}`` from a stored record (actions as they are now)."""
    response.findings.extend(  # type: ignore[attr-defined]
        json_format.ParseDict(f, common_pb2.Finding()) for f in json.loads(record.findings))
    ids = json.loads(record.action_ids)
    rows = {r.action_id: r for r in session.scalars(select(Action).where(Action.action_id.in_(ids)))}
    response.actions.extend(actions.to_proto(rows[i], today) for i in ids)  # type: ignore[attr-defined]
    return response


def _record(session: Session, kind: str, record_id: str, content: str, evaluation: Evaluation,
            rows: Iterable[Action], actor: Actor) -> Record:
    record = Record(
        kind=kind, record_id=record_id, content_digest=content,
        ruleset_version=evaluation.ruleset_version,
        findings=json.dumps([json_format.MessageToDict(convert.finding_to_proto(f))
                             for f in evaluation.findings]),
        action_ids=json.dumps([r.action_id for r in rows]), client=actor.client,
        created_at=actions.now(),
    )
    session.add(record)
    session.flush()  # primary key (kind, id): a racing twin fails here and is retried
    metrics.findings_once_stored(session, evaluation.findings)
    return record


def _lock_provider(session: Session, provider_id: str) -> None:
    """Wait for any other transaction writing about this provider, until this one ends.

    Taken before anything the rules read is read: at READ COMMITTED each later
    statement then sees what the previous holder committed. A hash collision only
    makes two providers' writes wait for each other. (SQLite serialises writers.)
    """
    take_turn(session, PROVIDER_TURNS, provider_id)


def _ensure_provider(session: Session, provider_id: str, name: str = "",
                     latest: bool = True) -> Provider:
    """The provider's row, created if new. ``name`` replaces its name when it comes from
    its latest inspection (``latest``), or when it has none yet."""
    provider = session.get(Provider, provider_id)
    if provider is None:
        provider = Provider(provider_id=provider_id, provider_name=name)
        session.add(provider)
        session.flush()
    elif name and provider.provider_name != name and (latest or not provider.provider_name):
        provider.provider_name = name
    return provider


def latest_grade(session: Session, provider_id: str, on: date,
                 excluding: Collection[str] = ()) -> str | None:
    """The provider's latest grade rated on or before ``on`` (None if never inspected),
    leaving out the inspections ``excluding``."""
    query = select(Inspection.grade).where(Inspection.provider_id == provider_id,
                                           Inspection.rated_on <= on)
    if excluding:
        query = query.where(Inspection.inspection_id.not_in(sorted(excluding)))
    return session.scalar(
        query.order_by(Inspection.rated_on.desc(), Inspection.inspection_id.desc()).limit(1))


def _inspection_model(row: Inspection, provider_name: str) -> model.Inspection:
    return model.Inspection(
        inspection_id=row.inspection_id, provider_id=row.provider_id, grade=row.grade,
        inspected_on=row.inspected_on, published_on=row.published_on, provider_name=provider_name,
    )


@dataclasses.dataclass
class _Late:
    """What an earlier record's rules raise once a later call supplies the fact they
    lacked (a placement or an inspection recorded out of date order): the findings and
    actions its evaluation with the new fact gives beyond its evaluation without it."""

    findings: list[model.Finding] = dataclasses.field(default_factory=list)
    # Actions to raise, by the date their timescale starts from (the record's own date).
    intents: dict[date, list[model.ActionIntent]] = dataclasses.field(default_factory=dict)

    def add(self, without: Evaluation, with_new: Evaluation, origin_on: date,
            changed_too: bool = False) -> None:
        findings, intents = difference(without, with_new)
        if changed_too:
            # What the new fact changes in what was raised already is said too, and the
            # open action follows it (``apply_intents``): ES-05's exception for a child
            # placed after an inadequate rating recorded late names INADEQUATE, not the
            # grade before, for the head of service who approves the placement.
            raised = {intent.dedupe_key: intent for intent in without.actions}
            intents += [intent for intent in with_new.actions
                        if intent.dedupe_key in raised and intent != raised[intent.dedupe_key]]
            findings += [finding for finding in with_new.findings
                         if finding not in without.findings and finding not in findings]
        self.findings += findings
        self.intents.setdefault(origin_on, []).extend(intents)

    def raise_actions(self, session: Session, ruleset_version: str, actor: Actor) -> list[Action]:
        """Create the new actions: one batch per origin date (an inspection can reach
        hundreds of placements), never one raised again under a key already used."""
        return [row for origin_on, intents in sorted(self.intents.items())
                for row in actions.apply_intents(session, intents, ruleset_version,
                                                 origin_on, actor, once_per_key=True)]


def _checks_done(row: Placement) -> set[str]:
    """The names of the pre-placement checks a stored placement had."""
    return set(filter(None, row.checks.split(",")))


def _placement_model(row: Placement) -> model.Placement:
    done = _checks_done(row)
    return model.Placement(
        placement_id=row.placement_id, case_ref=row.case_ref, provider_id=row.provider_id,
        start_on=row.start_on, end_on=row.end_on, social_worker_id=row.social_worker_id,
        team_manager_id=row.team_manager_id, team=row.team, service_area=row.service_area,
        checks=model.PlacementChecks(**{name: name in done for name in model.PLACEMENT_CHECKS}),
    )


def active_placements(session: Session, provider_id: str, on: date) -> list[Placement]:
    """Children placed with the provider on ``on`` (the end date is exclusive)."""
    return list(session.scalars(select(Placement).where(
        Placement.provider_id == provider_id, Placement.start_on <= on,
        or_(Placement.end_on.is_(None), Placement.end_on > on),
    ).order_by(Placement.placement_id)))


class ProviderService:
    """The logic behind ProviderService and RecordPlanRating (transport-free)."""

    def __init__(self, engine: RulesEngine) -> None:
        self.engine = engine

    def record_inspection(self, session: Session, message: provider_pb2.Inspection,
                          actor: Actor) -> provider_pb2.RecordInspectionResponse:
        """ES-04 and ES-07; idempotent on ``inspection_id``."""
        inspection = convert.inspection_from_proto(message)
        content = _digest(message)
        response = provider_pb2.RecordInspectionResponse()
        _lock_provider(session, inspection.provider_id)
        stored = _stored(session, "inspection", inspection.inspection_id, content)
        if stored is not None:
            return _respond(session, stored, response, actor.today)  # type: ignore[return-value]
        next_rated = session.scalar(select(func.min(Inspection.rated_on)).where(
            Inspection.provider_id == inspection.provider_id,
            Inspection.rated_on > inspection.rated_on))
        # The provider's name as its latest inspection gives it: an older one recorded
        # late does not bring back a name it has since changed (it names one with none).
        _ensure_provider(session, inspection.provider_id, inspection.provider_name,
                         latest=next_rated is None)
        data = model.InspectionInput(
            inspection=inspection,
            previous_grade=latest_grade(session, inspection.provider_id, inspection.rated_on),
            placements=tuple(_placement_model(p) for p in
                             active_placements(session, inspection.provider_id, inspection.rated_on)),
        )
        evaluation = self.engine.evaluate_inspection(data)
        session.add(Inspection(
            inspection_id=inspection.inspection_id, provider_id=inspection.provider_id,
            grade=inspection.grade, inspected_on=inspection.inspected_on,
            published_on=inspection.published_on, rated_on=inspection.rated_on,
        ))
        rows = actions.apply_intents(session, evaluation.actions, evaluation.ruleset_version,
                                     inspection.rated_on, actor)
        late = _Late()
        self._placements_started_since(session, inspection, next_rated, late)
        self._inspections_next(session, inspection, next_rated, late)
        late_rows = late.raise_actions(session, evaluation.ruleset_version, actor)
        evaluation = dataclasses.replace(evaluation, findings=(*evaluation.findings, *late.findings))
        record = _record(session, "inspection", inspection.inspection_id, content, evaluation,
                         [*rows, *late_rows], actor)
        return _respond(session, record, response, actor.today)  # type: ignore[return-value]

    def _placements_started_since(self, session: Session, inspection: model.Inspection,
                                  next_rated: date | None, late: _Late) -> None:
        """ES-05 decides on "the provider's latest grade on the start date". A placement
        recorded before this inspection, which it is the latest grade for (it started on
        or after the rating date and before the provider's next one), was decided on the
        grade before it: what the new latest grade raises that the old one did not (an
        exception for a child placed after an inadequate rating the service had not yet
        been told of) is raised now, as in date order; an open exception raised on the
        old grade is brought up to the new one. Nothing is withdrawn.

        A child placed on the rating date itself gets both ES-05's exception (the grade
        counts from that day) and ES-04's visit and decision (placed there on that
        date), whichever of the two was recorded first."""
        conditions = [Placement.provider_id == inspection.provider_id,
                      Placement.start_on >= inspection.rated_on]
        if next_rated is not None:
            conditions.append(Placement.start_on < next_rated)
        placements = session.scalars(select(Placement).where(*conditions).order_by(
            Placement.start_on, Placement.placement_id)).all()
        if not placements:
            return
        # No inspection is rated between this one and their start dates: the grade on
        # each start date is the grade on this rating date, without and with this one.
        before = latest_grade(session, inspection.provider_id, inspection.rated_on,
                              {inspection.inspection_id})
        after = latest_grade(session, inspection.provider_id, inspection.rated_on)
        if before == after:
            return
        for row in placements:
            placement = _placement_model(row)
            late.add(self.engine.evaluate_placement(model.PlacementInput(placement, before)),
                     self.engine.evaluate_placement(model.PlacementInput(placement, after)),
                     row.start_on, changed_too=True)

    def _inspections_next(self, session: Session, inspection: model.Inspection,
                          next_rated: date | None, late: _Late) -> None:
        """ES-07 decides on the grade before an inspection. The provider's next one (rated
        after this one), if it was recorded first, was decided without this one: what it
        raises with this grade before it that it did not raise (a decline from GOOD to
        REQUIRES_IMPROVEMENT) is raised now, as in date order. Nothing is withdrawn."""
        if next_rated is None:
            return
        following = session.scalars(select(Inspection).where(
            Inspection.provider_id == inspection.provider_id, Inspection.rated_on == next_rated,
        ).order_by(Inspection.inspection_id)).all()
        provider = session.get(Provider, inspection.provider_id)
        for row in following:
            # Its previous grade as record_inspection reads it, without and with this one.
            before = latest_grade(session, row.provider_id, row.rated_on,
                                  {row.inspection_id, inspection.inspection_id})
            after = latest_grade(session, row.provider_id, row.rated_on, {row.inspection_id})
            if before == after:
                continue
            rated = _inspection_model(row, provider.provider_name if provider else "")
            late.add(self.engine.evaluate_inspection(model.InspectionInput(rated, before)),
                     self.engine.evaluate_inspection(model.InspectionInput(rated, after)),
                     row.rated_on)

    def record_placement(self, session: Session, message: provider_pb2.Placement,
                         actor: Actor) -> provider_pb2.RecordPlacementResponse:
        """ES-05 and ES-06; idempotent on ``placement_id``; a later ``end_on`` ends it."""
        placement = convert.placement_from_proto(message)
        response = provider_pb2.RecordPlacementResponse()
        started = provider_pb2.Placement()
        started.CopyFrom(message)
        started.end_on = ""  # the placement as it started: what its evaluation depends on
        _lock_provider(session, placement.provider_id)
        stored = _stored(session, "placement", placement.placement_id, _digest(started))
        if stored is not None:
            self._end(session, placement, actor)
            return _respond(session, stored, response, actor.today)  # type: ignore[return-value]
        _ensure_provider(session, placement.provider_id)
        grade = latest_grade(session, placement.provider_id, placement.start_on)
        evaluation = self.engine.evaluate_placement(model.PlacementInput(placement, grade))
        session.add(Placement(
            placement_id=placement.placement_id, case_ref=placement.case_ref,
            provider_id=placement.provider_id, start_on=placement.start_on,
            end_on=placement.end_on, social_worker_id=placement.social_worker_id,
            team_manager_id=placement.team_manager_id, team=placement.team,
            service_area=placement.service_area,
            checks=",".join(n for n in model.PLACEMENT_CHECKS if getattr(placement.checks, n)),
            ended_by=actor.client if placement.end_on else "",
        ))
        rows = actions.apply_intents(session, evaluation.actions, evaluation.ruleset_version,
                                     placement.start_on, actor)
        late = _Late()
        self._ratings_placed_through(session, placement, late)
        late_rows = late.raise_actions(session, evaluation.ruleset_version, actor)
        evaluation = dataclasses.replace(evaluation, findings=(*evaluation.findings, *late.findings))
        record = _record(session, "placement", placement.placement_id, _digest(started),
                         evaluation, [*rows, *late_rows], actor)
        return _respond(session, record, response, actor.today)  # type: ignore[return-value]

    def _ratings_placed_through(self, session: Session, placement: model.Placement,
                                late: _Late) -> None:
        """ES-04 acts for "every child placed there on that date". A placement recorded
        after an inspection whose rating date it spans (started on or before it, not
        ended by it) was not among the children then: what the inspection raises for
        this child (the visit and the decision) is raised now, as in date order."""
        conditions = [Inspection.provider_id == placement.provider_id,
                      Inspection.rated_on >= placement.start_on]
        if placement.end_on is not None:
            conditions.append(Inspection.rated_on < placement.end_on)
        ratings = session.scalars(select(Inspection).where(*conditions).order_by(
            Inspection.rated_on, Inspection.inspection_id)).all()
        provider = session.get(Provider, placement.provider_id)
        for row in ratings:
            rated = _inspection_model(row, provider.provider_name if provider else "")
            previous = latest_grade(session, row.provider_id, row.rated_on, {row.inspection_id})
            late.add(self.engine.evaluate_inspection(model.InspectionInput(rated, previous)),
                     self.engine.evaluate_inspection(
                         model.InspectionInput(rated, previous, (placement,))),
                     row.rated_on)

    @staticmethod
    def _end(session: Session, placement: model.Placement, actor: Actor) -> None:
        # Locked and read afresh: two calls ending it at once see each other (the provider
        # lock already serialises them; this holds even without it).
        row = session.get(Placement, placement.placement_id, with_for_update=True,
                          populate_existing=True)
        assert row is not None
        if placement.end_on is None or row.end_on == placement.end_on:
            return
        if row.end_on is not None:
            raise Conflict(f"placement {placement.placement_id} already ended on {row.end_on}")
        row.end_on, row.ended_by = placement.end_on, actor.client

    def record_plan_rating(self, session: Session, message: audit_pb2.PlanRating,
                           actor: Actor) -> audit_pb2.RecordPlanRatingResponse:
        """ES-08 (the response to a red plan); idempotent on ``rating_id``."""
        rating = convert.plan_rating_from_proto(message)
        content = _digest(message)
        response = audit_pb2.RecordPlanRatingResponse()
        stored = _stored(session, "plan_rating", rating.rating_id, content)
        if stored is not None:
            return _respond(session, stored, response, actor.today)  # type: ignore[return-value]
        evaluation = self.engine.evaluate_plan_rating(rating)
        session.add(PlanRating(
            rating_id=rating.rating_id, case_ref=rating.case_ref, plan_type=rating.plan_type,
            rating=rating.rating, rated_on=rating.rated_on, rated_by=rating.rated_by,
            team=rating.team, service_area=rating.service_area,
        ))
        rows = actions.apply_intents(session, evaluation.actions, evaluation.ruleset_version,
                                     rating.rated_on, actor)
        record = _record(session, "plan_rating", rating.rating_id, content, evaluation, rows, actor)
        return _respond(session, record, response, actor.today)  # type: ignore[return-value]

    def get_provider(self, session: Session, provider_id: str, today: date) -> provider_pb2.Provider:
        """Latest grade and date, children placed now, open actions."""
        provider = session.get(Provider, provider_id)
        if provider is None:
            raise NotFound(f"no provider {provider_id!r}")
        latest = session.scalar(
            select(Inspection).where(Inspection.provider_id == provider_id)
            .order_by(Inspection.rated_on.desc(), Inspection.inspection_id.desc()).limit(1))
        open_actions = session.scalars(select(Action).where(
            Action.provider_id == provider_id, Action.status == actions.OPEN,
        ).order_by(Action.due_on, Action.action_id))
        result = provider_pb2.Provider(
            provider_id=provider_id, provider_name=provider.provider_name,
            active_placements=[placement_to_proto(p) for p in
                               active_placements(session, provider_id, today)],
            open_actions=[actions.to_proto(a, today) for a in open_actions],
        )
        if latest is not None:
            result.latest_grade = convert.enum_number(convert.OFSTED_GRADE, latest.grade)  # type: ignore[assignment]
            result.latest_inspected_on = latest.inspected_on.isoformat()
            result.latest_published_on = latest.published_on.isoformat() if latest.published_on else ""
        return result


def placement_to_proto(row: Placement) -> provider_pb2.Placement:
    """A stored placement as the API's ``Placement``."""
    done = _checks_done(row)
    return provider_pb2.Placement(
        placement_id=row.placement_id, case_ref=row.case_ref, provider_id=row.provider_id,
        start_on=row.start_on.isoformat(), end_on=row.end_on.isoformat() if row.end_on else "",
        social_worker_id=row.social_worker_id, team_manager_id=row.team_manager_id,
        team=row.team, service_area=row.service_area,
        checks=provider_pb2.PlacementChecks(**{n: n in done for n in model.PLACEMENT_CHECKS}),
    )
