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

No index lists the pending records (every append and every mark would write
it): a walk goes by position (``seq``, the primary key) from the *upload
floor*, a position at or below which no record is pending. Marks move it
(:class:`UploadFloor`) inside their transaction and store it in ``meta`` now
and then (``upload_floor``): a stored floor that lags only makes a walk read a
few answered records again, since records never go back to pending and new
ones are appended above the newest.

>>> import sqlite3
>>> conn = sqlite3.connect(":memory:", isolation_level=None)
>>> _ = conn.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, id TEXT, body TEXT,"
...     " upload_state TEXT DEFAULT 'pending', upload_detail TEXT, uploaded_at TEXT,"
...     " claimed_by TEXT, claimed_until REAL)")
>>> _ = conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
>>> _ = conn.execute("INSERT INTO records(id, body) VALUES ('c1', '{\\"id\\":\\"c1\\"}')")
>>> claim(conn, 10, "a", lease_until=200.0, now=100.0)
[(1, '{"id":"c1"}')]
>>> claim(conn, 10, "b", lease_until=200.0, now=150.0)  # a's claim is live
[]
>>> claim(conn, 10, "b", lease_until=400.0, now=250.0)  # expired
[(1, '{"id":"c1"}')]
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from ..._exceptions import InvalidRequestError
from .._journal_core import UPLOAD_STATES, utc_text
from .._owners import owner_is_gone
from ._journal_file import JournalFile

__all__ = [
    "JournalUploads",
    "UploadFloor",
    "claim",
    "claimants_query",
    "mark",
    "mark_rejected",
    "owner_is_gone",
    "pending_count_query",
    "release",
]

logger = logging.getLogger(__name__)

# SQLite's default limit on host parameters is 999 on old builds; stay below it.
_MAX_PARAMS = 500


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i : i + _MAX_PARAMS] for i in range(0, len(values), _MAX_PARAMS)]


# Where a walk starts: the larger of the position given and the stored floor.
_FROM = "MAX(?, COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'upload_floor'), 0))"

# The counts of the upload states in one statement (one read of the file). The partial
# index's own condition is repeated: SQLite uses it only for a query that implies it.
_COUNTS = (
    f"SELECT (SELECT COUNT(*) FROM records WHERE seq > {_FROM} AND upload_state = 'pending'),"  # noqa: S608 - a fixed fragment, values bound
    " (SELECT COUNT(*) FROM records),"
    " (SELECT COUNT(*) FROM records WHERE upload_state IN ('duplicate', 'rejected')"
    "  AND upload_state = 'duplicate'),"
    " (SELECT COUNT(*) FROM records WHERE upload_state IN ('duplicate', 'rejected')"
    "  AND upload_state = 'rejected')"
)

# Records a floor moves before it is stored again (a meta page written per this many).
_FLOOR_STEP = 256


