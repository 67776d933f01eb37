"""The shared database: one connection pool per process, fork-aware, errors as the SDK's.

Every store of the PostgreSQL adapter reaches the database through one
:class:`Database`: a :class:`psycopg_pool.ConnectionPool` (connections in
autocommit mode, transactions opened explicitly), made on first use in each
process. A forked child never touches its parent's pool or connections (their
sockets are the parent's: closing one there would end the parent's session);
it makes a pool of its own. Failures come out as
:class:`~credit_check_sdk.JournalError`; the ones that mean the database did
not answer in time (it is down, unreachable, restarting, or too slow for the
budget) as :class:`DatabaseUnavailableError`, which the journal answers by
spooling the record locally.

>>> db = Database("postgresql://cc:secret@db.gov.example/credit")  # doctest: +SKIP
>>> db.query("SELECT 1")  # doctest: +SKIP
[(1,)]
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

try:
    import psycopg
    from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout
except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
    raise ImportError(
        "the PostgreSQL storage needs psycopg 3 and psycopg-pool:"
        ' pip install "credit-check-sdk[postgres]"'
    ) from exc

from ..._exceptions import DatabaseUnavailableError, JournalError
from ..._fork import after_fork_in_child
from .._storage import mask_database_url

__all__ = ["Database", "DatabaseUnavailableError", "is_unavailable"]

logger = logging.getLogger(__name__)

#: Connections kept by default in each process's pool (the ``database_pool_size`` setting).
DEFAULT_POOL_SIZE = 10


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached or did not answer in time.

    >>> is_unavailable(PoolTimeout("no connection")), is_unavailable(ValueError())
    (True, False)
    """
    if isinstance(exc, DatabaseUnavailableError | PoolTimeout):
        return True
    # OperationalError: the connection failed, the server shut down or restarted, the
    # statement was cancelled by statement_timeout. InterfaceError: the connection is
    # closed under us (the server went away between two statements).
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


