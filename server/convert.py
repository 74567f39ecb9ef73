"""Protobuf <-> engine records, with input validation.

Every problem with a request is collected (not just the first) as a field
violation with a path such as ``audit.areas[2].grade``; the gRPC edge turns
them into ``INVALID_ARGUMENT`` with a ``google.rpc.BadRequest``, the CLI into
an error message.
"""

from __future__ import annotations

import calendar
import contextlib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct

from engine import model
from lenses.v1 import audit_pb2, common_pb2, provider_pb2, review_pb2, rules_pb2

MAX_ID = 128
MAX_TEXT = 20_000
MAX_SHORT_TEXT = 2_000

# The dates the service accepts: wide enough for any real record, and narrow
# enough that no window before or due date after one leaves Python's calendar.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2999, 12, 31)
DATE_RANGE = f"{MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
Day = date  # "date" is also a Checker method


@dataclass(frozen=True)
class Violation:
    """One problem with one field of a request."""

    field: str
    description: str


class InvalidInput(Exception):
    """A request is malformed; ``violations`` lists every problem found."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations


@dataclass
class Checker:
    """Collects violations while a request is read."""

    violations: list[Violation] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.violations.append(Violation(path, description))

    def done(self) -> None:
        if self.violations:
            raise InvalidInput(self.violations)

    def text(self, path: str, value: str, required: bool = False, limit: int = MAX_SHORT_TEXT) -> str:
        if required and not value.strip():
            self.add(path, "is required")
        if len(value) > limit:
            self.add(path, f"is longer than {limit} characters")
        if "\x00" in value:  # no database stores NUL in text (PostgreSQL refuses it)
            self.add(path, "contains a NUL character")
        return value

    def ident(self, path: str, value: str, required: bool = False) -> str:
        return self.text(path, value, required, MAX_ID)

    def date(self, path: str, value: str, required: bool = False) -> date | None:
        if not value:
            if required:
                self.add(path, "is required (YYYY-MM-DD)")
            return None
        day = None
        if _DATE.fullmatch(value):  # fromisoformat alone also takes week dates (2026-W01-1)
            with contextlib.suppress(ValueError):  # a day the month has not
                day = date.fromisoformat(value)
        if day is None:
            self.add(path, f"is not a date YYYY-MM-DD: {value[:20]!r}")
            return None
        if not MIN_DATE <= day <= MAX_DATE:
            self.add(path, f"is outside the supported dates {DATE_RANGE}: {value!r}")
            return None
        return day

    def not_after_today(self, path: str, day: Day | None, today: Day, why: str) -> None:
        """A date that must not be after ``today`` (the server's: England's date)."""
        if day is not None and day > today:
            self.add(path, f"is after today ({today.isoformat()}): {why}")

    def month(self, path: str, value: str) -> tuple[Day, Day] | None:
        """The first and last day of a month ``YYYY-MM`` (required)."""
        if not value:
            self.add(path, "is required (YYYY-MM)")
            return None
        match = _MONTH.fullmatch(value)
        if match is None or not 1 <= int(match[2]) <= 12:
            self.add(path, f"is not a month YYYY-MM: {value[:20]!r}")
            return None
        year, number = int(match[1]), int(match[2])
        if not (MIN_DATE.year, MIN_DATE.month) <= (year, number) <= (MAX_DATE.year, MAX_DATE.month):
            self.add(path, f"is outside the supported months "
                           f"{MIN_DATE:%Y-%m} to {MAX_DATE:%Y-%m}: {value!r}")
            return None
        return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])

    def reported(self, path: str) -> bool:
        """Whether a problem with ``path`` is already listed."""
        return any(v.field == path for v in self.violations)

    def enum(self, path: str, descriptor: EnumDescriptor, number: int,
             required: bool = False) -> str | None:
        """The short name of an enum value (prefix stripped); None when unset."""
        name = _short_names(descriptor).get(number)
        if name is None:
            self.add(path, f"{number} is not a value of {descriptor.name}")
            return None
        if number == 0:
            if required:
                self.add(path, f"is required (a {descriptor.name} value)")
            return None
        return name


def _prefix(descriptor: EnumDescriptor) -> str:
    return descriptor.values_by_number[0].name[: -len("UNSPECIFIED")]


@functools.cache
def _short_names(descriptor: EnumDescriptor) -> dict[int, str]:
    """Every value's short name by number, worked out once per enum."""
    return {value.number: short_name(descriptor, value.name) for value in descriptor.values}


