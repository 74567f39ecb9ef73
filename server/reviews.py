"""Service performance reviews (lens scoring, LS-01..LS-08) and the evidence for
their panels: lens indicators and the monthly compendium.

Indicators are counted in SQL over indexed ranges of the period; each count's
meaning is written next to it.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from google.protobuf import json_format
from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from engine import model
from engine.evaluate import RulesEngine
from engine.model import AREAS, AT_LEAST_GOOD
from lenses.v1 import review_pb2

from . import actions, convert, metrics
from .actions import Actor
from .clock import ENGLAND
from .db import (
    Action,
    ActionEvent,
    AuditArea,
    AuditHead,
    Inspection,
    Placement,
    PlanRating,
    ReviewHead,
    ReviewRevision,
)
from .errors import Conflict, StaleRevision

GOOD_PROVIDER = ("GOOD", "OUTSTANDING")


def _digest(message: review_pb2.ServiceReview) -> str:
    return hashlib.sha256(message.SerializeToString(deterministic=True)).hexdigest()


class ReviewService:
    """The logic behind ReviewService's RPCs (transport-free)."""

    def __init__(self, engine: RulesEngine) -> None:
        self.engine = engine

    # ---------------------------------------------------------- reviews

    def submit(self, session: Session, message: review_pb2.ServiceReview, actor: Actor,
               dry_run: bool = False) -> review_pb2.ReviewScore:
        """SubmitReview (or ScoreReview with ``dry_run``): revisions as audits."""
        check = convert.Checker()
        review = convert.read_review(message, "review", check)
        # An unknown or repeated judgement area is a field violation like any other.
        convert.add_review_area_problems(self.engine.review_area_problems(review), "review", check)
        if not dry_run:
            # Saved once the panel is held (a dry run may score a review ahead of it): a
            # panel still ahead would close the overdue reminder and hold off LS-08 until then.
            check.not_after_today("review.panel_on", review.panel_on, actor.today,
                                  "a review is submitted once its panel has been held")
        check.done()
        data = model.ReviewInput(review, review_evidence(session, review))
        content = _digest(message)
        if not dry_run:
            head = session.scalar(select(ReviewHead).where(ReviewHead.review_id == review.review_id)
                                  .with_for_update())
            stored = session.scalar(select(ReviewRevision).where(
                ReviewRevision.review_id == review.review_id, ReviewRevision.revision == review.revision))
            if stored is not None:
                if stored.content_digest != content:
                    raise Conflict(f"review {review.review_id} revision {review.revision} was already "
                                   "saved with different content")
                return self._with_actions(session, stored.result, review.review_id, actor.today)
            if head is not None and head.revision > review.revision:
                raise StaleRevision(f"review {review.review_id} is at revision {head.revision}; "
                                    f"revision {review.revision} is stale")
        evaluation = self.engine.evaluate_review(data)
        score = convert.review_score_to_proto(review, evaluation, [])
        if dry_run:
            # ``overdue`` as of today, as a save would show them (api.md: "else today").
            score.actions.extend(convert.intent_to_proto(i, evaluation.ruleset_version, actor.today)
                                 for i in evaluation.actions)
            return score
        result = json_format.MessageToJson(score, indent=None)
        revision = ReviewRevision(
            review_id=review.review_id, revision=review.revision, content_digest=content,
            record=json_format.MessageToJson(message, indent=None), result=result,
            client=actor.client, created_at=actions.now())
        session.add(revision)
        session.flush()  # unique (review_id, revision): a racing twin fails here
        metrics.findings_once_stored(session, evaluation.findings)
        left = head.service_area if head is not None and head.service_area != review.service_area else None
        self._save_head(session, head, review, revision.id)
        self._apply_actions(session, review, evaluation, actor)
        if left is not None:  # the review was filed under another area: its reminders too
            self._withdraw_stale_reminders(session, left, review.review_id, actor)
        return self._with_actions(session, result, review.review_id, actor.today)

    @staticmethod
    def _save_head(session: Session, head: ReviewHead | None, review: model.ServiceReview,
                   revision_id: int) -> None:
        if head is None:  # inserted, never re-read: a racing first save fails and retries
            head = ReviewHead(review_id=review.review_id)
            session.add(head)
        head.revision, head.service_area = review.revision, review.service_area
        head.period_start, head.period_end = review.period_start, review.period_end
        head.panel_on, head.revision_id = review.panel_on, revision_id

    def _apply_actions(self, session: Session, review: model.ServiceReview,
                       evaluation: model.Evaluation, actor: Actor) -> None:
        """LS-07: one REVIEW_ACTION per identified action; a later revision that drops
        an action withdraws it; resubmitting creates no duplicates. LS-08: a panel
        withdraws the open reminders of its service area for earlier panels. An action
        completed under the same key is not raised again (LS-07: "resubmitting the
        review creates no duplicates"); it stays listed, completed."""
        kept = actions.apply_intents(session, evaluation.actions, evaluation.ruleset_version,
                                     review.panel_on or review.period_end, actor, once_per_key=True)
        keep = {row.action_id for row in kept}
        ids = [row.action_id for row in _review_actions(session, review.review_id)
               if row.action_id not in keep]
        # Locked, and only those still open (PostgreSQL re-checks the status once a
        # racing completion has committed): a completed action is never withdrawn.
        for row in _locked_open(session, Action.action_id.in_(ids)) if ids else ():
            actions.withdraw(session, row, f"revision {review.revision} of the review dropped it",
                             actor)
        self._withdraw_stale_reminders(session, review.service_area, review.review_id, actor)

    @staticmethod
    def _withdraw_stale_reminders(session: Session, area: str, review_id: str, actor: Actor) -> None:
        """LS-08: a reminder is for its service area's latest panel. Once a review of the
        area is saved (or moved away from it), an open SERVICE_REVIEW_DUE of the area for
        another panel is withdrawn: an earlier one (a panel was held since), or one no
        stored review of the area records any more (a revision moved its panel date or
        its area): while open it would stop the sweep reminding for the right one."""
        latest = session.scalar(select(func.max(ReviewHead.panel_on)).where(
            ReviewHead.service_area == area))
        for row in _locked_open(session, Action.rule_id == "LS-08",
                                Action.kind == "SERVICE_REVIEW_DUE", Action.service_area == area):
            reminded = _reminder_panel(row.dedupe_key)
            if latest is None:
                reason = f"no review of {area} records a panel any more (review {review_id})"
            elif reminded is None or reminded < latest:
                reason = f"the review panel of {area} was held on {latest.isoformat()} (review {review_id})"
            elif reminded > latest:
                reason = (f"no review of {area} records a panel on {reminded.isoformat()} any more "
                          f"(review {review_id}); the latest is on {latest.isoformat()}")
            else:
                continue  # the reminder for the latest panel
            actions.withdraw(session, row, reason, actor)

    def _with_actions(self, session: Session, result: str, review_id: str,
                      today: date) -> review_pb2.ReviewScore:
        score = json_format.Parse(result, review_pb2.ReviewScore())
        score.actions.extend(actions.to_proto(r, today) for r in _review_actions(session, review_id))
        return score

    # ------------------------------------------------------- indicators

    def indicators(self, session: Session, request: review_pb2.GetLensIndicatorsRequest,
                   today: date) -> review_pb2.LensIndicators:
        """GetLensIndicators: the panel's evidence for a service area and period."""
        check = convert.Checker()
        area = check.ident("service_area", request.service_area, required=True)
        start = check.date("period_start", request.period_start, required=True)
        end = check.date("period_end", request.period_end, required=True)
        if start and end and end < start:
            check.add("period_end", "is before period_start")
        check.done()
        assert start is not None and end is not None
        return lens_indicators(session, area, start, end, today)

    def compendium(self, session: Session, request: review_pb2.GetCompendiumRequest,
                   today: date) -> review_pb2.Compendium:
        """GetCompendium: the month's indicators per service area and team, and themes."""
        check = convert.Checker()
        start, end = month_bounds(request.month, check)
        area = check.ident("service_area", request.service_area)
        check.done()
        assert start is not None and end is not None
        return compendium(session, request.month, start, end, area, today)


