"""Upload claims in the SQLite journal: which process sends which pending records.

Several processes may share one journal (a pre-forking web server, a batch
job beside the counter application). Without claims each would upload every
pending record, and the platform would answer most of them ``duplicate``.
Before sending, an uploader *claims* a batch: the records are marked with
its owner name and a lease (an expiry time) in the same transaction that
selects them, and other uploaders skip records under a live claim. When the
platform has answered, the records are marked (accepted, duplicate or
rejected) and the claim is cleared with the mark; records it left unmentioned
are released. A process killed while holding a claim leaves it to expire:
after the lease any uploader takes the records.

The whole protocol is these statements on one connection; the PostgreSQL
adapter implements the same :class:`~credit_check_sdk.storage.UploadQueue`
with ``SELECT … FOR UPDATE SKIP LOCKED``.

Claims and marks are bookkeeping, not evidence: losing one to a power cut
only sends a record again, which the platform recognises by its id. The
journal writes them without an ``fsync`` of their own (they reach the disk
with the next record's); the records themselves stay fully durable.

>>> import sqlite3
>>> conn = sqlite3.connect(":memory:", isolation_level=None)
>>> _ = conn.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, id TEXT, body TEXT,"
...     " upload_state TEXT DEFAULT 'pending', upload_detail TEXT, uploaded_at TEXT,"
...     " claimed_by TEXT, claimed_until REAL)")
>>> _ = conn.execute("INSERT INTO records(id, body) VALUES ('c1', '{\\"id\\":\\"c1\\"}')")
>>> [r["id"] for _, r in claim(conn, 10, "a", lease_until=200.0, now=100.0)]
['c1']
>>> claim(conn, 10, "b", lease_until=200.0, now=150.0)  # a's claim is live
[]
>>> [r["id"] for _, r in claim(conn, 10, "b", lease_until=400.0, now=250.0)]  # expired
['c1']
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Literal

from ..._exceptions import InvalidRequestError
from .._journal_core import UPLOAD_STATES, utc_text
from .._owners import owner_is_gone
from ._journal_file import JournalFile

__all__ = [
    "JournalUploads",
    "claim",
    "claimants_query",
    "mark",
    "mark_rejected",
    "owner_is_gone",
    "pending_count_query",
    "release",
]

# SQLite's default limit on host parameters is 999 on old builds; stay below it.
_MAX_PARAMS = 500


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i : i + _MAX_PARAMS] for i in range(0, len(values), _MAX_PARAMS)]


def _in_transaction(conn: sqlite3.Connection) -> bool:
    if conn.in_transaction:
        return False
    conn.execute("BEGIN IMMEDIATE")
    return True


def claim(
    conn: sqlite3.Connection,
    limit: int,
    owner: str,
    *,
    lease_until: float,
    now: float,
    after_seq: int = 0,
) -> list[tuple[int, dict[str, Any]]]:
    """Claim up to ``limit`` pending records after ``after_seq`` for ``owner``, oldest first.

    A record is free when nobody claimed it, its claim expired (``claimed_until
    <= now``), or ``owner`` holds it already. One write transaction: two
    claimers never get the same record. Returns ``(seq, record)`` pairs.
    """
    began = _in_transaction(conn)
    try:
        rows = conn.execute(
            "SELECT seq, body FROM records WHERE upload_state = 'pending' AND seq > ?"
            " AND (claimed_until IS NULL OR claimed_until <= ? OR claimed_by = ?)"
            " ORDER BY seq LIMIT ?",
            (after_seq, now, owner, limit),
        ).fetchall()
        for chunk in _chunks([seq for seq, _ in rows]):
            marks = ",".join("?" * len(chunk))
            conn.execute(
                f"UPDATE records SET claimed_by = ?, claimed_until = ? WHERE seq IN ({marks})",  # noqa: S608 - only "?" placeholders are interpolated
                (owner, lease_until, *chunk),
            )
        if began:
            conn.execute("COMMIT")
    except BaseException:
        if began and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return [(seq, json.loads(body)) for seq, body in rows]


def release(conn: sqlite3.Connection, owner: str, ids: Sequence[str] | None = None) -> None:
    """Give up ``owner``'s claims (on ``ids``, or all of them): others may send those now."""
    if ids is None:
        conn.execute(
            "UPDATE records SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?",
            (owner,),
        )
        return
    began = _in_transaction(conn)
    try:
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            sql = f"UPDATE records SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? AND id IN ({marks})"  # noqa: E501, S608 - only "?" placeholders are interpolated; one line keeps the noqa on it
            conn.execute(sql, (owner, *chunk))
        if began:
            conn.execute("COMMIT")
    except BaseException:
        if began and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def mark(
    conn: sqlite3.Connection,
    ids: Sequence[str],
    state: Literal["accepted", "duplicate"],
    at: str,
) -> None:
    """Set the upload state of ``ids`` and clear their claims, in one transaction."""
    began = _in_transaction(conn)
    try:
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            sql = f"UPDATE records SET upload_state = ?, upload_detail = NULL, uploaded_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id IN ({marks})"  # noqa: E501, S608 - only "?" placeholders are interpolated; one line keeps the noqa on it
            conn.execute(sql, (state, at, *chunk))
        if began:
            conn.execute("COMMIT")
    except BaseException:
        if began and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def mark_rejected(conn: sqlite3.Connection, id: str, detail: str, at: str) -> None:
    """Record the platform's refusal of ``id`` (and why), clearing its claim."""
    conn.execute(
        "UPDATE records SET upload_state = 'rejected', upload_detail = ?, uploaded_at = ?,"
        " claimed_by = NULL, claimed_until = NULL WHERE id = ?",
        (detail, at, id),
    )


