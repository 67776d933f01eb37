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

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

from ._cache import ProfileCache
from ._client import PlatformClient
from ._config import Settings
from ._exceptions import (
    CreditCheckError,
    InvalidRequestError,
    InvalidResponseError,
    InvalidSubjectError,
    PlatformError,
)
from ._ids import mask_id
from ._models import Catalog, Decision, Matter, Profile, Source, Subject
from ._time import now
from ._transports import BaseTransport
from ._uploader import Uploader
from ._version import __version__
from .catalogue import CatalogStore, default_catalog
from .decision import Verdict, decide, require_matter
from .journal import Journal

__all__ = ["CreditChecker"]

logger = logging.getLogger(__name__)

Action = Literal["applied", "not_applied", "overridden"]
_ACTIONS = ("applied", "not_applied", "overridden")
_BATCH = 200


class _Catalogs:
    """The catalogue in force: from disk, refreshed from the platform with ETags.

    Refreshing happens at most once per ``refresh`` seconds, by one thread at
    a time; other threads keep deciding with the catalogue they have.
    """

    def __init__(self, store: CatalogStore, client: PlatformClient, refresh: float) -> None:
        self._store = store
        self._client = client
        self._refresh = refresh
        self._lock = threading.Lock()
        loaded = store.load()
        if loaded is None:
            self.current, self._etag = default_catalog(), None
        else:
            self.current, self._etag = loaded
        self._next_refresh = 0.0  # refresh on first use

    def get(self, *, timeout: float) -> Catalog:
        if time.monotonic() >= self._next_refresh and self._lock.acquire(blocking=False):
            try:
                self.refresh(timeout=timeout)
            finally:
                self._lock.release()
        return self.current

    def refresh(self, *, timeout: float) -> bool:
        """Ask the platform for a newer catalogue; ``True`` when one was stored."""
        self._next_refresh = time.monotonic() + self._refresh
        try:
            fetched = self._client.get_catalog(self._etag, timeout=timeout)
        except PlatformError as exc:
            logger.warning("catalogue refresh failed, keeping %s: %s", self.current.version, exc)
            return False
        if fetched is None:
            return False
        catalog, etag, raw = fetched
        try:
            self._store.save(catalog, etag, raw)
        except (OSError, ValueError) as exc:
            # Decide with the fetched catalogue anyway; it is stored on the next refresh.
            logger.warning("catalogue %s not stored on disk: %s", catalog.version, exc)
        if catalog.version != self.current.version:
            logger.info("catalogue %s in force (was %s)", catalog.version, self.current.version)
        self.current, self._etag = catalog, etag
        return True

    def version(self, version: str) -> Catalog | None:
        if version == self.current.version:
            return self.current
        if version == default_catalog().version:
            return default_catalog()
        return self._store.version(version)