REVIEW_ACTION_PREFIX = "LS-07:REVIEW_ACTION:"


def _review_actions(session: Session, review_id: str) -> list[Action]:
    """LS-07's actions of exactly this review. Their keys are
    ``LS-07:REVIEW_ACTION:{review_id}:{lens}:{judgement_area}:{digest}`` (formerly
    ``...:{index}``): the last three parts never hold a ":", so the review id is
    what comes before them. A prefix match alone would take review ``X:Y``'s for ``X``'s."""
    prefix = f"{REVIEW_ACTION_PREFIX}{review_id}:"
    rows = session.scalars(select(Action).where(
        Action.rule_id == "LS-07", Action.subject_type == "SERVICE_AREA",
        func.substr(Action.dedupe_key, 1, len(prefix)) == prefix,
    ).order_by(Action.due_on, Action.action_id)).all()
    return [row for row in rows if row.dedupe_key[len(prefix):].count(":") == 2]


def _locked_open(session: Session, *conditions: ColumnElement[bool]) -> Sequence[Action]:
    """The open actions matching ``conditions``, row-locked until the transaction ends
    (PostgreSQL) and read as committed: one completed meanwhile is not returned."""
    return session.scalars(select(Action).where(Action.status == actions.OPEN, *conditions)
                           .order_by(Action.action_id).with_for_update()
                           .execution_options(populate_existing=True)).all()


