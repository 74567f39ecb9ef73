"""Facts: the flat records the rules match, built from the typed inputs.

Everything a rule needs beyond "field op constant" (dates, comparisons
between records, history) is computed here, before anything reaches the
inference engine. ``KINDS`` documents every field a rule may use; a rule
that names another field fails to load.

Field types: ``str`` (unset enums are "UNSET"; a provider never inspected is
"NEVER_INSPECTED"), ``num``, ``bool`` may be used in conditions; ``date`` and ``list``
only in due dates, messages and ``because``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from . import dates
from .model import (
    ACTION_KINDS,
    AGE_BANDS,
    AREAS,
    AT_LEAST_GOOD,
    AUDIT_STATUSES,
    GRADE_STEP,
    GRADES,
    LENSES,
    OFSTED_GRADES,
    PLAN_TYPES,
    RAG_RATINGS,
    STRANDS,
    AreaJudgement,
    Audit,
    AuditHistory,
    ConcernCase,
    InspectionInput,
    LensScore,
    PlacementInput,
    PlanRating,
    ReviewInput,
    SweepInput,
)

UNSET = "UNSET"
NEVER_INSPECTED = "NEVER_INSPECTED"
GRADED = frozenset({"EXCEEDS_GOOD", "MEETS_GOOD", "DOES_NOT_MEET_GOOD"})

_AUDIT_CONTEXT = {
    "audit_id": "str", "case_ref": "str", "service_area": "str", "team": "str",
    "status": "str", "completed": "bool", "overall_grade": "str", "effective_grade": "str",
    "completed_on": "date",
}

KINDS: dict[str, dict[str, str]] = {
    "audit": {
        **_AUDIT_CONTEXT,
        "revision": "num", "strand": "str", "age_band": "str", "auditor_id": "str",
        "case_holder_id": "str", "service_manager_id": "str",
        "moderated": "bool", "moderated_grade": "str", "moderation_changed": "bool",
        "auditor_is_case_holder": "bool", "feedback_discussed": "bool",
        "audited_previously": "bool", "lookback_from": "date", "has_lookback": "bool",
        "lookback_months": "num", "lookback_reason_blank": "bool",
        "earlier_case_audits": "num", "earlier_case_audit_ids": "list",
        "reaudit_max_step": "num", "reaudit_swing_audit_ids": "list",
        "calibration_auditor_audits": "num", "calibration_auditor_good_share": "num",
        "calibration_others_audits": "num", "calibration_others_good_share": "num",
        "calibration_gap_points": "num", "calibration_review_open": "bool",
    },
    "area": {
        **_AUDIT_CONTEXT,
        "area": "str", "present": "bool", "grade": "str", "graded": "bool",
        "evidence_blank": "bool", "impact_blank": "bool", "words": "num",
        "na_reason_blank": "bool", "risk_types_count": "num", "risk_types": "list",
        "concern_cases": "num", "concern_case_refs": "list", "concern_audit_ids": "list",
        "concern_strands": "list", "concern_age_bands": "list", "deep_dive_open": "bool",
    },
    "agreed_action": {
        **_AUDIT_CONTEXT,
        "index": "num", "description_blank": "bool", "by_whom_blank": "bool",
        "by_when_set": "bool", "by_when": "date", "by_when_before_completion": "bool",
    },
    "inspection": {
        "inspection_id": "str", "provider_id": "str", "provider_name": "str", "grade": "str",
        "previous_grade": "str", "inspected_on": "date", "published_on": "date",
        "rated_on": "date", "placed_children": "num",
    },
    "placed_child": {
        "placement_id": "str", "case_ref": "str", "provider_id": "str", "provider_name": "str",
        "inspection_id": "str", "inspection_grade": "str", "social_worker_id": "str",
        "team_manager_id": "str", "team": "str", "service_area": "str", "rated_on": "date",
    },
    "placement": {
        "placement_id": "str", "case_ref": "str", "provider_id": "str", "provider_grade": "str",
        "start_on": "date", "end_on": "date", "ended": "bool", "missing_checks_count": "num",
        "missing_checks": "list", "social_worker_id": "str", "team_manager_id": "str",
        "team": "str", "service_area": "str",
    },
    "plan_rating": {
        "rating_id": "str", "case_ref": "str", "plan_type": "str", "rating": "str",
        "rated_on": "date", "rated_by": "str", "team": "str", "service_area": "str",
        "team_manager_id": "str",
    },
    "judgement": {
        "review_id": "str", "service_area": "str", "lens": "str", "judgement_area": "str",
        "judged": "bool", "grade": "str", "evidence_blank": "bool", "actions_count": "num",
        "actions_described": "num",
        "audits_completed": "num", "audits_good_share": "num",
        "inadequate_provider_placements": "num", "period_start": "date", "period_end": "date",
    },
    "lens_score": {
        "review_id": "str", "service_area": "str", "lens": "str", "score": "num",
        "judgement": "str", "capped": "bool", "limited_by": "str",
    },
    "review_action": {
        "review_id": "str", "service_area": "str", "lens": "str", "judgement_area": "str",
        "index": "num", "description": "str", "description_blank": "bool", "owner_id": "str",
        "owner_blank": "bool",
        "due_set": "bool", "due_on": "date", "action_digest": "str",
    },
    "open_action": {
        "action_id": "str", "kind": "str", "due_on": "date", "origin_on": "date",
        "as_of": "date", "days_overdue": "num", "escalated": "bool", "owner_id": "str",
        "audit_id": "str", "case_ref": "str", "service_area": "str", "team": "str",
        "provider_id": "str", "placement_id": "str",
    },
    "service_area": {
        "service_area": "str", "panel_on": "date", "as_of": "date",
        "months_since_panel": "num", "review_due_open": "bool",
    },
}

# The values an enumerated ``str`` field can hold. A rule comparing one with any other
# value (a misspelt ``MEETS_GOD``) could never hold, so the loader refuses it. Review
# judgement areas are the catalogue's, checked by the loader against the catalogue.
_GRADE_VALUES = frozenset({*GRADES, UNSET})
_OVERALL_VALUES = _GRADE_VALUES - {"NOT_APPLICABLE"}  # the case overall is never N/A
_OFSTED_VALUES = frozenset(OFSTED_GRADES)
FIELD_VALUES: dict[str, dict[str, frozenset[str]]] = {
    "audit": {
        "status": frozenset(AUDIT_STATUSES), "overall_grade": _OVERALL_VALUES,
        "effective_grade": _OVERALL_VALUES, "moderated_grade": _OVERALL_VALUES,
        "strand": frozenset({*STRANDS, UNSET}), "age_band": frozenset({*AGE_BANDS, UNSET}),
    },
    "area": {
        "status": frozenset(AUDIT_STATUSES), "overall_grade": _OVERALL_VALUES,
        "effective_grade": _OVERALL_VALUES, "area": frozenset(AREAS), "grade": _GRADE_VALUES,
    },
    "agreed_action": {
        "status": frozenset(AUDIT_STATUSES), "overall_grade": _OVERALL_VALUES,
        "effective_grade": _OVERALL_VALUES,
    },
    "inspection": {
        "grade": _OFSTED_VALUES, "previous_grade": frozenset({*OFSTED_GRADES, NEVER_INSPECTED}),
    },
    "placed_child": {"inspection_grade": _OFSTED_VALUES},
    "placement": {"provider_grade": frozenset({*OFSTED_GRADES, NEVER_INSPECTED})},
    "plan_rating": {"plan_type": frozenset(PLAN_TYPES), "rating": frozenset(RAG_RATINGS)},
    "judgement": {"lens": frozenset(LENSES), "grade": frozenset({*OFSTED_GRADES, UNSET})},
    "lens_score": {
        "lens": frozenset({*LENSES, "OVERALL"}), "judgement": frozenset({*OFSTED_GRADES, UNSET}),
    },
    "review_action": {"lens": frozenset(LENSES)},
    "open_action": {"kind": frozenset(ACTION_KINDS)},
}
# Fields whose values are the catalogue's judgement areas.
CATALOGUE_AREA_FIELDS = (("judgement", "judgement_area"), ("review_action", "judgement_area"))

# Fields computed with parameters (the history windows, the lens scoring): a rule
# reading one depends on them as on the parameters it names.
_CONCERN_FIELDS = ("concern_cases", "concern_case_refs", "concern_audit_ids",
                   "concern_strands", "concern_age_bands")
_CALIBRATION_FIELDS = ("calibration_auditor_audits", "calibration_auditor_good_share",
                       "calibration_others_audits", "calibration_others_good_share",
                       "calibration_gap_points")
_SCORING_PARAMS = ("lens_points", "lens_bands", "lens_floor_judgement", "lens_area_cap_grade",
                   "lens_cap_judgement", "limiting_lenses")
FIELD_PARAMS: dict[tuple[str, str], tuple[str, ...]] = {
    **{("area", name): ("deep_dive_window_days",) for name in _CONCERN_FIELDS},
    **{("audit", name): ("calibration_window_months",) for name in _CALIBRATION_FIELDS},
    **{("lens_score", name): _SCORING_PARAMS
       for name in ("score", "judgement", "capped", "limited_by")},
}

# Collections a fact of a kind carries for ``count`` / ``share`` / ``list``.
COLLECTIONS: dict[str, dict[str, str]] = {
    "audit": {"areas": "area", "agreed_actions": "agreed_action"},
}

CONDITION_TYPES = frozenset({"str", "num", "bool"})


@dataclass(slots=True)
class Fact:
    """One record for the rules: its kind, a per-evaluation id and fields."""

    kind: str
    fact_id: str
    fields: dict[str, Any]
    collections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _text_blank(text: str) -> bool:
    return not text.strip()


def _enum(value: str | None) -> str:
    return value or UNSET


# ------------------------------------------------------------------ audits


def audit_facts(audit: Audit, history: AuditHistory, params: Mapping[str, Any]) -> list[Fact]:
    """The audit fact, one fact per area (all twelve), one per agreed action."""
    context = _audit_context(audit)
    judgements: dict[str, AreaJudgement] = {}
    for judgement in audit.areas:
        judgements.setdefault(judgement.area, judgement)  # the first of a repeated area counts
    blank = {**context, **_ABSENT_AREA, **_NO_CONCERNS}
    areas = [_area_fields(audit, area, judgements.get(area), history, blank) for area in AREAS]
    actions = [_agreed_action_fields(audit, i, context) for i in range(len(audit.agreed_actions))]
    audit_fields = dict(context)
    audit_fields.update(_audit_fields(audit, history))
    facts = [Fact("audit", "audit", audit_fields, {"areas": areas, "agreed_actions": actions})]
    facts += [Fact("area", _AREA_FACT_IDS[f["area"]], f) for f in areas]
    facts += [Fact("agreed_action", f"agreed-action-{f['index']}", f) for f in actions]
    return facts


_AREA_FACT_IDS = {area: f"area-{area}" for area in AREAS}


def _audit_context(audit: Audit) -> dict[str, Any]:
    return {
        "audit_id": audit.audit_id, "case_ref": audit.case_ref,
        "service_area": audit.service_area, "team": audit.team, "status": audit.status,
        "completed": audit.completed, "overall_grade": _enum(audit.overall_grade),
        "effective_grade": _enum(audit.effective_grade), "completed_on": audit.completed_on,
    }


def _audit_fields(audit: Audit, history: AuditHistory) -> dict[str, Any]:
    has_lookback = audit.lookback_from is not None and audit.completed_on is not None
    lookback_months = (
        dates.months_between(audit.lookback_from, audit.completed_on)  # type: ignore[arg-type]
        if has_lookback else 0
    )
    return {
        "revision": audit.revision, "strand": _enum(audit.strand),
        "age_band": _enum(audit.age_band), "auditor_id": audit.auditor_id,
        "case_holder_id": audit.case_holder_id, "service_manager_id": audit.service_manager_id,
        "moderated": audit.moderated_grade is not None,
        "moderated_grade": _enum(audit.moderated_grade),
        "moderation_changed": audit.moderated_grade is not None
        and audit.moderated_grade != audit.overall_grade,
        "auditor_is_case_holder": bool(audit.case_holder_id)
        and audit.auditor_id == audit.case_holder_id,
        "feedback_discussed": audit.feedback_discussed,
        "audited_previously": audit.audited_previously,
        "lookback_from": audit.lookback_from, "has_lookback": has_lookback,
        "lookback_months": lookback_months,
        "lookback_reason_blank": _text_blank(audit.lookback_reason),
        **_reaudit_fields(audit, history),
        **_calibration_fields(audit, history),
    }


def _reaudit_fields(audit: Audit, history: AuditHistory) -> dict[str, Any]:
    if not history.earlier_case_audits:  # drafts and first audits of a case
        return {
            "earlier_case_audits": 0, "earlier_case_audit_ids": [], "reaudit_max_step": 0,
            "reaudit_swing_audit_ids": [],
        }
    earlier = [e for e in history.earlier_case_audits if e.audit_id != audit.audit_id]
    step = GRADE_STEP.get(audit.effective_grade or "")
    distances = {
        e.audit_id: abs(step - GRADE_STEP[e.effective_grade])
        for e in earlier
        if step is not None and e.effective_grade is not None and e.effective_grade in GRADE_STEP
    }
    widest = max(distances.values(), default=0)
    return {
        "earlier_case_audits": len(earlier),
        "earlier_case_audit_ids": [e.audit_id for e in earlier],
        "reaudit_max_step": widest,
        "reaudit_swing_audit_ids": sorted(a for a, d in distances.items() if d == widest and d),
    }


def _calibration_fields(audit: Audit, history: AuditHistory) -> dict[str, Any]:
    calibration = history.calibration
    this_counts = audit.completed and audit.completed_on is not None
    this_good = this_counts and audit.overall_grade in AT_LEAST_GOOD
    auditor_audits = calibration.auditor_audits + int(this_counts)
    auditor_good = calibration.auditor_good + int(this_good)
    others_audits, others_good = calibration.others_audits, calibration.others_good
    return {
        "calibration_auditor_audits": auditor_audits,
        # The shares are only displayed (to 2 decimals); GC-18 compares the exact gap.
        "calibration_auditor_good_share": round(_percent(auditor_good, auditor_audits), 2),
        "calibration_others_audits": others_audits,
        "calibration_others_good_share": round(_percent(others_good, others_audits), 2),
        "calibration_gap_points": _gap_points(auditor_good, auditor_audits, others_good, others_audits),
        "calibration_review_open": history.calibration_review_open,
    }


def _percent(part: int, whole: int) -> float:
    """``part`` as a percentage of ``whole`` (0 for none); int / int is correctly rounded."""
    return 100 * part / whole if whole else 0.0


def _gap_points(good: int, audits: int, others_good: int, others_audits: int) -> float:
    """The distance in points between two shares, as the nearest float to the exact
    value: GC-18 compares it, so it is never rounded across the threshold (a true
    29.9951 stays below 30; a true 30 is exactly 30.0). One integer division of the
    exact difference ``100 * (good/audits - others_good/others_audits)``."""
    if not audits or not others_audits:
        return _percent(good, audits) if audits else _percent(others_good, others_audits)
    return 100 * abs(good * others_audits - others_good * audits) / (audits * others_audits)


def _area_fields(
    audit: Audit, area: str, judgement: AreaJudgement | None, history: AuditHistory,
    blank: dict[str, Any],
) -> dict[str, Any]:
    """One area's fields; ``judgement`` is the audit's row for it, None if absent.

    Starts from ``blank`` (the audit's context, an absent area, no concerns)
    and sets what differs: a copy of a dict with every key already in place
    is the cheapest way to build it, and this runs twelve times per audit.
    """
    fields = blank.copy()
    fields["area"] = area
    if judgement is None:
        grade = UNSET
        fields["risk_types"] = []
    else:
        grade = judgement.grade or UNSET
        evidence, impact = judgement.evidence, judgement.impact
        fields["present"] = True
        fields["grade"] = grade
        fields["graded"] = grade in GRADED
        fields["evidence_blank"] = not evidence.strip()
        fields["impact_blank"] = not impact.strip()
        fields["words"] = len(evidence.split()) + len(impact.split())
        fields["na_reason_blank"] = not judgement.not_applicable_reason.strip()
        fields["risk_types_count"] = len(judgement.risk_types)
        fields["risk_types"] = list(judgement.risk_types)
    if history.concerns or grade == "DOES_NOT_MEET_GOOD":  # else ``blank`` has none
        concerns = _concern_fields(audit, area, grade, history)
        if concerns is not None:
            fields.update(concerns)
    if history.open_deep_dive_areas:  # else ``blank`` says False
        fields["deep_dive_open"] = area in history.open_deep_dive_areas
    return fields


def _concern_fields(
    audit: Audit, area: str, grade: str, history: AuditHistory
) -> dict[str, Any] | None:
    """ES-03: distinct cases with this area below good in the window, this one included.

    None when there are none (the common case: no history, area not below good).
    """
    others = history.concerns.get(area)
    cases = [c for c in others if c.audit_id != audit.audit_id] if others else []
    counts_itself = grade == "DOES_NOT_MEET_GOOD" and audit.completed
    if not cases:  # no history for the area (every draft, every first audit)
        return _only_itself(audit) if counts_itself else None
    if counts_itself:
        cases.append(_self_as_concern(audit))
    by_case: dict[str, Any] = {}
    for case in sorted(cases, key=lambda c: (c.completed_on, c.audit_id)):
        by_case[case.case_ref] = case  # the latest audit of each case speaks for it
    ordered = sorted(by_case.values(), key=lambda c: (c.completed_on, c.case_ref))
    return {
        "concern_cases": len(ordered),
        "concern_case_refs": [c.case_ref for c in ordered],
        "concern_audit_ids": [c.audit_id for c in ordered],
        "concern_strands": sorted({c.strand for c in ordered if c.strand}),
        "concern_age_bands": sorted({c.age_band for c in ordered if c.age_band}),
    }


# An area the audit does not grade, in the order of an area fact's fields
# (``area`` and a fresh ``risk_types`` list are set per fact).
_ABSENT_AREA: dict[str, Any] = {
    "area": "", "present": False, "grade": UNSET, "graded": False, "evidence_blank": True,
    "impact_blank": True, "words": 0, "na_reason_blank": True, "risk_types_count": 0,
    "risk_types": None,
}
# Shared by every area fact without concerns (``blank`` is copied shallowly), so
# the empty lists are tuples: nothing can append to one for every later evaluation.
_NO_CONCERNS: dict[str, Any] = {
    "concern_cases": 0, "concern_case_refs": (), "concern_audit_ids": (),
    "concern_strands": (), "concern_age_bands": (), "deep_dive_open": False,
}


def _only_itself(audit: Audit) -> dict[str, Any]:
    """``_concern_fields`` when this audit is the area's only concern."""
    return {
        "concern_cases": 1, "concern_case_refs": [audit.case_ref],
        "concern_audit_ids": [audit.audit_id],
        "concern_strands": [audit.strand] if audit.strand else [],
        "concern_age_bands": [audit.age_band] if audit.age_band else [],
    }


def _self_as_concern(audit: Audit) -> ConcernCase:
    return ConcernCase(
        audit.audit_id, audit.case_ref, audit.completed_on or date.min,
        audit.strand, audit.age_band,
    )


def _agreed_action_fields(audit: Audit, index: int, context: dict[str, Any]) -> dict[str, Any]:
    action = audit.agreed_actions[index]
    before = (
        action.by_when is not None and audit.completed_on is not None
        and action.by_when < audit.completed_on
    )
    return {
        **context, "index": index + 1,
        "description_blank": _text_blank(action.description),
        "by_whom_blank": _text_blank(action.by_whom),
        "by_when_set": action.by_when is not None, "by_when": action.by_when,
        "by_when_before_completion": before,
    }


# --------------------------------------------------------------- providers


def inspection_facts(data: InspectionInput) -> list[Fact]:
    """The inspection, and one ``placed_child`` per child placed on the rating date."""
    inspection = data.inspection
    placed = [p for p in data.placements if p.active_on(inspection.rated_on)]
    facts = [Fact("inspection", "inspection", {
        "inspection_id": inspection.inspection_id, "provider_id": inspection.provider_id,
        "provider_name": inspection.provider_name, "grade": inspection.grade,
        "previous_grade": data.previous_grade or NEVER_INSPECTED,
        "inspected_on": inspection.inspected_on, "published_on": inspection.published_on,
        "rated_on": inspection.rated_on, "placed_children": len(placed),
    })]
    for placement in sorted(placed, key=lambda p: p.placement_id):
        facts.append(Fact("placed_child", f"placed-{placement.placement_id}", {
            "placement_id": placement.placement_id, "case_ref": placement.case_ref,
            "provider_id": inspection.provider_id, "provider_name": inspection.provider_name,
            "inspection_id": inspection.inspection_id, "inspection_grade": inspection.grade,
            "social_worker_id": placement.social_worker_id,
            "team_manager_id": placement.team_manager_id, "team": placement.team,
            "service_area": placement.service_area, "rated_on": inspection.rated_on,
        }))
    return facts


def placement_facts(data: PlacementInput) -> list[Fact]:
    """The placement with the provider's grade on its start date and missing checks."""
    placement = data.placement
    missing = placement.checks.missing()
    return [Fact("placement", "placement", {
        "placement_id": placement.placement_id, "case_ref": placement.case_ref,
        "provider_id": placement.provider_id, "provider_grade": data.provider_grade or NEVER_INSPECTED,
        "start_on": placement.start_on, "end_on": placement.end_on,
        "ended": placement.end_on is not None, "missing_checks_count": len(missing),
        "missing_checks": list(missing), "social_worker_id": placement.social_worker_id,
        "team_manager_id": placement.team_manager_id, "team": placement.team,
        "service_area": placement.service_area,
    })]


def plan_rating_facts(rating: PlanRating) -> list[Fact]:
    """The plan rating."""
    return [Fact("plan_rating", "plan-rating", {
        "rating_id": rating.rating_id, "case_ref": rating.case_ref,
        "plan_type": rating.plan_type, "rating": rating.rating, "rated_on": rating.rated_on,
        "rated_by": rating.rated_by, "team": rating.team, "service_area": rating.service_area,
        "team_manager_id": rating.team_manager_id,
    })]


# ----------------------------------------------------------------- reviews


def review_facts(
    data: ReviewInput, catalogue: Mapping[str, tuple[str, ...]], scores: list[LensScore]
) -> list[Fact]:
    """A judgement per catalogue area, a score per lens and overall, one per action."""
    review = data.review
    evidence = data.evidence
    # Not rounded: LS-05 compares it (1402 of 2003 = 0.69995 is below 0.7).
    # int / int is correctly rounded, so this is the nearest float to the share.
    share = (
        evidence.audits_good_or_better / evidence.audits_completed
        if evidence.audits_completed else 0.0
    )
    base = {"review_id": review.review_id, "service_area": review.service_area}
    given = {(j.lens, j.judgement_area): j for j in review.judgements}
    facts: list[Fact] = []
    for lens, areas in catalogue.items():
        for area in areas:
            judgement = given.get((lens, area))
            facts.append(Fact("judgement", f"judgement-{lens}-{area}", {
                **base, "lens": lens, "judgement_area": area,
                "judged": judgement is not None and judgement.grade is not None,
                "grade": _enum(judgement.grade if judgement else None),
                "evidence_blank": judgement is None or _text_blank(judgement.evidence),
                "actions_count": len(judgement.actions) if judgement else 0,
                # An action row with no description identifies nothing (LS-02).
                "actions_described": sum(not _text_blank(a.description) for a in judgement.actions)
                if judgement else 0,
                "audits_completed": evidence.audits_completed,
                "audits_good_share": share,
                "inadequate_provider_placements": evidence.inadequate_provider_placements,
                "period_start": review.period_start, "period_end": review.period_end,
            }))
    for score in scores:
        facts.append(Fact("lens_score", f"score-{score.lens}", {
            **base, "lens": score.lens, "score": score.score,
            "judgement": _enum(score.judgement), "capped": bool(score.limited_by),
            "limited_by": score.limited_by,
        }))
    for judgement in review.judgements:
        for index, action in enumerate(judgement.actions, start=1):
            facts.append(Fact(
                "review_action", f"action-{judgement.lens}-{judgement.judgement_area}-{index}", {
                    **base, "lens": judgement.lens, "judgement_area": judgement.judgement_area,
                    "index": index, "description": action.description,
                    "description_blank": _text_blank(action.description),
                    "owner_id": action.owner_id, "owner_blank": _text_blank(action.owner_id),
                    "due_set": action.due_on is not None, "due_on": action.due_on,
                    "action_digest": action_digest(action.owner_id, action.description),
                }))
    return facts


def action_digest(owner_id: str, description: str) -> str:
    """What a review action is, as 16 hex digits: its owner and its description
    (whitespace runs as one space). Not its position nor its due date: LS-07 keys an
    action by it, so reordering or dropping another action, or moving the due date,
    keeps the action; another owner or description is another action."""
    text = json.dumps([owner_id, " ".join(description.split())], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ------------------------------------------------------------------- sweep

# The open actions the escalation sweep gives the rules: those past due (at least one
# day overdue), of these kinds. A rule on ``open_action`` must require both, or it
# could pass ``lenses test`` and never fire on the server; the loader checks it.
SWEPT_ACTION_KINDS = frozenset({"CORRECTIVE_ACTION", "PLAN_RATING_RESPONSE"})


def sweep_facts(data: SweepInput) -> list[Fact]:
    """One fact per open action and per service area's latest panel."""
    facts = [
        Fact("open_action", f"open-{action.action_id}", {
            "action_id": action.action_id, "kind": action.kind, "due_on": action.due_on,
            "origin_on": action.origin_on, "as_of": data.as_of,
            "days_overdue": (data.as_of - action.due_on).days, "escalated": action.escalated,
            "owner_id": action.owner_id, "audit_id": action.audit_id,
            "case_ref": action.case_ref, "service_area": action.service_area,
            "team": action.team, "provider_id": action.provider_id,
            "placement_id": action.placement_id,
        })
        for action in data.open_actions
    ]
    facts += [
        Fact("service_area", f"panel-{panel.service_area}", {
            "service_area": panel.service_area, "panel_on": panel.panel_on,
            "as_of": data.as_of,
            "months_since_panel": dates.months_between(panel.panel_on, data.as_of),
            "review_due_open": panel.review_due_open,
        })
        for panel in data.panels
    ]
    return facts