class CreditChecker:
    """Checks subjects against the platform, decides, journals and uploads.

    Settings are keywords (see :class:`~credit_check_sdk._config.Settings`);
    any not given are read from the ``CREDIT_CHECK_*`` environment variables.

    >>> from credit_check_sdk.testing import FakePlatform
    >>> fake = FakePlatform()
    >>> fake.add_entry("91442000MA4UJ2KQ57", "black", "court_judgment_defaulter")
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
        **options: Any,
    ) -> None:
        if settings is None:
            settings = Settings.build(**options)
        elif options:
            settings = settings.model_copy(update=options)
        self.settings = settings
        self.data_dir: Path = settings.resolved_data_dir()
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CreditCheckError(f"cannot create data_dir {self.data_dir}: {exc}") from exc
        self.client = PlatformClient(
            settings.base_url,
            settings.app_id,
            settings.app_secret.get_secret_value(),
            transport=transport,
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
            max_response_bytes=settings.max_response_bytes,
            allow_insecure_http=settings.allow_insecure_http,
            verify_tls=settings.verify_tls,
        )
        self.journal = Journal(self.data_dir / "journal.sqlite3")
        self._cache = ProfileCache(maxsize=settings.cache_size, ttl=settings.cache_ttl)
        self._catalogs = _Catalogs(
            CatalogStore(self.data_dir / "catalog"), self.client, settings.catalog_refresh
        )
        self._uploader = Uploader(
            self.journal,
            self._send_records,
            interval=settings.upload_interval,
        )
        self._closed = False

    # -- checks --------------------------------------------------------------------

    def must_check(
        self,
        subject: Subject | str,
        matter: Matter | str,
        *,
        operator: str | None = None,
        department: str | None = None,
    ) -> Decision:
        """Check one subject for one matter; the decision is journaled before it returns.

        >>> d = checker.must_check("91442000MA4UJ2KQ57", "bidding")  # doctest: +SKIP
        >>> d.outcome, d.source  # doctest: +SKIP
        (<Outcome.RESTRICTION: 'restriction'>, 'live')

        Raises :class:`InvalidSubjectError` or :class:`UnknownMatterError` on bad
        input, before any request; never raises for a platform fault.
        """
        self._ensure_open()
        subj = Subject.parse(subject)
        mat = Matter.parse(matter)
        started = time.monotonic()
        catalog = self._catalogs.get(timeout=self.settings.timeout)
        require_matter(catalog, mat.category)
        profile, source = self._profile(subj, deadline=started + self.settings.timeout)
        return self._decide_and_journal(
            subj, mat, catalog, profile, source, operator=operator, department=department
        )

    def must_check_many(
        self,
        subjects: Iterable[Subject | str],
        matter: Matter | str,
        *,
        operator: str | None = None,
        department: str | None = None,
    ) -> list[Decision]:
        """Check many subjects for one matter, 200 to a platform request; one record each.

        Every id is validated first: one bad id raises :class:`InvalidSubjectError`
        naming its position, and nothing is sent.

        >>> ds = checker.must_check_many(["91442000MA4UJ2KQ57"], "bidding")  # doctest: +SKIP
        """
        self._ensure_open()
        parsed: list[Subject] = []
        for position, value in enumerate(subjects):
            try:
                parsed.append(Subject.parse(value))
            except InvalidSubjectError as exc:
                raise InvalidSubjectError(
                    f"subject #{position}: {exc}", value=exc.value, reason=exc.reason
                ) from exc
        mat = Matter.parse(matter)
        catalog = self._catalogs.get(timeout=self.settings.timeout)
        require_matter(catalog, mat.category)
        found: dict[str, tuple[Profile, Source]] = {}
        wanted: list[str] = []
        for subj in parsed:
            cached = self._cache.get(subj.id)
            if cached is not None:
                found[subj.id] = (cached, "cache")
            elif subj.id not in found and subj.id not in wanted:
                wanted.append(subj.id)
        for start in range(0, len(wanted), _BATCH):
            chunk = wanted[start : start + _BATCH]
            try:
                batch = self.client.get_profiles(chunk)
            except PlatformError as exc:
                logger.warning("profiles:batch failed for %d subjects: %s", len(chunk), exc)
                continue
            for got in batch.profiles:
                if got.subject.id in chunk:
                    self._cache.put(got)
                    found[got.subject.id] = (got, "live")
        decisions = []
        for subj in parsed:
            hit = found.get(subj.id)
            profile: Profile | None = hit[0] if hit else None
            source: Source = hit[1] if hit else "none"
            decisions.append(
                self._decide_and_journal(
                    subj, mat, catalog, profile, source, operator=operator, department=department
                )
            )
        return decisions

    def _profile(self, subject: Subject, *, deadline: float) -> tuple[Profile | None, Source]:
        cached = self._cache.get(subject.id)
        if cached is not None:
            return cached, "cache"
        try:
            profile = self.client.get_profile(
                subject.id, timeout=max(0.001, deadline - time.monotonic())
            )
        except PlatformError as exc:
            logger.warning("profile of %s unavailable: %s", mask_id(subject.id), exc)
            return None, "none"
        self._cache.put(profile)
        return profile, "live"

    def _decide_and_journal(
        self,
        subject: Subject,
        matter: Matter,
        catalog: Catalog,
        profile: Profile | None,
        source: Source,
        *,
        operator: str | None,
        department: str | None,
        recheck_of: str | None = None,
    ) -> Decision:
        checked_at = now()
        verdict: Verdict = decide(profile, catalog, matter, on=checked_at.date())
        check_id = str(uuid.uuid4())
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
            "outcome": verdict.outcome.value,
            "measures": [m.record() for m in verdict.measures],
            "source": source,
            "data_as_of": data_as_of.isoformat() if data_as_of else None,
            "recheck_of": recheck_of,
            "catalog_version": catalog.version,
            "sdk_version": __version__,
        }
        inputs = {
            "matter": matter.model_dump(mode="json"),
            "on": checked_at.date().isoformat(),
            "catalog_version": catalog.version,
            "clean_years_known": True,
            "profile": profile.model_dump(mode="json") if profile is not None else None,
        }
        self.journal.append(record, inputs=inputs)
        self._uploader.notify()
        decision = Decision(
            check_id=check_id,
            subject=subject,
            matter=matter,
            outcome=verdict.outcome,
            measures=verdict.measures,
            reasons=verdict.reasons,
            source=source,
            degraded=source not in ("live", "cache"),
            data_as_of=data_as_of,
            checked_at=checked_at,
            catalog_version=catalog.version,
            recheck_of=recheck_of,
        )
        logger.info(
            "check %s: %s for %s -> %s (%s)",
            check_id,
            mask_id(subject.id),
            matter.category,
            verdict.outcome.value,
            source,
        )
        return decision

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
        if action not in _ACTIONS:
            raise InvalidRequestError(
                f"action must be one of {', '.join(_ACTIONS)}, not {action!r}"
            )
        if action != "applied" and not (reason and reason.strip()):
            raise InvalidRequestError(f"a {action} action needs a reason")
        check = self.journal.get(check_id)
        if check is None or check.get("type") != "check":
            raise InvalidRequestError(f"no check {check_id!r} in the journal")
        known = [m["id"] for m in check["measures"]]
        ids = list(known if measure_ids is None else measure_ids)
        unknown = sorted(set(ids) - set(known))
        if unknown:
            raise InvalidRequestError(
                f"check {check_id} has no measure {', '.join(unknown)}; it has {known or 'none'}"
            )
        action_id = str(uuid.uuid4())
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
        return action_id

    # -- objections and commitments ------------------------------------------------

    def file_objection(
        self, check_id: str, entry_id: str, reason: str, submitted_by: str
    ) -> str:
        """File a subject's objection to an entry behind a check (§五(三)); returns its id.

        While the platform verifies it, the entry is ``objection_pending`` and
        the punishment it triggers is suspended. The subject's cached profile
        is dropped so the next check sees that at once. Raises
        :class:`PlatformError` when the platform cannot take it.

        >>> oid = checker.file_objection(d.check_id, "BL-2026-000123",
        ...                              "已履行判决", submitted_by="u123")  # doctest: +SKIP
        """
        self._ensure_open()
        if not reason.strip():
            raise InvalidRequestError("an objection needs a reason")
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
        logger.info("objection %s filed against %s (check %s)", objection_id, entry_id, check_id)
        return objection_id

    def objection_status(self, objection_id: str) -> dict[str, Any]:
        """The objection as the platform reports it: ``status`` is verifying, upheld or rejected.

        >>> checker.objection_status(oid)["status"]  # doctest: +SKIP
        'verifying'
        """
        self._ensure_open()
        return self.client.get(f"/v1/objections/{quote(objection_id, safe='')}")

    # -- catalogue, upload, lifecycle --------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The measures catalogue in force."""
        return self._catalogs.current

    def refresh_catalog(self) -> bool:
        """Ask the platform for a newer catalogue now; ``True`` when one was stored."""
        return self._catalogs.refresh(timeout=self.settings.timeout)

    def _send_records(self, records: list[dict[str, Any]]) -> Any:
        return self.client.upload_records(records, timeout=max(30.0, self.settings.timeout))

    def flush(self, timeout: float = 10.0) -> int:
        """Upload pending journal records now; returns how many are still pending.

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
        try:
            self._uploader.close(timeout=timeout)
        finally:
            self.client.close()
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
