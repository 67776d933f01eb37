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
- ``journal_head_hash``: the chain head the report was computed from;
  ``record_count``: journal records (checks and actions) dated in the month.

The same journal and period always give the same JSON apart from
``generated_at``: every list is sorted and every query reads one snapshot.
The counting runs in SQLite in a few passes on the journal's report columns;
Python sees only the month's checks that have measures, their actions and the
degraded checks. The cases (each one's subject, matter code and actions with
their reasons: what the workbook lists) are read from the bodies only when
``report.details.cases`` is first used, or at once with ``details=True``.

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

import hashlib
import json
import logging
import sqlite3
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, PrivateAttr

from ._cells import append_row
from ._exceptions import InvalidRequestError, InvalidResponseError, JournalError
from ._ids import mask_id
from ._models import Catalog, Document, ListEntry, Matter, Outcome, Profile, Reason
from ._time import SHANGHAI, now
from .catalogue import CatalogStore, default_catalog
from .decision import decide
from .journal import Journal, _sql_value, utc_text

if TYPE_CHECKING:
    from ._client import PlatformClient

__all__ = [
    "Case",
    "DegradedCheck",
    "ExplainedEntry",
    "ExplainedMeasure",
    "Explanation",
    "MonthlyReport",
    "NoFeedback",
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

logger = logging.getLogger(__name__)

#: Outcomes in the order reports list them.
OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)
_ACTIONS = ("applied", "not_applied", "overridden")
_DEGRADED_SOURCES = ("snapshot", "none")
_INSTALL_HINT = 'pip install "credit-check-sdk[report]"'

MATTER_NAMES: dict[str, tuple[str, str]] = {
    "licensing": ("行政许可", "Licensing"),
    "procurement": ("政府采购", "Procurement"),
    "bidding": ("招标投标", "Bidding"),
    "subsidy": ("财政资金补助", "Subsidies"),
    "honours": ("评优评先", "Honours"),
    "inspection": ("监督检查", "Inspection"),
}
OUTCOME_NAMES: dict[str, tuple[str, str]] = {
    "green_channel": ("绿色通道", "Green channel"),
    "tolerance": ("容缺受理", "Tolerance"),
    "normal": ("正常办理", "Normal"),
    "restriction": ("限制", "Restriction"),
    "review": ("人工核查", "Review"),
}


# --- the wire document ----------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeasureCounts(_Strict):
    """One measure's line of the report."""

    id: str
    triggered: int
    applied: int
    suspended: int
    not_applied: int
    overridden: int


class DegradedCounts(_Strict):
    """Checks decided without live data, and what their re-checks found."""

    checks: int
    reverified: int
    changed: int


class ObjectionCounts(_Strict):
    """Objections filed through this agency in the period, by status so far."""

    filed: int
    upheld: int
    rejected: int
    verifying: int


class NoFeedback(NamedTuple):
    """A check with measures and no action record after the feedback window."""

    check_id: str
    checked_at: datetime
    subject: str  # masked when personal
    matter: str
    case_id: str | None
    outcome: str
    measure_ids: tuple[str, ...]
    days_waiting: int


class Case(NamedTuple):
    """A restriction or incentive case: a check whose decision listed measures."""

    check_id: str
    checked_at: datetime
    subject: str  # masked when personal
    subject_kind: str
    matter: str
    matter_code: str | None
    case_id: str | None
    outcome: str
    kind: str  # restriction, incentive or suspended
    measures: tuple[tuple[str, str], ...]  # (measure id, applied|suspended)
    actions: tuple[
        tuple[datetime, str, tuple[str, ...], str | None], ...
    ]  # acted_at, action, ids, reason


class DegradedCheck(NamedTuple):
    """A check decided from the snapshot or from no data, with its latest live re-check."""

    check_id: str
    checked_at: datetime
    subject: str  # masked when personal
    matter: str
    source: str
    outcome: str
    recheck_id: str | None
    recheck_outcome: str | None
    changed: bool


class ReportDetails:
    """What the SDK keeps beside the report, never sent: for the workbook, chart and CLI.

    ``weekly`` maps the Monday (Asia/Shanghai) of each week that has checks to
    counts by outcome; ``awaiting`` is how many checks with measures have no
    action yet but are still inside the feedback window.

    ``cases`` (every restriction and incentive case with its actions) is read
    from the journal on first access, or at once with
    ``build_monthly_report(..., details=True)`` or :meth:`load_cases`; it
    sees the journal as the report did (records appended later are left out).
    """

    __slots__ = (
        "_cases",
        "_load",
        "_lock",
        "awaiting",
        "degraded",
        "feedback_days",
        "no_feedback",
        "period",
        "weekly",
    )

    def __init__(
        self,
        period: str,
        feedback_days: int,
        no_feedback: tuple[NoFeedback, ...] = (),
        awaiting: int = 0,
        cases: tuple[Case, ...] | None = None,
        degraded: tuple[DegradedCheck, ...] = (),
        weekly: dict[str, dict[str, int]] | None = None,
        *,
        load_cases: Callable[[], tuple[Case, ...]] | None = None,
    ) -> None:
        self.period = period
        self.feedback_days = feedback_days
        self.no_feedback = no_feedback
        self.awaiting = awaiting
        self.degraded = degraded
        self.weekly = weekly if weekly is not None else {}
        self._cases = cases if cases is not None or load_cases is not None else ()
        self._load = load_cases
        self._lock = threading.Lock()

    @property
    def cases(self) -> tuple[Case, ...]:
        """Every check of the period whose decision listed measures, oldest first."""
        return self.load_cases()

    def load_cases(self) -> tuple[Case, ...]:
        """Read the cases now if they are not read yet (once), and return them."""
        if self._cases is None:
            with self._lock:
                if self._cases is None and self._load is not None:
                    self._cases = self._load()
                    self._load = None
        return self._cases if self._cases is not None else ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReportDetails):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.period,
            self.feedback_days,
            self.no_feedback,
            self.awaiting,
            self.cases,
            self.degraded,
            self.weekly,
        )

    def __repr__(self) -> str:
        cases = "<not loaded>" if self._cases is None else f"{len(self._cases)} cases"
        return (
            f"ReportDetails(period={self.period!r}, feedback_days={self.feedback_days},"
            f" no_feedback={len(self.no_feedback)}, awaiting={self.awaiting}, cases={cases},"
            f" degraded={len(self.degraded)}, weeks={len(self.weekly)})"
        )


