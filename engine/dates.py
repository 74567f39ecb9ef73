"""Date arithmetic the rules use: working days and calendar months.

All dates come from the data, never from the clock. "Working days" skip
weekends and England's bank holidays (the ``holidays`` package, subdivision
ENG).
"""

from __future__ import annotations

import calendar as _cal
from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _england_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_working_day(day: date) -> bool:
    """True unless ``day`` is a Saturday, Sunday or an English bank holiday."""
    return day.weekday() < 5 and day not in _england_holidays(day.year)


def working_days_after(start: date, n: int) -> date:
    """The n-th working day after ``start`` (``start`` itself not counted).

    With n == 0 this is "the same working day": ``start`` if it is a working
    day, else the next one.
    """
    if n < 0:
        raise ValueError("working days must be >= 0")
    day = start
    if n == 0:
        while not is_working_day(day):
            day += timedelta(days=1)
        return day
    counted = 0
    while counted < n:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months, clamped to the month's end."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    if day.day <= 28:  # every month has the day: no clamping, no month length needed
        return date(year, month + 1, day.day)
    last = _cal.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def end_of_month_after(day: date) -> date:
    """The last day of the calendar month after ``day``'s month."""
    first_next = add_months(day.replace(day=1), 1)
    return first_next.replace(day=_cal.monthrange(first_next.year, first_next.month)[1])


def months_between(earlier: date, later: date) -> float:
    """How many months ``earlier`` lies before ``later``, as a number.

    Whole calendar months plus the leftover days as a fraction of 31, so that
    "more than 6 months before" is ``months_between(a, b) > 6`` exactly when
    ``a`` is before ``add_months(b, -6)``. Negative when ``earlier`` is later.
    """
    if earlier > later:
        return -months_between(later, earlier)
    whole = (later.year - earlier.year) * 12 + (later.month - earlier.month)
    back = add_months(later, -whole)
    if back < earlier:
        whole -= 1
        back = add_months(later, -whole)
    return whole + (back - earlier).days / 31