def short_name(descriptor: EnumDescriptor, full: str) -> str:
    """``GRADE_MEETS_GOOD`` -> ``MEETS_GOOD``."""
    return full[len(_prefix(descriptor)):]


def enum_number(descriptor: EnumDescriptor, short: str | None) -> int:
    """``MEETS_GOOD`` -> the number of ``GRADE_MEETS_GOOD`` (0 for None)."""
    if not short:
        return 0
    return int(descriptor.values_by_name[_prefix(descriptor) + short].number)


def _enum_descriptor(name: str) -> EnumDescriptor:
    return common_pb2.DESCRIPTOR.enum_types_by_name[name]


GRADE = _enum_descriptor("Grade")
AREA = _enum_descriptor("Area")
RISK_TYPE = _enum_descriptor("RiskType")
STRAND = _enum_descriptor("Strand")
AGE_BAND = _enum_descriptor("AgeBand")
AUDIT_STATUS = _enum_descriptor("AuditStatus")
OWNER_ROLE = _enum_descriptor("OwnerRole")
SEVERITY = _enum_descriptor("Severity")
LENS = _enum_descriptor("Lens")
OFSTED_GRADE = _enum_descriptor("OfstedGrade")
PLAN_TYPE = _enum_descriptor("PlanType")
RAG_RATING = _enum_descriptor("RagRating")
ACTION_KIND = _enum_descriptor("ActionKind")
ACTION_STATUS = _enum_descriptor("ActionStatus")
SUBJECT_TYPE = _enum_descriptor("SubjectType")


# ------------------------------------------------------------------ audits


def audit_from_proto(message: audit_pb2.CaseFileAudit, path: str = "audit") -> model.Audit:
    """Validate and convert a ``CaseFileAudit``; raises :class:`InvalidInput`."""
    check = Checker()
    audit = _read_audit(message, path, check)
    check.done()
    return audit


def _read_audit(m: audit_pb2.CaseFileAudit, path: str, check: Checker) -> model.Audit:
    status = check.enum(f"{path}.status", AUDIT_STATUS, m.status, required=True)
    completed = status == "COMPLETED"
    if m.revision <= 0:
        check.add(f"{path}.revision", "must be greater than 0")
    return model.Audit(
        audit_id=check.ident(f"{path}.audit_id", m.audit_id, required=True),
        revision=m.revision, status=status or "",
        case_ref=check.ident(f"{path}.case_ref", m.case_ref, required=True),
        service_area=check.ident(f"{path}.service_area", m.service_area, required=True),
        auditor_id=check.ident(f"{path}.auditor_id", m.auditor_id, required=True),
        team=check.ident(f"{path}.team", m.team, required=completed),
        strand=check.enum(f"{path}.strand", STRAND, m.strand, required=completed),
        age_band=check.enum(f"{path}.age_band", AGE_BAND, m.age_band, required=completed),
        auditor_role=check.enum(f"{path}.auditor_role", OWNER_ROLE, m.auditor_role),
        case_holder_id=check.ident(f"{path}.case_holder_id", m.case_holder_id, completed),
        service_manager_id=check.ident(
            f"{path}.service_manager_id", m.service_manager_id, completed),
        audited_previously=m.audited_previously,
        completed_on=check.date(f"{path}.completed_on", m.completed_on, required=completed),
        lookback_from=check.date(f"{path}.lookback_from", m.lookback_from),
        lookback_reason=check.text(f"{path}.lookback_reason", m.lookback_reason, limit=MAX_TEXT),
        areas=_read_areas(m, path, check),
        overall_grade=_overall_grade(m, path, check),
        agreed_actions=tuple(
            _read_agreed_action(a, f"{path}.agreed_actions[{i}]", check)
            for i, a in enumerate(m.agreed_actions)
        ),
        feedback_discussed=m.feedback_discussed,
    )


def _overall_grade(m: audit_pb2.CaseFileAudit, path: str, check: Checker) -> str | None:
    grade = check.enum(f"{path}.overall_grade", GRADE, m.overall_grade)
    if grade == "NOT_APPLICABLE":
        check.add(f"{path}.overall_grade", "the case overall cannot be not applicable")
    return grade


