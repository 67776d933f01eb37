"""The SQL of the snapshot's tables, shared by the snapshot in service and its rebuild.

Every function takes a connection and the names of one set of tables (the ones
in service, :data:`~._schema.LIVE_SNAPSHOT`, or a rebuild's ``…_new``) and runs
inside the caller's transaction. The rules of applying a page are the shared
ones (:func:`~credit_check_sdk.storage._feed.plan_page`).

>>> NEW["entries"]
'cc_snapshot_entries_new'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..._client import Change, ChangesPage, RelationChange
from ..._models import ListEntry, Relation
from ..._time import now
from .._feed import plan_page, runs
from ._schema import LIVE_SNAPSHOT

__all__ = [
    "LIVE",
    "NEW",
    "apply_page",
    "apply_relation_changes",
    "meta",
    "set_meta",
    "store_relations",
]

Tables = dict[str, str]

#: The tables in service.
LIVE: Tables = dict(LIVE_SNAPSHOT)
#: A rebuild's tables, renamed over :data:`LIVE` when it commits.
NEW: Tables = {k: f"{v}_new" for k, v in LIVE_SNAPSHOT.items()}


def meta(conn: Any, t: Tables) -> dict[str, str | None]:
    """The meta values (cursor, as_of, synced_at, entries, last_seq, generation …)."""
    return {str(k): v for k, v in conn.execute(f"SELECT key, value FROM {t['meta']}")}  # noqa: S608 - fixed table names


def set_meta(conn: Any, t: Tables, values: dict[str, str | None]) -> None:
    """Write meta values."""
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {t['meta']} (key, value) VALUES (%s, %s)"  # noqa: S608 - fixed table names
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            list(values.items()),
        )


def apply_page(conn: Any, t: Tables, page: ChangesPage) -> list[Change]:
    """Apply one page (inside the caller's transaction, which has locked the meta); the
    entry changes applied, in ``seq`` order."""
    saved = meta(conn, t)
    plan = plan_page(page, saved, now=now())
    if plan is None:
        return []
    count = int(saved.get("entries") or 0)
    for op, changes in runs(plan.changes):
        if op == "upsert":
            count += _upsert_run(conn, t, changes)
        else:
            ids = [c.entry.entry_id for c in changes]
            gone = conn.execute(
                f"DELETE FROM {t['entries']} WHERE entry_id = ANY(%s) RETURNING entry_id",  # noqa: S608 - fixed table names
                (ids,),
            ).fetchall()
            count -= len(gone)
    apply_relation_changes(conn, t, plan.relations)
    set_meta(conn, t, {**plan.meta, "entries": str(count)})
    return plan.changes


def _upsert_run(conn: Any, t: Tables, changes: list[Change]) -> int:
    """Insert or update the entries of consecutive upserts, in order; how many are new."""
    to_json = ListEntry.__pydantic_serializer__.to_json
    rows = [
        (c.entry.entry_id, c.entry.subject_id, to_json(c.entry).decode(), c.seq) for c in changes
    ]
    ids = list(dict.fromkeys(r[0] for r in rows))
    present = {
        r[0]
        for r in conn.execute(
            f"SELECT entry_id FROM {t['entries']} WHERE entry_id = ANY(%s)",  # noqa: S608 - fixed table names
            (ids,),
        )
    }
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {t['entries']} AS e (entry_id, subject_id, body, seq)"  # noqa: S608 - fixed table names
            " VALUES (%s, %s, %s, %s) ON CONFLICT (entry_id) DO UPDATE"
            " SET subject_id = EXCLUDED.subject_id, body = EXCLUDED.body, seq = EXCLUDED.seq"
            " WHERE e.seq IS DISTINCT FROM EXCLUDED.seq",
            rows,
        )
    return len([i for i in ids if i not in present])


def _rows(relations: Iterable[tuple[Relation, int | None]]) -> list[tuple[object, ...]]:
    return [
        (r.subject_id, r.role, r.related_id, r.since.isoformat() if r.since else None, seq)
        for r, seq in relations
    ]


def _relate(conn: Any, t: Tables, rows: list[tuple[object, ...]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {t['relations']} (subject_id, role, related_id, since, seq)"  # noqa: S608 - fixed table names
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (subject_id, role, related_id)"
            " DO UPDATE SET since = EXCLUDED.since, seq = EXCLUDED.seq",
            rows,
        )


def _mark(conn: Any, t: Tables) -> None:
    set_meta(conn, t, {"relations": "sent"})


def apply_relation_changes(conn: Any, t: Tables, changes: Sequence[RelationChange]) -> None:
    """Apply relation changes in ``seq`` order."""
    if not changes:
        return
    for op, batch in runs(sorted(changes, key=lambda c: c.seq)):
        if op == "relate":
            _relate(conn, t, _rows((c.relation, c.seq) for c in batch))
        else:
            with conn.cursor() as cur:
                cur.executemany(
                    f"DELETE FROM {t['relations']}"  # noqa: S608 - fixed table names
                    " WHERE subject_id = %s AND role = %s AND related_id = %s",
                    [
                        (c.relation.subject_id, c.relation.role, c.relation.related_id)
                        for c in batch
                    ],
                )
    _mark(conn, t)


def store_relations(conn: Any, t: Tables, relations: Sequence[Relation]) -> None:
    """Insert an export's relations."""
    if relations:
        _relate(conn, t, _rows((r, None) for r in relations))
        _mark(conn, t)
