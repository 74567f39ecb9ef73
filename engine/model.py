"""Plain typed records: what the engine takes and what it gives back.

Enumerated values are the domain's short names (``MEETS_GOOD``, ``RISK``,
``CORRECTIVE_ACTION``), without the API's enum prefixes; the server converts
at the edge. An unset grade or enum is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

AREAS: tuple[str, ...] = (
    "RISK", "INVOLVEMENT", "DECISION_MAKING", "ASSESSMENT", "COORDINATION", "DIVERSITY",
    "PLANS", "PERMANENCE", "REVIEWS", "PLACEMENT", "INDEPENDENCE", "OUTCOMES",
)
GRADES: tuple[str, ...] = ("EXCEEDS_GOOD", "MEETS_GOOD", "DOES_NOT_MEET_GOOD", "NOT_APPLICABLE")
OFSTED_GRADES: tuple[str, ...] = ("OUTSTANDING", "GOOD", "REQUIRES_IMPROVEMENT", "INADEQUATE")
LENSES: tuple[str, ...] = (
    "INDEPENDENT_CHALLENGE", "PROVIDER_CHALLENGE", "PROFESSIONAL_CHALLENGE", "CITIZEN_CHALLENGE",
)
SEVERITIES: tuple[str, ...] = ("BLOCKING", "WARNING", "ADVICE")
OWNER_ROLES: tuple[str, ...] = (
    "CASE_HOLDER", "TEAM_MANAGER", "SERVICE_MANAGER", "HEAD_OF_SERVICE", "HEAD_OF_SAFEGUARDING",
    "PRINCIPAL_SOCIAL_WORKER", "IRO", "COMMISSIONING", "PLACEMENTS_TEAM",
)
ACTION_KINDS: tuple[str, ...] = (
    "CORRECTIVE_ACTION", "CORRECTIVE_ACTION_ESCALATION", "DEEP_DIVE_AUDIT", "MODERATION_REVIEW",
    "PROVIDER_ACTION_PLAN", "PLACEMENT_REVIEW_VISIT", "PLACEMENT_DECISION", "PLACEMENT_EXCEPTION",
    "PLACEMENT_CHECKS", "CONTRACT_MONITORING_VISIT", "PLAN_RATING_RESPONSE", "PLAN_ESCALATION",
    "REVIEW_ACTION", "SERVICE_REVIEW_DUE",
)
SUBJECT_TYPES: tuple[str, ...] = (
    "AUDIT", "CASE", "PROVIDER", "PLACEMENT", "SERVICE_AREA", "AUDITOR",
)
AUDIT_STATUSES: tuple[str, ...] = ("DRAFT", "COMPLETED")
STRANDS: tuple[str, ...] = (
    "HELP_AND_PROTECTION", "LOOKED_AFTER_AND_PERMANENCE", "ADOPTION_AND_CARE_LEAVERS",
    "LEADERSHIP_MANAGEMENT_GOVERNANCE", "LOCAL_SAFEGUARDING_BOARD",
)
AGE_BANDS: tuple[str, ...] = ("UNDER_1", "1_TO_4", "5_TO_9", "10_TO_15", "16_TO_17", "18_PLUS")
PLAN_TYPES: tuple[str, ...] = ("CARE_PLAN", "CP_PLAN")
RAG_RATINGS: tuple[str, ...] = ("RED", "AMBER", "GREEN")
PLACEMENT_CHECKS: tuple[str, ...] = (
    "ofsted_report", "regulation_reports", "la_references", "insurance",
    "statement_of_purpose", "social_worker_visit",
)

# Ordinal steps used for "two steps away" and "at least good".
GRADE_STEP: Mapping[str, int] = {"EXCEEDS_GOOD": 3, "MEETS_GOOD": 2, "DOES_NOT_MEET_GOOD": 1}
AT_LEAST_GOOD = frozenset({"EXCEEDS_GOOD", "MEETS_GOOD"})


# ---------------------------------------------------------------- audits


@dataclass(frozen=True)
class AreaJudgement:
    """One row of the audit tool: an area's grade, evidence and impact."""

    area: str
    grade: str | None = None
    evidence: str = ""
    impact: str = ""
    not_applicable_reason: str = ""
    risk_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgreedAction:
    """An action agreed at the audit: what, by whom, by when."""

    description: str = ""
    by_whom: str = ""
    by_when: date | None = None


