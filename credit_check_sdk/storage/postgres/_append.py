"""Appending to the shared journal: one writer's hash chain, one transaction per batch.

:class:`ChainWriter` writes a batch of prepared records as one transaction:
it locks only its writer's row (``SELECT … FOR UPDATE``: writers on other hosts
never wait for it), looks up which ids are stored already, chains and hashes each
record to the writer's head (:func:`~credit_check_sdk.storage._journal_core.seal`),
inserts the records, their measure rows and inputs, moves the head, and commits
(synchronous commit). Two round trips whatever the batch: the statements of
each half go in one pipeline.

:class:`Committer` is how appends from many threads reach it: each caller queues
its records and waits at most its budget; one thread of the process (a
:class:`~credit_check_sdk._runner.Runner`) commits everything queued so far in
one transaction (group commit). A caller whose budget runs out leaves, and its
records go to the local spool; should the transaction it left still commit them,
the spool's copy is recognised and skipped when it drains (same id, same record).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ..._exceptions import JournalError
from ..._fork import ShortLock
from ..._runner import Run, Runner
from .._journal_core import PreparedRecord, seal, utc_text
from ._columns import detail_columns, pg_text
from ._database import Database, DatabaseUnavailableError, set_statement_timeout

__all__ = ["ChainWriter", "Committer", "same_record"]

logger = logging.getLogger(__name__)

_REGISTER = (
    "INSERT INTO cc_journal_writers (writer_id, head_hash, head_wseq, created_at, updated_at,"
    " origin) VALUES (%s, NULL, 0, %s, %s, %s) ON CONFLICT (writer_id) DO NOTHING"
)
_LOCK_WRITER = "SELECT head_hash, head_wseq FROM cc_journal_writers WHERE writer_id = %s FOR UPDATE"
_PRESENT = "SELECT id, writer_id, body FROM cc_journal_records WHERE id = ANY(%s)"
_INSERT = (
    "INSERT INTO cc_journal_records (writer_id, wseq, id, type, check_id, at, body, hash,"
    " prev_hash, outcome, category, source, recheck_of, action, subject_id, subject_kind,"
    " matter_code, case_id, reason)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
# The record just inserted in this session: currval of the position sequence.
_INSERT_MEASURE = (
    "INSERT INTO cc_journal_measures (gseq, n, measure_id, status)"
    " VALUES (currval('cc_journal_gseq'), %s, %s, %s)"
)
_INSERT_AUTHORITY = (
    "INSERT INTO cc_journal_authorities (gseq, n, authority)"
    " VALUES (currval('cc_journal_gseq'), %s, %s)"
)
_INSERT_INPUTS = (
    "INSERT INTO cc_journal_inputs (check_id, body) VALUES (%s, %s)"
    " ON CONFLICT (check_id) DO UPDATE SET body = EXCLUDED.body"
)
_MOVE_HEAD = (
    "UPDATE cc_journal_writers SET head_hash = %s, head_wseq = %s, updated_at = %s"
    " WHERE writer_id = %s"
)


def same_record(stored_body: str, record: dict[str, Any]) -> bool:
    """Whether a stored body is ``record`` (chain fields aside): the same record, whose
    earlier commit went through although its answer was lost.

    >>> same_record('{"id":"c1","prev_hash":"a","hash":"b","x":1}', {"id": "c1", "x": 1})
    True
    """
    try:
        stored = json.loads(stored_body)
    except ValueError:
        return False
    if not isinstance(stored, dict):
        return False
    skip = ("prev_hash", "hash")
    return {k: v for k, v in stored.items() if k not in skip} == {
        k: v for k, v in record.items() if k not in skip
    }


class _RacedError(Exception):
    """A unique key another transaction took between our look-up and our insert."""


class ChainWriter:
    """Writes batches to the chain of writer ``writer_id`` (``writer_id()`` gives it when
    first needed: an instance that only reads never makes one).

    ``origin`` is noted with the writer when it is first registered (host, folder).
    """

    def __init__(
        self,
        db: Database,
        writer_id: Callable[[], str],
        *,
        origin: str,
        ready: Callable[[], None],
    ) -> None:
        self._db = db
        self._writer_id = writer_id
        self._origin = origin
        self._ready = ready
        self._registered = False

    @property
    def writer_id(self) -> str:
        """This data folder's writer (made on first use)."""
        return self._writer_id()

    def write(self, batch: list[PreparedRecord], *, budget: float, drain: bool = False) -> set[str]:
        """Store ``batch`` in one transaction, chained in order; the ids found stored already
        as the same records (only with ``drain``: a spooled record whose commit went
        through). A record that cannot be stored (its id is another record's, or is
        stored already outside ``drain``) gets its ``error`` and the others are chained
        past it. Raises :class:`DatabaseUnavailableError` when the database does not
        answer within ``budget`` seconds (nothing stored), ``JournalError`` otherwise.
        """
        wait = max(0.05, budget)
        self._ready()
        writer = self.writer_id
        for _attempt in range(3):
            for p in batch:
                p.error = None
            try:
                return self._write_once(writer, batch, wait, drain)
            except _RacedError:
                continue  # look again: the pre-check now sees what raced us
        raise JournalError(
            f"journal {self._db.shown}: writer {writer}'s head is behind its records"
            " (a record already holds the next position); run journal verify",
            path=self._db.shown,
        )

    def _write_once(
        self, writer: str, batch: list[PreparedRecord], wait: float, drain: bool
    ) -> set[str]:
        ids = [p.record["id"] for p in batch]
        present_same: set[str] = set()
        now = utc_text(datetime.now(timezone.utc))
        with self._db.connection(timeout=wait) as conn:
            try:
                with conn.pipeline(), conn.transaction():
                    set_statement_timeout(conn, wait)
                    if not self._registered:
                        conn.execute(_REGISTER, (writer, now, now, self._origin), prepare=True)
                    head_cur = conn.execute(_LOCK_WRITER, (writer,), prepare=True)
                    present_cur = conn.execute(_PRESENT, (ids,), prepare=True)
                    head = head_cur.fetchone()  # the first round trip ends here
                    present = {rid: body for rid, _writer, body in present_cur.fetchall()}
                    if head is None:
                        raise JournalError(
                            f"journal {self._db.shown}: writer {writer} is not registered",
                            path=self._db.shown,
                        )
                    head_hash, wseq = head[0], int(head[1])
                    stored = 0
                    seen: set[str] = set()
                    for p in batch:
                        rid = p.record["id"]
                        if rid in seen or rid in present:
                            if drain and rid in present and same_record(present[rid], p.record):
                                present_same.add(rid)
                                p.record.clear()
                                p.record.update(json.loads(present[rid]))
                                continue
                            p.error = JournalError(
                                f"journal {self._db.shown}: record {rid!r} not stored: its id"
                                " is journaled already (an id may be journaled once)",
                                path=self._db.shown,
                            )
                            continue
                        seen.add(rid)
                        body = seal(p, head_hash)
                        wseq += 1
                        self._insert(conn, writer, wseq, p, body)
                        head_hash = p.record["hash"]
                        stored += 1
                    if stored:
                        conn.execute(_MOVE_HEAD, (head_hash, wseq, now, writer), prepare=True)
                # The pipeline's second round trip: the inserts, the head and COMMIT.
            except pg_errors.UniqueViolation as exc:
                raise _RacedError() from exc
            except psycopg.errors.QueryCanceled as exc:
                raise DatabaseUnavailableError(
                    f"the database {self._db.shown} did not commit within {wait:.3f} s",
                    path=self._db.shown,
                ) from exc
        self._registered = True
        return present_same

    @staticmethod
    def _insert(
        conn: psycopg.Connection[Any], writer: str, wseq: int, p: PreparedRecord, body: str
    ) -> None:
        record = p.record
        conn.execute(
            _INSERT,
            (
                writer,
                wseq,
                record["id"],
                record["type"],
                p.check_id,
                p.at,
                body,
                record["hash"],
                record["prev_hash"],
                *(pg_text(v) for v in p.columns),
                *detail_columns(record),
            ),
            prepare=True,
        )
        if p.measure_rows:
            with conn.cursor() as cur:
                cur.executemany(
                    _INSERT_MEASURE,
                    [(n, pg_text(mid), pg_text(status)) for n, mid, status in p.measure_rows],
                )
        if p.authority_rows:
            with conn.cursor() as cur:
                cur.executemany(_INSERT_AUTHORITY, p.authority_rows)
        if p.inputs is not None:
            conn.execute(_INSERT_INPUTS, (p.check_id, p.inputs), prepare=True)


