"""A small SQLite file of the SDK's own: shared between threads, reopened after ``fork()``.

The re-check queue and watches (``followups.sqlite3``), the relations learnt
from live profiles (``relations.sqlite3``), the licensing commitments and the
disclosures are such files: WAL mode, one connection behind a
:class:`~credit_check_sdk._fork.ShortLock` (so a fork waits for every use),
and a new connection in a forked child (an SQLite connection must not cross
``fork()``; the parent's is left open, unused). Each store names its schema
(:data:`~credit_check_sdk.storage.sqlite._schema.STEPS`), migrated in place
when the file is opened, and its ``synchronous`` level (each store says why
that is durable enough for what it holds).

>>> import tempfile, pathlib
>>> class Notes(LocalStore):
...     STEPS = {1: "CREATE TABLE IF NOT EXISTS notes (text TEXT)"}
>>> notes = Notes(pathlib.Path(tempfile.mkdtemp()) / "notes.sqlite3")
>>> notes._query("INSERT INTO notes VALUES ('a')")
[]
>>> notes._query("SELECT text FROM notes"), notes._query("PRAGMA user_version")
([('a',)], [(1,)])
>>> notes.close()
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from ..._exceptions import JournalError
from ..._files import create_private_file
from ..._fork import ShortLock, after_fork_in_child
from ._schema import statements

__all__ = ["LocalStore"]


class LocalStore:
    """Base of the SDK's small SQLite stores; a subclass sets ``STEPS`` (version → DDL).

    Errors of the file surface as :class:`~credit_check_sdk.JournalError`
    naming it.
    """

    STEPS: ClassVar[dict[int, str]] = {}
    #: ``NORMAL`` survives a crash of the process; ``FULL`` also power loss.
    SYNCHRONOUS: ClassVar[Literal["NORMAL", "FULL"]] = "NORMAL"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = ShortLock()
        # Connections inherited over fork stay referenced, never closed, in the child:
        # closing one there could checkpoint or unlink the WAL under the parent.
        self._abandoned: list[sqlite3.Connection] = []
        self._conn: sqlite3.Connection | None = None
        with self._lock:
            self._conn = self._open()
        after_fork_in_child(self._after_fork_in_child)

    @property
    def location(self) -> str:
        """The file, for messages."""
        return self.path

    def _after_fork_in_child(self) -> None:
        self._lock = ShortLock()
        if self._conn is not None:
            self._abandoned.append(self._conn)
        self._conn = None  # opened again at the child's first use

    def _open(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = None
        try:
            create_private_file(self.path)  # 0600, and so its -wal and -shm: personal ids
            conn = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.SYNCHRONOUS}")
            self._migrate(conn)
        except (sqlite3.Error, OSError, JournalError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, JournalError):
                raise
            raise JournalError(f"cannot open {self.path}: {exc}", path=self.path) from exc
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the file to the newest version of ``STEPS`` (see
        :mod:`~credit_check_sdk.storage.sqlite._schema`)."""
        newest = max(self.STEPS, default=0)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == newest:
            return
        if version > newest:
            raise JournalError(
                f"{self.path} has schema {version}; this SDK reads up to {newest}", path=self.path
            )
        # Another process may be creating or upgrading the file at the same moment:
        # take the write lock, then look again.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version + 1, newest + 1):
                for statement in statements(self.STEPS[step]):
                    conn.execute(statement)
            if version < newest:
                conn.execute(f"PRAGMA user_version = {int(newest)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """This process's connection, held alone for the ``with`` block."""
        with self._lock:
            if self._conn is None:
                self._conn = self._open()
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise JournalError(f"{self.path}: {exc}", path=self.path) from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``)."""
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement in its own (autocommit) transaction; its rows."""
        with self._locked() as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
