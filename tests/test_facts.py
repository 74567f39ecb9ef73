"""ES-03's concern fields on area facts (engine/facts.py).

The reference evaluator shares ``facts``, so the differential test cannot see
a mistake here; these cases pin the fields down directly.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from engine.facts import audit_facts
from engine.model import AreaJudgement, Audit, AuditHistory, ConcernCase

PARAMS: dict[str, object] = {}  # the window is applied by the store; facts take the cases given

CONCERN_FIELDS = ("concern_cases", "concern_case_refs", "concern_audit_ids",
                  "concern_strands", "concern_age_bands")


def _audit(status: str = "COMPLETED") -> Audit:
    return Audit(
        audit_id="A9", revision=1, status=status, case_ref="C9", service_area="S1",
        auditor_id="aud1", strand="CIN", completed_on=date(2026, 3, 10),
        areas=(AreaJudgement("PLANS", "DOES_NOT_MEET_GOOD", "Seen.", "Some."),
               AreaJudgement("RISK", "MEETS_GOOD", "Seen.", "Some.")),
        overall_grade="DOES_NOT_MEET_GOOD",
    )


def _concerns(audit: Audit, history: AuditHistory, area: str) -> dict[str, object]:
    fact = next(f for f in audit_facts(audit, history, PARAMS) if f.fields.get("area") == area)
    # As lists: the shared "no concerns" values are empty tuples (immutable on purpose).
    return {name: fact.fields[name] if name == "concern_cases" else list(fact.fields[name])
            for name in CONCERN_FIELDS}


def test_a_completed_audit_below_good_is_its_own_first_concern() -> None:
    assert _concerns(_audit(), AuditHistory(), "PLANS") == {
        "concern_cases": 1, "concern_case_refs": ["C9"], "concern_audit_ids": ["A9"],
        "concern_strands": ["CIN"], "concern_age_bands": [],
    }


def test_drafts_and_areas_at_or_above_good_raise_no_concern() -> None:
    none = {"concern_cases": 0, "concern_case_refs": [], "concern_audit_ids": [],
            "concern_strands": [], "concern_age_bands": []}
    assert _concerns(_audit(status="DRAFT"), AuditHistory(), "PLANS") == none
    assert _concerns(_audit(), AuditHistory(), "RISK") == none


def test_other_cases_join_in_date_order_and_the_latest_audit_speaks_for_its_case() -> None:
    history = AuditHistory(concerns={"PLANS": (
        ConcernCase("A2", "C2", date(2026, 2, 1), "CP", "0-4"),
        ConcernCase("A1", "C1", date(2026, 1, 5), None, "5-10"),
        ConcernCase("A3", "C2", date(2026, 2, 20), "CP", "11-15"),
        ConcernCase("A9", "C9", date(2026, 3, 10), "CIN", None),  # this audit, stored earlier
    )})
    assert _concerns(replace(_audit(), age_band="16+"), history, "PLANS") == {
        "concern_cases": 3, "concern_case_refs": ["C1", "C2", "C9"],
        "concern_audit_ids": ["A1", "A3", "A9"], "concern_strands": ["CIN", "CP"],
        "concern_age_bands": ["11-15", "16+", "5-10"],
    }
    # A draft is not a concern of its own; the other cases still are.
    assert _concerns(_audit(status="DRAFT"), history, "PLANS")["concern_case_refs"] == ["C1", "C2"]


def test_no_evaluation_can_change_the_shared_no_concern_values() -> None:
    # Every area fact without concerns shares these values: they must be immutable.
    facts = audit_facts(_audit(status="DRAFT"), AuditHistory(), PARAMS)
    risk = next(f for f in facts if f.fields.get("area") == "RISK")
    assert all(type(risk.fields[name]) is tuple for name in CONCERN_FIELDS[1:])