class MonthlyReport(_Strict):
    """The contract's ``MonthlyReport``, field for field; :attr:`details` stays local.

    >>> r = MonthlyReport(agency_id="AG-1", period="2026-10",
    ...     generated_at=datetime(2026, 11, 3, 9, tzinfo=SHANGHAI), totals={}, by_matter={},
    ...     measures=[], overrides=[], degraded=DegradedCounts(checks=0, reverified=0, changed=0),
    ...     objections=ObjectionCounts(filed=0, upheld=0, rejected=0, verifying=0),
    ...     journal_head_hash=None, record_count=0)
    >>> sorted(r.wire())[:3]
    ['agency_id', 'by_matter', 'degraded']
    """

    agency_id: str
    period: str
    generated_at: datetime
    totals: dict[str, int]
    by_matter: dict[str, dict[str, int]]
    measures: tuple[MeasureCounts, ...]
    overrides: tuple[dict[str, Any], ...]
    degraded: DegradedCounts
    objections: ObjectionCounts
    journal_head_hash: str | None
    record_count: int

    _details: ReportDetails | None = PrivateAttr(default=None)

    @property
    def details(self) -> ReportDetails:
        """The local extras (empty when the report was not built from a journal)."""
        return self._details if self._details is not None else ReportDetails(self.period, 0)

    def wire(self) -> dict[str, Any]:
        """The JSON document for ``PUT /v1/reports/{agency_id}/{period}``."""
        return self.model_dump(mode="json")


class ReportReceipt(NamedTuple):
    """The platform's answer to a report submission, as kept in the journal."""

    period: str
    version: int
    receipt_id: str
    body_hash: str
    correction: bool


# --- periods and time ------------------------------------------------------------------


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


def _from_utc_text(text: str) -> datetime:
    """The journal's ``at`` column back as an aware datetime in Asia/Shanghai."""
    return datetime.fromisoformat(text[:-1] + "+00:00").astimezone(SHANGHAI)


def _local_day(hour: str) -> str:
    """The Asia/Shanghai day of a UTC hour given as ``YYYY-MM-DDTHH``."""
    return datetime.fromisoformat(hour + ":00+00:00").astimezone(SHANGHAI).date().isoformat()


def _week_of(day: str) -> str:
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


def _subject_text(subject_id: str | None) -> str:
    return mask_id(subject_id) if subject_id else "-"


# --- the report --------------------------------------------------------------------------

# The counts group on the journal's report columns (schema 3: outcome, category,
# source, recheck_of, action, and the record_measures table), which the journal
# fills from each body at append time. Bodies are read only for details: a case's
# subject and matter code, an action's reason, an override's full record.

# By hour (UTC): Python maps each hour to its Asia/Shanghai day (cheaper than
# date() on every row; every offset of Asia/Shanghai is a whole number of hours).
# The hour first: the covering index yields rows in time order, so the grouping is cheap.
_Q_TOTALS = """
SELECT substr(at, 1, 13), outcome, category, COUNT(*)
FROM records WHERE type = 'check' AND at >= ? AND at < ?
GROUP BY 1, 2, 3
"""

# The month's checks with measures, one row per measure in list order: columns
# only (records_type_at covers the check's side), no body.
_Q_MEASURED = """
SELECT r.seq, r.id, r.at, r.category, r.outcome, m.measure_id, m.status
FROM records r JOIN record_measures m ON m.seq = r.seq
WHERE r.type = 'check' AND r.at >= ? AND r.at < ?
ORDER BY r.seq, m.n
"""

# The subject and case id of the checks listed without feedback (by seq, given as
# a JSON array): one json_extract (one parse) for both paths.
_Q_NO_FEEDBACK = """
SELECT seq, json_extract(body, '$.subject.id', '$.matter.case_id')
FROM records WHERE seq IN (SELECT value FROM json_each(?))
"""

_Q_DEGRADED = """
SELECT id, at, json_extract(body, '$.subject.id'), category, source, outcome
FROM records
WHERE type = 'check' AND at >= ? AND at < ? AND source IN ('snapshot', 'none')
ORDER BY at, id
"""

# The live re-checks of the month's degraded checks, through the recheck_of index.
_Q_RECHECKS = """
SELECT c.id, r.id, r.outcome
FROM records c CROSS JOIN records r INDEXED BY records_recheck_of ON r.recheck_of = c.id
WHERE c.type = 'check' AND c.at >= ?1 AND c.at < ?2 AND c.source IN ('snapshot', 'none')
  AND r.recheck_of IS NOT NULL AND typeof(r.recheck_of) = 'text'
  AND r.type = 'check' AND r.at >= ?1
ORDER BY r.seq
"""

# The actions on the month's checks with measures (the check found through
# records_type_at, its actions through records_check_id, which covers them), one
# row per measure id named (n is NULL for an action naming none), in journal order.
_Q_ACTIONS = """
SELECT a.seq, a.check_id, a.action, m.n, m.measure_id
FROM records c CROSS JOIN records a ON a.check_id = c.id AND a.type = 'action'
     LEFT JOIN record_measures m ON m.seq = a.seq
WHERE c.type = 'check' AND c.at >= ? AND c.at < ?
  AND EXISTS (SELECT 1 FROM record_measures x WHERE x.seq = c.seq)
ORDER BY a.seq, m.n
"""

# The cases (read on demand): the same checks and actions with the details only
# the workbook shows (subject, matter code and case id; an action's time and
# reason), up to the journal head the report was computed from (``+seq`` keeps
# the planner on the time and check-id indexes).
_Q_CASE_CHECKS = """
SELECT r.seq, r.id, r.at, r.category, r.outcome, m.measure_id, m.status,
       json_extract(r.body, '$.subject.id', '$.subject.kind', '$.matter.code',
                    '$.matter.case_id')
FROM records r JOIN record_measures m ON m.seq = r.seq
WHERE r.type = 'check' AND r.at >= ?1 AND r.at < ?2 AND +r.seq <= ?3
ORDER BY r.seq, m.n
"""

