"""The connection a journal lane keeps for itself, ready for the one-statement append.

Each lane of the journal (:mod:`._committer`) commits its batches in one
statement (:class:`~._append.ChainWriter`). On a pooled connection that
statement needed a second one before it, to bound it (``SET LOCAL
statement_timeout``), and the pool's check-out and return around both. A lane
instead keeps one connection of its own, opened on first use in each process
(a forked child never touches its parent's: it opens its own), with the
journal's budget as its ``statement_timeout`` for the session and the batch's
binary arrays (:mod:`._arrays`) registered: the append is then one statement,
one round trip, and nothing else. A connection that broke (the server restarted,
the network went away) is closed and opened again on the next batch.

>>> lane = LaneConnection(db, statement_timeout=2.0)  # doctest: +SKIP
>>> with lane.use(timeout=2.0) as conn:  # doctest: +SKIP
...     conn.execute("SELECT 1")
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ..._exceptions import JournalError
from ..._fork import after_fork_in_child
from ._arrays import register
from ._database import Database, DatabaseUnavailableError

__all__ = ["LaneConnection"]

logger = logging.getLogger(__name__)


class LaneConnection:
    """One connection of ``db``'s database for one lane of this process (used by one thread
    at a time: the lane's commit thread), statements cut at ``statement_timeout`` seconds.
    """

    def __init__(self, db: Database, *, statement_timeout: float) -> None:
        self._db = db
        self._timeout_ms = max(1, int(statement_timeout * 1000))
        self._conn: psycopg.Connection[Any] | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()  # close() from another thread than the lane's
        # Connections inherited over fork: kept referenced, never closed, in the child
        # (closing one would end the parent's session on the shared socket).
        self._abandoned: list[Any] = []
        after_fork_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        if self._conn is not None:
            self._abandoned.append(self._conn)
        self._conn = None
        self._pid = os.getpid()

    @contextmanager
    def use(self, *, timeout: float) -> Iterator[psycopg.Connection[Any]]:
        """The lane's connection (opened within ``timeout`` when there is none) for the
        ``with`` block, in autocommit mode: each statement is its own transaction.

        Raises :class:`DatabaseUnavailableError` when it cannot be opened or breaks in
        the block (it is closed then), ``JournalError`` for another database error;
        errors the block catches itself leave the connection as it is.
        """
        conn = self._conn
        if conn is None or conn.closed or self._pid != os.getpid():
            conn = self._open(timeout)
        try:
            yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._drop(conn)
            raise DatabaseUnavailableError(
                f"the database {self._db.shown} did not answer: {_first_line(exc)}",
                path=self._db.shown,
            ) from exc
        except psycopg.Error as exc:
            if conn.broken:
                self._drop(conn)
            raise JournalError(
                f"database {self._db.shown}: {_first_line(exc)}", path=self._db.shown
            ) from exc

    def _open(self, timeout: float) -> psycopg.Connection[Any]:
        conn = self._db.connect_alone(timeout=timeout)
        try:
            register(conn.adapters)
            conn.execute(
                "SELECT set_config('statement_timeout', %s, false)", (str(self._timeout_ms),)
            )
        except psycopg.Error as exc:
            conn.close()
            raise DatabaseUnavailableError(
                f"the database {self._db.shown} did not answer: {_first_line(exc)}",
                path=self._db.shown,
            ) from exc
        with self._lock:
            self._conn = conn
            self._pid = os.getpid()
        return conn

    def _drop(self, conn: psycopg.Connection[Any]) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
        try:
            conn.close()
        except psycopg.Error as exc:  # it is broken already: nothing more to do
            logger.debug("journal lane: closing a broken connection: %s", exc)

    def close(self) -> None:
        """Close the connection (this process's only; idempotent)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            self._drop(conn)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
