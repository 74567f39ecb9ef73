"""The compiled durable_rules rulesets match the checked-in golden JSON.

A difference means the compiler (or the rules) changed what durable_rules is
given: review it, then regenerate with ``make golden``.
"""

from __future__ import annotations

import json

import pytest

from tests.golden_tool import GOLDEN, golden_path, render


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_compiled_ruleset_matches_golden(name: str) -> None:
    assert render(GOLDEN[name]) == golden_path(name).read_text(), (
        f"compiled ruleset {name} changed; review and run `make golden`"
    )


def test_golden_uses_only_the_safe_subset() -> None:
    """Every durable rule matches one fact; only $and/$or/comparisons appear."""
    allowed = {"$and", "$or", "$neq", "$lt", "$lte", "$gt", "$gte"}
    for name in GOLDEN:
        definition = json.loads(golden_path(name).read_text())["definition"]
        for rule_name, rule in definition.items():
            assert sorted(rule) == ["all", "cap"] and len(rule["all"]) == 1, rule_name
            assert list(rule["all"][0]) == ["m"], rule_name
            assert _operators(rule["all"][0]["m"]) <= allowed, rule_name


def _operators(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("$"):
                found.add(key)
            found |= _operators(value)
    elif isinstance(node, list):
        for item in node:
            found |= _operators(item)
    return found