_Q_CASE_ACTIONS = """
SELECT a.seq, a.check_id, a.at, a.action, json_extract(a.body, '$.reason'), m.n, m.measure_id
FROM records c CROSS JOIN records a ON a.check_id = c.id AND a.type = 'action'
     LEFT JOIN record_measures m ON m.seq = a.seq
WHERE c.type = 'check' AND c.at >= ?1 AND c.at < ?2 AND +c.seq <= ?3 AND +a.seq <= ?3
  AND EXISTS (SELECT 1 FROM record_measures x WHERE x.seq = c.seq)
ORDER BY a.seq, m.n
"""

# Every not_applied or overridden action on the month's checks, whole (the
# partial index records_overrides holds only those).
_Q_OVERRIDES = """
SELECT a.at, a.body
FROM records c CROSS JOIN records a INDEXED BY records_overrides
     ON a.check_id = c.id AND a.type = 'action' AND a.action IN ('not_applied', 'overridden')
WHERE c.type = 'check' AND c.at >= ? AND c.at < ?
"""


def _outcome_order(counts: dict[str, int]) -> dict[str, int]:
    known = {o: counts[o] for o in OUTCOMES if o in counts}
    if len(known) == len(counts):
        return known
    return known | {o: counts[o] for o in sorted(counts) if o not in known}