def _reminder_panel(dedupe_key: str) -> date | None:
    """The panel an LS-08 reminder is for: its key ends ``:{panel_on}``. None for a
    reminder keyed by service area alone (before one reminder per panel)."""
    last = dedupe_key.rsplit(":", 1)[-1]
    if not _ISO_DATE.fullmatch(last):
        return None
    try:
        return date.fromisoformat(last)
    except ValueError:
        return None


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def month_bounds(month: str, check: convert.Checker) -> tuple[date | None, date | None]:
    """The first and last day of ``YYYY-MM`` (exactly that form, in the supported range)."""
    bounds = check.month("month", month)
    return bounds if bounds is not None else (None, None)


# ----------------------------------------------------------- the counts


def review_evidence(session: Session, review: model.ServiceReview) -> model.ReviewEvidence:
    """LS-05 and LS-06's evidence (the same meaning as ``engine.history.review_evidence``)."""
    audits = session.execute(select(
        func.count(), func.count().filter(AuditHead.effective_grade.in_(sorted(AT_LEAST_GOOD))),
    ).where(*_audits_in(review.service_area, review.period_start, review.period_end, ""))).one()
    children, _ = _placements_at(session, review.service_area, "", review.period_end)
    return model.ReviewEvidence(
        audits_completed=int(audits[0]), audits_good_or_better=int(audits[1]),
        inadequate_provider_placements=sum(1 for grade in children.values() if grade == "INADEQUATE"),
    )


def _audits_in(area: str, start: date, end: date, team: str) -> list[ColumnElement[bool]]:
    conditions = [AuditHead.service_area == area, AuditHead.status == "COMPLETED",
                  AuditHead.completed_on.between(start, end)]
    return conditions + ([AuditHead.team == team] if team else [])


def _placements_at(session: Session, area: str, team: str,
                   day: date) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """Placements of the area active on ``day`` -> their provider's latest grade on
    ``day``, and those providers -> that grade."""
    query = select(Placement.placement_id, Placement.provider_id).where(
        Placement.service_area == area, Placement.start_on <= day,
        or_(Placement.end_on.is_(None), Placement.end_on > day))
    if team:
        query = query.where(Placement.team == team)
    placements = session.execute(query).all()
    providers = {provider: _grade_on(session, provider, day) for _, provider in placements}
    return {placement: providers[provider] for placement, provider in placements}, providers


def _grade_on(session: Session, provider_id: str, day: date) -> str | None:
    return session.scalar(select(Inspection.grade).where(
        Inspection.provider_id == provider_id, Inspection.rated_on <= day,
    ).order_by(Inspection.rated_on.desc(), Inspection.inspection_id.desc()).limit(1))


