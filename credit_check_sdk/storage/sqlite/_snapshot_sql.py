"""The SQL of a snapshot generation file, shared by the live snapshot and its builder.

Relations (contract v2: ``relate``/``unrelate`` in the change feed,
``{"relation": …}`` lines in the export) are kept in the ``relations`` table
beside ``entries``: a relation reads "``related_id`` is the ``role`` of
``subject_id``", the related party's side is the role with ``_of``. The meta key
``relations`` says the platform sends relations at all: once any came, the
snapshot is the source of relations (none listed for a subject means it has
none); before, decisions fall back on the relations learnt from live profiles.

>>> from credit_check_sdk.storage.sqlite._schema import SNAPSHOT_SCHEMA
>>> conn = sqlite3.connect(":memory:", isolation_level=None)
>>> conn.executescript(SNAPSHOT_SCHEMA) and None
>>> from credit_check_sdk._models import Relation
>>> r = Relation(subject_id="91442000MA4UJ2KQ57", role="director", related_id="442000199001011233")
>>> store_relations(conn, [r])
>>> meta(conn)["relations"]
'sent'
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..._client import Change, ChangesPage, RelationChange
from ..._files import create_private_file
from ..._models import ListEntry, Relation
from ..._time import now
from .._errors import SnapshotError
from .._feed import plan_page, runs
from ._schema import SNAPSHOT_RELATIONS, SNAPSHOT_VERSION

__all__ = [
    "apply_page",
    "apply_relation_changes",
    "check_schema",
    "clear_relations",
    "connect",
    "ensure_relations_table",
    "meta",
    "set_meta",
    "store_relations",
]


def connect(path: Path, *, create: bool, busy_timeout: float) -> sqlite3.Connection:
    """Open ``path``; without ``create`` a missing file is an error rather than a new empty DB."""
    uri = path.resolve().as_uri() + ("?mode=rwc" if create else "?mode=rw")
    if create:
        try:
            create_private_file(path)  # 0600, and so its -wal and -shm: subject ids
        except OSError as exc:  # reported as SQLite would report it, where callers expect it
            raise sqlite3.OperationalError(f"unable to open database file: {exc}") from exc
    conn = sqlite3.connect(
        uri,
        uri=True,
        timeout=busy_timeout,
        isolation_level=None,  # BEGIN/COMMIT are issued explicitly
        check_same_thread=False,  # every connection is used by one thread at a time
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    return conn


def meta(conn: sqlite3.Connection) -> dict[str, str | None]:
    """The file's meta values (cursor, as_of, synced_at, entries, last_seq …)."""
    return {str(k): v for k, v in conn.execute("SELECT key, value FROM meta")}


def set_meta(conn: sqlite3.Connection, values: dict[str, str | None]) -> None:
    """Write meta values (inside the caller's transaction)."""
    conn.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a generation file of another schema version: the next sync rebuilds it."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SNAPSHOT_VERSION:
        raise SnapshotError(
            f"snapshot {path}: schema version {version}, this SDK reads {SNAPSHOT_VERSION}; "
            "rebuild the snapshot (sync or import)",
            path=str(path),
        )


def apply_page(conn: sqlite3.Connection, page: ChangesPage) -> list[Change]:
    """Apply one page in one transaction; the entry changes actually applied, in ``seq``
    order (the rules: :func:`~credit_check_sdk.storage._feed.plan_page`)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        saved = meta(conn)
        plan = plan_page(page, saved, now=now())
        if plan is None:
            conn.execute("ROLLBACK")
            return []
        count = int(saved.get("entries") or 0)
        # Runs of consecutive upserts, or of deletes, each applied with executemany:
        # a page costs a handful of statements instead of one or two per change, and
        # the order of changes to the same entry is kept.
        for op, changes in runs(plan.changes):
            if op == "upsert":
                count += _upsert_run(conn, changes)
            else:
                count -= conn.executemany(
                    "DELETE FROM entries WHERE entry_id = ?",
                    [(c.entry.entry_id,) for c in changes],
                ).rowcount
        apply_relation_changes(conn, plan.relations)
        set_meta(conn, {**plan.meta, "entries": str(count)})
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return plan.changes


def _upsert_run(conn: sqlite3.Connection, changes: list[Change]) -> int:
    """Insert or replace the entries of consecutive upserts; how many entries are new."""
    to_json = ListEntry.__pydantic_serializer__.to_json
    rows = [
        (c.entry.entry_id, c.entry.subject_id, to_json(c.entry).decode(), c.seq) for c in changes
    ]
    inserted = conn.executemany(
        "INSERT INTO entries(entry_id, subject_id, body, seq) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(entry_id) DO NOTHING",
        rows,
    ).rowcount
    if inserted < len(rows):
        # Some were there already (or came twice in this run): bring each up to its
        # change, in seq order. A row just inserted carries its own seq and is skipped.
        conn.executemany(
            "UPDATE entries SET subject_id = ?, body = ?, seq = ? "
            "WHERE entry_id = ? AND seq IS NOT ?",
            [(subject, body, seq, entry_id, seq) for entry_id, subject, body, seq in rows],
        )
    return inserted


def ensure_relations_table(conn: sqlite3.Connection) -> None:
    """Create the table in a snapshot file made before it existed (no-op otherwise)."""
    conn.executescript(SNAPSHOT_RELATIONS)


def _mark(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('relations', 'sent')")


def _rows(relations: Iterable[tuple[Relation, int | None]]) -> list[tuple[object, ...]]:
    return [
        (r.subject_id, r.role, r.related_id, r.since.isoformat() if r.since else None, seq)
        for r, seq in relations
    ]


def apply_relation_changes(conn: sqlite3.Connection, changes: Sequence[RelationChange]) -> None:
    """Apply relation changes in ``seq`` order, inside the caller's transaction."""
    if not changes:
        return
    # Runs of consecutive relates, or of unrelates, each one executemany (as the
    # snapshot applies entries): the order of changes to the same relation is kept.
    for op, batch in runs(sorted(changes, key=lambda c: c.seq)):
        if op == "relate":
            conn.executemany(
                "INSERT OR REPLACE INTO relations(subject_id, role, related_id, since, seq) "
                "VALUES (?, ?, ?, ?, ?)",
                _rows((c.relation, c.seq) for c in batch),
            )
        else:
            conn.executemany(
                "DELETE FROM relations WHERE subject_id = ? AND role = ? AND related_id = ?",
                [(c.relation.subject_id, c.relation.role, c.relation.related_id) for c in batch],
            )
    _mark(conn)


def store_relations(conn: sqlite3.Connection, relations: Sequence[Relation]) -> None:
    """Insert relations from an export (in one transaction of their own)."""
    if not relations:
        return
    conn.execute("BEGIN")
    try:
        conn.executemany(
            "INSERT OR REPLACE INTO relations(subject_id, role, related_id, since, seq) "
            "VALUES (?, ?, ?, ?, ?)",
            _rows((r, None) for r in relations),
        )
        _mark(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def clear_relations(conn: sqlite3.Connection) -> None:
    """Forget every relation (an export load that starts again)."""
    conn.execute("DELETE FROM relations")
