"""Clock helpers. Decisions are made on the day in Asia/Shanghai.

China has kept UTC+08:00 without daylight saving since 1991, so a fixed offset
is exact for every date the SDK handles and needs no tz database (which slim
containers on government networks often lack).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

__all__ = ["SHANGHAI", "now", "today"]

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def now() -> datetime:
    """The current time in Asia/Shanghai, to the microsecond."""
    return datetime.now(SHANGHAI)


def today() -> date:
    """Today's date in Asia/Shanghai."""
    return now().date()
