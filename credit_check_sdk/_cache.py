"""The in-memory profile cache: bounded, with a time to live, safe across threads.

A profile is *fresh* for ``ttl`` seconds: checks reuse it without asking the
platform. It is kept up to ``keep`` seconds in all, so that when the platform
fails a recent profile can still decide (a degraded decision) before the
offline snapshot is consulted.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from cachetools import TTLCache

from ._fork import ShortLock
from ._models import Profile

__all__ = ["ProfileCache"]


class ProfileCache:
    """Profiles by subject id: fresh for ``ttl`` seconds, kept ``keep`` seconds, ``maxsize`` in all.

    >>> cache = ProfileCache(maxsize=10, ttl=60)
    >>> cache.get("91442000MA4UJ2KQ57") is None
    True
    """

    def __init__(self, *, maxsize: int, ttl: float, keep: float = 0.0) -> None:
        self.ttl = ttl
        keep = max(ttl, keep)
        self._enabled = maxsize > 0 and keep > 0
        self._data: TTLCache[str, tuple[Profile, float]] = TTLCache(
            maxsize=max(maxsize, 1), ttl=max(keep, 1e-9), timer=time.monotonic
        )
        # cachetools caches are not thread-safe; checks run on many threads at once.
        # A ShortLock: a fork waits until no thread is half-way through an update.
        self._lock = ShortLock()

    def get(self, subject_id: str, max_age: float | None = None) -> Profile | None:
        """The cached profile if fetched at most ``max_age`` (default ``ttl``) seconds ago."""
        if not self._enabled:
            return None
        with self._lock:
            hit = self._data.get(subject_id)
        if hit is None:
            return None
        profile, fetched = hit
        limit = self.ttl if max_age is None else max_age
        return profile if time.monotonic() - fetched <= limit else None

    def get_many(self, subject_ids: Iterable[str]) -> dict[str, Profile]:
        """The fresh cached profiles of ``subject_ids`` (as :meth:`get`), by id, under one
        taking of the lock (a batch of checks asks for a thousand at once).

        >>> ProfileCache(maxsize=10, ttl=60).get_many(["91442000MA4UJ2KQ57"])
        {}
        """
        if not self._enabled:
            return {}
        with self._lock:
            hits = [(i, self._data.get(i)) for i in subject_ids]
        now = time.monotonic()
        return {i: hit[0] for i, hit in hits if hit is not None and now - hit[1] <= self.ttl}

    def put_many(self, profiles: Iterable[Profile]) -> None:
        """Cache each of ``profiles`` (as :meth:`put`), under one taking of the lock."""
        if self._enabled:
            at = time.monotonic()
            with self._lock:
                for profile in profiles:
                    self._data[profile.subject.id] = (profile, at)

    def put(self, profile: Profile) -> None:
        """Cache ``profile`` under its subject id."""
        if self._enabled:
            with self._lock:
                self._data[profile.subject.id] = (profile, time.monotonic())

    def drop(self, subject_id: str) -> None:
        """Forget a subject (after an objection, say, its profile has changed)."""
        with self._lock:
            self._data.pop(subject_id, None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
