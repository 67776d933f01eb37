"""The monthly report's reads on the shared journal, inside one ``REPEATABLE READ READ ONLY``
transaction: the same JSON from any instance, or from a machine with only the URL.

Every query reads the columns derived at write time (no JSON operator); a
position is the record's ``gseq``.

>>> with storage.report.view() as view:  # doctest: +SKIP
...     view.record_count("2026-10-01T00:00:00.000000Z", "2026-11-01T00:00:00.000000Z")
0
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ._database import Database

__all__ = ["PostgresReportSource", "PostgresReportView"]

_Q_TOTALS = """
SELECT substr(at, 1, 13), outcome, category, COUNT(*)
FROM cc_journal_records WHERE type = 'check' AND at >= %s AND at < %s
GROUP BY 1, 2, 3
"""

_Q_MEASURED = """
SELECT r.gseq, r.id, r.at, r.category, r.outcome, m.measure_id, m.status
FROM cc_journal_records r JOIN cc_journal_measures m ON m.gseq = r.gseq
WHERE r.type = 'check' AND r.at >= %s AND r.at < %s
ORDER BY r.gseq, m.n
"""

_Q_DEGRADED = """
SELECT id, at, subject_id, category, source, outcome
FROM cc_journal_records
WHERE type = 'check' AND at >= %s AND at < %s AND source IN ('snapshot', 'none')
ORDER BY at, id
"""

_Q_RECHECKS = """
SELECT c.id, r.id, r.outcome
FROM cc_journal_records c JOIN cc_journal_records r ON r.recheck_of = c.id
WHERE c.type = 'check' AND c.at >= %(lo)s AND c.at < %(hi)s
  AND c.source IN ('snapshot', 'none')
  AND r.type = 'check' AND r.at >= %(lo)s
ORDER BY r.gseq
"""

_Q_ACTIONS = """
SELECT a.gseq, a.check_id, a.action, m.n, m.measure_id
FROM cc_journal_records c JOIN cc_journal_records a ON a.check_id = c.id AND a.type = 'action'
     LEFT JOIN cc_journal_measures m ON m.gseq = a.gseq
WHERE c.type = 'check' AND c.at >= %s AND c.at < %s
  AND EXISTS (SELECT 1 FROM cc_journal_measures x WHERE x.gseq = c.gseq)
ORDER BY a.gseq, m.n
"""

_Q_CASE_CHECKS = """
SELECT r.gseq, r.id, r.at, r.category, r.outcome, m.measure_id, m.status,
       r.subject_id, r.subject_kind, r.matter_code, r.case_id
FROM cc_journal_records r JOIN cc_journal_measures m ON m.gseq = r.gseq
WHERE r.type = 'check' AND r.at >= %(lo)s AND r.at < %(hi)s AND r.gseq <= %(upto)s
ORDER BY r.gseq, m.n
"""

_Q_CASE_ACTIONS = """
SELECT a.gseq, a.check_id, a.at, a.action, a.reason, m.n, m.measure_id
FROM cc_journal_records c JOIN cc_journal_records a ON a.check_id = c.id AND a.type = 'action'
     LEFT JOIN cc_journal_measures m ON m.gseq = a.gseq
WHERE c.type = 'check' AND c.at >= %(lo)s AND c.at < %(hi)s AND c.gseq <= %(upto)s
  AND a.gseq <= %(upto)s
  AND EXISTS (SELECT 1 FROM cc_journal_measures x WHERE x.gseq = c.gseq)
ORDER BY a.gseq, m.n
"""

_Q_OVERRIDES = """
SELECT a.at, a.body
FROM cc_journal_records c JOIN cc_journal_records a
     ON a.check_id = c.id AND a.type = 'action' AND a.action IN ('not_applied', 'overridden')
WHERE c.type = 'check' AND c.at >= %s AND c.at < %s
"""

_Q_AWAITING = """
SELECT c.id, c.at, c.subject_id, c.case_id, c.category, c.outcome, c.gseq
FROM cc_journal_records c
WHERE c.type = 'check' AND c.at <= %s
  AND EXISTS (SELECT 1 FROM cc_journal_measures m WHERE m.gseq = c.gseq)
  AND NOT EXISTS (SELECT 1 FROM cc_journal_records a WHERE a.check_id = c.id AND a.type = 'action')
