"""Summarise stored records into the history inputs the rules need.

The server gathers the same summary with indexed queries; this plain
version serves ``lenses eval --history`` and the tests, and defines what the
summary means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from . import dates
from .model import (
    AT_LEAST_GOOD,
    Audit,
    AuditHistory,
    Calibration,
    ConcernCase,
    EarlierAudit,
    Inspection,
    InspectionInput,
    Placement,
    PlacementInput,
    ReviewEvidence,
    ServiceReview,
)


def deep_dive_window(completed_on: date, params: Mapping[str, Any]) -> tuple[date, date]:
    """ES-03's window: the ``deep_dive_window_days`` up to the completion, inclusive."""
    return completed_on - timedelta(days=int(params["deep_dive_window_days"])), completed_on


def calibration_window(completed_on: date, params: Mapping[str, Any]) -> tuple[date, date]:
    """GC-18's window: ``calibration_window_months`` up to the completion, inclusive."""
    return dates.add_months(completed_on, -int(params["calibration_window_months"])), completed_on


def summarise(
    audit: Audit,
    earlier: Iterable[Audit],
    params: Mapping[str, Any],
    open_deep_dive_areas: Iterable[str] = (),
    calibration_review_open: bool = False,
) -> AuditHistory:
    """The history of ``audit`` from other stored audits (only completed ones count;
    each as its latest revision in ``earlier`` says)."""
    if not audit.completed or audit.completed_on is None:
        return AuditHistory()
    others = [
        a for a in latest_revisions(earlier)
        if a.audit_id != audit.audit_id and a.completed and a.completed_on is not None
        and a.completed_on <= audit.completed_on
    ]
    return AuditHistory(
        earlier_case_audits=tuple(
            EarlierAudit(a.audit_id, a.completed_on, a.effective_grade)  # type: ignore[arg-type]
            for a in sorted(others, key=lambda a: (a.completed_on, a.audit_id))
            if a.case_ref == audit.case_ref
        ),
        concerns=_concerns(audit, others, params),
        calibration=_calibration(audit, others, params),
        open_deep_dive_areas=frozenset(open_deep_dive_areas),
        calibration_review_open=calibration_review_open,
    )


def latest_revisions(audits: Iterable[Audit]) -> list[Audit]:
    """Each audit once, as its latest revision says (the highest revision; of two
    alike, the later given), in the order the audits first appear.

    A stored audit is what its latest revision says: a superseded revision
    must not count as an audit of its own, nor speak for the audit.
    """
    latest: dict[str, Audit] = {}
    for audit in audits:
        kept = latest.get(audit.audit_id)
        if kept is None or audit.revision >= kept.revision:
            latest[audit.audit_id] = audit
    return list(latest.values())


def _concerns(
    audit: Audit, others: list[Audit], params: Mapping[str, Any]
) -> dict[str, tuple[ConcernCase, ...]]:
    assert audit.completed_on is not None
    start, end = deep_dive_window(audit.completed_on, params)
    concerns: dict[str, list[ConcernCase]] = {}
    for other in others:
        if other.service_area != audit.service_area:
            continue
        if not (start <= other.completed_on <= end):  # type: ignore[operator]
            continue
        for judgement in other.areas:
            if judgement.grade == "DOES_NOT_MEET_GOOD":
                concerns.setdefault(judgement.area, []).append(ConcernCase(
                    other.audit_id, other.case_ref, other.completed_on,  # type: ignore[arg-type]
                    other.strand, other.age_band,
                ))
    return {area: tuple(cases) for area, cases in concerns.items()}


def _calibration(audit: Audit, others: list[Audit], params: Mapping[str, Any]) -> Calibration:
    assert audit.completed_on is not None
    start, end = calibration_window(audit.completed_on, params)
    in_window = [
        o for o in others
        if o.service_area == audit.service_area
        and start <= o.completed_on <= end  # type: ignore[operator]
    ]
    mine = [o for o in in_window if o.auditor_id == audit.auditor_id]
    theirs = [o for o in in_window if o.auditor_id != audit.auditor_id]
    return Calibration(
        auditor_audits=len(mine),
        auditor_good=sum(1 for o in mine if o.overall_grade in AT_LEAST_GOOD),
        others_audits=len(theirs),
        others_good=sum(1 for o in theirs if o.overall_grade in AT_LEAST_GOOD),
    )


def latest_grade_on(
    inspections: Iterable[Inspection], provider_id: str, day: date,
    excluding: str = "",
) -> str | None:
    """The provider's latest Ofsted grade rated on or before ``day`` (None if never)."""
    rated = [
        i for i in inspections
        if i.provider_id == provider_id and i.rated_on <= day and i.inspection_id != excluding
    ]
    if not rated:
        return None
    return max(rated, key=lambda i: (i.rated_on, i.inspection_id)).grade


def inspection_input(
    inspection: Inspection, inspections: Iterable[Inspection], placements: Iterable[Placement]
) -> InspectionInput:
    """ES-04/ES-07 input: the previous grade and the provider's placements."""
    return InspectionInput(
        inspection=inspection,
        previous_grade=latest_grade_on(
            inspections, inspection.provider_id, inspection.rated_on, inspection.inspection_id
        ),
        placements=tuple(p for p in placements if p.provider_id == inspection.provider_id),
    )


def placement_input(placement: Placement, inspections: Iterable[Inspection]) -> PlacementInput:
    """ES-05/ES-06 input: the provider's latest grade on the start date."""
    return PlacementInput(
        placement, latest_grade_on(inspections, placement.provider_id, placement.start_on)
    )


def review_evidence(
    review: ServiceReview,
    audits: Iterable[Audit],
    placements: Iterable[Placement],
    inspections: Iterable[Inspection],
) -> ReviewEvidence:
    """LS-05/LS-06 evidence: the service area's completed audits in the period, and
    its children placed at the period's end with a provider graded INADEQUATE."""
    inspections = list(inspections)
    in_period = [
        a for a in latest_revisions(audits)
        if a.service_area == review.service_area and a.completed and a.completed_on is not None
        and review.period_start <= a.completed_on <= review.period_end
    ]
    inadequate = [
        p for p in placements
        if p.service_area == review.service_area and p.active_on(review.period_end)
        and latest_grade_on(inspections, p.provider_id, review.period_end) == "INADEQUATE"
    ]
    return ReviewEvidence(
        audits_completed=len(in_period),
        audits_good_or_better=sum(1 for a in in_period if a.effective_grade in AT_LEAST_GOOD),
        inadequate_provider_placements=len(inadequate),
    )