class UploadFloor:
    """A process's upload floor: the highest position it knows at or below which no
    record is pending, and the one it last stored.

    >>> import sqlite3
    >>> conn = sqlite3.connect(":memory:", isolation_level=None)
    >>> _ = conn.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, upload_state TEXT)")
    >>> _ = conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    >>> _ = conn.executemany("INSERT INTO records VALUES (?, ?)",
    ...     [(1, "accepted"), (2, "rejected"), (3, "pending"), (4, "accepted")])
    >>> floor = UploadFloor(step=1)
    >>> floor.moved(floor.advance(conn)); floor.start(0)
    2
    >>> conn.execute("SELECT value FROM meta").fetchone()
    ('2',)
    """

    def __init__(self, step: int = _FLOOR_STEP) -> None:
        self.known = 0
        self.stored = 0
        self.step = step

    def start(self, after: int) -> int:
        """Where a walk after position ``after`` may start."""
        return max(after, self.known)

    def advance(self, conn: sqlite3.Connection) -> int:
        """The floor up to the first pending record, looked for inside the write
        transaction of a mark (no record is appended or marked meanwhile), and stored
        when it has moved :attr:`step` records since it was last. Call :meth:`moved`
        with it once the transaction has committed."""
        row = conn.execute(
            f"SELECT seq FROM records WHERE seq > {_FROM} AND upload_state = 'pending'"  # noqa: S608 - a fixed fragment, values bound
            " ORDER BY seq LIMIT 1",
            (self.known,),
        ).fetchone()
        # The newest record below the first pending one (every record when none is):
        # a floor always names an answered record that exists, which check() relies on.
        (newest,) = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM records WHERE seq < ?",
            (row[0] if row is not None else 2**63 - 1,),
        ).fetchone()
        floor = max(self.known, int(newest))
        if floor >= self.stored + self.step:
            # Never moved down: another process may have stored a higher one.
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('upload_floor', ?) ON CONFLICT(key)"
                " DO UPDATE SET value = excluded.value"
                " WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
                (str(floor),),
            )
        return floor

    def check(self, conn: sqlite3.Connection) -> None:
        """Inside a claim's write transaction: drop the floor (to 0, stored too) when the
        record it names is gone or pending. Only a journal whose newest records were
        deleted gets there (their positions are given to the next records appended, which
        would be below the floor): the walks then start from the first record again.
        """
        floor = conn.execute(f"SELECT {_FROM}", (self.known,)).fetchone()[0]
        if (
            not floor
            or conn.execute(
                "SELECT 1 FROM records WHERE seq = ? AND upload_state != 'pending'", (floor,)
            ).fetchone()
        ):
            return
        logger.warning(
            "journal: the upload floor (position %d) names no answered record: records were"
            " deleted; uploads walk the journal from its first record again",
            floor,
        )
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'upload_floor'")
        self.known = self.stored = 0

    def moved(self, floor: int) -> None:
        """Take ``floor`` (from :meth:`advance`) once its transaction has committed."""
        if floor >= self.stored + self.step:
            self.stored = floor
        self.known = max(self.known, floor)


def _in_transaction(conn: sqlite3.Connection) -> bool:
    if conn.in_transaction:
        return False
    conn.execute("BEGIN IMMEDIATE")
    return True


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction, or the caller's when one is open: committed at the end of
    the block (when it began here), rolled back when the block raises."""
    began = _in_transaction(conn)
    try:
        yield
        if began:
            conn.execute("COMMIT")
    except BaseException:
        if began and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def claim(
    conn: sqlite3.Connection,
    limit: int,
    owner: str,
    *,
    lease_until: float,
    now: float,
    after_seq: int = 0,
    floor: UploadFloor | None = None,
) -> list[tuple[int, str]]:
    """Claim up to ``limit`` pending records after ``after_seq`` for ``owner``, oldest first.

    A record is free when nobody claimed it, its claim expired (``claimed_until
    <= now``), or ``owner`` holds it already. One write transaction: two
    claimers never get the same record. Returns ``(seq, body)`` pairs, the body
    as its text: a caller holding the journal's lock parses it after letting go.
    The walk starts at the upload floor (stored, or ``floor``) when it is higher
    than ``after_seq``.
    """
    with _transaction(conn):
        if floor is not None:
            floor.check(conn)
            after_seq = floor.start(after_seq)
        rows = conn.execute(
            f"SELECT seq, body FROM records WHERE seq > {_FROM} AND upload_state = 'pending'"  # noqa: S608 - a fixed fragment, values bound
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
    return [(seq, body) for seq, body in rows]


def release(conn: sqlite3.Connection, owner: str, ids: Sequence[str] | None = None) -> None:
    """Give up ``owner``'s claims (on ``ids``, or all of them): others may send those now."""
    if ids is None:
        conn.execute(
            "UPDATE records SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?",
            (owner,),
        )
        return
    with _transaction(conn):
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            sql = f"UPDATE records SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? AND id IN ({marks})"  # noqa: E501, S608 - only "?" placeholders are interpolated; one line keeps the noqa on it
            conn.execute(sql, (owner, *chunk))


def _marking(
    conn: sqlite3.Connection, floor: UploadFloor | None, write: Callable[[], object]
) -> None:
    """Run ``write`` (the marks' updates) and move ``floor`` past them in one transaction
    (the caller's, when one is open), then tell ``floor`` where it now stands."""
    with _transaction(conn):
        write()
        moved = floor.advance(conn) if floor is not None else None
    if floor is not None and moved is not None:
        floor.moved(moved)


