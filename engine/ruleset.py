"""The loaded rules: typed, validated, parameters already substituted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .conditions import Aggregate, Condition


@dataclass(frozen=True)
class DueSpec:
    """How a due date is computed from a date field of the fact.

    ``op`` is one of ``at``, ``end_of_month_after``, ``working_days_after``,
    ``days_after``, ``months_after``; ``base`` is a date field or another
    due date (e.g. the decision one working day after the visit).
    """

    op: str
    base: str | DueSpec
    amount: int = 0


@dataclass(frozen=True)
class ActionSpec:
    """The action a trigger asks for."""

    kind: str
    owner_role: str | None
    owner_id_field: str | None
    due: DueSpec
    subject_type: str
    subject_id_field: str
    detail: str
    key: str
    escalated_from_field: str | None = None


@dataclass(frozen=True)
class BecauseItem:
    """One entry of a finding's ``because``: a field, a parameter, a count or a list."""

    name: str
    source: str  # "field", "value", "count" or "list"
    field_name: str = ""
    value: Any = None
    aggregate: Aggregate | None = None


@dataclass(frozen=True)
class Trigger:
    """One way a rule fires: on facts of a kind, when a condition holds."""

    applies_to: str
    condition: Condition
    message: str | None
    because: tuple[BecauseItem, ...] = ()
    actions: tuple[ActionSpec, ...] = ()


@dataclass(frozen=True)
class Rule:
    """A rule of the catalogue with its triggers."""

    rule_id: str
    title: str
    lens: str
    severity: str | None
    framework_ref: str
    description: str
    triggers: tuple[Trigger, ...]
    source: str = ""
    params_used: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ruleset:
    """Everything loaded from a rules folder."""

    version: str
    rules: tuple[Rule, ...]
    params: Mapping[str, Any]
    catalogue: Mapping[str, tuple[str, ...]]  # lens -> judgement area codes
    catalogue_titles: Mapping[tuple[str, str], str] = field(default_factory=dict)
    directory: str = ""

    def rule(self, rule_id: str) -> Rule:
        """The rule with ``rule_id``; KeyError if there is none."""
        for rule in self.rules:
            if rule.rule_id == rule_id:
                return rule
        raise KeyError(rule_id)
