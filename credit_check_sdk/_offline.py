"""What keeps checks going through platform outages, and what follows them up afterwards.

:class:`Offline` holds the pieces the contract's "When the platform is down"
asks for, so that :class:`~credit_check_sdk.CreditChecker` only asks two
questions of it: *may I call the platform now?* (the circuit breaker) and
*what do I know without it?* (a recently cached profile, then the snapshot).

One background thread (started on the first check, again after ``fork()``,
stopped by ``close()``) runs a maintenance pass every ``sync_interval``
seconds: it refreshes the catalogue, follows the change feed into the
snapshot (so snapshot and rules travel together), re-checks the watched
subjects a change touches, and re-checks degraded decisions once the platform
answers. Nothing it does can raise into or block a caller.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ._breaker import CircuitBreaker
from ._client import PlatformClient
from ._exceptions import JournalError, PlatformError, ProblemError, RateLimitedError, ServerError
from ._fork import ShortLock
from ._ids import mask_id
from ._models import Profile, Reason, Source, SubjectRef
from ._sync import Syncer, SyncResult
from ._sync_thread import SyncThread
from ._time import now
from .storage import (
    FollowupStore,
    LearntRelations,
    RelationStore,
    SnapshotError,
    SnapshotStore,
    Storage,
)

__all__ = ["NONE", "Found", "Offline", "platform_failed"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Found:
    """Where a check's data came from, and what it can be trusted for."""

    profile: Profile | None
    source: Source
    degraded: bool
    #: False from the snapshot: it holds no adverse records, so no clean-years incentive.
    clean_years_known: bool = True
    #: From the snapshot: the relations learnt from live profiles that filled
    #: ``profile.related`` (``None``: no relation known, ``related`` is empty).
    relations: LearntRelations | None = None
    #: Why the platform refused the request (credentials, permission, clock), if it did.
    refusal: Reason | None = None
    #: From the snapshot: ``profile.related`` are the relations of the change feed
    #: (contract v2), which the snapshot keeps beside the entries.
    feed_relations: bool = False


NONE = Found(None, "none", degraded=True)


