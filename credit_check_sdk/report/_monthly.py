"""Summing the journal into the monthly report: the rules, in Python, over a storage's reads.

Every number comes from rows a :class:`~credit_check_sdk.storage.ReportView`
gives inside one consistent view of the journal (whatever stores it); the rules
(latest action per measure, suspended measures, re-checks, the feedback
window) are applied here and never in SQL, so every storage adapter gives the
same report from the same records.

>>> import tempfile
>>> from credit_check_sdk.storage import open_storage
>>> with open_storage(data_dir=tempfile.mkdtemp()) as storage:
...     r = build_monthly_report(storage, agency_id="AG-1", period="2026-11")
>>> r.record_count, r.journal_head_hash
(0, None)
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import quote

from .._exceptions import InvalidRequestError, InvalidResponseError
from .._time import SHANGHAI, now
from ..storage import ReceiptStore, ReportSource, ReportView, utc_text
from ._document import (
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
from ._feedback import authority_lines, disclosure_counts
from ._periods import (
    LocalTimes,
    SubjectTexts,
    from_utc_text,
    local_day,
    outcome_order,
    period_bounds,
    subject_text,
    week_of,
)

if TYPE_CHECKING:
    from .._client import PlatformClient

__all__ = [
    "ReportInput",
    "build_monthly_report",
    "pending_actions",
    "report_json",
    "report_source",
    "submit_report",
]

logger = logging.getLogger(__name__)


class _HasReport(Protocol):
    @property
    def report(self) -> ReportSource: ...


class _HasReportSource(Protocol):
    def report_source(self) -> ReportSource: ...


#: What the report reads from: a storage (``storage.report``), a journal that has its
#: own source (the SQLite ``Journal``), or a :class:`~credit_check_sdk.storage.ReportSource`.
ReportInput = _HasReport | _HasReportSource | ReportSource


def report_source(source: ReportInput) -> ReportSource:
    """The :class:`~credit_check_sdk.storage.ReportSource` behind ``source``.

    >>> import tempfile
    >>> from credit_check_sdk.journal import Journal
    >>> j = Journal(tempfile.mkdtemp() + "/journal.sqlite3")
    >>> type(report_source(j)).__name__
    'SQLiteReportSource'
    >>> j.close()
    """
    make = getattr(source, "report_source", None)
    if callable(make):
        found: ReportSource = make()
        return found
    if isinstance(source, ReportSource):
        return source
    report = getattr(source, "report", None)
    if isinstance(report, ReportSource):
        return report
    raise InvalidRequestError(
        f"a report reads from a storage, a journal or a ReportSource, not {type(source).__name__}"
    )


class _Measured(NamedTuple):
    """A check with measures, as far as the counts need it."""

    seq: int
    at: str
    matter: str
    outcome: str
    measures: dict[str, str]  # id -> applied|suspended


def _read_cases(view: ReportView, lo: str, hi: str, head_seq: int) -> tuple[Case, ...]:
    """The restriction and incentive cases of ``[lo, hi)``, records up to ``head_seq``."""
    local_time = LocalTimes()
    subject = SubjectTexts()
    # check id -> (at, subject id, subject kind, matter, code, case id, outcome, measures)
    checks: dict[str, tuple[str, Any, Any, str, Any, Any, str, dict[str, str]]] = {}
    by_seq: dict[int, dict[str, str]] = {}
    for seq, cid, at, matter, outcome, mid, status, sid, kind, code, case_id in view.case_checks(
        lo, hi, head_seq
    ):
        measures = by_seq.get(seq)
        if measures is None:
            measures = by_seq[seq] = {}
            checks[cid] = (at, sid, kind, str(matter), code, case_id, str(outcome), measures)
        measures[mid] = status  # a repeated id: the last one counts, as in a dict

    actions: dict[str, list[tuple[datetime, str, tuple[str, ...], str | None]]] = {}
    rows: list[tuple[str, str, str, Any, list[Any]]] = []
    last_seq = None
    for seq, cid, at, action, reason, n, mid in view.case_actions(lo, hi, head_seq):
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
                subject(sid),
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


class _Sums:
    """What one pass over a view counts (the counts' own state, before the rules)."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.by_matter: dict[str, dict[str, int]] = {}
        self.weekly: dict[str, dict[str, int]] = {}
        self.triggered: Counter[str] = Counter()
        self.suspended: Counter[str] = Counter()
        self.measured: dict[str, _Measured] = {}
        self.latest: dict[tuple[str, str], str] = {}
        self.acted_checks: set[str] = set()
        self.overrides: list[tuple[str, str, dict[str, Any]]] = []

    def add_totals(self, view: ReportView, lo: str, hi: str) -> None:
        # Locals in the loops: they run once per row of a month's journal.
        totals, by_matter, weekly = self.totals, self.by_matter, self.weekly
        days: dict[str, str] = {}
        for hour, outcome, matter, n in view.check_totals(lo, hi):
            outcome, matter = str(outcome), str(matter)
            day = days.get(hour)
            if day is None:
                day = days[hour] = local_day(hour)
            totals[outcome] = totals.get(outcome, 0) + n
            row = by_matter.get(matter)
            if row is None:
                row = by_matter[matter] = dict.fromkeys(OUTCOMES, 0)
            row[outcome] = row.get(outcome, 0) + n
            week = week_of(day)
            counts = weekly.get(week)
            if counts is None:
                counts = weekly[week] = dict.fromkeys(OUTCOMES, 0)
            counts[outcome] = counts.get(outcome, 0) + n

    def add_measures(self, view: ReportView, lo: str, hi: str) -> None:
        measured, latest, acted_checks = self.measured, self.latest, self.acted_checks
        by_seq: dict[int, dict[str, str]] = {}
        for seq, cid, at, matter, outcome, mid, status in view.measured_checks(lo, hi):
            measures = by_seq.get(seq)
            if measures is None:
                measures = by_seq[seq] = {}
                measured[cid] = _Measured(seq, at, str(matter), str(outcome), measures)
            measures[mid] = status  # a repeated id: the last one counts, as in a dict
        triggered, suspended = self.triggered, self.suspended
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
        for seq, cid, action, n, mid in view.measured_actions(lo, hi):
            if seq != last_seq:
                last_seq, last_cid, last_action = seq, cid, str(action)
                acted_checks.add(cid)
                last_check = measured.get(cid)
            if n is not None and last_check is not None and mid in last_check.measures:
                latest[(last_cid, mid)] = last_action  # rows come in journal order
        for at, record in view.overrides(lo, hi):
            self.overrides.append((at, record["id"], record))

    def measure_lines(self) -> tuple[MeasureCounts, ...]:
        acted: dict[str, Counter[str]] = defaultdict(Counter)
        for (cid, mid), action in self.latest.items():
            if action == "applied" and self.measured[cid].measures[mid] == "suspended":
                continue  # §五(三): not executed while an objection is verified
            acted[mid][action] += 1
        return tuple(
            MeasureCounts(
                id=mid,
                triggered=self.triggered[mid],
                applied=acted[mid]["applied"],
                suspended=self.suspended[mid],
                not_applied=acted[mid]["not_applied"],
                overridden=acted[mid]["overridden"],
            )
            for mid in sorted(self.triggered)
        )


def _degraded(
    view: ReportView, lo: str, hi: str, local_time: LocalTimes, subject: SubjectTexts
) -> list[DegradedCheck]:
    rows = view.degraded_checks(lo, hi)
    rechecks: dict[str, tuple[str, str]] = {}
    if rows:
        for of, rid, outcome in view.rechecks(lo, hi):
            rechecks[of] = (rid, str(outcome))  # the latest re-check wins
    found = []
    for cid, at, sid, matter, source, outcome in rows:
        again = rechecks.get(cid)
        found.append(
            DegradedCheck(
                check_id=cid,
                checked_at=local_time(at),
                subject=subject(sid),
                matter=str(matter),
                source=str(source),
                outcome=str(outcome),
                recheck_id=again[0] if again else None,
                recheck_outcome=again[1] if again else None,
                changed=again is not None and again[1] != outcome,
            )
        )
    return found


def build_monthly_report(
    source: ReportInput,
    *,
    agency_id: str,
    period: str,
    generated_at: datetime | None = None,
    feedback_days: int = 5,
    details: bool = False,
) -> MonthlyReport:
    """Sum the journal for ``period`` (``YYYY-MM``, Asia/Shanghai) into the monthly report.

    ``source`` is a :class:`~credit_check_sdk.storage.Storage` (the report reads
    ``storage.report``), a :class:`~credit_check_sdk.journal.Journal`, or a
    :class:`~credit_check_sdk.storage.ReportSource`. ``generated_at`` (default:
    now) is stamped on the report and is the moment against which checks without
    feedback are judged: a check with measures and no action record
    ``feedback_days`` days after it was made is listed in
    ``report.details.no_feedback``.

    ``report.details.cases`` (what the workbook lists case by case) is read
    from the journal when first used; ``details=True`` reads it at once, in
    the same view as the counts (for the workbook: cheaper than a second
    pass, and independent of the journal staying open).

    >>> import tempfile, os
    >>> from credit_check_sdk.journal import Journal
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
    reads = report_source(source)
    stamp = (generated_at or now()).astimezone(SHANGHAI)
    lo, hi = utc_text(start), utc_text(end)
    sums = _Sums()
    local_time = LocalTimes()
    subject = SubjectTexts()
    deadline = timedelta(days=feedback_days)
    overdue: list[tuple[int, str, datetime, _Measured]] = []
    awaiting = 0
    cases: tuple[Case, ...] | None = None

    with reads.view() as view:
        sums.add_totals(view, lo, hi)
        sums.add_measures(view, lo, hi)
        degraded_checks = _degraded(view, lo, hi, local_time, subject)
        record_count = view.record_count(lo, hi)
        head = view.head()
        head_seq = head[1] if head is not None else 0
        objection_counts = Counter(view.objection_counts(lo, hi))
        # Checks with measures and no action: past the feedback window, or within it.
        for cid, m in sums.measured.items():
            if cid in sums.acted_checks:
                continue
            checked = local_time(m.at)
            if checked + deadline <= stamp:
                overdue.append((m.seq, cid, checked, m))
            else:
                awaiting += 1
        found = view.check_details([seq for seq, _, _, _ in overdue]) if overdue else {}
        if details:
            cases = _read_cases(view, lo, hi, head_seq)
        by_authority = authority_lines(
            view.measure_authorities(lo, hi),
            {cid: m.measures for cid, m in sums.measured.items()},
            sums.latest,
        )
        disclosures = disclosure_counts(
            view.disclosure_days(start.date().isoformat(), end.date().isoformat()),
            start.date().isoformat(),
            end.date().isoformat(),
            today=stamp.date().isoformat(),
        )

    no_feedback: list[NoFeedback] = []
    for seq, cid, checked, m in overdue:
        sid, case_id = found.get(seq, (None, None))
        no_feedback.append(
            NoFeedback(
                cid,
                checked,
                subject(sid),
                m.matter,
                case_id,
                m.outcome,
                tuple(sorted(m.measures)),
                (stamp - checked).days,
            )
        )
    # Known outcomes first, then any others by name (the order the counts had
    # when they were grouped by outcome first).
    totals = outcome_order(sums.totals)
    report = MonthlyReport(
        agency_id=agency_id,
        period=period,
        generated_at=stamp.replace(microsecond=0),
        totals=totals,
        by_matter={m: outcome_order(row) for m, row in sorted(sums.by_matter.items())},
        measures=sums.measure_lines(),
        overrides=tuple(record for _, _, record in sorted(sums.overrides, key=lambda o: o[:2])),
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
        disclosures=disclosures,
        by_authority=by_authority,
        journal_head_hash=head[0] if head is not None else None,
        record_count=record_count,
    )

    def load_cases() -> tuple[Case, ...]:
        with reads.view() as later:
            return _read_cases(later, lo, hi, head_seq)

    loader: Callable[[], tuple[Case, ...]] | None = None if cases is not None else load_cases
    report._details = ReportDetails(
        period=period,
        feedback_days=feedback_days,
        no_feedback=tuple(sorted(no_feedback, key=lambda r: (r.checked_at, r.check_id))),
        awaiting=awaiting,
        cases=cases,
        degraded=tuple(degraded_checks),
        weekly={w: outcome_order(row) for w, row in sorted(sums.weekly.items())},
        load_cases=loader,
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
    source: ReportInput, *, days: int = 5, at: datetime | None = None
) -> list[NoFeedback]:
    """Every check with measures and no action record, made ``days`` days or more before ``at``.

    Over the whole journal, oldest first; the same rule as a report's
    "no feedback yet" list. ``source`` as for :func:`build_monthly_report`.

    >>> import tempfile, os
    >>> from credit_check_sdk.journal import Journal
    >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
    >>> pending_actions(j, days=5)
    []
    >>> j.close()
    """
    when = (at or now()).astimezone(SHANGHAI)
    cutoff = utc_text(when - timedelta(days=days))
    out: list[NoFeedback] = []
    with report_source(source).view() as view:
        for cid, at_text, sid, case_id, matter, outcome, measure_ids in view.checks_awaiting_action(
            cutoff
        ):
            ids = tuple(sorted(measure_ids))
            if not ids:
                continue
            checked = from_utc_text(at_text)
            out.append(
                NoFeedback(
                    cid,
                    checked,
                    subject_text(sid),
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
    # The content: the same report built again later (another instance, another
    # minute) differs only in generated_at, and is the same report to the platform.
    content = {k: v for k, v in wire.items() if k != "generated_at"}
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _HasReceipts(Protocol):
    @property
    def receipts(self) -> ReceiptStore: ...


def _receipt_store(receipts: Any) -> ReceiptStore:
    """``receipts`` (a :class:`~credit_check_sdk.storage.ReceiptStore`), a storage's, or
    the SQLite ``Journal``'s (which keeps them in its file)."""
    store = getattr(receipts, "receipt_store", None) or getattr(receipts, "receipts", None)
    if isinstance(store, ReceiptStore):
        return store
    if isinstance(receipts, ReceiptStore):
        return receipts
    raise InvalidRequestError(
        f"report receipts are kept in a storage or a ReceiptStore, not {type(receipts).__name__}"
    )


def submit_report(
    client: PlatformClient, report: MonthlyReport, receipts: ReceiptStore | _HasReceipts | Any
) -> ReportReceipt:
    """``PUT`` the report to the platform and keep its receipt.

    ``receipts`` is where receipts are kept: a storage (its ``receipts``), the
    SQLite ``Journal``, or a :class:`~credit_check_sdk.storage.ReceiptStore`.
    Submitting the same period again is a correction: the platform answers with
    the next ``version``; a report whose content is that of the newest receipt kept
    (same ``body_hash``, whatever its ``generated_at``) is not sent again: the earlier
    receipt comes back with ``sent`` ``False``. With a shared database the receipts
    are every instance's, so a report is sent once whoever submits it. Raises
    :class:`PlatformError` when the platform refuses or cannot be reached (nothing is
    recorded then).

    >>> receipt = submit_report(checker.client, report, checker.storage)  # doctest: +SKIP
    >>> receipt.version  # doctest: +SKIP
    1
    """
    store = _receipt_store(receipts)
    wire = report.wire()
    earlier = store.select(report.period)
    body_hash = _body_hash(wire)
    if earlier and earlier[-1]["body_hash"] == body_hash:
        last = earlier[-1]
        logger.info(
            "report %s: the platform holds this report already (receipt %s, version %d);"
            " not sent again",
            report.period,
            last["receipt_id"],
            last["version"],
        )
        return ReportReceipt(
            report.period, int(last["version"]), str(last["receipt_id"]), body_hash,
            correction=False, sent=False,
        )  # fmt: skip
    path = f"/v1/reports/{quote(report.agency_id, safe='')}/{quote(report.period, safe='')}"
    answer = client.put(path, wire)
    receipt_id, version = answer.get("receipt_id"), answer.get("version")
    if not isinstance(receipt_id, str) or not isinstance(version, int) or isinstance(version, bool):
        raise InvalidResponseError(f"{path}: the answer needs receipt_id and an integer version")
    store.record(report.period, version, receipt_id, body_hash)
    correction = bool(earlier) or version > 1
    logger.info(
        "report %s submitted: receipt %s, version %d%s",
        report.period,
        receipt_id,
        version,
        " (correction)" if correction else "",
    )
    return ReportReceipt(report.period, version, receipt_id, body_hash, correction)