def _read_areas(m: audit_pb2.CaseFileAudit, path: str, check: Checker) -> tuple[model.AreaJudgement, ...]:
    areas = []
    seen: set[str] = set()
    for i, a in enumerate(m.areas):
        where = f"{path}.areas[{i}]"
        area = check.enum(f"{where}.area", AREA, a.area, required=True)
        if area and area in seen:
            check.add(f"{where}.area", f"{area} is listed twice")
        seen.add(area or "")
        grade = check.enum(f"{where}.grade", GRADE, a.grade)
        risk_types = tuple(
            check.enum(f"{where}.risk_types[{j}]", RISK_TYPE, r, required=True) or ""
            for j, r in enumerate(a.risk_types)
        )
        areas.append(model.AreaJudgement(
            area=area or "", grade=grade,
            evidence=check.text(f"{where}.evidence", a.evidence, limit=MAX_TEXT),
            impact=check.text(f"{where}.impact", a.impact, limit=MAX_TEXT),
            not_applicable_reason=check.text(
                f"{where}.not_applicable_reason", a.not_applicable_reason, limit=MAX_TEXT),
            risk_types=risk_types,
        ))
    return tuple(areas)


def _read_agreed_action(a: audit_pb2.AgreedAction, path: str, check: Checker) -> model.AgreedAction:
    return model.AgreedAction(
        description=check.text(f"{path}.description", a.description, limit=MAX_TEXT),
        by_whom=check.ident(f"{path}.by_whom", a.by_whom),
        by_when=check.date(f"{path}.by_when", a.by_when),
    )


def plan_rating_from_proto(m: audit_pb2.PlanRating, path: str = "rating") -> model.PlanRating:
    """Validate and convert a ``PlanRating``."""
    check = Checker()
    rating = model.PlanRating(
        rating_id=check.ident(f"{path}.rating_id", m.rating_id, required=True),
        case_ref=check.ident(f"{path}.case_ref", m.case_ref, required=True),
        plan_type=check.enum(f"{path}.plan_type", PLAN_TYPE, m.plan_type, required=True) or "",
        rating=check.enum(f"{path}.rating", RAG_RATING, m.rating, required=True) or "",
        rated_on=check.date(f"{path}.rated_on", m.rated_on, required=True) or date.min,
        rated_by=check.ident(f"{path}.rated_by", m.rated_by),
        team=check.ident(f"{path}.team", m.team),
        service_area=check.ident(f"{path}.service_area", m.service_area),
        team_manager_id=check.ident(f"{path}.team_manager_id", m.team_manager_id),
    )
    check.done()
    return rating


# --------------------------------------------------------------- providers


def inspection_from_proto(m: provider_pb2.Inspection, path: str = "inspection") -> model.Inspection:
    """Validate and convert an ``Inspection``."""
    check = Checker()
    inspection = model.Inspection(
        inspection_id=check.ident(f"{path}.inspection_id", m.inspection_id, required=True),
        provider_id=check.ident(f"{path}.provider_id", m.provider_id, required=True),
        provider_name=check.text(f"{path}.provider_name", m.provider_name),
        grade=check.enum(f"{path}.grade", OFSTED_GRADE, m.grade, required=True) or "",
        inspected_on=check.date(f"{path}.inspected_on", m.inspected_on, required=True)
        or date.min,
        published_on=check.date(f"{path}.published_on", m.published_on),
    )
    # A report is published after its inspection: an earlier date is a typing error,
    # and ES-04 would date the action plan and visits from it, before the inspection.
    if inspection.published_on and inspection.published_on < inspection.inspected_on:
        check.add(f"{path}.published_on", "is before inspected_on")
    check.done()
    return inspection


