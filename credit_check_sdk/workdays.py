"""Chinese working days (工作日), for due dates counted in working days.

A tolerance commitment is due some working days after acceptance (§二(二)), a
双公示 disclosure 7 working days after the decision (§四(三)). A working day is a
day that is neither a weekend day nor a holiday, or a weekend day the State
Council made a working day (a make-up day, 调休上班).

Where the days come from, per year (:func:`calendar_basis`):

* ``published``: the State Council's arrangement for the year as the installed
  ``chinese-calendar`` knows it (holidays, bridge days and make-up days). Keep
  that package current: each year's arrangement is published in November or
  December of the year before.
* ``rules``: a later year (2025–2100) it does not know yet. The statutory
  holidays are computed from their rules, the 全国年节及纪念日放假办法 as revised
  in 2024 (in force from 2025): 元旦 1 January; 春节 the lunar New Year's Eve and
  the first three days of the first lunar month; 清明 the day of the 清明 solar
  term; 劳动节 1 and 2 May; 端午 the fifth day of the fifth lunar month; 中秋 the
  fifteenth day of the eighth; 国庆 1 to 3 October. A holiday that falls on a
  Saturday or Sunday is made up on the next working day (补假, the rules' article
  on 全体公民放假的假日); so is one that falls on another holiday (中秋 on 1
  October). Lunar dates come from ``borax``'s lunar calendar, the solar term from
  ``chinese-calendar``. The year's bridge days and make-up working days (调休)
  are the State Council's choice each year and are **not** known: such a count
  is an estimate, and :class:`Deadline` says so (``makeup_days_known`` false).
* ``weekdays``: a year before 2004 or after 2100, where neither applies: Monday
  to Friday, also flagged.

Without make-up days the estimate never counts more working days than Monday
to Friday would: it only takes weekdays away.

>>> from datetime import date
>>> add_working_days(date(2026, 9, 28), 10).due  # National Day, as published
datetime.date(2026, 10, 16)
>>> d = add_working_days(date(2027, 1, 29), 5)  # the 2027 Spring Festival, by the rules
>>> d.due, d.makeup_days_known
(datetime.date(2027, 2, 11), False)
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

__all__ = [
    "RULES_YEARS",
    "Basis",
    "Deadline",
    "add_working_days",
    "calendar_basis",
    "is_working_day",
    "statutory_holidays",
]

logger = logging.getLogger(__name__)

#: Where a year's working days come from: see the module doc.
Basis = Literal["published", "rules", "weekdays"]

#: The years the 2024 revision's rules are applied to when no arrangement is published:
#: it is in force from 2025, and the lunar calendar used covers lunar years to 2100.
RULES_YEARS = range(2025, 2101)

_INSTALL_HINT = "pip install --upgrade credit-check-sdk (it depends on chinese-calendar and borax)"
_warned: set[int] = set()


def _chinese_calendar() -> Any:
    try:
        import chinese_calendar  # type: ignore[import-untyped]  # ships no type information
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError(f"working days need chinese-calendar: {_INSTALL_HINT}") from exc
    return chinese_calendar


@functools.lru_cache(maxsize=512)
def calendar_basis(year: int) -> Basis:
    """Whether ``year``'s working days are ``published``, computed by the ``rules`` or
    ``weekdays`` only (see the module doc).

    >>> calendar_basis(2026), calendar_basis(2027), calendar_basis(1999)
    ('published', 'rules', 'weekdays')
    """
    try:
        _chinese_calendar().is_workday(date(year, 1, 1))
    except NotImplementedError:
        return "rules" if year in RULES_YEARS else "weekdays"
    return "published"


def _lunar(year: int, month: int, day: int) -> date:
    try:
        from borax.calendars.lunardate import LunarDate  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError(f"working days need borax's lunar calendar: {_INSTALL_HINT}") from exc
    solar: date = LunarDate(year, month, day).to_solar_date()
    return solar


def _qingming(year: int) -> date:
    terms = _chinese_calendar().get_solar_terms(date(year, 4, 1), date(year, 4, 30))
    day: date = next(day for day, name in terms if name == "清明")
    return day


def statutory_holidays(year: int) -> dict[date, str]:
    """``year``'s days off by the rules of the 2024 revision: the holidays and the days
    that make up for those on a weekend (补假), by day; no bridge days (调休).

    Raises :class:`ValueError` for a year outside 2025–2100.

    >>> {d.isoformat(): n for d, n in statutory_holidays(2027).items() if d.month == 2}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'2027-02-05': '春节（除夕）', '2027-02-06': '春节', '2027-02-07': '春节',
     '2027-02-08': '春节', '2027-02-09': '春节（补假）', '2027-02-10': '春节（补假）'}
    """
    if year not in RULES_YEARS:
        raise ValueError(
            f"the holiday rules of the 2024 revision are applied to {RULES_YEARS.start}–"
            f"{RULES_YEARS.stop - 1}, not {year}"
        )
    return dict(_by_rules(year))  # a copy: the cached one is shared


@functools.lru_cache(maxsize=128)
def _by_rules(year: int) -> dict[date, str]:
    new_year = _lunar(year, 1, 1)
    festivals: list[tuple[date, str]] = [
        (date(year, 1, 1), "元旦"),
        (new_year - timedelta(days=1), "春节（除夕）"),
        *((new_year + timedelta(days=n), "春节") for n in range(3)),
        (_qingming(year), "清明节"),
        (date(year, 5, 1), "劳动节"),
        (date(year, 5, 2), "劳动节"),
        (_lunar(year, 5, 5), "端午节"),
        (_lunar(year, 8, 15), "中秋节"),
        *((date(year, 10, day), "国庆节") for day in (1, 2, 3)),
    ]
    days: dict[date, str] = {}
    owed: list[tuple[date, str]] = []
    for day, name in sorted(festivals):
        # A holiday on a weekend, or on a day another holiday already takes, is owed a
        # working day.
        if day.weekday() >= 5 or day in days:
            owed.append((day, name))
        days[day] = f"{days[day]}、{name}" if day in days else name
    for day, name in owed:
        made_up = day + timedelta(days=1)
        while made_up.weekday() >= 5 or made_up in days:
            made_up += timedelta(days=1)
        days[made_up] = name.split("（")[0] + "（补假）"
    return dict(sorted(days.items()))


def _warn_once(year: int, basis: Basis) -> None:
    if year in _warned:
        return
    _warned.add(year)
    if basis == "rules":
        logger.warning(
            "chinese-calendar has no holiday arrangement for %d: its statutory holidays are "
            "computed from the rules, its make-up working days (调休) are not known; "
            "upgrade chinese-calendar once the arrangement is published",
            year,
        )
    else:
        logger.warning(
            "no holiday arrangement or rules for %d: counting Monday to Friday as working days",
            year,
        )


def is_working_day(day: date) -> bool:
    """Whether ``day`` is a working day in mainland China (see the module doc for a year
    whose arrangement is not published: then make-up days are not known).

    >>> is_working_day(date(2026, 2, 14))  # a Saturday, made up for the Spring Festival
    True
    >>> is_working_day(date(2026, 10, 1)), is_working_day(date(2027, 2, 9))
    (False, False)
    """
    basis = calendar_basis(day.year)
    if basis == "published":
        return bool(_chinese_calendar().is_workday(day))
    _warn_once(day.year, basis)
    if day.weekday() >= 5:
        return False
    return basis == "weekdays" or day not in _by_rules(day.year)


@dataclass(frozen=True)
class Deadline:
    """The last day of a period of working days, and how sure it is.

    ``estimated_years`` are the years the period crossed whose arrangement is not
    published: there the holidays come from the rules and the make-up working days
    (调休) are not known, so the real due day may differ by a few days.

    >>> d = add_working_days(date(2026, 2, 12), 10)
    >>> d.due, d.makeup_days_known, d.note
    (datetime.date(2026, 3, 4), True, None)
    """

    start: date
    working_days: int
    due: date
    estimated_years: tuple[int, ...] = ()

    @property
    def makeup_days_known(self) -> bool:
        """Every year the period crossed has a published arrangement (make-up days known)."""
        return not self.estimated_years

    @property
    def note(self) -> str | None:
        """For the officer, in Chinese and English, when the due day is an estimate.

        >>> print(add_working_days(date(2027, 1, 29), 5).note)  # doctest: +ELLIPSIS
        2027年节假日安排尚未公布：按法定节假日规则推算，未计调休上班日 / the 2027 holiday...
        """
        if self.makeup_days_known:
            return None
        years = "、".join(str(y) for y in self.estimated_years)
        years_en = ", ".join(str(y) for y in self.estimated_years)
        return (
            f"{years}年节假日安排尚未公布：按法定节假日规则推算，未计调休上班日 / the {years_en} "
            "holiday arrangement is not published yet: holidays by the rules, make-up working "
            "days (调休) not known"
        )

    def __str__(self) -> str:
        return self.due.isoformat() if self.note is None else f"{self.due} ({self.note})"


def add_working_days(start: date, days: int) -> Deadline:
    """The day on which ``days`` working days after ``start`` have passed.

    Counting starts the day after ``start`` (the day of the act is not counted),
    so the result is the last day of the period; ``days`` 0 is ``start`` itself.
    A ``datetime`` counts from its date.

    >>> add_working_days(date(2026, 2, 12), 10).due  # across the Spring Festival
    datetime.date(2026, 3, 4)
    >>> add_working_days(date(2026, 9, 28), 10).due  # across National Day
    datetime.date(2026, 10, 16)
    """
    if not isinstance(start, date):
        raise TypeError(f"start must be a date, not {type(start).__name__}")
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError(f"days must be an int, not {type(days).__name__}")
    if days < 0:
        raise ValueError(f"days must not be negative, not {days}")
    if isinstance(start, datetime):
        start = start.date()
    day, counted = start, 0
    estimated: set[int] = set()
    while counted < days:
        day += timedelta(days=1)
        if calendar_basis(day.year) != "published":
            estimated.add(day.year)
        if is_working_day(day):
            counted += 1
    return Deadline(start, days, day, tuple(sorted(estimated)))
