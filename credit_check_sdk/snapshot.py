"""The offline snapshot: every red- and black-list entry, in SQLite, to decide from when offline.

The snapshot is kept current from the platform's change feed
(``GET /v1/lists/changes``, see :mod:`credit_check_sdk._sync`) or seeded from a
list export (``GET /v1/lists/export``, gzip NDJSON). When the platform cannot
answer, :meth:`Snapshot.profile_for` gives the decision engine a profile built
from it.

Files in ``data_dir``::

    snapshot.current            which data file is in service (JSON, replaced atomically)
    snapshot.<gen>.sqlite3      the data file of generation <gen> (WAL mode, + -wal/-shm)
    snapshot.sqlite3.new        a rebuild in progress (never read; deleted if abandoned)
    snapshot.lock               held by whoever is rebuilding (one rebuild per data_dir)

Why a pointer and not ``os.replace`` of the new file over the live one: the
live file runs in WAL mode, and SQLite finds a database's ``-wal`` and
``-shm`` by *name*. A new file renamed over ``snapshot.sqlite3`` while any
connection (in this or another process) still holds the old one would meet
the old file's ``-wal`` and ``-shm`` and replay foreign pages into itself.
Each generation therefore has its own name, and the swap is the atomic
replacement of the small pointer file. Readers notice a swap made in this
process at once (a generation counter), and one made by another process
within ``recheck`` seconds (a ``stat`` of the pointer); a reader's query that
is in flight during a swap finishes on the old file, which stays readable
until its last connection closes.

Durability: incremental changes are applied one page per transaction, with
the new cursor in the same transaction (``synchronous=FULL``), so a crash
loses nothing committed and the next sync resumes from the saved cursor. A
rebuild writes the new file fast (no journal), fsyncs it, and only then
points at it: a crash mid-rebuild leaves the old generation in service.

>>> import tempfile
>>> snap = Snapshot(tempfile.mkdtemp())
>>> snap.profile_for("91442000MA4UJ2KQ57", "legal_entity") is None  # never synced
True
>>> snap.close()
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import os
import re
import sqlite3
import sys
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn

from pydantic import ValidationError

from . import _snapshot_relations as relations
from ._client import Change, ChangesPage
from ._exceptions import CreditCheckError
from ._files import atomic_write, create_private_file, fsync_dir, make_private_dir
from ._fork import ShortLock, region
from ._ids import SubjectKind
from ._inflate import GZIP_MAGIC, Inflater
from ._models import ListEntry, Profile, Related, RelatedRole, Relation, SubjectRef
from ._time import now as _now

__all__ = [
    "ExportHeader",
    "ExportLoader",
    "ImportResult",
    "LoadStoppedError",
    "Snapshot",
    "SnapshotBuilder",
    "SnapshotBusyError",
    "SnapshotError",
    "SnapshotImportError",
    "SnapshotStatus",
]

logger = logging.getLogger(__name__)

#: The schema this code writes; ``PRAGMA user_version`` holds the file's.
SCHEMA_VERSION = 1

POINTER_NAME = "snapshot.current"
BUILD_NAME = "snapshot.sqlite3.new"
LOCK_NAME = "snapshot.lock"
_DATA_NAME = re.compile(r"^snapshot\.([0-9]{1,18})\.sqlite3$")
_DATA_FILE_OR_SIDECAR = re.compile(r"^snapshot\.([0-9]{1,18})\.sqlite3(-wal|-shm|-journal)?$")

# Rows per INSERT batch (and transaction) when importing: large enough that the
# per-statement overhead vanishes, small enough that memory stays flat.
IMPORT_BATCH = 10_000

# Idle reader connections kept open; more than this many concurrent readers
# still work, the extras are closed when they are handed back.
_MAX_IDLE_READERS = 32

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS entries (
    entry_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    body TEXT NOT NULL,
    seq INTEGER
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
    + relations.RELATIONS_SCHEMA
)
_INDEX = "CREATE INDEX IF NOT EXISTS entries_subject ON entries(subject_id)"


class SnapshotError(CreditCheckError):
    """The snapshot cannot be read or written; ``path`` names the file concerned."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class SnapshotBusyError(SnapshotError):
    """Another rebuild or import of the same snapshot is in progress (in any process)."""


class SnapshotImportError(SnapshotError):
    """An export file is malformed, truncated or does not hold ``count`` entries."""


@dataclass(frozen=True)
class SnapshotStatus:
    """What :meth:`Snapshot.status` reports (for health pages and the CLI).

    ``generation`` is 0 and ``path`` is ``None`` while there is no snapshot.
    """

    entries: int
    cursor: str | None
    as_of: datetime | None
    synced_at: datetime | None
    generation: int
    path: str | None
    size_bytes: int
    last_seq: int = 0


@dataclass(frozen=True)
class ImportResult:
    """What :meth:`Snapshot.import_export` loaded: the entries, the feed cursor to continue from."""

    entries: int
    cursor: str
    as_of: datetime
    generation: int
    seconds: float
    path: str