@dataclass(frozen=True)
class Audit:
    """A case file audit as saved (one revision)."""

    audit_id: str
    revision: int
    status: str  # DRAFT or COMPLETED
    case_ref: str
    service_area: str
    auditor_id: str
    team: str = ""
    strand: str | None = None
    age_band: str | None = None
    auditor_role: str | None = None
    case_holder_id: str = ""
    service_manager_id: str = ""
    audited_previously: bool = False
    completed_on: date | None = None
    lookback_from: date | None = None
    lookback_reason: str = ""
    areas: tuple[AreaJudgement, ...] = ()
    overall_grade: str | None = None
    agreed_actions: tuple[AgreedAction, ...] = ()
    feedback_discussed: bool = False
    # Set by ModerateAudit (MO-01); the effective grade is this when present.
    moderated_grade: str | None = None

    @property
    def completed(self) -> bool:
        """True once the auditor has marked the audit completed."""
        return self.status == "COMPLETED"

    @property
    def effective_grade(self) -> str | None:
        """The moderated grade if moderated, else the auditor's overall grade."""
        return self.moderated_grade or self.overall_grade


@dataclass(frozen=True)
class EarlierAudit:
    """An earlier completed audit of the same case (GC-16, GC-17)."""

    audit_id: str
    completed_on: date
    effective_grade: str | None


@dataclass(frozen=True)
class ConcernCase:
    """Another completed audit in the service area with an area below good (ES-03)."""

    audit_id: str
    case_ref: str
    completed_on: date
    strand: str | None = None
    age_band: str | None = None


@dataclass(frozen=True)
class Calibration:
    """Completed audits in the service area within the calibration window (GC-18).

    Counts exclude the audit being evaluated; the engine adds it. "Good"
    counts the auditor's own overall grade at least good.
    """

    auditor_audits: int = 0
    auditor_good: int = 0
    others_audits: int = 0
    others_good: int = 0


@dataclass(frozen=True)
class AuditHistory:
    """What the store knows that the history rules need, gathered by the caller."""

    earlier_case_audits: tuple[EarlierAudit, ...] = ()
    # area -> other audits (not this one) with that area below good in the window
    concerns: Mapping[str, tuple[ConcernCase, ...]] = field(default_factory=dict)
    calibration: Calibration = Calibration()
    open_deep_dive_areas: frozenset[str] = frozenset()
    calibration_review_open: bool = False


# ------------------------------------------------------------- providers


@dataclass(frozen=True)
class PlacementChecks:
    """The six pre-placement checks of Framework §2.5."""

    ofsted_report: bool = False
    regulation_reports: bool = False
    la_references: bool = False
    insurance: bool = False
    statement_of_purpose: bool = False
    social_worker_visit: bool = False

    def missing(self) -> tuple[str, ...]:
        """Names of the checks not done, in the framework's order."""
        return tuple(name for name in PLACEMENT_CHECKS if not getattr(self, name))


@dataclass(frozen=True)
class Placement:
    """A child placed with a provider."""

    placement_id: str
    case_ref: str
    provider_id: str
    start_on: date
    end_on: date | None = None
    social_worker_id: str = ""
    team_manager_id: str = ""
    team: str = ""
    service_area: str = ""
    checks: PlacementChecks = PlacementChecks()

    def active_on(self, day: date) -> bool:
        """True if the child is placed there on ``day`` (end date exclusive)."""
        return self.start_on <= day and (self.end_on is None or self.end_on > day)


@dataclass(frozen=True)
class Inspection:
    """An Ofsted inspection result for a provider."""

    inspection_id: str
    provider_id: str
    grade: str
    inspected_on: date
    published_on: date | None = None
    provider_name: str = ""

    @property
    def rated_on(self) -> date:
        """The day the grade counts from: publication, else the inspection."""
        return self.published_on or self.inspected_on


@dataclass(frozen=True)
class InspectionInput:
    """An inspection with the provider's previous grade and the children placed."""

    inspection: Inspection
    previous_grade: str | None = None
    placements: tuple[Placement, ...] = ()


