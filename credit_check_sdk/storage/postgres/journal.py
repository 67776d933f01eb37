"""The journal in a shared PostgreSQL database: one hash chain per writer, a spool beside it.

Every instance (one ``data_dir``'s SDK, see :mod:`._writer`) appends to its own
chain in ``cc_journal_records``; a batch is one transaction that locks only its
writer's row, so instances never wait for each other. Appends from many threads
of a process are committed together (:class:`~._committer.Committer`), in
several lanes at once: each lane is a chain of the writer's own
(:func:`~._append.lane_writer`), with its own head. The database commits with
``synchronous_commit`` on: a record is on the server's disk when
:meth:`PostgresJournal.append` returns.

When the database cannot take a record within the append's budget (what remains
of the check's time, at most the timeout), the record goes to the local spool
(:class:`~credit_check_sdk.storage.spool.Spool`, durable too) and the check goes
on; later records go behind it while it holds any, and a background runner moves
them into the database in order as soon as it answers (also at start-up).

>>> journal = storage.journal  # doctest: +SKIP
>>> journal.append({"type": "check", "id": "c1",
...                 "checked_at": "2026-11-29T08:00:00+08:00"})["prev_hash"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from ..._exceptions import InvalidRequestError, JournalError
from ..._runner import Run, Runner
from .._journal_core import (
    PreparedRecord,
    derive_columns,
    key_columns,
    prepare_record,
    time_bounds,
    utc_text,
)
from .._journal_verify import (
    ChainVerifier,
    ColumnMismatch,
    ColumnVerifyResult,
    VerifyResult,
    column_mismatches,
)
from ..spool import MARKER_FILE, Spool
from ._append import ChainWriter, lane_writer, missing_lanes
from ._columns import as_stored
from ._committer import Committer
from ._database import Database, DatabaseUnavailableError
from ._uploads import PostgresUploads
from ._writer import read_writer_id, writer_id

__all__ = ["PostgresJournal"]

logger = logging.getLogger(__name__)

_PAGE = 1000
_DRAIN_BATCH = 200
#: Lanes (chains) a writer commits to at once by default: batches of one process in
#: flight together, the server flushing their commits together. Two: one commits while
#: the next gathers its batch; more split the callers of a busy process into smaller
#: batches (more commits, each costing the client and the server the same whatever its
#: size) without committing sooner on a machine whose cores are all busy.
DEFAULT_LANES = 2


class PostgresJournal(PostgresUploads):
    """The shared journal seen from the instance of ``data_dir`` (its chain, its spool).

    ``budget`` is how long an append waits for the database before it spools (an
    append given its check's ``deadline`` waits at most until then); ``lanes`` how
    many chains of this writer take batches at once (lane 0 is the writer's own,
    where a single thread's appends and the spool's records go; by default
    :data:`DEFAULT_LANES`, at most half the pool's connections).

    >>> journal = PostgresJournal(db, data_dir, budget=2.0)  # doctest: +SKIP
    """

    def __init__(
        self, db: Database, data_dir: Path, *, budget: float = 2.0, lanes: int | None = None
    ) -> None:
        self._db = db
        self.data_dir = Path(data_dir)
        self.budget = budget
        self._closed = False
        origin = f"{socket.gethostname()}:{self.data_dir}"
        if lanes is None:
            lanes = min(DEFAULT_LANES, db.pool_size // 2)
        self._lanes = [
            ChainWriter(
                db,
                partial(self._lane_writer_id, lane),
                origin=origin,
                ready=lambda: None,
                statement_timeout=max(budget, 1.0),
                lower_lanes=partial(self._lower_lanes, lane),
            )
            for lane in range(max(1, lanes))
        ]
        self._writer = self._lanes[0]  # the writer's own chain: the spool drains into it
        self._committer = Committer(self._commit, lanes=len(self._lanes))
        self._spool_lock = threading.Lock()
        self._spool_marker = str(self.data_dir / MARKER_FILE)
        self._spool: Spool | None = None
        self._drainer = Runner("credit-check-spool", self._drain_work)
        if Spool.holds_records(self.data_dir):
            self._drainer.start()  # what an earlier run left: drained at start-up

    def _lane_writer_id(self, lane: int) -> str:
        return lane_writer(writer_id(self.data_dir), lane)

    def _lower_lanes(self, lane: int) -> list[str]:
        base = writer_id(self.data_dir)
        return [lane_writer(base, n) for n in range(lane)]

    @property
    def location(self) -> str:
        """The database URL, its password masked.

        >>> journal.location  # doctest: +SKIP
        'postgresql://cc:***@db/credit'
        """
        return self._db.shown

    @property
    def writer(self) -> str | None:
        """This ``data_dir``'s writer id (``None`` until it first writes).

        >>> journal.writer  # doctest: +SKIP
        'app-01-3f2a9c1b7d4e'
        """
        return read_writer_id(self.data_dir)

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError(f"journal {self._db.shown} is closed", path=self._db.shown)

    # --- writing ------------------------------------------------------------------------

    def append(
        self,
        record: dict[str, Any],
        *,
        inputs: dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Chain, hash and durably store ``record`` (or spool it, unchained, when the database
        does not answer within :attr:`budget`, or by the monotonic ``deadline`` of the
        check when that comes first); the record as stored.

        >>> journal.append({"type": "check", "id": "c1",  # doctest: +SKIP
        ...     "checked_at": "2026-11-29T08:00:00+08:00"})["hash"]
        """
        return self._store([prepare_record(record, inputs)], deadline)[0]

    def append_many(
        self,
        items: list[tuple[dict[str, Any], dict[str, Any] | None]],
        *,
        deadline: float | None = None,
    ) -> list[dict[str, Any]]:
        """Append ``(record, inputs)`` pairs in one transaction, chained in order.

        >>> journal.append_many([(c1, None), (c2, None)])  # doctest: +SKIP
        """
        return self._store([prepare_record(record, inputs) for record, inputs in items], deadline)

    def _commit(self, lane: int, batch: list[PreparedRecord], budget: float) -> None:
        self._lanes[lane].write(batch, budget=budget)

    def _store(
        self, prepared: list[PreparedRecord], deadline: float | None
    ) -> list[dict[str, Any]]:
        self._check_open()
        if not prepared:
            return []
        if os.path.exists(self._spool_marker):  # Spool.holds_records, the path made once
            # Order: records spooled before wait for the database; so does this one.
            return self._to_spool(prepared, "records spooled before it are not drained yet")
        budget = self.budget
        if deadline is not None:
            budget = min(budget, deadline - time.monotonic())
        try:
            if self._committer.submit(prepared, budget=budget):
                return [p.record for p in prepared]
            reason = f"the database did not commit within {max(0.0, budget):.3f} s"
            if budget < self.budget:
                reason += " (what remained of the check's time)"
        except DatabaseUnavailableError as exc:
            reason = str(exc)
        return self._to_spool(prepared, reason)

    def _to_spool(self, prepared: list[PreparedRecord], reason: str) -> list[dict[str, Any]]:
        # Fresh copies: a commit the caller gave up on may still be sealing the originals.
        fresh = []
        for p in prepared:
            record = {k: v for k, v in p.record.items() if k != "hash"}
            record["prev_hash"] = None
            fresh.append(PreparedRecord(json.loads(json.dumps(record)), p.inputs, p.at, p.check_id))
        logger.warning("journal %s: %d record(s) spooled: %s", self._db.shown, len(fresh), reason)
        self.spool().put(fresh, reason=reason)
        self._drainer.start()
        self._drainer.wake()
        return [p.record for p in fresh]

    # --- the spool ----------------------------------------------------------------------

    def spool(self) -> Spool:
        """This ``data_dir``'s spool (opened on first use).

        >>> journal.spool().status()["records"]  # doctest: +SKIP
        0
        """
        with self._spool_lock:
            if self._spool is None:
                self._spool = Spool(self.data_dir)
            return self._spool

    def spool_status(self) -> dict[str, Any]:
        """What the spool holds (``records``, ``oldest``, ``last_error`` …); zeros without one.

        >>> journal.spool_status()["records"]  # doctest: +SKIP
        0
        """
        if not Spool.exists(self.data_dir):
            return {"records": 0, "oldest": None, "last_error": None, "refused": 0}
        return self.spool().status()

    def drain(self, *, budget: float | None = None) -> int:
        """Move what the spool holds into the database now, in order; how many records
        moved. Raises :class:`DatabaseUnavailableError` when the database does not answer.

        >>> journal.drain()  # doctest: +SKIP
        3
        """
        if not Spool.holds_records(self.data_dir):
            return 0
        spool = self.spool()
        lock = spool.drain_lock()
        if not lock.acquire(budget if budget is not None else self._db.timeout):
            return 0  # another process of this data_dir drains it
        moved = 0
        try:
            while True:
                rows = spool.head(_DRAIN_BATCH)
                if not rows:
                    spool.settle()
                    return moved
                moved += self._drain_rows(spool, rows, budget)
        finally:
            lock.release()

    def _drain_rows(
        self, spool: Spool, rows: list[tuple[int, dict[str, Any], str | None]], budget: float | None
    ) -> int:
        batch: list[tuple[int, PreparedRecord]] = []
        for seq, record, inputs in rows:
            try:
                batch.append((seq, prepare_record(record, json.loads(inputs) if inputs else None)))
            except (InvalidRequestError, ValueError) as exc:
                spool.refuse(seq, f"not a record: {exc}")
        self._writer.write([p for _, p in batch], budget=budget or self._db.timeout, drain=True)
        done = []
        for seq, p in batch:
            if p.error is not None:
                logger.error("journal %s: spooled record set aside: %s", self._db.shown, p.error)
                spool.refuse(seq, str(p.error))
            else:
                done.append(seq)
        spool.remove(done)
        return len(done)

    def _drain_work(self, run: Run) -> None:
        delay = 0.2
        while not run.stopping:
            if not Spool.holds_records(self.data_dir):
                run.wait(60.0)
                continue
            try:
                self.drain()
                delay = 0.2
                run.wait(0.5)
            except JournalError as exc:
                self.spool().note_error(str(exc))
                logger.info("journal %s: spool not drained yet: %s", self._db.shown, exc)
                run.wait(delay)
                delay = min(delay * 2, 5.0)

    # --- reading ------------------------------------------------------------------------

    def _spooled(self, id: str) -> dict[str, Any] | None:
        if Spool.holds_records(self.data_dir):
            return self.spool().get(id)
        return None

    def get(self, id: str) -> dict[str, Any] | None:
        """The record with this id as stored (a spooled one unchained), or ``None``.

        >>> journal.get("c1")["id"]  # doctest: +SKIP
        'c1'
        """
        self._check_open()
        spooled = self._spooled(id)
        if spooled is not None:
            return spooled
        rows = self._db.query("SELECT body FROM cc_journal_records WHERE id = %s", (id,))
        return json.loads(rows[0][0]) if rows else None

    def inputs_for(self, check_id: str) -> dict[str, Any] | None:
        """What check ``check_id`` was decided from, or ``None``.

        >>> journal.inputs_for("c1")  # doctest: +SKIP
        """
        self._check_open()
        if Spool.holds_records(self.data_dir):
            found = self.spool().inputs_for(check_id)
            if found is not None:
                return found
        rows = self._db.query("SELECT body FROM cc_journal_inputs WHERE check_id = %s", (check_id,))
        if not rows or rows[0][0] is None:
            return None
        value: dict[str, Any] = json.loads(rows[0][0])
        return value

    def degraded_without_recheck(self, since: datetime) -> list[dict[str, Any]]:
        """Degraded checks since ``since`` that no record re-checks, oldest first.

        >>> journal.degraded_without_recheck(since)  # doctest: +SKIP
        []
        """
        rows = self._db.query(
            "SELECT c.body FROM cc_journal_records AS c WHERE c.type = 'check'"
            " AND c.source IN ('snapshot', 'none') AND c.recheck_of IS NULL AND c.at >= %s"
            " AND NOT EXISTS (SELECT 1 FROM cc_journal_records AS r WHERE r.recheck_of = c.id)"
            " ORDER BY c.gseq",
            (utc_text(since),),
        )
        return [json.loads(body) for (body,) in rows]

    def latest_check_for_case(self, subject_id: str, case_id: str) -> dict[str, Any] | None:
        """The newest check of ``subject_id`` for ``case_id`` (an index), or ``None``.

        >>> journal.latest_check_for_case(uscc, "ZSGC-2026-118")  # doctest: +SKIP
        """
        rows = self._db.query(
            "SELECT body FROM cc_journal_records WHERE type = 'check' AND case_id = %s"
            " AND subject_id = %s ORDER BY gseq DESC LIMIT 1",
            (case_id, subject_id),
        )
        if not rows:
            return None
        value: dict[str, Any] = json.loads(rows[0][0])
        return value

    def iter_records(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Records by position whose time is in ``[since, until)``, as the journal stood when
        the iteration began (streamed, a page at a time).

        One ``REPEATABLE READ READ ONLY`` transaction and a server-side cursor: a position
        is taken when a record is inserted and writers commit in any order, so pages read
        by position in separate statements would skip a record committed late below the
        page already read while showing others committed after it.

        >>> [r["id"] for r in journal.iter_records()]  # doctest: +SKIP
        ['c1']
        """
        lo, hi = time_bounds(since, until)
        with (
            self._db.transaction(repeatable_read=True, read_only=True) as conn,
            conn.cursor(name="cc_iter_records") as cur,
        ):
            cur.itersize = _PAGE
            cur.execute(
                "SELECT body FROM cc_journal_records"
                " WHERE (%s::text IS NULL OR at >= %s) AND (%s::text IS NULL OR at < %s)"
                " ORDER BY gseq",
                (lo, lo, hi, hi),
            )
            for (body,) in cur:
                yield json.loads(body)

    def head_hash(self) -> str | None:
        """The hash this instance's next record chains to (its writer's head), or ``None``.

        >>> journal.head_hash()  # doctest: +SKIP
        """
        writer = self.writer
        if writer is None:
            return None
        rows = self._db.query(
            "SELECT head_hash FROM cc_journal_writers WHERE writer_id = %s", (writer,)
        )
        return rows[0][0] if rows else None

    def writers(self) -> list[dict[str, Any]]:
        """Every writer of the database: ``writer_id``, ``head_wseq``, ``origin``, ``updated_at``.

        >>> [w["head_wseq"] for w in journal.writers()]  # doctest: +SKIP
        [3]
        """
        rows = self._db.query(
            "SELECT writer_id, head_wseq, origin, updated_at FROM cc_journal_writers"
            " ORDER BY writer_id"
        )
        keys = ("writer_id", "head_wseq", "origin", "updated_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # --- verifying ----------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Walk every writer's chain by its positions; each problem names its writer.

        A record whose writer is not registered is a problem too, and so is a lane
        whose chain is gone (``missing_chain``) while a higher lane of its writer
        is there: a lane's head row is registered with every lane below it. The
        heads and the chains are read in one ``REPEATABLE READ READ ONLY``
        transaction: instances appending meanwhile move heads the walk does not
        see, never past it.

        >>> journal.verify().ok  # doctest: +SKIP
        True
        """
        with self._db.transaction(repeatable_read=True, read_only=True) as conn:
            return _verify_chains(conn)

    def verify_columns(self, *, limit: int | None = 10_000) -> ColumnVerifyResult:
        """Re-derive every record's report columns and measure rows from its body.

        Read in one ``REPEATABLE READ READ ONLY`` transaction: a record committed
        meanwhile is neither half seen (its measure rows without it) nor skipped below
        a page already read.

        >>> journal.verify_columns().ok  # doctest: +SKIP
        True
        """
        with self._db.transaction(repeatable_read=True, read_only=True) as conn:
            return _verify_columns(conn, limit)

    def close(self) -> None:
        """Stop this journal's threads; later calls raise ``JournalError`` (idempotent).

        >>> journal.close()  # doctest: +SKIP
        """
        if self._closed:
            return
        self._closed = True
        self._committer.stop()
        self._drainer.stop()
        for lane in self._lanes:
            lane.close()
        with self._spool_lock:
            spool, self._spool = self._spool, None
        if spool is not None:
            spool.close()


def _typed(
    text: str, stored: tuple[Any, ...], measures: dict[int, tuple[Any, Any]]
) -> tuple[tuple[Any, ...], dict[int, tuple[Any, Any]]]:
    """The stored text columns as the values they stand for (a number kept as its JSON
    text is the number), so that the shared comparison treats both adapters alike."""
    try:
        body = json.loads(text)
        keys: tuple[Any, ...] = key_columns(body)
        columns, rows = derive_columns(body)
    except (ValueError, TypeError, AttributeError, InvalidRequestError):
        return stored, measures
    derived = (*keys, *columns)
    typed = tuple(as_stored(s, d) for s, d in zip(stored, derived, strict=True))
    wanted = {n: (mid, status) for n, mid, status in rows}
    typed_measures = {}
    for n, (mid, status) in measures.items():
        want = wanted.get(n, (None, None))
        typed_measures[n] = (as_stored(mid, want[0]), as_stored(status, want[1]))
    return typed, typed_measures


def _rows(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = conn.execute(sql, params, prepare=True).fetchall()
    return rows


def _verify_chains(conn: Any) -> VerifyResult:
    """Every writer's chain as read on ``conn`` (one consistent view)."""
    heads = {
        w: (h, int(n))
        for w, h, n in _rows(conn, "SELECT writer_id, head_hash, head_wseq FROM cc_journal_writers")
    }
    stray = _rows(
        conn,
        "SELECT DISTINCT writer_id FROM cc_journal_records r WHERE NOT EXISTS"
        " (SELECT 1 FROM cc_journal_writers w WHERE w.writer_id = r.writer_id)",
    )
    result = VerifyResult(ok=True, checked=0)
    result.problems.extend(missing_lanes(heads))
    for writer in sorted(heads) + sorted(w for (w,) in stray):
        verifier = ChainVerifier(chain=writer)
        last = 0
        while True:
            rows = _rows(
                conn,
                "SELECT wseq, id, hash, prev_hash, body FROM cc_journal_records"
                " WHERE writer_id = %s AND wseq > %s ORDER BY wseq LIMIT %s",
                (writer, last, _PAGE),
            )
            for row in rows:
                verifier.feed(int(row[0]), *row[1:])
                last = int(row[0])
            if len(rows) < _PAGE:
                break
        head = heads.get(writer)
        part = verifier.finish(head if head is not None else ("(no writer row)", -1))
        result.checked += part.checked
        result.problems.extend(part.problems)
    result.ok = not result.problems
    return result


def _verify_columns(conn: Any, limit: int | None) -> ColumnVerifyResult:
    """Every record's derived columns as read on ``conn`` (one consistent view)."""
    result = ColumnVerifyResult(ok=True, checked=0)
    last = 0
    while True:
        rows = _rows(
            conn,
            "SELECT r.gseq, r.id, r.body, i.body, r.type, r.check_id, r.at, r.outcome,"
            " r.category, r.source, r.recheck_of, r.action FROM cc_journal_records r"
            " LEFT JOIN cc_journal_inputs i ON r.type = 'check' AND i.check_id = r.id"
            " WHERE r.gseq > %s ORDER BY r.gseq LIMIT %s",
            (last, _PAGE),
        )
        if not rows:
            break
        first, end = last, int(rows[-1][0])
        measures: dict[int, dict[int, tuple[Any, Any]]] = {}
        for gseq, n, mid, status in _rows(
            conn,
            "SELECT gseq, n, measure_id, status FROM cc_journal_measures"
            " WHERE gseq > %s AND gseq <= %s ORDER BY gseq, n",
            (first, end),
        ):
            measures.setdefault(int(gseq), {})[int(n)] = (mid, status)
        named: dict[int, dict[int, list[str]]] = {}
        for gseq, n, authority in _rows(
            conn,
            "SELECT gseq, n, authority FROM cc_journal_authorities"
            " WHERE gseq > %s AND gseq <= %s ORDER BY gseq, n, authority",
            (first, end),
        ):
            named.setdefault(int(gseq), {}).setdefault(int(n), []).append(authority)
        for gseq, rid, text, inputs, *stored in rows:
            result.checked += 1
            typed, typed_measures = _typed(text, tuple(stored), measures.pop(int(gseq), {}))
            authorities = {n: tuple(a) for n, a in named.pop(int(gseq), {}).items()}
            for mismatch in column_mismatches(
                int(gseq),
                rid,
                text,
                typed,
                typed_measures,
                inputs=inputs,
                stored_authorities=authorities,
            ):
                result.note(mismatch, limit)
        for gseq, orphans in sorted(measures.items()):
            for n, row in sorted(orphans.items()):
                result.note(ColumnMismatch(gseq, "", f"record_measures[{n}]", row, None), limit)
        for gseq, by_n in sorted(named.items()):
            for n, names in sorted(by_n.items()):
                orphan = ColumnMismatch(gseq, "", f"record_authorities[{n}]", tuple(names), None)
                result.note(orphan, limit)
        last = end
        if len(rows) < _PAGE:
            break
    return result