ORDER BY c.at, c.id
"""


_Q_AUTHORITIES = """
SELECT r.id, m.measure_id, a.authority
FROM cc_journal_records r JOIN cc_journal_authorities a ON a.gseq = r.gseq
     JOIN cc_journal_measures m ON m.gseq = a.gseq AND m.n = a.n
WHERE r.type = 'check' AND r.at >= %s AND r.at < %s
"""

_Q_DISCLOSURES = """
SELECT due_on, published_on FROM cc_disclosures
WHERE (due_on >= %(first)s AND due_on < %(end)s)
   OR (published_on >= %(first)s AND published_on < %(end)s)
"""


class PostgresReportView:
    """One consistent read (see :class:`~credit_check_sdk.storage.ReportView`).

    >>> view.head()  # doctest: +SKIP
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def _rows(self, sql: str, params: Any) -> Iterator[tuple[Any, ...]]:
        # A server-side cursor would need a name per query; pages of a month's rows
        # stream fine through the client cursor's own buffer.
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            yield from cur

    def check_totals(self, lo: str, hi: str) -> Iterable[tuple[str, Any, Any, int]]:
        """``(hour, outcome, category, count)`` of the checks of ``[lo, hi)``.

        >>> list(view.check_totals(lo, hi))  # doctest: +SKIP
        """
        return [(h, o, c, int(n)) for h, o, c, n in self._rows(_Q_TOTALS, (lo, hi))]

    def measured_checks(
        self, lo: str, hi: str
    ) -> Iterable[tuple[int, str, str, Any, Any, Any, Any]]:
        """One row per measure of each check with measures of ``[lo, hi)``.

        >>> list(view.measured_checks(lo, hi))  # doctest: +SKIP
        """
        return self._rows(_Q_MEASURED, (lo, hi))

    def measured_actions(self, lo: str, hi: str) -> Iterable[tuple[int, str, Any, int | None, Any]]:
        """The actions on the checks with measures of ``[lo, hi)``, a row per measure named.

        >>> list(view.measured_actions(lo, hi))  # doctest: +SKIP
        """
        return self._rows(_Q_ACTIONS, (lo, hi))

    def overrides(self, lo: str, hi: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(at, record)`` of the not_applied / overridden actions on the window's checks.

        >>> list(view.overrides(lo, hi))  # doctest: +SKIP
        """
        for at, body in self._rows(_Q_OVERRIDES, (lo, hi)):
            yield at, json.loads(body)

    def degraded_checks(self, lo: str, hi: str) -> list[tuple[str, str, Any, Any, Any, Any]]:
        """The checks of ``[lo, hi)`` decided from the snapshot or from no data.

        >>> view.degraded_checks(lo, hi)  # doctest: +SKIP
        """
        return list(self._rows(_Q_DEGRADED, (lo, hi)))

    def rechecks(self, lo: str, hi: str) -> Iterable[tuple[str, str, Any]]:
        """``(recheck_of, check_id, outcome)`` of the re-checks of the window's degraded checks.

        >>> list(view.rechecks(lo, hi))  # doctest: +SKIP
        """
        return self._rows(_Q_RECHECKS, {"lo": lo, "hi": hi})

    def record_count(self, lo: str, hi: str) -> int:
        """Records dated in ``[lo, hi)``.

        >>> view.record_count(lo, hi)  # doctest: +SKIP
        0
        """
        (row,) = self._rows(
            "SELECT COUNT(*) FROM cc_journal_records WHERE at >= %s AND at < %s", (lo, hi)
        )
        return int(row[0])

    def head(self) -> tuple[str, int] | None:
        """``(hash, position)`` of the newest record in the view, or ``None``.

        >>> view.head()  # doctest: +SKIP
        """
        rows = list(
            self._rows("SELECT hash, gseq FROM cc_journal_records ORDER BY gseq DESC LIMIT 1", ())
        )
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    def objection_counts(self, lo: str, hi: str) -> dict[str, int]:
        """Objections filed in ``[lo, hi)`` by status.

        >>> view.objection_counts(lo, hi)  # doctest: +SKIP
        {}
        """
        rows = self._rows(
            "SELECT status, COUNT(*) FROM cc_objections"
            " WHERE filed_at >= %s AND filed_at < %s GROUP BY status",
            (lo, hi),
        )
        return {str(status): int(n) for status, n in rows}

    def check_details(self, positions: list[int]) -> dict[int, tuple[Any, Any]]:
        """``{position: (subject_id, case_id)}`` of the checks at ``positions``.

        >>> view.check_details([1])  # doctest: +SKIP
        """
        if not positions:
            return {}
        rows = self._rows(
            "SELECT gseq, subject_id, case_id FROM cc_journal_records WHERE gseq = ANY(%s)",
            ([int(p) for p in positions],),
        )
        return {int(g): (sid, case_id) for g, sid, case_id in rows}

    def case_checks(
        self, lo: str, hi: str, upto: int
    ) -> Iterable[tuple[int, str, str, Any, Any, Any, Any, Any, Any, Any, Any]]:
        """:meth:`measured_checks` up to ``upto``, with subject, kind, code and case id.

        >>> list(view.case_checks(lo, hi, 2))  # doctest: +SKIP
        """
        return self._rows(_Q_CASE_CHECKS, {"lo": lo, "hi": hi, "upto": upto})

    def case_actions(
        self, lo: str, hi: str, upto: int
    ) -> Iterable[tuple[int, str, str, Any, Any, int | None, Any]]:
        """:meth:`measured_actions` up to ``upto``, with each action's time and reason.

        >>> list(view.case_actions(lo, hi, 2))  # doctest: +SKIP
        """
        return self._rows(_Q_CASE_ACTIONS, {"lo": lo, "hi": hi, "upto": upto})

    def checks_awaiting_action(
        self, upto: str
    ) -> Iterator[tuple[str, str, Any, Any, Any, Any, list[Any]]]:
        """The checks made at or before ``upto`` with measures and no action record.

        >>> list(view.checks_awaiting_action(upto))  # doctest: +SKIP
        """
        found = list(self._rows(_Q_AWAITING, (upto,)))
        ids: dict[int, list[Any]] = {}
        if found:
            for gseq, mid in self._rows(
                "SELECT gseq, measure_id FROM cc_journal_measures WHERE gseq = ANY(%s)"
                " ORDER BY gseq, n",
                ([int(r[6]) for r in found],),
            ):
                ids.setdefault(int(gseq), []).append(mid)
        for cid, at, sid, case_id, category, outcome, gseq in found:
            yield cid, at, sid, case_id, category, outcome, ids.get(int(gseq), [])

    def measure_authorities(self, lo: str, hi: str) -> Iterable[tuple[str, Any, str]]:
        """``(check_id, measure_id, authority)`` of the measures of the checks of ``[lo, hi)``.

        >>> sorted(view.measure_authorities(lo, hi))  # doctest: +SKIP
        []
        """
        return self._rows(_Q_AUTHORITIES, (lo, hi))

    def disclosure_days(self, first: str, end: str) -> list[tuple[str, str | None]]:
        """``(due_on, published_on)`` of every instance's disclosures due or published in
        ``[first, end)``, in the same view.

        >>> view.disclosure_days("2026-10-01", "2026-11-01")  # doctest: +SKIP
        []
        """
        return list(self._rows(_Q_DISCLOSURES, {"first": first, "end": end}))


class PostgresReportSource:
    """Read views of the shared journal (each one transaction on a pooled connection).

    >>> with PostgresReportSource(db).view() as view:  # doctest: +SKIP
    ...     view.head()
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextmanager
    def view(self) -> Iterator[PostgresReportView]:
        """One ``REPEATABLE READ READ ONLY`` transaction for the ``with`` block.

        >>> with storage.report.view() as view:  # doctest: +SKIP
        ...     view.head()
        """
        with self._db.transaction(repeatable_read=True, read_only=True) as conn:
            yield PostgresReportView(conn)
