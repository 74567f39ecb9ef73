"""Pseudonymous demo data (``lenses demo-data --month YYYY-MM``).

Twelve months of audits, placements, inspections, plan ratings and reviews for
three service areas, saved through the same service logic as the API (so the
rules, escalations and counts are real). References are made up (``C-…``,
``sw-…``); no names, no narrative beyond stock phrases. Deterministic.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from google.protobuf import json_format
from sqlalchemy.orm import Session

from engine import RulesEngine
from engine.model import AREAS
from lenses.v1 import action_pb2, audit_pb2, common_pb2, provider_pb2, review_pb2

from . import actions, reviews
from .actions import Actor
from .audits import AuditService
from .migrate import upgrade
from .providers import ProviderService
from .store import Store

SERVICE_AREAS = {
    "Children and Families First": ["CFF East", "CFF West"],
    "Looked After Children": ["LAC North", "LAC South"],
    "Care Leavers": ["Leaving Care"],
}
# How often an area is graded below good, per service area: the themes differ.
WEAKNESSES = {
    "Children and Families First": {"PLANS": 0.35, "ASSESSMENT": 0.25, "REVIEWS": 0.2},
    "Looked After Children": {"PERMANENCE": 0.3, "PLACEMENT": 0.25, "INVOLVEMENT": 0.15},
    "Care Leavers": {"INDEPENDENCE": 0.4, "OUTCOMES": 0.2},
}
AUDITS_PER_MONTH = 14


def _month_end(month: str) -> date:
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, calendar.monthrange(year, number)[1])


def seed(database_url: str, rules_dir: str, month: str) -> dict[str, int]:
    """Fill the database (migrating it first) with data up to the end of ``month``."""
    upgrade(database_url)
    end = _month_end(month)
    start = (end.replace(day=1) - timedelta(days=335)).replace(day=1)
    engine = RulesEngine.from_directory(rules_dir)
    store = Store(database_url)
    rng = random.Random(2016)
    counts = {"audits": 0, "placements": 0, "inspections": 0, "plan ratings": 0, "reviews": 0}
    try:
        _providers(store, engine, rng, start, end, counts)
        _audits(store, engine, rng, start, end, counts)
        _plan_ratings(store, engine, rng, start, end, counts)
        _reviews(store, engine, end, counts)
        sweep_day = end + timedelta(days=4)  # the compendium goes out on the 4th
        store.run(lambda s: actions.sweep(s, engine, sweep_day, Actor("demo", sweep_day),
                                          reviews.sweep_panels(s)))
    finally:
        store.close()
    return counts


def _save(store: Store, method: Callable[[Session, Any, Actor], Any], message: Any, day: date) -> Any:
    """One write through the service logic, as the demo client, on ``day``."""
    actor = Actor("demo", day)
    return store.run(lambda session: method(session, message, actor))


def _audits(store: Store, engine: RulesEngine, rng: random.Random, start: date, end: date,
            counts: dict[str, int]) -> None:
    service = AuditService(engine)
    day = start
    number = 0
    while day <= end:
        for area, teams in SERVICE_AREAS.items():
            for _ in range(AUDITS_PER_MONTH):
                number += 1
                completed = day + timedelta(days=rng.randrange(27))
                message = _audit(rng, number, area, rng.choice(teams), completed)
                evaluation = _save(store, service.submit, message, completed)
                counts["audits"] += 1
                _complete_some(store, evaluation, rng, completed)
        day = (day + timedelta(days=32)).replace(day=1)


def _audit(rng: random.Random, number: int, area: str, team: str, completed: date) -> audit_pb2.CaseFileAudit:
    weak = WEAKNESSES[area]
    areas = []
    for code in AREAS:
        below = rng.random() < weak.get(code, 0.02)
        grade = "DOES_NOT_MEET_GOOD" if below else rng.choice(["MEETS_GOOD"] * 4 + ["EXCEEDS_GOOD"])
        areas.append({"area": f"AREA_{code}", "grade": f"GRADE_{grade}", "evidence": "Evidence seen on file.",
                      "impact": "Impact on the child recorded.",
                      **({"riskTypes": ["RISK_TYPE_NEGLECT"]} if code == "RISK" else {})})
    below_count = sum(1 for a in areas if a["grade"] == "GRADE_DOES_NOT_MEET_GOOD")
    overall = "DOES_NOT_MEET_GOOD" if below_count >= 2 else "MEETS_GOOD"
    body = {
        "auditId": f"AUD-{number:05d}", "revision": "1", "status": "AUDIT_STATUS_COMPLETED",
        "caseRef": f"C-{rng.randrange(100000, 999999)}", "serviceArea": area, "team": team,
        "strand": rng.choice(["STRAND_HELP_AND_PROTECTION", "STRAND_LOOKED_AFTER_AND_PERMANENCE"]),
        "ageBand": rng.choice(["AGE_BAND_1_TO_4", "AGE_BAND_5_TO_9", "AGE_BAND_10_TO_15"]),
        "auditorId": f"tm-{rng.randrange(1, 9)}", "caseHolderId": f"sw-{rng.randrange(1, 40)}",
        "serviceManagerId": f"sm-{list(SERVICE_AREAS).index(area) + 1}", "auditedPreviously": False,
        "completedOn": completed.isoformat(), "lookbackFrom": (completed - timedelta(days=150)).isoformat(),
        "feedbackDiscussed": rng.random() < 0.9, "areas": areas, "overallGrade": f"GRADE_{overall}",
        "agreedActions": [{"description": "Update the plan", "byWhom": "sw-1",
                           "byWhen": (completed + timedelta(days=28)).isoformat()}],
    }
    return json_format.ParseDict(body, audit_pb2.CaseFileAudit())


def _complete_some(store: Store, evaluation: audit_pb2.AuditEvaluation, rng: random.Random,
                   completed: date) -> None:
    """Most corrective actions are confirmed in time; some late; some not yet."""
    for action in evaluation.actions:
        if action.kind != common_pb2.ACTION_KIND_CORRECTIVE_ACTION or rng.random() < 0.15:
            continue
        due = date.fromisoformat(action.due_on)
        done = due - timedelta(days=rng.randrange(1, 20)) if rng.random() < 0.75 else due + timedelta(days=9)
        on = max(done, completed)
        request = action_pb2.CompleteActionRequest(action_id=action.action_id, completed_by="sm-demo",
                                                   completed_on=on.isoformat())
        _save(store, actions.complete, request, on)


def _providers(store: Store, engine: RulesEngine, rng: random.Random, start: date, end: date,
               counts: dict[str, int]) -> None:
    service = ProviderService(engine)
    grades = ["GOOD", "OUTSTANDING", "GOOD", "REQUIRES_IMPROVEMENT", "GOOD", "INADEQUATE"]
    for index, grade in enumerate(grades, start=1):
        provider_id = f"SC{100000 + index}"
        first = provider_pb2.Inspection(
            inspection_id=f"INS-{provider_id}-1", provider_id=provider_id, provider_name=f"Home {index}",
            grade=common_pb2.OfstedGrade.Value("OFSTED_GRADE_GOOD"),
            inspected_on=(start - timedelta(days=200)).isoformat())
        _save(store, service.record_inspection, first, start)
        counts["inspections"] += 1
        for child in range(5):
            placement = provider_pb2.Placement(
                placement_id=f"PL-{provider_id}-{child}", case_ref=f"C-{rng.randrange(100000, 999999)}",
                provider_id=provider_id, start_on=(start + timedelta(days=rng.randrange(200))).isoformat(),
                social_worker_id=f"sw-{rng.randrange(1, 40)}", team_manager_id=f"tm-{rng.randrange(1, 9)}",
                team=rng.choice(["LAC North", "LAC South"]), service_area="Looked After Children",
                checks=provider_pb2.PlacementChecks(
                    ofsted_report=True, regulation_reports=True, la_references=rng.random() < 0.9,
                    insurance=rng.random() < 0.9, statement_of_purpose=True, social_worker_visit=True))
            _save(store, service.record_placement, placement, start)
            counts["placements"] += 1
        if grade != "GOOD":
            published = end - timedelta(days=rng.randrange(20, 120))
            later = provider_pb2.Inspection(
                inspection_id=f"INS-{provider_id}-2", provider_id=provider_id, provider_name=f"Home {index}",
                grade=common_pb2.OfstedGrade.Value(f"OFSTED_GRADE_{grade}"),
                inspected_on=(published - timedelta(days=18)).isoformat(), published_on=published.isoformat())
            _save(store, service.record_inspection, later, published)
            counts["inspections"] += 1


def _plan_ratings(store: Store, engine: RulesEngine, rng: random.Random, start: date, end: date,
                  counts: dict[str, int]) -> None:
    service = ProviderService(engine)
    for number in range(180):
        area = rng.choice(list(SERVICE_AREAS))
        rated = start + timedelta(days=rng.randrange((end - start).days))
        rating = audit_pb2.PlanRating(
            rating_id=f"RAG-{number:05d}", case_ref=f"C-{rng.randrange(100000, 999999)}",
            plan_type=rng.choice([common_pb2.PLAN_TYPE_CARE_PLAN, common_pb2.PLAN_TYPE_CP_PLAN]),
            rating=rng.choice([common_pb2.RAG_RATING_GREEN] * 6 + [common_pb2.RAG_RATING_AMBER] * 3
                              + [common_pb2.RAG_RATING_RED]),
            rated_on=rated.isoformat(), rated_by=f"iro-{rng.randrange(1, 5)}",
            team=rng.choice(SERVICE_AREAS[area]), service_area=area,
            team_manager_id=f"tm-{rng.randrange(1, 9)}")
        _save(store, service.record_plan_rating, rating, rated)
        counts["plan ratings"] += 1


def _reviews(store: Store, engine: RulesEngine, end: date, counts: dict[str, int]) -> None:
    service = reviews.ReviewService(engine)
    profiles = {
        "Children and Families First": {"WORKLOADS": "REQUIRES_IMPROVEMENT", "CASE_FILE_AUDITS": "GOOD"},
        "Looked After Children": {"PROVIDER_PERFORMANCE": "GOOD", "PLACEMENT_SUFFICIENCY": "INADEQUATE",
                                  "CHILD_FEEDBACK": "OUTSTANDING"},
    }
    period_end = (end.replace(day=1) - timedelta(days=1))
    period_start = (period_end - timedelta(days=182)).replace(day=1)
    for area, profile in profiles.items():
        judgements = []
        for lens, codes in engine.ruleset.catalogue.items():
            for code in codes:
                grade = profile.get(code, "GOOD")
                actions_needed = grade in ("REQUIRES_IMPROVEMENT", "INADEQUATE")
                judgements.append(review_pb2.ReviewJudgement(
                    lens=common_pb2.Lens.Value(f"LENS_{lens}"), judgement_area=code,
                    comments="Position and pressure points.", evidence="Compendium and dashboard.",
                    grade=common_pb2.OfstedGrade.Value(f"OFSTED_GRADE_{grade}"),
                    actions=[review_pb2.ReviewAction(description=f"Improve {code.lower()}",
                                                     owner_id="hos-1",
                                                     due_on=(end + timedelta(days=90)).isoformat())]
                    if actions_needed else []))
        review = review_pb2.ServiceReview(
            review_id=f"SPR-{area[:3].upper()}-{period_end:%Y%m}", revision=1, service_area=area,
            period_start=period_start.isoformat(), period_end=period_end.isoformat(),
            panel_on=(period_end + timedelta(days=10)).isoformat(), judgements=judgements)
        _save(store, service.submit, review, end)
        counts["reviews"] += 1