@dataclass(frozen=True)
class _Pointer:
    """The data file in service and its generation."""

    file: str
    generation: int


# --- small file helpers -----------------------------------------------------------


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:  # rb+: Windows fsync needs a writable handle
        os.fsync(f.fileno())


def _remove(path: Path) -> None:
    """Delete ``path`` if it exists; a file still open elsewhere (Windows) is left for later."""
    with contextlib.suppress(FileNotFoundError):
        try:
            path.unlink()
        except OSError as exc:
            logger.debug("snapshot: cannot delete %s yet: %s", path, exc)


class _BuildLock:
    """An exclusive, non-blocking, cross-process lock on ``snapshot.lock``.

    ``flock`` (POSIX) / ``msvcrt.locking`` (Windows) locks belong to an open
    file description, so two builders in one process exclude each other too,
    and the lock goes away with the process that held it (no stale lock after
    a crash).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
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
        deadline = time.monotonic() + wait
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the lock


# --- SQL helpers shared by the live snapshot and the builder ------------------------


def _connect(path: Path, *, create: bool, busy_timeout: float) -> sqlite3.Connection:
    """Open ``path``; without ``create`` a missing file is an error rather than a new empty DB."""
    uri = path.resolve().as_uri() + ("?mode=rwc" if create else "?mode=rw")
    if create:
        try:
            create_private_file(path)  # 0600, and so its -wal and -shm: subject ids
        except OSError as exc:  # reported as SQLite would report it, where callers expect it
            raise sqlite3.OperationalError(f"unable to open database file: {exc}") from exc
    conn = sqlite3.connect(
        uri,
        uri=True,
        timeout=busy_timeout,
        isolation_level=None,  # BEGIN/COMMIT are issued explicitly
        check_same_thread=False,  # every connection is used by one thread at a time
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    return conn


def _meta(conn: sqlite3.Connection) -> dict[str, str | None]:
    return {str(k): v for k, v in conn.execute("SELECT key, value FROM meta")}


def _set_meta(conn: sqlite3.Connection, values: dict[str, str | None]) -> None:
    conn.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        raise SnapshotError(
            f"snapshot {path}: schema version {version}, this SDK reads {SCHEMA_VERSION}; "
            "rebuild the snapshot (sync or import)",
            path=str(path),
        )


def _apply_page(conn: sqlite3.Connection, page: ChangesPage) -> list[Change]:
    """Apply one page in one transaction; the changes actually applied, in ``seq`` order.

    Changes with ``seq`` at or below the file's ``last_seq`` were applied
    before and are skipped, so re-applying a page is a no-op. A page without
    changes only moves the cursor and freshness forwards, never back.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        meta = _meta(conn)
        last_seq = int(meta.get("last_seq") or 0)
        fresh = sorted((c for c in page.changes if c.seq > last_seq), key=lambda c: c.seq)
        fresh_relations = [r for r in page.relations if r.seq > last_seq]
        feed_as_of = _dt(meta.get("feed_as_of"))
        if (page.changes or page.relations) and not (fresh or fresh_relations):
            conn.execute("ROLLBACK")
            return []
        if (
            not page.changes
            and not page.relations
            and feed_as_of is not None
            and page.as_of < feed_as_of
        ):
            conn.execute("ROLLBACK")  # an old empty page, answered again: nothing to learn
            return []
        count = int(meta.get("entries") or 0)
        # Runs of consecutive upserts, or of deletes, each applied with executemany:
        # a page costs a handful of statements instead of one or two per change, and
        # the order of changes to the same entry is kept.
        for op, run in itertools.groupby(fresh, key=lambda c: c.op):
            changes = list(run)
            if op == "upsert":
                count += _upsert_run(conn, changes)
            else:
                count -= conn.executemany(
                    "DELETE FROM entries WHERE entry_id = ?",
                    [(c.entry.entry_id,) for c in changes],
                ).rowcount
        updates: dict[str, str | None] = {
            "cursor": page.next_cursor,
            "entries": str(count),
            "feed_as_of": max(page.as_of, feed_as_of or page.as_of).isoformat(),
        }
        relations.apply_relation_changes(conn, fresh_relations)
        if fresh or fresh_relations:
            seqs = [c.seq for c in fresh[-1:]] + [r.seq for r in fresh_relations]
            updates["last_seq"] = str(max(seqs))
        if not page.has_more:
            # Caught up: the data now reflects the feed as of the page's time. While
            # pages remain, the older as_of stays: it is still a true lower bound.
            old = _dt(meta.get("as_of"))
            updates["as_of"] = max(page.as_of, old or page.as_of).isoformat()
            updates["synced_at"] = _now().isoformat()
        _set_meta(conn, updates)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return fresh


