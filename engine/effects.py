"""Turn rule firings into findings and action intents.

Shared by the engine and by the reference evaluator in the tests: both decide
*which* triggers fire on *which* facts independently; this module only
renders what a firing means (message, ``because``, due dates).
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from . import conditions, dates
from .facts import KINDS, Fact
from .model import ActionIntent, Finding
from .ruleset import ActionSpec, BecauseItem, DueSpec, Rule, Trigger

_COPIED = ("audit_id", "case_ref", "provider_id", "placement_id", "service_area", "team")


def render_value(value: Any, separator: str = ",") -> str:
    """A fact value as text: lists joined, booleans lower-case, dates ISO."""
    if type(value) is str:
        return value
    scalar = _SCALARS.get(type(value))  # one lookup for the usual types; subclasses below
    if scalar is not None:
        return scalar(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return separator.join([render_value(v, separator) for v in value])
    if isinstance(value, float):
        return _render_float(value)
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        return ""
    return str(value)


def _render_float(value: float) -> str:
    """Two decimals, trailing zeros and then a bare point dropped (29.9951 -> "30")."""
    if value.is_integer():
        return str(int(value))
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# ``render_value`` of a value of exactly one of these types (the same text as the
# checks after it give; a subclass, such as a datetime, takes those checks).
_SCALARS: dict[type, Callable[[Any], str]] = {
    bool: lambda value: "true" if value else "false",
    int: str,
    float: _render_float,
    date: date.isoformat,
    type(None): lambda value: "",
}


def because_values(items: Iterable[BecauseItem], fact: Fact) -> dict[str, Any]:
    """The raw values of a trigger's ``because`` entries for one fact."""
    return {item.name: _because_value(item, fact) for item in items}


def _because_value(item: BecauseItem, fact: Fact) -> Any:
    if item.source == "field":
        return fact.fields[item.field_name]
    if item.source == "value":
        return item.value
    assert item.aggregate is not None
    where = conditions.predicate(item.aggregate.where)
    members = [r for r in fact.collections[item.aggregate.collection] if where(r)]
    if item.source == "count":
        return len(members)
    return [record[item.field_name] for record in members]


def _template(text: str, fields: Mapping[str, Any], because: Mapping[str, Any]) -> str:
    """``text`` with each placeholder replaced by its ``because`` value, or else
    the fact field of that name, rendered (lists joined with ", ")."""
    names = _PLACEHOLDERS.get(text)
    if names is None:
        names = _PLACEHOLDERS[text] = placeholders(text)
    return text.format_map({
        name: render_value(because[name] if name in because else fields[name], ", ")
        for name in names
    })


# Template text -> the names it reads, worked out once per template. Templates
# come from the loaded rule files (messages, details, keys), so this stays small.
_PLACEHOLDERS: dict[str, tuple[str, ...]] = {}


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
    return _finding(rule, trigger.message, fact, because_values(trigger.because, fact))


def _finding(rule: Rule, message: str, fact: Fact, because: Mapping[str, Any]) -> Finding:
    """The finding of one firing, given the raw ``because`` values."""
    return Finding(
        rule_id=rule.rule_id, severity=rule.severity,
        message=_template(message, fact.fields, because),
        framework_ref=rule.framework_ref,
        area=fact.fields.get("area") if fact.kind == "area" else None,
        # Read-only: the engine's FindingCache hands one Finding to many evaluations.
        because=MappingProxyType({name: render_value(value) for name, value in because.items()}),
    )


def placeholders(template: str) -> tuple[str, ...]:
    """The names a message template reads, each once, in order of first use.

    ``{name.attr}`` or ``{name[0]}`` read ``name`` (the loader allows neither).
    """
    names = (
        re.match(r"[^.\[]*", name).group()  # type: ignore[union-attr]  # always matches
        for _, name, _, _ in string.Formatter().parse(template) if name
    )
    return tuple(dict.fromkeys(names))