class _LocalTimes:
    """:func:`_from_utc_text` for many values: the offset and fold looked up once per hour.

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
            return _from_utc_text(text)
        offset, fold = known
        return (datetime.fromisoformat(text[:-1]) + offset).replace(tzinfo=SHANGHAI, fold=fold)

    @staticmethod
    def _hour(hour: str) -> tuple[timedelta, int] | None:
        try:
            first = _from_utc_text(hour + ":00:00.000000Z")
            last = _from_utc_text(hour + ":59:59.999999Z")
        except ValueError:
            return None
        offset = first.utcoffset()
        if offset is None or offset != last.utcoffset() or first.fold != last.fold:
            return None
        return offset, first.fold


class _SubjectTexts(dict[str | None, str]):
    """:func:`_subject_text`, once per distinct subject id."""

    def __missing__(self, subject_id: str | None) -> str:
        text = self[subject_id] = _subject_text(subject_id)
        return text

    def __call__(self, subject_id: str | None) -> str:
        return self[subject_id]


class _Measured(NamedTuple):
    """A check with measures, as far as the counts need it."""

    seq: int
    at: str
    matter: str
    outcome: str
    measures: dict[str, str]  # id -> applied|suspended


@contextmanager
def _read_view(journal: Journal) -> Iterator[sqlite3.Connection]:
    """:meth:`Journal.snapshot`, or a read-only view of its file once it is closed."""
    if not getattr(journal, "_closed", False):
        with journal.snapshot() as conn:
            yield conn
        return
    try:
        uri = Path(journal.path).resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise JournalError(
            f"journal {journal.path}: cannot open: {exc}", path=journal.path
        ) from exc
    try:
        conn.execute("BEGIN")
        yield conn
    except sqlite3.Error as exc:
        raise JournalError(
            f"journal {journal.path}: read failed: {exc}", path=journal.path
        ) from exc
    finally:
        conn.close()


def _read_cases(conn: sqlite3.Connection, lo: str, hi: str, head_seq: int) -> tuple[Case, ...]:
    """The restriction and incentive cases of ``[lo, hi)``, records up to ``head_seq``."""
    local_time = _LocalTimes()
    subject_text = _SubjectTexts()
    # check id -> (at, subject id, subject kind, matter, code, case id, outcome, measures)
    checks: dict[str, tuple[str, Any, Any, str, Any, Any, str, dict[str, str]]] = {}
    by_seq: dict[int, dict[str, str]] = {}
    for seq, cid, at, matter, outcome, mid, status, detail in conn.execute(
        _Q_CASE_CHECKS, (lo, hi, head_seq)
    ):
        measures = by_seq.get(seq)
        if measures is None:
            measures = by_seq[seq] = {}
            sid, kind, code, case_id = (_sql_value(v) for v in json.loads(detail))
            checks[cid] = (at, sid, kind, str(matter), code, case_id, str(outcome), measures)
        measures[mid] = status  # a repeated id: the last one counts, as in a dict

    actions: dict[str, list[tuple[datetime, str, tuple[str, ...], str | None]]] = {}
    rows: list[tuple[str, str, str, Any, list[Any]]] = []
    last_seq = None
    for seq, cid, at, action, reason, n, mid in conn.execute(_Q_CASE_ACTIONS, (lo, hi, head_seq)):
        if seq != last_seq:
            last_seq = seq
            rows.append((cid, at, action, reason, []))
        if n is not None:
            rows[-1][4].append(mid)
    for cid, at, action, reason, id_list in rows:
        if cid in checks:
            actions.setdefault(cid, []).append(
                (local_time(at), str(action), tuple(id_list), reason)
            )

    cases: list[Case] = []
    for cid, (at, sid, kind, matter, code, case_id, outcome, measures) in checks.items():
        statuses = measures.values()
        case_kind = (
            "restriction"
            if outcome == "restriction"
            else ("incentive" if "applied" in statuses else "suspended")
        )
        cases.append(
            Case(
                cid,
                local_time(at),
                subject_text(sid),
                kind,
                matter,
                code,
                case_id,
                outcome,
                case_kind,
                tuple(sorted(measures.items())),
                tuple(actions.get(cid, ())),
            )
        )
    cases.sort(key=lambda c: (c.checked_at, c.check_id))
    return tuple(cases)


def build_monthly_report(
    journal: Journal,
    *,
    agency_id: str,
    period: str,
    generated_at: datetime | None = None,
    feedback_days: int = 5,
    details: bool = False,
) -> MonthlyReport:
    """Sum the journal for ``period`` (``YYYY-MM``, Asia/Shanghai) into the monthly report.

    ``generated_at`` (default: now) is stamped on the report and is the
    moment against which checks without feedback are judged: a check with
    measures and no action record ``feedback_days`` days after it was made
    is listed in ``report.details.no_feedback``.

    ``report.details.cases`` (what the workbook lists case by case) is read
    from the journal when first used; ``details=True`` reads it at once, in
    the same snapshot as the counts (for the workbook: cheaper than a second
    pass, and independent of the journal staying open).

    >>> import tempfile, os
    >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
    >>> r = build_monthly_report(j, agency_id="AG-1", period="2026-11")
    >>> r.totals == dict.fromkeys(OUTCOMES, 0), r.journal_head_hash
    (True, None)
    >>> j.close()
    """
    if not agency_id:
        raise InvalidRequestError("a report needs the agency_id")
    if feedback_days < 0:
        raise InvalidRequestError("feedback_days cannot be negative")
    start, end = period_bounds(period)
    stamp = (generated_at or now()).astimezone(SHANGHAI)
    lo, hi = utc_text(start), utc_text(end)

    totals: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    by_matter: dict[str, dict[str, int]] = {}
    weekly: dict[str, dict[str, int]] = {}
    triggered: Counter[str] = Counter()
    suspended: Counter[str] = Counter()
    acted: dict[str, Counter[str]] = defaultdict(Counter)
    measured: dict[str, _Measured] = {}
    overrides: list[tuple[str, str, dict[str, Any]]] = []
    latest: dict[tuple[str, str], str] = {}
    acted_checks: set[str] = set()
    local_time = _LocalTimes()
    subject_text = _SubjectTexts()
    deadline = timedelta(days=feedback_days)
    overdue: list[tuple[int, str, datetime, _Measured]] = []
    awaiting = 0
    cases: tuple[Case, ...] | None = None

    with journal.snapshot() as conn:
        days: dict[str, str] = {}
        for hour, outcome, matter, n in conn.execute(_Q_TOTALS, (lo, hi)):
            outcome, matter = str(outcome), str(matter)
            day = days.get(hour)
            if day is None:
                day = days[hour] = _local_day(hour)
            totals[outcome] = totals.get(outcome, 0) + n
            row = by_matter.get(matter)
            if row is None:
                row = by_matter[matter] = dict.fromkeys(OUTCOMES, 0)
            row[outcome] = row.get(outcome, 0) + n
            week = _week_of(day)
            counts = weekly.get(week)
            if counts is None:
                counts = weekly[week] = dict.fromkeys(OUTCOMES, 0)
            counts[outcome] = counts.get(outcome, 0) + n

        by_seq: dict[int, dict[str, str]] = {}
        for seq, cid, at, matter, outcome, mid, status in conn.execute(_Q_MEASURED, (lo, hi)):
            measures = by_seq.get(seq)
            if measures is None:
                measures = by_seq[seq] = {}
                measured[cid] = _Measured(seq, at, str(matter), str(outcome), measures)
            measures[mid] = status  # a repeated id: the last one counts, as in a dict
        for measures in by_seq.values():
            for mid, status in measures.items():
                triggered[mid] += 1
                if status == "suspended":
                    suspended[mid] += 1

        # One row per (action, measure id): an action's rows are consecutive.
        last_seq = None
        last_cid = ""
        last_action = ""
        last_check: _Measured | None = None
        for seq, cid, action, n, mid in conn.execute(_Q_ACTIONS, (lo, hi)):
            if seq != last_seq:
                last_seq, last_cid, last_action = seq, cid, str(action)
                acted_checks.add(cid)
                last_check = measured.get(cid)
            if n is not None and last_check is not None and mid in last_check.measures:
                latest[(last_cid, mid)] = last_action  # rows come in journal order

        for at, body in conn.execute(_Q_OVERRIDES, (lo, hi)):
            record = json.loads(body)
            overrides.append((at, record["id"], record))

        degraded_rows = conn.execute(_Q_DEGRADED, (lo, hi)).fetchall()
        rechecks: dict[str, tuple[str, str]] = {}
        if degraded_rows:
            for of, rid, outcome in conn.execute(_Q_RECHECKS, (lo, hi)):
                rechecks[of] = (rid, str(outcome))  # the latest re-check wins

        record_count = conn.execute(
            "SELECT COUNT(*) FROM records WHERE at >= ? AND at < ?", (lo, hi)
        ).fetchone()[0]
        head_row = conn.execute(
            "SELECT hash, seq FROM records ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        head_seq = int(head_row[1]) if head_row else 0
        objection_counts = Counter(
            {
                str(status): n
                for status, n in conn.execute(
                    "SELECT status, COUNT(*) FROM objections"
                    " WHERE filed_at >= ? AND filed_at < ? GROUP BY status",
                    (lo, hi),
                )
            }
        )

        # Checks with measures and no action: past the feedback window, or within it.
        for cid, m in measured.items():
            if cid in acted_checks:
                continue
            checked = local_time(m.at)
            if checked + deadline <= stamp:
                overdue.append((m.seq, cid, checked, m))
            else:
                awaiting += 1
        found: dict[int, tuple[Any, Any]] = {}
        if overdue:
            seqs = json.dumps([seq for seq, _, _, _ in overdue])
            for seq, detail in conn.execute(_Q_NO_FEEDBACK, (seqs,)):
                sid, case_id = (_sql_value(v) for v in json.loads(detail))
                found[seq] = (sid, case_id)

        if details:
            cases = _read_cases(conn, lo, hi, head_seq)

    # Known outcomes first, then any others by name (the order the counts had
    # when they were grouped by outcome first).
    totals = _outcome_order(totals)
    by_matter = {m: _outcome_order(row) for m, row in sorted(by_matter.items())}
    weekly = {w: _outcome_order(row) for w, row in sorted(weekly.items())}

    for (cid, mid), action in latest.items():
        if action == "applied" and measured[cid].measures[mid] == "suspended":
            continue
        acted[mid][action] += 1

    measure_lines = tuple(
        MeasureCounts(
            id=mid,
            triggered=triggered[mid],
            applied=acted[mid]["applied"],
            suspended=suspended[mid],
            not_applied=acted[mid]["not_applied"],
            overridden=acted[mid]["overridden"],
        )
        for mid in sorted(triggered)
    )

    degraded_checks = []
    for cid, at, sid, matter, source, outcome in degraded_rows:
        again = rechecks.get(cid)
        degraded_checks.append(
            DegradedCheck(
                check_id=cid,
                checked_at=local_time(at),
                subject=subject_text(sid),
                matter=str(matter),
                source=str(source),
                outcome=str(outcome),
                recheck_id=again[0] if again else None,
                recheck_outcome=again[1] if again else None,
                changed=again is not None and again[1] != outcome,
            )
        )

    no_feedback: list[NoFeedback] = []
    for seq, cid, checked, m in overdue:
        sid, case_id = found.get(seq, (None, None))
        no_feedback.append(
            NoFeedback(
                cid,
                checked,
                subject_text(sid),
                m.matter,
                case_id,
                m.outcome,
                tuple(sorted(m.measures)),
                (stamp - checked).days,
            )
        )

    report = MonthlyReport(
        agency_id=agency_id,
        period=period,
        generated_at=stamp.replace(microsecond=0),
        totals=totals,
        by_matter=by_matter,
        measures=measure_lines,
        overrides=tuple(record for _, _, record in sorted(overrides, key=lambda o: o[:2])),
        degraded=DegradedCounts(
            checks=len(degraded_checks),
            reverified=sum(1 for d in degraded_checks if d.recheck_id is not None),
            changed=sum(1 for d in degraded_checks if d.changed),
        ),
        objections=ObjectionCounts(
            filed=sum(objection_counts.values()),
            upheld=objection_counts["upheld"],
            rejected=objection_counts["rejected"],
            verifying=objection_counts["verifying"],
        ),
        journal_head_hash=head_row[0] if head_row else None,
        record_count=record_count,
    )

    def load_cases() -> tuple[Case, ...]:
        with _read_view(journal) as view:
            return _read_cases(view, lo, hi, head_seq)

    report._details = ReportDetails(
        period=period,
        feedback_days=feedback_days,
        no_feedback=tuple(sorted(no_feedback, key=lambda r: (r.checked_at, r.check_id))),
        awaiting=awaiting,
        cases=cases,
        degraded=tuple(degraded_checks),
        weekly=weekly,
        load_cases=None if cases is not None else load_cases,
    )
    logger.info(
        "report %s for %s: %d checks, %d records",
        period,
        agency_id,
        sum(totals.values()),
        record_count,
    )
    return report


def pending_actions(
    journal: Journal, *, days: int = 5, at: datetime | None = None
) -> list[NoFeedback]:
    """Every check with measures and no action record, made ``days`` days or more before ``at``.

    Over the whole journal, oldest first; the same rule as a report's
    "no feedback yet" list.

    >>> import tempfile, os
    >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
    >>> pending_actions(j, days=5)
    []
    >>> j.close()
    """
    when = (at or now()).astimezone(SHANGHAI)
    cutoff = utc_text(when - timedelta(days=days))
    sql = """
        SELECT c.id, c.at, json_extract(c.body, '$.subject.id', '$.matter.case_id'),
               c.category, c.outcome,
               (SELECT json_group_array(m.measure_id) FROM record_measures m WHERE m.seq = c.seq)
        FROM records c
        WHERE c.type = 'check' AND c.at <= ?
          AND EXISTS (SELECT 1 FROM record_measures m WHERE m.seq = c.seq)
          AND NOT EXISTS (SELECT 1 FROM records a WHERE a.check_id = c.id AND a.type = 'action')
        ORDER BY c.at, c.id
    """
    out: list[NoFeedback] = []
    with journal.snapshot() as conn:
        for cid, at_text, detail, matter, outcome, ids_json in conn.execute(sql, (cutoff,)):
            sid, case_id = (_sql_value(v) for v in json.loads(detail))
            ids = tuple(sorted(json.loads(ids_json)))
            if not ids:
                continue
            checked = _from_utc_text(at_text)
            out.append(
                NoFeedback(
                    cid,
                    checked,
                    _subject_text(sid),
                    str(matter),
                    case_id,
                    str(outcome),
                    ids,
                    (when - checked).days,
                )
            )
    return out


def report_json(report: MonthlyReport) -> str:
    """The wire document as stable, readable JSON (sorted keys, UTF-8 text, 2-space indent).

    >>> r = MonthlyReport(agency_id="AG-1", period="2026-10",
    ...     generated_at=datetime(2026, 11, 3, 9, tzinfo=SHANGHAI), totals={"normal": 1},
    ...     by_matter={}, measures=[], overrides=[],
    ...     degraded=DegradedCounts(checks=0, reverified=0, changed=0),
    ...     objections=ObjectionCounts(filed=0, upheld=0, rejected=0, verifying=0),
    ...     journal_head_hash=None, record_count=1)
    >>> json.loads(report_json(r))["generated_at"]
    '2026-11-03T09:00:00+08:00'
    """
    return json.dumps(report.wire(), ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def _body_hash(wire: dict[str, Any]) -> str:
    text = json.dumps(wire, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def submit_report(client: PlatformClient, report: MonthlyReport, journal: Journal) -> ReportReceipt:
    """``PUT`` the report to the platform and keep its receipt in the journal.

    Submitting the same period again is a correction: the platform answers
    with the next ``version``. Raises :class:`PlatformError` when the platform
    refuses or cannot be reached (nothing is recorded then).

    >>> receipt = submit_report(checker.client, report, checker.journal)  # doctest: +SKIP
    >>> receipt.version  # doctest: +SKIP
    1
    """
    wire = report.wire()
    earlier = journal.report_receipts(report.period)
    path = f"/v1/reports/{quote(report.agency_id, safe='')}/{quote(report.period, safe='')}"
    answer = client.put(path, wire)
    receipt_id, version = answer.get("receipt_id"), answer.get("version")
    if not isinstance(receipt_id, str) or not isinstance(version, int) or isinstance(version, bool):
        raise InvalidResponseError(f"{path}: the answer needs receipt_id and an integer version")
    body_hash = _body_hash(wire)
    journal.record_report_receipt(report.period, version, receipt_id, body_hash)
    correction = bool(earlier) or version > 1
    logger.info(
        "report %s submitted: receipt %s, version %d%s",
        report.period,
        receipt_id,
        version,
        " (correction)" if correction else "",
    )
    return ReportReceipt(report.period, version, receipt_id, body_hash, correction)


# --- explain -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExplainedEntry:
    """A list entry behind a measure, as the check saw it."""

    entry_id: str
    holder: str  # subject, legal_representative, ... (whose entry it is)
    list: str
    category: str
    authority: str
    listed_on: date
    expires_on: date | None
    status: str
    basis: str | None


@dataclass(frozen=True)
class ExplainedMeasure:
    """A measure of the re-derived decision, with its catalogue text and entries."""

    id: str
    kind: str
    effect: str
    mandatory: bool
    status: str
    title_zh: str
    title_en: str
    basis: str
    entries: tuple[ExplainedEntry, ...]


@dataclass(frozen=True)
class Explanation:
    """A journaled decision re-derived from its stored inputs.

    ``matches`` is True when the re-derived outcome and measures (ids,
    statuses, entries) equal the recorded ones, False when they differ (see
    ``differences``), None when the decision cannot be re-derived (no stored
    inputs, or the catalogue version is not available here).
    """

    check_id: str
    checked_at: str
    subject: str  # masked when personal
    matter: str
    source: str
    catalog_version: str
    catalog_found: bool
    recorded_outcome: str
    recorded_measures: tuple[tuple[str, str, tuple[str, ...]], ...]
    derived_outcome: str | None
    matches: bool | None
    differences: tuple[str, ...]
    measures: tuple[ExplainedMeasure, ...]
    reasons: tuple[Reason, ...]


def _catalog_for(version: str, catalogs: CatalogStore | Iterable[Catalog] | None) -> Catalog | None:
    if version == default_catalog().version:
        return default_catalog()
    if isinstance(catalogs, CatalogStore):
        return catalogs.version(version)
    for catalog in catalogs or ():
        if catalog.version == version:
            return catalog
    return None


def explain(
    journal: Journal,
    catalogs: CatalogStore | Iterable[Catalog] | None,
    check_id: str,
) -> Explanation:
    """Re-derive a journaled check from its stored inputs, under the catalogue version it names.

    ``catalogs`` is the checker's :class:`CatalogStore` (``data_dir/catalog``),
    catalogues in hand, or None (the packaged default only). Raises
    :class:`InvalidRequestError` when the journal has no such check.

    >>> from credit_check_sdk.testing import FakePlatform
    >>> fake = FakePlatform()
    >>> _ = fake.add_entry("91442000MA4UJ2KQ57", "black", "court_judgment_defaulter")
    >>> with fake.checker() as checker:
    ...     d = checker.must_check("91442000MA4UJ2KQ57", "bidding")
    ...     e = explain(checker.journal, None, d.check_id)
    >>> e.matches, e.derived_outcome, [m.id for m in e.measures]
    (True, 'restriction', ['P-BID-EXCLUDE'])
    """
    record = journal.get(check_id)
    if record is None or record.get("type") != "check":
        raise InvalidRequestError(f"no check {check_id!r} in the journal")
    inputs = journal.inputs_for(check_id)
    version = str((inputs or {}).get("catalog_version") or record.get("catalog_version") or "")
    recorded = tuple(
        (str(m["id"]), str(m["status"]), tuple(m.get("entry_ids") or ()))
        for m in record.get("measures") or ()
    )
    subject = record.get("subject") or {}
    matter_ref = record.get("matter") or {}
    base: dict[str, Any] = {
        "check_id": check_id,
        "checked_at": str(record.get("checked_at")),
        "subject": _subject_text(subject.get("id")),
        "matter": str(matter_ref.get("category")),
        "source": str(record.get("source")),
        "catalog_version": version,
        "recorded_outcome": str(record.get("outcome")),
        "recorded_measures": recorded,
    }
    catalog = _catalog_for(version, catalogs)
    if inputs is None or catalog is None:
        why = (
            "the journal holds no inputs for this check"
            if inputs is None
            else f"catalogue version {version!r} is not available here"
        )
        return Explanation(
            **base,
            catalog_found=catalog is not None,
            derived_outcome=None,
            matches=None,
            differences=(why,),
            measures=(),
            reasons=(),
        )
    raw_matter = inputs.get("matter") or {"category": matter_ref.get("category")}
    matter = Matter(
        raw_matter["category"],
        code=raw_matter.get("code"),
        case_id=raw_matter.get("case_id"),
        missing_documents=[_document(d) for d in raw_matter.get("missing_documents") or ()],
        commitment=bool(raw_matter.get("commitment", False)),
    )
    profile = Profile.model_validate(inputs["profile"]) if inputs.get("profile") else None
    on = date.fromisoformat(str(inputs["on"]))
    verdict = decide(
        profile,
        catalog,
        matter,
        on=on,
        clean_years_known=bool(inputs.get("clean_years_known", True)),
    )
    derived = tuple((m.id, m.status, tuple(m.entry_ids)) for m in verdict.measures)
    differences: list[str] = []
    if verdict.outcome.value != record.get("outcome"):
        differences.append(
            f"outcome: recorded {record.get('outcome')}, re-derived {verdict.outcome.value}"
        )
    if sorted(derived) != sorted(recorded):
        differences.append(f"measures: recorded {sorted(recorded)}, re-derived {sorted(derived)}")
    entries = _entries_of(profile)
    measures = tuple(
        ExplainedMeasure(
            id=m.id,
            kind=m.kind,
            effect=m.effect,
            mandatory=m.mandatory,
            status=m.status,
            title_zh=m.title.zh,
            title_en=m.title.en,
            basis=m.basis,
            entries=tuple(entries[e] for e in m.entry_ids if e in entries),
        )
        for m in verdict.measures
    )
    return Explanation(
        **base,
        catalog_found=True,
        derived_outcome=verdict.outcome.value,
        matches=not differences,
        differences=tuple(differences),
        measures=measures,
        reasons=verdict.reasons,
    )


def _document(raw: Any) -> Document:
    if isinstance(raw, dict):
        return Document(str(raw["name"]), statutory=bool(raw.get("statutory", False)))
    return Document(str(raw))


def _entries_of(profile: Profile | None) -> dict[str, ExplainedEntry]:
    out: dict[str, ExplainedEntry] = {}
    if profile is None:
        return out

    def add(holder: str, e: ListEntry) -> None:
        out[e.entry_id] = ExplainedEntry(
            e.entry_id,
            holder,
            e.list,
            e.category,
            e.authority,
            e.listed_on,
            e.expires_on,
            e.status,
            e.basis,
        )

    for e in profile.entries:
        add("subject", e)
    for rel in profile.related:
        for e in rel.entries:
            add(rel.role, e)
    return out


# --- the workbook ------------------------------------------------------------------------


def _naive(value: datetime) -> datetime:
    """Excel has no time zones: the Asia/Shanghai wall time."""
    return value.astimezone(SHANGHAI).replace(tzinfo=None)


def _matter_label(category: str) -> str:
    zh, en = MATTER_NAMES.get(category, (category, category))
    return f"{zh} {en}" if zh != en else category


def _actions_text(actions: Sequence[tuple[datetime, str, tuple[str, ...], str | None]]) -> str:
    if not actions:
        return "未反馈 no action yet"
    lines = []
    for acted_at, action, ids, reason in actions:
        line = f"{_naive(acted_at):%Y-%m-%d %H:%M} {action} {', '.join(ids) or '-'}"
        lines.append(line + (f": {reason}" if reason else ""))
    return "\n".join(lines)


def write_xlsx(report: MonthlyReport, details: ReportDetails | None, path: str | Path) -> Path:
    """Write the report as an Excel workbook for the bureau and for auditors.

    Sheets: 汇总 Summary, 按事项 By matter, 措施 Measures, 纠正、不执行 Overrides,
    降级决定 Degraded, 奖惩案例 Cases, 待反馈 No feedback. Each has a Chinese
    header line over an English one, frozen, and prints landscape at page
    width. Personal ids are masked. Needs openpyxl (``pip install
    "credit-check-sdk[report]"``).

    >>> write_xlsx(report, report.details, "2026-10.xlsx")  # doctest: +SKIP
    PosixPath('2026-10.xlsx')
    """
    try:
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font, PatternFill
        from openpyxl.utils import get_column_letter
        from openpyxl.worksheet.properties import PageSetupProperties
        from openpyxl.worksheet.worksheet import Worksheet
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(f"write_xlsx needs openpyxl: {_INSTALL_HINT}") from exc

    details = details if details is not None else report.details
    wb = Workbook()
    default_sheet = wb.active
    if default_sheet is not None:
        wb.remove(default_sheet)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    wrap = Alignment(wrap_text=True, vertical="top")
    int_fmt, time_fmt = "#,##0", "yyyy-mm-dd hh:mm:ss"

    def sheet(
        title: str,
        columns: Sequence[tuple[str, str, float]],
        rows: Iterable[Sequence[Any]],
    ) -> Worksheet:
        ws: Worksheet = wb.create_sheet(title)
        ws.append([zh for zh, _, _ in columns])
        ws.append([en for _, en, _ in columns])
        for row_cells in ws.iter_rows(min_row=1, max_row=2):
            for cell in row_cells:
                cell.font, cell.fill = bold, fill
                cell.alignment = Alignment(wrap_text=True, vertical="center")
        for i, (_, _, width) in enumerate(columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        count = 0
        for values in rows:
            append_row(ws, values)  # user text as text, never a formula
            count += 1
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, bool):
                    continue
                if isinstance(cell.value, int):
                    cell.number_format = int_fmt
                elif isinstance(cell.value, datetime):
                    cell.number_format = time_fmt
                elif isinstance(cell.value, str) and "\n" in cell.value:
                    cell.alignment = wrap
        if count == 0:
            ws.append(["（无 none）"])
        ws.freeze_panes = "A3"
        ws.print_title_rows = "1:2"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        return ws

    objections = report.objections
    summary: list[tuple[str, str, Any]] = [
        ("机构", "Agency", report.agency_id),
        ("期间", "Period", report.period),
        ("生成时间（北京时间）", "Generated at (Asia/Shanghai)", _naive(report.generated_at)),
        ("核查总数", "Checks", sum(report.totals.values())),
    ]
    summary += [
        (
            f"结果：{OUTCOME_NAMES.get(o, (o, o))[0]}",
            f"Outcome: {OUTCOME_NAMES.get(o, (o, o))[1]}",
            n,
        )
        for o, n in _ordered(report.totals)
    ]
    summary += [
        ("不执行或纠正", "Not applied or overridden", len(report.overrides)),
        ("降级决定", "Degraded decisions", report.degraded.checks),
        ("已复核", "Re-verified", report.degraded.reverified),
        ("复核结果变化", "Changed on re-check", report.degraded.changed),
        ("异议：提出", "Objections filed", objections.filed),
        ("异议：成立", "Objections upheld", objections.upheld),
        ("异议：不成立", "Objections rejected", objections.rejected),
        ("异议：核实中", "Objections being verified", objections.verifying),
        (
            f"待反馈（超过{details.feedback_days}天）",
            f"No feedback after {details.feedback_days} days",
            len(details.no_feedback),
        ),
        ("反馈期内未反馈", "Awaiting feedback (within the window)", details.awaiting),
        ("期间内日志记录数", "Journal records in the period", report.record_count),
        ("日志链头哈希", "Journal head hash", report.journal_head_hash or "-"),
    ]
    sheet(
        "汇总 Summary",
        [("项目", "Item", 34), ("Item", "(English)", 40), ("数值", "Value", 68)],
        summary,
    )

    outcome_cols = [(*OUTCOME_NAMES.get(o, (o, o)), 14.0) for o, _ in _ordered(report.totals)]
    sheet(
        "按事项 By matter",
        [("事项", "Matter", 26), *outcome_cols, ("合计", "Total", 12)],
        (
            [
                _matter_label(m),
                *(row.get(o, 0) for o, _ in _ordered(report.totals)),
                sum(row.values()),
            ]
            for m, row in report.by_matter.items()
        ),
    )
    sheet(
        "措施 Measures",
        [
            ("措施", "Measure", 26),
            ("触发", "Triggered", 12),
            ("执行", "Applied", 12),
            ("暂停（异议核实中）", "Suspended (objection)", 18),
            ("不执行", "Not applied", 12),
            ("纠正", "Overridden", 12),
        ],
        (
            [m.id, m.triggered, m.applied, m.suspended, m.not_applied, m.overridden]
            for m in report.measures
        ),
    )
    sheet(
        "纠正、不执行 Overrides",
        [
            ("时间（北京时间）", "Acted at (Asia/Shanghai)", 20),
            ("处理", "Action", 13),
            ("措施", "Measures", 26),
            ("理由", "Reason", 48),
            ("经办人", "Operator", 14),
            ("核查编号", "Check id", 38),
            ("记录编号", "Action id", 38),
        ],
        (
            [
                _naive(datetime.fromisoformat(o["acted_at"])),
                o.get("action"),
                ", ".join(o.get("measure_ids") or ()),
                o.get("reason"),
                o.get("operator"),
                o.get("check_id"),
                o.get("id"),
            ]
            for o in report.overrides
        ),
    )
    sheet(
        "降级决定 Degraded",
        [
            ("核查时间（北京时间）", "Checked at (Asia/Shanghai)", 20),
            ("主体", "Subject", 22),
            ("事项", "Matter", 22),
            ("数据来源", "Source", 10),
            ("结果", "Outcome", 14),
            ("复核结果", "Re-check outcome", 16),
            ("有变化", "Changed", 9),
            ("核查编号", "Check id", 38),
            ("复核编号", "Re-check id", 38),
        ],
        (
            [
                _naive(d.checked_at),
                d.subject,
                _matter_label(d.matter),
                d.source,
                d.outcome,
                d.recheck_outcome or "未复核 not yet",
                "是 yes" if d.changed else "否 no",
                d.check_id,
                d.recheck_id or "-",
            ]
            for d in details.degraded
        ),
    )
    sheet(
        "奖惩案例 Cases",
        [
            ("核查时间（北京时间）", "Checked at (Asia/Shanghai)", 20),
            ("主体", "Subject", 22),
            ("事项", "Matter", 22),
            ("案件编号", "Case id", 16),
            ("类型", "Kind", 12),
            ("结果", "Outcome", 14),
            ("措施", "Measures", 34),
            ("处理情况", "Action taken", 56),
            ("核查编号", "Check id", 38),
        ],
        (
            [
                _naive(c.checked_at),
                c.subject,
                _matter_label(c.matter),
                c.case_id or "-",
                c.kind,
                c.outcome,
                "\n".join(f"{mid} ({status})" for mid, status in c.measures),
                _actions_text(c.actions),
                c.check_id,
            ]
            for c in details.cases
        ),
    )
    sheet(
        "待反馈 No feedback",
        [
            ("核查时间（北京时间）", "Checked at (Asia/Shanghai)", 20),
            ("主体", "Subject", 22),
            ("事项", "Matter", 22),
            ("案件编号", "Case id", 16),
            ("结果", "Outcome", 14),
            ("措施", "Measures", 34),
            ("已等待天数", "Days waiting", 12),
            ("核查编号", "Check id", 38),
        ],
        (
            [
                _naive(n.checked_at),
                n.subject,
                _matter_label(n.matter),
                n.case_id or "-",
                n.outcome,
                ", ".join(n.measure_ids),
                n.days_waiting,
                n.check_id,
            ]
            for n in details.no_feedback
        ),
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def _ordered(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Known outcomes in their usual order, then any others by name."""
    known = [(o, counts.get(o, 0)) for o in OUTCOMES]
    return known + sorted((o, n) for o, n in counts.items() if o not in OUTCOMES)