class _Ticket:
    """One caller's records on their way through the committer."""

    __slots__ = ("abandoned", "deadline", "error", "event", "finished", "prepared", "taken")

    def __init__(self, prepared: list[PreparedRecord], deadline: float) -> None:
        self.prepared = prepared
        self.deadline = deadline
        self.event = threading.Event()
        self.taken = False  # in a batch being written
        self.finished = False
        self.abandoned = False  # the caller left (its budget ran out)
        self.error: JournalError | None = None


class Committer:
    """Group commit with a budget: callers wait at most theirs, one thread commits.

    ``write(batch, budget)`` stores a batch (or raises for the whole of it).

    >>> written = []
    >>> committer = Committer(lambda batch, budget: written.extend(batch))
    >>> from credit_check_sdk.storage._journal_core import prepare_record
    >>> p = prepare_record({"type": "check", "id": "c1",
    ...                     "checked_at": "2026-11-29T08:00:00+08:00"}, None)
    >>> committer.submit([p], budget=5.0), [q.record["id"] for q in written]
    (True, ['c1'])
    >>> committer.stop()
    """

    def __init__(
        self,
        write: Callable[[list[PreparedRecord], float], None],
        *,
        name: str = "credit-check-journal",
    ) -> None:
        self._write = write
        self._init()
        self._runner = Runner(name, self._work, on_child=self._init)

    def _init(self) -> None:
        # Per process: the queue of a parent's threads does not exist in a child.
        self._lock = ShortLock()
        self._queue: list[_Ticket] = []

    def submit(self, prepared: list[PreparedRecord], *, budget: float) -> bool:
        """Have ``prepared`` committed within ``budget`` seconds: ``True`` when it was
        (a record that failed alone raises its error after), ``False`` when the budget
        ran out first. Raises the batch's error when the commit failed as a whole.
        """
        ticket = _Ticket(prepared, time.monotonic() + budget)
        with self._lock:
            self._queue.append(ticket)
        self._runner.start()
        self._runner.wake()
        ticket.event.wait(max(0.0, budget))
        with self._lock:
            if not ticket.finished:
                ticket.abandoned = True
                if not ticket.taken:
                    self._queue.remove(ticket)
                return False
        if ticket.error is not None:
            raise ticket.error
        for p in prepared:
            if p.error is not None:
                raise p.error
        return True

    def _work(self, run: Run) -> None:
        while not run.stopping:
            with self._lock:
                batch, self._queue = self._queue, []
                for ticket in batch:
                    ticket.taken = True
            if not batch:
                run.wait(60.0)
                continue
            prepared = [p for ticket in batch for p in ticket.prepared]
            budget = max(t.deadline for t in batch) - time.monotonic()
            error: JournalError | None = None
            try:
                self._write(prepared, budget)
            except JournalError as exc:
                error = exc
            except Exception as exc:  # a bug must not leave callers waiting: they spool
                logger.exception("journal: the commit failed")
                error = JournalError(f"journal: the commit failed: {exc!r}")
            with self._lock:
                for ticket in batch:
                    ticket.error = error
                    ticket.finished = True
                    ticket.event.set()
                    if ticket.abandoned and error is None:
                        logger.info(
                            "journal: %d record(s) committed after their caller's budget ran"
                            " out; their spooled copy will be skipped",
                            len(ticket.prepared),
                        )

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread (records queued meanwhile are not written: their callers spool)."""
        self._runner.stop(timeout)
