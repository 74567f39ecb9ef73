"""The server's "today": the date in England, where the council works."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

ENGLAND = ZoneInfo("Europe/London")


def today_in_england(now: datetime | None = None) -> date:
    """Today's date in England (for created_on and the default "as of"): the council's
    day. UTC's is the day before from midnight to 1 am during British Summer Time,
    when an action due that day would not yet show as overdue."""
    return (now or datetime.now(UTC)).astimezone(ENGLAND).date()
