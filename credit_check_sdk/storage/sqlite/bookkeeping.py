"""Local bookkeeping in the SQLite journal's file: objections and report receipts.

Neither is a journal record: they are not hash-chained, not returned by
``iter_records`` or ``verify``, and never uploaded (the platform's
``records:batch`` accepts check and action records only). They are what this
agency knows of its own objections and report submissions, for the monthly
report. Both tables live in ``journal.sqlite3`` (schema 2) and share its
connection and lock.

>>> import tempfile, os
>>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
>>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
>>> SQLiteObjections(j).record("OBJ-1", "c1", "BL-1", "91442000MA4UJ2KQ57")
True
>>> j.close()
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..._exceptions import InvalidRequestError
from .._data import OBJECTION_STATUSES, ObjectionStatus
from .._journal_core import time_bounds, utc_text
from ._journal_file import JournalFile

__all__ = ["SQLiteObjections", "SQLiteReceipts"]

_OBJECTION_COLUMNS = "objection_id, check_id, entry_id, subject_id, filed_at, status, updated_at"
_RECEIPT_COLUMNS = "period, version, receipt_id, submitted_at, body_hash"


def _check_status(status: str) -> None:
    if status not in OBJECTION_STATUSES:
        raise InvalidRequestError(
            f"status must be one of {', '.join(OBJECTION_STATUSES)}, not {status!r}"
        )


class SQLiteObjections:
    """Objections filed through this agency, in the journal's file.

    >>> import tempfile, os
    >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
    >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
    >>> SQLiteObjections(j).select()
    []
    >>> j.close()
    """

    def __init__(self, file: JournalFile) -> None:
        self._file = file

    def record(
        self,
        objection_id: str,
        check_id: str | None,
        entry_id: str,
        subject_id: str,
        *,
        filed_at: datetime | None = None,
        status: ObjectionStatus = "verifying",
    ) -> bool:
        """Note an objection filed through this agency; ``False`` when it was noted already.

        Recording the same ``objection_id`` again changes nothing, so callers
        may record defensively. ``filed_at`` defaults to now and must carry a
        timezone.

        >>> import tempfile, os
        >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> objections = SQLiteObjections(j)
        >>> objections.record("OBJ-1", "c1", "BL-1", "91442000MA4UJ2KQ57")
        True
        >>> [o["status"] for o in objections.select()]
        ['verifying']
        >>> j.close()
        """
        _check_status(status)
        if not objection_id:
            raise InvalidRequestError("an objection needs an id")
        when = filed_at if filed_at is not None else datetime.now(timezone.utc)
        if when.tzinfo is None:
            raise InvalidRequestError("filed_at needs a timezone")
        stamp = utc_text(when)
        before = self._file._changes()
        self._file._write(
            "INSERT INTO objections(objection_id, check_id, entry_id, subject_id, filed_at,"
            " status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(objection_id) DO NOTHING",
            (objection_id, check_id, entry_id, subject_id, stamp, status, stamp),
        )
        return self._file._changes() > before

    def update(self, objection_id: str, status: ObjectionStatus) -> bool:
        """Set the platform's latest word on an objection; ``False`` when it is not known here.

        >>> import tempfile, os
        >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> objections = SQLiteObjections(j)
        >>> _ = objections.record("OBJ-1", "c1", "BL-1", "91442000MA4UJ2KQ57")
        >>> objections.update("OBJ-1", "upheld"), objections.update("OBJ-2", "upheld")
        (True, False)
        >>> j.close()
        """
        _check_status(status)
        before = self._file._changes()
        self._file._write(
            "UPDATE objections SET status = ?, updated_at = ? WHERE objection_id = ?",
            (status, utc_text(datetime.now(timezone.utc)), objection_id),
        )
        return self._file._changes() > before

    def select(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Objections filed in ``[since, until)``, oldest first (both bounds need a timezone).

        Each is a dict with ``objection_id``, ``check_id``, ``entry_id``,
        ``subject_id``, ``filed_at``, ``status`` and ``updated_at``; the two
        times are fixed-width UTC text (``2026-10-31T15:59:59.000000Z``).
        """
        lo, hi = time_bounds(since, until)
        sql = (
            f"SELECT {_OBJECTION_COLUMNS} FROM objections"  # noqa: S608 - a fixed column list
            " WHERE (? IS NULL OR filed_at >= ?) AND (? IS NULL OR filed_at < ?)"
            " ORDER BY filed_at, objection_id"
        )
        rows = self._file._query(sql, (lo, lo, hi, hi))
        keys = [c.strip() for c in _OBJECTION_COLUMNS.split(",")]
        return [dict(zip(keys, row, strict=True)) for row in rows]


class SQLiteReceipts:
    """The platform's receipts for submitted monthly reports, in the journal's file.

    >>> import tempfile, os
    >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
    >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
    >>> receipts = SQLiteReceipts(j)
    >>> receipts.record("2026-10", 1, "RCPT-1", "ab" * 32)
    >>> [(r["period"], r["version"]) for r in receipts.select()]
    [('2026-10', 1)]
    >>> j.close()
    """

    def __init__(self, file: JournalFile) -> None:
        self._file = file

    def record(
        self,
        period: str,
        version: int,
        receipt_id: str,
        body_hash: str,
        *,
        submitted_at: datetime | None = None,
    ) -> None:
        """Keep the platform's receipt for a submitted monthly report (local, not uploaded).

        ``body_hash`` is the SHA-256 of the report as sent. A repeated
        ``(period, version)`` replaces the earlier row.
        """
        when = submitted_at if submitted_at is not None else datetime.now(timezone.utc)
        if when.tzinfo is None:
            raise InvalidRequestError("submitted_at needs a timezone")
        self._file._write(
            "INSERT OR REPLACE INTO report_receipts(period, version, receipt_id, submitted_at,"
            " body_hash) VALUES (?, ?, ?, ?, ?)",
            (period, int(version), receipt_id, utc_text(when), body_hash),
        )

    def select(self, period: str | None = None) -> list[dict[str, Any]]:
        """Receipts of submitted reports (one period, or all), by period then version."""
        sql = (
            f"SELECT {_RECEIPT_COLUMNS} FROM report_receipts"  # noqa: S608 - a fixed column list
            " WHERE ? IS NULL OR period = ? ORDER BY period, version"
        )
        rows = self._file._query(sql, (period, period))
        keys = [c.strip() for c in _RECEIPT_COLUMNS.split(",")]
        return [dict(zip(keys, row, strict=True)) for row in rows]