def _upsert_run(conn: sqlite3.Connection, changes: list[Change]) -> int:
    """Insert or replace the entries of consecutive upserts; how many entries are new."""
    to_json = ListEntry.__pydantic_serializer__.to_json
    rows = [
        (c.entry.entry_id, c.entry.subject_id, to_json(c.entry).decode(), c.seq) for c in changes
    ]
    inserted = conn.executemany(
        "INSERT INTO entries(entry_id, subject_id, body, seq) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(entry_id) DO NOTHING",
        rows,
    ).rowcount
    if inserted < len(rows):
        # Some were there already (or came twice in this run): bring each up to its
        # change, in seq order. A row just inserted carries its own seq and is skipped.
        conn.executemany(
            "UPDATE entries SET subject_id = ?, body = ?, seq = ? "
            "WHERE entry_id = ? AND seq IS NOT ?",
            [(subject, body, seq, entry_id, seq) for entry_id, subject, body, seq in rows],
        )
    return inserted


# Snapshots alive in this process, so that a fork can drop their connections and
# locks in the child (SQLite connections must not cross fork).
_INSTANCES: weakref.WeakSet[Snapshot] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for snap in list(_INSTANCES):
        snap._reset_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Reader:
    __slots__ = ("conn", "world")

    def __init__(self, conn: sqlite3.Connection, world: int) -> None:
        self.conn = conn
        self.world = world


