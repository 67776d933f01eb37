"""The monthly feedback report (实施情况反馈, §四(一)) and the journal tools auditors use.

Every department reports to the platform each month what it did with the red
and black lists; the development bureau tracks and evaluates it (§七(三)).
:func:`build_monthly_report` sums the local journal for one month into the
contract's ``MonthlyReport`` (``PUT /v1/reports/{agency_id}/{period}``), and
keeps what is useful locally but not part of the wire document in
:class:`ReportDetails` (checks still waiting for feedback, every restriction
and incentive case, counts by week).

How the journal is summed (all times in Asia/Shanghai; the month is
``[first day 00:00, first day of next month 00:00)``):

- ``totals`` / ``by_matter``: every check record of the month by outcome, live
  re-checks included (they are check records the platform also receives);
- ``measures``: ``triggered`` and ``suspended`` from the checks' measures;
  ``applied`` / ``not_applied`` / ``overridden`` from the latest action record
  naming the measure (actions are linked to checks by ``check_id``, to
  measures by ``measure_ids``). Actions count with their check's month even
  when made later, so a report submitted again after late feedback (a
  correction) is complete; an ``applied`` action does not count for a measure
  the check suspended (§五(三): it is not executed while an objection is verified);
- ``overrides``: every ``not_applied`` or ``overridden`` action on the month's
  checks, as recorded;
- ``degraded``: checks decided from the snapshot or from no data; of those,
  how many have a live re-check (a check whose ``recheck_of`` names them) and
  how many re-checks came out differently (latest re-check's outcome);
- ``objections``: objections filed through this agency in the month (the
  journal's local table), by current status;
- ``disclosures`` (v2): 双公示 made in the month (received by the platform), on
  time or late against their due day, and those due in the month but not made
  (:mod:`~credit_check_sdk.report._feedback` says each count precisely);
- ``by_authority`` (v2): for each list authority whose entries are behind a measure
  triggered in the month's checks, its checks, the measures triggered and what
  became of them (the feedback §四(八) asks be returned to the listing departments);
  the authorities are stored per measure when each check is journaled;
- ``journal_head_hash``: the chain head the report was computed from;
  ``record_count``: journal records (checks and actions) dated in the month.

The same journal and period always give the same JSON apart from
``generated_at``: every list is sorted and every read happens in one
consistent view. The reads are the storage's
(:class:`~credit_check_sdk.storage.ReportSource`: on SQLite a few passes on the
journal's report columns, in one WAL read transaction); the sums and rules are
this package's, in Python, the same for every storage adapter. Python sees only
the month's checks that have measures, their actions and the degraded checks.
The cases (each one's subject, matter code and actions with their reasons: what
the workbook lists) are read only when ``report.details.cases`` is first used,
or at once with ``details=True``.

Modules: :mod:`~credit_check_sdk.report._document` (the report and its local
details), :mod:`~credit_check_sdk.report._monthly` (the sums, submission),
:mod:`~credit_check_sdk.report._feedback` (v2's disclosures and by-authority counts),
:mod:`~credit_check_sdk.report._explain` (re-deriving a decision),
:mod:`~credit_check_sdk.report._xlsx` and :mod:`~credit_check_sdk.report._chart`.

>>> import tempfile, os
>>> from credit_check_sdk.journal import Journal
>>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
>>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-10-31T23:59:59+08:00",
...     "matter": {"category": "bidding"}, "outcome": "normal", "measures": [],
...     "source": "live", "subject": {"id": "91442000MA4UJ2KQ57", "kind": "legal_entity"}})
>>> r = build_monthly_report(j, agency_id="AG-1", period="2026-10")
>>> r.totals["normal"], r.record_count
(1, 1)
>>> j.close()
"""

from __future__ import annotations

from ._chart import write_chart
from ._document import (
    MATTER_NAMES,
    OUTCOME_NAMES,
    OUTCOMES,
    Case,
    DegradedCheck,
    DegradedCounts,
    MeasureCounts,
    MonthlyReport,
    NoFeedback,
    ObjectionCounts,
    ReportDetails,
    ReportReceipt,
)
from ._explain import ExplainedEntry, ExplainedMeasure, Explanation, explain
from ._monthly import build_monthly_report, pending_actions, report_json, submit_report
from ._periods import period_bounds
from ._xlsx import write_xlsx

__all__ = [
    "MATTER_NAMES",
    "OUTCOMES",
    "OUTCOME_NAMES",
    "Case",
    "DegradedCheck",
    "DegradedCounts",
    "ExplainedEntry",
    "ExplainedMeasure",
    "Explanation",
    "MeasureCounts",
    "MonthlyReport",
    "NoFeedback",
    "ObjectionCounts",
    "ReportDetails",
    "ReportReceipt",
    "build_monthly_report",
    "explain",
    "pending_actions",
    "period_bounds",
    "report_json",
    "submit_report",
    "write_chart",
    "write_xlsx",
]
