"""The differential property test (quality.md, "The rules engine must be trustworthy", 2).

Random audits, inspections, placements, plan ratings, reviews and sweeps go
through the engine (durable_rules) and through the reference evaluator in
``tests/reference.py``; findings and actions must be identical, order
included. ``LENSES_PROPERTY_EXAMPLES`` sets the number of examples per kind
(default 2000).

``test_generators_reach_every_rule`` keeps the comparison honest: on a fixed
sample the generators must make every trigger of every rule fire, every leaf
test come out both true and false, and every threshold comparison meet its
threshold exactly (the boundary itself).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.evaluate import RulesEngine
from engine.loader import load_ruleset
from engine.model import Evaluation

from . import strategies
from .reference import (
    INPUT_FACT_KINDS,
    ORDERING,
    Output,
    leaf_tests,
    load,
    reference_evaluate,
    reference_evaluate_audit,
    reference_evaluate_inspection,
    reference_evaluate_placement,
    reference_evaluate_plan_rating,
    reference_evaluate_review,
    reference_evaluate_sweep,
    reference_facts,
    reference_match,
)

RULES = Path(__file__).resolve().parent.parent / "rules"
RULESET = load_ruleset(RULES)
ENGINE = RulesEngine(RULESET)  # compiled once for the module

EXAMPLES = int(os.environ.get("LENSES_PROPERTY_EXAMPLES", "2000"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=False,
)


def assert_same(engine: Evaluation, reference: Output) -> None:
    findings, actions = reference
    assert list(engine.findings) == findings
    assert list(engine.actions) == actions


@PROPERTY
@given(strategies.audit_inputs())
def test_audit_matches_reference(data: Any) -> None:
    audit, history = data
    assert_same(ENGINE.evaluate_audit(audit, history),
                reference_evaluate_audit(RULESET, RULES, audit, history))


@PROPERTY
@given(strategies.inspection_inputs())
def test_inspection_matches_reference(data: Any) -> None:
    assert_same(ENGINE.evaluate_inspection(data),
                reference_evaluate_inspection(RULESET, RULES, data))


@PROPERTY
@given(strategies.placement_inputs())
def test_placement_matches_reference(data: Any) -> None:
    assert_same(ENGINE.evaluate_placement(data),
                reference_evaluate_placement(RULESET, RULES, data))


@PROPERTY
@given(strategies.plan_ratings())
def test_plan_rating_matches_reference(data: Any) -> None:
    assert_same(ENGINE.evaluate_plan_rating(data),
                reference_evaluate_plan_rating(RULESET, RULES, data))


@PROPERTY
@given(strategies.review_inputs())
def test_review_matches_reference(data: Any) -> None:
    assert_same(ENGINE.evaluate_review(data),
                reference_evaluate_review(RULESET, RULES, data))


@PROPERTY
@given(strategies.sweep_inputs())
def test_sweep_matches_reference(data: Any) -> None:
    assert_same(ENGINE.evaluate_sweep(data),
                reference_evaluate_sweep(RULESET, RULES, data))


# ------------------------------------------------------------ not vacuous

COVERAGE_EXAMPLES = 300
GENERATORS: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
    "audit": strategies.audit_inputs,
    "inspection": strategies.inspection_inputs,
    "placement": strategies.placement_inputs,
    "plan_rating": strategies.plan_ratings,
    "review": strategies.review_inputs,
    "sweep": strategies.sweep_inputs,
}


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_generators_reach_every_rule(kind: str) -> None:
    triggers = [
        (rule.rule_id, index, trigger)
        for rule in load(RULES).rules
        for index, trigger in enumerate(rule.triggers)
        if trigger.applies_to in INPUT_FACT_KINDS[kind]
    ]
    assert triggers, f"no rule applies to {kind} inputs"
    fired: set[tuple[str, int]] = set()
    shown: set[str] = set()
    outcomes: dict[tuple[str, int, Any], set[bool]] = defaultdict(set)
    at_threshold: set[tuple[str, int, Any]] = set()

    def observe(rule_id: str, index: int, path: Any, left: Any, op: str, right: Any,
                result: bool) -> None:
        outcomes[(rule_id, index, path)].add(result)
        if op in ORDERING and left == right:
            at_threshold.add((rule_id, index, path))

    @settings(max_examples=COVERAGE_EXAMPLES, derandomize=True, database=None,
              phases=[Phase.generate], deadline=None, suppress_health_check=list(HealthCheck))
    @given(GENERATORS[kind]())
    def sample(data: Any) -> None:
        fact_list = reference_facts(RULES, kind, data)
        fired.update((rule_id, index) for rule_id, index, _ in
                     reference_match(RULES, fact_list, observe))
        findings, actions = reference_evaluate(RULESET, RULES, kind, data)
        shown.update(finding.rule_id for finding in findings)
        shown.update(action.rule_id for action in actions)

    sample()

    expected = {(rule_id, index) for rule_id, index, _ in triggers}
    assert not expected - fired, f"triggers never fired: {sorted(expected - fired)}"
    rule_ids = {rule_id for rule_id, _, _ in triggers}
    assert not rule_ids - shown, f"rules never in the output: {sorted(rule_ids - shown)}"
    one_sided = []
    no_boundary = []
    for rule_id, index, trigger in triggers:
        for path, test in leaf_tests(trigger.when):
            key = (rule_id, index, path)
            if outcomes[key] != {True, False}:
                one_sided.append((rule_id, index, path, test, sorted(outcomes[key])))
            if any(op in test for op in ORDERING) and key not in at_threshold:
                no_boundary.append((rule_id, index, path, test))
    assert not one_sided, f"leaf tests never both true and false: {one_sided}"
    assert not no_boundary, f"thresholds never met exactly: {no_boundary}"