class Snapshot:
    """The local copy of every list entry, in ``data_dir``; safe to share between threads.

    Lookups take a pooled read connection and run one indexed ``SELECT``; they
    never wait for a sync (WAL readers do not block on the writer).
    ``recheck`` bounds how long a swap made by another process goes unnoticed.

    >>> import tempfile
    >>> snap = Snapshot(tempfile.mkdtemp())
    >>> snap.entries_for("91442000MA4UJ2KQ57")
    []
    >>> snap.status().generation
    0
    >>> snap.close()
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
        self._current: _Pointer | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._world = 0  # bumped at every change of the file in service
        self._next_check = 0.0
        self._pool: list[_Reader] = []
        self._writer: _Reader | None = None
        self._pid = os.getpid()

    def _reset_after_fork(self) -> None:
        for reader in self._pool:
            self._abandoned.append(reader.conn)
        if self._writer is not None:
            self._abandoned.append(self._writer.conn)
        current = self._current
        self._init_runtime()
        self._current = current
        self._world = 1

    # --- which file is in service -------------------------------------------------

    @property
    def pointer_path(self) -> Path:
        """The file naming the data file in service."""
        return self.dir / POINTER_NAME

    def _data_path(self, pointer: _Pointer) -> Path:
        return self.dir / pointer.file

    def _read_pointer(self) -> tuple[_Pointer | None, tuple[int, int, int] | None]:
        try:
            st = os.stat(self.pointer_path)
            raw = self.pointer_path.read_text("utf-8")
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            raise SnapshotError(
                f"cannot read {self.pointer_path}: {exc}", path=str(self.pointer_path)
            ) from exc
        try:
            doc = json.loads(raw)
            name = str(doc["file"])
            generation = int(doc["generation"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SnapshotError(
                f"{self.pointer_path} is damaged; delete it and sync again",
                path=str(self.pointer_path),
            ) from exc
        if not _DATA_NAME.match(name):  # never follow a pointer out of data_dir
            raise SnapshotError(
                f"{self.pointer_path} names an unexpected file", path=str(self.pointer_path)
            )
        return _Pointer(name, generation), (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self, *, force: bool = False) -> None:
        """Adopt a swap made elsewhere; cheap (one ``stat``) when nothing changed."""
        with self._state_lock:
            self._next_check = time.monotonic() + self._recheck_every
            if not force:
                try:
                    st = os.stat(self.pointer_path)
                    stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
                except FileNotFoundError:
                    stamp = None
                if stamp == self._stamp:
                    return
        try:
            pointer, stamp = self._read_pointer()
        except SnapshotError:
            self._next_check = 0.0  # look again at the next read, which fails too until fixed
            raise
        self._adopt(pointer, stamp)

    def _adopt(self, pointer: _Pointer | None, stamp: tuple[int, int, int] | None) -> None:
        with self._state_lock:
            self._stamp = stamp
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
                conn = _connect(path, create=False, busy_timeout=self._busy_timeout)
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

    def entries_for(self, subject_id: str) -> list[ListEntry]:
        """Every entry of ``subject_id`` in the snapshot (any list, any status), by entry id.

        ``subject_id`` must be normalised (as :class:`~credit_check_sdk.Subject` does).

        >>> snap.entries_for("91442000MA4UJ2KQ57")  # doctest: +SKIP
        [ListEntry(entry_id='BL-2026-000123', ...)]
        """
        rows = self._query("SELECT body FROM entries WHERE subject_id = ?", (subject_id,))
        entries = [ListEntry.model_validate_json(body) for (body,) in rows]
        entries.sort(key=lambda e: e.entry_id)
        return entries

    def related_for(self, subject_id: str) -> list[tuple[RelatedRole, SubjectRef]] | None:
        """The parties related to ``subject_id`` as the feed sent them, both ways: an
        organisation's persons by role, a party's organisations by ``role_of``.

        ``None`` when the platform has sent no relation into this snapshot (a
        platform of contract v1): the caller then has no relations from here.
        See :mod:`credit_check_sdk._snapshot_relations`.

        >>> snap.related_for("442000199001011233")  # doctest: +SKIP
        [('legal_representative_of', SubjectRef(id='91442000MA4UJ2KQ57', ...))]
        """
        try:
            rows = self._query(
                "SELECT NULL, NULL FROM meta WHERE key = 'relations' "
                "UNION ALL SELECT role, related_id FROM relations WHERE subject_id = ? "
                "UNION ALL SELECT role || '_of', subject_id FROM relations WHERE related_id = ?",
                (subject_id, subject_id),
            )
        except SnapshotError:  # a file made before relations, not yet written to
            return None
        if not any(role is None for role, _ in rows):
            return None
        return [
            (str(role), SubjectRef.model_construct(id=other, kind=relations.kind_of(other)))
            for role, other in sorted(r for r in rows if r[0] is not None)
        ]

    def profile_for(
        self,
        subject_id: str,
        kind: SubjectKind,
        *,
        related: Sequence[tuple[RelatedRole, SubjectRef]] = (),
    ) -> Profile | None:
        """A profile from the snapshot, or ``None`` if no sync has ever completed.

        Limits, which the decision must respect: the snapshot holds list
        entries only, so ``record_since`` and ``last_adverse_on`` are ``None``
        (call the decision engine with ``clean_years_known=False``: no
        clean-years incentive is granted). ``related`` is empty unless the
        caller names the related parties (``(role, subject)`` pairs: from
        :meth:`related_for`, or as learnt from earlier live profiles), whose
        entries then come from the snapshot too. ``as_of`` is the snapshot's.

        >>> p = snap.profile_for("91442000MA4UJ2KQ57", "legal_entity")  # doctest: +SKIP
        >>> p.as_of, [e.entry_id for e in p.entries]  # doctest: +SKIP
        (datetime(2026, 11, 29, 8, 0, tzinfo=...), ['BL-2026-000123'])
        """
        ids = [subject_id, *dict.fromkeys(ref.id for _role, ref in related if ref.id != subject_id)]
        # One statement, hence one read transaction: the entries, the related persons'
        # entries and the as_of reported with them come from the same state of the file.
        if len(ids) == 1:
            rows = self._query(
                "SELECT key, NULL, value FROM meta WHERE key IN ('as_of', 'synced_at') "
                "UNION ALL SELECT NULL, subject_id, body FROM entries WHERE subject_id = ?",
                (subject_id,),
            )
        else:
            rows = self._query(
                "SELECT key, NULL, value FROM meta WHERE key IN ('as_of', 'synced_at') "
                "UNION ALL SELECT NULL, subject_id, body FROM entries "
                "WHERE subject_id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            )
        meta = {k: v for k, _holder, v in rows if k is not None}
        as_of = _dt(meta.get("as_of"))
        if as_of is None or not meta.get("synced_at"):
            return None
        by_subject: dict[str, list[ListEntry]] = {i: [] for i in ids}
        for k, holder, body in rows:
            if k is None:
                by_subject[holder].append(ListEntry.model_validate_json(body))
        for entries in by_subject.values():
            entries.sort(key=lambda e: e.entry_id)
        # model_construct: every field is already typed and validated (the entries
        # were just parsed), and lookups must stay fast under load.
        return Profile.model_construct(
            subject=SubjectRef.model_construct(id=subject_id, kind=kind, name=None),
            as_of=as_of,
            record_since=None,
            last_adverse_on=None,
            entries=tuple(by_subject[subject_id]),
            related=tuple(
                Related.model_construct(role=role, subject=ref, entries=tuple(by_subject[ref.id]))
                for role, ref in related
            ),
        )

    def _meta_values(self) -> dict[str, str | None]:
        rows = self._query("SELECT key, value FROM meta", ())
        return {str(k): v for k, v in rows}

    def as_of(self) -> datetime | None:
        """The platform's time up to which the snapshot is complete; ``None`` before a sync.

        >>> snap.as_of()  # doctest: +SKIP
        datetime.datetime(2026, 11, 29, 8, 0, tzinfo=datetime.timezone(...))
        """
        return _dt(self._meta_values().get("as_of"))

    def synced_at(self) -> datetime | None:
        """Local time of the last completed sync or import; ``None`` before one."""
        return _dt(self._meta_values().get("synced_at"))

    def age(self, now: datetime | None = None) -> timedelta | None:
        """How old the snapshot's data is at ``now`` (``now - as_of``); ``None`` before a sync.

        >>> snap.age() > timedelta(days=2)  # doctest: +SKIP
        False
        """
        as_of = self.as_of()
        if as_of is None:
            return None
        return (now or _now()) - as_of

    def cursor(self) -> str | None:
        """The change-feed cursor to continue from; ``None`` when the next sync starts afresh."""
        return self._meta_values().get("cursor")

    def last_seq(self) -> int:
        """The highest change ``seq`` applied (0 when unknown, e.g. right after an import)."""
        return int(self._meta_values().get("last_seq") or 0)

    def status(self) -> SnapshotStatus:
        """Counts, cursor, freshness, generation, file and size.

        >>> snap.status().entries  # doctest: +SKIP
        10000
        """
        self._refresh(force=True)
        meta = self._meta_values()
        with self._state_lock:
            current = self._current
        if current is None:
            return SnapshotStatus(0, None, None, None, 0, None, 0)
        path = self._data_path(current)
        size = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                size += os.stat(f"{path}{suffix}").st_size
        return SnapshotStatus(
            entries=int(meta.get("entries") or 0),
            cursor=meta.get("cursor"),
            as_of=_dt(meta.get("as_of")),
            synced_at=_dt(meta.get("synced_at")),
            generation=current.generation,
            path=str(path),
            size_bytes=size,
            last_seq=int(meta.get("last_seq") or 0),
        )

    # --- writing ----------------------------------------------------------------

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
            conn = _connect(path, create=False, busy_timeout=self._busy_timeout)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SnapshotError(f"snapshot {path}: cannot enable WAL", path=str(path))
            # FULL: a page is on disk when apply() returns, so the cursor saved
            # with it is never ahead of the data after a power cut.
            conn.execute("PRAGMA synchronous = FULL")
            _check_schema(conn, path)
            relations.ensure_table(conn)  # a file made before the feed carried relations
        except sqlite3.Error as exc:
            raise SnapshotError(f"snapshot {path}: cannot open: {exc}", path=str(path)) from exc
        self._writer = _Reader(conn, world)
        return conn

    def apply(self, page: ChangesPage) -> int:
        """Apply one change-feed page in one transaction with its cursor; the changes applied.

        Upserts and deletes are applied in ``seq`` order; changes at or below
        the last applied ``seq`` are skipped, so applying a page twice is a
        no-op (returns 0). When the page says ``has_more=False`` the snapshot
        is caught up: its ``as_of`` becomes the page's and ``synced_at`` now.

        >>> n = snap.apply(client_page)  # doctest: +SKIP
        """
        return len(self.apply_changes(page))

    def apply_changes(self, page: ChangesPage) -> list[Change]:
        """Like :meth:`apply`, but return the changes actually applied (for watchers)."""
        with self._state_lock:
            current = self._current
        if current is None:
            self._first_generation()
        with region(), self._write_lock:
            conn = self._writer_conn()
            try:
                return _apply_page(conn, page)
            except sqlite3.Error as exc:
                raise SnapshotError(f"snapshot apply failed: {exc}", path=str(self.dir)) from exc

    def _first_generation(self) -> None:
        """First data without a rebuild: start an empty generation that is not yet
        "synced" (profile_for stays None until a page completes the feed).

        Outside any region: it may wait for another rebuild's lock.
        """
        builder = self.begin_rebuild(wait=self._busy_timeout)
        self._refresh(force=True)
        with self._state_lock:
            current = self._current
        if current is not None:
            builder.abort()  # made by another process while we waited for the lock
            return
        builder._commit(require_complete=False, mark_synced=False)

    # --- rebuilding ---------------------------------------------------------------

    def begin_rebuild(self, *, wait: float = 0.0) -> SnapshotBuilder:
        """Start building a complete new snapshot beside the one in service.

        The one in service keeps answering until :meth:`SnapshotBuilder.commit`.
        Only one rebuild runs per ``data_dir`` (across processes): if another is
        in progress after ``wait`` seconds, :class:`SnapshotBusyError`.

        >>> with snap.begin_rebuild() as builder:  # doctest: +SKIP
        ...     builder.apply(page)                 # pages from a cursor-less start
        ...     builder.commit()
        """
        if self._closed:
            raise SnapshotError("snapshot is closed", path=str(self.dir))
        lock = _BuildLock(self.dir / LOCK_NAME)
        if not lock.acquire(wait):
            raise SnapshotBusyError(
                f"another rebuild of the snapshot in {self.dir} is in progress", path=str(self.dir)
            )
        try:
            return SnapshotBuilder(self, lock)
        except BaseException:
            lock.release()
            raise

    def import_export(
        self,
        source: str | Path | IO[bytes],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportResult:
        """Load a list export (gzip NDJSON) as a new generation, then swap it in.

        The first line is ``{"cursor", "as_of", "count"}``, then one ListEntry
        per line. Every line is validated; a file whose entries do not number
        ``count`` (or that is truncated, or repeats an entry id) is refused with
        :class:`SnapshotImportError` and the snapshot in service is untouched.
        Plain (not gzipped) NDJSON is accepted too. Memory use does not grow with
        the number of entries. ``progress(loaded, count)`` is called after each
        batch of entries is written (its exceptions are not caught: raising
        abandons the import).

        >>> result = snap.import_export("lists-export.ndjson.gz")  # doctest: +SKIP
        >>> result.entries, result.cursor  # doctest: +SKIP
        (1000000, 's1000000')
        """
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
            builder = self.begin_rebuild(wait=self._busy_timeout)
            try:
                header = builder._load_export(raw, progress=progress)
                generation = builder.commit()
            except BaseException:
                builder.abort()
                raise
        with self._state_lock:
            current = self._current
        path = str(self._data_path(current)) if current else ""
        result = ImportResult(
            header.count,
            header.cursor,
            header.as_of,
            generation,
            time.monotonic() - started,
            path,
        )
        logger.info(
            "snapshot: imported %d entries as of %s in %.1f s (generation %d)",
            header.count,
            header.as_of.isoformat(),
            result.seconds,
            generation,
        )
        return result

    def _swap(self, built: Path, generation: int) -> None:
        """Put ``built`` (complete, fsynced, closed) in service as ``generation``.

        Caller holds the build lock, so no other swap runs in any process.
        """
        with region(), self._write_lock:
            old, _ = self._read_pointer()
            target = _Pointer(f"snapshot.{generation}.sqlite3", generation)
            os.replace(built, self.dir / target.file)
            fsync_dir(self.dir)
            # The swap: atomic for every reader.
            pointer = {"file": target.file, "generation": generation}
            atomic_write(self.pointer_path, json.dumps(pointer).encode())
            if self._writer is not None:
                self._writer.conn.close()
                self._writer = None
            self._refresh(force=True)
        if old is not None and old.file != target.file:
            self._cleanup()

    def _cleanup(self) -> None:
        """Delete data files of earlier generations (best effort: some may still be open)."""
        pointer, _ = self._read_pointer()
        if pointer is None:
            return
        try:
            names = os.listdir(self.dir)
        except OSError:
            return
        for name in names:
            m = _DATA_FILE_OR_SIDECAR.match(name)
            if m and int(m.group(1)) < pointer.generation:
                _remove(self.dir / name)

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

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# Bytes read from a file per step when importing.
_READ_CHUNK = 1024 * 1024
# Inflated bytes handed on at a time: however small the gzip input, no more exists at once.
_INFLATE_CHUNK = 64 * 1024
#: The longest export line taken by default (a ListEntry line is about 1 KB).
MAX_LINE_BYTES = 1024 * 1024
# Validated lines are stored once this many bytes of them wait (or IMPORT_BATCH lines).
_BATCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ExportHeader:
    """The first line of a list export: the feed cursor to follow on from, its time, the count."""

    cursor: str
    as_of: datetime
    count: int


OnStored = Callable[[list[str]], None]


class ExportLoader:
    """Loads a list export into a :class:`SnapshotBuilder` from bytes pushed in as they arrive.

    Accepts gzip (one or more members) or plain NDJSON, told apart by the
    first two bytes. Write the bytes in any pieces with :meth:`write`, then
    call :meth:`finish`, which checks that the stream was complete and that it
    held ``count`` entries. Every line is validated as a ``ListEntry`` and
    stored as sent; rows are inserted ``IMPORT_BATCH`` at a time (or 8 MiB of
    them), and ``on_stored`` receives the subject ids of each batch once it is
    written. Memory stays flat however large the export, and however hostile:
    gzip is inflated 64 KiB at a time, and a line longer than
    ``max_line_bytes`` refuses the export (:class:`SnapshotImportError`) as
    soon as it passes the limit (default :data:`MAX_LINE_BYTES`, or the
    client's ``max_export_line_bytes``).

    It is also the ``sink`` of a streamed ``GET /v1/lists/export``
    (:meth:`PlatformClient.export_lists`): the export is loaded while it
    downloads, and a retried request (``seek(0)`` + ``truncate()``) starts the
    load again from nothing. When ``stop`` is set, the next write raises
    :class:`LoadStoppedError`.

    >>> with snap.begin_rebuild() as builder:  # doctest: +SKIP
    ...     loader = builder.export_loader()
    ...     client.export_lists(loader)
    ...     header = loader.finish()
    ...     builder.commit()
    """

    def __init__(
        self,
        builder: SnapshotBuilder,
        *,
        on_stored: OnStored | None = None,
        stop: threading.Event | None = None,
        max_line_bytes: int | None = None,
    ) -> None:
        self._builder = builder
        self._on_stored = on_stored
        self._stop = stop
        #: The longest line taken; ``None``: :data:`MAX_LINE_BYTES`, or the setting
        #: ``max_export_line_bytes`` when :meth:`PlatformClient.export_lists` loads it.
        self.max_line_bytes = max_line_bytes
        self._reset()

    def _reset(self) -> None:
        self._magic = b""  # the first bytes, until two tell gzip from plain
        self._plain: bool | None = None  # None until the first two bytes tell
        self._inflate: Inflater | None = None
        self._tail: list[bytes] = []  # the start of a line not yet complete, in pieces
        self._tail_size = 0
        self._line_no = 0
        self.header: ExportHeader | None = None
        self._pending: list[str] = []  # lines not yet stored (fewer than a batch)
        self._pending_size = 0
        self._seen = 0

    # The file-like surface PlatformClient.request uses for a sink.

    def write(self, data: bytes) -> int:
        """Take the next bytes of the export; complete lines are validated and stored."""
        if self._stop is not None and self._stop.is_set():
            raise LoadStoppedError("the export load was asked to stop")
        taken = len(data)
        if self._plain is None:
            self._magic += data
            if len(self._magic) < 2:
                return taken
            data, self._magic = self._magic, b""
            self._plain = not data.startswith(GZIP_MAGIC)
            if not self._plain:
                self._inflate = Inflater(chunk=_INFLATE_CHUNK)
        if self._inflate is None:
            self._take(data)
            return taken
        try:
            for piece in self._inflate.feed(data):
                self._take(piece)
        except zlib.error as exc:
            raise SnapshotImportError(
                f"export is not a valid gzip stream: {exc}", path=str(self._builder.path)
            ) from exc
        return taken

    def seek(self, offset: int, whence: int = 0) -> int:
        """Only rewinding to the start is possible; :meth:`truncate` then discards the load."""
        if (offset, whence) != (0, 0):
            raise io.UnsupportedOperation("an export load can only be rewound to the start")
        return 0

    def truncate(self, size: int | None = None) -> int:
        """Forget everything loaded so far (a retried download starts again)."""
        if size not in (None, 0):
            raise io.UnsupportedOperation("an export load can only be emptied")
        if self._seen:
            self._builder._discard_rows()
        self._reset()
        return 0

    @property
    def loaded(self) -> int:
        """Entries validated so far."""
        return self._seen

    def finish(self) -> ExportHeader:
        """End of the export: store the last rows and check it whole; its header.

        Raises :class:`SnapshotImportError` when the stream is not a complete
        gzip stream, has no header, or does not hold ``count`` entries.
        """
        where = str(self._builder.path)
        if self._magic:  # fewer than two bytes in all
            self._plain = True
            self._take(self._magic)
            self._magic = b""
        if self._inflate is not None and not self._inflate.complete:
            raise SnapshotImportError(
                "export is truncated (the gzip stream ends early)", path=where
            )
        if self._tail:
            tail, self._tail, self._tail_size = b"".join(self._tail), [], 0
            self._add_lines(self._decode(tail))
        if self._pending:
            pending, self._pending, self._pending_size = self._pending, [], 0
            self._store(pending)
        if self.header is None:
            raise SnapshotImportError("export is empty: no header line", path=where)
        if self._seen != self.header.count:
            raise SnapshotImportError(
                f"export header promises {self.header.count} entries, "
                f"the file holds {self._seen}; refused",
                path=where,
            )
        self._builder._set_export_meta(self.header)
        return self.header

    # -- internals -----------------------------------------------------------------

    def _take(self, data: bytes) -> None:
        if not data:
            return
        limit = self.max_line_bytes or MAX_LINE_BYTES
        cut = data.rfind(b"\n")
        if cut < 0:
            self._tail.append(data)
            self._tail_size += len(data)
            if self._tail_size > limit:
                self._too_long(0, limit)
            return
        if self._tail_size + data.find(b"\n") > limit:
            self._too_long(0, limit)
        self._tail.append(data[:cut])
        block = b"".join(self._tail)
        rest = data[cut + 1 :]
        self._tail, self._tail_size = ([rest], len(rest)) if rest else ([], 0)
        if len(block) > limit:
            # Only a block this long can hold a line this long: find it.
            for at, line in enumerate(block.split(b"\n")):
                if len(line) > limit:
                    self._too_long(at, limit)
        if self._tail_size > limit:
            self._too_long(block.count(b"\n") + 1, limit)
        self._add_lines(self._decode(block))

    def _too_long(self, lines_on: int, limit: int) -> NoReturn:
        line_no = self._line_no + len(self._pending) + lines_on + 1
        raise SnapshotImportError(
            f"export line {line_no} is longer than {limit} bytes; refused (max_export_line_bytes)",
            path=str(self._builder.path),
        )

    def _decode(self, block: bytes) -> list[str]:
        # One decode per block, cut at a newline, so no character is split.
        try:
            return block.decode("utf-8").split("\n")
        except UnicodeDecodeError as exc:
            line_no = self._line_no + len(self._pending) + block.count(b"\n", 0, exc.start) + 1
            raise SnapshotImportError(
                f"export line {line_no} is not UTF-8", path=str(self._builder.path)
            ) from exc

    def _add_lines(self, lines: list[str]) -> None:
        at = 0
        while self.header is None and at < len(lines):
            self._line_no += 1
            first = lines[at].strip()
            at += 1
            if first:
                self.header = _parse_header(first, str(self._builder.path))
        taken = lines[at:] if at else lines
        self._pending.extend(taken)
        self._pending_size += sum(map(len, taken))
        while len(self._pending) >= IMPORT_BATCH or self._pending_size >= _BATCH_BYTES:
            batch, self._pending = self._pending[:IMPORT_BATCH], self._pending[IMPORT_BATCH:]
            self._pending_size = sum(map(len, self._pending))
            self._store(batch)

    def _store(self, batch: list[str]) -> None:
        """Validate a batch of lines, one entry each, and insert them in one transaction."""
        first = self._line_no + 1
        self._line_no += len(batch)
        lines = [line for line in map(str.strip, batch) if line]
        if not lines:
            return
        if any(map(relations.is_relation_line, lines)):
            lines = self._store_relations(lines, first)
        # The hottest loop of a full sync: the model's validator is called directly,
        # and each model is dropped at once (holding a batch of them costs the
        # garbage collector more than the validation). The validated line is stored
        # as sent: reads validate it again, so unknown (newer) fields are harmless
        # and nothing is re-serialised.
        validate = ListEntry.__pydantic_validator__.validate_json
        try:
            rows = [(e.entry_id, e.subject_id, line) for line in lines for e in (validate(line),)]
        except ValidationError:
            self._refuse(batch, first)
        self._builder._insert_rows(rows)
        self._seen += len(rows)
        if self._on_stored is not None:
            self._on_stored([row[1] for row in rows])

    def _store_relations(self, lines: list[str], first: int) -> list[str]:
        """Store the batch's relation lines (contract v2); the entry lines, to store next."""
        found = [line for line in lines if relations.is_relation_line(line)]
        parsed, bad = relations.parse_relation_lines(found)
        if bad is not None:
            raise SnapshotImportError(
                f"export line {first + lines.index(found[bad])} is not a valid relation",
                path=str(self._builder.path),
            )
        self._builder._insert_relations(parsed)
        return [line for line in lines if not relations.is_relation_line(line)]

    def _refuse(self, batch: list[str], first: int) -> NoReturn:
        where = str(self._builder.path)
        for offset, raw in enumerate(batch):
            line = raw.strip()
            if not line:
                continue
            try:
                ListEntry.model_validate_json(line)
            except ValidationError as exc:
                raise SnapshotImportError(
                    f"export line {first + offset} is not a valid list entry: "
                    f"{exc.error_count()} error(s)",
                    path=where,
                ) from exc
        raise AssertionError("a line that failed validation passed it again")  # pragma: no cover


class LoadStoppedError(SnapshotError):
    """An export load ended early because its ``stop`` event was set."""


def _parse_header(text: str, where: str) -> ExportHeader:
    try:
        head = json.loads(text)
        header = ExportHeader(
            cursor=str(head["cursor"]),
            as_of=datetime.fromisoformat(str(head["as_of"])),
            count=int(head["count"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotImportError(
            "export: the first line is not a {cursor, as_of, count} header", path=where
        ) from exc
    if header.as_of.tzinfo is None:
        raise SnapshotImportError("export: as_of has no UTC offset", path=where)
    if header.count < 0:
        raise SnapshotImportError("export: count is negative", path=where)
    return header


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

    def __init__(self, snapshot: Snapshot, lock: _BuildLock) -> None:
        self._snapshot = snapshot
        self._lock = lock
        self.path = snapshot.dir / BUILD_NAME
        self._done = False
        self._complete = False
        for suffix in ("", "-journal", "-wal", "-shm"):
            _remove(Path(f"{self.path}{suffix}"))  # left by a rebuild that crashed
        try:
            with region():
                self._conn = self._create()
        except sqlite3.Error as exc:
            self._release()
            raise SnapshotError(f"cannot create {self.path}: {exc}", path=str(self.path)) from exc

    def _create(self) -> sqlite3.Connection:
        conn = _connect(self.path, create=True, busy_timeout=10.0)
        try:
            # Nothing reads this file and a crash discards it, so it is written
            # without a rollback journal or fsyncs; it is fsynced once, at commit.
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -65536")  # 64 MiB, whatever the size
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
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
                fresh = _apply_page(self._conn, page)
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

    def _insert_rows(self, rows: list[tuple[str, str, str]]) -> None:
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

    def _insert_relations(self, rows: Sequence[Relation]) -> None:
        self._check_open()
        try:
            with region():
                relations.store_relations(self._conn, rows)
        except sqlite3.Error as exc:
            raise SnapshotError(f"rebuild failed: {exc}", path=str(self.path)) from exc

    def _discard_rows(self) -> None:
        """Empty the file again (an export download that is being retried)."""
        self._check_open()
        try:
            with region():
                relations.clear(self._conn)
                self._conn.execute("DELETE FROM entries")
                self._conn.execute("DELETE FROM meta")
        except sqlite3.Error as exc:
            raise SnapshotError(f"rebuild failed: {exc}", path=str(self.path)) from exc
        self._complete = False

    def _set_export_meta(self, header: ExportHeader) -> None:
        try:
            with region():
                self._set_meta_in_region(header)
        except sqlite3.Error as exc:
            raise SnapshotError(f"rebuild failed: {exc}", path=str(self.path)) from exc
        self._complete = True

    def _set_meta_in_region(self, header: ExportHeader) -> None:
        _set_meta(
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
            _set_meta(self._conn, values)
            # Built after the rows: one sort instead of 10 million B-tree inserts.
            self._conn.execute(_INDEX)
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
            _remove(Path(f"{self.path}{suffix}"))
        self._release()

    def _release(self) -> None:
        self._lock.release()

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