# A function of a fact's collections: a ``because`` count or list.
CollectionValue = Callable[[Mapping[str, list[dict[str, Any]]]], Any]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: it is part of cache keys
class FindingRecipe:
    """What one trigger's finding is a function of, worked out once at load.

    Besides the rule and trigger, a finding reads: the fact fields its
    ``because`` names and its message names (``reads``), the ``because``
    counts and lists over the fact's collections (``aggregates``), the fact's
    kind and, on an area fact, the area. ``because`` parameters are constants
    of the trigger. The counts and lists are built as functions once, here,
    rather than looked up per firing as ``because_values`` does.

    ``plain``: the finding reads no count, no list and no field of type
    ``list``, so ``key`` can take the values read as they are.
    """

    rule: Rule
    trigger: Trigger
    reads: tuple[str, ...]
    aggregates: tuple[CollectionValue, ...]
    by_item: tuple[tuple[BecauseItem, CollectionValue | None], ...]
    read_values: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # the ``reads``, in order
    plain: bool = False

    @classmethod
    def of(cls, rule: Rule, trigger: Trigger) -> FindingRecipe:
        """The recipe of ``trigger`` (a trigger of ``rule``)."""
        names = {item.name for item in trigger.because}
        reads = [item.field_name for item in trigger.because if item.source == "field"]
        reads += [name for name in placeholders(trigger.message or "") if name not in names]
        by_item = tuple(
            (item, _collection_value(item) if item.source in ("count", "list") else None)
            for item in trigger.because
        )
        aggregates = tuple(value for _, value in by_item if value is not None)
        read_names = tuple(dict.fromkeys(reads))
        field_types = KINDS.get(trigger.applies_to, {})
        plain = not aggregates and all(field_types.get(name) != "list" for name in read_names)
        return cls(rule, trigger, read_names, aggregates, by_item, _values_of(read_names), plain)

    def key(self, fact: Fact) -> tuple[Any, ...]:
        """Everything the finding on ``fact`` depends on, hashable and typed.

        Equal values of different types render differently (``True`` is
        "true", ``1`` is "1"), so their types are part of the key. A plain
        recipe's key is its values as they are with their types beside them,
        made by C code: most findings are plain, and this runs for each one.
        (Should a plain recipe read an unhashable value after all, the cache
        renders that finding without keeping it.)
        """
        fields = fact.fields
        kind = fact.kind
        if self.plain:
            values = self.read_values(fields)
            return (self, kind, fields.get("area") if kind == "area" else None,
                    values, tuple(map(type, values)))
        key = [self, kind, fields.get("area") if kind == "area" else None]
        for value in self.read_values(fields):
            key.append(value if type(value) is str else _typed(value))  # most are str
        for aggregate in self.aggregates:
            key.append(_typed(aggregate(fact.collections)))
        return tuple(key)

    def because(self, fact: Fact) -> dict[str, Any]:
        """``because_values(trigger.because, fact)``, with the prebuilt functions."""
        values: dict[str, Any] = {}
        for item, aggregate in self.by_item:
            if aggregate is not None:
                values[item.name] = aggregate(fact.collections)
            elif item.source == "field":
                values[item.name] = fact.fields[item.field_name]
            else:
                values[item.name] = item.value
        return values

    def finding(self, fact: Fact) -> Finding:
        """The finding on ``fact``, rendered (the trigger must have a message)."""
        assert self.trigger.message is not None
        return _finding(self.rule, self.trigger.message, fact, self.because(fact))


def _values_of(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function giving the values of ``names`` in a mapping, as a tuple, in one call."""
    if len(names) > 1:
        return itemgetter(*names)
    if names:
        name = names[0]
        return lambda fields: (fields[name],)
    return lambda fields: ()


def _collection_value(item: BecauseItem) -> CollectionValue:
    """``_because_value`` of a count or list item, as a function of the fact's collections."""
    assert item.aggregate is not None
    collection, shown = item.aggregate.collection, item.field_name
    select = conditions.selector(item.aggregate.where)
    if item.source == "count":
        return lambda collections: len(select(collections[collection]))
    return lambda collections: [r[shown] for r in select(collections[collection])]


def _typed(value: Any) -> Any:
    """``value`` as part of a cache key: hashable, and with its type unless it is a str.

    Equal values of different types render differently (``True`` is "true",
    ``1`` is "1"), so they must not share a key; lists become tuples.
    """
    kind = type(value)
    if kind is str:
        return value
    if kind is list or kind is tuple:
        return (tuple, *[item if type(item) is str else _typed(item) for item in value])
    return (kind, value)


class FindingCache:
    """Rendered findings, shared by the evaluations of one engine, bounded in size.

    A finding is a pure function of its ``FindingRecipe.key`` and most
    firings repeat one seen before (the same area graded the same way, the
    same list of areas below good), so each is rendered once. Entries are
    evicted oldest first beyond ``maxsize``. A miss is rendered by the same
    code as ``finding`` (``_finding``), so output is byte-identical to it; the
    differential test compares the two. Findings are frozen and their
    ``because`` is read-only, so sharing one object is safe.

    Thread-safe for lookups and inserts (a lock guards inserts and eviction);
    ``hits`` and ``misses`` are statistics, not exact under concurrent use.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._findings: dict[tuple[Any, ...], Finding] = {}
        self._lock = threading.Lock()

    def finding(self, recipe: FindingRecipe, fact: Fact) -> Finding:
        """The finding of a firing of ``recipe``'s trigger (which has a message) on ``fact``."""
        key: tuple[Any, ...] | None
        try:
            key = recipe.key(fact)
            cached = self._findings.get(key)
        except TypeError:  # a value that cannot be hashed: render it without the cache
            cached = key = None
        if cached is not None:
            self.hits += 1
            return cached
        result = recipe.finding(fact)
        self.misses += 1
        if key is not None:
            self._store(key, result)
        return result

    def _store(self, key: tuple[Any, ...], result: Finding) -> None:
        if self.maxsize <= 0:
            return  # caching switched off
        with self._lock:
            if len(self._findings) >= self.maxsize:
                del self._findings[next(iter(self._findings))]  # the oldest entry
            self._findings[key] = result

    def __len__(self) -> int:
        return len(self._findings)

    @property
    def hit_rate(self) -> float:
        """Share of lookups answered from the cache since it was last cleared."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def clear(self) -> None:
        """Forget every finding and reset the statistics."""
        with self._lock:
            self._findings.clear()
            self.hits = self.misses = 0


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
