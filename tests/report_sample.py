"""A realistic month of compendium data built by hand, for the report tests and the
README screenshot: two service areas with two teams each, one area reviewed against
the four lenses and the other never reviewed. Counts only; no child appears."""

from __future__ import annotations

from dataclasses import dataclass

from lenses.v1 import common_pb2, review_pb2
from server.report import ReportData

MONTH = "2025-03"
PERIOD = ("2025-03-01", "2025-03-31")
AREAS = ("RISK", "INVOLVEMENT", "DECISION_MAKING", "ASSESSMENT", "COORDINATION", "DIVERSITY", "PLANS",
         "PERMANENCE", "REVIEWS", "PLACEMENT", "INDEPENDENCE", "OUTCOMES")


@dataclass
class _Team:
    """One team's month. ``grades`` holds, per audit area in the tool's order,
    (exceeds good, meets good, does not meet good, not applicable); each sums to ``audits``."""

    name: str
    audits: int
    good: int
    grades: tuple[tuple[int, int, int, int], ...]
    ca_due: int
    ca_on_time: int
    ca_overdue: int
    deep_dives: int
    rag: tuple[int, int, int]
    placements: int
    placements_good: int
    providers_inadequate: int
    provider_actions: int


TEAMS: dict[str, list[_Team]] = {
    "Safeguarding & Family Help": [
        _Team("Assessment Team North", 8, 6,
              ((2, 4, 2, 0), (1, 5, 2, 0), (1, 4, 3, 0), (2, 4, 2, 0), (1, 6, 1, 0), (1, 5, 1, 1),
               (0, 5, 3, 0), (0, 3, 1, 4), (1, 4, 1, 2), (1, 5, 0, 2), (0, 1, 0, 7), (1, 5, 2, 0)),
              ca_due=3, ca_on_time=2, ca_overdue=1, deep_dives=1, rag=(2, 4, 9),
              placements=6, placements_good=5, providers_inadequate=0, provider_actions=1),
        _Team("Child Protection Team", 6, 4,
              ((1, 3, 2, 0), (1, 4, 1, 0), (0, 3, 3, 0), (1, 4, 1, 0), (0, 5, 1, 0), (1, 4, 0, 1),
               (0, 3, 3, 0), (0, 2, 1, 3), (0, 4, 2, 0), (1, 3, 1, 1), (0, 1, 0, 5), (0, 4, 2, 0)),
              ca_due=2, ca_on_time=1, ca_overdue=1, deep_dives=1, rag=(3, 5, 7),
              placements=4, placements_good=3, providers_inadequate=1, provider_actions=2),
    ],
    "Children in Care": [
        _Team("Looked After Children Team", 9, 8,
              ((2, 6, 1, 0), (3, 5, 1, 0), (2, 6, 1, 0), (2, 6, 1, 0), (2, 6, 1, 0), (1, 7, 1, 0),
               (1, 5, 3, 0), (2, 5, 2, 0), (1, 5, 3, 0), (3, 5, 1, 0), (1, 3, 1, 4), (2, 6, 1, 0)),
              ca_due=4, ca_on_time=4, ca_overdue=0, deep_dives=0, rag=(1, 4, 14),
              placements=31, placements_good=28, providers_inadequate=1, provider_actions=3),
        _Team("Care Leavers Team", 5, 4,
              ((1, 3, 1, 0), (2, 3, 0, 0), (1, 3, 1, 0), (1, 4, 0, 0), (1, 3, 1, 0), (1, 4, 0, 0),
               (0, 3, 2, 0), (0, 2, 0, 3), (1, 2, 2, 0), (1, 3, 1, 0), (1, 2, 2, 0), (1, 3, 1, 0)),
              ca_due=2, ca_on_time=1, ca_overdue=0, deep_dives=0, rag=(0, 2, 6),
              placements=12, placements_good=11, providers_inadequate=0, provider_actions=0),
    ],
}
# An area's inadequate providers are not the sum of its teams' (a provider may serve both).
AREA_PROVIDERS_INADEQUATE = {"Safeguarding & Family Help": 1, "Children in Care": 1}

