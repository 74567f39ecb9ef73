"""Working days, months and the due dates built from them."""

from __future__ import annotations

from datetime import date

import pytest

from engine import dates


@pytest.mark.parametrize(("start", "n", "due"), [
    (date(2026, 10, 10), 0, date(2026, 10, 12)),   # Saturday -> Monday
    (date(2026, 10, 12), 0, date(2026, 10, 12)),   # a working day is its own "same day"
    (date(2026, 10, 10), 1, date(2026, 10, 12)),   # 1st working day after a Saturday
    (date(2026, 10, 12), 1, date(2026, 10, 13)),
    (date(2026, 4, 3), 0, date(2026, 4, 7)),       # Good Friday -> past Easter Monday
    (date(2026, 4, 2), 1, date(2026, 4, 7)),
    (date(2026, 12, 24), 1, date(2026, 12, 29)),   # Christmas, Boxing Day (substitute Mon 28)
    (date(2026, 10, 9), 20, date(2026, 11, 6)),
])
def test_working_days_after(start: date, n: int, due: date) -> None:
    assert dates.working_days_after(start, n) == due


@pytest.mark.parametrize(("day", "due"), [
    (date(2026, 1, 15), date(2026, 2, 28)),
    (date(2028, 1, 10), date(2028, 2, 29)),
    (date(2026, 12, 3), date(2027, 1, 31)),
    (date(2026, 1, 31), date(2026, 2, 28)),
])
def test_end_of_month_after(day: date, due: date) -> None:
    assert dates.end_of_month_after(day) == due


def test_months_between_is_exact_at_the_boundary() -> None:
    assert dates.months_between(date(2026, 4, 14), date(2026, 10, 14)) == 6
    assert dates.months_between(date(2026, 4, 13), date(2026, 10, 14)) > 6
    assert dates.months_between(date(2026, 4, 15), date(2026, 10, 14)) < 6
    # 31 Aug is not "more than 6 months" before 28 Feb (add_months clamps to 28 Aug).
    assert dates.months_between(date(2026, 8, 31), date(2027, 2, 28)) <= 6


def test_add_months_clamps_to_month_end() -> None:
    assert dates.add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert dates.add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError):
        dates.working_days_after(date(2026, 1, 1), -1)
