"""``credit-check storage import``: a host's SQLite state moved into the shared database.

An agency that starts with one host (SQLite files in ``data_dir``) and moves to
a cluster keeps everything it holds durably. :func:`import_sqlite_state` copies,
in one transaction:

- the journal, as that host's writer chain: every record of
  ``journal.sqlite3`` in journal order, bodies and hashes unchanged (each
  ``prev_hash`` still names the one before it: the SQLite journal *is* one
  chain), with its report columns, measure and list-authority rows and inputs,
  and each record's **upload state as the host left it**: a record the platform
  already answered (accepted, duplicate, rejected) is not sent again, a pending
  one is sent by whichever instance uploads next (the platform dedupes by id, so
  a repeat would be harmless, but it is not needed);
- the journal file's objections and report receipts;
- the small stores (:mod:`._import_stores`): pending and finished re-checks,
  watches, learnt relations, licensing commitments, disclosures with their
  posting state.

Claims (on records to upload, on re-checks to run) are not copied: the host is
stopped, nobody holds them. The offline snapshot is not copied either: the
cluster's is built from the platform's list export and change feed by the first
instance that syncs (``credit-check snapshot sync``), as after a fresh install.
The SQLite files are read (migrated to this SDK's schema first, as any start
would) and left in place.

The chain is registered under the writer id kept in ``data_dir/writer.json``
(made now when there is none), so that the host, once pointed at the database,
goes on writing the same chain. Running the import again is safe: records the
database holds already are not copied again (a record the host wrote since is,
behind them), upload states and the small stores' rows only move forward, and a
second run of an unchanged folder changes nothing. A journal whose chain the
database holds with other records at the same places (the host wrote to both)
is refused, as is one that does not verify.

>>> result = import_sqlite_state(db, Path("/var/lib/credit-check"))  # doctest: +SKIP
>>> result["records"], result["writer"]  # doctest: +SKIP
(120000, 'app-01-3f2a9c1b7d4e')
"""

from __future__ import annotations

import json
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..._exceptions import JournalError
from .._journal_core import derive_authorities, derive_columns, key_columns, utc_text
from ..sqlite.journal import SQLiteJournal
from ._columns import detail_columns, pg_text
from ._database import Database
from ._import_stores import STORES, merge_journal_bookkeeping, merge_stores, read_stores
from ._writer import keep_writer_id

__all__ = ["SNAPSHOT_NOTE", "import_sqlite_state"]

JOURNAL_FILE = "journal.sqlite3"

#: What the command says of the snapshot, which it does not copy.
SNAPSHOT_NOTE = (
    "the offline snapshot is not copied: the first instance to sync builds the cluster's"
    " from the platform's list export and change feed (credit-check snapshot sync)"
)

_RECORD_COLUMNS = (
    "gseq, writer_id, wseq, id, type, check_id, at, body, hash, prev_hash, outcome, category,"
    " source, recheck_of, action, subject_id, subject_kind, matter_code, case_id, reason"
)
_UPLOAD_COLUMNS = "gseq, upload_state, upload_detail, uploaded_at"


#: Records written to the database per round (positions, records, measure rows, inputs):
#: memory stays flat however long the host's journal.
_CHUNK = 2000


