"""Hypothesis strategies for the engine's inputs, aimed at the rules' boundaries.

Each strategy leans towards the values where a rule flips: word counts around
``succinct_max_words``, look-backs around six months, calibration counts
around 5 / 10 and a 30-point gap, 0..4 concern cases, audit shares around
0.7, due dates a day or two either side of the sweep date, panels around six
months back, and dates on weekends, bank holidays and month ends.

Speed: hypothesis validates every strategy object the first time it is drawn
from, so the parts drawn many times per input (twelve areas, twenty review
judgements, lists of cases and actions) are plain functions of ``draw`` over
strategies built once, not strategies built anew for each item.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

import yaml
from hypothesis import strategies as st

from engine import dates
from engine.model import (
    AREAS,
    AT_LEAST_GOOD,
    GRADES,
    OFSTED_GRADES,
    PLACEMENT_CHECKS,
    AgreedAction,
    AreaJudgement,
    Audit,
    AuditHistory,
    Calibration,
    ConcernCase,
    EarlierAudit,
    Inspection,
    InspectionInput,
    OpenAction,
    Placement,
    PlacementChecks,
    PlacementInput,
    PlanRating,
    ReviewAction,
    ReviewEvidence,
    ReviewInput,
    ReviewJudgement,
    ServiceAreaPanel,
    ServiceReview,
    SweepInput,
)

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
T = TypeVar("T")


def _catalogue_pairs() -> tuple[tuple[str, str], ...]:
    with (RULES_DIR / "catalogue.yaml").open(encoding="utf-8") as stream:
        data = yaml.safe_load(stream)
    return tuple((entry["lens"], area["code"]) for entry in data["lenses"]
                 for area in entry["areas"])


CATALOGUE_PAIRS = _catalogue_pairs()

# Weekends, English bank holidays and their neighbours, month ends, leap day.
SPECIAL_DAYS = (
    date(2026, 4, 2), date(2026, 4, 3), date(2026, 4, 4), date(2026, 4, 6),  # Easter 2026
    date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26), date(2026, 12, 28),
    date(2026, 12, 31), date(2027, 1, 1), date(2025, 12, 25), date(2025, 12, 26),
    date(2026, 5, 1), date(2026, 5, 4), date(2026, 5, 25), date(2026, 8, 28),
    date(2026, 8, 31), date(2026, 1, 31), date(2026, 2, 28), date(2024, 2, 29),
    date(2026, 3, 31), date(2026, 10, 31), date(2026, 6, 13), date(2026, 6, 14),
)

GRADE_CHOICES: tuple[str | None, ...] = (*GRADES, None)
OFSTED_CHOICES: tuple[str | None, ...] = (*OFSTED_GRADES, None)
RISK_TYPES = ("SEXUAL_EXPLOITATION", "NEGLECT", "EMOTIONAL", "SEXUAL", "PHYSICAL", "DOMESTIC")
BELOW_GOOD = "DOES_NOT_MEET_GOOD"
OPPOSITE = {"EXCEEDS_GOOD": BELOW_GOOD, BELOW_GOOD: "EXCEEDS_GOOD"}


_DAYS = st.one_of(st.sampled_from(SPECIAL_DAYS), st.dates(date(2024, 1, 1), date(2027, 12, 31)))


def days() -> st.SearchStrategy[date]:
    """Any day in 2024..2027, often a special one."""
    return _DAYS


def pick(draw: st.DrawFn, options: Sequence[T]) -> T:
    """One of ``options`` (as ``sampled_from``, without a new strategy per call)."""
    return options[draw(st.integers(0, len(options) - 1))]  # st.integers is cached


def near(day: date, spread: int) -> st.SearchStrategy[date]:
    """A day at most ``spread`` days either side of ``day``."""
    return st.integers(-spread, spread).map(lambda n: day + timedelta(days=n))


def after(day: date, low: int, high: int) -> st.SearchStrategy[date]:
    """A day ``low``..``high`` days after ``day``."""
    return st.integers(low, high).map(lambda n: day + timedelta(days=n))


def days_after(draw: st.DrawFn, day: date, low: int, high: int) -> date:
    """As ``draw(after(day, low, high))``, without a new strategy per call."""
    return day + timedelta(days=draw(st.integers(low, high)))


def _words(count: int) -> str:
    return " ".join(["w"] * count)


# Blank, short, or long enough that two of them straddle 250 words.
TEXT = st.one_of(
    st.just(""),
    st.just("  \n "),
    st.sampled_from(("ok", "seen at home", " visit notes ")),
    st.integers(118, 132).map(_words),
    st.integers(245, 255).map(_words),
)
REASON = st.sampled_from(("", "  ", "not looked after"))
RISK_TYPE_LISTS = st.lists(st.sampled_from(RISK_TYPES), unique=True, max_size=3)

# The grades an audit's areas are drawn from: any mix, any mix with some areas
# below good (GC-06, GC-07, ES-03), or two grades in even proportions (GC-08's
# half share of areas exceeding good).
PALETTES = st.one_of(
    st.lists(st.sampled_from(GRADE_CHOICES), min_size=1, max_size=3),
    st.lists(st.sampled_from(GRADE_CHOICES), max_size=2).map(lambda p: [*p, BELOW_GOOD]),
    st.sampled_from((
        ["EXCEEDS_GOOD", "MEETS_GOOD"], ["EXCEEDS_GOOD", BELOW_GOOD],
        ["EXCEEDS_GOOD", "NOT_APPLICABLE", "MEETS_GOOD"],
    )).map(list),
)


# ------------------------------------------------------------------ audits


def area_judgement(draw: st.DrawFn, area: str, palette: Sequence[str | None]) -> AreaJudgement:
    """One area's row, its grade drawn from the audit's palette."""
    return AreaJudgement(
        area=area,
        grade=pick(draw, palette),
        evidence=draw(TEXT),
        impact=draw(TEXT),
        not_applicable_reason=draw(REASON),
        risk_types=tuple(draw(RISK_TYPE_LISTS)),
    )


def agreed_action(draw: st.DrawFn, completed_on: date | None) -> AgreedAction:
    """An agreed action; "by when" around the completion date or missing."""
    branch = draw(st.integers(0, 2 if completed_on is not None else 1))
    by_when = (None if branch == 0 else draw(_DAYS) if branch == 1
               else draw(near(completed_on, 2)))  # type: ignore[arg-type]
    return AgreedAction(
        description=draw(st.sampled_from(("", "Update the plan", " "))),
        by_whom=draw(st.sampled_from(("", "  ", "SW1"))),
        by_when=by_when,
    )


@st.composite
def audits(draw: st.DrawFn) -> Audit:
    """A draft or completed audit (areas unique; some may be missing)."""
    status = draw(st.sampled_from(("DRAFT", "COMPLETED")))
    completed = status == "COMPLETED"
    completed_on = draw(days()) if completed else draw(st.none() | days())
    layout = draw(st.sampled_from(("all", "all but one", "some")))
    if layout == "all":
        chosen = list(AREAS)
    elif layout == "all but one":
        left_out = draw(st.sampled_from(AREAS))
        chosen = [area for area in AREAS if area != left_out]
    else:
        chosen = draw(st.lists(st.sampled_from(AREAS), unique=True, max_size=len(AREAS)))
    palette = draw(PALETTES)
    if draw(st.booleans()):
        areas = tuple(area_judgement(draw, area, palette) for area in chosen)
    else:  # exactly 0..4 areas below good (GC-06's threshold, GC-09, GC-13)
        count = min(draw(st.integers(0, 4)), len(chosen))
        below = set(draw(st.lists(st.sampled_from(chosen), unique=True, min_size=count,
                                  max_size=count))) if chosen else set()
        rest = [grade for grade in palette if grade != BELOW_GOOD] or ["MEETS_GOOD"]
        areas = tuple(
            area_judgement(draw, area, [BELOW_GOOD] if area in below else rest)
            for area in chosen
        )
    if completed_on is None:
        lookback = draw(st.none() | days())
    else:
        six_back = dates.add_months(completed_on, -6)
        lookback = draw(st.one_of(
            st.none(), near(six_back, 2), after(completed_on, -400, 5),
        ))
    overall = draw(st.sampled_from(palette) | st.sampled_from(GRADE_CHOICES)
                   | st.sampled_from(("EXCEEDS_GOOD", "MEETS_GOOD")) | st.just(BELOW_GOOD))
    return Audit(
        audit_id="AU1",
        revision=draw(st.integers(1, 3)),
        status=status,
        case_ref="K1",
        service_area="SA1",
        auditor_id=draw(st.sampled_from(("A1", "A2"))),
        team=draw(st.sampled_from(("", "T1"))),
        strand=draw(st.sampled_from((None, "CIN", "LAC"))),
        age_band=draw(st.sampled_from((None, "0-4", "11-15"))),
        auditor_role=draw(st.sampled_from((None, "TEAM_MANAGER"))),
        case_holder_id=draw(st.sampled_from(("", "A1", "C1"))),
        service_manager_id=draw(st.sampled_from(("", "SM1"))),
        audited_previously=draw(st.booleans()),
        completed_on=completed_on,
        lookback_from=lookback,
        lookback_reason=draw(REASON),
        areas=areas,
        overall_grade=overall,
        agreed_actions=tuple(agreed_action(draw, completed_on) for _ in range(draw(st.integers(0, 3)))),
        feedback_discussed=draw(st.booleans()),
        moderated_grade=draw(st.none() | st.sampled_from(GRADES)),
    )


def concern_case(draw: st.DrawFn, around: date) -> ConcernCase:
    """Another audit with an area below good; case refs repeat (K1 is this case)."""
    return ConcernCase(
        audit_id=draw(st.sampled_from(("X1", "X2", "X3", "X4", "AU1"))),
        case_ref=draw(st.sampled_from(("K1", "K2", "K3", "K4"))),
        completed_on=days_after(draw, around, -90, 0),
        strand=draw(st.sampled_from((None, "CIN", "LAC"))),
        age_band=draw(st.sampled_from((None, "0-4", "11-15"))),
    )


@st.composite
def calibrations(draw: st.DrawFn, audit: Audit) -> Calibration:
    """Counts around 5 (the auditor, this audit added) and 10 (the others);
    half the time shares exactly 30 points apart (GC-18's boundary)."""
    if draw(st.booleans()):
        counted = audit.completed and audit.completed_on is not None
        this_good = int(counted and audit.overall_grade in AT_LEAST_GOOD)
        earlier = draw(st.sampled_from((4, 9)))
        total = earlier + int(counted)  # 5 or 10 for a completed audit
        good = draw(st.integers(this_good, earlier + this_good))
        others_good = 10 * good // max(total, 1) + draw(st.sampled_from((-3, 3)))
        return Calibration(
            auditor_audits=earlier, auditor_good=good - this_good,
            others_audits=10, others_good=min(max(others_good, 0), 10),
        )
    auditor = draw(st.sampled_from((3, 4, 5)) | st.integers(0, 8))
    others = draw(st.sampled_from((9, 10, 11)) | st.integers(0, 14))
    return Calibration(
        auditor_audits=auditor,
        auditor_good=draw(st.integers(0, auditor)),
        others_audits=others,
        others_good=draw(st.integers(0, others)),
    )


@st.composite
def histories(draw: st.DrawFn, audit: Audit) -> AuditHistory:
    """Earlier audits of the case, concerns per area, calibration counts."""
    around = audit.completed_on or date(2026, 6, 1)
    # Two steps from this audit's effective grade, for GC-16.
    swing = OPPOSITE.get(audit.effective_grade or "", "MEETS_GOOD")
    earlier = tuple(
        EarlierAudit(
            audit_id=draw(st.sampled_from((f"E{i}", f"E{i}", audit.audit_id))),
            completed_on=days_after(draw, around, -700, 0),
            effective_grade=draw(st.sampled_from(GRADE_CHOICES) | st.just(swing)),
        )
        for i in range(draw(st.integers(0, 3)))
    )
    below = [a.area for a in audit.areas if a.grade == BELOW_GOOD]
    candidates = list(dict.fromkeys([*below, "RISK", "PLANS"]))
    concern_areas = draw(st.just(below) | st.lists(st.sampled_from(candidates), unique=True,
                                                   max_size=3))
    concerns = {
        area: tuple(concern_case(draw, around) for _ in range(draw(st.integers(0, 5))))
        for area in concern_areas
    }
    return AuditHistory(
        earlier_case_audits=earlier,
        concerns=concerns,
        calibration=draw(calibrations(audit)),
        open_deep_dive_areas=frozenset(
            draw(st.lists(st.sampled_from(candidates), unique=True, max_size=1))
        ),
        calibration_review_open=draw(st.booleans()),
    )


@st.composite
def audit_inputs(draw: st.DrawFn) -> tuple[Audit, AuditHistory]:
    """An audit with the history the store would give it."""
    audit = draw(audits())
    return audit, draw(histories(audit))


# --------------------------------------------------------------- providers


CHECKS = st.one_of(
    st.just(PlacementChecks(**{name: True for name in PLACEMENT_CHECKS})),
    st.builds(PlacementChecks, **{name: st.booleans() for name in PLACEMENT_CHECKS}),
)


def placement(draw: st.DrawFn, placement_id: str, around: date) -> Placement:
    """A placement starting before (or just after) ``around``, maybe ended near it."""
    start = draw(after(around, -60, 2) | days())
    end = draw(st.none() | near(around, 2) | after(start, 0, 90))
    return Placement(
        placement_id=placement_id,
        case_ref=draw(st.sampled_from(("K1", "K2", "K3"))),
        provider_id="P1",
        start_on=start,
        end_on=end,
        social_worker_id=draw(st.sampled_from(("", "SW1", "SW2"))),
        team_manager_id=draw(st.sampled_from(("", "TM1"))),
        team=draw(st.sampled_from(("", "T1"))),
        service_area=draw(st.sampled_from(("", "SA1"))),
        checks=draw(CHECKS),
    )


@st.composite
def inspection_inputs(draw: st.DrawFn) -> InspectionInput:
    """An inspection, the previous grade, and 0..4 placements around the rating date."""
    inspected_on = draw(days())
    published_on = draw(st.none() | after(inspected_on, 0, 40) | st.sampled_from(SPECIAL_DAYS))
    inspection = Inspection(
        inspection_id="I1",
        provider_id="P1",
        grade=draw(st.sampled_from(OFSTED_GRADES)),
        inspected_on=inspected_on,
        published_on=published_on,
        provider_name=draw(st.sampled_from(("", "Oak House"))),
    )
    rated_on = inspection.rated_on
    count = draw(st.integers(0, 4))
    return InspectionInput(
        inspection=inspection,
        previous_grade=draw(st.sampled_from(OFSTED_CHOICES)),
        placements=tuple(placement(draw, f"PL{i}", rated_on) for i in range(count)),
    )


@st.composite
def placement_inputs(draw: st.DrawFn) -> PlacementInput:
    """A placement with the provider's grade on its start date (or none)."""
    return PlacementInput(
        placement=placement(draw, "PL1", draw(days())),
        provider_grade=draw(st.sampled_from(OFSTED_CHOICES)),
    )


@st.composite
def plan_ratings(draw: st.DrawFn) -> PlanRating:
    """An IRO's or CP chair's RAG rating."""
    return PlanRating(
        rating_id="R1",
        case_ref="K1",
        plan_type=draw(st.sampled_from(("CARE_PLAN", "CP_PLAN"))),
        rating=draw(st.sampled_from(("RED", "AMBER", "GREEN"))),
        rated_on=draw(days()),
        rated_by=draw(st.sampled_from(("", "IRO1"))),
        team=draw(st.sampled_from(("", "T1"))),
        service_area=draw(st.sampled_from(("", "SA1"))),
        team_manager_id=draw(st.sampled_from(("", "TM1"))),
    )


# ----------------------------------------------------------------- reviews


@st.composite
def review_actions(draw: st.DrawFn) -> ReviewAction:
    """An identified action, with or without owner and due date."""
    return ReviewAction(
        description=draw(st.sampled_from(("", "Improve KPIs"))),
        owner_id=draw(st.sampled_from(("", "  ", "U1"))),
        due_on=draw(st.none() | days()),
    )


REVIEW_ACTION_LISTS = st.lists(review_actions(), max_size=2)


def review_judgement(draw: st.DrawFn, lens: str, area: str,
                     palette: Sequence[str | None]) -> ReviewJudgement:
    """One judgement area, its grade drawn from the review's palette."""
    return ReviewJudgement(
        lens=lens,
        judgement_area=area,
        grade=pick(draw, palette),
        comments=draw(st.sampled_from(("", "fine"))),
        evidence=draw(st.sampled_from(("", " ", "KPI pack"))),
        actions=tuple(draw(REVIEW_ACTION_LISTS)),
    )


@st.composite
def review_evidence(draw: st.DrawFn) -> ReviewEvidence:
    """Audit counts around 5 and a good share around 0.7; 0..2 inadequate placements."""
    completed = draw(st.sampled_from((4, 5, 10, 20)) | st.integers(0, 12))
    return ReviewEvidence(
        audits_completed=completed,
        audits_good_or_better=draw(st.integers(0, completed)
                                   | st.just(round(0.7 * completed))),
        inadequate_provider_placements=draw(st.integers(0, 2)),
    )


@st.composite
def review_inputs(draw: st.DrawFn) -> ReviewInput:
    """A review judging a random subset of the catalogue, in random order."""
    if draw(st.booleans()):
        pairs = list(CATALOGUE_PAIRS)
    else:
        pairs = draw(st.lists(st.sampled_from(CATALOGUE_PAIRS), unique=True))
    pairs = draw(st.permutations(pairs))
    palette = draw(st.lists(st.sampled_from(OFSTED_CHOICES), min_size=1, max_size=3))
    period_start = draw(days())
    review = ServiceReview(
        review_id="RV1",
        revision=draw(st.integers(1, 3)),
        service_area="SA1",
        period_start=period_start,
        period_end=dates.add_months(period_start, 6),
        panel_on=draw(st.none() | days()),
        judgements=tuple(review_judgement(draw, lens, area, palette) for lens, area in pairs),
    )
    return ReviewInput(review=review, evidence=draw(review_evidence()))


# ------------------------------------------------------------------- sweep


OPEN_ACTION_KINDS = (
    "CORRECTIVE_ACTION", "PLAN_RATING_RESPONSE", "CORRECTIVE_ACTION_ESCALATION",
    "DEEP_DIVE_AUDIT", "REVIEW_ACTION", "PLACEMENT_CHECKS",
)


def open_action(draw: st.DrawFn, action_id: str, as_of: date) -> OpenAction:
    """An open action due a day or two either side of ``as_of`` (or any day)."""
    due = draw(near(as_of, 2) | days())
    return OpenAction(
        action_id=action_id,
        kind=draw(st.sampled_from(OPEN_ACTION_KINDS)),
        due_on=due,
        origin_on=days_after(draw, due, -30, 0),
        escalated=draw(st.booleans()),
        owner_id=draw(st.sampled_from(("", "O1"))),
        audit_id=draw(st.sampled_from(("", "AU1"))),
        case_ref=draw(st.sampled_from(("", "K1"))),
        service_area=draw(st.sampled_from(("", "SA1"))),
        team=draw(st.sampled_from(("", "T1"))),
        provider_id=draw(st.sampled_from(("", "P1"))),
        placement_id=draw(st.sampled_from(("", "PL1"))),
    )


@st.composite
def panels(draw: st.DrawFn, as_of: date) -> ServiceAreaPanel:
    """A review panel around six months before ``as_of``; areas repeat."""
    return ServiceAreaPanel(
        service_area=draw(st.sampled_from(("SA1", "SA2", "SA3"))),
        panel_on=draw(near(dates.add_months(as_of, -6), 2) | days()),
        review_due_open=draw(st.booleans()),
    )


@st.composite
def sweep_inputs(draw: st.DrawFn) -> SweepInput:
    """A sweep at ``as_of`` over open actions (unique ids) and panels."""
    as_of = draw(days())
    count = draw(st.integers(0, 5))
    return SweepInput(
        as_of=as_of,
        open_actions=tuple(open_action(draw, f"OA{i}", as_of) for i in range(count)),
        panels=tuple(draw(st.lists(panels(as_of), max_size=4))),
    )
