"""Turn rule firings into findings and action intents.

Shared by the engine and by the reference evaluator in the tests: both decide
*which* triggers fire on *which* facts independently; this module only
renders what a firing means (message, ``because``, due dates).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from . import conditions, dates
from .facts import Fact
from .model import ActionIntent, Finding
from .ruleset import ActionSpec, BecauseItem, DueSpec, Rule, Trigger

_COPIED = ("audit_id", "case_ref", "provider_id", "placement_id", "service_area", "team")


def render_value(value: Any, separator: str = ",") -> str:
    """A fact value as text: lists joined, booleans lower-case, dates ISO."""
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return separator.join(render_value(v, separator) for v in value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.2f}".rstrip("0")
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        return ""
    return str(value)


def because_values(items: Iterable[BecauseItem], fact: Fact) -> dict[str, Any]:
    """The raw values of a trigger's ``because`` entries for one fact."""
    values: dict[str, Any] = {}
    for item in items:
        if item.source == "field":
            values[item.name] = fact.fields[item.field_name]
        elif item.source == "value":
            values[item.name] = item.value
        else:
            assert item.aggregate is not None
            where = conditions.predicate(item.aggregate.where)
            members = [r for r in fact.collections[item.aggregate.collection] if where(r)]
            values[item.name] = (
                len(members) if item.source == "count"
                else [record[item.field_name] for record in members]
            )
    return values


class _Rendered(dict):  # type: ignore[type-arg]
    """Template values rendered on demand: only the placeholders used are formatted."""

    def __init__(self, fields: Mapping[str, Any], because: Mapping[str, Any]) -> None:
        super().__init__()
        self.fields = fields
        self.because = because

    def __missing__(self, key: str) -> str:
        value = self.because[key] if key in self.because else self.fields[key]
        return render_value(value, ", ")


def _template(text: str, fields: Mapping[str, Any], because: Mapping[str, Any]) -> str:
    return text.format_map(_Rendered(fields, because))


def due_date(spec: DueSpec, fields: Mapping[str, Any]) -> date:
    """Compute a due date from the fact's dates (never from the clock)."""
    base = spec.base
    start = due_date(base, fields) if isinstance(base, DueSpec) else fields[base]
    if start is None:
        raise ValueError(f"date field {base!r} is not set")
    if spec.op == "at":
        return start
    if spec.op == "end_of_month_after":
        return dates.end_of_month_after(start)
    if spec.op == "working_days_after":
        return dates.working_days_after(start, spec.amount)
    if spec.op == "days_after":
        return start + timedelta(days=spec.amount)
    return dates.add_months(start, spec.amount)


def finding(rule: Rule, trigger: Trigger, fact: Fact) -> Finding | None:
    """The finding a firing gives, or None for an action-only trigger."""
    if trigger.message is None:
        return None
    because = because_values(trigger.because, fact)
    return Finding(
        rule_id=rule.rule_id, severity=rule.severity,
        message=_template(trigger.message, fact.fields, because),
        framework_ref=rule.framework_ref,
        area=fact.fields.get("area") if fact.kind == "area" else None,
        because={name: render_value(value) for name, value in because.items()},
    )


def actions(rule: Rule, trigger: Trigger, fact: Fact) -> list[ActionIntent]:
    """The action intents a firing asks for."""
    because = because_values(trigger.because, fact)
    return [_intent(rule, spec, fact, because) for spec in trigger.actions]


def _intent(rule: Rule, spec: ActionSpec, fact: Fact, because: Mapping[str, Any]) -> ActionIntent:
    fields = fact.fields
    copied = {name: render_value(fields.get(name)) for name in _COPIED if name in fields}
    return ActionIntent(
        rule_id=rule.rule_id, kind=spec.kind, owner_role=spec.owner_role,
        owner_id=render_value(fields.get(spec.owner_id_field)) if spec.owner_id_field else "",
        due_on=due_date(spec.due, fields), subject_type=spec.subject_type,
        subject_id=render_value(fields[spec.subject_id_field]),
        detail=_template(spec.detail, fields, because),
        dedupe_key=f"{rule.rule_id}:{spec.kind}:{_template(spec.key, fields, because)}",
        escalated_from=(
            render_value(fields[spec.escalated_from_field]) if spec.escalated_from_field else ""
        ),
        **copied,
    )