class Offline:
    """Breaker, snapshot, sync and follow-ups of one checker, on its ``storage``.

    The stores are the storage's (closed with it, not here); without the offline
    mode (``enabled=False``) neither the snapshot nor the learnt relations are opened.
    """

    def __init__(
        self,
        *,
        storage: Storage,
        client: PlatformClient,
        enabled: bool,
        max_snapshot_age: float,
        max_relation_age: float,
        sync_interval: float,
        breaker_threshold: int,
        breaker_cooldown: float,
        maintenance: Callable[[], None],
        on_changes: Callable[[list[str]], None],
    ) -> None:
        self.max_snapshot_age = max_snapshot_age
        self.max_relation_age = max_relation_age
        self.followups: FollowupStore = storage.followups
        self.snapshot: SnapshotStore | None = storage.snapshot if enabled else None
        # Only the snapshot decisions use learnt relations: without a snapshot, none are kept.
        self.relations: RelationStore | None = storage.relations if enabled else None
        self.syncer: Syncer | None = (
            Syncer(self.snapshot, client, on_change=on_changes)
            if self.snapshot is not None
            else None
        )
        self._maintenance = maintenance
        self.breaker = CircuitBreaker(
            threshold=breaker_threshold,
            cooldown=breaker_cooldown,
            # A refusal of the credentials or clock is an answer: the platform is up.
            probe=lambda: client.answers(timeout=min(5.0, breaker_cooldown)),
            on_close=self.wake,
        )
        # Per request of a background pass: long enough for a 5000-entry page on a slow
        # government network, short enough that close() is not held up for long.
        self.thread = SyncThread(self, interval=sync_interval, timeout=15.0)
        self._started = False
        self._lock = ShortLock()

    # -- the background pass -----------------------------------------------------------

    def start(self) -> None:
        """Start the background thread on first use (cheap afterwards; restarts after fork)."""
        if not self._started:
            with self._lock:
                if not self._started:
                    self._started = True
                    self.thread.start()
                    return
        self.thread.ensure_running()

    def wake(self) -> None:
        """Run a pass now (the platform is back, say)."""
        if self._started:
            self.thread.wake()

    def sync_once(
        self, timeout: float | None = None, *, stop: threading.Event | None = None
    ) -> SyncResult:
        """One maintenance pass; platform faults raise so the thread backs off and logs."""
        self._maintenance()
        if self.syncer is None:
            return SyncResult(0, 0, 0, 0, False, None, None)
        return self.syncer.sync_once(timeout, stop=stop)

    # -- degraded data -----------------------------------------------------------------

    def snapshot_age(self) -> timedelta | None:
        """Age of the snapshot's data, or ``None`` without a completed sync."""
        if self.snapshot is None:
            return None
        try:
            return self.snapshot.age()
        except SnapshotError:
            return None

    def learn_relations(self, profiles: list[Profile]) -> None:
        """Keep the relations of live profiles for snapshot decisions; never raises.

        A failure to store them costs only what a later outage could have known,
        so it is logged, not raised into a check that is already journaled.
        """
        if self.relations is None or not profiles:
            return
        try:
            self.relations.learn(profiles)
        except JournalError as exc:
            logger.warning(
                "relations of %s not stored: %s",
                ", ".join(mask_id(p.subject.id) for p in profiles[:3])
                + (" …" if len(profiles) > 3 else ""),
                exc,
            )

    def _learnt(self, subject_id: str) -> LearntRelations | None:
        if self.relations is None:
            return None
        try:
            return self.relations.known(subject_id, max_age=self.max_relation_age)
        except JournalError as exc:
            # Deciding without them is what the SDK did before it learnt any.
            logger.warning("learnt relations unreadable: %s", exc)
            return None

    def from_snapshot(self, subject_id: str, kind: Any) -> Found:
        """A degraded profile from the snapshot, if it is there and young enough.

        Its ``related`` are the relations the change feed sent (both ways), or,
        from a platform that sends none, those learnt from the subject's last
        live profile (up to ``max_relation_age`` old); each party's entries are
        taken from the snapshot.
        """
        if self.snapshot is None:
            return NONE
        try:
            age = self.snapshot.age()
            if age is None or age.total_seconds() > self.max_snapshot_age:
                if age is not None:
                    logger.debug("snapshot too old to decide from (%s)", age)
                return NONE
            # The feed's relations when the platform sends them (contract v2); else
            # those learnt from the subject's last live profile.
            related = self.snapshot.related_for(subject_id)
            from_feed = related is not None
            learnt = None if from_feed else self._learnt(subject_id)
            if related is None:
                related = [
                    (r.role, SubjectRef.model_construct(id=r.subject_id, kind=r.kind, name=None))
                    for r in (learnt.relations if learnt is not None else ())
                ]
            profile = self.snapshot.profile_for(subject_id, kind, related=related)
        except SnapshotError as exc:
            logger.warning("snapshot unreadable: %s", exc)
            return NONE
        if profile is None:
            return NONE
        return Found(
            profile,
            "snapshot",
            degraded=True,
            clean_years_known=False,
            relations=learnt,
            feed_relations=from_feed,
        )

    def health(self) -> dict[str, Any]:
        """Breaker, snapshot, background thread and follow-ups, for a health page."""
        snapshot: dict[str, Any] | None = None
        if self.snapshot is not None:
            try:
                status = self.snapshot.status()
                age = self.snapshot_age()
                snapshot = {
                    "entries": status.entries,
                    "as_of": status.as_of.isoformat() if status.as_of else None,
                    "age_seconds": age.total_seconds() if age is not None else None,
                    "max_age_seconds": self.max_snapshot_age,
                    "usable": age is not None and age.total_seconds() <= self.max_snapshot_age,
                    "cursor": status.cursor,
                    "path": str(status.path) if status.path is not None else None,
                }
            except SnapshotError as exc:
                snapshot = {"error": str(exc), "usable": False}
        relations: dict[str, Any] | None = None
        if self.relations is not None:
            try:
                relations = {**self.relations.counts(), "max_age_seconds": self.max_relation_age}
            except JournalError as exc:
                relations = {"error": str(exc)}
        return {
            "breaker": self.breaker.snapshot(),
            "snapshot": snapshot,
            "background": self.thread.stats(),
            "followups": self.followups.counts(),
            "relations": relations,
            "checked_at": now().isoformat(),
        }

    def close(self, timeout: float) -> bool:
        """Stop the thread and the probe; ``True`` when the thread has ended.

        A thread still inside a request when ``timeout`` runs out is a daemon:
        the stores it uses must be left open for it (closing them under it would
        turn a late answer into an error); they go with the process.
        """
        stopped = self.thread.stop(timeout)
        self.breaker.close()
        if self.syncer is not None:
            self.syncer.close()
        if not stopped:
            logger.info("background pass still running at close; its files stay open")
        return stopped


def platform_failed(exc: PlatformError) -> bool:
    """Whether an error says the platform is unwell (counts towards the breaker).

    A 4xx other than 429 is an answer about the request, not a sick platform.
    """
    if isinstance(exc, ProblemError):
        return isinstance(exc, (ServerError, RateLimitedError))
    return True
