"""Every rule test case in rules/tests/ as its own pytest test (``lenses test`` runs the same)."""

from __future__ import annotations

import pytest

from engine import RulesEngine
from engine.loader import load_ruleset
from server import rule_cases
from tests.conftest import RULES

CASES = list(rule_cases.load_cases(RULES))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule}:{c.note}" for c in CASES])
def test_rule_case(engine: RulesEngine, case: rule_cases.Case) -> None:
    result = rule_cases.run_case(engine, case)
    assert result.passed, "\n".join([result.title(), *result.problems])


def test_every_rule_has_a_firing_and_a_non_firing_case() -> None:
    ruleset = load_ruleset(RULES)
    missing = []
    for rule in ruleset.rules:
        cases = [c for c in CASES if c.rule == rule.rule_id]
        fires = any(_fires(c, rule.rule_id) for c in cases)
        spared = any(rule.rule_id in c.data["want"].get("absent", []) for c in cases)
        if not (fires and spared):
            missing.append(rule.rule_id)
    assert missing == []


def test_the_case_runner_can_fail(engine: RulesEngine) -> None:
    """A case expecting the wrong thing is reported, with the difference."""
    case = next(c for c in CASES if c.rule == "GC-06" and _fires(c, "GC-06"))
    wrong = rule_cases.Case(case.file, case.line, case.rule,
                            {**case.data, "want": {"absent": ["GC-06"]}}, case.fixtures)
    result = rule_cases.run_case(engine, wrong)
    assert not result.passed and "expected no GC-06" in result.problems[0]


def _fires(case: rule_cases.Case, rule_id: str) -> bool:
    want = case.data["want"]
    finding_ids = {f if isinstance(f, str) else f["rule_id"] for f in want.get("findings", [])}
    action_ids = {a.get("rule_id") for a in want.get("actions", [])}
    return rule_id in finding_ids or rule_id in action_ids
