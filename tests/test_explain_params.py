"""``lenses explain RULE_ID`` lists the rule's parameters (operations.md), including
those a field it reads is computed with: the history windows (ES-03, GC-18) and the
lens scoring (LS-04). A QA lead changing one sees which rules it moves."""

from __future__ import annotations

import pytest

from engine.loader import load_ruleset
from tests.conftest import RULES
from tests.test_cli import lenses


@pytest.mark.parametrize(("rule_id", "computed_with"), [
    ("ES-03", {"deep_dive_window_days"}),
    ("GC-18", {"calibration_window_months"}),
    ("LS-04", {"lens_points", "lens_bands", "lens_floor_judgement", "lens_area_cap_grade",
               "lens_cap_judgement", "limiting_lenses"}),
])
def test_a_rule_depends_on_the_parameters_its_fields_are_computed_with(
        rule_id: str, computed_with: set[str]) -> None:
    (rule,) = [r for r in load_ruleset(RULES).rules if r.rule_id == rule_id]
    assert computed_with <= set(rule.params_used)


def test_a_rule_reading_no_computed_field_lists_only_what_it_names() -> None:
    (rule,) = [r for r in load_ruleset(RULES).rules if r.rule_id == "GC-06"]
    assert rule.params_used == ("shortcomings_threshold",)


def test_explain_prints_the_window_of_a_history_rule() -> None:
    result = lenses("explain", "ES-03", check=True)
    assert "param deep_dive_window_days = 90" in result.stdout