def lens_indicators(session: Session, area: str, start: date, end: date, today: date,
                    team: str = "") -> review_pb2.LensIndicators:
    """Every indicator of ``LensIndicators`` for a service area (and team) and period."""
    result = review_pb2.LensIndicators(service_area=area, period_start=start.isoformat(),
                                       period_end=end.isoformat())
    _audit_indicators(session, result, area, start, end, team)
    _action_indicators(session, result, area, start, end, team, today)
    _plan_and_placement_indicators(session, result, area, start, end, team, today)
    return result


def _audit_indicators(session: Session, result: review_pb2.LensIndicators, area: str, start: date,
                      end: date, team: str) -> None:
    """Audits completed in the period (latest revisions), the share whose effective grade
    is at least good, grade counts per audit area, the three areas most often below good."""
    total, good = session.execute(select(
        func.count(), func.count().filter(AuditHead.effective_grade.in_(sorted(AT_LEAST_GOOD))),
    ).where(*_audits_in(area, start, end, team))).one()
    result.audits_completed = int(total)
    result.audits_good_or_better_share = round(good / total, 4) if total else 0.0
    query = select(AuditArea.area, AuditArea.grade, func.count()).where(
        AuditArea.service_area == area, AuditArea.completed_on.between(start, end))
    if team:
        query = query.where(AuditArea.team == team)
    counts: dict[str, Counter[str]] = {}
    for code, grade, number in session.execute(query.group_by(AuditArea.area, AuditArea.grade)):
        counts.setdefault(code, Counter())[grade or ""] += number
    for code in AREAS:
        grades = counts.get(code, Counter())
        result.area_grade_counts.add(
            area=convert.enum_number(convert.AREA, code), exceeds_good=grades["EXCEEDS_GOOD"],  # type: ignore[arg-type]
            meets_good=grades["MEETS_GOOD"], does_not_meet_good=grades["DOES_NOT_MEET_GOOD"],
            not_applicable=grades["NOT_APPLICABLE"])
    below = sorted((-counts[c]["DOES_NOT_MEET_GOOD"], AREAS.index(c), c) for c in counts
                   if counts[c]["DOES_NOT_MEET_GOOD"])
    result.top_areas_below_good.extend(convert.enum_number(convert.AREA, c) for _, _, c in below[:3])  # type: ignore[misc]


def _action_indicators(session: Session, result: review_pb2.LensIndicators, area: str, start: date,
                       end: date, team: str, today: date) -> None:
    """Corrective actions due in the period (not withdrawn): completed on or before their
    due date ("on time"), or not ("overdue": still open past the due date, or late);
    deep dives of the area (and team) open at the period's end."""
    mine = _actions_of(area, team)
    due = [Action.kind == "CORRECTIVE_ACTION", Action.status != actions.WITHDRAWN,
           Action.due_on.between(start, end), *mine]
    on_time = and_(Action.status == actions.COMPLETED, Action.completed_on <= Action.due_on)
    overdue = or_(and_(Action.status == actions.OPEN, Action.due_on < today),
                  and_(Action.status == actions.COMPLETED, Action.completed_on > Action.due_on))
    counts = session.execute(select(func.count(), func.count().filter(on_time),
                                    func.count().filter(overdue)).where(*due)).one()
    result.corrective_actions_due, result.corrective_actions_completed_on_time = counts[0], counts[1]
    result.corrective_actions_overdue = counts[2]
    result.open_deep_dives = session.scalar(select(func.count()).select_from(Action).where(
        Action.kind == "DEEP_DIVE_AUDIT", _open_at(end, today), *mine)) or 0


def _actions_of(area: str, team: str) -> list[ColumnElement[bool]]:
    """Actions of the service area (and of the team, for a team's figures)."""
    return [Action.service_area == area] + ([Action.team == team] if team else [])


