"""The in-memory profile cache: bounded, with a time to live, safe across threads.

A profile is *fresh* for ``ttl`` seconds: checks reuse it without asking the
platform. It is kept up to ``keep`` seconds in all, so that when the platform
fails a recent profile can still decide (a degraded decision) before the
offline snapshot is consulted.
"""

from __future__ import annotations

import time

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