def claimants_query(but: str) -> tuple[str, tuple[Any, ...]]:
    """The query of the owners other than ``but`` holding claims on pending records."""
    return (
        "SELECT DISTINCT claimed_by FROM records WHERE upload_state = 'pending'"
        " AND claimed_by IS NOT NULL AND claimed_by != ?",
        (but,),
    )


def pending_count_query(upto: int | None, claimed_by_others: str) -> tuple[str, tuple[Any, ...]]:
    """The query counting pending records up to ``upto``; with ``claimed_by_others`` an
    owner, only those another owner has claimed."""
    sql = "SELECT COUNT(*) FROM records WHERE upload_state = 'pending' AND seq <= ?"
    params: tuple[Any, ...] = (upto if upto is not None else 2**63 - 1,)
    if claimed_by_others:
        sql += " AND claimed_by IS NOT NULL AND claimed_by != ?"
        params += (claimed_by_others,)
    return sql, params


class JournalUploads(JournalFile):
    """The SQLite journal as the upload queue: each record's upload state and claims
    (see :class:`~credit_check_sdk.storage.UploadQueue`). Doctests use the whole
    :class:`~credit_check_sdk.storage.sqlite.journal.SQLiteJournal`.
    """

    def claim(
        self, owner: str, limit: int, lease: float, *, after: int = 0
    ) -> list[tuple[int, dict[str, Any]]]:
        """Claim up to ``limit`` pending records after ``after`` for ``owner`` for ``lease``
        seconds: ``(seq, record)`` pairs, oldest first (see
        :class:`~credit_check_sdk.storage.UploadQueue`).

        >>> import tempfile, os
        >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> [r["id"] for _, r in j.claim("host:1", 10, lease=60)], j.claim("host:2", 10, lease=60)
        (['c1'], [])
        >>> j.close()
        """
        now = time.time()
        with self._bookkeeping() as conn:
            return claim(conn, limit, owner, lease_until=now + lease, now=now, after_seq=after)

    def claim_pending(
        self, limit: int, owner: str, lease: float, *, after_seq: int = 0
    ) -> list[tuple[int, dict[str, Any]]]:
        """:meth:`claim` by its earlier name and argument order."""
        return self.claim(owner, limit, lease, after=after_seq)

    def release(self, owner: str, ids: list[str] | None = None) -> None:
        """Give up ``owner``'s claims on ``ids`` (all of them when ``None``).

        >>> import tempfile, os
        >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> _ = j.claim("host:1", 10, lease=60)
        >>> j.release("host:1"); len(j.claim("host:2", 10, lease=60))
        1
        >>> j.close()
        """
        with self._bookkeeping() as conn:
            release(conn, owner, ids)

    release_claims = release  # the earlier name

    def release_ended(self, owner: str) -> int:
        """Release the claims of other owners whose process on this host has ended
        (killed while sending); how many owners were released.

        >>> import tempfile, os
        >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> j.release_ended("host:1:a")
        0
        >>> j.close()
        """
        others = [owner for (owner,) in self._query(*claimants_query(owner))]
        gone = [other for other in others if owner_is_gone(other)]
        for other in gone:
            self.release(other)
        return len(gone)

    release_claims_of_ended_processes = release_ended  # the earlier name

    def mark(self, ids: list[str], state: Literal["accepted", "duplicate"]) -> None:
        """Record that the platform took ``ids`` (``accepted``) or already had them
        (``duplicate``); clears their claims. Written without an ``fsync`` of its own:
        a mark lost to a power cut only sends the record again.

        >>> import tempfile, os
        >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> j.mark(["c1"], "accepted"); j.counts()["accepted"]
        1
        >>> j.close()
        """
        if state not in ("accepted", "duplicate"):
            raise InvalidRequestError(f"state must be 'accepted' or 'duplicate', not {state!r}")
        now = utc_text(datetime.now(timezone.utc))
        with self._bookkeeping() as conn:
            mark(conn, list(ids), state, now)

    def mark_rejected(self, id: str, detail: str) -> None:
        """Record that the platform refused record ``id``, and why; it stays in the journal.

        >>> import tempfile, os
        >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> j.mark_rejected("c1", "bad matter"); j.counts()["rejected"]
        1
        >>> j.close()
        """
        now = utc_text(datetime.now(timezone.utc))
        with self._bookkeeping() as conn:
            mark_rejected(conn, id, detail, now)

    def pending(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Up to ``limit`` records not yet uploaded, oldest first.

        >>> import tempfile, os
        >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> [r["id"] for r in j.pending()]
        ['c1']
        >>> j.close()
        """
        rows = self._query(
            "SELECT seq, body FROM records WHERE upload_state = 'pending' ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [json.loads(body) for _, body in rows]

    def pending_count(self, upto: int | None = None, *, claimed_by_others: str = "") -> int:
        """Pending records (up to sequence number ``upto``); with ``claimed_by_others``
        an owner's name, only those another owner has claimed.

        >>> import tempfile, os
        >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> j.pending_count()
        0
        >>> j.close()
        """
        return int(self._query(*pending_count_query(upto, claimed_by_others))[0][0])

    _pending_count = pending_count  # the earlier name

    def head_position(self) -> int:
        """The sequence number of the newest record (0 when empty).

        >>> import tempfile, os
        >>> from credit_check_sdk.storage.sqlite.journal import SQLiteJournal
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> j.head_position()
        0
        >>> j.close()
        """
        rows = self._query("SELECT COALESCE(MAX(seq), 0) FROM records", ())
        return int(rows[0][0])

    _head_seq = head_position  # the earlier name

    def upload_state(self, id: str) -> tuple[str, str | None] | None:
        """``(upload_state, upload_detail)`` of record ``id``, or None when there is none."""
        rows = self._query("SELECT upload_state, upload_detail FROM records WHERE id = ?", (id,))
        return (rows[0][0], rows[0][1]) if rows else None

    def counts(self) -> dict[str, int]:
        """How many records are in each upload state (every state listed, zeros included)."""
        result: dict[str, int] = dict.fromkeys(UPLOAD_STATES, 0)
        for state, n in self._query(
            "SELECT upload_state, COUNT(*) FROM records GROUP BY upload_state", ()
        ):
            result[state] = n
        return result
