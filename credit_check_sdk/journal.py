"""The local journal: every check and every action, durable and hash-chained, in one SQLite file.

A record is on disk when :meth:`Journal.append` returns: the file runs in WAL
mode with ``synchronous=FULL``, so a committed record survives the process
being killed and, as far as SQLite and the disk honour ``fsync``, power loss.
Each record carries ``prev_hash`` (the hash of the record before it in this
journal) and ``hash`` (SHA-256 of its canonical JSON, see
:func:`canonical_hash`), so a removed, altered or reordered record shows in
:meth:`Journal.verify`.

Several threads may share one :class:`Journal`: appends that arrive while a
commit is in flight are written together in the next transaction (group
commit), one ``fsync`` for the lot, and each caller returns only once the
transaction holding its own record has committed. Several processes may
append to the same file: every write transaction is ``BEGIN IMMEDIATE`` and
reads the head of the chain inside it.

>>> import tempfile, os
>>> j = Journal(os.path.join(tempfile.mkdtemp(), "journal.db"))
>>> r = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
>>> r["prev_hash"] is None and r["hash"] == canonical_hash(r)
True
>>> j.verify().ok
True
>>> j.close()
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from ._exceptions import InvalidRequestError, JournalError
from ._files import create_private_file, make_private_dir

__all__ = [
    "SCHEMA_VERSION",
    "ColumnMismatch",
    "ColumnVerifyResult",
    "Journal",
    "ObjectionStatus",
    "Problem",
    "UploadState",
    "VerifyResult",
    "canonical_hash",
    "utc_text",
]

logger = logging.getLogger(__name__)

UploadState = Literal["pending", "accepted", "duplicate", "rejected"]
_STATES: tuple[UploadState, ...] = ("pending", "accepted", "duplicate", "rejected")

#: The schema this code writes; ``PRAGMA user_version`` holds the file's.
#: 1: records, inputs, meta. 2: adds the local ``objections`` and ``report_receipts`` tables.
#: 3: adds the report columns (``outcome``, ``category``, ``source``, ``recheck_of``,
#: ``action``) and the ``record_measures`` table, copied from each body at append time.
#: 4: indexes only, for the monthly report: ``records_check_id`` covers
#: ``(check_id, type, action, at)``, ``records_type_at`` also holds ``id``, and the
#: partial ``records_overrides`` lists not_applied / overridden actions by check.
SCHEMA_VERSION = 4

# Rows fetched per round trip when streaming the journal (iter_records, verify):
# the connection lock is released between pages so appends are not held up.
_PAGE = 500

#: The largest record (canonical JSON, in bytes) the journal takes: records are
#: uploaded up to 1,000 to a request, and a check or action record is a few KB.
MAX_RECORD_BYTES = 256 * 1024

# SQLite's default limit on host parameters is 999 on old builds; stay below it.
_MAX_PARAMS = 500

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    type TEXT NOT NULL,
    check_id TEXT,
    at TEXT NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL,
    prev_hash TEXT,
    upload_state TEXT NOT NULL DEFAULT 'pending',
    upload_detail TEXT,
    uploaded_at TEXT
);
CREATE INDEX IF NOT EXISTS records_upload_state ON records(upload_state);
CREATE INDEX IF NOT EXISTS records_at ON records(at);
CREATE INDEX IF NOT EXISTS records_check_id ON records(check_id);
CREATE TABLE IF NOT EXISTS inputs (check_id TEXT PRIMARY KEY, body TEXT);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Version 2: local bookkeeping that is not part of the hash chain and is never
# uploaded (records:batch takes check and action records only).
_SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS objections (
    objection_id TEXT PRIMARY KEY,
    check_id TEXT,
    entry_id TEXT,
    subject_id TEXT,
    filed_at TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objections_filed_at ON objections(filed_at);
CREATE TABLE IF NOT EXISTS report_receipts (
    period TEXT NOT NULL,
    version INTEGER NOT NULL,
    receipt_id TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    PRIMARY KEY (period, version)
);
"""

# Version 3: what the monthly report counts, as plain columns and one side table,
# so that it groups on columns instead of parsing every body (json_extract).
# Derived from the body when a record is appended (see _derived), never hashed:
# the body stays the one source of truth (verify() hashes the body only).
# record_measures holds a check's ``measures`` (measure_id, status) and an
# action's ``measure_ids`` (measure_id, status NULL), ``n`` being the position in the list.
_SCHEMA_V3 = """
ALTER TABLE records ADD COLUMN outcome;
ALTER TABLE records ADD COLUMN category;
ALTER TABLE records ADD COLUMN source;
ALTER TABLE records ADD COLUMN recheck_of;
ALTER TABLE records ADD COLUMN action;
CREATE TABLE IF NOT EXISTS record_measures (
    seq INTEGER NOT NULL,
    n INTEGER NOT NULL,
    measure_id,
    status,
    PRIMARY KEY (seq, n)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_type_at ON records(type, at, outcome, category, source);
CREATE INDEX IF NOT EXISTS records_recheck_of ON records(recheck_of) WHERE recheck_of IS NOT NULL
"""

# Version 4: indexes only. The report finds a month's checks, their ids and their
# actions (kind and time) in the indexes alone, without reading the record rows
# (bodies) of checks that have no measures: records_check_id is widened to cover
# (check_id, type, action, at), records_type_at also holds the id, and the small
# partial index records_overrides lists the not_applied / overridden actions (the
# ones whose body the report copies) by check. Same number of indexes written per
# append, plus one for the rare override.
_SCHEMA_V4 = """
DROP INDEX IF EXISTS records_check_id;
CREATE INDEX records_check_id ON records(check_id, type, action, at);
DROP INDEX IF EXISTS records_type_at;
CREATE INDEX records_type_at ON records(type, at, outcome, category, source, id);
CREATE INDEX IF NOT EXISTS records_overrides ON records(check_id)
    WHERE type = 'action' AND action IN ('not_applied', 'overridden')
"""

