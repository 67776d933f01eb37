"""Keeping the offline snapshot current from the platform's change feed.

:class:`Syncer` follows ``GET /v1/lists/changes`` from the snapshot's saved
cursor, one page per transaction (:meth:`SnapshotStore.apply
<credit_check_sdk.storage.SnapshotStore.apply>`), until the feed says
``has_more=false``. Without a cursor (first run) or when the platform answers
410 (the cursor is older than the feed keeps), it rebuilds: the list export
(``GET /v1/lists/export``) is loaded into a
:class:`~credit_check_sdk.storage.SnapshotBuilder` while it downloads, the
feed is followed from the export's cursor into the same builder, and the
result is swapped in only once it is complete: the snapshot in service keeps
answering throughout. A platform that does not serve the export (404, 405,
501), or serves one that fails its checks, is rebuilt from the start of the
feed instead. :class:`~credit_check_sdk._sync_thread.SyncThread` runs the syncer
in the background.

One process (or instance) at a time follows the feed of one snapshot: a pass
first takes the snapshot's lease (:meth:`SnapshotStore.lead
<credit_check_sdk.storage.SnapshotStore.lead>`; SQLite: its build lock), so
changes are applied, and watchers told of them, by one follower only.

>>> syncer = Syncer(snapshot, client)  # doctest: +SKIP
>>> result = syncer.sync_once(timeout=30)  # doctest: +SKIP
>>> result.applied, result.cursor  # doctest: +SKIP
(120, 's98765')
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ._client import Change, ChangesPage, PlatformClient
from ._exceptions import CursorExpiredError, ProblemError
from ._fork import LongLock
from ._ids import mask_ids_in
from ._runner import Run, Runner
from .storage import (
    ImportResult,
    LoadStoppedError,
    SnapshotBuilder,
    SnapshotBusyError,
    SnapshotImportError,
    SnapshotLease,
    SnapshotStore,
)

__all__ = ["SyncResult", "Syncer", "fetch_changes"]

logger = logging.getLogger(__name__)

#: The platform serves at most this many changes a page (``limit`` maximum).
MAX_PAGE = 5000

#: Seconds between looks at another process's rebuild.
_REBUILD_POLL = 0.2

#: Statuses by which a platform says it does not serve the list export at all.
_NO_EXPORT = frozenset({404, 405, 501})

Progress = Callable[[int, "int | None"], None]
OnChange = Callable[[list[str]], None]


@dataclass(frozen=True)
class SyncResult:
    """What one :meth:`Syncer.sync_once` did.

    ``applied`` = ``upserts`` + ``deletes`` (changes new to the snapshot);
    ``resynced`` is true when the snapshot was rebuilt from the start of the
    feed (first sync, or after 410); ``complete`` is false when a stop request
    ended the pass early (everything applied so far is kept, except a rebuild,
    which is discarded).
    """

    applied: int
    upserts: int
    deletes: int
    pages: int
    resynced: bool
    cursor: str | None
    as_of: datetime | None
    complete: bool = True


class _Tally:
    def __init__(self) -> None:
        self.upserts = 0
        self.deletes = 0
        self.pages = 0

    def add_loaded(self, count: int) -> None:
        self.upserts += count

    def add(self, changes: list[Change]) -> None:
        self.pages += 1
        for change in changes:
            if change.op == "upsert":
                self.upserts += 1
            else:
                self.deletes += 1

    @property
    def applied(self) -> int:
        return self.upserts + self.deletes


def fetch_changes(
    client: PlatformClient, cursor: str | None, *, limit: int, timeout: float | None
) -> ChangesPage:
    """One page of ``GET /v1/lists/changes`` (no cursor: from the start of the feed).

    Raises :class:`~credit_check_sdk.CursorExpiredError` on 410 and other
    :class:`~credit_check_sdk.PlatformError` subclasses as the client does.

    >>> page = fetch_changes(client, "s100", limit=500, timeout=10)  # doctest: +SKIP
    """
    return client.list_changes(cursor, limit=limit, timeout=timeout)


_Job = tuple[Callable[[Any], Any], Any, "Future[Any]"]


class _Prefetcher:
    """One long-lived daemon thread that runs jobs in order (fetches of the next page).

    Long-lived so that its HTTP session (the transport keeps one per thread)
    is reused from page to page and pass to pass; a daemon, so that a request
    in flight never holds up the process's exit; a :class:`Runner`, so that a
    forked child starts its own at its first fetch.
    """

    def __init__(self) -> None:
        self._jobs: deque[_Job] = deque()
        self._runner = Runner("credit-check-feed-prefetch", self._work, on_child=self._forget)

    def _forget(self) -> None:
        # A parent's jobs are waited for by the parent's threads, which are not here.
        self._jobs = deque()

    def close(self) -> None:
        """Let the thread end after the job it is running (if any); a later submit restarts it."""
        self._runner.stop(timeout=0)

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Future[Any]:
        pending: Future[Any] = Future()
        self._jobs.append((fn, arg, pending))
        self._runner.start()
        self._runner.wake()
        return pending

    def _work(self, run: Run) -> None:
        jobs = self._jobs
        while not run.stopping:
            try:
                fn, arg, pending = jobs.popleft()
            except IndexError:
                run.wait(None)
                continue
            try:
                pending.set_result(fn(arg))
            except BaseException as exc:  # handed to the waiting caller, raised there
                pending.set_exception(exc)
        # Closed: whoever still waits for a fetch learns it will not come (unless a
        # submit since has started the next thread, which runs them).
        while jobs and not self._runner.wanted:
            jobs.popleft()[2].cancel()


class Syncer:
    """Brings a :class:`~credit_check_sdk.storage.SnapshotStore` up to date with the
    platform's change feed.

    ``page_size`` is the ``limit`` asked for (≤ 5000). ``on_progress(applied,
    total)`` is called after each page (``total`` is the export's count while
    an export loads, else ``None``: the feed does not say).
    ``on_change(subject_ids)`` receives the subjects of each page's newly
    applied changes, in ``seq`` order, after they are committed (during a
    rebuild: after they are written to the new snapshot, which goes into
    service when the rebuild completes), and those of each batch of entries
    loaded from an export. Exceptions from either callback are logged and
    ignored: they never abort a sync. One sync runs at a time per syncer.

    ``use_export`` (default on) rebuilds from the list export, which moves a
    large list set several times faster than paging the feed from the start;
    ``export_timeout`` bounds that one download.

    Processes sharing a snapshot follow its feed (and rebuild it) one at a time,
    each pass under the snapshot's lease. A pass that finds another process
    leading (following or rebuilding) waits up to ``rebuild_wait`` seconds for
    it and then follows the feed from the other's result; a pass that waited in
    vain ends quietly, incomplete (``complete=False``), and the next one looks again.

    >>> syncer = Syncer(snapshot, client, on_change=watches.notify)  # doctest: +SKIP
    >>> syncer.sync_once(timeout=30).resynced  # doctest: +SKIP
    False
    """

    def __init__(
        self,
        snapshot: SnapshotStore,
        client: PlatformClient,
        *,
        page_size: int = MAX_PAGE,
        on_progress: Progress | None = None,
        on_change: OnChange | None = None,
        use_export: bool = True,
        export_timeout: float = 1800.0,
        rebuild_wait: float = 120.0,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE}, not {page_size}")
        self.snapshot = snapshot
        self.client = client
        self.page_size = page_size
        self._on_progress = on_progress
        self._call_progress: Progress | None = on_progress  # this pass's (sync_once(progress=))
        self._on_change = on_change
        self.use_export = use_export
        self.export_timeout = export_timeout
        self.rebuild_wait = rebuild_wait
        # Held for a whole pass, requests included: a forked child gets a new one.
        self._lock = LongLock()
        self._prefetch = _Prefetcher()
        self._lease: SnapshotLease | None = None  # held during a pass

    def sync_once(
        self,
        timeout: float | None = None,
        *,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> SyncResult:
        """Follow the feed until it has no more pages; what was applied.

        ``timeout`` bounds each change-feed request (retries included) and
        each wait for export bytes, not the whole pass. ``stop``, when set,
        ends the pass between pages (or export writes). Platform faults
        raise :class:`~credit_check_sdk.PlatformError` after the pages already
        applied were committed; the next call resumes from there.

        >>> syncer.sync_once(timeout=30)  # doctest: +SKIP
        SyncResult(applied=3, upserts=2, deletes=1, pages=1, resynced=False, ...)
        """
        with self._lock:
            self._call_progress = progress or self._on_progress
            tally = _Tally()
            lease = self._lead(stop)
            if lease is None:
                return self._result(tally, resynced=False, complete=False)
            self._lease = lease
            try:
                return self._pass(tally, timeout, stop)
            finally:
                self._lease = None
                lease.release()

    def _pass(
        self, tally: _Tally, timeout: float | None, stop: threading.Event | None
    ) -> SyncResult:
        # status() looks at the pointer now: another process may have swapped a
        # new generation in a moment ago.
        status = self.snapshot.status()
        if status.cursor is None:
            return self._rebuild(tally, timeout, stop, status.generation)
        try:
            return self._follow(status.cursor, tally, timeout, stop)
        except CursorExpiredError:
            logger.warning(
                "snapshot: the change-feed cursor has expired (410); rebuilding, "
                "the current snapshot stays in service meanwhile"
            )
            return self._rebuild(tally, timeout, stop, status.generation)

    def _lead(self, stop: threading.Event | None) -> SnapshotLease | None:
        """The snapshot's lease, waiting up to ``rebuild_wait`` for another holder (a
        process following the feed or rebuilding: normal when several workers of one
        server share a snapshot); ``None`` when stopped or waited in vain."""
        deadline = time.monotonic() + self.rebuild_wait
        waiting = False
        while True:
            lease = self.snapshot.lead(wait=0)
            if lease is not None:
                return lease
            if not waiting:
                logger.info(
                    "snapshot: another process is following the change feed or rebuilding"
                    " the snapshot in %s; waiting for its result",
                    self.snapshot.location,
                )
                waiting = True
            if time.monotonic() >= deadline:
                logger.info("snapshot: the other process is still at it; trying later")
                return None
            if stop is not None:
                if stop.wait(_REBUILD_POLL):
                    return None
            else:
                time.sleep(_REBUILD_POLL)

    def close(self) -> None:
        """Stop the prefetch thread once its request (if any) is done; the syncer stays usable.

        >>> syncer.close()  # doctest: +SKIP
        """
        self._prefetch.close()

    def import_file(
        self, path: str | Path, *, progress: Callable[[int, int], None] | None = None
    ) -> ImportResult:
        """Seed or replace the snapshot from a list export file (gzip NDJSON).

        Later syncs continue from the export's cursor.

        >>> syncer.import_file("/media/usb/lists-export.ndjson.gz")  # doctest: +SKIP
        ImportResult(entries=1000000, cursor='s1000000', ...)
        """
        with self._lock:
            return self.snapshot.import_export(path, progress=progress)

    # --- internals ------------------------------------------------------------------

    def _follow(
        self, cursor: str, tally: _Tally, timeout: float | None, stop: threading.Event | None
    ) -> SyncResult:
        complete = self._apply_pages(self.snapshot.apply_changes, cursor, tally, timeout, stop)
        return self._result(tally, resynced=False, complete=complete)

    def _apply_pages(
        self,
        apply: Callable[[ChangesPage], list[Change]],
        cursor: str | None,
        tally: _Tally,
        timeout: float | None,
        stop: threading.Event | None,
    ) -> bool:
        """Apply pages from ``cursor`` to the end of the feed; ``False`` if stopped first."""
        for page in self._pages(cursor, timeout):
            if stop is not None and stop.is_set():
                return False
            applied = apply(page)
            tally.add(applied)
            self._notify([c.entry.subject_id for c in applied], tally)
        return True

    def _pages(self, cursor: str | None, timeout: float | None) -> Iterator[ChangesPage]:
        """Pages from ``cursor`` until ``has_more`` is false.

        The next page is fetched (and parsed) by the prefetch thread while the
        caller applies this one: the platform's time and the local writes
        overlap. A fetch's error is raised where its page would have been.
        """

        def fetch(at: str | None) -> ChangesPage:
            return fetch_changes(self.client, at, limit=self.page_size, timeout=timeout)

        pending = self._prefetch.submit(fetch, cursor)
        while True:
            page = pending.result()
            if not page.has_more:
                yield page
                return
            pending = self._prefetch.submit(fetch, page.next_cursor)
            yield page

    def _begin_rebuild(
        self, stop: threading.Event | None, generation: int
    ) -> SnapshotBuilder | str | None:
        """A builder under this pass's lease; or the cursor of a snapshot that another
        process rebuilt since ``generation`` was in service; or ``None`` (the right to
        rebuild is taken elsewhere, by an import that does not take the lease)."""
        try:
            builder = self.snapshot.begin_rebuild(wait=0, lease=self._lease)
        except SnapshotBusyError:
            logger.info("snapshot: another rebuild is running; trying later")
            return None
        status = self.snapshot.status()
        if status.generation != generation and status.cursor is not None:
            builder.abort()  # someone else's new generation: follow it instead
            logger.info(
                "snapshot: generation %d was rebuilt by another process; following it",
                status.generation,
            )
            return status.cursor
        return builder

    def _rebuild(
        self, tally: _Tally, timeout: float | None, stop: threading.Event | None, generation: int
    ) -> SyncResult:
        claimed = self._begin_rebuild(stop, generation)
        if claimed is None:
            return self._result(tally, resynced=False, complete=False)
        if isinstance(claimed, str):
            return self._follow(claimed, tally, timeout, stop)
        builder = claimed
        with builder:  # leaving by an exception discards the half-built file
            cursor: str | None = None
            source = "the change feed"
            if self.use_export:
                try:
                    cursor = self._load_export(builder, tally, timeout, stop)
                except LoadStoppedError:
                    builder.abort()
                    return self._result(tally, resynced=False, complete=False)
                if cursor is not None:
                    source = "the list export and the change feed"
            if not self._apply_pages(builder.apply_changes, cursor, tally, timeout, stop):
                builder.abort()
                return self._result(tally, resynced=False, complete=False)
            generation = builder.commit()
        logger.info(
            "snapshot: rebuilt from %s, %d changes (generation %d)",
            source,
            tally.applied,
            generation,
        )
        return self._result(tally, resynced=True, complete=True)

    def _load_export(
        self,
        builder: SnapshotBuilder,
        tally: _Tally,
        timeout: float | None,
        stop: threading.Event | None,
    ) -> str | None:
        """Load the export into ``builder`` as it downloads; its cursor, or None if not served."""

        def stored(subject_ids: list[str]) -> None:
            tally.add_loaded(len(subject_ids))
            self._notify(subject_ids, tally, loader.header.count if loader.header else None)

        loader = builder.export_loader(on_stored=stored, stop=stop)
        try:
            self.client.export_lists(loader, timeout=self.export_timeout, read_timeout=timeout)
            return loader.finish().cursor
        except ProblemError as exc:
            if exc.status not in _NO_EXPORT:
                raise
            logger.info(
                "snapshot: the platform does not serve the list export (%s); "
                "rebuilding from the start of the change feed",
                exc.status,
            )
            self.use_export = False  # not asked again by this syncer
            return None
        except SnapshotImportError as exc:
            # The platform's export is damaged (a bad line, a wrong count): its change
            # feed may still be sound, and a snapshot from it beats none at all.
            logger.warning(
                "snapshot: the list export was refused (%s); rebuilding from the start of "
                "the change feed instead",
                mask_ids_in(str(exc)),
            )
            builder.discard_rows()
            tally.upserts = tally.deletes = 0
            return None

    def _result(self, tally: _Tally, *, resynced: bool, complete: bool) -> SyncResult:
        status = self.snapshot.status()
        return SyncResult(
            applied=tally.applied,
            upserts=tally.upserts,
            deletes=tally.deletes,
            pages=tally.pages,
            resynced=resynced,
            cursor=status.cursor,
            as_of=status.as_of,
            complete=complete,
        )

    def _notify(self, subject_ids: list[str], tally: _Tally, total: int | None = None) -> None:
        if subject_ids and self._on_change is not None:
            try:
                self._on_change(subject_ids)
            except Exception:
                # A watcher's bug must not stop the lists from being kept current.
                logger.exception("snapshot: on_change callback failed; sync continues")
        if self._call_progress is not None:
            try:
                self._call_progress(tally.applied, total)
            except Exception:
                logger.exception("snapshot: on_progress callback failed; sync continues")
