"""Appending to the shared journal: one writer's hash chain, one transaction per batch.

:class:`ChainWriter` writes a batch of prepared records as one transaction that
locks only its writer's row (writers on other hosts never wait for it), chains
and hashes each record to the writer's head
(:func:`~credit_check_sdk.storage._journal_core.seal`), inserts the records, their
measure rows, inputs and upload-queue rows, moves the head, and commits (synchronous commit).

Once this process has written, it remembers the head it left, and the next batch
is one statement in one round trip: the head moves from the remembered one
(compare-and-set under the row lock) and the records go in beside it, each table's
rows as arrays. Should the head not be the remembered one (another process of the
same data folder wrote since) or an id be stored already, the statement fails
whole, nothing is stored, and the batch is written the careful way: the row
locked and read (``SELECT … FOR UPDATE``), the ids looked up, then the inserts,
two round trips.

A data folder's writer keeps its records in one or more *lanes*: lane 0 is the
chain named by the writer id, lane ``k`` the chain ``<writer id>+k``
(:func:`lane_writer`; ``+`` is never part of a writer id the SDK makes). Each lane
is a hash chain with its own head row, verified like any writer's; lanes let
several batches of one process commit at once
(:class:`~._committer.Committer`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ..._exceptions import JournalError
from .._journal_core import PreparedRecord, seal, utc_text
from .._journal_verify import Problem
from ._arrays import int4_array, int8_array, text_array
from ._columns import detail_columns, pg_text
from ._database import Database, DatabaseUnavailableError, set_statement_timeout
from ._lanes import LaneConnection

__all__ = ["LANE_MARK", "ChainWriter", "lane_writer", "missing_lanes", "same_record"]

_REGISTER = (
    "INSERT INTO cc_journal_writers (writer_id, head_hash, head_wseq, created_at, updated_at,"
    " origin) VALUES (%s, NULL, 0, %s, %s, %s) ON CONFLICT (writer_id) DO NOTHING"
)
_LOCK_WRITER = "SELECT head_hash, head_wseq FROM cc_journal_writers WHERE writer_id = %s FOR UPDATE"
_PRESENT = "SELECT id, writer_id, body FROM cc_journal_records WHERE id = ANY(%s)"
# Each statement takes the whole batch as arrays (one per column): a batch costs the
# same few statements whatever its size. WITH ORDINALITY keeps the batch's order
# for the global position (gseq) as for the chain. Arrays go in binary (%b): no
# quoting of each JSON body on the way.
_INSERT = (
    "INSERT INTO cc_journal_records (writer_id, wseq, id, type, check_id, at, body, hash,"
    " prev_hash, outcome, category, source, recheck_of, action, subject_id, subject_kind,"
    " matter_code, case_id, reason)"
    " SELECT %s, wseq, id, type, check_id, at, body, hash, prev_hash, outcome, category,"
    " source, recheck_of, action, subject_id, subject_kind, matter_code, case_id, reason"
    " FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],"
    " %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],"
    " %b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) WITH ORDINALITY"
    " AS r(wseq, id, type, check_id, at, body, hash, prev_hash, outcome, category, source,"
    " recheck_of, action, subject_id, subject_kind, matter_code, case_id, reason, k)"
    " ORDER BY k"
)
# A measure or authority row finds its record's position by the record's id.
_INSERT_MEASURE = (
    "INSERT INTO cc_journal_measures (gseq, n, measure_id, status)"
    " SELECT r.gseq, m.n, m.measure_id, m.status"
    " FROM unnest(%b::text[], %b::int[], %b::text[], %b::text[]) AS m(id, n, measure_id, status)"
    " JOIN cc_journal_records r ON r.id = m.id"
)
_INSERT_AUTHORITY = (
    "INSERT INTO cc_journal_authorities (gseq, n, authority)"
    " SELECT r.gseq, a.n, a.authority"
    " FROM unnest(%b::text[], %b::int[], %b::text[]) AS a(id, n, authority)"
    " JOIN cc_journal_records r ON r.id = a.id"
)
# Each record starts pending in the upload queue (its row found by its id).
_INSERT_UPLOADS = (
    "INSERT INTO cc_journal_uploads (gseq) SELECT gseq FROM cc_journal_records WHERE id = ANY(%b)"
)
_INSERT_INPUTS = (
    "INSERT INTO cc_journal_inputs (check_id, body)"
    " SELECT * FROM unnest(%b::text[], %b::text[])"
    " ON CONFLICT (check_id) DO UPDATE SET body = EXCLUDED.body"
)
_MOVE_HEAD = (
    "UPDATE cc_journal_writers SET head_hash = %s, head_wseq = %s, updated_at = %s"
    " WHERE writer_id = %s"
)
# The fast path: the whole batch in one statement (one implicit plan, atomic). The head
# moves from the one this process last wrote, taking the writer's row lock as it
# does; the records, their measures, authorities and inputs go in beside it (each
# table's rows as arrays, one per column, in binary: no quoting of each JSON body).
# When the head is not the one expected any more (another process of the data folder
# wrote since, or the row was altered) nothing matches, the division by zero aborts
# the statement and nothing is stored; the batch is then written the careful way. An
# id stored already aborts it the same way (unique key). Plain SQL, no procedural
# language. Measures find their record's position in the insert's RETURNING (the
# sub-statements of one statement do not see each other's rows in the tables).
# The records' insert is the fixed text above: no value is formatted into the SQL.
_BATCH = (
    "WITH moved AS (UPDATE cc_journal_writers SET head_hash = %s, head_wseq = %s,"  # noqa: S608 - fixed text
    " updated_at = %s WHERE writer_id = %s AND head_wseq = %s"
    " AND head_hash IS NOT DISTINCT FROM %s RETURNING 1),"
    f" ins AS ({_INSERT} RETURNING gseq, id),"
    " uploads AS (INSERT INTO cc_journal_uploads (gseq) SELECT gseq FROM ins),"
    " measures AS (INSERT INTO cc_journal_measures (gseq, n, measure_id, status)"
    " SELECT ins.gseq, m.n, m.measure_id, m.status"
    " FROM unnest(%b::text[], %b::int[], %b::text[], %b::text[]) AS m(id, n, measure_id, status)"
    " JOIN ins ON ins.id = m.id),"
    " authorities AS (INSERT INTO cc_journal_authorities (gseq, n, authority)"
    " SELECT ins.gseq, a.n, a.authority"
    " FROM unnest(%b::text[], %b::int[], %b::text[]) AS a(id, n, authority)"
    " JOIN ins ON ins.id = a.id),"
    " inputs AS (INSERT INTO cc_journal_inputs (check_id, body)"
    " SELECT * FROM unnest(%b::text[], %b::text[])"
    " ON CONFLICT (check_id) DO UPDATE SET body = EXCLUDED.body)"
    " SELECT 1 / count(*) FROM moved"
)


#: Between a writer id and its lane number in a lane's chain name.
LANE_MARK = "+"


def lane_writer(writer: str, lane: int) -> str:
    """The chain name of ``writer``'s lane ``lane`` (lane 0 is the writer's own chain).

    >>> lane_writer("app-01-3f2a9c1b7d4e", 0), lane_writer("app-01-3f2a9c1b7d4e", 2)
    ('app-01-3f2a9c1b7d4e', 'app-01-3f2a9c1b7d4e+2')
    """
    return writer if lane == 0 else f"{writer}{LANE_MARK}{lane}"


def missing_lanes(chains: Iterable[str]) -> list[Problem]:
    """A ``missing_chain`` problem for each lane below the highest lane of its writer
    that ``chains`` (the registered chain names) lacks: its head row was removed.

    >>> [p.chain for p in missing_lanes(["w", "w+3", "w+1"])]
    ['w+2']
    """
    lanes: dict[str, set[int]] = {}
    for chain in chains:
        base, mark, number = chain.rpartition(LANE_MARK)
        if mark and number.isdigit() and int(number) > 0:
            lanes.setdefault(base, set()).add(int(number))
        else:
            lanes.setdefault(chain, set()).add(0)
    problems = []
    for base, present in sorted(lanes.items()):
        top = max(present)
        for n in range(top):
            if n not in present:
                problems.append(
                    Problem(
                        0,
                        "",
                        "missing_chain",
                        f"lane {n} of writer {base} is not registered while lane {top} is:"
                        " its chain's head row was removed",
                        lane_writer(base, n),
                    )
                )
    return problems


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
        statement_timeout: float | None = None,
        lower_lanes: Callable[[], list[str]] | None = None,
    ) -> None:
        self._db = db
        self._writer_id = writer_id
        self._origin = origin
        self._ready = ready
        # The one-statement append's own connection (its statements cut at the
        # journal's budget, the database's timeout unless given).
        self._lane = LaneConnection(
            db, statement_timeout=db.timeout if statement_timeout is None else statement_timeout
        )
        self._registered = False
        # The chains of the writer's lower lanes, registered with this one (so that a
        # lane's head row stands for every lane below it: verify misses none removed).
        self._lower_lanes = lower_lanes
        self._writer: str | None = None
        # (head_hash, head_wseq) as this process's last commit left them: what the next
        # batch chains to in one round trip. None: read it under the row lock first.
        self._head: tuple[str | None, int] | None = None

    @property
    def writer_id(self) -> str:
        """This data folder's writer (made on first use, then remembered: no file read
        per batch)."""
        if self._writer is None:
            self._writer = self._writer_id()
        return self._writer

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
        head = self._head
        if head is not None and not drain:
            try:
                self._write_fast(writer, batch, wait, head)
                return set()
            except _RacedError:
                pass  # the head moved or an id is stored: the careful way says which
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
                        lower = self._lower_lanes() if self._lower_lanes is not None else []
                        for name in (*lower, writer):
                            conn.execute(_REGISTER, (name, now, now, self._origin), prepare=True)
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
                    rows: list[tuple[int, PreparedRecord, str]] = []
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
                        rows.append((wseq, p, body))
                        head_hash = p.record["hash"]
                    if rows:
                        self._insert(conn, writer, rows)
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
        self._head = (head_hash, wseq)
        return present_same

    def _write_fast(
        self, writer: str, batch: list[PreparedRecord], wait: float, head: tuple[str | None, int]
    ) -> None:
        """The batch chained to the head this process last wrote, in one round trip:
        the head moves first (its row lock taken, the old head compared), the records
        follow, COMMIT with them. Raises :class:`_RacedError` when the head is not the
        one expected or an id is stored already (nothing is stored then)."""
        self._head = None  # unknown until this commit is known to have gone through
        head_hash, wseq = head
        ids = {p.record["id"] for p in batch}
        if len(ids) != len(batch):
            raise _RacedError()  # an id twice in one batch: the careful way refuses one
        last_hash, last_wseq = head_hash, wseq
        bodies = []
        for p in batch:
            p.error = None
            bodies.append(seal(p, last_hash))
            last_hash = p.record["hash"]
            last_wseq += 1
        now = utc_text(datetime.now(timezone.utc))
        rows = [
            (n, p, body)
            for n, (p, body) in enumerate(zip(batch, bodies, strict=True), start=wseq + 1)
        ]
        with self._lane.use(timeout=wait) as conn:
            try:
                self._send_fast(conn, writer, rows, (last_hash, last_wseq, now, wseq, head_hash))
            except (pg_errors.UniqueViolation, pg_errors.DivisionByZero) as exc:
                raise _RacedError() from exc
            except psycopg.errors.QueryCanceled as exc:
                raise DatabaseUnavailableError(
                    f"the database {self._db.shown} did not commit within {wait:.3f} s",
                    path=self._db.shown,
                ) from exc
        self._head = (last_hash, last_wseq)

    def _send_fast(
        self,
        conn: psycopg.Connection[Any],
        writer: str,
        rows: list[tuple[int, PreparedRecord, str]],
        head_args: tuple[str | None, int, str, int, str | None],
    ) -> None:
        last_hash, last_wseq, now, wseq, head_hash = head_args
        columns, measures, authorities, inputs = self._arrays(rows)
        # One statement in autocommit mode, its own transaction: the server commits it
        # (synchronous commit) before it answers; when it fails nothing is stored. The
        # arrays go as the server reads them (binary, packed here: see ._arrays).
        conn.execute(
            _BATCH,
            (
                *(last_hash, last_wseq, now, writer, wseq, head_hash),
                writer,
                int8_array(columns[0]),
                *(text_array(c) for c in columns[1:]),
                text_array(measures[0]),
                int4_array(measures[1]),
                text_array(measures[2]),
                text_array(measures[3]),
                text_array(authorities[0]),
                int4_array(authorities[1]),
                text_array(authorities[2]),
                text_array(inputs[0]),
                text_array(inputs[1]),
            ),
            prepare=True,
        )

    def close(self) -> None:
        """Close the lane's own connection (the next batch opens it again)."""
        self._lane.close()

    @staticmethod
    def _arrays(
        rows: list[tuple[int, PreparedRecord, str]],
    ) -> tuple[list[list[Any]], list[list[Any]], list[list[Any]], list[list[Any]]]:
        """The batch's ``(wseq, record, body)`` rows as the arrays of each table: records
        (one array per column), measures, authorities, inputs."""
        columns: list[list[Any]] = [[] for _ in range(18)]
        measures: list[list[Any]] = [[], [], [], []]
        authorities: list[list[Any]] = [[], [], []]
        inputs: dict[str | None, str] = {}
        for wseq, p, body in rows:
            record = p.record
            rid = record["id"]
            values = (
                wseq,
                rid,
                record["type"],
                p.check_id,
                p.at,
                body,
                record["hash"],
                record["prev_hash"],
                *(pg_text(v) for v in p.columns),
                *detail_columns(record),
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
            for n, mid, status in p.measure_rows:
                for column, value in zip(
                    measures, (rid, n, pg_text(mid), pg_text(status)), strict=True
                ):
                    column.append(value)
            for n, authority in p.authority_rows:
                for column, value in zip(authorities, (rid, n, authority), strict=True):
                    column.append(value)
            if p.inputs is not None:
                inputs[p.check_id] = p.inputs  # the last one wins, as one upsert each would
        return columns, measures, authorities, [list(inputs), list(inputs.values())]

    @classmethod
    def _insert(
        cls, conn: psycopg.Connection[Any], writer: str, rows: list[tuple[int, PreparedRecord, str]]
    ) -> None:
        """Insert ``(wseq, record, body)`` rows with their measures, authorities and inputs:
        one statement per table, whatever the batch's size (in a pipeline, no wait for
        the server between them)."""
        columns, measures, authorities, inputs = cls._arrays(rows)
        conn.execute(_INSERT, (writer, *columns), prepare=True)
        conn.execute(_INSERT_UPLOADS, (columns[1],), prepare=True)
        if measures[0]:
            conn.execute(_INSERT_MEASURE, measures, prepare=True)
        if authorities[0]:
            conn.execute(_INSERT_AUTHORITY, authorities, prepare=True)
        if inputs[0]:
            conn.execute(_INSERT_INPUTS, inputs, prepare=True)
