"""Moving a host's small SQLite stores into the shared database (part of ``storage import``).

Besides its journal, a host keeps in ``data_dir``: the re-check queue and the
watches (``followups.sqlite3``), the relations learnt from live profiles
(``relations.sqlite3``), written commitments (``licensing-commitments.sqlite3``)
and disclosures with their posting state (``disclosures.sqlite3``); objections
and report receipts live in the journal's file. :func:`merge_stores` copies each
into its ``cc_…`` table inside the caller's transaction, the rows as they are,
claims dropped (the host is stopped: nobody holds them).

A row the database holds already is never put back to an earlier state, and a
second run changes nothing (each count is then 0). What a row the database
holds already may still take from the host, per table:

=====================  ==================================================================
``cc_rechecks``        the result, when the host re-checked it and the database has it
                       still to do
``cc_watches``         nothing (the cluster's watch, with its latest check, stays)
``cc_learnt``          the host's relations of a subject, when its profile is newer
``cc_commitments``     the resolution (``open`` → fulfilled/breached) and ``posted``
``cc_disclosures``     ``posted`` and the publication day (the disclosure itself stays)
``cc_objections``      the platform's later word (a newer ``updated_at``)
``cc_report_receipts`` nothing (a receipt is kept once per period and version)
=====================  ==================================================================

>>> sorted(STORES)
['commitments', 'disclosures', 'followups', 'relations']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..sqlite._localstore import LocalStore
from ..sqlite.commitments import SQLiteCommitments
from ..sqlite.disclosures import SQLiteDisclosures
from ..sqlite.followups import Followups
from ..sqlite.relations import RelationStore
from ._uploads import OBJECTION_COLUMNS, RECEIPT_COLUMNS

__all__ = ["STORES", "merge_journal_bookkeeping", "merge_stores"]

#: Each small store's file in ``data_dir`` and the class that opens (and migrates) it.
STORES: dict[str, tuple[str, type[LocalStore]]] = {
    "followups": ("followups.sqlite3", Followups),
    "relations": ("relations.sqlite3", RelationStore),
    "commitments": ("licensing-commitments.sqlite3", SQLiteCommitments),
    "disclosures": ("disclosures.sqlite3", SQLiteDisclosures),
}

_RECHECK = (
    "check_id",
    "subject_id",
    "kind",
    "matter",
    "outcome",
    "queued_at",
    "recheck_id",
    "new_outcome",
    "changed",
    "done_at",
)
_WATCH = (
    "subject_id",
    "case_id",
    "kind",
    "matter",
    "related_ids",
    "last_check_id",
    "last_outcome",
    "watched_at",
)
_LEARNT = ("subject_id", "as_of", "as_of_ts", "learnt_at")
_LEARNT_RELATION = ("subject_id", "role", "related_id", "related_kind")
_COMMITMENT = (
    "commitment_id",
    "check_id",
    "subject_id",
    "matter_code",
    "case_id",
    "documents",
    "made_on",
    "due_on",
    "status",
    "resolved_on",
    "posted",
)
_DISCLOSURE = (
    "disclosure_id",
    "kind",
    "subject_id",
    "decision_no",
    "decided_on",
    "due_on",
    "title",
    "content",
    "check_id",
    "posted",
    "published_on",
)

# What a row already in the database takes from the host's (see the table above). Each
# update has a WHERE: a row that would not change is not written (a second run: 0).
_ON_CONFLICT = {
    "cc_rechecks": "(check_id) DO UPDATE SET recheck_id = EXCLUDED.recheck_id,"
    " new_outcome = EXCLUDED.new_outcome, changed = EXCLUDED.changed,"
    " done_at = EXCLUDED.done_at, claimed_by = NULL, claimed_until = NULL"
    " WHERE cc_rechecks.done_at IS NULL AND EXCLUDED.done_at IS NOT NULL",
    "cc_watches": "DO NOTHING",
    "cc_commitments": "(commitment_id) DO UPDATE SET"
    " status = CASE WHEN cc_commitments.status = 'open' THEN EXCLUDED.status"
    " ELSE cc_commitments.status END,"
    " resolved_on = COALESCE(cc_commitments.resolved_on, EXCLUDED.resolved_on),"
    " posted = GREATEST(cc_commitments.posted, EXCLUDED.posted)"
    " WHERE (cc_commitments.status = 'open' AND EXCLUDED.status <> 'open')"
    " OR (cc_commitments.resolved_on IS NULL AND EXCLUDED.resolved_on IS NOT NULL)"
    " OR cc_commitments.posted < EXCLUDED.posted",
    "cc_disclosures": "(disclosure_id) DO UPDATE SET"
    " posted = GREATEST(cc_disclosures.posted, EXCLUDED.posted),"
    " published_on = COALESCE(cc_disclosures.published_on, EXCLUDED.published_on)"
    " WHERE cc_disclosures.posted < EXCLUDED.posted"
    " OR (cc_disclosures.published_on IS NULL AND EXCLUDED.published_on IS NOT NULL)",
    "cc_objections": "(objection_id) DO UPDATE SET status = EXCLUDED.status,"
    " updated_at = EXCLUDED.updated_at WHERE cc_objections.updated_at < EXCLUDED.updated_at",
    "cc_report_receipts": "DO NOTHING",
}


def _staged(conn: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """``rows`` in a temporary copy of ``table``'s shape (gone at commit); its name."""
    stage = f"cc_import_{table}"
    conn.execute(f"CREATE TEMP TABLE {stage} (LIKE {table}) ON COMMIT DROP")
    with conn.cursor() as cur, cur.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return stage