# The backfill of a file written by an older version: the same values as _derived()
# gives (json_extract has the same rules: scalars as they are, true/false as 1/0,
# objects and arrays as compact JSON text). Bodies that are not JSON objects are
# left alone; verify() reports them as bad_body.
_BACKFILL_V3 = """
UPDATE records SET
    outcome = json_extract(body, '$.outcome'),
    category = CASE json_type(body, '$.matter') WHEN 'object'
               THEN json_extract(body, '$.matter.category') END,
    source = json_extract(body, '$.source'),
    recheck_of = json_extract(body, '$.recheck_of')
WHERE type = 'check' AND json_valid(body) AND json_type(body) = 'object';
UPDATE records SET action = json_extract(body, '$.action')
WHERE type = 'action' AND json_valid(body) AND json_type(body) = 'object';
INSERT OR REPLACE INTO record_measures(seq, n, measure_id, status)
SELECT r.seq, m.key, json_extract(m.value, '$.id'), json_extract(m.value, '$.status')
FROM records r, json_each(r.body, '$.measures') m
WHERE r.type = 'check' AND json_valid(r.body) AND json_type(r.body) = 'object'
  AND json_type(r.body, '$.measures') = 'array' AND m.type = 'object';
INSERT OR REPLACE INTO record_measures(seq, n, measure_id, status)
SELECT r.seq, m.key, m.value, NULL
FROM records r, json_each(r.body, '$.measure_ids') m
WHERE r.type = 'action' AND json_valid(r.body) AND json_type(r.body) = 'object'
  AND json_type(r.body, '$.measure_ids') = 'array'
"""

# Not part of a schema version: created on open when missing, so that files of every
# version since 1 gain it and SDKs that do not know it still read and write them.
# CreditChecker.watch() looks up the latest check of a case through it instead of
# scanning the bodies. Partial: checks only, and only bodies that are JSON (a tampered
# body must neither break an insert nor the building of the index; verify() reports it).
# The expression and the WHERE terms must stay exactly as in latest_check_for_case().
_CASE_INDEX = "records_case_id"
_CASE_INDEX_SQL = f"""
CREATE INDEX IF NOT EXISTS {_CASE_INDEX} ON records(json_extract(body, '$.matter.case_id'))
    WHERE type = 'check' AND json_valid(body)
"""

_INT64 = (-(2**63), 2**63 - 1)


def _sql_value(value: Any) -> Any:
    """``value`` as SQLite's ``json_extract`` returns it, so appends and the backfill agree."""
    if value is None or isinstance(value, str | float):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else float(value)
    # Keys sorted, as in the stored body that json_extract reads.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


_NO_COLUMNS: tuple[Any, ...] = (None, None, None, None, None)


def _derived(record: dict[str, Any]) -> tuple[tuple[Any, ...], list[tuple[int, Any, Any]]]:
    """The report columns of ``record`` (outcome, category, source, recheck_of, action)
    and its ``record_measures`` rows ``(n, measure_id, status)``.

    >>> _derived({"type": "check", "outcome": "restriction", "matter": {"category": "bidding"},
    ...     "source": "live", "measures": [{"id": "P-1", "status": "applied"}]})
    (('restriction', 'bidding', 'live', None, None), [(0, 'P-1', 'applied')])
    >>> _derived({"type": "action", "action": "applied", "measure_ids": ["P-1"]})
    ((None, None, None, None, 'applied'), [(0, 'P-1', None)])
    """
    kind = record.get("type")
    rows: list[tuple[int, Any, Any]] = []
    if kind == "check":
        matter = record.get("matter")
        columns = (
            _sql_value(record.get("outcome")),
            _sql_value(matter.get("category")) if isinstance(matter, dict) else None,
            _sql_value(record.get("source")),
            _sql_value(record.get("recheck_of")),
            None,
        )
        measures = record.get("measures")
        if isinstance(measures, list):
            for n, m in enumerate(measures):
                if isinstance(m, dict):
                    rows.append((n, _sql_value(m.get("id")), _sql_value(m.get("status"))))
        return columns, rows
    if kind == "action":
        ids = record.get("measure_ids")
        if isinstance(ids, list):
            rows = [(n, _sql_value(v), None) for n, v in enumerate(ids)]
        return (None, None, None, None, _sql_value(record.get("action"))), rows
    return _NO_COLUMNS, rows


#: The report columns in the order :func:`_derived` gives them.
_DERIVED_COLUMNS = ("outcome", "category", "source", "recheck_of", "action")


def _key_columns(record: dict[str, Any]) -> tuple[Any, Any, str]:
    """The ``type``, ``check_id`` and ``at`` columns of ``record`` (a check is its own check).

    Raises :class:`InvalidRequestError` when the record has no usable time.

    >>> _key_columns({"type": "action", "check_id": "c1", "acted_at": "2026-11-29T08:05:00+08:00"})
    ('action', 'c1', '2026-11-29T00:05:00.000000Z')
    """
    kind = record.get("type")
    at = _parse_at(record)
    check_id = record.get("id") if kind == "check" else record.get("check_id")
    return kind, check_id, at


def _same(stored: Any, derived: Any) -> bool:
    """Equal in value and in SQLite type (``1``, ``1.0`` and ``'1'`` differ in a column)."""
    return type(stored) is type(derived) and stored == derived


