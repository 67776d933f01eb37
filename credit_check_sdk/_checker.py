"""``CreditChecker``: the one object an agency system keeps for its credit checks.

A check runs, in the caller's thread and within ``timeout`` seconds:

1. validate the subject id and the matter (errors before any request);
2. take the profile from the cache, or ask the platform for it;
3. decide with the pure rules of :mod:`credit_check_sdk.decision`;
4. append a check record to the durable journal (committed before returning);
5. wake the background uploader.

A platform fault never raises out of ``must_check`` and never yields a clean
outcome: without usable data the outcome is ``review``.

This module holds the class with its settings, the checks and the lifecycle
(catalogue, uploads, close). The rest of its calls are in the parts it inherits:
:mod:`._checker_offline` (snapshot, watches, re-checks, health) and
:mod:`._checker_duties` (actions, disclosures, objections); how a decision and
its record are made is in :mod:`._check_records`, the catalogue in force in
:mod:`._catalogs`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from ._cache import ProfileCache
from ._catalogs import Catalogs
from ._check_records import Prepared, PreparedInTurn, check_log_fields, prepare_check, related_ids
from ._checker_duties import Action as Action
from ._checker_duties import Duties
from ._checker_offline import OfflineMode
from ._checker_offline import RecheckCallback as RecheckCallback
from ._checker_offline import WatchCallback as WatchCallback
from ._client import PlatformClient
from ._config import Settings
from ._disclosures import DisclosurePoster
from ._exceptions import ArgumentTypeError, CreditCheckError, InvalidSubjectError, PlatformError
from ._files import make_private_dir
from ._fork import LongLock
from ._gc_pause import collector_paused
from ._ids import mask_id
from ._models import Catalog, Decision, Matter, Reason, Subject
from ._offline import Found, Offline, platform_failed
from ._refusals import refusal_reason
from ._steps import Offload, Steps, alongside
from ._time import now
from ._transports import BaseTransport
from ._uploader import Uploader
from .arguments import check_flag, check_instance, check_iterable, check_text
from .catalogue import CatalogStore
from .decision import require_matter
from .instrumentation import CheckerState, Instrumentation, observed_check, observed_upload
from .plugins import PluginHost
from .storage import JournalStore, Storage, open_storage

__all__ = ["CreditChecker"]

logger = logging.getLogger(__name__)

_BATCH = 200


def _check_people(operator: object, department: object) -> None:
    """``operator`` and ``department`` as a check record takes them (optional one-line text)."""
    check_text(operator, "operator", optional=True)
    check_text(department, "department", optional=True)


class CreditChecker(OfflineMode, Duties):
    """Checks subjects against the platform, decides, journals and uploads.

    Settings are keywords (see :class:`~credit_check_sdk.Settings`); any not
    given are read from the ``CREDIT_CHECK_*`` environment variables.
    ``on_recheck_changed(original_check_id, original_outcome, decision)`` is
    called when a live re-check of a degraded decision comes out differently;
    ``on_watch(case_id, previous_outcome, decision)`` when a list change
    touching a watched subject has been re-checked. Callback failures are
    logged, never raised. Everything durable goes to ``storage``
    (:attr:`storage`): by default the one the settings name
    (:func:`~credit_check_sdk.storage.open_storage`: files in ``data_dir``), opened
    and closed by the checker; a storage given is left open at :meth:`close`.
    ``instrumentation`` hears of each check and upload batch and reads the checker's
    gauges (:mod:`credit_check_sdk.instrumentation`; OpenTelemetry:
    :mod:`credit_check_sdk.otel`).

    >>> from credit_check_sdk.testing import FakePlatform
    >>> fake = FakePlatform()
    >>> _ = fake.add_entry("91442000MA4UJ2KQ57", "black", "court_judgment_defaulter")
    >>> with fake.checker() as checker:
    ...     checker.must_check("91442000MA4UJ2KQ57", "bidding").outcome.value
    'restriction'
    """

    def __init__(
        self,
        settings: Settings | None = None,
        /,
        *,
        transport: BaseTransport | None = None,
        on_recheck_changed: RecheckCallback | None = None,
        on_watch: WatchCallback | None = None,
        plugins: PluginHost | None = None,
        storage: Storage | None = None,
        instrumentation: Instrumentation | None = None,
        **options: Any,
    ) -> None:
        if instrumentation is not None and not isinstance(instrumentation, Instrumentation):
            raise ArgumentTypeError(
                "instrumentation must have attach, check_finished and upload_finished "
                "(credit_check_sdk.instrumentation.Instrumentation)",
                argument="instrumentation",
            )
        self._instrumentation = instrumentation
        if settings is not None:
            check_instance(settings, "settings", Settings)
        for name, callback in (("on_recheck_changed", on_recheck_changed), ("on_watch", on_watch)):
            if callback is not None and not callable(callback):
                raise ArgumentTypeError(f"{name} must be callable", argument=name)
        if plugins is not None:
            check_instance(plugins, "plugins", PluginHost)
        if storage is not None and not all(
            hasattr(type(storage), name) for name in ("journal", "uploads", "followups", "close")
        ):
            # A look at the class only: a storage opens its stores on first use.
            raise ArgumentTypeError(
                "storage must be a Storage (open_storage())", argument="storage"
            )
        if settings is None:
            settings = Settings.build(**options)
        elif options:
            settings = Settings.build({}, **{**dict(settings), **options})
        self.settings = settings
        """The settings in force (keywords and ``CREDIT_CHECK_*`` variables, validated)."""
        self.data_dir: Path = settings.resolved_data_dir()
        """The directory of the checker's local files (created private, mode 0700)."""
        try:
            make_private_dir(self.data_dir)  # 0700: its files hold personal ids
        except OSError as exc:
            raise CreditCheckError(f"cannot create data_dir {self.data_dir}: {exc}") from exc
        self._owns_storage = storage is None
        self.storage: Storage = (
            storage if storage is not None else open_storage(settings, data_dir=self.data_dir)
        )
        """Where everything durable is kept (journal, follow-ups, snapshot …)."""
        try:
            self.journal: JournalStore = self.storage.journal
            """The journal of this checker's storage."""
            self.client = PlatformClient.from_settings(settings, transport=transport)
            """The platform client: signed requests with retries, used by the checks and
            the background threads (uploads, snapshot sync, re-checks)."""
        except BaseException:
            if self._owns_storage:
                self.storage.close()
            raise
        self._cache = ProfileCache(
            maxsize=settings.cache_size, ttl=settings.cache_ttl, keep=settings.stale_cache_age
        )
        self._catalogs = Catalogs(
            CatalogStore(self.data_dir / "catalog"), self.client, settings.catalog_refresh
        )
        self._poster: DisclosurePoster | None = None
        self._disclosures_idle = False  # nothing to post until the next disclose()
        self._disclosures_added = 0
        self._uploader = Uploader(
            self.storage.uploads,
            observed_upload(instrumentation, self._send_records),
            interval=settings.upload_interval,
            after_pass=self._post_disclosures,
        )
        self._offline = Offline(
            storage=self.storage,
            client=self.client,
            enabled=settings.offline,
            max_snapshot_age=settings.max_snapshot_age,
            max_relation_age=settings.max_relation_age,
            sync_interval=min(settings.sync_interval, settings.catalog_refresh),
            breaker_threshold=settings.breaker_threshold,
            breaker_cooldown=settings.breaker_cooldown,
            maintenance=self._maintain,
            on_changes=self._on_changes,
        )
        self._on_recheck_changed = on_recheck_changed
        self._on_watch = on_watch
        self.plugins = plugins if plugins is not None else PluginHost()
        """The approval-flow plugins that annotate and observe decisions
        (:mod:`credit_check_sdk.plugins`)."""
        self._recheck_lock = LongLock()  # held across re-check requests
        self._closed = False
        self._requeue_from_journal()
        if instrumentation is not None:
            try:
                instrumentation.attach(
                    CheckerState(self._pending_or_none, self._breaker_state, self._is_closed)
                )
            except BaseException:
                self.close(timeout=0)  # refused (already serving a checker): nothing left open
                raise
        waiting = self._offline.followups.counts()
        if waiting["pending"] or waiting["watches"]:
            # Re-checks queued and watches set before a restart must not wait for a check.
            self._offline.start()

    # -- checks --------------------------------------------------------------------

    @observed_check("must_check")
    def must_check(
        self,
        subject: Subject | str,
        matter: Matter | str,
        *,
        operator: str | None = None,
        department: str | None = None,
        fresh: bool = False,
    ) -> Decision:
        """Check one subject for one matter; the decision is journaled before it returns.

        ``fresh=True`` skips the profile cache: for the check just before an
        award or a signature, when a listing made minutes ago must count.

        >>> d = checker.must_check("91442000MA4UJ2KQ57", "bidding")  # doctest: +SKIP
        >>> d.outcome, d.source  # doctest: +SKIP
        (<Outcome.RESTRICTION: 'restriction'>, 'live')

        Raises :class:`InvalidSubjectError` or :class:`UnknownMatterError` on bad
        input, before any request. Never raises for a platform fault: it decides
        from a recent cached profile or the offline snapshot (``degraded``), or
        answers ``review`` when there is nothing it can trust.
        """
        return self.client.run(
            self._check_steps(
                subject, matter, operator=operator, department=department, fresh=fresh
            )
        )

    def _check_steps(
        self,
        subject: Subject | str,
        matter: Matter | str,
        *,
        operator: str | None,
        department: str | None,
        fresh: bool,
    ) -> Steps[Decision]:
        """:meth:`must_check` as steps (:mod:`._steps`), for the sync and async checkers."""
        self._ensure_open()
        subj = Subject.parse(subject)
        mat = Matter.parse(matter)
        _check_people(operator, department)
        check_flag(fresh, "fresh")
        deadline = time.monotonic() + self.settings.timeout
        catalog = yield from self._catalogs.get_steps(deadline=deadline)
        require_matter(catalog, mat.category)
        self._offline.start()
        if fresh:
            self._cache.drop(subj.id)
        found = yield from self._lookup_steps(subj, deadline=deadline)
        prepared = self._prepare_check(
            subj, mat, catalog, found, operator=operator, department=department
        )
        # The record waits for the journal at most what remains of the check's time.
        decisions: list[Decision] = yield Offload(self._journal_checks, ([prepared], deadline))
        return decisions[0]

    @observed_check("must_check_many")
    def must_check_many(
        self,
        subjects: Iterable[Subject | str],
        matter: Matter | str,
        *,
        operator: str | None = None,
        department: str | None = None,
        fresh: bool = False,
    ) -> list[Decision]:
        """Check many subjects for one matter, 200 to a platform request; one record each.

        ``fresh=True`` skips the profile cache (see :meth:`must_check`).

        Every id is validated first: one bad id raises :class:`InvalidSubjectError`
        naming its position, and nothing is sent. Subjects the platform could
        not answer for are decided as :meth:`must_check` would (degraded).

        Python's cyclic garbage collector is paused for the call (at most 2 s while
        calls overlap; an application running without it keeps it off): the checks
        make no reference cycles, and collecting while they are held finds nothing.

        >>> ds = checker.must_check_many(["91442000MA4UJ2KQ57"], "bidding")  # doctest: +SKIP
        """
        with collector_paused():  # why this is safe: ._gc_pause
            return self.client.run(
                self._check_many_steps(
                    subjects, matter, operator=operator, department=department, fresh=fresh
                )
            )

    def _check_many_steps(
        self,
        subjects: Iterable[Subject | str],
        matter: Matter | str,
        *,
        operator: str | None,
        department: str | None,
        fresh: bool,
    ) -> Steps[list[Decision]]:
        """:meth:`must_check_many` as steps (:mod:`._steps`)."""
        self._ensure_open()
        _check_people(operator, department)
        check_flag(fresh, "fresh")
        parsed: list[Subject] = []
        for position, value in enumerate(check_iterable(subjects, "subjects")):
            try:
                parsed.append(Subject.parse(value))
            except InvalidSubjectError as exc:
                raise InvalidSubjectError(
                    f"subject #{position}: {exc}", value=exc.value, reason=exc.reason
                ) from exc
        mat = Matter.parse(matter)
        deadline = time.monotonic() + self.settings.timeout
        catalog = yield from self._catalogs.get_steps(deadline=deadline)
        require_matter(catalog, mat.category)
        self._offline.start()

        def prepare(subj: Subject, found: Found) -> Prepared:
            return self._prepare_check(
                subj, mat, catalog, found, operator=operator, department=department, serialised=True
            )

        turns = PreparedInTurn(prepare, parsed)
        found = turns.found
        wanted: dict[str, None] = {}  # in order, once each
        fresh_ones = {} if fresh else self._cache.get_many([subj.id for subj in parsed])
        for subj in parsed:
            cached = fresh_ones.get(subj.id)
            if cached is not None:
                found[subj.id] = Found(cached, "cache", degraded=False)
            elif subj.id not in found:
                wanted[subj.id] = None
        refusal: Reason | None = None
        ids = list(wanted)
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            if not self._offline.breaker.allow():
                break
            try:
                # The checks of the answers in so far are prepared while this one is awaited.
                batch = yield from alongside(self.client.profiles_steps(chunk), turns.work())
            except PlatformError as exc:
                self._platform_failed(exc)
                refusal = refusal_reason(exc) or refusal
                logger.warning("profiles:batch failed for %d subjects: %s", len(chunk), exc)
                continue
            self._offline.breaker.record_success()
            asked = set(chunk)
            answered = [got for got in batch.profiles if got.subject.id in asked]
            self._cache.put_many(answered)
            for got in answered:
                found[got.subject.id] = Found(got, "live", degraded=False)
        prepared: list[Prepared] = turns.finish(lambda subj: self._fallback(subj, refusal))
        if not prepared:
            return []
        # One durable transaction for the whole batch: as safe, and one fsync, not N.
        decisions: list[Decision] = yield Offload(self._journal_checks, (prepared, deadline))
        return decisions

    def _lookup_steps(self, subject: Subject, *, deadline: float) -> Steps[Found]:
        """Fresh cache, then the live platform (unless the breaker is open), then fallbacks."""
        cached = self._cache.get(subject.id)
        if cached is not None:
            return Found(cached, "cache", degraded=False)
        refusal: Reason | None = None
        if self._offline.breaker.allow():
            try:
                profile = yield from self.client.profile_steps(
                    subject.id, timeout=max(0.001, deadline - time.monotonic())
                )
            except PlatformError as exc:
                self._platform_failed(exc)
                logger.warning("profile of %s unavailable: %s", mask_id(subject.id), exc)
                refusal = refusal_reason(exc)
            else:
                self._offline.breaker.record_success()
                self._cache.put(profile)
                return Found(profile, "live", degraded=False)
        # The snapshot is read from disk (SQLite): blocking work.
        found: Found = yield Offload(self._fallback, (subject, refusal))
        return found

    def _fallback(self, subject: Subject, refusal: Reason | None = None) -> Found:
        """A recent cached profile, then the snapshot, else nothing (``review``).

        ``refusal``: the platform refused the credentials or clock; the decision says so.
        """
        stale = self._cache.get(subject.id, max_age=self.settings.stale_cache_age)
        if stale is not None:
            found = Found(stale, "cache", degraded=True)
        else:
            found = self._offline.from_snapshot(subject.id, subject.kind)
        return found if refusal is None else dataclasses.replace(found, refusal=refusal)

    def _platform_failed(self, exc: PlatformError) -> None:
        if platform_failed(exc):
            self._offline.breaker.record_failure(type(exc).__name__)

    def _decide_and_journal(
        self,
        subject: Subject,
        matter: Matter,
        catalog: Catalog,
        found: Found,
        *,
        operator: str | None,
        department: str | None,
        recheck_of: str | None = None,
    ) -> Decision:
        prepared = self._prepare_check(
            subject,
            matter,
            catalog,
            found,
            operator=operator,
            department=department,
            recheck_of=recheck_of,
        )
        return self._journal_checks([prepared])[0]

    def _prepare_check(
        self,
        subject: Subject,
        matter: Matter,
        catalog: Catalog,
        found: Found,
        *,
        operator: str | None,
        department: str | None,
        recheck_of: str | None = None,
        serialised: bool = False,
    ) -> Prepared:
        """Decide, and build the check record and its inputs (nothing written yet)."""
        return prepare_check(
            self.settings,
            subject,
            matter,
            catalog,
            found,
            checked_at=now(),
            operator=operator,
            department=department,
            recheck_of=recheck_of,
            serialised=serialised,
        )

    def _journal_checks(
        self, prepared: list[Prepared], deadline: float | None = None
    ) -> list[Decision]:
        """Write the check records durably (one transaction), then follow up on each.

        ``deadline`` (monotonic) is when the check's time ends: a journal that can keep
        records aside (the database's spool) does so rather than wait past it.
        """
        if len(prepared) == 1:
            self.journal.append(prepared[0].record, inputs=prepared[0].inputs, deadline=deadline)
        else:
            self.journal.append_many([(p.record, p.inputs) for p in prepared], deadline=deadline)
        # Relations of every live profile, for deciding from the snapshot in an outage.
        self._offline.learn_relations(
            [p.found.profile for p in prepared if p.found.source == "live" and p.found.profile]
        )
        decisions = []
        for p in prepared:
            decision, found = p.decision, p.found
            if found.source == "live" and found.profile is not None:
                # A watch learns who is related to its subject from every live profile.
                self._offline.followups.learn_related(
                    decision.subject.id, related_ids(found.profile) or []
                )
            if found.degraded and decision.recheck_of is None:
                self._offline.followups.queue_recheck(
                    decision.check_id,
                    decision.subject.id,
                    decision.subject.kind,
                    decision.matter.model_dump(mode="json"),
                    decision.outcome.value,
                )
            if logger.isEnabledFor(logging.INFO):  # the masked id and fields only for a kept line
                logger.info(
                    "check %s: %s for %s -> %s (%s%s)",
                    decision.check_id,
                    mask_id(decision.subject.id),
                    decision.matter.category,
                    decision.outcome.value,
                    found.source,
                    ", degraded" if found.degraded else "",
                    extra=check_log_fields(decision),
                )
            decision = self.plugins.annotate(decision)
            self.plugins.observe_decision(decision)
            decisions.append(decision)
        self._uploader.notify()
        return decisions

    # -- catalogue, upload, lifecycle --------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The measures catalogue in force."""
        return self._catalogs.current

    def refresh_catalog(self) -> bool:
        """Ask the platform for a newer catalogue now; ``True`` when one was stored.

        >>> checker.refresh_catalog()  # doctest: +SKIP
        False
        """
        return self.client.run(self._refresh_catalog_steps())

    def _refresh_catalog_steps(self) -> Steps[bool]:
        """:meth:`refresh_catalog` as steps (:mod:`._steps`)."""
        self._ensure_open()
        return (yield from self._catalogs.refresh_steps(timeout=self.settings.timeout, force=True))

    def _pending_or_none(self) -> int | None:
        return None if self._closed else self.storage.uploads.pending_count()

    def _breaker_state(self) -> str:
        return self._offline.breaker.state

    def _is_closed(self) -> bool:
        return self._closed

    def _send_records(self, records: list[dict[str, Any]]) -> Any:
        return self.client.upload_records(records, timeout=max(30.0, self.settings.timeout))

    def flush(self, timeout: float = 10.0) -> int:
        """Upload pending journal records now; returns how many are still pending.

        Counted among the records in the journal when the flush began (other
        threads and processes sharing the journal may append meanwhile). The same
        pass posts the disclosures (双公示) the platform has not received; those
        left are in :meth:`health` (``disclosures``), not in the count.

        >>> checker.flush(timeout=10)  # doctest: +SKIP
        0
        """
        return self._uploader.flush(timeout=timeout)

    def upload_stats(self) -> dict[str, int]:
        """Journal records by upload state: pending, accepted, duplicate, rejected."""
        return self.journal.counts()

    def close(self, timeout: float = 5.0) -> None:
        """Upload what can be uploaded within ``timeout``, then release everything.

        Returns within ``timeout`` even when the network hangs; records not
        uploaded stay in the journal for next time.
        """
        if self._closed:
            return
        self._closed = True
        started = time.monotonic()
        # No upload, sync or probe stays inside a request past the close (a tenth is kept
        # for the threads to finish once their request ends).
        self.client.end_requests(within=timeout * 0.9)
        stopped = False
        try:
            stopped = self._offline.close(timeout=timeout / 2)
            self._uploader.close(timeout=max(0.0, timeout - (time.monotonic() - started)))
        finally:
            self.client.close()
            if self._owns_storage:
                # A background pass still in a request keeps its stores (a daemon: they
                # go with the process); the journal is closed in any case.
                if stopped:
                    self.storage.close()
                else:
                    self.journal.close()

    def _ensure_open(self) -> None:
        if self._closed:
            raise CreditCheckError("this CreditChecker is closed")

    def __enter__(self) -> CreditChecker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CreditChecker {self.settings.agency_id} {self.client.base_url}>"
