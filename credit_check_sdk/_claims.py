"""Upload claims: which process sends which pending journal records.

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

The whole protocol is these four statements on one connection, so that
another store (PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``) implements
the same ``claim(limit, owner, lease) -> records`` / ``release`` / ``mark``.

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
import os
import socket
import sqlite3
from collections.abc import Sequence
from typing import Any, Literal

__all__ = [
    "CLAIM_COLUMNS_SQL",
    "claim",
    "claimants",
    "mark",
    "mark_rejected",
    "owner_is_gone",
    "release",
]

# SQLite's default limit on host parameters is 999 on old builds; stay below it.
_MAX_PARAMS = 500

#: Schema 5 of the journal: the claim columns (NULL: nobody's).
CLAIM_COLUMNS_SQL = """
ALTER TABLE records ADD COLUMN claimed_by TEXT;
ALTER TABLE records ADD COLUMN claimed_until REAL
"""


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


def claimants(conn: sqlite3.Connection, but: str) -> list[str]:
    """Owners other than ``but`` holding claims on pending records."""
    rows = conn.execute(
        "SELECT DISTINCT claimed_by FROM records WHERE upload_state = 'pending'"
        " AND claimed_by IS NOT NULL AND claimed_by != ?",
        (but,),
    ).fetchall()
    return [str(owner) for (owner,) in rows]


def owner_is_gone(owner: str) -> bool:
    """Whether ``owner`` (``host:pid:token``) names a process of this host that has ended.

    Its claims need not wait for their lease. Unsure (another host, a pid in use
    again, no permission to ask) means not gone: the lease decides.

    >>> owner_is_gone(f"{socket.gethostname()}:{os.getpid()}:x")
    False
    """
    host, _, rest = owner.partition(":")
    pid_text, _, _token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False
