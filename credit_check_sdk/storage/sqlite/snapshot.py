"""The SQLite snapshot: every red- and black-list entry in ``data_dir``, to decide from offline.

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
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from ..._client import Change, ChangesPage
from ..._fork import region
from ..._ids import SubjectKind
from ..._models import ListEntry, Profile, RelatedRole, SubjectRef
from ..._time import now as _now
from .._data import ImportResult, SnapshotStatus
from .._errors import SnapshotBusyError, SnapshotError
from .._feed import kind_of, meta_time, profile_from_rows
from .._interface_offline import SnapshotLease
from ._snapshot_files import SnapshotFiles
from ._snapshot_pointer import POINTER_NAME
from ._snapshot_sql import apply_page
from .snapshot_build import (
    LOCK_NAME,
    BuildLock,
    SnapshotBuilder,
    SQLiteSnapshotLease,
    import_export,
)

__all__ = ["POINTER_NAME", "Snapshot"]


class Snapshot(SnapshotFiles):
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

    # --- reading ----------------------------------------------------------------

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
        return profile_from_rows(subject_id, kind, related, ids, rows)

    def as_of(self) -> datetime | None:
        """The platform's time up to which the snapshot is complete; ``None`` before a sync.

        >>> snap.as_of()  # doctest: +SKIP
        datetime.datetime(2026, 11, 29, 8, 0, tzinfo=datetime.timezone(...))
        """
        return meta_time(self._meta_values().get("as_of"))

    def synced_at(self) -> datetime | None:
        """Local time of the last completed sync or import; ``None`` before one."""
        return meta_time(self._meta_values().get("synced_at"))

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
            as_of=meta_time(meta.get("as_of")),
            synced_at=meta_time(meta.get("synced_at")),
            generation=current.generation,
            path=str(path),
            size_bytes=size,
            last_seq=int(meta.get("last_seq") or 0),
        )

    # --- writing ----------------------------------------------------------------

    # --- writing ----------------------------------------------------------------

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
                return apply_page(conn, page)
            except sqlite3.Error as exc:
                raise SnapshotError(f"snapshot apply failed: {exc}", path=str(self.dir)) from exc

    def _first_generation(self) -> None:
        """First data without a rebuild: start an empty generation that is not yet
        "synced" (profile_for stays None until a page completes the feed).

        Outside any region: it may wait for another rebuild's lock.
        """
        leading = self._leading
        lease = leading if leading is not None and leading.alive() else None
        builder = self.begin_rebuild(wait=self._busy_timeout, lease=lease)
        self._refresh(force=True)
        with self._state_lock:
            current = self._current
        if current is not None:
            builder.abort()  # made by another process while we waited for the lock
            return
        builder._commit(require_complete=False, mark_synced=False)

    # --- rebuilding and leading ---------------------------------------------------

    def lead(self, *, wait: float = 0.0) -> SQLiteSnapshotLease | None:
        """Hold the build lock as the lease to follow the change feed; ``None`` when
        another holds it after ``wait`` seconds. Release it when done.

        >>> lease = snap.lead()  # doctest: +SKIP
        >>> with lease:  # doctest: +SKIP
        ...     snap.apply(page)
        """
        if self._closed:
            raise SnapshotError("snapshot is closed", path=str(self.dir))
        lock = BuildLock(self.dir / LOCK_NAME)
        if not lock.acquire(wait):
            return None
        lease = SQLiteSnapshotLease(lock, on_release=self._lease_released)
        self._leading = lease
        return lease

    def _lease_released(self) -> None:
        leading = self._leading
        if leading is not None and not leading.alive():
            self._leading = None

    def begin_rebuild(
        self, *, wait: float = 0.0, lease: SnapshotLease | None = None
    ) -> SnapshotBuilder:
        """Start building a complete new snapshot beside the one in service.

        The one in service keeps answering until :meth:`SnapshotBuilder.commit`.
        Only one rebuild runs per ``data_dir`` (across processes): under ``lease``
        (from :meth:`lead`) the rebuild uses its lock; otherwise, if another is in
        progress after ``wait`` seconds, :class:`SnapshotBusyError`.

        >>> with snap.begin_rebuild() as builder:  # doctest: +SKIP
        ...     builder.apply(page)                 # pages from a cursor-less start
        ...     builder.commit()
        """
        if self._closed:
            raise SnapshotError("snapshot is closed", path=str(self.dir))
        if lease is not None:
            if not isinstance(lease, SQLiteSnapshotLease) or not lease.alive():
                raise SnapshotError(
                    "a rebuild runs under a live lease of this snapshot", path=str(self.dir)
                )
            return SnapshotBuilder(self, lease.lock, owns_lock=False)
        lock = BuildLock(self.dir / LOCK_NAME)
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
        return import_export(self, source, progress=progress, wait=self._busy_timeout)

    def __enter__(self) -> Snapshot:
        return self
