"""A small SQLite file of the SDK's own: shared between threads, reopened after ``fork()``.

The re-check queue and watches (``followups.sqlite3``) and the relations learnt
from live profiles (``relations.sqlite3``) are such files: WAL mode,
``synchronous=NORMAL`` (each store says why that is durable enough for what it
holds), one connection behind a lock, and a new connection in a forked child
(an SQLite connection must not cross ``fork()``; the parent's is left open, unused).

>>> import tempfile, pathlib
>>> class Notes(LocalStore):
...     SCHEMA = "CREATE TABLE IF NOT EXISTS notes (text TEXT)"
>>> notes = Notes(pathlib.Path(tempfile.mkdtemp()) / "notes.sqlite3")
>>> notes._query("INSERT INTO notes VALUES ('a')")
[]
>>> notes._query("SELECT text FROM notes")
[('a',)]
>>> notes.close()
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ._exceptions import JournalError
from ._files import create_private_file
from ._fork import ShortLock, after_fork_in_child

__all__ = ["LocalStore"]


class LocalStore:
    """Base of the SDK's small SQLite stores; a subclass sets ``SCHEMA`` (idempotent DDL).

    Errors of the file surface as :class:`~credit_check_sdk.JournalError`
    naming it. Every use of the connection holds a
    :class:`~credit_check_sdk._fork.ShortLock`, so a fork waits for it to end.
    """

    SCHEMA: ClassVar[str] = ""

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

    def _after_fork_in_child(self) -> None:
        self._lock = ShortLock()
        if self._conn is not None:
            self._abandoned.append(self._conn)
        self._conn = None  # opened again at the child's first use

    def _open(self) -> sqlite3.Connection:
        try:
            create_private_file(self.path)  # 0600, and so its -wal and -shm: personal ids
            conn = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(self.SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"cannot open {self.path}: {exc}", path=self.path) from exc
        return conn

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

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement in its own (autocommit) transaction; its rows."""
        with self._locked() as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
