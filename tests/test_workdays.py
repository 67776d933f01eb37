"""Working days: published arrangements, the 2024 holiday rules for later years, the flag."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_check_sdk import workdays
from credit_check_sdk.workdays import (
    add_working_days,
    calendar_basis,
    is_working_day,
    statutory_holidays,
)


def _weekday_due(start: date, days: int) -> date:
    """The due day counting every Monday to Friday as a working day."""
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if day.weekday() < 5:
            counted += 1
    return day


def _days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


def test_where_each_year_comes_from() -> None:
    assert calendar_basis(2004) == calendar_basis(2026) == "published"
    assert calendar_basis(2027) == calendar_basis(2100) == "rules"
    assert calendar_basis(2003) == calendar_basis(2101) == "weekdays"


def test_the_2027_spring_festival_by_its_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """2027-02-06 is the first day of the lunar year, a Saturday: the eve (Fri 5), the
    first three days (6, 7, Mon 8) and two days made up for the weekend (Tue 9, Wed 10)."""
    monkeypatch.setattr(workdays, "_warned", set())
    spring = {d: n for d, n in statutory_holidays(2027).items() if d.month == 2}
    assert spring == {
        date(2027, 2, 5): "春节（除夕）",
        date(2027, 2, 6): "春节",
        date(2027, 2, 7): "春节",
        date(2027, 2, 8): "春节",
        date(2027, 2, 9): "春节（补假）",
        date(2027, 2, 10): "春节（补假）",
    }
    # A commitment accepted in late 2026 with 30 working days runs into it.
    start = date(2026, 12, 28)
    deadline = add_working_days(start, 30)
    weekdays_only = _weekday_due(start, 30)
    assert weekdays_only == date(2027, 2, 8)
    # 1 Jan (元旦, Fri), 5 and 8 Feb are not working days, so three more are needed after
    # 8 Feb; 9 and 10 are made up for the weekend: 11, 12 and Mon 15.
    assert deadline.due == date(2027, 2, 15)
    assert deadline.estimated_years == (2027,)
    assert not deadline.makeup_days_known
    assert deadline.note is not None
    assert "2027" in deadline.note
    assert str(deadline).startswith("2027-02-15 (2027年")


def test_each_holiday_of_2027_by_the_rules() -> None:
    got = statutory_holidays(2027)
    names = {d.isoformat(): n for d, n in got.items()}
    assert names["2027-01-01"] == "元旦"
    assert names["2027-04-05"] == "清明节"  # the solar term, a Monday
    assert names["2027-05-01"] == names["2027-05-02"] == "劳动节"  # Sat and Sun
    assert names["2027-05-03"] == names["2027-05-04"] == "劳动节（补假）"
    assert names["2027-06-09"] == "端午节"
    assert names["2027-09-15"] == "中秋节"
    assert [names[f"2027-10-0{d}"] for d in (1, 2, 3, 4, 5)] == ["国庆节"] * 3 + [
        "国庆节（补假）"
    ] * 2


def test_mid_autumn_on_national_day_is_made_up() -> None:
    """2031: 中秋 (lunar 8/15) falls on 1 October; the day it loses is made up."""
    got = statutory_holidays(2031)
    assert got[date(2031, 10, 1)] == "中秋节、国庆节"
    off = [d for d in got if d.month == 10]
    # 1-3 Oct (Wed-Fri) and one day owed to the coinciding festival: Mon 6 Oct.
    assert off == [date(2031, 10, d) for d in (1, 2, 3, 6)]


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_rules_give_the_published_holidays_of_2025_and_2026(year: int) -> None:
    """Cross-check against the State Council's arrangements in chinese-calendar: the
    weekdays off that are not bridge days (paid back by make-up working days, 调休) are
    exactly the holidays and the made-up days the rules give."""
    published = {
        d
        for d in _days_of(year)
        if d.weekday() < 5 and not chinese_calendar.is_workday(d)
        and not chinese_calendar.is_in_lieu(d)
    }  # fmt: skip
    by_rules = {d for d in statutory_holidays(year) if d.weekday() < 5}
    assert by_rules == published
    # And every statutory holiday is a day off in the published arrangement.
    assert all(chinese_calendar.is_holiday(d) for d in statutory_holidays(year))


def test_a_published_year_uses_its_make_up_days() -> None:
    assert is_working_day(date(2026, 2, 14))  # Saturday, made up
    assert not is_working_day(date(2026, 2, 20))  # Friday, a bridge day
    deadline = add_working_days(date(2026, 2, 12), 10)
    assert (deadline.due, deadline.makeup_days_known, deadline.note) == (
        date(2026, 3, 4), True, None,
    )  # fmt: skip
    assert str(deadline) == "2026-03-04"


def test_years_without_rules_count_monday_to_friday(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workdays, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="credit_check_sdk.workdays"):
        deadline = add_working_days(date(2101, 1, 1), 5)
        add_working_days(date(2101, 1, 1), 5)
    assert deadline.due == _weekday_due(date(2101, 1, 1), 5)
    assert deadline.estimated_years == (2101,)
    assert caplog.text.count("2101") == 1  # once per year
    with pytest.raises(ValueError, match="2025"):
        statutory_holidays(2101)


def test_an_unpublished_year_is_logged_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workdays, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="credit_check_sdk.workdays"):
        is_working_day(date(2030, 3, 1))
        is_working_day(date(2030, 3, 2))
    assert caplog.text.count("no holiday arrangement for 2030") == 1
    assert "调休" in caplog.text


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_days(date(2026, 1, 1), -1)
    with pytest.raises(TypeError, match="int"):
        add_working_days(date(2026, 1, 1), True)
    with pytest.raises(TypeError, match="date"):
        add_working_days("2026-01-01", 1)  # type: ignore[arg-type]
    assert add_working_days(date(2027, 2, 5), 0).due == date(2027, 2, 5)


@settings(max_examples=150, deadline=None)
@given(
    # From the first year with no published arrangement: a published year has make-up
    # working days on weekends (2026-09-20, a Sunday), which may bring a due day earlier.
    start=st.dates(min_value=date(2027, 1, 1), max_value=date(2100, 6, 30)),
    days=st.integers(min_value=0, max_value=120),
)
def test_the_rules_never_count_more_working_days_than_monday_to_friday(
    start: date, days: int
) -> None:
    """Without make-up days the estimate only takes weekdays away: never an earlier due day,
    and no more working days in any span than Monday to Friday."""
    deadline = add_working_days(start, days)
    assert deadline.due >= _weekday_due(start, days)
    span = [start + timedelta(days=n) for n in range(1, (deadline.due - start).days + 1)]
    counted = sum(1 for d in span if calendar_basis(d.year) != "published" and is_working_day(d))
    weekdays = sum(1 for d in span if calendar_basis(d.year) != "published" and d.weekday() < 5)
    assert counted <= weekdays


def test_the_holidays_returned_are_the_callers_own() -> None:
    first = statutory_holidays(2028)
    first.clear()
    assert statutory_holidays(2028)
    assert not is_working_day(date(2028, 1, 26))  # 春节, a Wednesday
