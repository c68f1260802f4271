"""Bill days: the channels cut their bills at midnight Asia/Shanghai; we store UTC."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
CARRY_DAYS = 2  # a line missing from day D's bill is looked for until D+2 before it is raised


def window(day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of a Shanghai day, in UTC."""
    start = datetime.combine(day, time(), SHANGHAI)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(SHANGHAI).date()


def is_over(day: date, now: datetime | None = None) -> bool:
    """A day's bill can exist only once the day is over in Shanghai."""
    return day < today(now)