class _Journal:
    """The host's journal file, verified, read while the import's transaction is open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = SQLiteJournal(path)
        try:
            verified = self.source.verify()
            if not verified.ok:
                first = verified.problems[0]
                raise JournalError(
                    f"journal {path} does not verify ({len(verified.problems)} problem(s),"
                    f" first: {first.kind} at #{first.seq}); run credit-check journal verify",
                    path=str(path),
                )
            self.objections = self.source.objection_store.select()
            self.receipts = self.source.receipt_store.select()
        except BaseException:
            self.source.close()
            raise

    def rows(self) -> Iterator[tuple[dict[str, Any], str, str | None, str | None]]:
        """Each record in journal order with its upload state, detail and time, as the
        host left them (one read of the file: a consistent view)."""
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as raw:
            for body, state, detail, at in raw.execute(
                "SELECT body, upload_state, upload_detail, uploaded_at FROM records ORDER BY seq"
            ):
                yield json.loads(body), state, detail, at

    def close(self) -> None:
        self.source.close()


def import_sqlite_state(db: Database, data_dir: Path) -> dict[str, Any]:
    """Copy ``data_dir``'s SQLite state into the database (one transaction).

    Returns ``writer`` (``None`` without a journal), ``records`` copied now,
    ``records_present`` (held by the database already), ``upload_states`` brought
    forward, the chain's ``head_hash``, and per store how many rows were inserted or
    brought up to date (``objections``, ``receipts``, ``rechecks``, ``watches``,
    ``learnt_subjects``, ``commitments``, ``disclosures``). Raises
    :class:`~credit_check_sdk.JournalError` when ``data_dir`` holds no SQLite state,
    the journal does not verify, or the database holds other records of its chain.
    """
    data_dir = Path(data_dir)
    path = data_dir / JOURNAL_FILE
    files = [JOURNAL_FILE, *(file for file, _ in STORES.values())]
    if not any((data_dir / f).exists() for f in files):
        raise JournalError(
            f"no SQLite state in {data_dir} (none of {', '.join(files)})", path=str(data_dir)
        )
    stores = read_stores(data_dir)
    result: dict[str, Any] = {
        "writer": None,
        "records": 0,
        "records_present": 0,
        "upload_states": 0,
        "head_hash": None,
        "objections": 0,
        "receipts": 0,
    }
    journal = _Journal(path) if path.exists() else None
    try:
        if journal is not None:
            host = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname())
            result["writer"] = keep_writer_id(
                data_dir, f"{host[:40] or 'host'}-{uuid.uuid4().hex[:12]}"
            )
        with db.transaction() as conn:
            if journal is not None:
                result.update(_merge_chain(conn, db.shown, journal, result["writer"]))
                result.update(merge_journal_bookkeeping(conn, journal.objections, journal.receipts))
            result.update(merge_stores(conn, stores))
    finally:
        if journal is not None:
            journal.close()
    return result


def _merge_chain(conn: Any, where: str, journal: _Journal, writer: str) -> dict[str, Any]:
    """The host's records behind what the database holds of its chain; upload states of
    those it holds already brought forward."""
    now = utc_text(datetime.now(timezone.utc))
    conn.execute(
        "INSERT INTO cc_journal_writers (writer_id, head_hash, head_wseq, created_at,"
        " updated_at, origin) VALUES (%s, NULL, 0, %s, %s, %s)"
        " ON CONFLICT (writer_id) DO NOTHING",
        (writer, now, now, f"import of {journal.path}"),
    )
    head_hash, held = conn.execute(
        "SELECT head_hash, head_wseq FROM cc_journal_writers WHERE writer_id = %s FOR UPDATE",
        (writer,),
    ).fetchone()
    held = int(held)
    answered: list[tuple[str, str, str | None, str | None]] = []
    new: list[tuple[dict[str, Any], str, str | None, str | None]] = []
    moved = copied = count = 0
    last_hash: str | None = None
    for count, (record, state, detail, at) in enumerate(journal.rows(), start=1):
        last_hash = record["hash"]
        if count <= held:
            if count == held:
                _same_place(conn, where, journal, writer, count, last_hash)
            if state != "pending":
                answered.append((record["id"], state, detail, at))
                if len(answered) >= _CHUNK:
                    moved += _advance_upload_states(conn, answered)
                    answered = []
            continue
        new.append((record, state, detail, at))
        if len(new) >= _CHUNK:
            _copy_records(conn, journal, writer, held + copied, new)
            copied += len(new)
            new = []
    if 0 < count < held:
        # The database holds more of the chain than the file: the host went on there.
        _same_place(conn, where, journal, writer, count, last_hash)
    moved += _advance_upload_states(conn, answered)
    if new:
        _copy_records(conn, journal, writer, held + copied, new)
        copied += len(new)
    if copied:
        head_hash = last_hash
        conn.execute(
            "UPDATE cc_journal_writers SET head_hash = %s, head_wseq = %s, updated_at = %s"
            " WHERE writer_id = %s",
            (head_hash, held + copied, now, writer),
        )
    return {
        "records": copied,
        "records_present": min(held, count),
        "upload_states": moved,
        "head_hash": head_hash,
    }


def _same_place(
    conn: Any, where: str, journal: _Journal, writer: str, wseq: int, hash_: str | None
) -> None:
    """Refuse a file whose record ``wseq`` is not the database's at that place."""
    found = conn.execute(
        "SELECT hash FROM cc_journal_records WHERE writer_id = %s AND wseq = %s", (writer, wseq)
    ).fetchone()
    if found is None or found[0] != hash_:
        raise JournalError(
            f"writer {writer} has other records at the same places of its chain in {where}"
            f" than {journal.path} (#{wseq} differs): the host wrote to both; nothing imported",
            path=where,
        )


