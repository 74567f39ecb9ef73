"""The store: SQLAlchemy 2 models. Schema changes go through Alembic (``lenses migrate``).

Idempotency and "one open action per key" are unique constraints here, so
two servers racing on the same save cannot both win:

- ``audit_revisions``: unique (audit_id, revision);
- ``actions.open_key``: the dedupe key while the action is OPEN, NULL once it
  is completed or withdrawn; unique (NULLs never collide).

History queries (GC-16/17/18, ES-03) read ``audit_heads`` (the latest revision
of each audit) and ``audit_concerns`` (its areas below good) through indexes
whose ranges do not grow with the size of the history.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(128)
CODE = String(64)
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of every table."""


class AuditRevision(Base):
    """Every saved revision of every audit. Narrative text is redacted unless
    LENSES_STORE_NARRATIVE=1 (word counts survive, so it can be re-evaluated)."""

    __tablename__ = "audit_revisions"
    __table_args__ = (UniqueConstraint("audit_id", "revision", name="uq_audit_revision"),)

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ID)
    revision: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(CODE)
    content_digest: Mapped[str] = mapped_column(String(64))
    record: Mapped[str] = mapped_column(Text)  # proto3 JSON of the (redacted) audit
    client: Mapped[str] = mapped_column(ID, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditHead(Base):
    """The latest revision of each audit, with the fields history queries need."""

    __tablename__ = "audit_heads"
    __table_args__ = (
        Index("ix_heads_case", "case_ref", "completed_on"),
        Index("ix_heads_area_auditor", "service_area", "completed_on", "auditor_id"),
        # Covering, for indicators per team: audits completed and their effective grades.
        Index("ix_heads_area_team", "service_area", "team", "completed_on", "status", "effective_grade"),
    )

    audit_id: Mapped[str] = mapped_column(ID, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(CODE)
    case_ref: Mapped[str] = mapped_column(ID)
    service_area: Mapped[str] = mapped_column(ID)
    team: Mapped[str] = mapped_column(ID, default="")
    auditor_id: Mapped[str] = mapped_column(ID)
    strand: Mapped[str | None] = mapped_column(CODE, nullable=True)
    age_band: Mapped[str | None] = mapped_column(CODE, nullable=True)
    completed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    overall_grade: Mapped[str | None] = mapped_column(CODE, nullable=True)
    moderated_grade: Mapped[str | None] = mapped_column(CODE, nullable=True)
    effective_grade: Mapped[str | None] = mapped_column(CODE, nullable=True)
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"), nullable=True)


class AreaDay(Base):
    """Completed audits (latest revisions) of a service area completed on a day, and
    how many the auditor graded at least good: GC-18's "others" without reading
    every audit of the window (a window is at most ~184 rows, whatever the history)."""

    __tablename__ = "area_days"

    service_area: Mapped[str] = mapped_column(ID, primary_key=True)
    completed_on: Mapped[date] = mapped_column(Date, primary_key=True)
    audits: Mapped[int] = mapped_column(Integer, default=0)
    good: Mapped[int] = mapped_column(Integer, default=0)


class AuditorDay(Base):
    """The same counts for one auditor in a service area (GC-18's "the auditor")."""

    __tablename__ = "auditor_days"

    service_area: Mapped[str] = mapped_column(ID, primary_key=True)
    auditor_id: Mapped[str] = mapped_column(ID, primary_key=True)
    completed_on: Mapped[date] = mapped_column(Date, primary_key=True)
    audits: Mapped[int] = mapped_column(Integer, default=0)
    good: Mapped[int] = mapped_column(Integer, default=0)


class AuditConcern(Base):
    """An area below good in a completed audit's latest revision (ES-03)."""

    __tablename__ = "audit_concerns"
    __table_args__ = (Index("ix_concerns_area", "service_area", "area", "completed_on"),)

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audit_heads.audit_id"), index=True)
    service_area: Mapped[str] = mapped_column(ID)
    area: Mapped[str] = mapped_column(CODE)
    case_ref: Mapped[str] = mapped_column(ID)
    completed_on: Mapped[date] = mapped_column(Date)
    strand: Mapped[str | None] = mapped_column(CODE, nullable=True)
    age_band: Mapped[str | None] = mapped_column(CODE, nullable=True)


class Evaluation(Base):
    """The decision log: every evaluation stored, with its input digest and ruleset."""

    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_audit", "audit_id", "revision"),)

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ID)
    revision: Mapped[int] = mapped_column(BigInteger)
    cause: Mapped[str] = mapped_column(CODE)  # "submit", "moderate" or "history" (late.py)
    input_digest: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[str] = mapped_column(CODE)
    result: Mapped[str] = mapped_column(Text)  # proto3 JSON of the AuditEvaluation, no actions
    client: Mapped[str] = mapped_column(ID, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Who moderated (ModerateAudit's moderator_id; "" for a submit): the calling
    # system is ``client``, the person whose judgement changed the grade is this.
    moderator_id: Mapped[str] = mapped_column(ID, default="")


class Action(Base):
    """A tracked action: who owns it, when it is due, what it is about."""

    __tablename__ = "actions"
    __table_args__ = (
        Index("ix_actions_due", "due_on", "action_id"),
        Index("ix_actions_kind_status", "kind", "status"),
        Index("ix_actions_kind_status_area", "kind", "status", "service_area"),
        # GC-18: is a calibration review of this auditor open (however many others are).
        Index("ix_actions_kind_status_subject", "kind", "status", "subject_id"),
    )

    action_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(CODE)
    status: Mapped[str] = mapped_column(CODE)
    owner_role: Mapped[str | None] = mapped_column(CODE, nullable=True)
    owner_id: Mapped[str] = mapped_column(ID, default="", index=True)
    due_on: Mapped[date] = mapped_column(Date)
    origin_on: Mapped[date] = mapped_column(Date)
    rule_id: Mapped[str] = mapped_column(String(16))
    ruleset_version: Mapped[str] = mapped_column(CODE)
    subject_type: Mapped[str] = mapped_column(CODE)
    subject_id: Mapped[str] = mapped_column(ID)
    audit_id: Mapped[str] = mapped_column(ID, default="", index=True)
    case_ref: Mapped[str] = mapped_column(ID, default="", index=True)
    provider_id: Mapped[str] = mapped_column(ID, default="", index=True)
    placement_id: Mapped[str] = mapped_column(ID, default="")
    service_area: Mapped[str] = mapped_column(ID, default="", index=True)
    team: Mapped[str] = mapped_column(ID, default="")
    escalated_from: Mapped[str] = mapped_column(String(36), default="", index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    dedupe_key: Mapped[str] = mapped_column(String(512), index=True)
    open_key: Mapped[str | None] = mapped_column(String(512), nullable=True, unique=True)
    created_on: Mapped[date] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    completed_by: Mapped[str] = mapped_column(ID, default="")
    outcome: Mapped[str] = mapped_column(ID, default="")
    withdrawn_reason: Mapped[str] = mapped_column(Text, default="")
    client: Mapped[str] = mapped_column(ID, default="")


class ActionEvent(Base):
    """Every change to every action, numbered by the database."""

    __tablename__ = "action_events"

    sequence: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    action_id: Mapped[str] = mapped_column(ForeignKey("actions.action_id"), index=True)
    type: Mapped[str] = mapped_column(CODE)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client: Mapped[str] = mapped_column(ID, default="")
    # The action as it was right after the event (serialized, base64), for WatchActions.
    snapshot: Mapped[str] = mapped_column(Text, default="")


class Record(Base):
    """An idempotent write (inspection, placement, plan rating, review): the digest of
    what was sent and the response given, so the same id again changes nothing."""

    __tablename__ = "records"

    kind: Mapped[str] = mapped_column(CODE, primary_key=True)
    record_id: Mapped[str] = mapped_column(ID, primary_key=True)
    content_digest: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[str] = mapped_column(CODE)
    findings: Mapped[str] = mapped_column(Text)  # JSON list of proto3 JSON findings
    action_ids: Mapped[str] = mapped_column(Text)  # JSON list
    client: Mapped[str] = mapped_column(ID, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Provider(Base):
    """A commissioned provider (a children's home, a fostering agency)."""

    __tablename__ = "providers"

    provider_id: Mapped[str] = mapped_column(ID, primary_key=True)
    provider_name: Mapped[str] = mapped_column(String(2000), default="")


class Inspection(Base):
    """An Ofsted inspection result."""

    __tablename__ = "inspections"
    __table_args__ = (Index("ix_inspections_provider", "provider_id", "rated_on"),)

    inspection_id: Mapped[str] = mapped_column(ID, primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.provider_id"))
    grade: Mapped[str] = mapped_column(CODE)
    inspected_on: Mapped[date] = mapped_column(Date)
    published_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    rated_on: Mapped[date] = mapped_column(Date)  # publication, else inspection


class Placement(Base):
    """A child placed with a provider; ``end_on`` is set when the placement ends."""

    __tablename__ = "placements"
    __table_args__ = (
        Index("ix_placements_provider", "provider_id", "start_on"),
        Index("ix_placements_area", "service_area", "start_on"),
    )

    placement_id: Mapped[str] = mapped_column(ID, primary_key=True)
    case_ref: Mapped[str] = mapped_column(ID)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.provider_id"))
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    social_worker_id: Mapped[str] = mapped_column(ID, default="")
    team_manager_id: Mapped[str] = mapped_column(ID, default="")
    team: Mapped[str] = mapped_column(ID, default="")
    service_area: Mapped[str] = mapped_column(ID, default="")
    checks: Mapped[str] = mapped_column(String(500), default="")  # the checks done, comma-separated
    # The client whose call set ``end_on``: often not the one that recorded the placement
    # (that one is on its ``Record``), and every write records its client.
    ended_by: Mapped[str] = mapped_column(ID, default="")


class PlanRating(Base):
    """An IRO's or CP chair's RAG rating of a plan."""

    __tablename__ = "plan_ratings"
    __table_args__ = (Index("ix_plan_ratings_area", "service_area", "rated_on"),)

    rating_id: Mapped[str] = mapped_column(ID, primary_key=True)
    case_ref: Mapped[str] = mapped_column(ID)
    plan_type: Mapped[str] = mapped_column(CODE)
    rating: Mapped[str] = mapped_column(CODE)
    rated_on: Mapped[date] = mapped_column(Date)
    rated_by: Mapped[str] = mapped_column(ID, default="")
    team: Mapped[str] = mapped_column(ID, default="")
    service_area: Mapped[str] = mapped_column(ID, default="")


class AuditArea(Base):
    """Each area's grade in a completed audit's latest revision (indicators)."""

    __tablename__ = "audit_areas"
    __table_args__ = (
        Index("ix_audit_areas_period", "service_area", "completed_on"),
        # Covering, for the compendium's per-team grade counts (index-only scans).
        Index("ix_audit_areas_team", "service_area", "completed_on", "team", "area", "grade"),
    )

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audit_heads.audit_id"), index=True)
    service_area: Mapped[str] = mapped_column(ID)
    team: Mapped[str] = mapped_column(ID, default="")
    area: Mapped[str] = mapped_column(CODE)
    grade: Mapped[str | None] = mapped_column(CODE, nullable=True)
    completed_on: Mapped[date] = mapped_column(Date)


class ReviewRevision(Base):
    """Every saved revision of a service performance review."""

    __tablename__ = "review_revisions"
    __table_args__ = (UniqueConstraint("review_id", "revision", name="uq_review_revision"),)

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    review_id: Mapped[str] = mapped_column(ID)
    revision: Mapped[int] = mapped_column(BigInteger)
    content_digest: Mapped[str] = mapped_column(String(64))
    record: Mapped[str] = mapped_column(Text)  # proto3 JSON of the ServiceReview
    result: Mapped[str] = mapped_column(Text)  # proto3 JSON of the ReviewScore, no actions
    client: Mapped[str] = mapped_column(ID, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewHead(Base):
    """The latest revision of each review: its service area, panel date and scores."""

    __tablename__ = "review_heads"
    __table_args__ = (Index("ix_review_heads_area", "service_area", "panel_on"),)

    review_id: Mapped[str] = mapped_column(ID, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    service_area: Mapped[str] = mapped_column(ID)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    panel_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("review_revisions.id"))


class SweepRun(Base):
    """One row per day the daily sweep ran: inserting it is the lock that makes the
    sweep run once per day per deployment, however many servers there are."""

    __tablename__ = "sweep_runs"

    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    created: Mapped[int] = mapped_column(Integer, default=0)
    client: Mapped[str] = mapped_column(ID, default="")
    ran_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
