"""Memory stays flat: per-evaluation state is removed (quality.md item 5)."""

from __future__ import annotations

import os
from datetime import date

from engine.evaluate import RulesEngine
from engine.model import (
    AreaJudgement,
    Audit,
    AuditHistory,
    Inspection,
    InspectionInput,
    Placement,
    PlacementInput,
    PlanRating,
)

EVALUATIONS = int(os.environ.get("LENSES_MEMORY_EVALUATIONS", "100000"))


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _inputs(i: int) -> tuple[str, object]:
    kind = i % 4
    if kind == 0:
        areas = tuple(AreaJudgement(a, "DOES_NOT_MEET_GOOD" if j < 3 else "MEETS_GOOD", "e", "")
                      for j, a in enumerate(("RISK", "PLANS", "REVIEWS", "OUTCOMES")))
        return "audit", Audit(f"A{i}", 1, "COMPLETED", f"C{i}", "S", "aud", completed_on=date(2026, 1, 15),
                              areas=areas, overall_grade="MEETS_GOOD", service_manager_id="sm")
    if kind == 1:
        placement = Placement(f"P{i}", f"C{i}", "PR", date(2026, 1, 1))
        return "inspection", InspectionInput(
            Inspection(f"I{i}", "PR", "INADEQUATE", date(2026, 3, 1)), "GOOD", (placement,))
    if kind == 2:
        return "placement", PlacementInput(Placement(f"P{i}", f"C{i}", "PR", date(2026, 1, 1)))
    return "rating", PlanRating(f"R{i}", f"C{i}", "CARE_PLAN", "RED", date(2026, 1, 5))


def _evaluate(engine: RulesEngine, kind: str, data: object) -> int:
    if kind == "audit":
        result = engine.evaluate_audit(data, AuditHistory())  # type: ignore[arg-type]
    elif kind == "inspection":
        result = engine.evaluate_inspection(data)  # type: ignore[arg-type]
    elif kind == "placement":
        result = engine.evaluate_placement(data)  # type: ignore[arg-type]
    else:
        result = engine.evaluate_plan_rating(data)  # type: ignore[arg-type]
    return len(result.findings) + len(result.actions)


def test_resident_memory_is_flat_over_many_evaluations(engine: RulesEngine) -> None:
    warm_up = max(EVALUATIONS // 10, 1)
    outputs = 0
    for i in range(warm_up):
        outputs += _evaluate(engine, *_inputs(i))
    baseline = _rss_kib()
    for i in range(warm_up, EVALUATIONS):
        outputs += _evaluate(engine, *_inputs(i))
    growth = _rss_kib() - baseline
    assert outputs > EVALUATIONS  # every evaluation produced something: the work was real
    # Leaking even 100 bytes per evaluation would exceed this over 90,000 of them.
    assert growth < 8 * 1024, f"resident memory grew by {growth} KiB"