def _advance_upload_states(
    conn: Any, answered: list[tuple[str, str, str | None, str | None]]
) -> int:
    """The platform's answers the host got for records the database holds still pending
    (an earlier import, then more uploads from the host); how many moved."""
    if not answered:
        return 0
    ids, states, details, times = (list(column) for column in zip(*answered, strict=True))
    return int(
        conn.execute(
            "UPDATE cc_journal_uploads u SET upload_state = s.state, upload_detail = s.detail,"
            " uploaded_at = s.at, claimed_by = NULL, claimed_until = NULL"
            " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])"
            " AS s(id, state, detail, at) JOIN cc_journal_records r ON r.id = s.id"
            " WHERE u.gseq = r.gseq AND u.upload_state = 'pending'",
            (ids, states, details, times),
        ).rowcount
    )


def _copy_records(
    conn: Any,
    journal: _Journal,
    writer: str,
    before: int,
    new: list[tuple[dict[str, Any], str, str | None, str | None]],
) -> None:
    """``new`` (the host's records after its first ``before``) as rows of the journal's
    tables, each with a position taken now."""
    positions = [
        int(g)
        for (g,) in conn.execute(
            "SELECT nextval('cc_journal_gseq') FROM generate_series(1, %s)", (len(new),)
        ).fetchall()
    ]
    measures: list[tuple[int, int, Any, Any]] = []
    authorities: list[tuple[int, int, str]] = []
    inputs: list[tuple[str, str]] = []
    uploads: list[tuple[int, str, str | None, str | None]] = []
    with conn.cursor() as cur:
        with cur.copy(f"COPY cc_journal_records ({_RECORD_COLUMNS}) FROM STDIN") as copy:
            for index, (gseq, (record, state, detail, at)) in enumerate(
                zip(positions, new, strict=True)
            ):
                kind, check_id, when = key_columns(record)
                columns, measure_rows = derive_columns(record)
                body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                copy.write_row(
                    (
                        gseq,
                        writer,
                        before + index + 1,
                        record["id"],
                        kind,
                        check_id,
                        when,
                        body,
                        record["hash"],
                        record.get("prev_hash"),
                        *(pg_text(v) for v in columns),
                        *detail_columns(record),
                    )
                )
                uploads.append((gseq, state, detail, at if state != "pending" else None))
                measures.extend((gseq, n, pg_text(mid), pg_text(st)) for n, mid, st in measure_rows)
                found = journal.source.inputs_for(record["id"]) if kind == "check" else None
                if found is not None:
                    inputs.append(
                        (record["id"], json.dumps(found, sort_keys=True, ensure_ascii=False))
                    )
                    authorities.extend((gseq, n, a) for n, a in derive_authorities(record, found))
        with cur.copy(f"COPY cc_journal_uploads ({_UPLOAD_COLUMNS}) FROM STDIN") as copy:
            for upload in uploads:
                copy.write_row(upload)
        with cur.copy("COPY cc_journal_measures (gseq, n, measure_id, status) FROM STDIN") as copy:
            for measure in measures:
                copy.write_row(measure)
        with cur.copy("COPY cc_journal_authorities (gseq, n, authority) FROM STDIN") as copy:
            for authority in authorities:
                copy.write_row(authority)
    if inputs:
        # A check's inputs may be in the database already (a spooled copy drained there).
        ids, bodies = (list(column) for column in zip(*inputs, strict=True))
        conn.execute(
            "INSERT INTO cc_journal_inputs (check_id, body)"
            " SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT (check_id) DO NOTHING",
            (ids, bodies),
        )
