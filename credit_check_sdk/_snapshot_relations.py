"""Relations in the offline snapshot: the ``relations`` table beside ``entries``.

Contract v2 sends relations in the change feed (``relate``/``unrelate``) and in
the export (``{"relation": …}`` lines). The snapshot keeps them so that a
decision made offline follows punishment from an organisation to its people
and from a person to the organisations the person holds a role in (§三(二),
§三(七)), without having seen either subject live. A relation reads
"``related_id`` is the ``role`` of ``subject_id``"; the related party's side is
the role with ``_of``.

The meta key ``relations`` says the platform sends relations at all: once any
came, the snapshot is the source of relations (none listed for a subject means
it has none); before, decisions fall back on the relations learnt from live
profiles (:mod:`credit_check_sdk._relations`).

>>> import sqlite3
>>> conn = sqlite3.connect(":memory:")
>>> ensure_table(conn)
>>> conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)") and None
>>> from credit_check_sdk._models import Relation
>>> r = Relation(subject_id="91442000MA4UJ2KQ57", role="director", related_id="442000199001011233")
>>> store_relations(conn, [r])
>>> related_of(conn, "442000199001011233")
[('director_of', '91442000MA4UJ2KQ57')]
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, ValidationError

from ._client import RelationChange
from ._exceptions import InvalidSubjectError
from ._ids import SubjectKind, validate_id
from ._models import Relation

__all__ = [
    "RELATIONS_SCHEMA",
    "apply_relation_changes",
    "clear",
    "ensure_table",
    "is_relation_line",
    "kind_of",
    "parse_relation_lines",
    "related_of",
    "sends_relations",
    "store_relations",
]

RELATIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS relations (
    subject_id TEXT NOT NULL,
    role TEXT NOT NULL,
    related_id TEXT NOT NULL,
    since TEXT,
    seq INTEGER,
    PRIMARY KEY (subject_id, role, related_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS relations_related ON relations(related_id);
"""

_OF = "_of"


def ensure_table(conn: sqlite3.Connection) -> None:
    """Create the table in a snapshot file made before it existed (no-op otherwise)."""
    conn.executescript(RELATIONS_SCHEMA)


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
    ordered = sorted(changes, key=lambda c: c.seq)
    for op, run in itertools.groupby(ordered, key=lambda c: c.op):
        batch = list(run)
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


def clear(conn: sqlite3.Connection) -> None:
    """Forget every relation (an export load that starts again)."""
    conn.execute("DELETE FROM relations")


def is_relation_line(line: str) -> bool:
    """Whether an export line is a relation (``{"relation": …}``) rather than an entry.

    >>> is_relation_line('{"relation": {}}'), is_relation_line('{"entry_id": "BL-1"}')
    (True, False)
    """
    return line[1:].lstrip().startswith('"relation"')


class _RelationLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    relation: Relation


def parse_relation_lines(lines: Sequence[str]) -> tuple[list[Relation], int | None]:
    """The relations of export lines, or ``([], i)`` with the index of the first bad one."""
    out: list[Relation] = []
    validate = _RelationLine.model_validate_json
    for i, line in enumerate(lines):
        try:
            out.append(validate(line).relation)
        except ValidationError:
            return [], i
    return out, None


def kind_of(subject_id: str) -> SubjectKind:
    """The kind of a party named in a relation, from its id (a snapshot holds no subjects).

    >>> kind_of("91442000MA4UJ2KQ57"), kind_of("442000199001011233")
    ('legal_entity', 'natural_person')
    """
    try:
        return validate_id(subject_id)[1]
    except InvalidSubjectError:
        # An all-digit id valid both ways: mostly a person's (an organisation's code
        # nearly always has letters).
        return "natural_person"


def sends_relations(conn: sqlite3.Connection) -> bool:
    """Whether the platform has sent any relation into this snapshot."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'relations'").fetchone()
    except sqlite3.OperationalError:
        return False
    return row is not None


def related_of(conn: sqlite3.Connection, subject_id: str) -> list[tuple[str, str]]:
    """``(role, other party)`` for every relation ``subject_id`` takes part in: the persons
    of an organisation by role, and the organisations of a party by ``role_of``."""
    try:
        rows = conn.execute(
            "SELECT role, related_id FROM relations WHERE subject_id = ? "
            "UNION ALL SELECT role || ?, subject_id FROM relations WHERE related_id = ? "
            "ORDER BY 1, 2",
            (subject_id, _OF, subject_id),
        ).fetchall()
    except sqlite3.OperationalError:  # a snapshot file made before relations existed
        return []
    return [(str(role), str(other)) for role, other in rows]