def _open_at(day: date, today: date) -> ColumnElement[bool]:
    """Every "open" figure: the action was open at the end of ``day`` - created on or
    before it, and neither completed (``completed_on``) nor withdrawn (its WITHDRAWN
    event) by then. For a day not yet past (today or later), that is open now."""
    if day >= today:
        return Action.status == actions.OPEN
    # The end of ``day`` in England (the council's day, as ``created_on`` and "today"
    # are), as the UTC instant events are stored in: 23:00 UTC in summer time.
    after = datetime.combine(day + timedelta(days=1), time(), tzinfo=ENGLAND).astimezone(UTC)
    withdrawn_later = exists().where(ActionEvent.action_id == Action.action_id,
                                     ActionEvent.type == actions.WITHDRAWN,
                                     ActionEvent.occurred_at >= after)
    return and_(Action.created_on <= day, or_(
        Action.status == actions.OPEN,
        and_(Action.status == actions.COMPLETED, Action.completed_on > day),
        and_(Action.status == actions.WITHDRAWN, withdrawn_later)))


def _plan_and_placement_indicators(session: Session, result: review_pb2.LensIndicators, area: str,
                                   start: date, end: date, team: str, today: date) -> None:
    """Plan RAG ratings in the period; children placed at the period's end, the share
    with a provider graded good or outstanding then, providers inadequate then, and
    the actions about those providers open then: the area's (the team's) own and those
    about a provider as a whole."""
    query = select(PlanRating.rating, func.count()).where(
        PlanRating.service_area == area, PlanRating.rated_on.between(start, end))
    if team:
        query = query.where(PlanRating.team == team)
    ratings: dict[str, int] = {rating: int(n) for rating, n in
                               session.execute(query.group_by(PlanRating.rating))}
    result.plan_ratings_red = ratings.get("RED", 0)
    result.plan_ratings_amber = ratings.get("AMBER", 0)
    result.plan_ratings_green = ratings.get("GREEN", 0)
    children, providers = _placements_at(session, area, team, end)
    result.active_placements = len(children)
    good = sum(1 for grade in children.values() if grade in GOOD_PROVIDER)
    result.placements_good_or_outstanding_share = round(good / len(children), 4) if children else 0.0
    inadequate = sorted(p for p, g in providers.items() if g == "INADEQUATE")
    result.providers_inadequate = len(inadequate)
    if providers:
        # The area's own (or, for a team, the team's), and those about a provider as a
        # whole (its action plan, a monitoring visit: no service area), not other areas'
        # nor those about a child no service area placed (a placement's own, also with
        # no service area).
        as_a_whole = and_(Action.service_area == "", Action.subject_type == "PROVIDER")
        whose = _actions_of(area, team) if team else [or_(Action.service_area == area, as_a_whole)]
        result.open_provider_actions = session.scalar(select(func.count()).select_from(Action).where(
            Action.provider_id.in_(sorted(providers)), _open_at(end, today), *whose)) or 0


def compendium(session: Session, month: str, start: date, end: date, only_area: str,
               today: date) -> review_pb2.Compendium:
    """Indicators per service area and team for the month, and the QA Matters themes."""
    result = review_pb2.Compendium(month=month)
    themes: Counter[str] = Counter()
    for area in _active_areas(session, start, end, only_area, today):
        indicators = lens_indicators(session, area, start, end, today)
        entry = result.service_areas.add(service_area=area, indicators=indicators)
        for team in _teams(session, area, start, end, today):
            entry.teams.add(team=team, indicators=lens_indicators(session, area, start, end, today, team))
        for counts in indicators.area_grade_counts:
            themes[convert.short_name(convert.AREA, convert.AREA.values_by_number[counts.area].name)] \
                += counts.does_not_meet_good
    for code, number in sorted(themes.items(), key=lambda item: (-item[1], AREAS.index(item[0]))):
        if number:
            result.themes.add(area=convert.enum_number(convert.AREA, code), below_good_count=number)  # type: ignore[arg-type]
    return result


def _active_areas(session: Session, start: date, end: date, only_area: str, today: date) -> list[str]:
    """Service areas with audits, actions, ratings, placements or reviews (or one area)."""
    if only_area:
        return [only_area]
    areas = _with_data(session, start, end, today, "")
    areas.update(session.scalars(select(ReviewHead.service_area).distinct()))
    return sorted(areas)


def _teams(session: Session, area: str, start: date, end: date, today: date) -> list[str]:
    """The area's teams with something to count in the period (the same sources as
    the areas): audits, actions due, plan ratings, deep dives open at the end, placements."""
    return sorted(_with_data(session, start, end, today, area))


