"""Chinese working days (工作日): weekends and statutory holidays off, make-up days (调休) on."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import chinese_calendar  # type: ignore[import-untyped]  # ships no type information

__all__ = ["add_working_days", "is_working_day"]

logger = logging.getLogger(__name__)
_warned: set[int] = set()


def is_working_day(day: date) -> bool:
    """Whether ``day`` is a working day in mainland China.

    Uses the State Council's holiday arrangements as published in
    ``chinese-calendar``. For a year the installed version does not know yet,
    it falls back to Monday to Friday and logs a warning once per year:
    upgrade ``chinese-calendar`` when the next year's arrangement is out.

    >>> is_working_day(date(2026, 2, 14))  # a Saturday, made up for the Spring Festival
    True
    >>> is_working_day(date(2026, 10, 1))  # National Day
    False
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned:
            _warned.add(day.year)
            logger.warning(
                "chinese-calendar %s has no holiday arrangement for %d; counting Monday to "
                "Friday as working days",
                getattr(chinese_calendar, "__version__", "?"),
                day.year,
            )
        return day.weekday() < 5


def add_working_days(start: date, days: int) -> date:
    """The day on which ``days`` working days after ``start`` have passed.

    Counting starts the day after ``start`` (the day of the act is not
    counted), so the result is the last day of the period.

    >>> add_working_days(date(2026, 2, 12), 10)  # across the Spring Festival
    datetime.date(2026, 3, 4)
    >>> add_working_days(date(2026, 9, 28), 10)  # across National Day
    datetime.date(2026, 10, 16)
    """
    if days < 0:
        raise ValueError(f"days must not be negative, not {days}")
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day
