"""Upload claims and marks in the shared journal, and its local bookkeeping tables.

Several instances upload from one database: each claims a batch first. The
claim is one statement: the pending records nobody holds (or whose lease ran
out) are picked ``FOR UPDATE SKIP LOCKED`` (so two claimers never wait for
each other, nor get the same record) and marked with the owner and the lease's
end in the same ``UPDATE … RETURNING``. A killed instance's claims expire with
their lease and any other instance takes the records then. Marks and claims are
bookkeeping: a lost one only sends a record again, which the platform answers
``duplicate``.

Objections and report receipts (not journal records: not chained, never
uploaded) live beside the journal, in ``cc_objections`` and ``cc_report_receipts``.

>>> claim_sql("h:1:a", 10, 60.0, 0)[1]
('h:1:a', 60.0, 0, 'h:1:a', 10)
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Literal

from ..._exceptions import InvalidRequestError
from .._data import OBJECTION_STATUSES, ObjectionStatus
from .._journal_core import UPLOAD_STATES, time_bounds, utc_text
from .._owners import owner_is_gone
from ._database import Database

__all__ = [
    "OBJECTION_COLUMNS",
    "RECEIPT_COLUMNS",
    "PostgresObjections",
    "PostgresReceipts",
    "PostgresUploads",
    "claim_sql",
]

# The states and claims are rows of ``cc_journal_uploads`` (one per record, by its
# position): a claim or a mark rewrites a few bytes there, never the record itself.
_CLAIM = """
UPDATE cc_journal_uploads u SET claimed_by = %s,
       claimed_until = now() + %s * interval '1 second'
FROM cc_journal_records r
WHERE r.gseq = u.gseq AND u.gseq IN (
    SELECT gseq FROM cc_journal_uploads
    WHERE upload_state = 'pending' AND gseq > %s
      AND (claimed_until IS NULL OR claimed_until <= now() OR claimed_by = %s)
    ORDER BY gseq LIMIT %s
    FOR UPDATE SKIP LOCKED)
