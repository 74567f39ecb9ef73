"""engine/effects.py: how values appear in messages and ``because``, and what the
finding cache keeps apart."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from engine.effects import FindingCache, FindingRecipe, render_value
from engine.facts import Fact
from engine.loader import load_ruleset
from tests.conftest import RULES


@pytest.mark.parametrize(("value", "text"), [
    (30.0, "30"), (29.9951, "30"), (0.69995, "0.7"), (0.6, "0.6"), (0.69, "0.69"),
    (33.333333333333336, "33.33"), (63.32842415316642, "63.33"), (6.032258064516129, "6.03"),
    (100.0, "100"), (0.0, "0"), (-0.0, "0"), (-0.001, "0"), (-1.5, "-1.5"), (0.004, "0"),
    (7, "7"), (True, "true"),
])
def test_numbers_render_to_two_decimals_without_trailing_zeros_or_a_bare_point(
    value: object, text: str
) -> None:
    assert render_value(value) == text


class _Code(str):
    """A str subclass (as an enum member of str may be)."""


class _Flag(int):
    """An int subclass that is not a bool."""


@pytest.mark.parametrize(("value", "text"), [
    (False, "false"), (None, ""), (0, "0"), (date(2026, 3, 1), "2026-03-01"),
    (datetime(2026, 3, 1, 9, 30), "2026-03-01T09:30:00"), (_Code("RISK"), "RISK"),
    (_Flag(3), "3"), (["A", 1, True, None, 2.50], "A,1,true,,2.5"), ((), ""),
    ((date(2026, 1, 2), [False]), "2026-01-02,false"),
])
def test_each_type_renders_as_the_messages_show_it(value: object, text: str) -> None:
    assert render_value(value) == text


def test_the_finding_cache_keeps_equal_values_of_different_types_apart() -> None:
    """``False == 0`` and they hash alike, but a ``because`` shows "false" for one and
    "0" for the other: the cache must not hand the first finding out for the second.
    (GC-12 reads only plain fields, the cache's fast key.)"""
    rule = load_ruleset(RULES).rule("GC-12")
    recipe = FindingRecipe.of(rule, rule.triggers[0])
    assert recipe.plain
    cache = FindingCache()
    shown = [
        cache.finding(recipe, Fact("audit", "audit", {"status": "COMPLETED", "feedback_discussed": value}))
        .because["feedback_discussed"]
        for value in (False, 0, 0.0, False)
    ]
    assert shown == ["false", "0", "0", "false"]
    assert (cache.hits, cache.misses) == (1, 3)  # 0 and 0.0 render alike, but are kept apart too


def test_a_finding_on_a_list_field_is_cached_by_its_items() -> None:
    """A recipe reading a list field is not plain (a list cannot be a key): its key
    holds the items, so equal lists share one finding and different ones do not."""
    rule = load_ruleset(RULES).rule("GC-17")
    recipe = FindingRecipe.of(rule, rule.triggers[0])
    assert not recipe.plain
    cache = FindingCache()
    texts = []
    for ids in (["A1", "A2"], ["A1", "A2"], ["A1", "A3"]):
        fact = Fact("audit", "audit", {"earlier_case_audit_ids": ids, "earlier_case_audits": 2,
                                       "audited_previously": False})
        texts.append(cache.finding(recipe, fact).message)
    assert texts[0] == texts[1] != texts[2]
    assert "A1, A3" in texts[2]
    assert (cache.hits, cache.misses) == (1, 2)
