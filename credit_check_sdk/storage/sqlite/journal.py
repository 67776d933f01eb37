"""The SQLite journal: every check and every action, durable and hash-chained, in one file.

A record is on disk when :meth:`SQLiteJournal.append` returns: the file runs in
WAL mode with ``synchronous=FULL``, so a committed record survives the process
being killed and, as far as SQLite and the disk honour ``fsync``, power loss.
Each record carries ``prev_hash`` (the hash of the record before it in this
journal) and ``hash`` (SHA-256 of its canonical JSON, see
:func:`~credit_check_sdk.storage.canonical_hash`), so a removed, altered or
reordered record shows in :meth:`SQLiteJournal.verify`.

Several threads may share one journal: appends that arrive while a commit is in
flight are written together in the next transaction (group commit,
:class:`~credit_check_sdk.storage._journal_core.GroupCommit`), one ``fsync`` for
the lot, and each caller returns only once the transaction holding its own
record has committed. Several processes may append to the same file: every
write transaction is ``BEGIN IMMEDIATE`` and reads the head of the chain inside it.

The journal is also the upload queue (the records' upload state and claims,
:mod:`~credit_check_sdk.storage.sqlite.uploads`); objections and report receipts
are kept in the same file (:mod:`~credit_check_sdk.storage.sqlite.bookkeeping`).

>>> import tempfile, os
>>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "journal.db"))
>>> r = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
>>> from credit_check_sdk.storage import canonical_hash
>>> r["prev_hash"] is None and r["hash"] == canonical_hash(r)
True
>>> j.verify().ok
True
>>> j.close()
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..._exceptions import JournalError
from .._data import ObjectionStatus
from .._journal_core import (
    GroupCommit,
    PreparedRecord,
    prepare_record,
    time_bounds,
    utc_text,
)
from .._journal_verify import ChainVerifier, ColumnMismatch, ColumnVerifyResult, VerifyResult
from .._journal_verify import column_mismatches as _column_mismatches
from ._journal_writes import write_each, write_rows
from .bookkeeping import SQLiteObjections, SQLiteReceipts
from .report import SQLiteReportSource
from .uploads import JournalUploads

__all__ = ["SQLiteJournal"]

# Inputs keys remembered per process (about 70 bytes each).
_KNOWN_INPUTS = 4096


# Rows fetched per round trip when streaming the journal (iter_records, verify):
# the connection lock is released between pages so appends are not held up.
_PAGE = 500


def _window(column: str, since: datetime | None, until: datetime | None) -> tuple[str, list[str]]:
    """SQL ``AND column >= ? AND column < ?`` for the bounds given, with their values."""
    lo, hi = time_bounds(since, until)
    where, params = "", []
    if lo is not None:
        where, params = f" AND {column} >= ?", [lo]
    if hi is not None:
        where += f" AND {column} < ?"
        params.append(hi)
    return where, params


class SQLiteJournal(JournalUploads):
    """A durable, hash-chained journal of check and action records in one SQLite file,
    and its upload queue.

    ``busy_timeout`` is how long a write waits for another process holding the
    file's write lock before :class:`~credit_check_sdk.JournalError` is raised.

    >>> import tempfile, os
    >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
    >>> j.counts()
    {'pending': 0, 'accepted': 0, 'duplicate': 0, 'rejected': 0}
    >>> j.close()
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        # Keys of inputs this process has committed (insertion-ordered, bounded): rows of
        # input_bodies are never deleted, so a key found here needs no INSERT.
        self._known_inputs: dict[str, None] = {}
        super().__init__(path, busy_timeout=busy_timeout)
        self._group = GroupCommit(self._lock, self._write_batch, path=self.path)
        self._objections = SQLiteObjections(self)
        self._receipts = SQLiteReceipts(self)

    def _reset_queue(self) -> None:
        self._group.reset(self._lock)
        self._known_inputs = {}

    def _remember_inputs(self, keys: list[str]) -> None:
        """Note inputs committed to ``input_bodies`` (a bounded memory: the newest kept)."""
        known = self._known_inputs
        for key in keys:
            known[key] = None
        # The oldest found in one pass: next(iter()) at each deletion scanned again
        # past every key deleted before it (a batch of checks deletes a thousand).
        for old in list(itertools.islice(known, max(0, len(known) - _KNOWN_INPUTS))):
            del known[old]

    @property
    def _queue(self) -> list[PreparedRecord]:
        """Appends waiting for a group commit."""
        return self._group.queue

    # --- writing ----------------------------------------------------------------

    def append(
        self,
        record: dict[str, Any],
        *,
        inputs: dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Chain, hash and durably store ``record``; return it with ``prev_hash`` and ``hash`` set.

        ``record`` needs ``type`` (``check`` or ``action``), a unique ``id`` and
        ``checked_at`` or ``acted_at`` (RFC 3339 with offset); any ``prev_hash``
        and ``hash`` it carries are replaced. ``inputs`` (check records only)
        stores what the check was decided from, for :meth:`inputs_for`.
        ``deadline`` is taken for the interface's sake: a local file has no
        spool to turn to, the record is committed whatever the time. Raises
        :class:`~credit_check_sdk.InvalidRequestError` for a malformed record
        and :class:`~credit_check_sdk.JournalError` when it cannot be stored;
        it never drops one silently.

        >>> import tempfile, os
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> c = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"},
        ...              inputs={"catalog_version": "2026.11.1"})
        >>> a = j.append({"type": "action", "id": "a1", "check_id": "c1",
        ...               "acted_at": "2026-11-29T08:05:00+08:00", "action": "applied"})
        >>> a["prev_hash"] == c["hash"]
        True
        >>> j.close()
        """
        prepared = prepare_record(record, inputs)
        self._group.submit([prepared])
        return prepared.record

    def append_many(
        self,
        items: list[tuple[dict[str, Any], dict[str, Any] | None]],
        *,
        deadline: float | None = None,
    ) -> list[dict[str, Any]]:
        """Append several ``(record, inputs)`` pairs in one durable transaction, in order.

        What :meth:`append` does for one record, for a batch of checks (one
        ``fsync`` instead of one per record). Any malformed record fails the
        call before anything is stored.

        >>> import tempfile, os
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> rs = j.append_many([
        ...     ({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"}, None),
        ...     ({"type": "check", "id": "c2", "checked_at": "2026-11-29T08:00:01+08:00"}, None)])
        >>> rs[1]["prev_hash"] == rs[0]["hash"]
        True
        >>> j.close()
        """
        prepared = [prepare_record(record, inputs) for record, inputs in items]
        self._group.submit(prepared)
        return [p.record for p in prepared]

    def _write_batch(self, batch: list[PreparedRecord]) -> None:
        """Write ``batch`` in one transaction (the group commit's write; ``self._lock`` held).

        One bad record (a reused id) fails alone; the chain continues from the
        last good one.
        """
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise JournalError(
                f"journal {self.path}: cannot start a write: {exc}", path=self.path
            ) from exc
        try:
            # Read the head inside the write transaction: another process
            # may have appended since our last write.
            row = conn.execute("SELECT hash, seq FROM records ORDER BY seq DESC LIMIT 1").fetchone()
            last_seq: int = row[1] if row else 0
            head: str | None = row[0] if row else None
            if any(p.measure_rows for p in batch):
                # Sequence numbers after the head are free again should the last
                # record ever have been deleted: so must their measure rows be.
                conn.execute("DELETE FROM record_measures WHERE seq > ?", (last_seq,))
                if any(p.authority_rows for p in batch):
                    conn.execute("DELETE FROM record_authorities WHERE seq > ?", (last_seq,))
            known = self._known_inputs
            stored = write_rows(conn, batch, head, last_seq, known) if len(batch) > 1 else None
            if stored is None:
                stored = write_each(conn, batch, head, known, self.path)
            conn.execute("COMMIT")
            self._remember_inputs(stored)
        except BaseException as exc:
            self._rollback(conn)
            if isinstance(exc, sqlite3.Error):
                raise JournalError(
                    f"journal {self.path}: write failed: {exc}", path=self.path
                ) from exc
            raise

    # --- reading ----------------------------------------------------------------

    def get(self, id: str) -> dict[str, Any] | None:
        """The record with this id, or None.

        >>> import tempfile, os
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> j.get("nope") is None
        True
        >>> j.close()
        """
        rows = self._query("SELECT body FROM records WHERE id = ?", (id,))
        return json.loads(rows[0][0]) if rows else None

    def head_hash(self) -> str | None:
        """The hash of the newest record (the one the next record will chain to), or None."""
        rows = self._query("SELECT hash FROM records ORDER BY seq DESC LIMIT 1", ())
        return rows[0][0] if rows else None

    def inputs_for(self, check_id: str) -> dict[str, Any] | None:
        """What check ``check_id`` was decided from (as given to :meth:`append`), or None."""
        rows = self._query(
            "SELECT b.body FROM records AS r JOIN input_bodies AS b ON b.hash = r.inputs_hash"
            " WHERE r.id = ?",
            (check_id,),
        )
        if not rows or rows[0][0] is None:
            return None
        value: dict[str, Any] = json.loads(rows[0][0])
        return value

    def degraded_without_recheck(self, since: datetime) -> list[dict[str, Any]]:
        """Check records decided without the live platform (snapshot or no data) since
        ``since`` that no later record re-checks (``recheck_of``), oldest first.

        The durable source of truth for what still needs a live re-check.

        >>> import tempfile, os
        >>> from datetime import datetime, timezone
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "source": "none",
        ...               "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> [r["id"] for r in j.degraded_without_recheck(datetime(2026, 1, 1, tzinfo=timezone.utc))]
        ['c1']
        >>> j.close()
        """
        rows = self._query(
            "SELECT body FROM records AS c WHERE c.type = 'check'"
            " AND c.source IN ('snapshot', 'none') AND c.recheck_of IS NULL AND c.at >= ?"
            " AND NOT EXISTS (SELECT 1 FROM records AS r WHERE r.recheck_of = c.id)"
            " ORDER BY c.seq",
            (utc_text(since),),
        )
        return [json.loads(r[0]) for r in rows]

    def latest_check_for_case(self, subject_id: str, case_id: str) -> dict[str, Any] | None:
        """The newest check record of ``subject_id`` for the application ``case_id``
        (``matter.case_id``), or None; a few rows however long the journal is (an index).

        >>> import tempfile, os
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "outcome": "normal",
        ...               "matter": {"category": "bidding", "case_id": "ZSGC-2026-118"},
        ...               "subject": {"id": "91442000MA4UJ2KQ57", "kind": "legal_entity"},
        ...               "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> j.latest_check_for_case("91442000MA4UJ2KQ57", "ZSGC-2026-118")["outcome"]
        'normal'
        >>> j.close()
        """
        # case_id = ? implies case_id IS NOT NULL: SQLite uses the partial index
        # records_case, whose entries are in seq order for one case id (no sort).
        rows = self._query(
            "SELECT body FROM records WHERE case_id = ? AND type = 'check' AND json_valid(body)"
            " AND json_extract(body, '$.subject.id') = ?"
            " ORDER BY seq DESC LIMIT 1",
            (case_id, subject_id),
        )
        if not rows:
            return None
        value: dict[str, Any] = json.loads(rows[0][0])
        return value

    def iter_records(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Records in journal order whose ``checked_at``/``acted_at`` is in ``[since, until)``.

        Both bounds must carry a timezone. Rows are read a page at a time, so
        appending while iterating is safe (new records may or may not appear).

        >>> import tempfile, os
        >>> from datetime import datetime, timezone
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> [r["id"] for r in j.iter_records(since=datetime(2026, 11, 1, tzinfo=timezone.utc))]
        ['c1']
        >>> j.close()
        """
        where, params = _window("at", since, until)
        last = 0
        while True:
            rows = self._query(
                f"SELECT seq, body FROM records WHERE seq > ?{where} ORDER BY seq LIMIT ?",  # noqa: S608 - fixed fragments, values bound
                (last, *params, _PAGE),
            )
            for seq, body in rows:
                last = seq
                yield json.loads(body)
            if len(rows) < _PAGE:
                return

    # --- verifying --------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Recompute every hash and check every link and sequence number.

        >>> import tempfile, os
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> j.verify()
        VerifyResult(ok=True, checked=1, problems=[])
        >>> j.close()
        """
        verifier = ChainVerifier()
        last = 0
        while True:
            rows = self._query(
                "SELECT seq, id, hash, prev_hash, body FROM records WHERE seq > ?"
                " ORDER BY seq LIMIT ?",
                (last, _PAGE),
            )
            for row in rows:
                verifier.feed(*row)
                last = row[0]
            if len(rows) < _PAGE:
                return verifier.finish()

    def verify_columns(self, *, limit: int | None = 10_000) -> ColumnVerifyResult:
        """Re-derive every record's report columns, measure rows and list authorities from
        its body (and a check's inputs), and name each stored value that disagrees.

        :meth:`verify` proves the bodies untouched; the monthly report counts from plain
        columns (``type``, ``check_id``, ``at``, ``outcome``, ``category``, ``source``,
        ``recheck_of``, ``action``), from the ``record_measures`` rows and from the
        ``record_authorities`` rows (the authorities of the entries behind each measure,
        read from the check's inputs), which are derived when a record is appended and
        are not hashed. This walks the journal a page at a time (memory stays flat
        however long it is), derives those values with the code :meth:`append` uses,
        and compares. ``limit`` bounds how many mismatches are kept (all are counted);
        ``None`` keeps every one.

        >>> import tempfile, os, sqlite3
        >>> j = SQLiteJournal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "outcome": "restriction",
        ...               "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> j.verify_columns().ok
        True
        >>> with sqlite3.connect(j.path) as raw:
        ...     _ = raw.execute("UPDATE records SET outcome = 'normal' WHERE id = 'c1'")
        >>> j.verify_columns().mismatches
        [ColumnMismatch(seq=1, id='c1', column='outcome', stored='normal', derived='restriction')]
        >>> j.close()
        """
        result = ColumnVerifyResult(ok=True, checked=0)
        last = 0
        while True:
            page = self._verify_page(last)
            if page is None:
                break
            rows, measures, authorities = page
            for seq, rid, text, inputs, *stored in rows:
                result.checked += 1
                for mismatch in _column_mismatches(
                    seq,
                    rid,
                    text,
                    tuple(stored),
                    measures.pop(seq, {}),
                    inputs=inputs,
                    stored_authorities=authorities.pop(seq, {}),
                ):
                    result.note(mismatch, limit)
            # What is left belongs to no record of the page (a deleted record's rows).
            for seq, orphans in sorted(measures.items()):
                for n, row in sorted(orphans.items()):
                    result.note(ColumnMismatch(seq, "", f"record_measures[{n}]", row, None), limit)
            for seq, named in sorted(authorities.items()):
                for n, names in sorted(named.items()):
                    result.note(
                        ColumnMismatch(seq, "", f"record_authorities[{n}]", names, None), limit
                    )
            last = rows[-1][0]
            if len(rows) < _PAGE:
                break
        # Rows after the last record: left behind by a deleted last record. One query,
        # so that a record appended meanwhile (committed with its rows) does not count.
        for seq, n, measure_id, status in self._query(
            "SELECT m.seq, m.n, m.measure_id, m.status FROM record_measures AS m"
            " WHERE m.seq > ? AND NOT EXISTS (SELECT 1 FROM records AS r WHERE r.seq = m.seq)"
            " ORDER BY m.seq, m.n",
            (last,),
        ):
            orphan = ColumnMismatch(seq, "", f"record_measures[{n}]", (measure_id, status), None)
            result.note(orphan, limit)
        left: dict[tuple[int, int], list[str]] = {}
        for seq, n, authority in self._query(
            "SELECT a.seq, a.n, a.authority FROM record_authorities AS a"
            " WHERE a.seq > ? AND NOT EXISTS (SELECT 1 FROM records AS r WHERE r.seq = a.seq)"
            " ORDER BY a.seq, a.n, a.authority",
            (last,),
        ):
            left.setdefault((seq, n), []).append(authority)
        for (seq, n), found in sorted(left.items()):
            result.note(
                ColumnMismatch(seq, "", f"record_authorities[{n}]", tuple(found), None), limit
            )
        return result

    def _verify_page(
        self, after: int
    ) -> (
        tuple[
            list[Any],
            dict[int, dict[int, tuple[Any, Any]]],
            dict[int, dict[int, tuple[str, ...]]],
        ]
        | None
    ):
        """The records after position ``after`` (a page, each with its inputs when it is a
        check), and their measure rows and authority rows by record; ``None`` at the end."""
        rows = self._query(
            "SELECT seq, id, body,"
            " CASE WHEN type = 'check' THEN"
            " (SELECT body FROM input_bodies WHERE input_bodies.hash = records.inputs_hash) END,"
            " type, check_id, at, outcome, category, source, recheck_of, action"
            " FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, _PAGE),
        )
        if not rows:
            return None
        end = rows[-1][0]
        # Bounded by the page's seq range, so the page's records and their rows are read
        # together whatever is appended meanwhile.
        measures: dict[int, dict[int, tuple[Any, Any]]] = {}
        for seq, n, measure_id, status in self._query(
            "SELECT seq, n, measure_id, status FROM record_measures"
            " WHERE seq > ? AND seq <= ? ORDER BY seq, n",
            (after, end),
        ):
            measures.setdefault(seq, {})[n] = (measure_id, status)
        named: dict[int, dict[int, list[str]]] = {}
        for seq, n, authority in self._query(
            "SELECT seq, n, authority FROM record_authorities"
            " WHERE seq > ? AND seq <= ? ORDER BY seq, n, authority",
            (after, end),
        ):
            named.setdefault(seq, {}).setdefault(n, []).append(authority)
        authorities = {
            seq: {n: tuple(names) for n, names in by_n.items()} for seq, by_n in named.items()
        }
        return rows, measures, authorities

    # --- what else the file holds -------------------------------------------------------

    def report_source(self) -> SQLiteReportSource:
        """The monthly report's reads on this file (views that outlive :meth:`close`)."""
        return SQLiteReportSource(self.path, busy_timeout=self._busy_timeout)

    @property
    def objection_store(self) -> SQLiteObjections:
        """The objections kept in this file."""
        return self._objections

    @property
    def receipt_store(self) -> SQLiteReceipts:
        """The report receipts kept in this file."""
        return self._receipts

    def record_objection(
        self,
        objection_id: str,
        check_id: str | None,
        entry_id: str,
        subject_id: str,
        *,
        filed_at: datetime | None = None,
        status: ObjectionStatus = "verifying",
    ) -> bool:
        """Objections kept in this file: see ``SQLiteObjections.record``."""
        return self._objections.record(
            objection_id, check_id, entry_id, subject_id, filed_at=filed_at, status=status
        )

    def update_objection(self, objection_id: str, status: ObjectionStatus) -> bool:
        """Objections kept in this file: see ``SQLiteObjections.update``."""
        return self._objections.update(objection_id, status)

    def objections(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Objections kept in this file: see ``SQLiteObjections.select``."""
        return self._objections.select(since, until)

    def record_report_receipt(
        self,
        period: str,
        version: int,
        receipt_id: str,
        body_hash: str,
        *,
        submitted_at: datetime | None = None,
    ) -> None:
        """Report receipts kept in this file: see ``SQLiteReceipts.record``."""
        self._receipts.record(period, version, receipt_id, body_hash, submitted_at=submitted_at)

    def report_receipts(self, period: str | None = None) -> list[dict[str, Any]]:
        """Report receipts kept in this file: see ``SQLiteReceipts.select``."""
        return self._receipts.select(period)
