"""The SQLite snapshot's files and connections: the generation in service, pooled readers.

:class:`SnapshotFiles` is what the snapshot's lookups and writes stand on: which
generation file is in service (the pointer, :mod:`._snapshot_pointer`), a pool of
read connections to it (replaced at once when a swap is seen), one writer
connection, and a new set of each in a forked child (an SQLite connection
must not cross ``fork()``). Every SQLite call runs inside a fork-gate region.

>>> import tempfile
>>> files = SnapshotFiles(tempfile.mkdtemp())
>>> files._query("SELECT 1", ())  # no generation in service yet: nothing to read
[]
>>> files.close()
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ..._files import make_private_dir
from ..._fork import ShortLock, region
from .._errors import SnapshotError
from ._snapshot_pointer import (
    POINTER_NAME,
    Pointer,
    Stamp,
    read_pointer,
    remove_older,
    stamp,
    write_pointer,
)
from ._snapshot_sql import check_schema, connect, ensure_relations_table
from .snapshot_build import SQLiteSnapshotLease

__all__ = ["SnapshotFiles"]

logger = logging.getLogger(__name__)

# Idle reader connections kept open; more than this many concurrent readers
# still work, the extras are closed when they are handed back.
_MAX_IDLE_READERS = 32

# Snapshots alive in this process, so that a fork can drop their connections and
# locks in the child (SQLite connections must not cross fork).
_INSTANCES: weakref.WeakSet[SnapshotFiles] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for snap in list(_INSTANCES):
        snap._reset_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Reader:
    __slots__ = ("conn", "world")

    def __init__(self, conn: sqlite3.Connection, world: int) -> None:
        self.conn = conn
        self.world = world


class SnapshotFiles:
    """The files of one ``data_dir``'s snapshot and the connections to them; thread-safe.

    ``recheck`` bounds how long a swap made by another process goes unnoticed;
    ``busy_timeout`` how long a write waits for another process's.
    """

    def __init__(
        self, data_dir: str | Path, *, recheck: float = 1.0, busy_timeout: float = 10.0
    ) -> None:
        self.dir = Path(data_dir)
        try:
            make_private_dir(self.dir)
        except OSError as exc:
            raise SnapshotError(f"cannot create {self.dir}: {exc}", path=str(self.dir)) from exc
        self._recheck_every = recheck
        self._busy_timeout = busy_timeout
        self._closed = False
        # Connections inherited over fork stay referenced, never closed, in the child.
        self._abandoned: list[sqlite3.Connection] = []
        self._init_runtime()
        try:
            self._refresh(force=True)
            self._cleanup()
        except SnapshotError as exc:
            # Construction succeeds so that a checker can start; reads raise until a
            # rebuild or import writes a good pointer.
            logger.error("snapshot: %s", exc)
        _INSTANCES.add(self)

    def _init_runtime(self) -> None:
        # Both are taken inside a region only (the ShortLock is one): a fork waits until
        # neither is held, and no SQLite call of the snapshot is in flight.
        self._state_lock = ShortLock()  # guards _current/_world/_stamp/_pool
        self._write_lock = threading.RLock()  # one writer (apply, swap) at a time
        self._current: Pointer | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._world = 0  # bumped at every change of the file in service
        self._next_check = 0.0
        self._pool: list[_Reader] = []
        self._writer: _Reader | None = None
        self._pid = os.getpid()
        # The lease this process holds (lead()); a forked child holds none.
        self._leading: SQLiteSnapshotLease | None = None

    def _reset_after_fork(self) -> None:
        for reader in self._pool:
            self._abandoned.append(reader.conn)
        if self._writer is not None:
            self._abandoned.append(self._writer.conn)
        current = self._current
        self._init_runtime()
        self._current = current
        self._world = 1

    @property
    def location(self) -> str:
        """The folder holding the snapshot's files."""
        return str(self.dir)

    # --- which file is in service -------------------------------------------------

    @property
    def pointer_path(self) -> Path:
        """The file naming the data file in service."""
        return self.dir / POINTER_NAME

    def _data_path(self, pointer: Pointer) -> Path:
        return self.dir / pointer.file

    def _read_pointer(self) -> tuple[Pointer | None, Stamp | None]:
        return read_pointer(self.pointer_path)

    def _refresh(self, *, force: bool = False) -> None:
        """Adopt a swap made elsewhere; cheap (one ``stat``) when nothing changed."""
        with self._state_lock:
            self._next_check = time.monotonic() + self._recheck_every
            if not force and stamp(self.pointer_path) == self._stamp:
                return
        try:
            pointer, seen = self._read_pointer()
        except SnapshotError:
            self._next_check = 0.0  # look again at the next read, which fails too until fixed
            raise
        self._adopt(pointer, seen)

    def _adopt(self, pointer: Pointer | None, seen: Stamp | None) -> None:
        with self._state_lock:
            self._stamp = seen
            if pointer == self._current:
                return
            self._current = pointer
            self._world += 1
            idle, self._pool = self._pool, []
        # Idle connections to the old file are not in use: close them now, so its
        # disk space is freed once in-flight readers finish.
        with region():
            for reader in idle:
                reader.conn.close()
        if pointer is not None:
            logger.info("snapshot: generation %d in service", pointer.generation)

    # --- reading ----------------------------------------------------------------

    def _checkout(self) -> _Reader | None:
        if self._closed:
            raise SnapshotError("snapshot is closed", path=str(self.dir))
        if time.monotonic() >= self._next_check:
            self._refresh()
        for attempt in (1, 2):
            with self._state_lock:
                if self._pool:
                    return self._pool.pop()
                current, world = self._current, self._world
            if current is None:
                return None
            path = self._data_path(current)
            try:
                conn = connect(path, create=False, busy_timeout=self._busy_timeout)
                conn.execute("PRAGMA query_only = 1")
            except sqlite3.Error as exc:
                # Another process may have swapped generations and removed this file
                # between our look at the pointer and the open: look again, once.
                self._refresh(force=True)
                if attempt == 1 and self._world != world:
                    continue
                raise SnapshotError(f"snapshot {path}: cannot open: {exc}", path=str(path)) from exc
            return _Reader(conn, world)
        raise AssertionError("unreachable")  # pragma: no cover

    def _checkin(self, reader: _Reader) -> None:
        with self._state_lock:
            if reader.world == self._world and len(self._pool) < _MAX_IDLE_READERS:
                self._pool.append(reader)
                return
            reader.conn.close()

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one read statement on the file in service; ``[]`` when there is none."""
        with region():
            return self._query_in_region(sql, params)

    def _query_in_region(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            reader = self._checkout()
            if reader is None:
                return []
            try:
                rows = reader.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                reader.conn.close()
                world = reader.world
                # The file may have been swapped out by another process in the meantime:
                # look again and retry once on the new one.
                self._refresh(force=True)
                if attempt == 1 and self._world != world:
                    continue
                raise SnapshotError(f"snapshot read failed: {exc}", path=str(self.dir)) from exc
            self._checkin(reader)
            return rows
        raise AssertionError("unreachable")  # pragma: no cover

    def _meta_values(self) -> dict[str, str | None]:
        rows = self._query("SELECT key, value FROM meta", ())
        return {str(k): v for k, v in rows}

    def _writer_conn(self) -> sqlite3.Connection:
        """The writer connection to the file in service (caller holds ``_write_lock``)."""
        if self._closed:
            raise SnapshotError("snapshot is closed", path=str(self.dir))
        self._refresh(force=True)
        with self._state_lock:
            current, world = self._current, self._world
        if self._writer is not None and self._writer.world == world:
            return self._writer.conn
        if self._writer is not None:
            self._writer.conn.close()
            self._writer = None
        if current is None:
            raise SnapshotError("no snapshot generation is in service", path=str(self.dir))
        path = self._data_path(current)
        try:
            conn = connect(path, create=False, busy_timeout=self._busy_timeout)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SnapshotError(f"snapshot {path}: cannot enable WAL", path=str(path))
            # FULL: a page is on disk when apply() returns, so the cursor saved
            # with it is never ahead of the data after a power cut.
            conn.execute("PRAGMA synchronous = FULL")
            check_schema(conn, path)
            ensure_relations_table(conn)  # a file made before the feed carried relations
        except sqlite3.Error as exc:
            raise SnapshotError(f"snapshot {path}: cannot open: {exc}", path=str(path)) from exc
        self._writer = _Reader(conn, world)
        return conn

    def _in_service_path(self) -> str:
        with self._state_lock:
            current = self._current
        return str(self._data_path(current)) if current else ""

    def _swap(self, built: Path, generation: int) -> None:
        """Put ``built`` (complete, fsynced, closed) in service as ``generation``.

        Caller holds the build lock, so no other swap runs in any process.
        """
        with region(), self._write_lock:
            old, _ = self._read_pointer()
            target = Pointer.of(generation)
            os.replace(built, self.dir / target.file)
            write_pointer(self.pointer_path, target)  # the swap: atomic for every reader
            if self._writer is not None:
                self._writer.conn.close()
                self._writer = None
            self._refresh(force=True)
        if old is not None and old.file != target.file:
            self._cleanup()

    def _cleanup(self) -> None:
        """Delete data files of earlier generations (best effort: some may still be open)."""
        pointer, _ = self._read_pointer()
        if pointer is not None:
            remove_older(self.dir, pointer.generation)

    def close(self) -> None:
        """Close every connection this snapshot holds; in-flight reads finish first."""
        self._closed = True
        with region():
            with self._write_lock:
                if self._writer is not None:
                    self._writer.conn.close()
                    self._writer = None
            with self._state_lock:
                idle, self._pool = self._pool, []
                self._world += 1  # readers handed back later are closed, not pooled
            for reader in idle:
                reader.conn.close()

    def __enter__(self) -> SnapshotFiles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