#: What the platform says of an objection (``GET /v1/objections/{id}``).
ObjectionStatus = Literal["verifying", "upheld", "rejected"]
_OBJECTION_STATUSES: tuple[ObjectionStatus, ...] = ("verifying", "upheld", "rejected")


def canonical_json(record: dict[str, Any]) -> bytes:
    """The contract's canonical form: ``record`` without ``hash``, keys sorted, no spaces, UTF-8.

    >>> canonical_json({"b": 1, "a": "中", "hash": "x"})
    b'{"a":"\\xe4\\xb8\\xad","b":1}'
    """
    body = {k: v for k, v in record.items() if k != "hash"}
    # allow_nan=False: the output is identical for every valid record, and a NaN
    # (which is not JSON and which the platform could not parse) is refused.
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_hash(record: dict[str, Any]) -> str:
    """Lowercase hex SHA-256 of the record's canonical JSON (its ``hash`` key left out).

    >>> canonical_hash({"id": "a", "prev_hash": None, "hash": "ignored"}) == hashlib.sha256(
    ...     b'{"id":"a","prev_hash":null}').hexdigest()
    True
    """
    return hashlib.sha256(canonical_json(record)).hexdigest()


@dataclass(frozen=True)
class Problem:
    """One defect :meth:`Journal.verify` found.

    ``kind`` is ``hash_mismatch`` (the body does not hash to its ``hash``),
    ``broken_link`` (``prev_hash`` is not the previous record's hash), ``gap``
    (a sequence number is missing), ``column_mismatch`` (an indexed column
    disagrees with the body) or ``bad_body`` (the stored body is not a JSON object).
    """

    seq: int
    id: str
    kind: str
    detail: str


@dataclass
class VerifyResult:
    """The outcome of :meth:`Journal.verify`: ``ok`` when no problem was found."""

    ok: bool
    checked: int
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class ColumnMismatch:
    """One stored column or ``record_measures`` value that :meth:`Journal.verify_columns`
    found to disagree with the record's body.

    ``column`` is ``type``, ``check_id``, ``at``, ``outcome``, ``category``, ``source``,
    ``recheck_of`` or ``action`` for a column of ``records``; ``record_measures[n]`` for a
    measure row that is missing or should not be there, ``record_measures[n].measure_id``
    or ``record_measures[n].status`` for one that differs; ``body`` when the body cannot
    be read at all. ``stored`` is what the file holds, ``derived`` what the body gives
    (``None`` for no row). ``seq`` is the record's sequence number; a measure row whose
    record does not exist has ``id`` ``""``.
    """

    seq: int
    id: str
    column: str
    stored: Any
    derived: Any


@dataclass
class ColumnVerifyResult:
    """The outcome of :meth:`Journal.verify_columns`: ``ok`` when every column agrees.

    ``mismatches`` holds the first ``limit`` disagreements found; ``mismatch_count``
    counts them all.
    """

    ok: bool
    checked: int
    mismatch_count: int = 0
    mismatches: list[ColumnMismatch] = field(default_factory=list)


class _Pending:
    """One append waiting for a group commit."""

    __slots__ = ("at", "check_id", "columns", "done", "error", "inputs", "measure_rows", "record")

    def __init__(
        self, record: dict[str, Any], inputs: str | None, at: str, check_id: str | None
    ) -> None:
        self.record = record
        # The report columns and record_measures rows: computed before the lock.
        self.columns, self.measure_rows = _derived(record)
        self.inputs = inputs
        self.at = at
        self.check_id = check_id
        self.done = False
        self.error: JournalError | None = None


