"""A small SQLite file of the SDK's own: shared between threads, reopened after ``fork()``.

The re-check queue and watches (``followups.sqlite3``) and the relations learnt
from live profiles (``relations.sqlite3``) are such files: WAL mode,
``synchronous=NORMAL`` (each store says why that is durable enough for what it
holds), one connection behind a lock, and a new connection in a forked child
(an SQLite connection must not cross ``fork()``).

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
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ._exceptions import JournalError
from ._files import create_private_file

__all__ = ["LocalStore"]


class LocalStore:
    """Base of the SDK's small SQLite stores; a subclass sets ``SCHEMA`` (idempotent DDL).

    Errors of the file surface as :class:`~credit_check_sdk.JournalError`
    naming it.
    """

    SCHEMA: ClassVar[str] = ""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        self._pid = os.getpid()
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
        if self._pid != os.getpid():
            # Forked: checked before taking the lock, which a thread of the parent may
            # have held at the fork and nobody in the child would ever release.
            self._lock = threading.Lock()
            self._conn = self._open()
        try:
            with self._lock:
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
            self._conn.close()
