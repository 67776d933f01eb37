"""The journal's SQLite file: its connection, schema migrations, fork safety, read views.

:class:`JournalFile` is what the SQLite journal and the stores kept in the same
file (upload claims, objections, report receipts, the report's reads) share:
one connection per process guarded by one
:class:`~credit_check_sdk._fork.ShortLock` (measured: a connection per thread
makes every writer fight for SQLite's file lock through its sleeping busy
handler, far slower than queueing on a Python lock and committing the queued
records together), WAL mode with ``synchronous=FULL`` (a record is on disk
when its commit returns), and a new connection in a forked child.

>>> import tempfile, os
>>> f = JournalFile(os.path.join(tempfile.mkdtemp(), "journal.sqlite3"))
>>> f._query("PRAGMA user_version", ())
[(8,)]
>>> f.close()
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..._exceptions import JournalError
from ..._files import create_private_file, make_private_dir
from ..._fork import ShortLock, region
from .._journal_core import derive_authorities, utc_text
from ._schema import (
    JOURNAL_BACKFILL_V3,
    JOURNAL_BACKFILL_V7,
    JOURNAL_V1,
    JOURNAL_V2,
    JOURNAL_V3,
    JOURNAL_V4,
    JOURNAL_V5,
    JOURNAL_V6,
    JOURNAL_V7,
    JOURNAL_V8,
    JOURNAL_VERSION,
    statements,
)

__all__ = ["JournalFile", "sha256_text"]

logger = logging.getLogger(__name__)

# Journal files open in this process, so that a fork can reset their locks and
# connections in the child (a lock held by another parent thread at fork time
# would otherwise stay held forever, and SQLite connections must not cross fork).
_INSTANCES: weakref.WeakSet[JournalFile] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for journal in list(_INSTANCES):
        journal._reset_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def sha256_text(text: str) -> str:
    """The key of a check's inputs in ``input_bodies``: the SHA-256 hex of their JSON text.

    >>> sha256_text("{}")
    '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class JournalFile:
    """The journal's file: one connection per process, behind one lock.

    ``busy_timeout`` is how long a write waits for another process holding
    the file's write lock before :class:`~credit_check_sdk.JournalError` is raised.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        self.path = str(path)
        self._busy_timeout = busy_timeout
        # One connection, guarded by one ShortLock: every SQLite call happens with it
        # held, so a fork waits for it to end (SQLite's C mutexes must not be held by a
        # thread at fork).
        self._lock = ShortLock()
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
        except (sqlite3.Error, OSError, JournalError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, JournalError):
                raise
            raise JournalError(f"journal {self.path}: cannot open: {exc}", path=self.path) from exc
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == JOURNAL_VERSION:
            return
        if version > JOURNAL_VERSION:
            raise JournalError(
                f"journal {self.path} has schema {version}; this SDK reads up to {JOURNAL_VERSION}",
                path=self.path,
            )
        # Another process may be creating or upgrading the file at the same
        # moment: take the write lock, then look again.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._run_script(conn, JOURNAL_V1)
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('created_at', ?)",
                    (utc_text(datetime.now(timezone.utc)),),
                )
            if version < 2:
                self._run_script(conn, JOURNAL_V2)
            if version < 3:
                self._run_script(conn, JOURNAL_V3)
                if version > 0:  # an older file: fill the new columns from the bodies
                    self._run_script(conn, JOURNAL_BACKFILL_V3)
            if version < 4:
                self._run_script(conn, JOURNAL_V4)
            if version < 5:
                self._run_script(conn, JOURNAL_V5)
            if version < 6:
                self._run_script(conn, JOURNAL_V6)
                if version > 0:  # an older file: derive the rows from bodies and inputs
                    self._backfill_authorities(conn)
            if version < 7:
                self._run_script(conn, JOURNAL_V7)
                conn.create_function("journal_sha256", 1, sha256_text, deterministic=True)
                self._run_script(conn, JOURNAL_BACKFILL_V7)
            if version < 8:
                self._run_script(conn, JOURNAL_V8)
            if version < JOURNAL_VERSION:
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(JOURNAL_VERSION),),
                )
                conn.execute(f"PRAGMA user_version = {JOURNAL_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _backfill_authorities(self, conn: sqlite3.Connection) -> None:
        """Derive the ``record_authorities`` rows of every check with measures and inputs
        (inside the migration's transaction), with the function appends use."""
        last, derived, checks = 0, 0, 0
        while True:
            # A page at a time, by position: memory stays flat however long the journal.
            page = conn.execute(
                "SELECT r.seq, r.body, i.body FROM records AS r"
                " JOIN inputs AS i ON i.check_id = r.id"
                " WHERE r.seq > ? AND r.type = 'check'"
                " AND EXISTS (SELECT 1 FROM record_measures AS m WHERE m.seq = r.seq)"
                " ORDER BY r.seq LIMIT 1000",
                (last,),
            ).fetchall()
            if not page:
                break
            rows: list[tuple[int, int, str]] = []
            for seq, body, inputs in page:
                last = seq
                try:
                    record, given = json.loads(body), json.loads(inputs) if inputs else None
                except ValueError:
                    continue  # verify() reports a body that is not JSON
                if isinstance(record, dict):
                    rows += [
                        (seq, n, authority) for n, authority in derive_authorities(record, given)
                    ]
            conn.executemany(
                "INSERT OR REPLACE INTO record_authorities(seq, n, authority) VALUES (?, ?, ?)",
                rows,
            )
            checks += len(page)
            derived += len(rows)
        if checks:
            logger.info(
                "journal %s: list authorities of %d checks with measures derived (%d rows)",
                self.path,
                checks,
                derived,
            )

    @staticmethod
    def _run_script(conn: sqlite3.Connection, script: str) -> None:
        # Statement by statement: executescript() would COMMIT our transaction.
        for statement in statements(script):
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
        # No ShortLock is held at a fork (the fork waits for them); new ones all the same,
        # in case the fork did not wait (it was made from inside the SDK's own work).
        self._lock = ShortLock()
        self._reset_queue()
        if self._conn is not None:
            self._abandoned.append(self._conn)
        self._conn = None  # reopened lazily, with the child's pid

    # --- writing bookkeeping -----------------------------------------------------

    @contextmanager
    def _bookkeeping(self) -> Iterator[sqlite3.Connection]:
        """The connection, held alone, committing without an ``fsync`` of its own.

        For upload claims and marks only. ``synchronous=NORMAL`` in WAL mode
        leaves the commit in the WAL unsynced; the next record's commit
        (``FULL``) syncs the WAL file, and this with it. Check records never
        go through here.
        """
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.Error as exc:
                raise JournalError(
                    f"journal {self.path}: write failed: {exc}", path=self.path
                ) from exc
            try:
                yield conn
            except sqlite3.Error as exc:
                raise JournalError(
                    f"journal {self.path}: write failed: {exc}", path=self.path
                ) from exc
            finally:
                try:
                    conn.execute("PRAGMA synchronous = FULL")
                except sqlite3.Error:
                    # Never append a record on a connection left at NORMAL: the next
                    # write opens a new one (FULL), this one is left for the collector.
                    logger.exception("journal %s: connection dropped", self.path)
                    self._abandoned.append(conn)
                    self._conn = None
        # Give up the GIL for a moment: a check's commit that waited for this lock is
        # runnable now, and would otherwise wait for the interpreter's switch interval
        # (5 ms) while the uploader goes on in Python (parsing, building its request).
        time.sleep(0)

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A separate read-only connection inside one read transaction: a frozen view.

        Every query on it sees the journal as it was when the first one ran
        (WAL snapshot isolation), however many appends happen meanwhile, and
        it takes no lock that appends wait for. For reports and exports that
        read the file in several queries. Fixed-width UTC text is in ``at``
        (see :func:`~credit_check_sdk.storage.utc_text`).

        >>> import tempfile, os
        >>> j = JournalFile(os.path.join(tempfile.mkdtemp(), "j.db"))
        >>> with j.snapshot() as conn:
        ...     conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        0
        >>> j.close()
        """
        if self._closed:
            raise JournalError(f"journal {self.path} is closed", path=self.path)
        # One region for the whole view: a fork waits until the reader is done with it.
        with region():
            yield from self._snapshot_view()

    def _snapshot_view(self) -> Iterator[sqlite3.Connection]:
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

    def _rollback(self, conn: sqlite3.Connection) -> None:
        """End a failed write transaction (a failed rollback is logged, not raised: the
        error that made the write fail is the one to report)."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            logger.exception("journal %s: rollback failed", self.path)

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

    def __enter__(self) -> JournalFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({self.path!r})"

    @property
    def location(self) -> str:
        """The journal file, for messages."""
        return self.path

    def _reset_queue(self) -> None:
        """Per-process append state a subclass keeps (called after a fork)."""
