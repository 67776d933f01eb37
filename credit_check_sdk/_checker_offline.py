"""``CreditChecker``'s offline mode: the snapshot, watches and re-checks of degraded decisions.

:class:`OfflineMode` holds the public calls of the offline mode (``sync_snapshot``,
``import_snapshot``, ``watch``, ``unwatch``, ``health``, ``recheck_pending``) and the
background work behind them: the pass before each sync (catalogue, pending
re-checks), the re-checks of watched subjects that list changes touch, and the
re-queueing of degraded checks from the journal at start. ``CreditChecker``
inherits it; the checks themselves stay in :mod:`._checker`.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._check_records import related_ids
from ._disclosures import summary
from ._exceptions import ArgumentTypeError, CreditCheckError, PlatformError
from ._files import wider_than_private
from ._ids import mask_id, mask_ids_in
from ._models import Decision, Matter, Outcome, Subject
from ._offline import Found
from ._sync import Syncer, SyncResult
from ._time import now, today
from .arguments import check_text
from .decision import require_matter
from .instrumentation import observed_recheck
from .storage import ImportResult, PendingRecheck, owner_name

if TYPE_CHECKING:
    from ._cache import ProfileCache
    from ._catalogs import Catalogs
    from ._client import PlatformClient
    from ._config import Settings
    from ._fork import LongLock
    from ._models import Catalog
    from ._offline import Offline
    from ._steps import Steps
    from .instrumentation import Instrumentation
    from .storage import JournalStore, Storage

__all__ = ["OfflineMode", "RecheckCallback", "WatchCallback"]

# What a CreditChecker does logs under one name (docs/logging.md), wherever its code lives.
logger = logging.getLogger("credit_check_sdk._checker")

#: ``on_recheck_changed(original_check_id, original_outcome, recheck_decision)``
RecheckCallback = Callable[[str, Outcome, Decision], object]
#: ``on_watch(case_id, previous_outcome_or_None, decision)``
WatchCallback = Callable[[str, "Outcome | None", Decision], object]


class OfflineMode:
    """The offline-mode calls of :class:`~credit_check_sdk.CreditChecker` (a mixin)."""

    if TYPE_CHECKING:
        # What this part uses of the checker (set in CreditChecker.__init__).
        settings: Settings
        data_dir: Path
        storage: Storage
        journal: JournalStore
        client: PlatformClient
        _cache: ProfileCache
        _catalogs: Catalogs
        _offline: Offline
        _recheck_lock: LongLock
        _closed: bool
        _on_recheck_changed: RecheckCallback | None
        _on_watch: WatchCallback | None
        _instrumentation: Instrumentation | None

        @abstractmethod
        def _ensure_open(self) -> None: ...

        @abstractmethod
        def _platform_failed(self, exc: PlatformError) -> None: ...

        @abstractmethod
        def _lookup_steps(self, subject: Subject, *, deadline: float) -> Steps[Found]: ...

        @abstractmethod
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
        ) -> Decision: ...

    def _requeue_from_journal(self, days: int = 30) -> None:
        """Queue again any degraded check of the last ``days`` the journal shows unre-checked.

        Covers a crash between the journal write and the queue write, and a
        queue that an OS crash cut short: the journal is the record of truth.
        """
        since = now() - timedelta(days=days)
        for record in self.journal.degraded_without_recheck(since):
            subject = record.get("subject") or {}
            matter = record.get("matter") or {}
            inputs = self.journal.inputs_for(record["id"]) or {}
            self._offline.followups.queue_recheck(
                record["id"],
                str(subject.get("id", "")),
                str(subject.get("kind", "legal_entity")),
                inputs.get("matter") or {"category": matter.get("category", "")},
                str(record.get("outcome", "review")),
            )

    def sync_snapshot(
        self, timeout: float = 30.0, *, progress: Callable[[int, int | None], None] | None = None
    ) -> SyncResult:
        """Refresh the catalogue and bring the snapshot up to date now, in this thread.

        A first sync (or one after the feed's cursor expired) loads the list
        export while it downloads and then follows the feed from the export's
        cursor; later syncs follow the feed. ``timeout`` bounds each feed
        request and each wait for export bytes. Raises :class:`PlatformError`
        when the platform cannot be read (what was applied before the fault is
        kept) and :class:`CreditCheckError` when the offline mode is off.
        ``progress(applied, total)`` is called after each page or export batch
        (``total`` is the export's count while it loads, else ``None``: the
        feed does not say).

        >>> checker.sync_snapshot().applied  # doctest: +SKIP
        120
        """
        return self._sync_snapshot(timeout, progress=progress)

    def _sync_snapshot(
        self,
        timeout: float,
        *,
        progress: Callable[[int, int | None], None] | None = None,
        stop: threading.Event | None = None,
    ) -> SyncResult:
        """:meth:`sync_snapshot`; ``stop``, when set, ends the pass between pages (the
        async checker sets it when its caller is cancelled)."""
        self._ensure_open()
        syncer = self._require_syncer()
        self._catalogs.refresh(timeout=min(timeout, 10.0), force=True)
        return syncer.sync_once(timeout, progress=progress, stop=stop)

    def import_snapshot(
        self, path: str | Path, *, progress: Callable[[int, int], None] | None = None
    ) -> ImportResult:
        """Seed the snapshot from a list export file carried in by hand (gzip NDJSON).

        ``progress(loaded, count)`` is called after each batch of entries.

        >>> checker.import_snapshot("/media/usb/lists-export.ndjson.gz")  # doctest: +SKIP
        """
        self._ensure_open()
        return self._require_syncer().import_file(path, progress=progress)

    def _require_syncer(self) -> Syncer:
        if self._offline.syncer is None:
            raise CreditCheckError("the offline snapshot is off (offline=False)")
        return self._offline.syncer

    def watch(self, subject: Subject | str, matter: Matter | str, case_id: str) -> None:
        """Watch a subject of an application still in progress, until :meth:`unwatch`.

        When a list change touches the subject (or a person related to it),
        the SDK re-checks it, journals the re-check and calls ``on_watch``.
        Watches survive restarts. When the subject was already checked for
        ``case_id``, the first ``on_watch`` receives that check's outcome as
        the previous one (the latest such check in the journal). A matter
        given without a case id takes ``case_id``, so that the re-checks are
        journaled under the application too.

        >>> case = Matter("bidding", case_id="ZSGC-2026-118")  # doctest: +SKIP
        >>> opening = checker.must_check("91442000MA4UJ2KQ57", case)  # doctest: +SKIP
        >>> checker.watch("91442000MA4UJ2KQ57", "bidding", "ZSGC-2026-118")  # doctest: +SKIP
        """
        self._ensure_open()
        subj = Subject.parse(subject)
        mat = Matter.parse(matter)
        case_id = check_text(case_id, "case_id")
        require_matter(self._catalogs.current, mat.category)
        if mat.case_id is None:
            mat = mat.model_copy(update={"case_id": case_id})
        last_id, last_outcome = self._last_check_for_case(subj.id, case_id)
        self._offline.followups.watch(
            subj.id,
            subj.kind,
            mat.model_dump(mode="json"),
            case_id,
            check_id=last_id,
            outcome=last_outcome,
        )
        cached = self._cache.get(subj.id, max_age=self.settings.stale_cache_age)
        if cached is not None:
            self._offline.followups.learn_related(subj.id, related_ids(cached) or [])
        self._offline.start()

    def _last_check_for_case(self, subject_id: str, case_id: str) -> tuple[str | None, str | None]:
        """``(check_id, outcome)`` of the journal's latest check of the subject for
        ``case_id``, or ``(None, None)`` when there is none with a known outcome."""
        record = self.journal.latest_check_for_case(subject_id, case_id)
        if record is None:
            return None, None
        check_id, outcome = record.get("id"), record.get("outcome")
        # Outcome() must accept it later, in the background thread that calls on_watch.
        if not isinstance(check_id, str) or outcome not in {o.value for o in Outcome}:
            logger.warning(
                "watch of %s for case %s: check %r has no known outcome; none taken",
                mask_id(subject_id),
                mask_ids_in(case_id),
                check_id,
            )
            return None, None
        return check_id, str(outcome)

    def unwatch(self, subject: Subject | str, case_id: str) -> bool:
        """Stop watching; ``True`` when there was such a watch.

        >>> checker.unwatch("91442000MA4UJ2KQ57", "ZSGC-2026-118")  # doctest: +SKIP
        True
        """
        self._ensure_open()
        subj = Subject.parse(subject)
        return self._offline.followups.unwatch(subj.id, check_text(case_id, "case_id"))

    def health(self) -> dict[str, Any]:
        """The platform breaker, the snapshot's age, background work, uploads, and
        ``configuration``: a refusal of the credentials or clock in force, and the proxy.

        ``disclosures`` counts the 双公示 the platform has not received yet: ``pending``,
        of them ``due`` (in time still) and ``late`` (past their due day), and
        ``next_due_on``; a late one is also logged at WARNING when it is published.

        ``file_modes`` lists ``data_dir`` and its SQLite files when others may
        read them (they hold full personal ids; each with the ``chmod`` that
        fixes it), and a warning is logged.

        >>> checker.health()["breaker"]["state"]  # doctest: +SKIP
        'closed'
        """
        report = self._offline.health()
        report["uploads"] = self.journal.counts()
        report["disclosures"] = summary(self.storage.disclosures, today())
        report["storage"] = self.storage.describe()
        report["catalog_version"] = self._catalogs.current.version
        report["configuration"] = self.client.configuration()
        wider = wider_than_private(self.data_dir)
        if wider:
            logger.warning(
                "%d files in %s can be read by others, yet hold personal ids: %s",
                len(wider),
                self.data_dir,
                "; ".join(w["fix"] for w in wider),
            )
        report["file_modes"] = {"private": not wider, "wider": wider}
        return report

    def recheck_pending(self, limit: int = 100) -> int:
        """Re-check degraded decisions live now; returns how many were done.

        The background thread does this on its own once the platform answers;
        call it to hurry (e.g. from an operations page).
        """
        self._ensure_open()
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise ArgumentTypeError("limit must be an int", argument="limit")
        return self._run_rechecks(limit)

    def _maintain(self) -> None:
        """The background pass before each sync: catalogue, then pending re-checks."""
        self._catalogs.refresh(timeout=10.0)
        if self._offline.followups.counts()["pending"]:
            self._run_rechecks(100)

    def _run_rechecks(self, limit: int) -> int:
        # One re-check pass at a time (the background thread and recheck_pending()
        # may both ask): each degraded check is re-checked once, not once per pass.
        with self._recheck_lock:
            return self._run_rechecks_locked(limit)

    def _run_rechecks_locked(self, limit: int) -> int:
        # Claimed first: processes (and instances) sharing the follow-ups run each
        # re-check once. What this pass does not get to is released at its end.
        owner = owner_name()
        followups = self._offline.followups
        lease = 60.0 + limit * 2 * self.settings.timeout
        # A process of this host killed while re-checking leaves its claims: taken at once
        # (on another host they wait for their lease).
        followups.release_ended_rechecks(owner)
        try:
            return self._recheck_claimed(followups.claim_rechecks(owner, limit, lease))
        finally:
            followups.release_recheck(owner)

    def _recheck_claimed(self, claimed: list[PendingRecheck]) -> int:
        done = 0
        for pending in claimed:
            if self._closed or not self._offline.breaker.allow():
                break
            subject = Subject.model_construct(id=pending.subject_id, kind=pending.kind)
            matter = Matter.model_validate(pending.matter)
            # A span of its own (with an observer that traces): the profile request and
            # the journal write of this re-check are its children.
            with observed_recheck(
                self._instrumentation, matter.category, "degraded", pending.check_id
            ) as observed:
                try:
                    profile = self.client.get_profile(subject.id)
                except PlatformError as exc:
                    self._platform_failed(exc)
                    logger.info("re-check of %s postponed: %s", pending.check_id, exc)
                    observed.postponed(exc)
                    break
                self._offline.breaker.record_success()
                self._cache.put(profile)
                decision = self._decide_and_journal(
                    subject,
                    matter,
                    self._catalogs.current,
                    Found(profile, "live", degraded=False),
                    operator=None,
                    department=None,
                    recheck_of=pending.check_id,
                )
                observed.decided(decision)
            done += 1
            if self._offline.followups.finish_recheck(
                pending.check_id, decision.check_id, decision.outcome.value
            ):
                logger.warning(
                    "re-check of degraded check %s for %s: outcome now %s, was %s",
                    pending.check_id,
                    mask_id(subject.id),
                    decision.outcome.value,
                    pending.outcome,
                )
                self._call(
                    self._on_recheck_changed,
                    pending.check_id,
                    Outcome(pending.outcome),
                    decision,
                )
        return done

    def _on_changes(self, subject_ids: list[str]) -> None:
        """Re-check the watched subjects that synced list changes touch."""
        for watch in self._offline.followups.watches_touching(set(subject_ids)):
            if self._closed:
                return
            subject = Subject.model_construct(id=watch.subject_id, kind=watch.kind)
            matter = Matter.model_validate(watch.matter)
            # Any cached profile predates the change being reported: ask anew (live, or
            # the snapshot that has just taken the change in).
            self._cache.drop(subject.id)
            with observed_recheck(self._instrumentation, matter.category, "watch") as observed:
                found = self.client.run(
                    self._lookup_steps(subject, deadline=time.monotonic() + self.settings.timeout)
                )
                decision = self._decide_and_journal(
                    subject,
                    matter,
                    self._catalogs.current,
                    found,
                    operator=None,
                    department=None,
                )
                observed.decided(decision)
            self._offline.followups.update_watch(
                watch.subject_id,
                watch.case_id,
                check_id=decision.check_id,
                outcome=decision.outcome.value,
                related_ids=related_ids(found.profile) if found.source == "live" else None,
            )
            previous = Outcome(watch.last_outcome) if watch.last_outcome else None
            self._call(self._on_watch, watch.case_id, previous, decision)

    @staticmethod
    def _call(callback: Callable[..., object] | None, *args: object) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # an agency's callback must never break the SDK's own work
            logger.exception("callback %r failed", callback)