def mark(
    conn: sqlite3.Connection,
    ids: Sequence[str],
    state: Literal["accepted", "duplicate"],
    at: str,
    floor: UploadFloor | None = None,
) -> None:
    """Set the upload state of ``ids`` and clear their claims, in one transaction (which
    also moves ``floor`` past them when given)."""

    def write() -> None:
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            sql = f"UPDATE records SET upload_state = ?, upload_detail = NULL, uploaded_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id IN ({marks})"  # noqa: E501, S608 - only "?" placeholders are interpolated; one line keeps the noqa on it
            conn.execute(sql, (state, at, *chunk))

    _marking(conn, floor, write)


def mark_rejected(
    conn: sqlite3.Connection, id: str, detail: str, at: str, floor: UploadFloor | None = None
) -> None:
    """Record the platform's refusal of ``id`` (and why), clearing its claim (and moving
    ``floor`` past it when given)."""
    _marking(
        conn,
        floor,
        lambda: conn.execute(
            "UPDATE records SET upload_state = 'rejected', upload_detail = ?, uploaded_at = ?,"
            " claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            (detail, at, id),
        ),
    )


def claimants_query(but: str, floor: int = 0) -> tuple[str, tuple[Any, ...]]:
    """The query of the owners other than ``but`` holding claims on pending records
    (above ``floor``, or the stored floor when higher)."""
    return (
        f"SELECT DISTINCT claimed_by FROM records WHERE seq > {_FROM}"  # noqa: S608 - a fixed fragment, values bound
        " AND upload_state = 'pending' AND claimed_by IS NOT NULL AND claimed_by != ?",
        (floor, but),
    )


def pending_count_query(
    upto: int | None, claimed_by_others: str, floor: int = 0
) -> tuple[str, tuple[Any, ...]]:
    """The query counting pending records up to ``upto`` (above ``floor``, or the stored
    floor when higher); with ``claimed_by_others`` an owner, only those another owner
    has claimed."""
    sql = (
        f"SELECT COUNT(*) FROM records WHERE seq > {_FROM} AND seq <= ?"  # noqa: S608 - a fixed fragment, values bound
        " AND upload_state = 'pending'"
    )
    params: tuple[Any, ...] = (floor, upto if upto is not None else 2**63 - 1)
    if claimed_by_others:
        sql += " AND claimed_by IS NOT NULL AND claimed_by != ?"
        params += (claimed_by_others,)
    return sql, params


class JournalUploads(JournalFile):
    """The SQLite journal as the upload queue: each record's upload state and claims
    (see :class:`~credit_check_sdk.storage.UploadQueue`). Doctests use the whole
    :class:`~credit_check_sdk.storage.sqlite.journal.SQLiteJournal`.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        # This process's upload floor (inherited by a forked child: still a floor there).
        self._floor = UploadFloor()
        super().__init__(path, busy_timeout=busy_timeout)

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
            rows = claim(
                conn,
                limit,
                owner,
                lease_until=now + lease,
                now=now,
                after_seq=after,
                floor=self._floor,
            )
        # Parsed with the lock let go: a check's commit waits for that lock.
        return [(seq, json.loads(body)) for seq, body in rows]

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
        others = [owner for (owner,) in self._query(*claimants_query(owner, self._floor.known))]
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
            mark(conn, list(ids), state, now, self._floor)

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
            mark_rejected(conn, id, detail, now, self._floor)

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
            f"SELECT seq, body FROM records WHERE seq > {_FROM} AND upload_state = 'pending'"  # noqa: S608 - a fixed fragment, values bound
            " ORDER BY seq LIMIT ?",
            (self._floor.known, limit),
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
        query = pending_count_query(upto, claimed_by_others, self._floor.known)
        return int(self._query(*query)[0][0])

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
        """How many records are in each upload state (every state listed, zeros included).

        One statement (one read of the file): the pending ones above the upload floor,
        the duplicate and rejected ones from their partial index, the rest accepted.
        """
        result: dict[str, int] = dict.fromkeys(UPLOAD_STATES, 0)
        (pending, total, duplicate, rejected), *_ = self._query(_COUNTS, (self._floor.known,))
        result.update(pending=pending, duplicate=duplicate, rejected=rejected)
        result["accepted"] = total - pending - duplicate - rejected
        return result
