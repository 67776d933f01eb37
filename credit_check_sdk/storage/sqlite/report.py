"""The monthly report's reads on the SQLite journal, inside one WAL read transaction.

:class:`SQLiteReportSource` opens a separate read-only connection per view and
begins one read transaction on it: every query of the view sees the journal as
it was when the first one ran, however many appends happen meanwhile, and it
takes no lock that appends wait for. The counts group on the journal's report
columns (schema 3: ``outcome``, ``category``, ``source``, ``recheck_of``,
``action``, and the ``record_measures`` table; schema 6: ``record_authorities``),
which the journal fills from each body (and a check's inputs) at append time;
bodies are read only for details (a case's subject and matter code, an action's
reason, an override's full record). The disclosures (双公示) live in their own file
beside the journal (``disclosures.sqlite3``); a view attaches it read-only, so
that the report's disclosure counts are read in the same view.

>>> import tempfile, os
>>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
>>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "journal.sqlite3"))
>>> with j.report_source().view() as view:
...     view.head(), view.record_count("2026-10-01", "2026-11-01")
(None, 0)
>>> j.close()
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..._exceptions import JournalError
from ..._fork import region
from .._journal_core import column_value

__all__ = ["SQLiteReportSource", "SQLiteReportView"]

# By hour (UTC): the report maps each hour to its Asia/Shanghai day (cheaper than
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

# The subject and case id of checks (by seq, given as a JSON array): one
# json_extract (one parse) for both paths.
_Q_CHECK_DETAILS = """
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

# The cases: the same checks and actions with the details only the workbook shows
# (subject, matter code and case id; an action's time and reason), up to the journal
# head the report was computed from (``+seq`` keeps the planner on the time and
# check-id indexes).
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

_Q_AWAITING = """
SELECT c.id, c.at, json_extract(c.body, '$.subject.id', '$.matter.case_id'),
       c.category, c.outcome,
       (SELECT json_group_array(m.measure_id) FROM record_measures m WHERE m.seq = c.seq)
FROM records c
WHERE c.type = 'check' AND c.at <= ?
  AND EXISTS (SELECT 1 FROM record_measures m WHERE m.seq = c.seq)
  AND NOT EXISTS (SELECT 1 FROM records a WHERE a.check_id = c.id AND a.type = 'action')
ORDER BY c.at, c.id
"""


# The list authorities behind each measure of the window's checks: the stored rows
# (record_authorities, schema 6) with the measure's id (record_measures), no body.
_Q_AUTHORITIES = """
SELECT r.id, m.measure_id, a.authority
FROM records r JOIN record_authorities a ON a.seq = r.seq
     JOIN record_measures m ON m.seq = a.seq AND m.n = a.n
WHERE r.type = 'check' AND r.at >= ? AND r.at < ?
"""

_Q_DISCLOSURES = """
SELECT due_on, published_on FROM duties.disclosures
WHERE (due_on >= ?1 AND due_on < ?2) OR (published_on >= ?1 AND published_on < ?2)
"""

#: The disclosures' file, beside the journal's, in the SQLite adapter's ``data_dir``.
DISCLOSURES_FILE = "disclosures.sqlite3"


def _values(detail: str) -> list[Any]:
    """The values of a multi-path ``json_extract`` (a JSON array) as the columns hold them."""
    return [column_value(v) for v in json.loads(detail)]


