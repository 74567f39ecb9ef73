"""``lenses replay --rules DIR [--since DATE]``: what another rules folder would
change. Every stored audit (latest revision) is evaluated twice, with the history
the store holds now: by the rules in service (LENSES_RULES_DIR) and by DIR; the
rules whose findings or actions differ are counted. Nothing is written.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from google.protobuf import json_format
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.evaluate import RulesEngine
from engine.model import Audit
from lenses.v1 import audit_pb2

from . import convert
from .audits import AuditService
from .db import AuditHead, AuditRevision


@dataclass
class Changes:
    """Per rule: audits where it would add, or drop, a finding or an action."""

    audits: int = 0
    gained: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, rule_id: str, audit_id: str, gained: bool) -> None:
        (self.gained if gained else self.lost)[rule_id] += 1
        self.examples.setdefault(rule_id, [])
        if len(self.examples[rule_id]) < 3:
            self.examples[rule_id].append(audit_id)


def _stored(session: Session, since: date | None) -> Iterator[tuple[AuditHead, str]]:
    """Each audit's head and stored record, oldest first, a batch at a time."""
    query = (select(AuditHead, AuditRevision.record)
             .join(AuditRevision, (AuditRevision.audit_id == AuditHead.audit_id)
                   & (AuditRevision.revision == AuditHead.revision))
             .order_by(AuditHead.completed_on, AuditHead.audit_id))
    if since is not None:
        query = query.where(AuditHead.completed_on >= since)
    yield from session.execute(query.execution_options(yield_per=500)).tuples()


def _outcome(engine: RulesEngine, service: AuditService, session: Session, audit: Audit,
             head: AuditHead) -> set[tuple[str, str]]:
    """(rule, what) pairs: each finding (with its area) and each action kind."""
    evaluation = engine.evaluate_audit(audit, service.gather_history(session, audit, head))
    return ({(f.rule_id, f"finding {f.area or ''}".strip()) for f in evaluation.findings}
            | {(a.rule_id, f"action {a.kind}") for a in evaluation.actions})


def replay(session: Session, current: RulesEngine, other: RulesEngine,
           since: date | None = None) -> Changes:
    """Compare every stored audit's evaluation under ``current`` and ``other``."""
    services = AuditService(current), AuditService(other)
    changes = Changes()
    for head, record in _stored(session, since):
        audit = convert.audit_from_proto(json_format.Parse(record, audit_pb2.CaseFileAudit()))
        audit = dataclasses.replace(audit, moderated_grade=head.moderated_grade)
        before = _outcome(current, services[0], session, audit, head)
        after = _outcome(other, services[1], session, audit, head)
        changes.audits += 1
        for rule_id in sorted({rule for rule, _ in after - before}):
            changes.note(rule_id, audit.audit_id, gained=True)
        for rule_id in sorted({rule for rule, _ in before - after}):
            changes.note(rule_id, audit.audit_id, gained=False)
    return changes


def report(changes: Changes) -> str:
    """One line per rule that would change, then a total."""
    lines = []
    for rule_id in sorted(set(changes.gained) | set(changes.lost)):
        examples = ", ".join(changes.examples.get(rule_id, []))
        lines.append(f"{rule_id}: +{changes.gained[rule_id]} audits, -{changes.lost[rule_id]} audits"
                     f" (e.g. {examples})")
    if not lines:
        lines.append("no rule would change its findings or actions")
    lines.append(f"{changes.audits} stored audits re-evaluated; nothing was written")
    return "\n".join(lines) + "\n"
