"""How the SQLite journal writes a batch of prepared records inside its write transaction.

:func:`write_rows` seals the whole batch first (the chain is known once the
head is read) and writes it a table at a time, one ``executemany`` each: most
of an append's cost, for a batch of checks, was one statement per row.
:func:`write_each` writes a record at a time, so that one that breaks a
constraint (a reused id) fails alone while the rest of the batch is stored;
:func:`write_rows` gives way to it when any record of the batch does.
Both run with the journal's lock held, inside its ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..._exceptions import JournalError
from .._journal_core import PreparedRecord, column_value, seal

__all__ = ["write_each", "write_rows"]

_INSERT_RECORD = (
    "INSERT INTO records(id, type, check_id, at, body, hash, prev_hash,"
    " outcome, category, source, recheck_of, action, case_id, inputs_hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_RECORD_SEQ = (
    "INSERT INTO records(seq, id, type, check_id, at, body, hash, prev_hash,"
    " outcome, category, source, recheck_of, action, case_id, inputs_hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_MEASURE = "INSERT INTO record_measures(seq, n, measure_id, status) VALUES (?, ?, ?, ?)"
_INSERT_AUTHORITY = "INSERT INTO record_authorities(seq, n, authority) VALUES (?, ?, ?)"
_INSERT_INPUTS = "INSERT OR IGNORE INTO input_bodies(hash, body) VALUES (?, ?)"


def case_id(record: dict[str, Any]) -> Any:
    """The ``case_id`` column of ``record``: a check's ``matter.case_id`` (as a report
    column holds it), else ``None``."""
    matter = record.get("matter")
    if record.get("type") != "check" or not isinstance(matter, dict):
        return None
    return column_value(matter.get("case_id"))


def write_rows(
    conn: sqlite3.Connection,
    batch: list[PreparedRecord],
    head: str | None,
    seq: int,
    known_inputs: dict[str, None],
) -> list[str] | None:
    """Write ``batch`` after the record ``head`` (sequence number ``seq``), one
    ``executemany`` a table; the keys of the inputs written, or ``None`` (and nothing
    written) when some record breaks a constraint.

    Each record takes the sequence number SQLite would give it (the head's plus one,
    in order), so that its measure rows are written in the same go. Inputs whose key
    is in ``known_inputs`` (committed before by this connection) are not written again.
    """
    records: list[tuple[Any, ...]] = []
    measures: list[tuple[Any, ...]] = []
    authorities: list[tuple[Any, ...]] = []
    bodies: dict[str, str | None] = {}
    for p in batch:
        body = seal(p, head)
        record = p.record
        digest = record["hash"]
        seq += 1
        records.append((seq, *_record_row(p, body, head)))
        measures.extend((seq, *m) for m in p.measure_rows)
        authorities.extend((seq, *a) for a in p.authority_rows)
        key = p.inputs_key
        if key is not None and key not in known_inputs and key not in bodies:
            # Equal inputs are stored once (most checks reuse a cached profile).
            bodies[key] = p.inputs
        head = digest
    conn.execute("SAVEPOINT batch_rows")
    try:
        conn.executemany(_INSERT_RECORD_SEQ, records)
    except sqlite3.IntegrityError:
        # Some record cannot be stored: undo the lot; the caller writes one at a time.
        conn.execute("ROLLBACK TO batch_rows")
        conn.execute("RELEASE batch_rows")
        return None
    conn.execute("RELEASE batch_rows")
    if measures:
        conn.executemany(_INSERT_MEASURE, measures)
    if authorities:
        conn.executemany(_INSERT_AUTHORITY, authorities)
    if bodies:
        conn.executemany(_INSERT_INPUTS, bodies.items())
    return list(bodies)


def write_each(
    conn: sqlite3.Connection,
    batch: list[PreparedRecord],
    head: str | None,
    known_inputs: dict[str, None],
    path: str,
) -> list[str]:
    """Write ``batch`` a record at a time after the record ``head``: one that breaks a
    constraint fails alone (its ``error`` set), the chain going on from the last good
    one. The keys of the inputs written."""
    stored: list[str] = []
    for p in batch:
        body = seal(p, head)
        record = p.record
        digest = record["hash"]
        try:
            # A constraint failure undoes only the failing statement (SQLite's
            # statement-level ABORT); the transaction and the rest of the batch go on.
            cur = conn.execute(_INSERT_RECORD, _record_row(p, body, head))
        except sqlite3.IntegrityError as exc:
            p.error = JournalError(
                f"journal {path}: record {record['id']!r} not stored: {exc}"
                " (an id may be journaled once)",
                path=path,
            )
            continue
        if p.measure_rows:
            seq = cur.lastrowid
            conn.executemany(_INSERT_MEASURE, [(seq, *m) for m in p.measure_rows])
            if p.authority_rows:
                conn.executemany(_INSERT_AUTHORITY, [(seq, *a) for a in p.authority_rows])
        key = p.inputs_key
        if key is not None and key not in known_inputs:
            # Equal inputs are stored once; a key committed before needs no statement.
            conn.execute(_INSERT_INPUTS, (key, p.inputs))
            stored.append(key)
        head = digest
    return stored


def _record_row(p: PreparedRecord, body: str, prev_hash: str | None) -> tuple[Any, ...]:
    """The ``records`` row of sealed ``p`` (its position aside), in the inserts' column order."""
    record = p.record
    return (
        record["id"],
        record["type"],
        p.check_id,
        p.at,
        body,
        record["hash"],
        prev_hash,
        *p.columns,
        case_id(record),
        p.inputs_key,
    )
