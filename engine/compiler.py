"""Compile loaded rules into a durable_rules ruleset definition (JSON).

Only a safe subset of durable's language is emitted (see quality.md): every
rule matches ONE fact, with ``$and`` / ``$or`` of comparisons between a
field and a constant, and a ``cap`` so that each rule reports all the facts
it matched in one result. Nothing compares two facts. ``count`` and ``share``
aggregates become derived fact fields, computed before assertion. Each fact
kind also gets a "seen" rule that matches every fact of the kind, so that no
asserted fact goes unmatched (durable would otherwise raise or drop it) and
so that every fact can be accounted for after the run.

This module only builds JSON; ``durable_runner`` is what talks to durable.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from . import facts
from .conditions import MEMBERSHIP, Aggregate, Condition, Group, Test
from .ruleset import Ruleset

KIND_FIELD = "fact_kind"
SEEN_PREFIX = "seen_"
# Every rule fires once with up to CAP matching facts (durable's ``cap``), so
# one evaluation reads one result per rule that fired instead of one per fact.
CAP = 10_000
_names = itertools.count(1)


@dataclass(frozen=True)
class Binding:
    """Which rule trigger a durable rule stands for."""

    rule_id: str
    trigger: int
    kind: str


@dataclass
class CompiledRuleset:
    """The durable definition plus what the runner needs to feed and read it."""

    name: str
    version: str
    definition: dict[str, Any]
    bindings: dict[str, Binding]
    seen_rules: dict[str, str]  # durable rule name -> fact kind
    derived: dict[str, dict[str, Aggregate]] = field(default_factory=dict)  # kind -> name -> agg
    projected: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kind -> fields asserted

    def golden(self) -> dict[str, Any]:
        """A stable JSON view for golden tests (without the process-unique name)."""
        return {
            "version": self.version,
            "definition": self.definition,
            "bindings": {k: dataclasses.asdict(v) for k, v in sorted(self.bindings.items())},
            "derived": {
                kind: {name: repr(agg) for name, agg in sorted(aggs.items())}
                for kind, aggs in sorted(self.derived.items())
            },
            "projected": {kind: list(names) for kind, names in sorted(self.projected.items())},
        }


def compile_ruleset(ruleset: Ruleset) -> CompiledRuleset:
    """Compile every trigger of every rule, plus one "seen" rule per fact kind."""
    compiled = CompiledRuleset(
        # durable's ruleset names are process-global and cannot be replaced.
        name=f"lenses_{ruleset.version}_{next(_names)}",
        version=ruleset.version, definition={}, bindings={}, seen_rules={},
    )
    fields_used: dict[str, set[str]] = {kind: set() for kind in facts.KINDS}
    for rule in ruleset.rules:
        for index, trigger in enumerate(rule.triggers):
            kind = trigger.applies_to
            folded = fold(trigger.condition)
            if folded is False:
                continue  # it can never fire: no durable rule, so nothing to read back
            name = f"{_slug(rule.rule_id)}_t{index}"
            if folded is True:
                compiled.definition[name] = _match_every(kind)
            else:
                condition = _derive(folded, kind, compiled.derived)
                fields_used[kind].update(_fields(condition))
                compiled.definition[name] = _match(kind, _durable(condition))
            compiled.bindings[name] = Binding(rule.rule_id, index, kind)
    for kind in facts.KINDS:
        name = f"{SEEN_PREFIX}{kind}"
        compiled.definition[name] = _match_every(kind)
        compiled.seen_rules[name] = kind
    compiled.projected = {
        kind: tuple(sorted(names)) for kind, names in fields_used.items() if names
    }
    return compiled


def _slug(rule_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", rule_id)


def _match(kind: str, condition: dict[str, Any]) -> dict[str, Any]:
    return {"all": [{"m": {"$and": [{KIND_FIELD: kind}, condition]}}], "cap": CAP}


def _match_every(kind: str) -> dict[str, Any]:
    """A durable rule matching every fact of ``kind``."""
    return {"all": [{"m": {KIND_FIELD: kind}}], "cap": CAP}


def fold(condition: Condition) -> Condition | bool:
    """``condition`` with each test against an empty list replaced by its constant
    truth (``in []`` never holds, ``not_in []`` always does), folded into its groups;
    True or False when the whole condition is constant.

    A list parameter may be emptied by a rule author (no limiting area, no area
    that is never N/A). Durable has no constants, and the empty ``$or`` / ``$and``
    an empty list would otherwise compile to are outside the safe subset: an empty
    ``$and`` matches durable's own state record, and the evaluation then fails.
    """
    if isinstance(condition, Test):
        if condition.op in MEMBERSHIP and not condition.value:
            return condition.op == "not_in"
        return condition
    absorbing = condition.mode == "any"  # True decides an ``any``, False an ``all``
    items: list[Condition] = []
    for item in condition.items:
        folded = fold(item)
        if folded is absorbing:
            return absorbing
        if not isinstance(folded, bool):  # the other constant changes nothing
            items.append(folded)
    if not items:
        return not absorbing  # every item was neutral: all of them hold, none of any
    return Group(condition.mode, tuple(items))


def _derive(condition: Condition, kind: str, derived: dict[str, dict[str, Aggregate]]) -> Condition:
    """Replace aggregate subjects by derived field names (shared when identical)."""
    if isinstance(condition, Group):
        return Group(condition.mode, tuple(_derive(c, kind, derived) for c in condition.items))
    if isinstance(condition.subject, str):
        return condition
    per_kind = derived.setdefault(kind, {})
    for name, existing in per_kind.items():
        if existing == condition.subject:
            return Test(name, condition.op, condition.value)
    name = f"derived_{condition.subject.function}_{len(per_kind) + 1}"
    per_kind[name] = condition.subject
    return Test(name, condition.op, condition.value)


def _fields(condition: Condition) -> set[str]:
    if isinstance(condition, Group):
        return set().union(*(_fields(c) for c in condition.items))
    assert isinstance(condition.subject, str)
    return {condition.subject}


_DURABLE_OPS = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


def _durable(condition: Condition) -> dict[str, Any]:
    """A condition in durable's JSON language (safe subset only)."""
    if isinstance(condition, Group):
        parts = [_durable(c) for c in condition.items]
        if len(parts) == 1:
            return parts[0]
        return {"$and" if condition.mode == "all" else "$or": parts}
    name = condition.subject
    assert isinstance(name, str)
    if condition.op == "eq":
        return {name: condition.value}
    if condition.op in _DURABLE_OPS:
        return {_DURABLE_OPS[condition.op]: {name: condition.value}}
    values = list(condition.value)  # type: ignore[arg-type]
    if condition.op == "in":
        tests: list[dict[str, Any]] = [{name: v} for v in values]
        return tests[0] if len(tests) == 1 else {"$or": tests}
    tests = [{"$neq": {name: v}} for v in values]
    return tests[0] if len(tests) == 1 else {"$and": tests}