def _utc_text(value: datetime) -> str:
    """A fixed-width UTC form that sorts as text in time order (for the ``at`` column)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_text(value: datetime) -> str:
    """The journal's stored form of an instant: fixed-width UTC text that sorts in time order.

    >>> from datetime import timedelta
    >>> utc_text(datetime(2026, 10, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=8))))
    '2026-10-31T15:59:59.000000Z'
    """
    if value.tzinfo is None:
        raise InvalidRequestError("an instant needs a timezone")
    return _utc_text(value)


def _time_window(
    column: str, since: datetime | None, until: datetime | None
) -> tuple[str, list[str]]:
    """SQL ``AND column >= ? AND column < ?`` for the bounds given, with their values."""
    where, params = "", []
    for bound, op in ((since, ">="), (until, "<")):
        if bound is None:
            continue
        if bound.tzinfo is None:
            raise InvalidRequestError("since/until need a timezone")
        where += f" AND {column} {op} ?"
        params.append(_utc_text(bound))
    return where, params


def _parse_at(record: dict[str, Any]) -> str:
    key = "checked_at" if record.get("type") == "check" else "acted_at"
    raw = record.get(key)
    if not isinstance(raw, str):
        raise InvalidRequestError(
            f"a {record.get('type')} record needs {key} as an RFC 3339 string"
        )
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidRequestError(f"{key} {raw!r} is not an RFC 3339 timestamp") from exc
    if parsed.tzinfo is None:
        # A journal that outlives daylight-saving and server moves must not hold
        # instants whose meaning depends on the machine's clock settings.
        raise InvalidRequestError(f"{key} {raw!r} has no UTC offset")
    return _utc_text(parsed)


# Journals alive in this process, so that a fork can reset their locks and
# connections in the child (a lock held by another parent thread at fork time
# would otherwise stay held forever, and SQLite connections must not cross fork).
_INSTANCES: weakref.WeakSet[Journal] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for journal in list(_INSTANCES):
        journal._reset_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Journal:
    """A durable, hash-chained journal of check and action records in one SQLite file.

    ``busy_timeout`` is how long a write waits for another process holding
    the file's write lock before :class:`JournalError` is raised.

    >>> import tempfile, os
    >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
    >>> j.counts()
    {'pending': 0, 'accepted': 0, 'duplicate': 0, 'rejected': 0}
    >>> j.close()
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        self.path = str(path)
        self._busy_timeout = busy_timeout
        # One connection, guarded by one lock. Measured (benchmarks/bench_journal.py):
        # a connection per thread makes every writer fight for SQLite's file lock
        # through its sleeping busy handler, which is far slower than queueing
        # on a Python lock and committing the queued records together.
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._closed = False
        # Connections inherited over fork are kept referenced, never closed:
        # closing one in the child could touch the parent's locks and WAL.
        self._abandoned: list[sqlite3.Connection] = []
        with self._lock:
            self._connection()
        _INSTANCES.add(self)

    # --- connection management -------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = None
        try:
            make_private_dir(Path(self.path).parent)
            create_private_file(self.path)  # 0600, and so its -wal and -shm: full RICs
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # every use is under self._lock
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(
                    f"journal {self.path}: cannot enable WAL (got {mode})", path=self.path
                )
            # FULL: in WAL mode the WAL is fsynced at every commit, so a record
            # is durable when append() returns (NORMAL could lose the last
            # commits on power loss).
            conn.execute("PRAGMA synchronous = FULL")
            self._migrate(conn)
            self._ensure_case_index(conn)
        except (sqlite3.Error, OSError, JournalError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, JournalError):
                raise
            raise JournalError(f"journal {self.path}: cannot open: {exc}", path=self.path) from exc
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal {self.path} has schema {version}; this SDK reads up to {SCHEMA_VERSION}",
                path=self.path,
            )
        # Another process may be creating or upgrading the file at the same
        # moment: take the write lock, then look again.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._run_script(conn, _SCHEMA_V1)
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('created_at', ?)",
                    (_utc_text(datetime.now(timezone.utc)),),
                )
            if version < 2:
                self._run_script(conn, _SCHEMA_V2)
            if version < 3:
                self._run_script(conn, _SCHEMA_V3)
                if version > 0:  # an older file: fill the new columns from the bodies
                    self._run_script(conn, _BACKFILL_V3)
            if version < 4:
                self._run_script(conn, _SCHEMA_V4)
            if version < SCHEMA_VERSION:
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _ensure_case_index(self, conn: sqlite3.Connection) -> None:
        """Create the index of checks by case id when the file lacks it (see ``_CASE_INDEX``)."""
        # Looked up first: CREATE INDEX IF NOT EXISTS would still take the write lock
        # at every open, and wait behind another process's long write.
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (_CASE_INDEX,)
        ).fetchone()
        if found is None:
            logger.info("journal %s: indexing checks by case id", self.path)
            conn.execute(_CASE_INDEX_SQL)

    @staticmethod
    def _run_script(conn: sqlite3.Connection, script: str) -> None:
        # Statement by statement: executescript() would COMMIT our transaction.
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)

    def _connection(self) -> sqlite3.Connection:
        """The connection for this process; call with ``self._lock`` held."""
        if self._closed:
            raise JournalError(f"journal {self.path} is closed", path=self.path)
        if self._conn is None or self._pid != os.getpid():
            if self._conn is not None:
                self._abandoned.append(self._conn)
            self._conn = None
            self._conn = self._open()
            self._pid = os.getpid()
        return self._conn

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue = []
        if self._conn is not None:
            self._abandoned.append(self._conn)
        self._conn = None  # reopened lazily, with the child's pid

    # --- writing ----------------------------------------------------------------

    def append(
        self, record: dict[str, Any], *, inputs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Chain, hash and durably store ``record``; return it with ``prev_hash`` and ``hash`` set.

        ``record`` needs ``type`` (``check`` or ``action``), a unique ``id`` and
        ``checked_at`` or ``acted_at`` (RFC 3339 with offset); any ``prev_hash``
        and ``hash`` it carries are replaced. ``inputs`` (check records only)
        stores what the check was decided from, for :meth:`inputs_for`.
        Raises :class:`InvalidRequestError` for a malformed record and
        :class:`JournalError` when it cannot be stored; it never drops one silently.

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> c = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"},
        ...              inputs={"catalog_version": "2026.11.1"})
        >>> a = j.append({"type": "action", "id": "a1", "check_id": "c1",
        ...               "acted_at": "2026-11-29T08:05:00+08:00", "action": "applied"})
        >>> a["prev_hash"] == c["hash"]
        True
        >>> j.close()
        """
        pending = self._prepare(record, inputs)
        with self._queue_lock:
            self._queue.append(pending)
        # Group commit: whoever holds the lock commits everything queued so far.
        # A thread that finds its record already committed by another leader
        # returns at once; otherwise it leads the next transaction itself.
        with self._lock:
            if not pending.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        if pending.error is not None:
            raise pending.error
        return pending.record

    def append_many(
        self, items: list[tuple[dict[str, Any], dict[str, Any] | None]]
    ) -> list[dict[str, Any]]:
        """Append several ``(record, inputs)`` pairs in one durable transaction, in order.

        What :meth:`append` does for one record, for a batch of checks (one
        ``fsync`` instead of one per record). Any malformed record fails the
        call before anything is stored.

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> rs = j.append_many([
        ...     ({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"}, None),
        ...     ({"type": "check", "id": "c2", "checked_at": "2026-11-29T08:00:01+08:00"}, None)])
        >>> rs[1]["prev_hash"] == rs[0]["hash"]
        True
        >>> j.close()
        """
        prepared = [self._prepare(record, inputs) for record, inputs in items]
        if not prepared:
            return []
        with self._queue_lock:
            self._queue.extend(prepared)
        with self._lock:
            if not all(p.done for p in prepared):
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        for p in prepared:
            if p.error is not None:
                raise p.error
        return [p.record for p in prepared]

    def _prepare(self, record: dict[str, Any], inputs: dict[str, Any] | None) -> _Pending:
        if not isinstance(record, dict):
            raise InvalidRequestError(f"a record is a dict, not {type(record).__name__}")
        try:
            # A JSON round trip gives a private copy the caller cannot change
            # afterwards, and turns tuples into lists, so the returned record
            # is exactly what was hashed, stored and will be uploaded.
            clean = json.loads(json.dumps(record, allow_nan=False, ensure_ascii=False))
            inputs_text = (
                None
                if inputs is None
                else json.dumps(inputs, sort_keys=True, allow_nan=False, ensure_ascii=False)
            )
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(f"record is not JSON-serialisable: {exc}") from exc
        # Everything that could fail for this one record fails here, in the caller's
        # thread: a group commit writes the records of other threads too, and one that
        # cannot be hashed or stored there (a lone surrogate has no UTF-8 form) would
        # fail the whole batch.
        try:
            size = len(canonical_json(clean))
            if inputs_text is not None:
                inputs_text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidRequestError(
                f"record holds text that is not valid Unicode (position {exc.start}:"
                f" {exc.reason}); a lone surrogate cannot be stored or uploaded"
            ) from exc
        if size > MAX_RECORD_BYTES:
            raise InvalidRequestError(
                f"record is {size:,} bytes as JSON; at most {MAX_RECORD_BYTES:,} are uploaded"
            )
        kind = clean.get("type")
        if kind not in ("check", "action"):
            raise InvalidRequestError(f"record type must be 'check' or 'action', not {kind!r}")
        if not isinstance(clean.get("id"), str) or not clean["id"]:
            raise InvalidRequestError("record needs a non-empty string id")
        _, check_id, at = _key_columns(clean)
        if check_id is not None and not isinstance(check_id, str):
            raise InvalidRequestError("check_id must be a string")
        if inputs is not None and kind != "check":
            raise InvalidRequestError("inputs are stored with check records only")
        clean.pop("hash", None)
        clean["prev_hash"] = None
        return _Pending(clean, inputs_text, at, check_id)

    def _commit(self, batch: list[_Pending]) -> None:
        """Write ``batch`` in one transaction; call with ``self._lock`` held.

        One bad record (a reused id) fails alone; the chain continues from the
        last good one.
        """
        try:
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
                row = conn.execute(
                    "SELECT hash, seq FROM records ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                head: str | None = row[0] if row else None
                if any(p.measure_rows for p in batch):
                    # Sequence numbers after the head are free again should the last
                    # record ever have been deleted: so must their measure rows be.
                    conn.execute(
                        "DELETE FROM record_measures WHERE seq > ?", (row[1] if row else 0,)
                    )
                written: list[_Pending] = []
                for p in batch:
                    p.record["prev_hash"] = head
                    p.record.pop("hash", None)
                    digest = canonical_hash(p.record)
                    p.record["hash"] = digest
                    body = json.dumps(
                        p.record, sort_keys=True, separators=(",", ":"), ensure_ascii=False
                    )
                    try:
                        # A constraint failure undoes only the failing statement
                        # (SQLite's statement-level ABORT); the transaction and
                        # the rest of the batch go on, so no savepoint is needed.
                        cur = conn.execute(
                            "INSERT INTO records(id, type, check_id, at, body, hash, prev_hash,"
                            " outcome, category, source, recheck_of, action)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (
                                p.record["id"],
                                p.record["type"],
                                p.check_id,
                                p.at,
                                body,
                                digest,
                                head,
                                *p.columns,
                            ),
                        )
                    except sqlite3.IntegrityError as exc:
                        p.error = JournalError(
                            f"journal {self.path}: record {p.record['id']!r} not stored: {exc}"
                            " (an id may be journaled once)",
                            path=self.path,
                        )
                        continue
                    if p.measure_rows:
                        seq = cur.lastrowid
                        conn.executemany(
                            "INSERT INTO record_measures(seq, n, measure_id, status)"
                            " VALUES (?, ?, ?, ?)",
                            [(seq, *row) for row in p.measure_rows],
                        )
                    if p.inputs is not None:
                        # Keyed by this new check's own id, so it cannot clash.
                        conn.execute(
                            "INSERT OR REPLACE INTO inputs(check_id, body) VALUES (?, ?)",
                            (p.check_id, p.inputs),
                        )
                    head = digest
                    written.append(p)
                conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                except sqlite3.Error:
                    logger.exception("journal %s: rollback failed", self.path)
                if isinstance(exc, sqlite3.Error):
                    raise JournalError(
                        f"journal {self.path}: write failed: {exc}", path=self.path
                    ) from exc
                raise
        except JournalError as exc:
            for p in batch:
                if p.error is None:
                    p.error = exc
        except BaseException as exc:
            # KeyboardInterrupt and the like: no record of this batch is stored;
            # every waiter learns so, then the interrupt goes on.
            for p in batch:
                if p.error is None:
                    p.error = JournalError(
                        f"journal {self.path}: write interrupted: {exc!r}", path=self.path
                    )
                p.done = True
            raise
        for p in batch:
            p.done = True

    # --- upload state -----------------------------------------------------------

    def pending(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Up to ``limit`` records not yet uploaded, oldest first.

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> [r["id"] for r in j.pending()]
        ['c1']
        >>> j.close()
        """
        return [record for _, record in self._pending_rows(limit, after_seq=0)]

    def _pending_rows(self, limit: int, after_seq: int) -> list[tuple[int, dict[str, Any]]]:
        """``(seq, record)`` of pending records after ``after_seq``, oldest first.

        The uploader walks the queue with ``after_seq`` so that records the
        platform's answer did not mention are not resent within one pass.
        """
        rows = self._query(
            "SELECT seq, body FROM records WHERE upload_state = 'pending' AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [(seq, json.loads(body)) for seq, body in rows]

    def mark(self, ids: list[str], state: Literal["accepted", "duplicate"]) -> None:
        """Record that the platform took ``ids`` (``accepted``) or already had them (``duplicate``).

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> j.mark(["c1"], "accepted"); j.counts()["accepted"]
        1
        >>> j.close()
        """
        if state not in ("accepted", "duplicate"):
            raise InvalidRequestError(f"state must be 'accepted' or 'duplicate', not {state!r}")
        now = _utc_text(datetime.now(timezone.utc))
        ids = list(ids)
        for start in range(0, len(ids), _MAX_PARAMS):
            chunk = ids[start : start + _MAX_PARAMS]
            marks = ",".join("?" * len(chunk))
            sql = f"UPDATE records SET upload_state = ?, upload_detail = NULL, uploaded_at = ? WHERE id IN ({marks})"  # noqa: E501, S608 - only "?" placeholders are interpolated; one line keeps the noqa on it
            self._write(sql, (state, now, *chunk))

    def mark_rejected(self, id: str, detail: str) -> None:
        """Record that the platform refused record ``id``, and why; it stays in the journal.

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> j.mark_rejected("c1", "bad matter"); j.counts()["rejected"]
        1
        >>> j.close()
        """
        now = _utc_text(datetime.now(timezone.utc))
        self._write(
            "UPDATE records SET upload_state = 'rejected', upload_detail = ?, uploaded_at = ?"
            " WHERE id = ?",
            (detail, now, id),
        )

    def upload_state(self, id: str) -> tuple[str, str | None] | None:
        """``(upload_state, upload_detail)`` of record ``id``, or None when there is none."""
        rows = self._query("SELECT upload_state, upload_detail FROM records WHERE id = ?", (id,))
        return (rows[0][0], rows[0][1]) if rows else None

    def counts(self) -> dict[str, int]:
        """How many records are in each upload state (every state listed, zeros included)."""
        result: dict[str, int] = dict.fromkeys(_STATES, 0)
        for state, n in self._query(
            "SELECT upload_state, COUNT(*) FROM records GROUP BY upload_state", ()
        ):
            result[state] = n
        return result

    # --- reading ----------------------------------------------------------------

    def get(self, id: str) -> dict[str, Any] | None:
        """The record with this id, or None.

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
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
        rows = self._query("SELECT body FROM inputs WHERE check_id = ?", (check_id,))
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
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
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
        (``matter.case_id``), or None.

        Read through an index of checks by case id, so it costs a few rows however
        long the journal is.

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "outcome": "normal",
        ...               "matter": {"category": "bidding", "case_id": "ZSGC-2026-118"},
        ...               "subject": {"id": "91442000MA4UJ2KQ57", "kind": "legal_entity"},
        ...               "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> j.latest_check_for_case("91442000MA4UJ2KQ57", "ZSGC-2026-118")["outcome"]
        'normal'
        >>> j.close()
        """
        # The WHERE terms and the expression match _CASE_INDEX_SQL, so SQLite uses the
        # partial index; its entries are in seq order, so no sort either.
        rows = self._query(
            "SELECT body FROM records WHERE type = 'check' AND json_valid(body)"
            " AND json_extract(body, '$.matter.case_id') = ?"
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
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> [r["id"] for r in j.iter_records(since=datetime(2026, 11, 1, tzinfo=timezone.utc))]
        ['c1']
        >>> j.close()
        """
        where, params = _time_window("at", since, until)
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

    def verify(self) -> VerifyResult:
        """Recompute every hash and check every link and sequence number.

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
        >>> j.verify()
        VerifyResult(ok=True, checked=1, problems=[])
        >>> j.close()
        """
        problems: list[Problem] = []
        checked = 0
        prev_seq = 0
        prev_hash: str | None = None
        while True:
            rows = self._query(
                "SELECT seq, id, hash, prev_hash, body FROM records WHERE seq > ?"
                " ORDER BY seq LIMIT ?",
                (prev_seq, _PAGE),
            )
            for seq, rid, col_hash, col_prev, text in rows:
                checked += 1
                if seq != prev_seq + 1:
                    problems.append(
                        Problem(seq, rid, "gap", f"seq {prev_seq + 1}..{seq - 1} missing")
                    )
                try:
                    body = json.loads(text)
                    if not isinstance(body, dict):
                        raise ValueError("not an object")
                except ValueError as exc:
                    problems.append(Problem(seq, rid, "bad_body", str(exc)))
                    prev_seq, prev_hash = seq, col_hash
                    continue
                stated = body.get("hash")
                actual = canonical_hash(body)
                if stated != actual:
                    problems.append(
                        Problem(
                            seq, rid, "hash_mismatch", f"body hashes to {actual}, states {stated}"
                        )
                    )
                if body.get("prev_hash") != prev_hash:
                    problems.append(
                        Problem(
                            seq,
                            rid,
                            "broken_link",
                            f"prev_hash {body.get('prev_hash')} but the previous record's hash is"
                            f" {prev_hash}",
                        )
                    )
                if (body.get("id"), stated, body.get("prev_hash")) != (rid, col_hash, col_prev):
                    problems.append(
                        Problem(
                            seq,
                            rid,
                            "column_mismatch",
                            "id/hash/prev_hash columns differ from the body",
                        )
                    )
                prev_seq, prev_hash = seq, stated
            if len(rows) < _PAGE:
                break
        return VerifyResult(ok=not problems, checked=checked, problems=problems)

    def verify_columns(self, *, limit: int | None = 10_000) -> ColumnVerifyResult:
        """Re-derive every record's report columns and measure rows from its body, and
        name each stored value that disagrees.

        :meth:`verify` proves the bodies untouched; the monthly report counts from plain
        columns (``type``, ``check_id``, ``at``, ``outcome``, ``category``, ``source``,
        ``recheck_of``, ``action``) and from the ``record_measures`` rows, which are
        copied from the body when a record is appended and are not hashed. This walks
        the journal a page at a time (memory stays flat however long it is), derives
        those values with the code :meth:`append` uses, and compares. ``limit`` bounds
        how many mismatches are kept (all are counted); ``None`` keeps every one.

        >>> import tempfile, os, sqlite3
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
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

        def note(mismatch: ColumnMismatch) -> None:
            result.ok = False
            result.mismatch_count += 1
            if limit is None or len(result.mismatches) < limit:
                result.mismatches.append(mismatch)

        last = 0
        while True:
            rows = self._query(
                "SELECT seq, id, body, type, check_id, at, outcome, category, source,"
                " recheck_of, action FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                (last, _PAGE),
            )
            if not rows:
                break
            first, end = last, rows[-1][0]
            # This page's measure rows, by record: bounded by the page's seq range, so
            # the page's records and their rows are read together whatever is appended.
            measures: dict[int, dict[int, tuple[Any, Any]]] = {}
            for seq, n, measure_id, status in self._query(
                "SELECT seq, n, measure_id, status FROM record_measures"
                " WHERE seq > ? AND seq <= ? ORDER BY seq, n",
                (first, end),
            ):
                measures.setdefault(seq, {})[n] = (measure_id, status)
            for seq, rid, text, *stored in rows:
                result.checked += 1
                for mismatch in self._column_mismatches(
                    seq, rid, text, tuple(stored), measures.pop(seq, {})
                ):
                    note(mismatch)
            # What is left belongs to no record of the page (a deleted record's rows).
            for seq, orphans in sorted(measures.items()):
                for n, row in sorted(orphans.items()):
                    note(ColumnMismatch(seq, "", f"record_measures[{n}]", row, None))
            last = end
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
            note(ColumnMismatch(seq, "", f"record_measures[{n}]", (measure_id, status), None))
        return result

    @staticmethod
    def _column_mismatches(
        seq: int,
        rid: str,
        text: str,
        stored: tuple[Any, ...],
        stored_measures: dict[int, tuple[Any, Any]],
    ) -> Iterator[ColumnMismatch]:
        """How one record's stored ``stored`` columns (type, check_id, at, then the
        report columns) and measure rows differ from what its body ``text`` gives."""
        try:
            body = json.loads(text)
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            yield ColumnMismatch(seq, rid, "body", f"unreadable: {exc}", None)
            return
        columns, measure_rows = _derived(body)
        names: tuple[str, ...]
        derived: tuple[Any, ...]
        try:
            keys = _key_columns(body)
        except InvalidRequestError:
            # No usable time in the body (append refuses such a record): the key
            # columns cannot be derived; the report columns still can.
            yield ColumnMismatch(seq, rid, "at", stored[2], None)
            names, derived, stored = _DERIVED_COLUMNS, columns, stored[3:]
        else:
            names, derived = ("type", "check_id", "at", *_DERIVED_COLUMNS), (*keys, *columns)
        for name, have, want in zip(names, stored, derived, strict=True):
            if not _same(have, want):
                yield ColumnMismatch(seq, rid, name, have, want)
        wanted = {n: (measure_id, status) for n, measure_id, status in measure_rows}
        for n in sorted(wanted.keys() | stored_measures.keys()):
            have_row, want_row = stored_measures.get(n), wanted.get(n)
            if have_row is None or want_row is None:
                yield ColumnMismatch(seq, rid, f"record_measures[{n}]", have_row, want_row)
                continue
            for name, have, want in zip(("measure_id", "status"), have_row, want_row, strict=True):
                if not _same(have, want):
                    yield ColumnMismatch(seq, rid, f"record_measures[{n}].{name}", have, want)

    # --- local bookkeeping: objections and report receipts ------------------------
    #
    # Neither is a journal record: they are not hash-chained, not returned by
    # iter_records or verify, and never uploaded (the platform's records:batch
    # accepts check and action records only). They are what this agency knows
    # of its own objections and report submissions, for the monthly report.

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
        """Note an objection filed through this agency; ``False`` when it was noted already.

        Local only: objections are not journal records and are not uploaded.
        Recording the same ``objection_id`` again changes nothing, so callers
        may record defensively. ``filed_at`` defaults to now and must carry a
        timezone.

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> j.record_objection("OBJ-1", "c1", "BL-1", "91442000MA4UJ2KQ57")
        True
        >>> [o["status"] for o in j.objections()]
        ['verifying']
        >>> j.close()
        """
        if status not in _OBJECTION_STATUSES:
            raise InvalidRequestError(
                f"status must be one of {', '.join(_OBJECTION_STATUSES)}, not {status!r}"
            )
        if not objection_id:
            raise InvalidRequestError("an objection needs an id")
        when = filed_at if filed_at is not None else datetime.now(timezone.utc)
        if when.tzinfo is None:
            raise InvalidRequestError("filed_at needs a timezone")
        stamp = _utc_text(when)
        before = self._changes()
        self._write(
            "INSERT INTO objections(objection_id, check_id, entry_id, subject_id, filed_at,"
            " status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(objection_id) DO NOTHING",
            (objection_id, check_id, entry_id, subject_id, stamp, status, stamp),
        )
        return self._changes() > before

    def update_objection(self, objection_id: str, status: ObjectionStatus) -> bool:
        """Set the platform's latest word on an objection; ``False`` when it is not known here.

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> _ = j.record_objection("OBJ-1", "c1", "BL-1", "91442000MA4UJ2KQ57")
        >>> j.update_objection("OBJ-1", "upheld"), j.update_objection("OBJ-2", "upheld")
        (True, False)
        >>> j.close()
        """
        if status not in _OBJECTION_STATUSES:
            raise InvalidRequestError(
                f"status must be one of {', '.join(_OBJECTION_STATUSES)}, not {status!r}"
            )
        before = self._changes()
        self._write(
            "UPDATE objections SET status = ?, updated_at = ? WHERE objection_id = ?",
            (status, _utc_text(datetime.now(timezone.utc)), objection_id),
        )
        return self._changes() > before

    def objections(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Objections filed in ``[since, until)``, oldest first (both bounds need a timezone).

        Each is a dict with ``objection_id``, ``check_id``, ``entry_id``,
        ``subject_id``, ``filed_at``, ``status`` and ``updated_at``; the two
        times are fixed-width UTC text (``2026-10-31T15:59:59.000000Z``).

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> j.objections()
        []
        >>> j.close()
        """
        where, params = _time_window("filed_at", since, until)
        columns = "objection_id, check_id, entry_id, subject_id, filed_at, status, updated_at"
        sql = f"SELECT {columns} FROM objections WHERE 1 = 1{where} ORDER BY filed_at, objection_id"  # noqa: S608 - fixed fragments, values bound
        rows = self._query(sql, tuple(params))
        keys = [c.strip() for c in columns.split(",")]
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def record_report_receipt(
        self,
        period: str,
        version: int,
        receipt_id: str,
        body_hash: str,
        *,
        submitted_at: datetime | None = None,
    ) -> None:
        """Keep the platform's receipt for a submitted monthly report (local, not uploaded).

        ``body_hash`` is the SHA-256 of the report as sent. A repeated
        ``(period, version)`` replaces the earlier row.

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> j.record_report_receipt("2026-10", 1, "RCPT-1", "ab" * 32)
        >>> [(r["period"], r["version"]) for r in j.report_receipts()]
        [('2026-10', 1)]
        >>> j.close()
        """
        when = submitted_at if submitted_at is not None else datetime.now(timezone.utc)
        if when.tzinfo is None:
            raise InvalidRequestError("submitted_at needs a timezone")
        self._write(
            "INSERT OR REPLACE INTO report_receipts(period, version, receipt_id, submitted_at,"
            " body_hash) VALUES (?, ?, ?, ?, ?)",
            (period, int(version), receipt_id, _utc_text(when), body_hash),
        )

    def report_receipts(self, period: str | None = None) -> list[dict[str, Any]]:
        """Receipts of submitted reports (one period, or all), by period then version."""
        where, params = ("", ()) if period is None else (" WHERE period = ?", (period,))
        columns = "period, version, receipt_id, submitted_at, body_hash"
        sql = f"SELECT {columns} FROM report_receipts{where} ORDER BY period, version"  # noqa: S608 - a fixed fragment, values bound
        rows = self._query(sql, params)
        keys = [c.strip() for c in columns.split(",")]
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # --- consistent reads for reports and exports -----------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A separate read-only connection inside one read transaction: a frozen view.

        Every query on it sees the journal as it was when the first one ran
        (WAL snapshot isolation), however many appends happen meanwhile, and
        it takes no lock that appends wait for. For reports and exports that
        read the file in several queries. Fixed-width UTC text is in ``at``
        (see :func:`utc_text`).

        >>> import tempfile, os
        >>> j = Journal(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> with j.snapshot() as conn:
        ...     conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        0
        >>> j.close()
        """
        if self._closed:
            raise JournalError(f"journal {self.path} is closed", path=self.path)
        try:
            uri = Path(self.path).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=self._busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot open: {exc}", path=self.path) from exc
        try:
            # Memory-mapped reads: a report reads most of a month's pages once.
            conn.execute("PRAGMA mmap_size = 268435456")
            conn.execute("BEGIN")
            yield conn
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: read failed: {exc}", path=self.path) from exc
        finally:
            try:
                if conn.in_transaction:
                    conn.execute("COMMIT")
            finally:
                conn.close()

    # --- plumbing ---------------------------------------------------------------

    def _changes(self) -> int:
        """Rows changed by this connection so far (``total_changes``)."""
        with self._lock:
            return self._connection().total_changes

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise JournalError(
                    f"journal {self.path}: read failed: {exc}", path=self.path
                ) from exc

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._lock:
            try:
                # A single statement in autocommit mode is its own transaction.
                self._connection().execute(sql, params)
            except sqlite3.Error as exc:
                raise JournalError(
                    f"journal {self.path}: write failed: {exc}", path=self.path
                ) from exc

    def close(self) -> None:
        """Close the file. Later calls raise :class:`JournalError`; closing twice is harmless."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                try:
                    self._conn.close()
                except sqlite3.Error as exc:
                    logger.warning("journal %s: close failed: %s", self.path, exc)
            self._conn = None
            self._closed = True

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({self.path!r})"
