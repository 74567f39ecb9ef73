"""The rule condition language: a small tree of field tests.

A condition is ``all`` / ``any`` / ``none`` of conditions, or a test of one
fact field (or of an aggregate over a fact's collection) against a value:

    {field: overall_grade, in: [EXCEEDS_GOOD, MEETS_GOOD]}
    {count: {of: areas, where: {field: grade, eq: DOES_NOT_MEET_GOOD}},
     gte: {param: shortcomings_threshold}}

Values may name a parameter (``{param: NAME}``); parameters are substituted
when the rules are loaded, so a condition tree here holds only literals.
Nothing here is ever passed to ``eval``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Scalar = str | int | float | bool

COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte")
MEMBERSHIP = ("in", "not_in")
OPERATORS = COMPARISONS + MEMBERSHIP

# Negation of each operator, for ``none`` (De Morgan, pushed down to tests).
NEGATED = {
    "eq": "ne", "ne": "eq", "lt": "gte", "gte": "lt", "gt": "lte", "lte": "gt",
    "in": "not_in", "not_in": "in",
}


@dataclass(frozen=True)
class Aggregate:
    """``count`` or ``share`` of a collection's items matching ``where``.

    ``share`` is matching items / items matching ``among`` (all items when
    ``among`` is absent); it is 0 when that denominator is 0.
    """

    function: str  # "count" or "share"
    collection: str
    where: Condition | None = None
    among: Condition | None = None


@dataclass(frozen=True)
class Test:
    """``subject op value``: the subject is a field name or an aggregate."""

    subject: str | Aggregate
    op: str
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class Group:
    """``all`` or ``any`` of several conditions (``none`` is negated ``all``)."""

    mode: str  # "all" or "any"
    items: tuple[Condition, ...]


Condition = Test | Group


def negate(condition: Condition) -> Condition:
    """The condition that holds exactly when ``condition`` does not."""
    if isinstance(condition, Test):
        return Test(condition.subject, NEGATED[condition.op], condition.value)
    mode = "any" if condition.mode == "all" else "all"
    return Group(mode, tuple(negate(item) for item in condition.items))


def parse(node: Mapping[str, Any], resolve: Callable[[Any], Any]) -> Condition:
    """Build a condition tree from its YAML form (already schema-checked).

    ``resolve`` turns a value that may be ``{param: NAME}`` into a literal.
    """
    for mode in ("all", "any", "none"):
        if mode in node:
            items = tuple(parse(item, resolve) for item in node[mode])
            if mode == "none":
                return negate(Group("any", items))
            return Group(mode, items)
    op = next(key for key in node if key in OPERATORS)
    value = resolve(node[op])
    if op in MEMBERSHIP:
        value = tuple(value)
    return Test(_subject(node, resolve), op, value)


def _subject(node: Mapping[str, Any], resolve: Callable[[Any], Any]) -> str | Aggregate:
    if "field" in node:
        return str(node["field"])
    function = "count" if "count" in node else "share"
    spec = node[function]
    where = parse(spec["where"], resolve) if "where" in spec else None
    among = parse(spec["among"], resolve) if "among" in spec else None
    return Aggregate(function, spec["of"], where, among)


_PREDICATES: dict[Condition | None, Callable[[Mapping[str, Any]], bool]] = {}


def predicate(condition: Condition | None) -> Callable[[Mapping[str, Any]], bool]:
    """``condition`` as a Python function of one record, built once and cached."""
    cached = _PREDICATES.get(condition)
    if cached is None:
        cached = _PREDICATES[condition] = _build_predicate(condition)
    return cached


def _build_predicate(condition: Condition | None) -> Callable[[Mapping[str, Any]], bool]:
    if condition is None:
        return lambda record: True
    if isinstance(condition, Group):
        parts = [_build_predicate(item) for item in condition.items]
        if len(parts) == 2:  # the common case, without a generator per record
            first, second = parts
            if condition.mode == "all":
                return lambda record: first(record) and second(record)
            return lambda record: first(record) or second(record)
        if condition.mode == "all":
            return lambda record: all(part(record) for part in parts)
        return lambda record: any(part(record) for part in parts)
    name = condition.subject
    if not isinstance(name, str):
        raise ValueError("aggregates cannot be nested")
    op, value = condition.op, condition.value
    if op in MEMBERSHIP:
        members = frozenset(value)  # type: ignore[arg-type]
        if op == "in":
            return lambda record: record[name] in members
        return lambda record: record[name] not in members
    if op == "eq":  # the common case, without a call per comparison
        return lambda record: record[name] == value
    function = _OPERATOR_FUNCTIONS[op]
    return lambda record: bool(function(record[name], value))


_OPERATOR_FUNCTIONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "lte": operator.le,
    "gt": operator.gt, "gte": operator.ge,
}


def selector(
    condition: Condition | None,
) -> Callable[[Iterable[Mapping[str, Any]]], list[Mapping[str, Any]]]:
    """The items matching ``condition``, in order (all of them for None), built once.

    A lone ``eq`` or ``in`` test, the usual ``where``, is tested inline
    rather than through ``predicate``: one Python call per item fewer. ``all``
    filters by each of its conditions in turn, which tests each condition on
    the items the earlier ones kept, as ``predicate``'s ``and`` does.
    """
    if condition is None:
        return list
    if isinstance(condition, Group) and condition.mode == "all" and condition.items:
        steps = [selector(item) for item in condition.items]

        def select_all(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
            kept = list(items)
            for step in steps:
                kept = step(kept)
            return kept

        return select_all
    if isinstance(condition, Test) and isinstance(condition.subject, str):
        name, value = condition.subject, condition.value
        if condition.op == "eq":
            return lambda items: [item for item in items if item[name] == value]
        if condition.op == "in":
            members = frozenset(value)  # type: ignore[arg-type]
            return lambda items: [item for item in items if item[name] in members]
    where = predicate(condition)
    return lambda items: [item for item in items if where(item)]


def compile_aggregate(spec: Aggregate) -> Callable[[Sequence[Mapping[str, Any]]], float]:
    """The value of a ``count`` or ``share`` over the items, as a function built once
    (the engine computes derived fields on every evaluation). ``share`` is 0 when
    no item matches ``among``."""
    where = selector(spec.where)
    if spec.function == "count":
        return lambda items: len(where(items))
    among = selector(spec.among)

    def share(items: Sequence[Mapping[str, Any]]) -> float:
        base = among(items)
        return len(where(base)) / len(base) if base else 0

    return share