# --- the chart ---------------------------------------------------------------------------


def write_chart(report: MonthlyReport, details: ReportDetails | None, path: str | Path) -> Path:
    """Draw outcomes by week and by matter as a PNG (matplotlib, headless).

    Needs matplotlib: ``pip install "credit-check-sdk[report]"``.

    >>> write_chart(report, report.details, "2026-10.png")  # doctest: +SKIP
    PosixPath('2026-10.png')
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"write_chart needs matplotlib, which is not installed: {_INSTALL_HINT}"
        ) from exc

    details = details if details is not None else report.details
    outcomes = [o for o, _ in _ordered(report.totals)]
    colors = {
        "green_channel": "#2e7d32",
        "tolerance": "#81c784",
        "normal": "#90a4ae",
        "restriction": "#c62828",
        "review": "#f9a825",
    }
    fig, (by_week, by_matter) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    try:
        weeks = list(details.weekly)
        bottom = [0] * len(weeks)
        for o in outcomes:
            values = [details.weekly[w].get(o, 0) for w in weeks]
            by_week.bar(weeks, values, bottom=bottom, label=o, color=colors.get(o))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        by_week.set_title(f"Checks by week (from Monday), {report.period}")
        by_week.set_ylabel("checks")
        by_week.tick_params(axis="x", labelrotation=30)

        matters = list(report.by_matter)
        left = [0] * len(matters)
        for o in outcomes:
            values = [report.by_matter[m].get(o, 0) for m in matters]
            by_matter.barh(matters, values, left=left, label=o, color=colors.get(o))
            left = [a + v for a, v in zip(left, values, strict=True)]
        by_matter.set_title(f"Checks by matter, {report.period}")
        by_matter.set_xlabel("checks")
        by_matter.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        by_week.yaxis.get_major_locator().set_params(integer=True)
        by_matter.xaxis.get_major_locator().set_params(integer=True)
        fig.suptitle(f"Credit checks of {report.agency_id}, {report.period}")
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png", dpi=110)
    finally:
        plt.close(fig)
    return out
