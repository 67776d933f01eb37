"""``CreditChecker``: the one object an agency system keeps for its credit checks.

A check runs, in the caller's thread and within ``timeout`` seconds:

1. validate the subject id and the matter (errors before any request);
2. take the profile from the cache, or ask the platform for it;
3. decide with the pure rules of :mod:`credit_check_sdk.decision`;
4. append a check record to the durable journal (committed before returning);
5. wake the background uploader.

A platform fault never raises out of ``must_check`` and never yields a clean
outcome: without usable data the outcome is ``review``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

from ._cache import ProfileCache
from ._check_inputs import check_inputs
from ._client import PlatformClient
from ._config import Settings
from ._disclosures import DisclosurePoster, check_against, make_duty, summary
from ._exceptions import (
    ArgumentTypeError,
    CreditCheckError,
    InvalidArgumentError,
    InvalidRequestError,
    InvalidResponseError,
    InvalidSubjectError,
    PlatformError,
)
from ._files import make_private_dir, wider_than_private
from ._fork import LongLock
from ._ids import mask_id, mask_ids_in
from ._models import (
    Catalog,
    Decision,
    Disclosure,
    DisclosureReceipt,
    Matter,
    Outcome,
    Profile,
    Reason,
    Subject,
)
from ._offline import Found, Offline, platform_failed
from ._record_ids import new_record_id
from ._refusals import refusal_reason
from ._relations import LearntRelations
from ._steps import Offload, Steps
from ._sync import Syncer, SyncResult
from ._time import SHANGHAI, now, today
from ._transports import BaseTransport
from ._uploader import Uploader
from ._version import __version__
from .arguments import (
    LONG_TEXT,
    check_choice,
    check_flag,
    check_instance,
    check_iterable,
    check_text,
    check_texts,
)
from .catalogue import CatalogStore, default_catalog
from .decision import _ROLE_NAMES, Verdict, decide, require_matter
from .instrumentation import CheckerState, Instrumentation, observed_check, observed_upload
from .plugins import PluginHost
from .storage import (
    DisclosureDuty,
    ImportResult,
    JournalStore,
    PendingRecheck,
    Storage,
    open_storage,
    owner_name,
)

__all__ = ["CreditChecker"]

logger = logging.getLogger(__name__)

Action = Literal["applied", "not_applied", "overridden"]
_ACTIONS = ("applied", "not_applied", "overridden")
_BATCH = 200

#: ``on_recheck_changed(original_check_id, original_outcome, recheck_decision)``
RecheckCallback = Callable[[str, Outcome, Decision], object]
#: ``on_watch(case_id, previous_outcome_or_None, decision)``
WatchCallback = Callable[[str, "Outcome | None", Decision], object]


def _check_people(operator: object, department: object) -> None:
    """``operator`` and ``department`` as a check record takes them (optional one-line text)."""
    check_text(operator, "operator", optional=True)
    check_text(department, "department", optional=True)


@dataclass(frozen=True)
class _Prepared:
    """A decided check not yet journaled."""

    record: dict[str, Any]
    inputs: dict[str, Any]
    decision: Decision
    found: Found


def _check_log_fields(decision: Decision) -> dict[str, Any]:
    """The ``extra`` of a check's log line: fields a JSON log formatter can index.

    The subject id is masked like the message (a personal id never reaches a log).
    """
    return {
        "check_id": decision.check_id,
        "subject": mask_id(decision.subject.id),
        "matter": decision.matter.category,
        "outcome": decision.outcome.value,
        "source": decision.source,
        "degraded": decision.degraded,
    }


def _related_ids(profile: Profile | None) -> list[str] | None:
    return None if profile is None else [r.subject.id for r in profile.related]


def _snapshot_reason(
    as_of: str, learnt: LearntRelations | None = None, *, feed_relations: bool = False
) -> Reason:
    if feed_relations:
        return Reason(
            zh=f"平台暂时无法访问，依据本地名单快照（截至 {as_of}）作出降级决定；关联关系取自快照"
            "（平台变更推送），快照不含不良信用记录，不适用“连续三年无不良信用记录”类激励。平台恢复后将自动复核。",
            en=f"The platform could not answer; decided from the local list snapshot as of {as_of} "
            "(degraded), related parties as the change feed sent them. The snapshot holds no "
            "adverse records, so no clean-years incentive applies. The decision is re-checked "
            "once the platform answers.",
        )
    if learnt is None:
        return Reason(
            zh=f"平台暂时无法访问，依据本地名单快照（截至 {as_of}）作出降级决定；"
            "快照不含不良信用记录和关联人员信息，不适用“连续三年无不良信用记录”类激励。平台恢复后将自动复核。",
            en=f"The platform could not answer; decided from the local list snapshot as of {as_of} "
            "(degraded). The snapshot holds no adverse records and no related persons, so no "
            "clean-years incentive applies. The decision is re-checked once the platform answers.",
        )
    return Reason(
        zh=f"平台暂时无法访问，依据本地名单快照（截至 {as_of}）作出降级决定；快照不含不良信用记录，"
        "不适用“连续三年无不良信用记录”类激励。平台恢复后将自动复核。",
        en=f"The platform could not answer; decided from the local list snapshot as of {as_of} "
        "(degraded). The snapshot holds no adverse records, so no clean-years incentive "
        "applies. The decision is re-checked once the platform answers.",
    )


def _relations_reason(learnt: LearntRelations, checked_at: datetime) -> Reason:
    """Names the learnt relations a snapshot decision used, and how old they are."""
    day = learnt.as_of.astimezone(SHANGHAI).date().isoformat()
    days = max(0, (checked_at - learnt.as_of).days)
    if days == 0:
        age_zh, age_en = "当天", "the same day"
    else:
        age_zh, age_en = f"{days} 天前", f"{days} day{'s' if days > 1 else ''} before this check"
    people_zh = "、".join(
        f"{_ROLE_NAMES.get(r.role, (r.role,))[0]} {mask_id(r.subject_id)}" for r in learnt.relations
    )
    people_en = ", ".join(
        f"{_ROLE_NAMES.get(r.role, (r.role, r.role))[1]} {mask_id(r.subject_id)}"
        for r in learnt.relations
    )
    return Reason(
        zh=f"关联人员依据 {day} 从平台获知的关联关系（{age_zh}，来自当时的实时核查）："
        f"{people_zh}；其名单信息取自本地快照。此后关联关系如有变更，本决定无从得知。",
        en=f"Related persons are the relations as learnt from the platform on {day} "
        f"({age_en}, from a live check then): {people_en}; their list "
        "entries are from the local snapshot. A change of relations since then is not known "
        "to this decision.",
    )


def _stale_reason(as_of: str) -> Reason:
    return Reason(
        zh=f"平台暂时无法访问，依据最近缓存的信用档案（截至 {as_of}）作出降级决定；"
        "平台恢复后将自动复核。",
        en=f"The platform could not answer; decided from a recently cached profile as of {as_of} "
        "(degraded). The decision is re-checked once the platform answers.",
    )


def _policy_reason(category: str, would_be: str) -> Reason:
    return Reason(
        zh=f"本单位规定：{category} 事项不得依据降级数据作出决定（数据显示结果为 {would_be}），"
        "须人工核查后办理。",
        en=f"Agency policy: a {category} matter is never decided on degraded data (the data "
        f"available says {would_be}); a person must check before proceeding.",
    )


class _Catalogs:
    """The catalogue in force: from disk, refreshed from the platform with ETags.

    Refreshing happens at most once per ``refresh`` seconds, by one thread at
    a time; other threads keep deciding with the catalogue they have.
    """

    def __init__(self, store: CatalogStore, client: PlatformClient, refresh: float) -> None:
        self._store = store
        self._client = client
        self._refresh = refresh
        # Held across the catalogue request: a forked child gets a new one.
        self._lock = LongLock()
        loaded = store.load()
        if loaded is None:
            self.current, self._etag = default_catalog(), None
        else:
            self.current, self._etag = loaded
        self._stored = loaded is not None
        self._next_refresh = 0.0

    def get(self, *, deadline: float) -> Catalog:
        """The catalogue to decide with.

        Refreshing is the background thread's work. Only an install that has
        never stored the platform's catalogue asks for it here, with a third
        of the check's budget, so that a slow catalogue cannot starve the
        profile request.
        """
        return self._client.run(self.get_steps(deadline=deadline))

    def get_steps(self, *, deadline: float) -> Steps[Catalog]:
        """:meth:`get` as steps (:mod:`._steps`), for the sync and async checkers."""
        if not self._stored and self._lock.acquire(blocking=False):
            try:
                if not self._stored:
                    yield from self.refresh_steps(
                        timeout=max(0.001, (deadline - time.monotonic()) / 3)
                    )
            finally:
                self._lock.release()
        return self.current

    def refresh(self, *, timeout: float, force: bool = False) -> bool:
        """Ask the platform for a newer catalogue (at most once per refresh period).

        ``True`` when a new one is in force.
        """
        return self._client.run(self.refresh_steps(timeout=timeout, force=force))

    def refresh_steps(self, *, timeout: float, force: bool = False) -> Steps[bool]:
        """:meth:`refresh` as steps (:mod:`._steps`)."""
        if not force and time.monotonic() < self._next_refresh:
            return False
        self._next_refresh = time.monotonic() + self._refresh
        try:
            fetched = yield from self._client.catalog_steps(self._etag, timeout=timeout)
        except PlatformError as exc:
            logger.warning("catalogue refresh failed, keeping %s: %s", self.current.version, exc)
            return False
        if fetched is None:
            self._stored = True  # 304: what is on disk is current
            return False
        catalog, etag, raw = fetched
        try:
            yield Offload(self._store.save, (catalog, etag, raw))
        except (OSError, ValueError) as exc:
            # Decide with the fetched catalogue anyway; it is stored on the next refresh.
            logger.warning("catalogue %s not stored on disk: %s", catalog.version, exc)
        if catalog.version != self.current.version:
            logger.info("catalogue %s in force (was %s)", catalog.version, self.current.version)
        self.current, self._etag = catalog, etag
        self._stored = True
        return True

    def version(self, version: str) -> Catalog | None:
        if version == self.current.version:
            return self.current
        if version == default_catalog().version:
            return default_catalog()
        return self._store.version(version)


class CreditChecker:
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
        self.data_dir: Path = settings.resolved_data_dir()
        try:
            make_private_dir(self.data_dir)  # 0700: its files hold personal ids
        except OSError as exc:
            raise CreditCheckError(f"cannot create data_dir {self.data_dir}: {exc}") from exc
        self._owns_storage = storage is None
        #: Where everything durable is kept (journal, follow-ups, snapshot …).
        self.storage: Storage = (
            storage if storage is not None else open_storage(settings, data_dir=self.data_dir)
        )
        #: The journal of this checker's storage.
        try:
            self.journal: JournalStore = self.storage.journal
            self.client = PlatformClient.from_settings(settings, transport=transport)
        except BaseException:
            if self._owns_storage:
                self.storage.close()
            raise
        self._cache = ProfileCache(
            maxsize=settings.cache_size, ttl=settings.cache_ttl, keep=settings.stale_cache_age
        )
        self._catalogs = _Catalogs(
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
        decisions: list[Decision] = yield Offload(self._journal_checks, ([prepared],))
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

        >>> ds = checker.must_check_many(["91442000MA4UJ2KQ57"], "bidding")  # doctest: +SKIP
        """
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
        catalog = yield from self._catalogs.get_steps(
            deadline=time.monotonic() + self.settings.timeout
        )
        require_matter(catalog, mat.category)
        self._offline.start()
        found: dict[str, Found] = {}
        wanted: list[str] = []
        for subj in parsed:
            cached = None if fresh else self._cache.get(subj.id)
            if cached is not None:
                found[subj.id] = Found(cached, "cache", degraded=False)
            elif subj.id not in found and subj.id not in wanted:
                wanted.append(subj.id)
        refusal: Reason | None = None
        for start in range(0, len(wanted), _BATCH):
            chunk = wanted[start : start + _BATCH]
            if not self._offline.breaker.allow():
                break
            try:
                batch = yield from self.client.profiles_steps(chunk)
            except PlatformError as exc:
                self._platform_failed(exc)
                refusal = refusal_reason(exc) or refusal
                logger.warning("profiles:batch failed for %d subjects: %s", len(chunk), exc)
                continue
            self._offline.breaker.record_success()
            for got in batch.profiles:
                if got.subject.id in chunk:
                    self._cache.put(got)
                    found[got.subject.id] = Found(got, "live", degraded=False)
        prepared = [
            self._prepare_check(
                subj,
                mat,
                catalog,
                found.get(subj.id) or self._fallback(subj, refusal),
                operator=operator,
                department=department,
            )
            for subj in parsed
        ]
        if not prepared:
            return []
        # One durable transaction for the whole batch: as safe, and one fsync, not N.
        decisions: list[Decision] = yield Offload(self._journal_checks, (prepared,))
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
    ) -> _Prepared:
        """Decide, and build the check record and its inputs (nothing written yet)."""
        checked_at = now()
        profile = found.profile
        verdict: Verdict = decide(
            profile,
            catalog,
            matter,
            on=checked_at.date(),
            clean_years_known=found.clean_years_known,
        )
        outcome = verdict.outcome
        reasons = list(verdict.reasons)
        if found.refusal is not None:
            reasons.insert(0, found.refusal)  # a misconfiguration first: a person must act
        if found.source == "snapshot" and profile is not None:
            reasons.append(
                _snapshot_reason(
                    profile.as_of.isoformat(), found.relations, feed_relations=found.feed_relations
                )
            )
            if found.relations is not None:
                reasons.append(_relations_reason(found.relations, checked_at))
        elif found.degraded and profile is not None:
            reasons.append(_stale_reason(profile.as_of.isoformat()))
        if (
            found.degraded
            and outcome is not Outcome.REVIEW
            and self.settings.degraded_policy.get(matter.category) == "review"
        ):
            outcome = Outcome.REVIEW
            reasons.append(_policy_reason(matter.category, verdict.outcome.value))
        check_id = new_record_id()
        dept = department if department is not None else self.settings.department
        data_as_of = profile.as_of if profile is not None else None
        record: dict[str, Any] = {
            "type": "check",
            "id": check_id,
            "agency_id": self.settings.agency_id,
            "checked_at": checked_at.isoformat(),
            "department": dept,
            "operator": operator,
            "matter": matter.ref(),
            "subject": {"id": subject.id, "kind": subject.kind},
            "outcome": outcome.value,
            "measures": [m.record() for m in verdict.measures],
            "source": found.source,
            "data_as_of": data_as_of.isoformat() if data_as_of else None,
            "recheck_of": recheck_of,
            "catalog_version": catalog.version,
            "sdk_version": __version__,
        }
        inputs = check_inputs(
            profile,
            matter,
            checked_at.date(),
            catalog.version,
            clean_years_known=found.clean_years_known,
            degraded=found.degraded,
            policy=self.settings.degraded_policy.get(matter.category, "default"),
            relations_as_of=(
                found.relations.as_of.isoformat() if found.relations is not None else None
            ),
        )
        # Built from values typed and checked here: no validation to run again.
        decision = Decision.model_construct(
            check_id=check_id,
            subject=subject,
            matter=matter,
            outcome=outcome,
            measures=verdict.measures,
            reasons=tuple(reasons),
            source=found.source,
            degraded=found.degraded,
            data_as_of=data_as_of,
            checked_at=checked_at,
            catalog_version=catalog.version,
            recheck_of=recheck_of,
        )
        return _Prepared(record, inputs, decision, found)

    def _journal_checks(self, prepared: list[_Prepared]) -> list[Decision]:
        """Write the check records durably (one transaction), then follow up on each."""
        if len(prepared) == 1:
            self.journal.append(prepared[0].record, inputs=prepared[0].inputs)
        else:
            self.journal.append_many([(p.record, p.inputs) for p in prepared])
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
                    decision.subject.id, _related_ids(found.profile) or []
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
                    extra=_check_log_fields(decision),
                )
            decision = self.plugins.annotate(decision)
            self.plugins.observe_decision(decision)
            decisions.append(decision)
        self._uploader.notify()
        return decisions

    # -- offline mode: snapshot, watches, re-checks ------------------------------------

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
        self._ensure_open()
        syncer = self._require_syncer()
        self._catalogs.refresh(timeout=min(timeout, 10.0), force=True)
        return syncer.sync_once(timeout, progress=progress)

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
            self._offline.followups.learn_related(subj.id, _related_ids(cached) or [])
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
            try:
                profile = self.client.get_profile(subject.id)
            except PlatformError as exc:
                self._platform_failed(exc)
                logger.info("re-check of %s postponed: %s", pending.check_id, exc)
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
            self._offline.followups.update_watch(
                watch.subject_id,
                watch.case_id,
                check_id=decision.check_id,
                outcome=decision.outcome.value,
                related_ids=_related_ids(found.profile) if found.source == "live" else None,
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

    # -- actions -------------------------------------------------------------------

    def record_action(
        self,
        check_id: str,
        action: Action,
        *,
        measure_ids: Sequence[str] | None = None,
        reason: str | None = None,
        operator: str | None = None,
    ) -> str:
        """Record what the flow did with a check's measures; returns the action record's id.

        ``not_applied`` and ``overridden`` need a ``reason``. ``measure_ids``
        defaults to every measure of the check.

        >>> checker.record_action(d.check_id, "applied", operator="u123")  # doctest: +SKIP
        """
        self._ensure_open()
        check_id = check_text(check_id, "check_id")
        check_choice(action, "action", _ACTIONS)
        if measure_ids is not None:
            measure_ids = check_texts(measure_ids, "measure_ids")
        reason = check_text(reason, "reason", max_length=LONG_TEXT, optional=True, multiline=True)
        operator = check_text(operator, "operator", optional=True)
        if action != "applied" and not (reason and reason.strip()):
            raise InvalidArgumentError(f"a {action} action needs a reason", argument="reason")
        check = self.journal.get(check_id)
        if check is None or check.get("type") != "check":
            raise InvalidRequestError(f"no check {check_id!r} in the journal")
        known = [m["id"] for m in check["measures"]]
        ids = list(known if measure_ids is None else measure_ids)
        unknown = sorted(set(ids) - set(known))
        if unknown:
            raise InvalidRequestError(
                f"check {check_id} has no measure {', '.join(unknown)}; "
                f"it has {', '.join(known) or 'none'}"
            )
        self.plugins.review_override(
            check_id=check_id, action=action, measure_ids=ids, reason=reason, operator=operator
        )
        action_id = new_record_id()
        self.journal.append(
            {
                "type": "action",
                "id": action_id,
                "check_id": check_id,
                "agency_id": self.settings.agency_id,
                "acted_at": now().isoformat(),
                "action": action,
                "measure_ids": ids,
                "reason": reason,
                "operator": operator,
            }
        )
        self._uploader.notify()
        self.plugins.observe_action(
            action_id=action_id,
            check_id=check_id,
            action=action,
            measure_ids=ids,
            reason=reason,
            operator=operator,
        )
        return action_id

    # -- disclosures (双公示) --------------------------------------------------------

    def disclose(
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
        """Publish a licensing or penalty decision (双公示, §四(三)); due 7 working days
        after ``decided_on``.

        ``kind`` is ``licensing`` (sent as the contract's ``licence``) or ``penalty``;
        ``decision_no`` the decision's number (文号), one disclosure per agency, kind and
        number (a repeat returns the one kept; the same number with other details
        raises :class:`InvalidRequestError`); ``decided_on`` a ``date`` (or
        ``YYYY-MM-DD``) not after today; ``content`` a JSON object published with it;
        ``check_id`` the credit check behind the decision (a check of ``subject`` in
        the journal). Every argument is checked first (:class:`InvalidArgumentError`,
        :class:`ArgumentTypeError`, :class:`InvalidSubjectError`); the disclosure is
        then on disk (``storage.disclosures``) before this returns, and the background
        uploader posts it (``POST /v1/disclosures``), again after failures, until the
        platform has it. :meth:`health` and ``credit-check disclosures pending`` show
        those not yet received; ``DisclosureDuty.state(today)`` says ``due``, ``late``
        or ``on_time``.

        >>> duty = checker.disclose("licensing", "91442000MA4UJ2KQ57", "中市监许〔2026〕1号",
        ...                         date(2026, 3, 2), "食品经营许可证核发",
        ...                         {"scope": "餐饮服务"}, check_id=d.check_id)  # doctest: +SKIP
        >>> duty.due_on  # doctest: +SKIP
        datetime.date(2026, 3, 11)
        """
        self._ensure_open()
        duty = make_duty(
            agency_id=self.settings.agency_id,
            kind=kind,
            subject=subject,
            decision_no=decision_no,
            decided_on=decided_on,
            title=title,
            content=content,
            check_id=check_id,
            today=today(),
        )
        if duty.check_id is not None:
            check_against(self.journal.get(duty.check_id), duty.check_id, duty.subject_id)
        store = self.storage.disclosures
        if not store.add(duty):
            kept = store.get(duty.disclosure_id)
            if kept is not None:
                duty = kept
        if not duty.posted:
            self._disclosures_added += 1
            self._disclosures_idle = False
            self._uploader.notify()
        logger.info(
            "disclosure %s (%s %s) kept, due %s",
            duty.disclosure_id,
            duty.kind,
            duty.decision_no,
            duty.due_on,
        )
        return duty

    def _post_disclosures(self) -> int:
        """The uploader's ``after_pass``: post the disclosures not yet received. Looks at
        the store on the first pass (those left by an earlier run), then only after a
        ``disclose()`` and while some wait, so that passes stay one query each."""
        if self._disclosures_idle:
            return 0
        if self._poster is None:
            self._poster = DisclosurePoster(self.storage.disclosures, self._send_disclosure)
        added = self._disclosures_added
        sent = self._poster()
        if not self._poster.waiting and added == self._disclosures_added:
            self._disclosures_idle = True  # a disclose() meanwhile leaves it busy
        return sent

    def _send_disclosure(self, disclosure: Disclosure) -> DisclosureReceipt:
        return self.client.disclose(disclosure, timeout=max(30.0, self.settings.timeout))

    # -- objections and commitments ------------------------------------------------

    def file_objection(self, check_id: str, entry_id: str, reason: str, submitted_by: str) -> str:
        """File a subject's objection to an entry behind a check (§五(三)); returns its id.

        While the platform verifies it, the entry is ``objection_pending`` and
        the punishment it triggers is suspended. The subject's cached profile
        is dropped so the next check sees that at once. Raises
        :class:`PlatformError` when the platform cannot take it.

        >>> oid = checker.file_objection(d.check_id, "BL-2026-000123",
        ...                              "已履行判决", submitted_by="u123")  # doctest: +SKIP
        """
        self._ensure_open()
        check_id = check_text(check_id, "check_id")
        entry_id = check_text(entry_id, "entry_id")
        reason = check_text(reason, "reason", max_length=LONG_TEXT, multiline=True)
        submitted_by = check_text(submitted_by, "submitted_by")
        check = self.journal.get(check_id)
        if check is None or check.get("type") != "check":
            raise InvalidRequestError(f"no check {check_id!r} in the journal")
        entries = {e for m in check["measures"] for e in m["entry_ids"]}
        if entry_id not in entries:
            raise InvalidRequestError(
                f"entry {entry_id!r} is not behind check {check_id}; "
                f"its entries are {sorted(entries) or 'none'}"
            )
        subject_id = check["subject"]["id"]
        answer = self.client.post(
            "/v1/objections",
            {
                "subject_id": subject_id,
                "entry_id": entry_id,
                "check_id": check_id,
                "reason": reason,
                "submitted_by": submitted_by,
            },
            ok=(202, 200, 201),
        )
        objection_id = answer.get("objection_id")
        if not isinstance(objection_id, str):
            raise InvalidResponseError("objections: the answer has no objection_id")
        self._cache.drop(subject_id)
        # Local bookkeeping for the monthly report; not a journal record, never uploaded.
        self.storage.objections.record(objection_id, check_id, entry_id, subject_id)
        logger.info("objection %s filed against %s (check %s)", objection_id, entry_id, check_id)
        return objection_id

    def objection_status(self, objection_id: str) -> dict[str, Any]:
        """The objection as the platform reports it: ``status`` is verifying, upheld or rejected.

        >>> checker.objection_status(oid)["status"]  # doctest: +SKIP
        'verifying'
        """
        self._ensure_open()
        objection_id = check_text(objection_id, "objection_id")
        answer = self.client.get(f"/v1/objections/{quote(objection_id, safe='')}")
        status = answer.get("status")
        if status in ("verifying", "upheld", "rejected"):
            self.storage.objections.update(objection_id, status)
        return answer

    # -- catalogue, upload, lifecycle --------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The measures catalogue in force."""
        return self._catalogs.current

    def refresh_catalog(self) -> bool:
        """Ask the platform for a newer catalogue now; ``True`` when one was stored."""
        return self._catalogs.refresh(timeout=self.settings.timeout, force=True)

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