class Database:
    """The database at ``url``: a pool of at most ``pool_size`` connections per process.

    ``timeout`` bounds how long an operation waits for a connection (and, unless the
    operation says otherwise, for its statements). The URL is never logged whole.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        timeout: float = 5.0,
        application_name: str = "credit-check-sdk",
    ) -> None:
        self.url = url
        self.shown = mask_database_url(url)
        self.pool_size = max(1, int(pool_size))
        self.timeout = timeout
        self._application_name = application_name
        self._lock = threading.Lock()  # guards the pool's creation only (no I/O under it)
        self._prepare_lock = threading.Lock()  # one migration per process
        self._pool: ConnectionPool | None = None
        self._pid = os.getpid()
        self._closed = False
        # Pools inherited over fork: kept referenced, never closed, in the child.
        self._abandoned: list[Any] = []
        #: Called with the first connection this process gets (the schema's migration).
        self.on_first_use: Callable[[psycopg.Connection[Any]], None] | None = None
        self._prepared_in: int | None = None
        after_fork_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._prepare_lock = threading.Lock()
        if self._pool is not None:
            self._abandoned.append(self._pool)
        self._pool = None
        self._pid = os.getpid()

    # --- connections ---------------------------------------------------------------

    def _pool_here(self) -> ConnectionPool:
        if self._closed:
            raise JournalError(f"the database {self.shown} is closed here", path=self.shown)
        pool = self._pool
        if pool is not None and self._pid == os.getpid():
            return pool
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                if self._pool is not None:
                    self._abandoned.append(self._pool)
                self._pool = self._make_pool()
                self._pid = os.getpid()
            return self._pool

    def _make_pool(self) -> ConnectionPool:
        # libpq's connect_timeout is whole seconds, at least 2; the pool's own wait
        # (``timeout`` of each operation) is what bounds a caller.
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(2, int(self.timeout)),
            "application_name": self._application_name,
            # Keepalives: a peer that vanished (a network cut) is found in seconds,
            # not after the kernel's two hours.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
        pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            kwargs=kwargs,
            open=False,
            timeout=self.timeout,
            name="credit-check",
            reconnect_timeout=30.0,
        )
        # Not waiting: a database that is down must not hold up the SDK's start;
        # the pool connects in its own threads, operations wait for it (bounded).
        pool.open(wait=False)
        return pool

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A connection of this process's pool for the ``with`` block (autocommit mode).

        Waits at most ``timeout`` (default: the database's) for one; raises
        :class:`DatabaseUnavailableError` when none comes, or when the block fails
        because the connection or the server did; other database errors as
        :class:`~credit_check_sdk.JournalError`.
        """
        wait = self.timeout if timeout is None else max(0.001, timeout)
        pool = self._pool_here()
        try:
            with pool.connection(timeout=wait) as conn:
                if self._prepared_in != os.getpid() and self.on_first_use is not None:
                    with self._prepare_lock:
                        if self._prepared_in != os.getpid():
                            self.on_first_use(conn)
                            self._prepared_in = os.getpid()
                yield conn
        except PoolClosed as exc:
            raise JournalError(
                f"the database {self.shown} is closed here", path=self.shown
            ) from exc
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if isinstance(exc, PoolTimeout):
                # The pool's connect errors say why (refused, auth …); ask it to try anew.
                self._check_soon(pool)
            raise DatabaseUnavailableError(
                f"the database {self.shown} did not answer: {_reason(exc)}", path=self.shown
            ) from exc
        except psycopg.Error as exc:
            raise JournalError(f"database {self.shown}: {_reason(exc)}", path=self.shown) from exc

    @contextmanager
    def transaction(
        self,
        *,
        timeout: float | None = None,
        statement_timeout: float | None = None,
        read_only: bool = False,
        repeatable_read: bool = False,
    ) -> Iterator[psycopg.Connection[Any]]:
        """A connection inside one transaction (committed when the block ends well).

        ``statement_timeout`` (seconds) bounds each statement on the server side;
        ``repeatable_read`` and ``read_only`` set the transaction's mode (a consistent
        view of the data as the transaction began).
        """
        with self.connection(timeout) as conn, conn.transaction():
            if repeatable_read or read_only:
                mode = "ISOLATION LEVEL REPEATABLE READ" if repeatable_read else ""
                access = "READ ONLY" if read_only else ""
                conn.execute(f"SET TRANSACTION {mode} {access}".strip())
            if statement_timeout is not None:
                set_statement_timeout(conn, statement_timeout)
            yield conn

    def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] = (),
        *,
        timeout: float | None = None,
        durable: bool = True,
    ) -> list[tuple[Any, ...]]:
        """One statement (its own transaction); its rows (none for a statement without).

        ``durable=False`` commits without waiting for the server's WAL flush
        (``synchronous_commit`` off for this transaction only): for bookkeeping whose
        loss in a server crash costs nothing but a repeat (upload claims and marks).

        >>> db.query("SELECT version FROM cc_schema_version")  # doctest: +SKIP
        """
        with self.connection(timeout) as conn:
            cur = _one_statement(conn, sql, params, timeout, durable)
            return cur.fetchall() if cur.description else []

    def execute(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] = (),
        *,
        timeout: float | None = None,
        durable: bool = True,
    ) -> int:
        """One statement that changes rows (its own transaction); how many it changed."""
        with self.connection(timeout) as conn:
            return _one_statement(conn, sql, params, timeout, durable).rowcount

    def connect_alone(self, *, timeout: float | None = None) -> psycopg.Connection[Any]:
        """A connection of its own, outside the pool (a session lock's, a long rebuild's).

        The caller closes it. Raises :class:`DatabaseUnavailableError` when the
        database cannot be reached.
        """
        wait = self.timeout if timeout is None else timeout
        if self.on_first_use is not None and self._prepared_in != os.getpid():
            with self.connection(timeout):
                pass  # the schema is brought up to date first (on a pooled connection)
        try:
            return psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(2, int(wait)),
                application_name=self._application_name,
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
        except psycopg.Error as exc:
            raise DatabaseUnavailableError(
                f"the database {self.shown} did not answer: {_reason(exc)}", path=self.shown
            ) from exc

    def _check_soon(self, pool: ConnectionPool) -> None:
        # Drop the connections that died with a restart of the server (their next use
        # would fail once each); runs in the pool's own worker threads.
        try:
            pool.check()
        except Exception as exc:  # a diagnostic aid only
            logger.debug("database %s: pool check failed: %s", self.shown, exc)

    def stats(self) -> dict[str, Any]:
        """The pool of this process: its size, connections idle and in use, waiting requests.

        >>> db.stats()["pool_max"]  # doctest: +SKIP
        10
        """
        pool = self._pool if self._pid == os.getpid() else None
        if pool is None:
            return {"pool_max": self.pool_size, "pool_size": 0}
        s = pool.get_stats()
        return {
            "pool_max": self.pool_size,
            "pool_size": int(s.get("pool_size", 0)),
            "pool_available": int(s.get("pool_available", 0)),
            "requests_waiting": int(s.get("requests_waiting", 0)),
            "connections_errors": int(s.get("connections_errors", 0)),
        }

    def close(self) -> None:
        """Close this process's pool (idempotent); later operations raise ``JournalError``."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._closed = True
        if pool is not None and self._pid == os.getpid():
            # A connection in use (a report view left open) is waited for briefly.
            pool.close(timeout=2.0)

    def __repr__(self) -> str:
        return f"Database({self.shown!r})"


def _one_statement(
    conn: psycopg.Connection[Any],
    sql: str,
    params: Sequence[Any] | dict[str, Any],
    timeout: float | None,
    durable: bool,
) -> psycopg.Cursor[Any]:
    """Run ``sql`` in a transaction of its own on ``conn`` (autocommit mode); its cursor.

    With a ``timeout`` or not ``durable``, the transaction's settings go before the
    statement in one pipeline, with BEGIN and COMMIT: one round trip to the server,
    not four (upload claims and marks are made this way for every batch sent).
    """
    if timeout is None and durable:
        return conn.execute(sql, params, prepare=True)
    with conn.pipeline(), conn.transaction():
        if timeout is not None:
            set_statement_timeout(conn, timeout)
        if not durable:
            conn.execute("SET LOCAL synchronous_commit TO OFF")
        cur = conn.execute(sql, params, prepare=True)
    # The pipeline's end waited for the statement's rows and the commit.
    return cur


def set_statement_timeout(conn: psycopg.Connection[Any], seconds: float) -> None:
    """Bound each further statement of the current transaction to ``seconds`` (server side).

    ``set_config(…, true)`` is ``SET LOCAL`` with a bound parameter: it ends with the
    transaction.
    """
    ms = max(1, int(seconds * 1000))
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(ms),), prepare=True)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def monotonic_left(deadline: float | None, default: float) -> float:
    """Seconds left until the monotonic ``deadline`` (``default`` when there is none).

    >>> monotonic_left(None, 2.0)
    2.0
    """
    if deadline is None:
        return default
    return deadline - time.monotonic()
