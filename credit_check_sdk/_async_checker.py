"""``AsyncCreditChecker``: :class:`CreditChecker` for an event loop (FastAPI, Starlette).

One core, two clients, as httpx has ``Client`` and ``AsyncClient``: the async
checker keeps a :class:`CreditChecker` (settings, storage, journal, cache,
catalogue, breaker, snapshot, uploader, plugins) and runs *its* check logic,
written once as steps (:mod:`._steps`). Only the input/output differs: the
profile and catalogue requests are awaited on an async HTTP transport (httpx),
with the same signing, retries, typed errors and time budget, and the blocking
local work (the journal's fsync'd append, a snapshot read) runs in a worker
thread. Every other call of ``CreditChecker`` is here too, awaited: the
platform's requests of ``file_objection``, ``objection_status`` and
``refresh_catalog`` on the async transport (their logic, too, is written once as
steps), the local work of ``watch``, ``disclose`` … and a whole snapshot sync
(``sync_snapshot``, which streams the list export into SQLite) in a worker
thread. Background work (uploads, snapshot sync, the breaker's probe, re-checks)
stays on the core's threads.

Needs the ``async`` extra: ``pip install "credit-check-sdk[async]"``.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio

from ._async_client import AsyncPlatformClient, offload
from ._checker import Action, CreditChecker, RecheckCallback, WatchCallback
from ._config import Settings
from ._exceptions import CreditCheckError
from ._models import Catalog, Decision, Matter, Subject
from ._steps import Offload, Steps
from ._sync import SyncResult
from ._transports import AsyncBaseTransport, BaseTransport
from ._transports.httpx_async import AsyncHttpxTransport
from .arguments import check_instance
from .instrumentation import Instrumentation, observed_async_check
from .plugins import PluginHost
from .storage import DisclosureDuty, ImportResult, JournalStore, Storage

__all__ = ["AsyncCreditChecker"]

T = TypeVar("T")


class AsyncCreditChecker:
    """Checks awaited on an event loop; the same settings, decisions and journal as
    :class:`~credit_check_sdk.CreditChecker`.

    Make it once at start-up (its constructor opens the storage, as
    ``CreditChecker``'s does) and close it at shutdown with ``await aclose()``
    or ``async with``. ``must_check`` and ``must_check_many`` await the
    platform on an async transport within ``timeout`` (the whole budget, as in
    sync), and return once the check is durably in the journal (written in a
    worker thread: the event loop goes on meanwhile). A task cancelled
    mid-check leaves the journal whole: cancelled before the journal write,
    nothing is written; during it, the record is completed first.

    ``transport`` is the async transport for checks (default: httpx, with the
    settings' proxy and TLS); ``sync_transport`` the one the background threads
    use (default: requests). The other keywords are :class:`CreditChecker`'s
    (``instrumentation`` hears of the awaited checks as of the sync ones).

    >>> from credit_check_sdk import AsyncCreditChecker
    >>> async def approve(subject_id: str) -> bool:
    ...     async with AsyncCreditChecker() as checker:
    ...         decision = await checker.must_check(subject_id, "bidding")
    ...         return decision.outcome.value in ("normal", "green_channel")
    """

    def __init__(
        self,
        settings: Settings | None = None,
        /,
        *,
        transport: AsyncBaseTransport | None = None,
        sync_transport: BaseTransport | None = None,
        on_recheck_changed: RecheckCallback | None = None,
        on_watch: WatchCallback | None = None,
        plugins: PluginHost | None = None,
        storage: Storage | None = None,
        instrumentation: Instrumentation | None = None,
        **options: Any,
    ) -> None:
        if transport is not None:
            check_instance(transport, "transport", AsyncBaseTransport)
        self._core = CreditChecker(
            settings,
            transport=sync_transport,
            on_recheck_changed=on_recheck_changed,
            on_watch=on_watch,
            plugins=plugins,
            storage=storage,
            instrumentation=instrumentation,
            **options,
        )
        self._instrumentation = instrumentation
        self.settings: Settings = self._core.settings
        """The settings in force (those of the checker inside)."""
        if transport is None:
            transport = AsyncHttpxTransport(
                verify=self.settings.verify_tls, proxy=self.settings.proxy
            )
        self._client = AsyncPlatformClient(self._core.client, transport)
        self._closed = False
        self._running = 0  # calls in progress, which aclose() lets finish
        self._idle: anyio.Event | None = None
        self._stops: set[threading.Event] = set()  # of snapshot syncs in progress

    @property
    def journal(self) -> JournalStore:
        """The journal (shared with the background threads; see ``CreditChecker.journal``)."""
        return self._core.journal

    @property
    def storage(self) -> Storage:
        """Where everything durable is kept (see ``CreditChecker.storage``)."""
        return self._core.storage

    @property
    def catalog(self) -> Catalog:
        """The measures catalogue in force."""
        return self._core.catalog

    @property
    def data_dir(self) -> Path:
        """The directory of the checker's local files (see ``CreditChecker.data_dir``)."""
        return self._core.data_dir

    @property
    def plugins(self) -> PluginHost:
        """The approval-flow plugins the checker calls (see ``CreditChecker.plugins``)."""
        return self._core.plugins

    @observed_async_check("must_check")
    async def must_check(
        self,
        subject: Subject | str,
        matter: Matter | str,
        *,
        operator: str | None = None,
        department: str | None = None,
        fresh: bool = False,
    ) -> Decision:
        """Check one subject for one matter; the decision is journaled before it returns.

        As :meth:`CreditChecker.must_check`: bad input raises before any
        request; a platform fault never raises, it gives a degraded decision or
        ``review`` (and queues a re-check), within ``timeout``.

        >>> d = await checker.must_check("91442000MA4UJ2KQ57", "bidding")  # doctest: +SKIP
        >>> d.outcome  # doctest: +SKIP
        <Outcome.RESTRICTION: 'restriction'>
        """
        return await self._run(
            self._core._check_steps(
                subject, matter, operator=operator, department=department, fresh=fresh
            )
        )

    @observed_async_check("must_check_many")
    async def must_check_many(
        self,
        subjects: Iterable[Subject | str],
        matter: Matter | str,
        *,
        operator: str | None = None,
        department: str | None = None,
        fresh: bool = False,
    ) -> list[Decision]:
        """Check many subjects for one matter (as :meth:`CreditChecker.must_check_many`).

        >>> ds = await checker.must_check_many(["91442000MA4UJ2KQ57"], "bidding")  # doctest: +SKIP
        """
        return await self._run(
            self._core._check_many_steps(
                subjects, matter, operator=operator, department=department, fresh=fresh
            )
        )

    async def _run(self, steps: Steps[T]) -> T:
        """Perform ``steps`` of the core's logic: requests awaited, local work in a thread."""
        self._ensure_open()
        self._running += 1
        try:
            return await self._client.run(steps)
        finally:
            self._finished()

    async def _in_thread(
        self, fn: Callable[[], T], *, on_cancel: Callable[[], object] | None = None
    ) -> T:
        """``fn()`` (the core's own call) in a worker thread; cancelled, the task waits
        for it to end (``on_cancel`` may ask it to end early)."""
        self._ensure_open()
        self._running += 1
        try:
            result: T = await offload(Offload(fn), on_cancel=on_cancel)
            return result
        finally:
            self._finished()

    def _finished(self) -> None:
        self._running -= 1
        if not self._running and self._idle is not None:
            self._idle.set()

    async def record_action(
        self,
        check_id: str,
        action: Action,
        *,
        measure_ids: Sequence[str] | None = None,
        reason: str | None = None,
        operator: str | None = None,
    ) -> str:
        """Record what the flow did with a check's measures (as
        :meth:`CreditChecker.record_action`); returns the action record's id.

        Local work only (journal read, fsync'd append), done in a worker thread.

        >>> await checker.record_action(d.check_id, "applied", operator="u123")  # doctest: +SKIP
        """
        return await self._in_thread(
            functools.partial(
                self._core.record_action,
                check_id,
                action,
                measure_ids=measure_ids,
                reason=reason,
                operator=operator,
            )
        )

    async def disclose(
        self,
        kind: str,
        subject: Subject | str,
        decision_no: str,
        decided_on: date | str,
        title: str,
        content: Mapping[str, Any] | None = None,
        *,
        check_id: str | None = None,
    ) -> DisclosureDuty:
        """Keep a licensing or penalty decision to publish (双公示), as
        :meth:`CreditChecker.disclose`: on disk before it returns, posted by the
        background uploader.

        Local work only, done in a worker thread.

        >>> duty = await checker.disclose("licensing", "91442000MA4UJ2KQ57",
        ...     "中市监许〔2026〕1号", date(2026, 3, 2), "食品经营许可证核发")  # doctest: +SKIP
        """
        return await self._in_thread(
            functools.partial(
                self._core.disclose,
                kind,
                subject,
                decision_no,
                decided_on,
                title,
                content,
                check_id=check_id,
            )
        )

    async def file_objection(
        self, check_id: str, entry_id: str, reason: str, submitted_by: str
    ) -> str:
        """File a subject's objection to an entry behind a check (§五(三)); returns its id.

        As :meth:`CreditChecker.file_objection` (the same checks, before any
        request): the platform is awaited on the async transport, the journal
        read and the local bookkeeping run in a worker thread.

        >>> oid = await checker.file_objection(d.check_id, "BL-2026-000123",
        ...                                    "已履行判决", "u123")  # doctest: +SKIP
        """
        return await self._run(
            self._core._file_objection_steps(check_id, entry_id, reason, submitted_by)
        )

    async def objection_status(self, objection_id: str) -> dict[str, Any]:
        """The objection as the platform reports it (as :meth:`CreditChecker.objection_status`).

        >>> (await checker.objection_status(oid))["status"]  # doctest: +SKIP
        'verifying'
        """
        return await self._run(self._core._objection_status_steps(objection_id))

    # -- offline mode: snapshot, watches, re-checks --------------------------------------

    async def sync_snapshot(
        self, timeout: float = 30.0, *, progress: Callable[[int, int | None], None] | None = None
    ) -> SyncResult:
        """Refresh the catalogue and bring the snapshot up to date now (as
        :meth:`CreditChecker.sync_snapshot`), in a worker thread.

        ``progress(applied, total)`` is called in that thread. A task cancelled
        meanwhile asks the sync to stop and waits for it to end between pages
        (what was applied is kept; a rebuild in progress is discarded);
        :meth:`aclose` does the same.

        >>> (await checker.sync_snapshot()).applied  # doctest: +SKIP
        120
        """
        stop = threading.Event()
        self._stops.add(stop)
        try:
            return await self._in_thread(
                functools.partial(self._core._sync_snapshot, timeout, progress=progress, stop=stop),
                on_cancel=stop.set,
            )
        finally:
            self._stops.discard(stop)

    async def import_snapshot(
        self, path: str | Path, *, progress: Callable[[int, int], None] | None = None
    ) -> ImportResult:
        """Seed the snapshot from a list export file (as
        :meth:`CreditChecker.import_snapshot`), in a worker thread.

        >>> await checker.import_snapshot("/media/usb/lists-export.ndjson.gz")  # doctest: +SKIP
        """
        return await self._in_thread(
            functools.partial(self._core.import_snapshot, path, progress=progress)
        )

    async def watch(self, subject: Subject | str, matter: Matter | str, case_id: str) -> None:
        """Watch a subject of an application still in progress, until :meth:`unwatch`
        (as :meth:`CreditChecker.watch`).

        The re-checks run on the checker's background thread, which calls
        ``on_watch`` there (not on the event loop: hand the result to the loop
        with ``loop.call_soon_threadsafe`` if it must go on there).

        >>> await checker.watch("91442000MA4UJ2KQ57", "bidding", "ZSGC-2026-118")  # doctest: +SKIP
        """
        await self._in_thread(functools.partial(self._core.watch, subject, matter, case_id))

    async def unwatch(self, subject: Subject | str, case_id: str) -> bool:
        """Stop watching; ``True`` when there was such a watch.

        >>> await checker.unwatch("91442000MA4UJ2KQ57", "ZSGC-2026-118")  # doctest: +SKIP
        True
        """
        return await self._in_thread(functools.partial(self._core.unwatch, subject, case_id))

    async def recheck_pending(self, limit: int = 100) -> int:
        """Re-check degraded decisions live now (as :meth:`CreditChecker.recheck_pending`),
        in a worker thread; returns how many were done.

        >>> await checker.recheck_pending()  # doctest: +SKIP
        0
        """
        return await self._in_thread(functools.partial(self._core.recheck_pending, limit))

    async def refresh_catalog(self) -> bool:
        """Ask the platform for a newer catalogue now; ``True`` when one was stored.

        >>> await checker.refresh_catalog()  # doctest: +SKIP
        False
        """
        return await self._run(self._core._refresh_catalog_steps())

    # -- uploads and lifecycle -----------------------------------------------------------

    async def flush(self, timeout: float = 10.0) -> int:
        """Upload pending journal records now; returns how many are still pending.

        >>> await checker.flush(timeout=10)  # doctest: +SKIP
        0
        """
        return await anyio.to_thread.run_sync(functools.partial(self._core.flush, timeout))

    def health(self) -> dict[str, Any]:
        """As :meth:`CreditChecker.health` (local state only: no request is made).

        >>> checker.health()["breaker"]["state"]  # doctest: +SKIP
        'closed'
        """
        return self._core.health()

    def upload_stats(self) -> dict[str, int]:
        """Journal records by upload state: pending, accepted, duplicate, rejected."""
        return self._core.upload_stats()

    async def aclose(self, timeout: float = 5.0) -> None:
        """Upload what can be uploaded within ``timeout``, then release everything.

        Checks in progress are let finish first; those still awaiting the
        platform are cut within the timeout and decided as a fault would be
        (journaled, ``degraded``).

        >>> await checker.aclose()  # doctest: +SKIP
        """
        if self._closed:
            return
        self._closed = True
        started = time.monotonic()
        for stop in self._stops:
            stop.set()  # a snapshot sync in progress ends at its next page
        self._client.end_requests(within=timeout * 0.5)
        if self._running:
            self._idle = anyio.Event()
            with anyio.move_on_after(timeout * 0.6):
                await self._idle.wait()
        try:
            await anyio.to_thread.run_sync(
                functools.partial(
                    self._core.close, max(0.0, timeout - (time.monotonic() - started))
                )
            )
        finally:
            with anyio.move_on_after(max(0.0, timeout - (time.monotonic() - started))):
                await self._client.aclose()

    def _ensure_open(self) -> None:
        if self._closed:
            raise CreditCheckError("this AsyncCreditChecker is closed")

    async def __aenter__(self) -> AsyncCreditChecker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncCreditChecker {self.settings.agency_id} {self._core.client.base_url}>"