def placement_from_proto(m: provider_pb2.Placement, path: str = "placement") -> model.Placement:
    """Validate and convert a ``Placement``."""
    check = Checker()
    start_on = check.date(f"{path}.start_on", m.start_on, required=True)
    end_on = check.date(f"{path}.end_on", m.end_on)
    if start_on and end_on and end_on < start_on:
        check.add(f"{path}.end_on", "is before start_on")
    placement = model.Placement(
        placement_id=check.ident(f"{path}.placement_id", m.placement_id, required=True),
        case_ref=check.ident(f"{path}.case_ref", m.case_ref, required=True),
        provider_id=check.ident(f"{path}.provider_id", m.provider_id, required=True),
        start_on=start_on or date.min, end_on=end_on,
        social_worker_id=check.ident(f"{path}.social_worker_id", m.social_worker_id),
        team_manager_id=check.ident(f"{path}.team_manager_id", m.team_manager_id),
        team=check.ident(f"{path}.team", m.team),
        service_area=check.ident(f"{path}.service_area", m.service_area),
        checks=model.PlacementChecks(**{
            name: getattr(m.checks, name) for name in model.PLACEMENT_CHECKS
        }),
    )
    check.done()
    return placement


# ----------------------------------------------------------------- reviews


def review_from_proto(m: review_pb2.ServiceReview, path: str = "review") -> model.ServiceReview:
    """Validate and convert a ``ServiceReview`` (catalogue checks are the engine's)."""
    check = Checker()
    review = read_review(m, path, check)
    check.done()
    return review


def read_review(m: review_pb2.ServiceReview, path: str, check: Checker) -> model.ServiceReview:
    """A ``ServiceReview`` read into ``check`` (the caller calls ``check.done()``)."""
    if m.revision <= 0:
        check.add(f"{path}.revision", "must be greater than 0")
    period_start = check.date(f"{path}.period_start", m.period_start, required=True)
    period_end = check.date(f"{path}.period_end", m.period_end, required=True)
    if period_start and period_end and period_end < period_start:
        check.add(f"{path}.period_end", "is before period_start")
    review = model.ServiceReview(
        review_id=check.ident(f"{path}.review_id", m.review_id, required=True),
        revision=m.revision,
        service_area=check.ident(f"{path}.service_area", m.service_area, required=True),
        period_start=period_start or date.min, period_end=period_end or date.min,
        panel_on=check.date(f"{path}.panel_on", m.panel_on),
        judgements=tuple(
            _read_judgement(j, f"{path}.judgements[{i}]", check)
            for i, j in enumerate(m.judgements)
        ),
    )
    for name in ("key_outcomes", "population_summary", "summary_points", "panel_input"):
        check.text(f"{path}.{name}", getattr(m, name), limit=MAX_TEXT)
    return review


def add_review_area_problems(problems: Iterable[tuple[int, str]], path: str, check: Checker) -> None:
    """The engine's catalogue problems (judgement index, description) as violations of
    ``<path>.judgements[i].judgement_area``; a judgement whose lens or area is already
    reported as malformed is not reported again."""
    for index, description in problems:
        where = f"{path}.judgements[{index}]"
        if not (check.reported(f"{where}.lens") or check.reported(f"{where}.judgement_area")):
            check.add(f"{where}.judgement_area", description)


def _read_judgement(j: review_pb2.ReviewJudgement, path: str, check: Checker) -> model.ReviewJudgement:
    return model.ReviewJudgement(
        lens=check.enum(f"{path}.lens", LENS, j.lens, required=True) or "",
        judgement_area=check.ident(f"{path}.judgement_area", j.judgement_area, required=True),
        grade=check.enum(f"{path}.grade", OFSTED_GRADE, j.grade),
        comments=check.text(f"{path}.comments", j.comments, limit=MAX_TEXT),
        evidence=check.text(f"{path}.evidence", j.evidence, limit=MAX_TEXT),
        actions=tuple(
            model.ReviewAction(
                description=check.text(f"{path}.actions[{k}].description", a.description,
                                       limit=MAX_TEXT),
                owner_id=check.ident(f"{path}.actions[{k}].owner_id", a.owner_id),
                due_on=check.date(f"{path}.actions[{k}].due_on", a.due_on),
            )
            for k, a in enumerate(j.actions)
        ),
    )


# ----------------------------------------------------------------- outputs


def finding_to_proto(finding: model.Finding) -> common_pb2.Finding:
    """An engine finding as the API's ``Finding``."""
    return common_pb2.Finding(
        rule_id=finding.rule_id, severity=enum_number(SEVERITY, finding.severity),  # type: ignore[arg-type]
        area=enum_number(AREA, finding.area),  # type: ignore[arg-type]
        message=finding.message, framework_ref=finding.framework_ref,
        because=dict(finding.because),
    )