def merge(conn: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Insert ``rows`` into ``table``, a row kept already merged by its rule; how many rows
    were inserted or changed."""
    if not rows:
        return 0
    stage = _staged(conn, table, columns, rows)
    names = ", ".join(columns)
    return int(
        conn.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage}"  # noqa: S608 - fixed names
            f" ON CONFLICT {_ON_CONFLICT[table]}"
        ).rowcount
    )


def _merge_learnt(
    conn: Any, learnt: Sequence[Sequence[Any]], relations: Sequence[Sequence[Any]]
) -> int:
    """The host's learnt relations, subject by subject, where its profile is newer than the
    database's (or the database has none): the subject's relations replaced whole."""
    if not learnt:
        return 0
    stage = _staged(conn, "cc_learnt", _LEARNT, learnt)
    newer = [
        subject
        for (subject,) in conn.execute(
            f"INSERT INTO cc_learnt ({', '.join(_LEARNT)}) SELECT {', '.join(_LEARNT)}"  # noqa: S608 - fixed names
            f" FROM {stage} ON CONFLICT (subject_id) DO UPDATE SET as_of = EXCLUDED.as_of,"
            " as_of_ts = EXCLUDED.as_of_ts, learnt_at = EXCLUDED.learnt_at"
            " WHERE cc_learnt.as_of_ts < EXCLUDED.as_of_ts RETURNING subject_id"
        ).fetchall()
    ]
    if newer:
        conn.execute("DELETE FROM cc_learnt_relations WHERE subject_id = ANY(%s)", (newer,))
        staged = _staged(conn, "cc_learnt_relations", _LEARNT_RELATION, relations)
        names = ", ".join(_LEARNT_RELATION)
        conn.execute(
            f"INSERT INTO cc_learnt_relations ({names}) SELECT {names} FROM {staged}"  # noqa: S608 - fixed names
            " WHERE subject_id = ANY(%s) ON CONFLICT DO NOTHING",
            (newer,),
        )
    return len(newer)


def _rows(store: LocalStore, table: str, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    return store._query(f"SELECT {', '.join(columns)} FROM {table}")  # noqa: S608 - fixed names


def read_stores(data_dir: Path) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """The rows of each small store of ``data_dir`` that exists (opened, hence migrated to
    this SDK's schema, first; a missing file is skipped, not created)."""
    found: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for name, (file, make) in STORES.items():
        path = data_dir / file
        if not path.exists():
            continue
        store = make(path)
        try:
            if name == "followups":
                found[name] = {
                    "rechecks": _rows(store, "rechecks", _RECHECK),
                    "watches": _rows(store, "watches", _WATCH),
                }
            elif name == "relations":
                found[name] = {
                    "learnt": _rows(store, "learnt", _LEARNT),
                    "relations": _rows(store, "relations", _LEARNT_RELATION),
                }
            elif name == "commitments":
                found[name] = {"commitments": _rows(store, "commitments", _COMMITMENT)}
            else:
                found[name] = {"disclosures": _rows(store, "disclosures", _DISCLOSURE)}
        finally:
            store.close()
    return found


def merge_stores(conn: Any, stores: dict[str, dict[str, list[tuple[Any, ...]]]]) -> dict[str, int]:
    """Merge what :func:`read_stores` read into the database (the caller's transaction);
    per kind of row, how many were inserted or brought up to date."""
    followups = stores.get("followups", {})
    relations = stores.get("relations", {})
    return {
        "rechecks": merge(conn, "cc_rechecks", _RECHECK, followups.get("rechecks", [])),
        "watches": merge(conn, "cc_watches", _WATCH, followups.get("watches", [])),
        "learnt_subjects": _merge_learnt(
            conn, relations.get("learnt", []), relations.get("relations", [])
        ),
        "commitments": merge(
            conn,
            "cc_commitments",
            _COMMITMENT,
            stores.get("commitments", {}).get("commitments", []),
        ),
        "disclosures": merge(
            conn,
            "cc_disclosures",
            _DISCLOSURE,
            stores.get("disclosures", {}).get("disclosures", []),
        ),
    }


def merge_journal_bookkeeping(
    conn: Any, objections: list[dict[str, Any]], receipts: list[dict[str, Any]]
) -> dict[str, int]:
    """Objections and report receipts of the journal's file (the caller's transaction)."""
    return {
        "objections": merge(
            conn,
            "cc_objections",
            OBJECTION_COLUMNS,
            [tuple(o[k] for k in OBJECTION_COLUMNS) for o in objections],
        ),
        "receipts": merge(
            conn,
            "cc_report_receipts",
            RECEIPT_COLUMNS,
            [tuple(r[k] for k in RECEIPT_COLUMNS) for r in receipts],
        ),
    }