@dataclass(frozen=True)
class PlacementInput:
    """A placement with the provider's latest grade on its start date."""

    placement: Placement
    provider_grade: str | None = None


@dataclass(frozen=True)
class PlanRating:
    """An IRO's or CP chair's RAG rating of a care plan or CP plan (ES-08)."""

    rating_id: str
    case_ref: str
    plan_type: str
    rating: str
    rated_on: date
    rated_by: str = ""
    team: str = ""
    service_area: str = ""
    team_manager_id: str = ""


# --------------------------------------------------------------- reviews


@dataclass(frozen=True)
class ReviewAction:
    """An action identified in a service performance review."""

    description: str = ""
    owner_id: str = ""
    due_on: date | None = None


@dataclass(frozen=True)
class ReviewJudgement:
    """One judgement area of a review, graded on Ofsted's scale."""

    lens: str
    judgement_area: str
    grade: str | None = None
    comments: str = ""
    evidence: str = ""
    actions: tuple[ReviewAction, ...] = ()


@dataclass(frozen=True)
class ServiceReview:
    """A six-monthly service performance review (Framework Appendix 2)."""

    review_id: str
    revision: int
    service_area: str
    period_start: date
    period_end: date
    panel_on: date | None = None
    judgements: tuple[ReviewJudgement, ...] = ()


@dataclass(frozen=True)
class ReviewEvidence:
    """Stored indicators for LS-05 and LS-06, gathered by the caller."""

    audits_completed: int = 0
    audits_good_or_better: int = 0
    inadequate_provider_placements: int = 0


@dataclass(frozen=True)
class ReviewInput:
    """A review with the stored evidence the challenge rules compare it with."""

    review: ServiceReview
    evidence: ReviewEvidence = ReviewEvidence()


# ----------------------------------------------------------------- sweep


@dataclass(frozen=True)
class OpenAction:
    """An open action as the sweep sees it (ES-02, ES-08)."""

    action_id: str
    kind: str
    due_on: date
    origin_on: date  # the date its timescale started from (e.g. the rating date)
    escalated: bool = False
    owner_id: str = ""
    audit_id: str = ""
    case_ref: str = ""
    service_area: str = ""
    team: str = ""
    provider_id: str = ""
    placement_id: str = ""


@dataclass(frozen=True)
class ServiceAreaPanel:
    """A service area's latest review panel date (LS-08)."""

    service_area: str
    panel_on: date
    review_due_open: bool = False


@dataclass(frozen=True)
class SweepInput:
    """Everything the escalation sweep evaluates at ``as_of``."""

    as_of: date
    open_actions: tuple[OpenAction, ...] = ()
    panels: tuple[ServiceAreaPanel, ...] = ()


# --------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Finding:
    """A rule that fired, explained for a person."""

    rule_id: str
    severity: str | None
    message: str
    framework_ref: str
    area: str | None = None
    because: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionIntent:
    """An action a rule asks for; the server decides whether it is new.

    ``dedupe_key`` (rule id, kind and the rule's ``key``) is stable for "the
    same action": the server creates at most one open action per key.
    """

    rule_id: str
    kind: str
    owner_role: str | None
    owner_id: str
    due_on: date
    subject_type: str
    subject_id: str
    detail: str
    dedupe_key: str
    audit_id: str = ""
    case_ref: str = ""
    provider_id: str = ""
    placement_id: str = ""
    service_area: str = ""
    team: str = ""
    escalated_from: str = ""


@dataclass(frozen=True)
class LensScore:
    """A lens's (or the overall) score, band and the cap that applied."""

    lens: str
    score: float
    judgement: str | None
    limited_by: str = ""


@dataclass(frozen=True)
class Evaluation:
    """What the rules say about one input."""

    findings: tuple[Finding, ...]
    actions: tuple[ActionIntent, ...]
    ruleset_version: str
    effective_grade: str | None = None
    lens_scores: tuple[LensScore, ...] = ()
    overall: LensScore | None = None

    @property
    def ready_to_complete(self) -> bool:
        """No BLOCKING finding."""
        return not any(f.severity == "BLOCKING" for f in self.findings)
