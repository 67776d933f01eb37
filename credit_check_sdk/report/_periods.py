"""Months and times for the report: the period's bounds, stored UTC text back to Asia/Shanghai.

The journal stores times as fixed-width UTC text; the report counts by the
Asia/Shanghai day, week (from Monday) and month.

>>> local_time = LocalTimes()
>>> local_time("2026-10-31T15:59:59.000000Z").isoformat()
'2026-10-31T23:59:59+08:00'
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .._exceptions import InvalidRequestError
from .._ids import mask_id
from .._models import Outcome
from .._time import SHANGHAI

__all__ = [
    "OUTCOME_ORDER",
    "LocalTimes",
    "SubjectTexts",
    "from_utc_text",
    "local_day",
    "outcome_order",
    "period_bounds",
    "subject_text",
    "week_of",
]

#: Outcomes in the order reports list them.
OUTCOME_ORDER: tuple[str, ...] = tuple(o.value for o in Outcome)


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of a ``YYYY-MM`` month in Asia/Shanghai.

    >>> s, e = period_bounds("2026-12")
    >>> s.isoformat(), e.isoformat()
    ('2026-12-01T00:00:00+08:00', '2027-01-01T00:00:00+08:00')
    """
    try:
        if len(period) != 7 or period[4] != "-":
            raise ValueError(period)
        year, month = int(period[:4]), int(period[5:])
        start = datetime(year, month, 1, tzinfo=SHANGHAI)
    except ValueError:
        raise InvalidRequestError(f"period must be YYYY-MM, not {period!r}") from None
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def from_utc_text(text: str) -> datetime:
    """The journal's ``at`` column back as an aware datetime in Asia/Shanghai."""
    return datetime.fromisoformat(text[:-1] + "+00:00").astimezone(SHANGHAI)


def local_day(hour: str) -> str:
    """The Asia/Shanghai day of a UTC hour given as ``YYYY-MM-DDTHH``."""
    return datetime.fromisoformat(hour + ":00+00:00").astimezone(SHANGHAI).date().isoformat()


def week_of(day: str) -> str:
    """The Monday of ``day``'s week (both ``YYYY-MM-DD``)."""
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


def subject_text(subject_id: str | None) -> str:
    """A subject id as the report shows it: a personal id masked, none as ``-``."""
    return mask_id(subject_id) if subject_id else "-"


def outcome_order(counts: dict[str, int]) -> dict[str, int]:
    """``counts`` with the known outcomes first, in their order, then others by name."""
    known = {o: counts[o] for o in OUTCOME_ORDER if o in counts}
    if len(known) == len(counts):
        return known
    return known | {o: counts[o] for o in sorted(counts) if o not in known}


class LocalTimes:
    """:func:`from_utc_text` for many values: the offset and fold looked up once per hour.

    Exact: an hour whose first and last instants do not share offset and fold
    (one with a transition in it) takes the slow path for every value.
    """

    def __init__(self) -> None:
        self._hours: dict[str, tuple[timedelta, int] | None] = {}

    def __call__(self, text: str) -> datetime:
        hour = text[:13]
        try:
            known = self._hours[hour]
        except KeyError:
            known = self._hours[hour] = self._hour(hour)
        if known is None or len(text) != 27 or text[-1] != "Z":
            return from_utc_text(text)
        offset, fold = known
        return (datetime.fromisoformat(text[:-1]) + offset).replace(tzinfo=SHANGHAI, fold=fold)

    @staticmethod
    def _hour(hour: str) -> tuple[timedelta, int] | None:
        try:
            first = from_utc_text(hour + ":00:00.000000Z")
            last = from_utc_text(hour + ":59:59.999999Z")
        except ValueError:
            return None
        offset = first.utcoffset()
        if offset is None or offset != last.utcoffset() or first.fold != last.fold:
            return None
        return offset, first.fold


class SubjectTexts(dict[str | None, str]):
    """:func:`subject_text`, once per distinct subject id."""

    def __missing__(self, subject_id: str | None) -> str:
        text = self[subject_id] = subject_text(subject_id)
        return text

    def __call__(self, subject_id: str | None) -> str:
        return self[subject_id]