LENS_SCORES = {"Children in Care": {"INDEPENDENT_CHALLENGE": 3.0, "PROVIDER_CHALLENGE": 2.6,
                                    "PROFESSIONAL_CHALLENGE": 2.5, "CITIZEN_CHALLENGE": 3.25}}
REVIEW_DATES = {"Children in Care": "2025-01-14"}
ON_TIME = [("2024-04", 9, 6), ("2024-05", 11, 7), ("2024-06", 8, 6), ("2024-07", 12, 8),
           ("2024-08", 7, 5), ("2024-09", 10, 8), ("2024-10", 13, 10), ("2024-11", 9, 8),
           ("2024-12", 6, 5), ("2025-01", 12, 9), ("2025-02", 10, 9), ("2025-03", 11, 8)]


def _top_below(grades: list[list[int]], n: int = 3) -> list[int]:
    ranked = sorted(((-g[2], k) for k, g in enumerate(grades) if g[2] > 0))
    return [k + 1 for _, k in ranked[:n]]  # Area numbers are the rows' numbers


def _indicators(area: str, teams: list[_Team], providers_inadequate: int) -> review_pb2.LensIndicators:
    grades = [[sum(t.grades[k][g] for t in teams) for g in range(4)] for k in range(len(AREAS))]
    audits = sum(t.audits for t in teams)
    placements = sum(t.placements for t in teams)
    ind = review_pb2.LensIndicators(
        service_area=area, period_start=PERIOD[0], period_end=PERIOD[1],
        audits_completed=audits,
        audits_good_or_better_share=sum(t.good for t in teams) / audits if audits else 0.0,
        top_areas_below_good=_top_below(grades),
        corrective_actions_due=sum(t.ca_due for t in teams),
        corrective_actions_completed_on_time=sum(t.ca_on_time for t in teams),
        corrective_actions_overdue=sum(t.ca_overdue for t in teams),
        open_deep_dives=sum(t.deep_dives for t in teams),
        plan_ratings_red=sum(t.rag[0] for t in teams),
        plan_ratings_amber=sum(t.rag[1] for t in teams),
        plan_ratings_green=sum(t.rag[2] for t in teams),
        active_placements=placements,
        placements_good_or_outstanding_share=(sum(t.placements_good for t in teams) / placements
                                              if placements else 0.0),
        providers_inadequate=providers_inadequate,
        open_provider_actions=sum(t.provider_actions for t in teams),
    )
    for k, (ex, meets, below, na) in enumerate(grades):
        ind.area_grade_counts.add(area=k + 1, exceeds_good=ex, meets_good=meets,
                                  does_not_meet_good=below, not_applicable=na)
    return ind


def sample_report(area_names: tuple[str, str] | None = None) -> ReportData:
    """The sample month; ``area_names`` renames the two service areas (e.g. to test escaping)."""
    names = dict(zip(TEAMS, area_names or tuple(TEAMS), strict=True))
    compendium = review_pb2.Compendium(month=MONTH)
    all_grades = [[0, 0, 0, 0] for _ in AREAS]
    for area, teams in TEAMS.items():
        name = names[area]
        sa = compendium.service_areas.add(
            service_area=name, indicators=_indicators(name, teams, AREA_PROVIDERS_INADEQUATE[area]))
        for team in teams:
            sa.teams.add(team=team.name,
                         indicators=_indicators(name, [team], team.providers_inadequate))
            for k in range(len(AREAS)):
                for g in range(4):
                    all_grades[k][g] += team.grades[k][g]
    for k in _top_below(all_grades, n=5):
        compendium.themes.add(area=k, below_good_count=all_grades[k - 1][2])
    assert all(common_pb2.Area.Name(k + 1) == f"AREA_{code}" for k, code in enumerate(AREAS))
    return ReportData(
        month=MONTH, compendium=compendium,
        lens_scores={names[a]: dict(s) for a, s in LENS_SCORES.items()},
        review_dates={names[a]: d for a, d in REVIEW_DATES.items()},
        on_time=list(ON_TIME),
    )
