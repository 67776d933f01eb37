"""Rebuilding the SQLite snapshot: the build lock, the lease it gives, and the builder.

A rebuild writes ``snapshot.sqlite3.new`` beside the generation in service,
fast (no journal, no fsync per batch), fsyncs it once complete, and only then
points at it: a crash mid-rebuild leaves the old generation in service. One
rebuild per ``data_dir`` at a time, across processes: whoever rebuilds holds
``snapshot.lock`` (an ``flock``, gone with the process that held it). The same
lock is the snapshot's *lease* (:meth:`Snapshot.lead
<credit_check_sdk.storage.sqlite.snapshot.Snapshot.lead>`): the one process
that follows the change feed at a time.

>>> import tempfile, pathlib
>>> lock = BuildLock(pathlib.Path(tempfile.mkdtemp()) / "snapshot.lock")
>>> lock.try_acquire(), BuildLock(lock.path).try_acquire()
(True, False)
>>> lock.release()
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

from ..._client import Change, ChangesPage
from ..._fork import region
from ..._models import Relation
from ..._time import now as _now
from .._data import ImportResult
from .._errors import SnapshotError, SnapshotImportError
from .._export import ExportHeader, ExportLoader, OnStored
from ._schema import SNAPSHOT_INDEX, SNAPSHOT_SCHEMA, SNAPSHOT_VERSION
from ._snapshot_sql import (
    apply_page,
    clear_relations,
    connect,
    set_meta,
    store_relations,
)

if TYPE_CHECKING:
    from .snapshot import Snapshot

__all__ = [
    "BUILD_NAME",
    "LOCK_NAME",
    "BuildLock",
    "SQLiteSnapshotLease",
    "SnapshotBuilder",
    "import_export",
    "remove_file",
]

logger = logging.getLogger(__name__)

BUILD_NAME = "snapshot.sqlite3.new"
LOCK_NAME = "snapshot.lock"

# Bytes read from a file per step when importing.
_READ_CHUNK = 1024 * 1024


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:  # rb+: Windows fsync needs a writable handle
        os.fsync(f.fileno())


def remove_file(path: Path) -> None:
    """Delete ``path`` if it exists; a file still open elsewhere (Windows) is left for later."""
    with contextlib.suppress(FileNotFoundError):
        try:
            path.unlink()
        except OSError as exc:
            logger.debug("snapshot: cannot delete %s yet: %s", path, exc)


class BuildLock:
    """An exclusive, non-blocking, cross-process lock on ``snapshot.lock``.

    ``flock`` (POSIX) / ``msvcrt.locking`` (Windows) locks belong to an open
    file description, so two builders in one process exclude each other too,
    and the lock goes away with the process that held it (no stale lock after
    a crash).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this lock object holds the lock."""
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def acquire(self, wait: float) -> bool:
        """Take the lock, waiting up to ``wait`` seconds for its holder to let go."""
        deadline = time.monotonic() + wait
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def release(self) -> None:
        """Let go (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the lock


class SQLiteSnapshotLease:
    """The right to follow the change feed of one ``data_dir``'s snapshot: its build lock.

    Held until :meth:`release` (or the end of a ``with`` block, or the process).
    A rebuild started under it (:meth:`Snapshot.begin_rebuild(lease=…)
    <credit_check_sdk.storage.sqlite.snapshot.Snapshot.begin_rebuild>`) uses the
    same lock and leaves it held.
    """

    def __init__(self, lock: BuildLock, on_release: Callable[[], None] | None = None) -> None:
        self.lock = lock
        self._on_release = on_release

    def alive(self) -> bool:
        """Whether the lock is still held (a file lock is lost only with the process)."""
        return self.lock.held

    def release(self) -> None:
        """Let go of the lock (idempotent)."""
        self.lock.release()
        if self._on_release is not None:
            self._on_release()

    def __enter__(self) -> SQLiteSnapshotLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class SnapshotBuilder:
    """A complete new snapshot, built in ``snapshot.sqlite3.new`` (:meth:`Snapshot.begin_rebuild`).

    Nothing reads the file until :meth:`commit` swaps it in; :meth:`abort`
    (or an exception leaving a ``with`` block) deletes it.

    >>> builder = snap.begin_rebuild()  # doctest: +SKIP
    >>> for page in pages_from_the_start:  # doctest: +SKIP
    ...     builder.apply(page)
    >>> builder.commit()  # doctest: +SKIP
    7
    """

    def __init__(self, snapshot: Snapshot, lock: BuildLock, *, owns_lock: bool = True) -> None:
        self._snapshot = snapshot
        self._lock = lock
        # Under a lease the lock is the lease's: released by its holder, not here.
        self._owns_lock = owns_lock
        self.path = snapshot.dir / BUILD_NAME
        self._done = False
        self._complete = False
        for suffix in ("", "-journal", "-wal", "-shm"):
            remove_file(Path(f"{self.path}{suffix}"))  # left by a rebuild that crashed
        try:
            with region():
                self._conn = self._create()
        except sqlite3.Error as exc:
            self._release()
            raise SnapshotError(f"cannot create {self.path}: {exc}", path=str(self.path)) from exc

    def _create(self) -> sqlite3.Connection:
        conn = connect(self.path, create=True, busy_timeout=10.0)
        try:
            # Nothing reads this file and a crash discards it, so it is written
            # without a rollback journal or fsyncs; it is fsynced once, at commit.
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -65536")  # 64 MiB, whatever the size
            conn.executescript(SNAPSHOT_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SNAPSHOT_VERSION}")
        except BaseException:
            conn.close()
            raise
        return conn

    def apply(self, page: ChangesPage) -> int:
        """Apply one page of a feed read from the start (no cursor); the changes applied.

        >>> builder.apply(page)  # doctest: +SKIP
        5000
        """
        return len(self.apply_changes(page))

    def apply_changes(self, page: ChangesPage) -> list[Change]:
        """Like :meth:`apply`, returning the changes applied."""
        self._check_open()
        try:
            with region():
                fresh = apply_page(self._conn, page)
        except sqlite3.Error as exc:
            raise SnapshotError(f"rebuild failed: {exc}", path=str(self.path)) from exc
        self._complete = not page.has_more
        return fresh

    def export_loader(
        self,
        *,
        on_stored: OnStored | None = None,
        stop: threading.Event | None = None,
        max_line_bytes: int | None = None,
    ) -> ExportLoader:
        """A loader to push a list export into this (empty) rebuild; see :class:`ExportLoader`.

        After :meth:`ExportLoader.finish`, change-feed pages from the export's
        cursor may follow (:meth:`apply`) before :meth:`commit`.

        >>> loader = builder.export_loader()  # doctest: +SKIP
        """
        self._check_open()
        return ExportLoader(self, on_stored=on_stored, stop=stop, max_line_bytes=max_line_bytes)

    def _load_export(
        self, stream: IO[bytes], *, progress: Callable[[int, int], None] | None = None
    ) -> ExportHeader:
        """Read an export from ``stream`` into the file; its header once checked."""

        def stored(_subject_ids: list[str]) -> None:
            if progress is not None and loader.header is not None:
                progress(loader.loaded, loader.header.count)

        loader = self.export_loader(on_stored=stored if progress else None)
        try:
            while chunk := stream.read(_READ_CHUNK):
                loader.write(chunk)
        except OSError as exc:
            raise SnapshotImportError(f"export is unreadable: {exc}", path=str(self.path)) from exc
        return loader.finish()

    def insert_entries(self, rows: list[tuple[str, str, str]]) -> None:
        """Store ``(entry_id, subject_id, entry JSON)`` rows in one transaction."""
        self._check_open()
        with region():
            self._insert_rows_in_region(rows)

    def _insert_rows_in_region(self, rows: list[tuple[str, str, str]]) -> None:
        try:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO entries(entry_id, subject_id, body, seq) VALUES (?, ?, ?, NULL)", rows
            )
            self._conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise SnapshotImportError(
                f"export repeats an entry id: {exc}", path=str(self.path)
            ) from exc
        except sqlite3.Error as exc:
            raise SnapshotError(f"rebuild failed: {exc}", path=str(self.path)) from exc

    def insert_relations(self, rows: Sequence[Relation]) -> None:
        """Store an export's relations (and note that the platform sends relations)."""
        self._check_open()
        try:
            with region():
                store_relations(self._conn, rows)
        except sqlite3.Error as exc:
            raise SnapshotError(f"rebuild failed: {exc}", path=str(self.path)) from exc

    def discard_rows(self) -> None:
        """Empty the file again (an export download that is being retried)."""
        self._check_open()
        try:
            with region():
                clear_relations(self._conn)
                self._conn.execute("DELETE FROM entries")
                self._conn.execute("DELETE FROM meta")
        except sqlite3.Error as exc:
            raise SnapshotError(f"rebuild failed: {exc}", path=str(self.path)) from exc
        self._complete = False

    def set_export_meta(self, header: ExportHeader) -> None:
        """Take the export's header (cursor, as_of, count): the rebuild is complete."""
        try:
            with region():
                self._set_meta_in_region(header)
        except sqlite3.Error as exc:
            raise SnapshotError(f"rebuild failed: {exc}", path=str(self.path)) from exc
        self._complete = True

    def _set_meta_in_region(self, header: ExportHeader) -> None:
        set_meta(
            self._conn,
            {
                "cursor": header.cursor,
                "as_of": header.as_of.isoformat(),
                "feed_as_of": header.as_of.isoformat(),
                "entries": str(header.count),
                "last_seq": "0",  # the header does not say; the feed from cursor is newer
            },
        )

    def commit(self) -> int:
        """Swap the new snapshot into service; its generation number.

        Refused (:class:`SnapshotError`) unless the last page applied said
        ``has_more=False``: a half-built snapshot never goes into service.
        """
        return self._commit(require_complete=True, mark_synced=True)

    def _commit(self, *, require_complete: bool, mark_synced: bool) -> int:
        # One region: the index build, the close and the swap (a fork waits for them).
        with region():
            return self._commit_in_region(require_complete, mark_synced)

    def _commit_in_region(self, require_complete: bool, mark_synced: bool) -> int:
        self._check_open()
        if require_complete and not self._complete:
            raise SnapshotError(
                "rebuild is incomplete (the feed had more pages); not swapped in",
                path=str(self.path),
            )
        snapshot = self._snapshot
        try:
            current, _ = snapshot._read_pointer()
            generation = (current.generation if current else 0) + 1
            values: dict[str, str | None] = {"generation": str(generation)}
            if mark_synced:
                values["synced_at"] = _now().isoformat()
            set_meta(self._conn, values)
            # Built after the rows: one sort instead of 10 million B-tree inserts.
            self._conn.execute(SNAPSHOT_INDEX)
            self._conn.execute("ANALYZE")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SnapshotError(f"{self.path}: cannot enable WAL", path=str(self.path))
            self._conn.close()  # the last connection: the WAL is checkpointed and removed
            _fsync_file(self.path)
            snapshot._swap(self.path, generation)
        except sqlite3.Error as exc:
            self.abort()
            raise SnapshotError(f"rebuild failed: {exc}", path=str(self.path)) from exc
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._release()
        return generation

    def abort(self) -> None:
        """Discard the new snapshot; the one in service is untouched. Idempotent."""
        if self._done:
            return
        self._done = True
        with region(), contextlib.suppress(sqlite3.Error):
            self._conn.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            remove_file(Path(f"{self.path}{suffix}"))
        self._release()

    def _release(self) -> None:
        if self._owns_lock:
            self._lock.release()

    @property
    def location(self) -> str:
        """The file being built."""
        return str(self.path)

    def _check_open(self) -> None:
        if self._done:
            raise SnapshotError("this rebuild is finished", path=str(self.path))

    def __enter__(self) -> SnapshotBuilder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()  # no-op after commit()


def import_export(
    snapshot: Snapshot,
    source: str | Path | IO[bytes],
    *,
    progress: Callable[[int, int], None] | None,
    wait: float,
) -> ImportResult:
    """What ``Snapshot.import_export`` does: load an export file or stream into a
    rebuild (waiting up to ``wait`` seconds for the build lock) and swap it in."""
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if isinstance(source, (str, Path)):
            try:
                raw: IO[bytes] = stack.enter_context(open(source, "rb"))
            except OSError as exc:
                raise SnapshotImportError(
                    f"cannot open export {source}: {exc}", path=str(source)
                ) from exc
        else:
            raw = source
        builder = snapshot.begin_rebuild(wait=wait)
        try:
            header = builder._load_export(raw, progress=progress)
            generation = builder.commit()
        except BaseException:
            builder.abort()
            raise
    result = ImportResult(
        header.count,
        header.cursor,
        header.as_of,
        generation,
        time.monotonic() - started,
        snapshot._in_service_path(),
    )
    logger.info(
        "snapshot: imported %d entries as of %s in %.1f s (generation %d)",
        header.count,
        header.as_of.isoformat(),
        result.seconds,
        generation,
    )
    return result
