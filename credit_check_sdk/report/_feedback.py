"""Contract v2's report counts: disclosures (双公示, §四(三)) and feedback by listing
authority (§四(八)).

Both are sums of rows a :class:`~credit_check_sdk.storage.ReportView` gives; the
rules are here, in Python, the same for every storage adapter.

**disclosures** (days are Asia/Shanghai days; a disclosure is *made* when the
platform has received it: the ``published_on`` day of its receipt):

- ``made``: disclosures the platform received within the period;
- ``on_time``: of those, received on or before their due day (7 working days after
  the decision, :func:`~credit_check_sdk.workdays.add_working_days`);
- ``late``: of those, received after their due day (``made = on_time + late``);
- ``overdue``: disclosures due within the period, whose due day has passed when the
  report is generated, and that the platform had not received within the period
  (not at all yet, or only after the period ended). One received late in the next
  month is ``overdue`` in this period's report and ``late`` in the next one's.

**by_authority**: for each list authority (认定部门) whose entries are behind a
measure triggered in a check of the period, a line:

- ``checks``: the period's checks in which at least one measure was triggered
  through its entries;
- ``triggered``: the measures so triggered, once per check and measure (a measure
  triggered by the entries of two authorities counts on both lines);
- ``applied`` / ``not_applied`` / ``overridden``: of those, the latest action naming
  the measure, by the same rules as the report's ``measures`` (actions count with
  their check's month; an ``applied`` action does not count for a suspended measure).

>>> disclosure_counts([("2026-10-12", "2026-10-09"), ("2026-10-20", None)],
...                   "2026-10-01", "2026-11-01", today="2026-11-03").model_dump()
{'made': 1, 'on_time': 1, 'late': 0, 'overdue': 1}
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from .._models import AuthorityFeedback, DisclosureCounts

__all__ = ["authority_lines", "disclosure_counts"]


def disclosure_counts(
    rows: Iterable[tuple[str, str | None]], first: str, end: str, *, today: str
) -> DisclosureCounts:
    """The period's ``disclosures`` from ``(due_on, published_on)`` rows (ISO days), for the
    period ``[first, end)`` as judged on ``today`` (the report's day).

    >>> disclosure_counts([("2026-10-30", "2026-11-02")], "2026-10-01", "2026-11-01",
    ...                   today="2026-11-03").model_dump()
    {'made': 0, 'on_time': 0, 'late': 0, 'overdue': 1}
    """
    made = on_time = overdue = 0
    for due_on, published_on in rows:
        if published_on is not None and first <= published_on < end:
            made += 1
            if published_on <= due_on:
                on_time += 1
        in_period = first <= due_on < end
        if in_period and due_on < today and (published_on is None or published_on >= end):
            overdue += 1
    return DisclosureCounts(made=made, on_time=on_time, late=made - on_time, overdue=overdue)


def authority_lines(
    rows: Iterable[tuple[str, Any, str]],
    statuses: Mapping[str, Mapping[str, str]],
    latest: Mapping[tuple[str, str], str],
) -> tuple[AuthorityFeedback, ...]:
    """The period's ``by_authority`` lines, by authority name.

    ``rows`` are ``(check_id, measure_id, authority)``; ``statuses`` the status of each
    measure of the period's checks (``{check_id: {measure_id: status}}``); ``latest`` the
    latest action naming each ``(check_id, measure_id)``. A row of a check or measure
    ``statuses`` does not hold (outside the period) is left out.

    >>> [a.model_dump() for a in authority_lines(
    ...     [("c1", "P-1", "法院"), ("c1", "P-1", "法院")], {"c1": {"P-1": "applied"}},
    ...     {("c1", "P-1"): "applied"})]
    [{'authority': '法院', 'checks': 1, 'triggered': 1, 'applied': 1, 'not_applied': 0, \
'overridden': 0}]
    """
    measures: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for check_id, measure_id, authority in rows:
        if measure_id in statuses.get(check_id, {}):
            measures[str(authority)].add((check_id, str(measure_id)))
    lines = []
    for authority in sorted(measures):
        pairs = measures[authority]
        acted: Counter[str] = Counter()
        for check_id, measure_id in pairs:
            action = latest.get((check_id, measure_id))
            if action == "applied" and statuses[check_id][measure_id] == "suspended":
                continue  # §五(三): not executed while an objection is verified
            if action is not None:
                acted[action] += 1
        lines.append(
            AuthorityFeedback(
                authority=authority,
                checks=len({check_id for check_id, _ in pairs}),
                triggered=len(pairs),
                applied=acted["applied"],
                not_applied=acted["not_applied"],
                overridden=acted["overridden"],
            )
        )
    return tuple(lines)