def _with_data(session: Session, start: date, end: date, today: date, area: str) -> set[str]:
    """Without ``area``: the service areas with something the indicators count - audits
    completed, corrective actions due (not withdrawn) or plan ratings in the period,
    deep dives open or children placed at its end. With it: that area's teams with any
    of those. (A draft, or an action of another kind due in the period, is not counted,
    so it lists no team: it had given rows of zeros.)"""
    sources = [
        (AuditHead.service_area, AuditHead.team, and_(
            AuditHead.status == "COMPLETED", AuditHead.completed_on.between(start, end))),
        (Action.service_area, Action.team, or_(
            and_(Action.kind == "CORRECTIVE_ACTION", Action.status != actions.WITHDRAWN,
                 Action.due_on.between(start, end)),
            and_(Action.kind == "DEEP_DIVE_AUDIT", _open_at(end, today)))),
        (PlanRating.service_area, PlanRating.team, PlanRating.rated_on.between(start, end)),
        (Placement.service_area, Placement.team, and_(
            Placement.start_on <= end, or_(Placement.end_on.is_(None), Placement.end_on > end))),
    ]
    found: set[str] = set()
    for area_column, team_column, condition in sources:
        query = (select(team_column).where(area_column == area, condition) if area
                 else select(area_column).where(condition))
        found.update(session.scalars(query.distinct()))
    return {value for value in found if value}


def latest_panels(session: Session) -> list[tuple[str, date]]:
    """Each service area's latest review panel date (LS-08)."""
    rows = session.execute(select(ReviewHead.service_area, func.max(ReviewHead.panel_on)).where(
        ReviewHead.panel_on.is_not(None)).group_by(ReviewHead.service_area)).all()
    return [(area, panel) for area, panel in rows]


def sweep_panels(session: Session) -> list[model.ServiceAreaPanel]:
    """LS-08's input: each area's latest panel, and whether a reminder is already open."""
    reminded = set(session.scalars(select(Action.service_area).where(
        Action.kind == "SERVICE_REVIEW_DUE", Action.status == actions.OPEN)))
    return [model.ServiceAreaPanel(area, panel, area in reminded)
            for area, panel in latest_panels(session)]


def latest_lens_scores(session: Session) -> dict[str, tuple[str, dict[str, float]]]:
    """Service area -> (panel date, lens -> score) of its latest review with a panel."""
    found: dict[str, tuple[str, dict[str, float]]] = {}
    for area, panel in latest_panels(session):
        result = session.scalar(select(ReviewRevision.result).join(
            ReviewHead, ReviewHead.revision_id == ReviewRevision.id).where(
            ReviewHead.service_area == area, ReviewHead.panel_on == panel).limit(1))
        if result is None:
            continue
        score = json_format.Parse(result, review_pb2.ReviewScore())
        found[area] = (panel.isoformat(), {
            convert.short_name(convert.LENS, convert.LENS.values_by_number[s.lens].name): s.score
            for s in score.lens_scores if s.judgement})
    return found


def on_time_series(session: Session, last_month_end: date, months: int = 12,
                   area: str = "") -> list[tuple[str, int, int]]:
    """For each of the ``months`` months up to ``last_month_end``: (YYYY-MM, corrective
    actions due that month (not withdrawn), of which completed on or before their due date)."""
    series = []
    year, month = last_month_end.year, last_month_end.month
    for back in range(months - 1, -1, -1):
        index = year * 12 + month - 1 - back
        start = date(index // 12, index % 12 + 1, 1)
        end = date(start.year, start.month, calendar.monthrange(start.year, start.month)[1])
        query = select(func.count(), func.count().filter(and_(
            Action.status == actions.COMPLETED, Action.completed_on <= Action.due_on))).where(
            Action.kind == "CORRECTIVE_ACTION", Action.status != actions.WITHDRAWN,
            Action.due_on.between(start, end))
        if area:
            query = query.where(Action.service_area == area)
        due, on_time = session.execute(query).one()
        series.append((f"{start:%Y-%m}", int(due), int(on_time)))
    return series
