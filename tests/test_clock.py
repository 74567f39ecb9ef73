"""The server's "today" is the date in England, summer time included."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from server.clock import today_in_england


@pytest.mark.parametrize(("instant", "day"), [
    (datetime(2026, 6, 30, 23, 30, tzinfo=UTC), date(2026, 7, 1)),  # 00:30 BST: tomorrow already
    (datetime(2026, 6, 30, 22, 59, tzinfo=UTC), date(2026, 6, 30)),  # 23:59 BST
    (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), date(2026, 12, 31)),  # GMT: as UTC
    (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), date(2026, 3, 29)),  # the night clocks go forward
])
def test_today_is_the_date_in_england(instant: datetime, day: date) -> None:
    assert today_in_england(instant) == day

