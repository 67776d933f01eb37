"""Moving a host's SQLite journal into the shared database, as that host's writer chain.

An agency that starts with one host (the SQLite journal in ``data_dir``) and
moves to a cluster keeps its history: :func:`import_sqlite_journal` copies every
record of ``data_dir/journal.sqlite3`` into PostgreSQL in journal order, bodies
and hashes unchanged (each record's ``prev_hash`` still names the one before it:
the SQLite journal *is* one chain), with its upload state, inputs, measure rows,
and the file's objections and report receipts. The chain is registered under
the writer id kept in ``data_dir/writer.json`` (made now when there is none), so
that the host, once pointed at the database, goes on writing the same chain.

The SQLite journal is verified first (a broken chain is not imported) and left
in place. Importing twice is refused: the writer's chain exists already.

>>> result = import_sqlite_journal(db, Path("/var/lib/credit-check"))  # doctest: +SKIP
>>> result["records"], result["writer"]  # doctest: +SKIP
(120000, 'app-01-3f2a9c1b7d4e')
"""

from __future__ import annotations

import json
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..._exceptions import JournalError
from .._journal_core import derive_columns, key_columns, utc_text
from ..sqlite.journal import SQLiteJournal
from ._columns import detail_columns, pg_text
from ._database import Database
from ._writer import keep_writer_id

__all__ = ["import_sqlite_journal"]

_RECORD_COLUMNS = (
    "gseq, writer_id, wseq, id, type, check_id, at, body, hash, prev_hash, outcome, category,"
    " source, recheck_of, action, subject_id, subject_kind, matter_code, case_id, reason,"
    " upload_state, upload_detail, uploaded_at"
)


def import_sqlite_journal(db: Database, data_dir: Path) -> dict[str, Any]:
    """Copy ``data_dir``'s SQLite journal into the database as one writer's chain.

    Returns ``writer``, ``records``, ``objections`` and ``receipts`` copied and the
    chain's ``head_hash``. Raises :class:`~credit_check_sdk.JournalError` when there is
    no journal, its chain does not verify, or the writer's chain is in the database
    already.
    """
    path = Path(data_dir) / "journal.sqlite3"
    if not path.exists():
        raise JournalError(f"no SQLite journal in {data_dir} (journal.sqlite3)", path=str(path))
    source = SQLiteJournal(path)
    try:
        verified = source.verify()
        if not verified.ok:
            first = verified.problems[0]
            raise JournalError(
                f"journal {path} does not verify ({len(verified.problems)} problem(s), first:"
                f" {first.kind} at #{first.seq}); run credit-check journal verify",
                path=str(path),
            )
        host = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname())
        writer = keep_writer_id(Path(data_dir), f"{host[:40] or 'host'}-{uuid.uuid4().hex[:12]}")
        rows, measures, authorities, inputs, head = _rows(source, writer)
        objections = source.objection_store.select()
        receipts = source.receipt_store.select()
    finally:
        source.close()
    now = utc_text(datetime.now(timezone.utc))
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO cc_journal_writers (writer_id, head_hash, head_wseq, created_at,"
            " updated_at, origin) VALUES (%s, NULL, 0, %s, %s, %s)"
            " ON CONFLICT (writer_id) DO NOTHING",
            (writer, now, now, f"import of {path}"),
        )
        found = conn.execute(
            "SELECT head_wseq FROM cc_journal_writers WHERE writer_id = %s FOR UPDATE", (writer,)
        ).fetchone()
        wseq = found[0] if found is not None else 0
        if int(wseq) > 0:
            raise JournalError(
                f"writer {writer} of {data_dir} has a chain in {db.shown} already"
                " (imported before, or the host writes there now)",
                path=db.shown,
            )
        positions = [
            int(g)
            for (g,) in conn.execute(
                "SELECT nextval('cc_journal_gseq') FROM generate_series(1, %s)", (len(rows),)
            ).fetchall()
        ]
        with conn.cursor() as cur:
            with cur.copy(f"COPY cc_journal_records ({_RECORD_COLUMNS}) FROM STDIN") as copy:
                for gseq, row in zip(positions, rows, strict=True):
                    copy.write_row((gseq, *row))
            with cur.copy(
                "COPY cc_journal_measures (gseq, n, measure_id, status) FROM STDIN"
            ) as copy:
                for index, n, mid, status in measures:
                    copy.write_row((positions[index], n, mid, status))
            with cur.copy("COPY cc_journal_authorities (gseq, n, authority) FROM STDIN") as copy:
                for index, n, authority in authorities:
                    copy.write_row((positions[index], n, authority))
            with cur.copy("COPY cc_journal_inputs (check_id, body) FROM STDIN") as copy:
                for check_id, body in inputs:
                    copy.write_row((check_id, body))
        for o in objections:
            conn.execute(
                "INSERT INTO cc_objections (objection_id, check_id, entry_id, subject_id,"
                " filed_at, status, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (objection_id) DO NOTHING",
                tuple(
                    o[k]
                    for k in (
                        "objection_id",
                        "check_id",
                        "entry_id",
                        "subject_id",
                        "filed_at",
                        "status",
                        "updated_at",
                    )
                ),
            )
        for r in receipts:
            conn.execute(
                "INSERT INTO cc_report_receipts (period, version, receipt_id, submitted_at,"
                " body_hash) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                tuple(
                    r[k] for k in ("period", "version", "receipt_id", "submitted_at", "body_hash")
                ),
            )
        conn.execute(
            "UPDATE cc_journal_writers SET head_hash = %s, head_wseq = %s, updated_at = %s"
            " WHERE writer_id = %s",
            (head, len(rows), now, writer),
        )
    return {
        "writer": writer,
        "records": len(rows),
        "objections": len(objections),
        "receipts": len(receipts),
        "head_hash": head,
    }


def _rows(
    source: SQLiteJournal, writer: str
) -> tuple[
    list[tuple[Any, ...]],
    list[tuple[int, int, Any, Any]],
    list[tuple[int, int, str]],
    list[tuple[str, str]],
    str | None,
]:
    """The records of ``source`` as rows of ``cc_journal_records`` (without ``gseq``), their
    measure rows and list-authority rows (by the record's index), inputs, and the chain's
    head hash."""
    rows: list[tuple[Any, ...]] = []
    measures: list[tuple[int, int, Any, Any]] = []
    authorities: list[tuple[int, int, str]] = []
    inputs: list[tuple[str, str]] = []
    head: str | None = None
    for index, record in enumerate(source.iter_records()):
        kind, check_id, at = key_columns(record)
        columns, measure_rows = derive_columns(record)
        state = source.upload_state(record["id"]) or ("pending", None)
        body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        rows.append(
            (
                writer,
                index + 1,
                record["id"],
                kind,
                check_id,
                at,
                body,
                record["hash"],
                record.get("prev_hash"),
                *(pg_text(v) for v in columns),
                *detail_columns(record),
                state[0],
                state[1],
                now_if(state[0]),
            )
        )
        measures.extend((index, n, pg_text(mid), pg_text(st)) for n, mid, st in measure_rows)
        if kind == "check":
            found = source.inputs_for(record["id"])
            if found is not None:
                inputs.append((record["id"], json.dumps(found, sort_keys=True, ensure_ascii=False)))
        head = record["hash"]
    return rows, measures, authorities, inputs, head


def now_if(state: str) -> str | None:
    """When a record already answered by the platform is noted as uploaded: the import's time.

    >>> now_if("pending") is None
    True
    """
    return None if state == "pending" else utc_text(datetime.now(timezone.utc))