class SQLiteReportView:
    """One consistent read of the journal (see :class:`~credit_check_sdk.storage.ReportView`)."""

    def __init__(self, conn: sqlite3.Connection, *, duties: bool = False) -> None:
        self._conn = conn
        self._duties = duties  # the disclosures' file is attached as ``duties``

    def check_totals(self, lo: str, hi: str) -> Iterable[tuple[str, Any, Any, int]]:
        """``(hour, outcome, category, count)`` of the checks of ``[lo, hi)``."""
        return self._conn.execute(_Q_TOTALS, (lo, hi))

    def measured_checks(
        self, lo: str, hi: str
    ) -> Iterable[tuple[int, str, str, Any, Any, Any, Any]]:
        """One row per measure of each check with measures of ``[lo, hi)``."""
        return self._conn.execute(_Q_MEASURED, (lo, hi))

    def measured_actions(self, lo: str, hi: str) -> Iterable[tuple[int, str, Any, int | None, Any]]:
        """The actions on the checks with measures of ``[lo, hi)``, a row per measure named."""
        return self._conn.execute(_Q_ACTIONS, (lo, hi))

    def overrides(self, lo: str, hi: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(at, record)`` of the not_applied / overridden actions on the window's checks."""
        for at, body in self._conn.execute(_Q_OVERRIDES, (lo, hi)):
            yield at, json.loads(body)

    def degraded_checks(self, lo: str, hi: str) -> list[tuple[str, str, Any, Any, Any, Any]]:
        """The checks of ``[lo, hi)`` decided from the snapshot or from no data."""
        return self._conn.execute(_Q_DEGRADED, (lo, hi)).fetchall()

    def rechecks(self, lo: str, hi: str) -> Iterable[tuple[str, str, Any]]:
        """``(recheck_of, check_id, outcome)`` of the re-checks of the window's degraded checks."""
        return self._conn.execute(_Q_RECHECKS, (lo, hi))

    def record_count(self, lo: str, hi: str) -> int:
        """Records dated in ``[lo, hi)``."""
        row = self._conn.execute(
            # Both types named: records_type_at serves the count (there is no index on at alone).
            "SELECT COUNT(*) FROM records WHERE type IN ('check', 'action') AND at >= ? AND at < ?",
            (lo, hi),
        ).fetchone()
        return int(row[0])

    def head(self) -> tuple[str, int] | None:
        """``(hash, seq)`` of the newest record, or ``None``."""
        row = self._conn.execute(
            "SELECT hash, seq FROM records ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def objection_counts(self, lo: str, hi: str) -> dict[str, int]:
        """Objections filed in ``[lo, hi)`` by status."""
        rows = self._conn.execute(
            "SELECT status, COUNT(*) FROM objections"
            " WHERE filed_at >= ? AND filed_at < ? GROUP BY status",
            (lo, hi),
        )
        return {str(status): int(n) for status, n in rows}

    def check_details(self, positions: list[int]) -> dict[int, tuple[Any, Any]]:
        """``{seq: (subject_id, case_id)}`` of the checks at ``positions``."""
        found: dict[int, tuple[Any, Any]] = {}
        if positions:
            for seq, detail in self._conn.execute(_Q_CHECK_DETAILS, (json.dumps(positions),)):
                subject_id, case_id = _values(detail)
                found[seq] = (subject_id, case_id)
        return found

    def case_checks(
        self, lo: str, hi: str, upto: int
    ) -> Iterator[tuple[int, str, str, Any, Any, Any, Any, Any, Any, Any, Any]]:
        """:meth:`measured_checks` up to ``upto``, with subject, kind, code and case id."""
        last_seq = None
        sid = kind = code = case_id = None
        for seq, cid, at, matter, outcome, mid, status, detail in self._conn.execute(
            _Q_CASE_CHECKS, (lo, hi, upto)
        ):
            if seq != last_seq:  # a check's rows are together: its body details parsed once
                last_seq = seq
                sid, kind, code, case_id = _values(detail)
            yield seq, cid, at, matter, outcome, mid, status, sid, kind, code, case_id

    def case_actions(
        self, lo: str, hi: str, upto: int
    ) -> Iterable[tuple[int, str, str, Any, Any, int | None, Any]]:
        """:meth:`measured_actions` up to ``upto``, with each action's time and reason."""
        return self._conn.execute(_Q_CASE_ACTIONS, (lo, hi, upto))

    def checks_awaiting_action(
        self, upto: str
    ) -> Iterator[tuple[str, str, Any, Any, Any, Any, list[Any]]]:
        """The checks made at or before ``upto`` with measures and no action record."""
        for cid, at, detail, matter, outcome, ids_json in self._conn.execute(_Q_AWAITING, (upto,)):
            sid, case_id = _values(detail)
            yield cid, at, sid, case_id, matter, outcome, json.loads(ids_json)

    def measure_authorities(self, lo: str, hi: str) -> Iterable[tuple[str, Any, str]]:
        """``(check_id, measure_id, authority)`` of the measures of the checks of ``[lo, hi)``."""
        return self._conn.execute(_Q_AUTHORITIES, (lo, hi))

    def disclosure_days(self, first: str, end: str) -> list[tuple[str, str | None]]:
        """``(due_on, published_on)`` of the disclosures due or published in ``[first, end)``."""
        if not self._duties:
            return []
        return self._conn.execute(_Q_DISCLOSURES, (first, end)).fetchall()


class SQLiteReportSource:
    """Read views of the journal file at ``path`` (each its own read-only connection), with
    the disclosures' file ``disclosures`` (default: ``disclosures.sqlite3`` beside it).

    A view can be opened after the journal object was closed: a report's cases
    are read on first use, possibly later.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 10.0,
        disclosures: str | Path | None = None,
    ) -> None:
        self.path = str(path)
        self._busy_timeout = busy_timeout
        self.disclosures_path = (
            Path(disclosures) if disclosures is not None else Path(path).parent / DISCLOSURES_FILE
        )

    @contextmanager
    def view(self) -> Iterator[SQLiteReportView]:
        """One read transaction on a read-only connection, for the ``with`` block.

        One region for the whole view: a fork waits until the reader is done with it.
        """
        with region():
            yield from self._view()

    def _view(self) -> Iterator[SQLiteReportView]:
        try:
            uri = Path(self.path).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=self._busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot open: {exc}", path=self.path) from exc
        try:
            # Memory-mapped reads: a report reads most of a month's pages once.
            conn.execute("PRAGMA mmap_size = 268435456")
            duties = self._attach_duties(conn)
            conn.execute("BEGIN")
            yield SQLiteReportView(conn, duties=duties)
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: read failed: {exc}", path=self.path) from exc
        finally:
            try:
                if conn.in_transaction:
                    conn.execute("COMMIT")
            finally:
                conn.close()

    def _attach_duties(self, conn: sqlite3.Connection) -> bool:
        """Attach the disclosures' file read-only (before the view's transaction: SQLite
        attaches outside one); ``False`` when it does not exist or holds no table yet."""
        if not self.disclosures_path.exists():
            return False
        uri = self.disclosures_path.resolve().as_uri() + "?mode=ro"
        conn.execute("ATTACH DATABASE ? AS duties", (uri,))
        found = conn.execute(
            "SELECT 1 FROM duties.sqlite_master WHERE type = 'table' AND name = 'disclosures'"
        ).fetchone()
        return found is not None
