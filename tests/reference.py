"""A reference evaluator: a plain-Python reading of the rule YAML files.

quality.md, "The rules engine must be trustworthy", item 2: the engine decides
which rules fire through durable_rules; this module decides the same thing
with none of the engine's condition machinery (no ``engine.conditions``,
``engine.compiler``, ``engine.loader`` or ``durable``). It reads the rule
files itself and walks each ``when`` tree directly against the facts.

Shared with the engine on purpose, because they are not what is being proven:
building facts from the inputs (``engine.facts``), lens scores
(``engine.scoring``) and rendering firings into findings and actions
(``engine.evaluate.render``).

The condition language, as read here:

- ``{all: [...]}`` / ``{any: [...]}`` / ``{none: [...]}`` (none: no item holds);
- ``{field: F, OP: V}`` with OP one of eq, ne, lt, lte, gt, gte, in, not_in;
- ``{count: {of: C, where: W}, OP: V}``: items of the fact's collection C
  matching W (all items without W);
- ``{share: {of: C, where: W, among: A}, OP: V}``: items matching A and W over
  items matching A (all items without A); 0 when there are none;
- a value ``{param: NAME}`` is ``params[NAME]`` (a list for in / not_in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from engine import facts, scoring
from engine.evaluate import render
from engine.facts import Fact
from engine.model import (
    LENSES,
    ActionIntent,
    Audit,
    AuditHistory,
    Finding,
    InspectionInput,
    PlacementInput,
    PlanRating,
    ReviewInput,
    SweepInput,
)
from engine.ruleset import Ruleset

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

PARAMS_FILE = "params.yaml"
CATALOGUE_FILE = "catalogue.yaml"
TESTS_DIR = "tests"

ORDERING = ("lt", "lte", "gt", "gte")
OPERATORS = ("eq", "ne", *ORDERING, "in", "not_in")
MODES = ("all", "any", "none")
AGGREGATES = ("count", "share")

# (rule id, trigger index, fact id), as RulesEngine.match returns them.
Firing = tuple[str, int, str]
# Where a leaf test sits in a ``when`` tree: ("all", 1, "count", "where", ...).
TestPath = tuple[Any, ...]
# Called for every leaf test evaluated: (rule id, trigger, path, left, op, right, result).
Observer = Callable[[str, int, TestPath, Any, str, Any, bool], None]

# The fact kinds each input kind produces (what the evaluate_* methods assert).
INPUT_FACT_KINDS: dict[str, frozenset[str]] = {
    "audit": frozenset({"audit", "area", "agreed_action"}),
    "inspection": frozenset({"inspection", "placed_child"}),
    "placement": frozenset({"placement"}),
    "plan_rating": frozenset({"plan_rating"}),
    "review": frozenset({"judgement", "lens_score", "review_action"}),
    "sweep": frozenset({"open_action", "service_area"}),
}

Output = tuple[list[Finding], list[ActionIntent]]


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class RefTrigger:
    """One ``applies_to`` / ``when`` pair, the condition kept as parsed YAML."""

    applies_to: str
    when: Mapping[str, Any]


@dataclass(frozen=True)
class RefRule:
    """A rule file: its id and its triggers (one unless ``triggers:`` is used)."""

    rule_id: str
    triggers: tuple[RefTrigger, ...]
    source: str


@dataclass(frozen=True)
class RefRules:
    """A rules folder as read by the reference."""

    params: Mapping[str, Any]
    catalogue: Mapping[str, tuple[str, ...]]
    rules: tuple[RefRule, ...]


def _yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


@cache
def _read(directory: str) -> RefRules:
    root = Path(directory)
    params = _yaml(root / PARAMS_FILE)
    catalogue = {
        entry["lens"]: tuple(area["code"] for area in entry["areas"])
        for entry in _yaml(root / CATALOGUE_FILE)["lenses"]
    }
    rules = []
    for path in sorted(root.rglob("*.yaml")):
        relative = path.relative_to(root)
        if path.name in (PARAMS_FILE, CATALOGUE_FILE) or TESTS_DIR in relative.parts[:-1]:
            continue
        data = _yaml(path)
        parts = data.get("triggers", [data])
        triggers = tuple(RefTrigger(part["applies_to"], part["when"]) for part in parts)
        rules.append(RefRule(str(data["id"]), triggers, str(relative)))
    return RefRules(params, catalogue, tuple(rules))


def load(rules_dir: str | Path) -> RefRules:
    """The rules folder read with plain ``yaml.safe_load`` (cached per folder)."""
    return _read(str(Path(rules_dir).resolve()))


# --------------------------------------------------------------- evaluating


def _resolve(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and set(value) == {"param"}:
        return params[value["param"]]
    return value


def _equal(left: Any, right: Any) -> bool:
    # true/false are not the numbers 1/0 in the rule language.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    return bool(left == right)


def compare(left: Any, op: str, right: Any) -> bool:
    """``left op right`` as the rule language defines it."""
    if op == "eq":
        return _equal(left, right)
    if op == "ne":
        return not _equal(left, right)
    if op == "in":
        return any(_equal(left, item) for item in right)
    if op == "not_in":
        return not any(_equal(left, item) for item in right)
    if op == "lt":
        return bool(left < right)
    if op == "lte":
        return bool(left <= right)
    if op == "gt":
        return bool(left > right)
    if op == "gte":
        return bool(left >= right)
    raise ValueError(f"unknown operator {op!r}")


def _operator(node: Mapping[str, Any]) -> str:
    ops = [key for key in node if key in OPERATORS]
    if len(ops) != 1:
        raise ValueError(f"a test needs exactly one operator: {node!r}")
    return ops[0]


class _Walker:
    """Evaluates one ``when`` tree; every branch is evaluated (no short cut),
    so an observer sees every leaf test on every fact."""

    def __init__(self, params: Mapping[str, Any], report: Callable[..., None] | None) -> None:
        self.params = params
        self.report = report

    def holds(self, node: Mapping[str, Any], record: Mapping[str, Any],
              collections: Mapping[str, list[dict[str, Any]]], path: TestPath) -> bool:
        for mode in MODES:
            if mode in node:
                results = [
                    self.holds(item, record, collections, (*path, mode, i))
                    for i, item in enumerate(node[mode])
                ]
                if mode == "all":
                    return all(results)
                if mode == "any":
                    return any(results)
                return not any(results)
        op = _operator(node)
        right = _resolve(node[op], self.params)
        left = self.subject(node, record, collections, path)
        result = compare(left, op, right)
        if self.report is not None:
            self.report(path, left, op, right, result)
        return result

    def subject(self, node: Mapping[str, Any], record: Mapping[str, Any],
                collections: Mapping[str, list[dict[str, Any]]], path: TestPath) -> Any:
        if "field" in node:
            return record[node["field"]]
        function = next(name for name in AGGREGATES if name in node)
        spec = node[function]
        items = collections[spec["of"]]

        def matches(part: str, item: Mapping[str, Any]) -> bool:
            if part not in spec:
                return True
            return self.holds(spec[part], item, {}, (*path, function, part))

        if function == "count":
            return sum(1 for item in items if matches("where", item))
        base = [item for item in items if matches("among", item)]
        hits = sum(1 for item in base if matches("where", item))
        return hits / len(base) if base else 0


def holds(when: Mapping[str, Any], fact: Fact, params: Mapping[str, Any]) -> bool:
    """Whether a ``when`` condition holds for one fact."""
    return _Walker(params, None).holds(when, fact.fields, fact.collections, ())


def _reporter(observe: Observer | None, rule_id: str,
              index: int) -> Callable[..., None] | None:
    if observe is None:
        return None

    def report(path: TestPath, left: Any, op: str, right: Any, result: bool) -> None:
        observe(rule_id, index, path, left, op, right, result)

    return report


def reference_match(rules_dir: str | Path, fact_list: list[Fact],
                    observe: Observer | None = None) -> set[Firing]:
    """Every (rule id, trigger index, fact id) whose trigger holds on the fact."""
    ref = load(rules_dir)
    firings: set[Firing] = set()
    for rule in ref.rules:
        for index, trigger in enumerate(rule.triggers):
            walker = _Walker(ref.params, _reporter(observe, rule.rule_id, index))
            for fact in fact_list:
                if fact.kind != trigger.applies_to:
                    continue
                if walker.holds(trigger.when, fact.fields, fact.collections, ()):
                    firings.add((rule.rule_id, index, fact.fact_id))
    return firings


def leaf_tests(when: Mapping[str, Any], path: TestPath = ()) -> Iterator[
        tuple[TestPath, Mapping[str, Any]]]:
    """Every leaf test of a ``when`` tree with its path (as the observer reports it)."""
    for mode in MODES:
        if mode in when:
            for i, item in enumerate(when[mode]):
                yield from leaf_tests(item, (*path, mode, i))
            return
    yield path, when
    for function in AGGREGATES:
        if function in when:
            for part in ("where", "among"):
                if part in when[function]:
                    yield from leaf_tests(when[function][part], (*path, function, part))


# ------------------------------------------------------ inputs -> facts -> out


def reference_facts(rules_dir: str | Path, kind: str, data: Any) -> list[Fact]:
    """The facts RulesEngine.evaluate_<kind> asserts for ``data``.

    ``data`` is ``(audit, history)`` for audits and the input record otherwise.
    """
    ref = load(rules_dir)
    if kind == "audit":
        audit, history = data
        if not audit.completed:
            history = AuditHistory()  # drafts: findings only, no history
        return facts.audit_facts(audit, history or AuditHistory(), ref.params)
    if kind == "inspection":
        return facts.inspection_facts(data)
    if kind == "placement":
        return facts.placement_facts(data)
    if kind == "plan_rating":
        return facts.plan_rating_facts(data)
    if kind == "review":
        _check_review_areas(data, ref.catalogue)
        lenses = [lens for lens in LENSES if lens in ref.catalogue]
        lens_scores, overall = scoring.score_review(data.review.judgements, lenses, ref.params)
        return facts.review_facts(data, ref.catalogue, [*lens_scores, overall])
    if kind == "sweep":
        latest: dict[str, Any] = {}
        for panel in data.panels:  # the latest panel per service area; first of ties
            kept = latest.get(panel.service_area)
            if kept is None or panel.panel_on > kept.panel_on:
                latest[panel.service_area] = panel
        return facts.sweep_facts(SweepInput(data.as_of, data.open_actions,
                                             tuple(latest.values())))
    raise ValueError(f"unknown input kind {kind!r}")


def _check_review_areas(data: ReviewInput, catalogue: Mapping[str, tuple[str, ...]]) -> None:
    seen: set[tuple[str, str]] = set()
    for judgement in data.review.judgements:
        key = (judgement.lens, judgement.judgement_area)
        if judgement.judgement_area not in catalogue.get(judgement.lens, ()) or key in seen:
            raise ValueError(f"invalid or repeated judgement area {key!r}")
        seen.add(key)


def reference_evaluate(ruleset: Ruleset, rules_dir: str | Path, kind: str, data: Any) -> Output:
    """Findings and actions for one input, matched by the reference."""
    fact_list = reference_facts(rules_dir, kind, data)
    with_actions = data[0].completed if kind == "audit" else True
    findings, actions = render(ruleset, fact_list, reference_match(rules_dir, fact_list),
                               with_actions)
    return findings, actions


def reference_evaluate_audit(ruleset: Ruleset, rules_dir: str | Path, audit: Audit,
                             history: AuditHistory | None = None) -> Output:
    """As RulesEngine.evaluate_audit: drafts get no history and no actions."""
    return reference_evaluate(ruleset, rules_dir, "audit", (audit, history))


def reference_evaluate_inspection(ruleset: Ruleset, rules_dir: str | Path,
                                  data: InspectionInput) -> Output:
    """As RulesEngine.evaluate_inspection."""
    return reference_evaluate(ruleset, rules_dir, "inspection", data)


def reference_evaluate_placement(ruleset: Ruleset, rules_dir: str | Path,
                                 data: PlacementInput) -> Output:
    """As RulesEngine.evaluate_placement."""
    return reference_evaluate(ruleset, rules_dir, "placement", data)


def reference_evaluate_plan_rating(ruleset: Ruleset, rules_dir: str | Path,
                                   rating: PlanRating) -> Output:
    """As RulesEngine.evaluate_plan_rating."""
    return reference_evaluate(ruleset, rules_dir, "plan_rating", rating)


def reference_evaluate_review(ruleset: Ruleset, rules_dir: str | Path,
                              data: ReviewInput) -> Output:
    """As RulesEngine.evaluate_review (lens scores from engine.scoring)."""
    return reference_evaluate(ruleset, rules_dir, "review", data)


def reference_evaluate_sweep(ruleset: Ruleset, rules_dir: str | Path,
                             data: SweepInput) -> Output:
    """As RulesEngine.evaluate_sweep: one panel per service area, the latest."""
    return reference_evaluate(ruleset, rules_dir, "sweep", data)
