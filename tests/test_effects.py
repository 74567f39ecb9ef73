"""``render_value`` (engine/effects.py): how numbers appear in messages and ``because``."""

from __future__ import annotations

import pytest

from engine.effects import render_value


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
