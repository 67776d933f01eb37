"""The storage interface, part 2: what keeps checks going offline and follows them up.

The re-check queue and the watches (:class:`FollowupStore`), relations learnt
from live profiles (:class:`RelationStore`) and the offline snapshot of every
list entry (:class:`SnapshotStore`, built by a :class:`SnapshotBuilder`). See
:mod:`credit_check_sdk.storage._interface` for the conventions.

>>> import tempfile
>>> from credit_check_sdk.storage import open_storage
>>> storage = open_storage(data_dir=tempfile.mkdtemp())
>>> storage.followups.counts()
{'pending': 0, 'reverified': 0, 'changed': 0, 'watches': 0}
>>> storage.close()
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, runtime_checkable

from .._client import Change, ChangesPage
from .._ids import SubjectKind
from .._models import ListEntry, Profile, RelatedRole, Relation, SubjectRef
from ._data import ImportResult, LearntRelations, PendingRecheck, SnapshotStatus, Watch
from ._export import ExportHeader, ExportLoader, OnStored

__all__ = [
    "FollowupStore",
    "RelationStore",
    "SnapshotBuilder",
    "SnapshotLease",
    "SnapshotStore",
]


@runtime_checkable
class FollowupStore(Protocol):
    """Degraded decisions waiting for a live re-check, and watched applications.

    Durable across restarts. Shared by every process (and instance) of one
    store: a re-check is *claimed* before it runs (:meth:`claim_rechecks`), so it
    runs once, not once per process. What a crash loses of the queue is queued
    again from the journal (the record of truth) when a checker opens.
    """

    def queue_recheck(
        self, check_id: str, subject_id: str, kind: str, matter: dict[str, Any], outcome: str
    ) -> None:
        """Queue a degraded decision for a live re-check (committed before returning);
        queuing the same ``check_id`` again changes nothing.

        >>> storage.followups.queue_recheck("c7", uscc, "legal_entity",  # doctest: +SKIP
        ...     {"category": "bidding"}, "normal")
        """

    def pending_rechecks(self, limit: int = 100) -> list[PendingRecheck]:
        """The oldest re-checks still to do (claimed or not), up to ``limit``.

        >>> [p.check_id for p in storage.followups.pending_rechecks()]  # doctest: +SKIP
        ['c7']
        """

    def claim_rechecks(
        self, owner: str, limit: int = 100, lease: float = 300.0
    ) -> list[PendingRecheck]:
        """Claim up to ``limit`` re-checks still to do for ``owner`` for ``lease`` seconds,
        oldest first. Re-checks under another owner's live claim are skipped; two
        claimers never get the same one. A claim ends with :meth:`finish_recheck`,
        :meth:`release_recheck` or its lease.

        >>> [p.check_id for p in storage.followups.claim_rechecks("h:1:a")]  # doctest: +SKIP
        ['c7']
        """

    def release_recheck(self, owner: str, check_id: str | None = None) -> None:
        """Give up ``owner``'s claim on ``check_id`` (every claim of ``owner`` when ``None``):
        the re-check is to do again (the platform failed, say).

        >>> storage.followups.release_recheck("h:1:a", "c7")  # doctest: +SKIP
        """

    def release_ended_rechecks(self, owner: str) -> int:
        """Give up the re-check claims of other owners of this host whose process has ended
        (killed while re-checking): their re-checks are free at once instead of when the
        lease ends; how many owners were released. Owners on other hosts are left to their
        lease (:func:`~credit_check_sdk.storage._owners.owner_is_gone`).

        >>> storage.followups.release_ended_rechecks("h:1:a")  # doctest: +SKIP
        0
        """

    def finish_recheck(self, check_id: str, recheck_id: str, new_outcome: str) -> bool:
        """Record a re-check's result (its claim ends); ``True`` when the outcome changed.

        >>> storage.followups.finish_recheck("c7", "c9", "restriction")  # doctest: +SKIP
        True
        """

    def counts(self) -> dict[str, int]:
        """Re-checks ``pending``, ``reverified`` and ``changed``; how many ``watches``.

        >>> storage.followups.counts()["pending"]  # doctest: +SKIP
        0
        """

    def watch(
        self,
        subject_id: str,
        kind: str,
        matter: dict[str, Any],
        case_id: str,
        *,
        check_id: str | None = None,
        outcome: str | None = None,
    ) -> None:
        """Watch a subject for the application ``case_id`` (idempotent: a second call keeps
        the watch, takes the new ``matter``, and keeps a last check it knows already).
        ``check_id``/``outcome`` name the case's check made before the watch was set.

        >>> storage.followups.watch(uscc, "legal_entity", {"category": "bidding"},  # doctest: +SKIP
        ...     "ZSGC-1", check_id="c1", outcome="normal")
        """

    def unwatch(self, subject_id: str, case_id: str) -> bool:
        """Stop watching; ``True`` when there was such a watch.

        >>> storage.followups.unwatch(uscc, "ZSGC-1")  # doctest: +SKIP
        True
        """

    def learn_related(self, subject_id: str, related_ids: list[str]) -> None:
        """Remember the persons related to a watched subject (from a live profile); a
        subject nobody watches is ignored (cheaply: this runs on every live check).

        >>> storage.followups.learn_related(uscc, [ric])  # doctest: +SKIP
        """

    def update_watch(
        self,
        subject_id: str,
        case_id: str,
        *,
        check_id: str,
        outcome: str,
        related_ids: list[str] | None,
    ) -> None:
        """Remember a watch's latest check (and, from a live profile, its related persons).

        >>> storage.followups.update_watch(uscc, "ZSGC-1", check_id="c9",  # doctest: +SKIP
        ...     outcome="restriction", related_ids=None)
        """

    def watches(self) -> list[Watch]:
        """Every watch, oldest first.

        >>> [w.case_id for w in storage.followups.watches()]  # doctest: +SKIP
        ['ZSGC-1']
        """

    def watches_touching(self, subject_ids: set[str]) -> list[Watch]:
        """Watches whose subject, or a person related to it, is in ``subject_ids``.

        >>> storage.followups.watches_touching({ric})  # doctest: +SKIP
        [Watch(subject_id='91442000MA4UJ2KQ57', case_id='ZSGC-1', ...)]
        """

    def close(self) -> None:
        """Release the store.

        >>> storage.followups.close()  # doctest: +SKIP
        """


@runtime_checkable
class RelationStore(Protocol):
    """Relations learnt from live profiles (who is whose legal representative …), for
    deciding from the snapshot when the platform is down and its feed sends none."""

    def learn(self, profiles: Iterable[Profile]) -> int:
        """Replace each subject's relations with those of its newest live profile, in one
        transaction; how many subjects were written.

        A profile older than what is stored for its subject is ignored; a subject
        with no relations and none stored is not written, nor one whose relations
        are unchanged since a profile less than an hour older.

        >>> storage.relations.learn([profile])  # doctest: +SKIP
        1
        """

    def known(
        self, subject_id: str, *, max_age: float, at: datetime | None = None
    ) -> LearntRelations | None:
        """The subject's learnt relations, or ``None`` when none are known or they are
        older than ``max_age`` seconds at ``at`` (default now; the age rule is
        :func:`credit_check_sdk._relations.usable`).

        >>> storage.relations.known(uscc, max_age=86400).relations[0].role  # doctest: +SKIP
        'legal_representative'
        """

    def counts(self) -> dict[str, int]:
        """How many ``subjects`` have relations on record, and how many ``relations``.

        >>> storage.relations.counts()  # doctest: +SKIP
        {'subjects': 12, 'relations': 15}
        """

    def close(self) -> None:
        """Release the store.

        >>> storage.relations.close()  # doctest: +SKIP
        """


class SnapshotLease(Protocol):
    """The right to follow the change feed: one holder at a time per snapshot.

    Held by one process (or instance) while it follows the feed or rebuilds;
    others read the snapshot it keeps. SQLite: the snapshot's build lock (a file
    lock, gone with the process). PostgreSQL: a session advisory lock or a lease
    row renewed by heartbeat.
    """

    def alive(self) -> bool:
        """Whether this holder still leads (a database lease may be lost with its session).

        >>> lease.alive()  # doctest: +SKIP
        True
        """

    def release(self) -> None:
        """Stop leading (idempotent); another may lead now.

        >>> lease.release()  # doctest: +SKIP
        """

    def __enter__(self) -> SnapshotLease: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SnapshotBuilder(Protocol):
    """A complete new snapshot built beside the one in service (from
    :meth:`SnapshotStore.begin_rebuild`). Nothing reads it until :meth:`commit`
    swaps it in, in one step for every reader; :meth:`abort` (or an exception
    leaving a ``with`` block) discards it and the one in service is untouched.
    """

    @property
    def location(self) -> str:
        """Where the new snapshot is being built, for messages.

        >>> builder.location  # doctest: +SKIP
        '/var/lib/credit-check/snapshot.sqlite3.new'
        """

    def apply(self, page: ChangesPage) -> int:
        """Apply one page of a feed read from the start (or from an export's cursor);
        how many changes were applied.

        >>> builder.apply(page)  # doctest: +SKIP
        5000
        """

    def apply_changes(self, page: ChangesPage) -> list[Change]:
        """Like :meth:`apply`, returning the entry changes applied (for watchers).

        >>> [c.seq for c in builder.apply_changes(page)]  # doctest: +SKIP
        [1, 2]
        """

    def export_loader(
        self,
        *,
        on_stored: OnStored | None = None,
        stop: threading.Event | None = None,
        max_line_bytes: int | None = None,
    ) -> ExportLoader:
        """A loader to push a list export into this (empty) rebuild; after its
        ``finish()``, feed pages from the export's cursor may follow before :meth:`commit`.

        >>> loader = builder.export_loader()  # doctest: +SKIP
        """

    def insert_entries(self, rows: list[tuple[str, str, str]]) -> None:
        """Store ``(entry_id, subject_id, entry JSON)`` rows of an export, in one
        transaction; an entry id seen before raises
        :class:`~credit_check_sdk.storage.SnapshotImportError`.

        >>> builder.insert_entries([("BL-1", uscc, line)])  # doctest: +SKIP
        """

    def insert_relations(self, rows: Sequence[Relation]) -> None:
        """Store relations of an export (and note that the platform sends relations).

        >>> builder.insert_relations([relation])  # doctest: +SKIP
        """

    def discard_rows(self) -> None:
        """Empty the rebuild again (an export download being retried from the start).

        >>> builder.discard_rows()  # doctest: +SKIP
        """

    def set_export_meta(self, header: ExportHeader) -> None:
        """Take the export's header as the rebuild's cursor, ``as_of`` and count, once the
        whole export has been checked; the rebuild is then complete.

        >>> builder.set_export_meta(header)  # doctest: +SKIP
        """

    def commit(self) -> int:
        """Swap the new snapshot into service; its generation number. Refused
        (:class:`~credit_check_sdk.storage.SnapshotError`) unless the last page applied
        said ``has_more=False`` or a whole export was loaded.

        >>> builder.commit()  # doctest: +SKIP
        7
        """

    def abort(self) -> None:
        """Discard the new snapshot (idempotent; a no-op after :meth:`commit`).

        >>> builder.abort()  # doctest: +SKIP
        """

    def __enter__(self) -> SnapshotBuilder: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class SnapshotStore(Protocol):
    """Every red- and black-list entry (and, from contract v2, the relations the feed
    sends), to decide from when the platform cannot answer.

    Lookups never wait for a writer. Pages are applied one transaction each with
    their cursor, idempotently (see :mod:`credit_check_sdk.storage._feed`). A
    rebuild is built beside the data in service and swapped in whole.
    """

    @property
    def location(self) -> str:
        """Where the snapshot lives, for messages (a folder; a database URL without its
        password).

        >>> storage.snapshot.location  # doctest: +SKIP
        '/var/lib/credit-check'
        """

    def entries_for(self, subject_id: str) -> list[ListEntry]:
        """Every entry of ``subject_id`` (normalised) in the snapshot, by entry id.

        >>> [e.entry_id for e in storage.snapshot.entries_for(uscc)]  # doctest: +SKIP
        ['BL-2026-000123']
        """

    def related_for(self, subject_id: str) -> list[tuple[RelatedRole, SubjectRef]] | None:
        """The parties related to ``subject_id`` as the feed sent them, both ways (an
        organisation's persons by role, a person's organisations by ``<role>_of``),
        sorted; ``None`` when the platform has sent no relation into this snapshot.

        >>> storage.snapshot.related_for(ric)  # doctest: +SKIP
        [('legal_representative_of', SubjectRef(id='91442000MA4UJ2KQ57', ...))]
        """

    def profile_for(
        self,
        subject_id: str,
        kind: SubjectKind,
        *,
        related: Sequence[tuple[RelatedRole, SubjectRef]] = (),
    ) -> Profile | None:
        """A profile from the snapshot (entries only, ``record_since`` and
        ``last_adverse_on`` ``None``), with the ``related`` parties' entries; ``None``
        until a sync or import has completed. Entries and ``as_of`` come from one read.

        >>> storage.snapshot.profile_for(uscc, "legal_entity").as_of  # doctest: +SKIP
        datetime.datetime(2026, 11, 29, 8, 0, tzinfo=...)
        """

    def as_of(self) -> datetime | None:
        """The platform's time up to which the snapshot is complete; ``None`` before a sync.

        >>> storage.snapshot.as_of()  # doctest: +SKIP
        """

    def synced_at(self) -> datetime | None:
        """Local time of the last completed sync or import; ``None`` before one.

        >>> storage.snapshot.synced_at()  # doctest: +SKIP
        """

    def age(self, now: datetime | None = None) -> timedelta | None:
        """``now - as_of`` (now by default); ``None`` before a sync.

        >>> storage.snapshot.age()  # doctest: +SKIP
        datetime.timedelta(seconds=42)
        """

    def cursor(self) -> str | None:
        """The change-feed cursor to continue from; ``None`` when the next sync starts afresh.

        >>> storage.snapshot.cursor()  # doctest: +SKIP
        's98765'
        """

    def last_seq(self) -> int:
        """The highest change ``seq`` applied (0 when unknown, e.g. right after an import).

        >>> storage.snapshot.last_seq()  # doctest: +SKIP
        98765
        """

    def status(self) -> SnapshotStatus:
        """Counts, cursor, freshness, generation, where it lives and its size.

        >>> storage.snapshot.status().entries  # doctest: +SKIP
        10000
        """

    def apply(self, page: ChangesPage) -> int:
        """Apply one change-feed page (entries and relations) in one transaction with its
        cursor; how many changes were applied (0 for a page applied before).

        >>> storage.snapshot.apply(page)  # doctest: +SKIP
        3
        """

    def apply_changes(self, page: ChangesPage) -> list[Change]:
        """Like :meth:`apply`, returning the entry changes applied, in ``seq`` order.

        >>> [c.entry.subject_id for c in storage.snapshot.apply_changes(page)]  # doctest: +SKIP
        ['91442000MA4UJ2KQ57']
        """

    def begin_rebuild(
        self, *, wait: float = 0.0, lease: SnapshotLease | None = None
    ) -> SnapshotBuilder:
        """Start building a complete new snapshot beside the one in service.

        One rebuild at a time per snapshot, across processes and instances: with
        ``lease`` (from :meth:`lead`, held by the caller) the rebuild runs under it;
        without, it takes the right to rebuild itself, waiting up to ``wait``
        seconds, else :class:`~credit_check_sdk.storage.SnapshotBusyError`.

        >>> with storage.snapshot.begin_rebuild() as builder:  # doctest: +SKIP
        ...     builder.apply(page)
        ...     builder.commit()
        """

    def import_export(
        self,
        source: str | Path | IO[bytes],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportResult:
        """Load a list export (gzip or plain NDJSON: a path or a binary stream) as a new
        generation and swap it in; a malformed export raises
        :class:`~credit_check_sdk.storage.SnapshotImportError` and changes nothing.
        ``progress(loaded, count)`` follows each batch.

        >>> storage.snapshot.import_export("lists-export.ndjson.gz").entries  # doctest: +SKIP
        1000000
        """

    def lead(self, *, wait: float = 0.0) -> SnapshotLease | None:
        """Become the one that follows the change feed, waiting up to ``wait`` seconds;
        ``None`` when another holds the lease still. Release it when the pass is done.

        >>> lease = storage.snapshot.lead()  # doctest: +SKIP
        >>> with lease:  # doctest: +SKIP
        ...     storage.snapshot.apply(page)
        """

    def close(self) -> None:
        """Release every connection; in-flight reads finish first.

        >>> storage.snapshot.close()  # doctest: +SKIP
        """
