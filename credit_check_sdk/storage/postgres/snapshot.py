"""The offline snapshot in the shared database, followed by one instance at a time.

Every instance decides from the same tables (``cc_snapshot_entries``,
``cc_snapshot_relations``, ``cc_snapshot_meta``); lookups are one prepared,
indexed ``SELECT`` that never waits for a writer (MVCC). One instance at a time
*leads*: it holds a session advisory lock (``pg_try_advisory_lock``) on a
connection of its own while it follows the change feed; when it dies, its
session ends, the lock goes with it, and the next instance to ask takes over.

A rebuild (a first sync, an import, a feed that lost its cursor) fills tables of
the same shape under ``…_new`` (an export through ``COPY``), builds their
indexes once the rows are in, and renames them over the tables in service in
one transaction: readers see the old snapshot or the new one, never half.

>>> storage.snapshot.profile_for(uscc, "legal_entity")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import psycopg

from ..._client import Change, ChangesPage
from ..._ids import SubjectKind
from ..._models import ListEntry, Profile, RelatedRole, Relation, SubjectRef
from ..._time import now as _now
from .._data import ImportResult, SnapshotStatus
from .._errors import SnapshotBusyError, SnapshotError, SnapshotImportError
from .._export import ExportHeader, ExportLoader, OnStored
from .._feed import kind_of, meta_time, profile_from_rows
from ._database import Database
from ._schema import SNAPSHOT_INDEXES, SNAPSHOT_TABLES, statements
from ._snapshot_sql import LIVE, NEW, Tables, apply_page, meta, set_meta, store_relations

__all__ = ["PostgresSnapshot", "PostgresSnapshotBuilder", "PostgresSnapshotLease"]

#: The advisory lock of the snapshot's leader and rebuilds ("cc" "snap").
SNAPSHOT_LOCK = 0x63635F736E6170
#: Held inside each page's transaction on the tables in service (pages one at a time).
APPLY_LOCK = 0x63635F6170706C
_READ_CHUNK = 1024 * 1024

_PROFILE = (
    f"SELECT key, NULL, value FROM {LIVE['meta']} WHERE key IN ('as_of', 'synced_at')"  # noqa: S608 - fixed table names
    f" UNION ALL SELECT NULL, subject_id, body FROM {LIVE['entries']}"
    " WHERE subject_id = ANY(%s)"
)
_RELATED = (
    f"SELECT NULL, NULL FROM {LIVE['meta']} WHERE key = 'relations'"  # noqa: S608 - fixed table names
    f" UNION ALL SELECT role, related_id FROM {LIVE['relations']} WHERE subject_id = %s"
    f" UNION ALL SELECT role || '_of', subject_id FROM {LIVE['relations']} WHERE related_id = %s"
)


class PostgresSnapshotLease:
    """The right to follow the feed: a session advisory lock on a connection of its own.

    >>> lease = storage.snapshot.lead()  # doctest: +SKIP
    >>> lease.alive()  # doctest: +SKIP
    True
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        self._released = False

    def alive(self) -> bool:
        """Whether this session (hence the lock) still exists.

        >>> lease.alive()  # doctest: +SKIP
        True
        """
        if self._released:
            return False
        with self._lock:
            try:
                self.conn.execute("SELECT 1")
            except psycopg.Error:
                return False
        return True

    def release(self) -> None:
        """Stop leading (idempotent): the lock and its connection go.

        >>> lease.release()  # doctest: +SKIP
        """
        with self._lock:
            if self._released:
                return
            self._released = True
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("SELECT pg_advisory_unlock(%s)", (SNAPSHOT_LOCK,))
            with contextlib.suppress(psycopg.Error):
                self.conn.close()

    def __enter__(self) -> PostgresSnapshotLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class PostgresSnapshot:
    """The snapshot every instance shares (see :class:`~credit_check_sdk.storage.SnapshotStore`).

    >>> PostgresSnapshot(db).status().entries  # doctest: +SKIP
    0
    """

    def __init__(self, db: Database, *, busy_timeout: float = 10.0) -> None:
        self._db = db
        self._busy_timeout = busy_timeout
        self._closed = False
        self._leases: list[PostgresSnapshotLease] = []

    @property
    def location(self) -> str:
        """The database (password masked) and the entries' table.

        >>> storage.snapshot.location  # doctest: +SKIP
        'postgresql://cc:***@db/credit (cc_snapshot_entries)'
        """
        return f"{self._db.shown} ({LIVE['entries']})"

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._closed:
            raise SnapshotError("snapshot is closed", path=self.location)
        return self._db.query(sql, params)

    # --- reading --------------------------------------------------------------------

    def entries_for(self, subject_id: str) -> list[ListEntry]:
        """Every entry of ``subject_id`` in the snapshot, by entry id.

        >>> storage.snapshot.entries_for(uscc)  # doctest: +SKIP
        []
        """
        rows = self._query(
            f"SELECT body FROM {LIVE['entries']} WHERE subject_id = %s ORDER BY entry_id",  # noqa: S608 - fixed table names
            (subject_id,),
        )
        return [ListEntry.model_validate_json(body) for (body,) in rows]

    def related_for(self, subject_id: str) -> list[tuple[RelatedRole, SubjectRef]] | None:
        """The parties related to ``subject_id`` as the feed sent them, both ways; ``None``
        when the platform has sent no relation.

        >>> storage.snapshot.related_for(ric)  # doctest: +SKIP
        """
        rows = self._query(_RELATED, (subject_id, subject_id))
        if not any(role is None for role, _ in rows):
            return None
        return [
            (str(role), SubjectRef.model_construct(id=other, kind=kind_of(other)))
            for role, other in sorted(r for r in rows if r[0] is not None)
        ]

    def profile_for(
        self,
        subject_id: str,
        kind: SubjectKind,
        *,
        related: Sequence[tuple[RelatedRole, SubjectRef]] = (),
    ) -> Profile | None:
        """A profile from the snapshot (one statement: entries and ``as_of`` agree), or
        ``None`` before a completed sync.

        >>> storage.snapshot.profile_for(uscc, "legal_entity")  # doctest: +SKIP
        """
        ids = [subject_id, *dict.fromkeys(ref.id for _role, ref in related if ref.id != subject_id)]
        rows = self._query(_PROFILE, (ids,))
        return profile_from_rows(subject_id, kind, related, ids, rows)

    def _meta(self) -> dict[str, str | None]:
        return {
            str(k): v
            for k, v in self._query(f"SELECT key, value FROM {LIVE['meta']}")  # noqa: S608 - fixed table names
        }

    def as_of(self) -> datetime | None:
        """The platform's time up to which the snapshot is complete; ``None`` before a sync.

        >>> storage.snapshot.as_of()  # doctest: +SKIP
        """
        return meta_time(self._meta().get("as_of"))

    def synced_at(self) -> datetime | None:
        """Local time of the last completed sync or import; ``None`` before one.

        >>> storage.snapshot.synced_at()  # doctest: +SKIP
        """
        return meta_time(self._meta().get("synced_at"))

    def age(self, now: datetime | None = None) -> timedelta | None:
        """``now - as_of``; ``None`` before a sync.

        >>> storage.snapshot.age()  # doctest: +SKIP
        """
        as_of = self.as_of()
        return None if as_of is None else (now or _now()) - as_of

    def cursor(self) -> str | None:
        """The change-feed cursor to continue from.

        >>> storage.snapshot.cursor()  # doctest: +SKIP
        """
        return self._meta().get("cursor")

    def last_seq(self) -> int:
        """The highest change ``seq`` applied (0 when unknown).

        >>> storage.snapshot.last_seq()  # doctest: +SKIP
        0
        """
        return int(self._meta().get("last_seq") or 0)

    def status(self) -> SnapshotStatus:
        """Counts, cursor, freshness, generation, tables and their size.

        >>> storage.snapshot.status().generation  # doctest: +SKIP
        0
        """
        values = self._meta()
        generation = int(values.get("generation") or 0)
        if generation == 0 and not values.get("cursor"):
            return SnapshotStatus(0, None, None, None, 0, None, 0)
        ((size,),) = self._query(
            "SELECT pg_total_relation_size(%s::regclass) + pg_total_relation_size(%s::regclass)",
            (LIVE["entries"], LIVE["relations"]),
        )
        return SnapshotStatus(
            entries=int(values.get("entries") or 0),
            cursor=values.get("cursor"),
            as_of=meta_time(values.get("as_of")),
            synced_at=meta_time(values.get("synced_at")),
            generation=generation,
            path=self.location,
            size_bytes=int(size),
            last_seq=int(values.get("last_seq") or 0),
        )

    # --- writing --------------------------------------------------------------------

    def apply(self, page: ChangesPage) -> int:
        """Apply one change-feed page in one transaction with its cursor.

        >>> storage.snapshot.apply(page)  # doctest: +SKIP
        3
        """
        return len(self.apply_changes(page))

    def apply_changes(self, page: ChangesPage) -> list[Change]:
        """Like :meth:`apply`, returning the entry changes applied.

        >>> storage.snapshot.apply_changes(page)  # doctest: +SKIP
        []
        """
        if self._closed:
            raise SnapshotError("snapshot is closed", path=self.location)
        with self._db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPLY_LOCK,))
            changes = apply_page(conn, LIVE, page)
            if not meta(conn, LIVE).get("generation"):
                set_meta(conn, LIVE, {"generation": "1"})  # the first data, without a rebuild
            return changes

    # --- leading and rebuilding -----------------------------------------------------

    def _take_lock(self, wait: float) -> psycopg.Connection[Any] | None:
        conn = self._db.connect_alone()
        deadline = time.monotonic() + wait
        try:
            while True:
                (got,) = conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (SNAPSHOT_LOCK,)
                ).fetchone() or (False,)
                if got:
                    return conn
                if time.monotonic() >= deadline:
                    conn.close()
                    return None
                time.sleep(0.05)
        except BaseException:
            conn.close()
            raise

    def lead(self, *, wait: float = 0.0) -> PostgresSnapshotLease | None:
        """Become the instance that follows the feed; ``None`` when another leads still.

        >>> lease = storage.snapshot.lead()  # doctest: +SKIP
        """
        if self._closed:
            raise SnapshotError("snapshot is closed", path=self.location)
        conn = self._take_lock(wait)
        if conn is None:
            return None
        lease = PostgresSnapshotLease(conn)
        self._leases.append(lease)
        return lease

    def begin_rebuild(self, *, wait: float = 0.0, lease: Any = None) -> PostgresSnapshotBuilder:
        """Start building a complete new snapshot beside the one in service (one rebuild
        at a time across every instance: under ``lease``, or taking the lock itself).

        >>> with storage.snapshot.begin_rebuild() as builder:  # doctest: +SKIP
        ...     builder.apply(page)
        ...     builder.commit()
        """
        if self._closed:
            raise SnapshotError("snapshot is closed", path=self.location)
        if lease is not None:
            if not isinstance(lease, PostgresSnapshotLease) or not lease.alive():
                raise SnapshotError(
                    "a rebuild runs under a live lease of this snapshot", path=self.location
                )
            return PostgresSnapshotBuilder(self._db, None)
        held = self._take_lock(wait)
        if held is None:
            raise SnapshotBusyError(
                f"another rebuild of the snapshot in {self._db.shown} is in progress",
                path=self.location,
            )
        return PostgresSnapshotBuilder(self._db, PostgresSnapshotLease(held))

    def import_export(
        self,
        source: str | Path | IO[bytes],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportResult:
        """Load a list export (gzip or plain NDJSON) as a new generation and swap it in.

        >>> storage.snapshot.import_export("lists-export.ndjson.gz").entries  # doctest: +SKIP
        """
        started = time.monotonic()
        with contextlib.ExitStack() as stack:
            if isinstance(source, str | Path):
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
                header = builder.load_export(raw, progress=progress)
                generation = builder.commit()
            except BaseException:
                builder.abort()
                raise
        return ImportResult(
            header.count,
            header.cursor,
            header.as_of,
            generation,
            time.monotonic() - started,
            self.location,
        )

    def close(self) -> None:
        """Stop leading (every lease taken here) and refuse further calls.

        >>> storage.snapshot.close()  # doctest: +SKIP
        """
        self._closed = True
        for lease in self._leases:
            lease.release()
        self._leases = []


class PostgresSnapshotBuilder:
    """A new snapshot in the ``…_new`` tables, renamed over those in service by :meth:`commit`.

    >>> builder = storage.snapshot.begin_rebuild()  # doctest: +SKIP
    """

    def __init__(self, db: Database, lock: PostgresSnapshotLease | None) -> None:
        self._db = db
        self._lock = lock  # None: under the caller's lease
        self._done = False
        self._complete = False
        try:
            self._conn = db.connect_alone()
            with self._conn.transaction():
                for table in NEW.values():
                    self._conn.execute(f"DROP TABLE IF EXISTS {table}")  # left by a crash
                for statement in statements(SNAPSHOT_TABLES.format(**NEW)):
                    self._conn.execute(statement)
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @property
    def location(self) -> str:
        """The tables being built.

        >>> builder.location  # doctest: +SKIP
        """
        return f"{self._db.shown} ({NEW['entries']})"

    def _check_open(self) -> None:
        if self._done:
            raise SnapshotError("this rebuild is finished", path=self.location)

    def apply(self, page: ChangesPage) -> int:
        """Apply one page of a feed read from the start; the changes applied.

        >>> builder.apply(page)  # doctest: +SKIP
        """
        return len(self.apply_changes(page))

    def apply_changes(self, page: ChangesPage) -> list[Change]:
        """Like :meth:`apply`, returning the changes applied.

        >>> builder.apply_changes(page)  # doctest: +SKIP
        """
        self._check_open()
        try:
            with self._conn.transaction():
                fresh = apply_page(self._conn, NEW, page)
        except psycopg.Error as exc:
            raise SnapshotError(f"rebuild failed: {exc}", path=self.location) from exc
        self._complete = not page.has_more
        return fresh

    def export_loader(
        self,
        *,
        on_stored: OnStored | None = None,
        stop: threading.Event | None = None,
        max_line_bytes: int | None = None,
    ) -> ExportLoader:
        """A loader to push a list export into this (empty) rebuild.

        >>> loader = builder.export_loader()  # doctest: +SKIP
        """
        self._check_open()
        return ExportLoader(self, on_stored=on_stored, stop=stop, max_line_bytes=max_line_bytes)

    def load_export(
        self, stream: IO[bytes], *, progress: Callable[[int, int], None] | None = None
    ) -> ExportHeader:
        """Read a whole export from ``stream``; its header once checked.

        >>> builder.load_export(open("export.ndjson.gz", "rb"))  # doctest: +SKIP
        """

        def stored(_subject_ids: list[str]) -> None:
            if progress is not None and loader.header is not None:
                progress(loader.loaded, loader.header.count)

        loader = self.export_loader(on_stored=stored if progress else None)
        try:
            while chunk := stream.read(_READ_CHUNK):
                loader.write(chunk)
        except OSError as exc:
            raise SnapshotImportError(f"export is unreadable: {exc}", path=self.location) from exc
        return loader.finish()

    def insert_entries(self, rows: list[tuple[str, str, str]]) -> None:
        """Store ``(entry_id, subject_id, entry JSON)`` rows with ``COPY``, one transaction.

        >>> builder.insert_entries([("BL-1", uscc, line)])  # doctest: +SKIP
        """
        self._check_open()
        try:
            with (
                self._conn.transaction(),
                self._conn.cursor() as cur,
                cur.copy(f"COPY {NEW['entries']} (entry_id, subject_id, body) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        except psycopg.errors.UniqueViolation as exc:
            raise SnapshotImportError(
                f"export repeats an entry id: {exc}", path=self.location
            ) from exc
        except psycopg.Error as exc:
            raise SnapshotError(f"rebuild failed: {exc}", path=self.location) from exc

    def insert_relations(self, rows: Sequence[Relation]) -> None:
        """Store an export's relations (and note that the platform sends relations).

        >>> builder.insert_relations([relation])  # doctest: +SKIP
        """
        self._check_open()
        try:
            with self._conn.transaction():
                store_relations(self._conn, NEW, rows)
        except psycopg.Error as exc:
            raise SnapshotError(f"rebuild failed: {exc}", path=self.location) from exc

    def discard_rows(self) -> None:
        """Empty the rebuild again.

        >>> builder.discard_rows()  # doctest: +SKIP
        """
        self._check_open()
        with self._conn.transaction():
            for table in NEW.values():
                self._conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        self._complete = False

    def set_export_meta(self, header: ExportHeader) -> None:
        """Take the export's header as the rebuild's cursor, ``as_of`` and count.

        >>> builder.set_export_meta(header)  # doctest: +SKIP
        """
        with self._conn.transaction():
            set_meta(
                self._conn,
                NEW,
                {
                    "cursor": header.cursor,
                    "as_of": header.as_of.isoformat(),
                    "feed_as_of": header.as_of.isoformat(),
                    "entries": str(header.count),
                    "last_seq": "0",
                },
            )
        self._complete = True

    def commit(self) -> int:
        """Index the new tables and rename them over those in service, in one transaction;
        the new generation. Refused unless the rebuild is complete.

        >>> builder.commit()  # doctest: +SKIP
        2
        """
        self._check_open()
        if not self._complete:
            raise SnapshotError(
                "rebuild is incomplete (the feed had more pages); not swapped in",
                path=self.location,
            )
        try:
            with self._conn.transaction():
                for statement in statements(SNAPSHOT_INDEXES.format(**NEW)):
                    self._conn.execute(statement)
                self._conn.execute(f"ANALYZE {NEW['entries']}")
                live = meta(self._conn, LIVE)
                generation = int(live.get("generation") or 0) + 1
                set_meta(
                    self._conn,
                    NEW,
                    {"generation": str(generation), "synced_at": _now().isoformat()},
                )
                _swap(self._conn, NEW, LIVE)
        except psycopg.Error as exc:
            self.abort()
            raise SnapshotError(f"rebuild failed: {exc}", path=self.location) from exc
        self._finish()
        return generation

    def abort(self) -> None:
        """Discard the new tables; the snapshot in service is untouched (idempotent).

        >>> builder.abort()  # doctest: +SKIP
        """
        if self._done:
            return
        with contextlib.suppress(psycopg.Error):
            for table in NEW.values():
                self._conn.execute(f"DROP TABLE IF EXISTS {table}")
        self._finish()

    def _finish(self) -> None:
        self._done = True
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> PostgresSnapshotBuilder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


def _swap(conn: Any, new: Tables, live: Tables) -> None:
    """Rename the ``new`` tables (and their indexes) over the ``live`` ones."""
    # Pages applied meanwhile to the tables in service wait (and are lost with them:
    # the rebuild is newer); readers see the old tables until this commits.
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPLY_LOCK,))
    for key in ("entries", "relations", "meta"):
        conn.execute(f"DROP TABLE {live[key]}")
        conn.execute(f"ALTER TABLE {new[key]} RENAME TO {live[key]}")
        conn.execute(f"ALTER INDEX {new[key]}_pkey RENAME TO {live[key]}_pkey")
    conn.execute(f"ALTER INDEX {new['entries']}_subject RENAME TO {live['entries']}_subject")
    conn.execute(f"ALTER INDEX {new['relations']}_related RENAME TO {live['relations']}_related")