RETURNING u.gseq, r.body
"""
#: The positions of the records named (by id) in the statement's ``ANY(%s)``.
_GSEQ_OF_IDS = "SELECT gseq FROM cc_journal_records WHERE id = ANY(%s)"


def claim_sql(owner: str, limit: int, lease: float, after: int) -> tuple[str, tuple[Any, ...]]:
    """The claim statement and its parameters."""
    return _CLAIM, (owner, float(lease), int(after), owner, int(limit))


class PostgresUploads:
    """The shared journal as the upload queue (see :class:`~credit_check_sdk.storage.UploadQueue`).

    >>> uploads.claim("h:1:a", 10, 60)  # doctest: +SKIP
    []
    """

    _db: Database

    def claim(
        self, owner: str, limit: int, lease: float, *, after: int = 0
    ) -> list[tuple[int, dict[str, Any]]]:
        """Claim up to ``limit`` pending records after position ``after`` for ``owner``.

        >>> uploads.claim("h:1:a", 10, 60, after=0)  # doctest: +SKIP
        [(1, {...})]
        """
        rows = self._db.query(*claim_sql(owner, limit, lease, after), durable=False)
        return [(int(gseq), json.loads(body)) for gseq, body in sorted(rows)]

    def release(self, owner: str, ids: list[str] | None = None) -> None:
        """Give up ``owner``'s claims on ``ids`` (all when ``None``).

        >>> uploads.release("h:1:a")  # doctest: +SKIP
        """
        if ids is None:
            self._db.execute(
                "UPDATE cc_journal_uploads SET claimed_by = NULL, claimed_until = NULL"
                # Only a pending record holds a claim (a mark clears it): the pending
                # index finds them, not a scan of every record's row.
                " WHERE claimed_by = %s AND upload_state = 'pending'",
                (owner,),
            )
            return
        self._db.execute(
            "UPDATE cc_journal_uploads SET claimed_by = NULL, claimed_until = NULL"  # noqa: S608 - fixed text
            f" WHERE claimed_by = %s AND gseq IN ({_GSEQ_OF_IDS})",
            (owner, list(ids)),
            durable=False,
        )

    def release_ended(self, owner: str) -> int:
        """Release the claims of other owners on this host whose process ended.

        >>> uploads.release_ended("h:1:a")  # doctest: +SKIP
        0
        """
        rows = self._db.query(
            "SELECT DISTINCT claimed_by FROM cc_journal_uploads WHERE upload_state = 'pending'"
            " AND claimed_by IS NOT NULL AND claimed_by <> %s",
            (owner,),
        )
        gone = [other for (other,) in rows if owner_is_gone(other)]
        for other in gone:
            self.release(other)
        return len(gone)

    def mark(self, ids: list[str], state: Literal["accepted", "duplicate"]) -> None:
        """Record the platform's answer for ``ids``; clears their claims.

        >>> uploads.mark(["c1"], "accepted")  # doctest: +SKIP
        """
        if state not in ("accepted", "duplicate"):
            raise InvalidRequestError(f"state must be 'accepted' or 'duplicate', not {state!r}")
        if not ids:
            return
        self._db.execute(
            "UPDATE cc_journal_uploads SET upload_state = %s, upload_detail = NULL,"  # noqa: S608 - fixed text
            " uploaded_at = %s, claimed_by = NULL, claimed_until = NULL"
            f" WHERE gseq IN ({_GSEQ_OF_IDS})",
            (state, utc_text(datetime.now(timezone.utc)), list(ids)),
            durable=False,
        )

    def mark_rejected(self, id: str, detail: str) -> None:
        """Record that the platform refused record ``id`` and why.

        >>> uploads.mark_rejected("c1", "unknown agency")  # doctest: +SKIP
        """
        self._db.execute(
            "UPDATE cc_journal_uploads SET upload_state = 'rejected', upload_detail = %s,"  # noqa: S608 - fixed text
            " uploaded_at = %s, claimed_by = NULL, claimed_until = NULL"
            f" WHERE gseq IN ({_GSEQ_OF_IDS})",
            (detail, utc_text(datetime.now(timezone.utc)), [id]),
            durable=False,
        )

    def head_position(self) -> int:
        """The position of the newest record (0 when empty).

        >>> uploads.head_position()  # doctest: +SKIP
        0
        """
        return int(self._db.query("SELECT COALESCE(MAX(gseq), 0) FROM cc_journal_records")[0][0])

    def pending_count(self, upto: int | None = None, *, claimed_by_others: str = "") -> int:
        """Pending records (at or before ``upto``), or only those others claimed.

        >>> uploads.pending_count()  # doctest: +SKIP
        0
        """
        sql = (
            "SELECT COUNT(*) FROM cc_journal_uploads WHERE upload_state = 'pending' AND gseq <= %s"
        )
        params: tuple[Any, ...] = (upto if upto is not None else 2**63 - 1,)
        if claimed_by_others:
            sql += " AND claimed_by IS NOT NULL AND claimed_by <> %s"
            params += (claimed_by_others,)
        return int(self._db.query(sql, params)[0][0])

    def pending(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Up to ``limit`` records not yet uploaded, oldest first.

        >>> uploads.pending()  # doctest: +SKIP
        []
        """
        rows = self._db.query(
            "SELECT r.body FROM cc_journal_uploads u JOIN cc_journal_records r ON r.gseq = u.gseq"
            " WHERE u.upload_state = 'pending' ORDER BY u.gseq LIMIT %s",
            (int(limit),),
        )
        return [json.loads(body) for (body,) in rows]

    def upload_state(self, id: str) -> tuple[str, str | None] | None:
        """``(upload_state, upload_detail)`` of record ``id``, or ``None``.

        >>> uploads.upload_state("c1")  # doctest: +SKIP
        ('pending', None)
        """
        rows = self._db.query(
            "SELECT u.upload_state, u.upload_detail FROM cc_journal_records r"
            " JOIN cc_journal_uploads u ON u.gseq = r.gseq WHERE r.id = %s",
            (id,),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def counts(self) -> dict[str, int]:
        """Records by upload state, every state listed.

        >>> uploads.counts()  # doctest: +SKIP
        {'pending': 0, 'accepted': 0, 'duplicate': 0, 'rejected': 0}
        """
        result: dict[str, int] = dict.fromkeys(UPLOAD_STATES, 0)
        for state, n in self._db.query(
            "SELECT upload_state, COUNT(*) FROM cc_journal_uploads GROUP BY upload_state"
        ):
            result[state] = int(n)
        return result


#: The columns of ``cc_objections`` and ``cc_report_receipts``, in the order read and
#: written (an import copies them in this order too).
OBJECTION_COLUMNS = (
    "objection_id",
    "check_id",
    "entry_id",
    "subject_id",
    "filed_at",
    "status",
    "updated_at",
)
RECEIPT_COLUMNS = ("period", "version", "receipt_id", "submitted_at", "body_hash")


def _check_status(status: str) -> None:
    if status not in OBJECTION_STATUSES:
        raise InvalidRequestError(
            f"status must be one of {', '.join(OBJECTION_STATUSES)}, not {status!r}"
        )


class PostgresObjections:
    """Objections filed through this agency, in ``cc_objections``.

    >>> storage.objections.record("OBJ-1", "c1", "BL-1", uscc)  # doctest: +SKIP
    True
    """

    def __init__(self, db: Database) -> None:
        self._db = db

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
        """Note an objection; ``False`` when it was noted already.

        >>> storage.objections.record("OBJ-1", "c1", "BL-1", uscc)  # doctest: +SKIP
        True
        """
        _check_status(status)
        if not objection_id:
            raise InvalidRequestError("an objection needs an id")
        when = filed_at if filed_at is not None else datetime.now(timezone.utc)
        if when.tzinfo is None:
            raise InvalidRequestError("filed_at needs a timezone")
        stamp = utc_text(when)
        return (
            self._db.execute(
                "INSERT INTO cc_objections (objection_id, check_id, entry_id, subject_id,"
                " filed_at, status, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (objection_id) DO NOTHING",
                (objection_id, check_id, entry_id, subject_id, stamp, status, stamp),
            )
            > 0
        )

    def update(self, objection_id: str, status: ObjectionStatus) -> bool:
        """Set the platform's latest word; ``False`` when the objection is not known here.

        >>> storage.objections.update("OBJ-1", "upheld")  # doctest: +SKIP
        True
        """
        _check_status(status)
        return (
            self._db.execute(
                "UPDATE cc_objections SET status = %s, updated_at = %s WHERE objection_id = %s",
                (status, utc_text(datetime.now(timezone.utc)), objection_id),
            )
            > 0
        )

    def select(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Objections filed in ``[since, until)``, oldest first.

        >>> storage.objections.select()  # doctest: +SKIP
        []
        """
        lo, hi = time_bounds(since, until)
        rows = self._db.query(
            f"SELECT {', '.join(OBJECTION_COLUMNS)} FROM cc_objections"  # noqa: S608 - fixed names
            " WHERE (%s::text IS NULL OR filed_at >= %s) AND (%s::text IS NULL OR filed_at < %s)"
            " ORDER BY filed_at, objection_id",
            (lo, lo, hi, hi),
        )
        return [dict(zip(OBJECTION_COLUMNS, row, strict=True)) for row in rows]


class PostgresReceipts:
    """Receipts of submitted monthly reports, in ``cc_report_receipts`` (shared by every
    instance: a report submitted from one is known to all).

    >>> storage.receipts.select("2026-10")  # doctest: +SKIP
    []
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        period: str,
        version: int,
        receipt_id: str,
        body_hash: str,
        *,
        submitted_at: datetime | None = None,
    ) -> None:
        """Keep a receipt; the same ``(period, version)`` again replaces the earlier row.

        >>> storage.receipts.record("2026-10", 1, "RCPT-1", "ab" * 32)  # doctest: +SKIP
        """
        when = submitted_at if submitted_at is not None else datetime.now(timezone.utc)
        if when.tzinfo is None:
            raise InvalidRequestError("submitted_at needs a timezone")
        self._db.execute(
            "INSERT INTO cc_report_receipts (period, version, receipt_id, submitted_at,"
            " body_hash) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (period, version) DO UPDATE"
            " SET receipt_id = EXCLUDED.receipt_id, submitted_at = EXCLUDED.submitted_at,"
            " body_hash = EXCLUDED.body_hash",
            (period, int(version), receipt_id, utc_text(when), body_hash),
        )

    def select(self, period: str | None = None) -> list[dict[str, Any]]:
        """Receipts (of one period, or all) by period then version.

        >>> storage.receipts.select()  # doctest: +SKIP
        []
        """
        rows = self._db.query(
            f"SELECT {', '.join(RECEIPT_COLUMNS)} FROM cc_report_receipts"  # noqa: S608 - fixed names
            " WHERE %s::text IS NULL OR period = %s ORDER BY period, version",
            (period, period),
        )
        return [dict(zip(RECEIPT_COLUMNS, row, strict=True)) for row in rows]
