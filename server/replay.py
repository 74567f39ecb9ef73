"""``lenses replay --rules DIR [--since DATE]``: what another rules folder would
change. Every stored audit (latest revision) is evaluated twice, with the history
the store holds now: by the rules in service (LENSES_RULES_DIR) and by DIR; the
rules whose findings or actions differ are counted: one it would add, one it
would drop, and one it would raise differently (another due date, owner,
severity, message or detail: a changed timescale changes no rule's firing, yet
changes what every action asks). Nothing is written.
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
    """Per rule: audits where it would add, drop, or change a finding or an action."""

    audits: int = 0
    gained: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, rule_id: str, audit_id: str, counter: Counter[str]) -> None:
        counter[rule_id] += 1
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


Outcome = dict[tuple[str, str], list[tuple[str, ...]]]


def _outcome(engine: RulesEngine, service: AuditService, session: Session, audit: Audit,
             head: AuditHead) -> Outcome:
    """What each rule raises: per (rule, finding and its area / action and its kind),
    what each such finding or action says (sorted, so the order rules fire in does
    not count as a change)."""
    evaluation = engine.evaluate_audit(audit, service.gather_history(session, audit, head))
    outcome: Outcome = {}
    for f in evaluation.findings:
        key = (f.rule_id, f"finding {f.area or ''}".strip())
        outcome.setdefault(key, []).append((f.severity or "", f.message))
    for a in evaluation.actions:
        outcome.setdefault((a.rule_id, f"action {a.kind}"), []).append(
            (a.owner_role or "", a.owner_id, a.due_on.isoformat(), a.subject_id, a.detail))
    return {key: sorted(said) for key, said in outcome.items()}


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
        gained = {rule for rule, _ in after.keys() - before.keys()}
        lost = {rule for rule, _ in before.keys() - after.keys()}
        changed = {rule for (rule, what) in after.keys() & before.keys()
                   if after[(rule, what)] != before[(rule, what)]}
        for rules, counter in ((gained, changes.gained), (lost, changes.lost),
                               (changed, changes.changed)):
            for rule_id in sorted(rules):
                changes.note(rule_id, audit.audit_id, counter)
    return changes


def report(changes: Changes) -> str:
    """One line per rule that would change, then a total."""
    lines = []
    for rule_id in sorted(set(changes.gained) | set(changes.lost) | set(changes.changed)):
        examples = ", ".join(changes.examples.get(rule_id, []))
        lines.append(f"{rule_id}: +{changes.gained[rule_id]} audits, -{changes.lost[rule_id]} audits, "
                     f"{changes.changed[rule_id]} audits changed (e.g. {examples})")
    if not lines:
        lines.append("no rule would change its findings or actions")
    lines.append(f"{changes.audits} stored audits re-evaluated; nothing was written")
    return "\n".join(lines) + "\n"