def intent_to_proto(
    intent: model.ActionIntent, ruleset_version: str, as_of: date | None = None,
    action_id: str = "", created_on: date | None = None,
) -> common_pb2.Action:
    """An action intent as an (unsaved, OPEN) ``Action``; ``action_id`` empty in dry runs."""
    return common_pb2.Action(
        action_id=action_id, kind=enum_number(ACTION_KIND, intent.kind),  # type: ignore[arg-type]
        status=common_pb2.ACTION_STATUS_OPEN,
        owner_role=enum_number(OWNER_ROLE, intent.owner_role),  # type: ignore[arg-type]
        owner_id=intent.owner_id, due_on=intent.due_on.isoformat(),
        overdue=as_of is not None and intent.due_on < as_of,
        rule_id=intent.rule_id, ruleset_version=ruleset_version,
        subject_type=enum_number(SUBJECT_TYPE, intent.subject_type),  # type: ignore[arg-type]
        subject_id=intent.subject_id, audit_id=intent.audit_id, case_ref=intent.case_ref,
        provider_id=intent.provider_id, placement_id=intent.placement_id,
        service_area=intent.service_area, team=intent.team,
        escalated_from=intent.escalated_from, detail=intent.detail,
        created_on=created_on.isoformat() if created_on else "",
    )


def audit_evaluation_to_proto(
    audit: model.Audit, evaluation: model.Evaluation, actions: Iterable[common_pb2.Action]
) -> audit_pb2.AuditEvaluation:
    """The API's ``AuditEvaluation`` for an audit and its evaluation."""
    return audit_pb2.AuditEvaluation(
        audit_id=audit.audit_id, revision=audit.revision,
        effective_grade=enum_number(GRADE, evaluation.effective_grade),  # type: ignore[arg-type]
        ready_to_complete=evaluation.ready_to_complete,
        findings=[finding_to_proto(f) for f in evaluation.findings],
        actions=list(actions), ruleset_version=evaluation.ruleset_version,
    )


def review_score_to_proto(
    review: model.ServiceReview, evaluation: model.Evaluation, actions: Iterable[common_pb2.Action]
) -> review_pb2.ReviewScore:
    """The API's ``ReviewScore``."""
    overall = evaluation.overall or model.LensScore("OVERALL", 0.0, None)
    return review_pb2.ReviewScore(
        review_id=review.review_id,
        lens_scores=[
            review_pb2.LensScore(
                lens=enum_number(LENS, s.lens), score=s.score,  # type: ignore[arg-type]
                judgement=enum_number(OFSTED_GRADE, s.judgement),  # type: ignore[arg-type]
                limited_by=s.limited_by,
            )
            for s in evaluation.lens_scores
        ],
        overall_score=overall.score,
        overall_judgement=enum_number(OFSTED_GRADE, overall.judgement),  # type: ignore[arg-type]
        overall_limited_by=overall.limited_by,
        findings=[finding_to_proto(f) for f in evaluation.findings],
        actions=list(actions), ready_to_complete=evaluation.ready_to_complete,
        ruleset_version=evaluation.ruleset_version,
    )


def ruleset_to_proto(ruleset: Any) -> rules_pb2.Ruleset:
    """``GetRuleset``: what is loaded now."""
    params = Struct()
    params.update({name: _plain(value) for name, value in ruleset.params.items()})
    return rules_pb2.Ruleset(
        version=ruleset.version,
        rules=[
            rules_pb2.RuleInfo(
                rule_id=r.rule_id, title=r.title,
                lens=enum_number(LENS, r.lens),  # type: ignore[arg-type]
                severity=enum_number(SEVERITY, r.severity),  # type: ignore[arg-type]
                framework_ref=r.framework_ref, description=r.description,
            )
            for r in ruleset.rules
        ],
        params=params,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def with_findings(response: Message, evaluation: model.Evaluation,
                  actions: Iterable[common_pb2.Action]) -> Message:
    """Fill a ``{findings, actions}`` response."""
    response.findings.extend(finding_to_proto(f) for f in evaluation.findings)  # type: ignore[attr-defined]
    response.actions.extend(actions)  # type: ignore[attr-defined]
    return response
