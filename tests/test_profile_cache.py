"""The profile cache's batch calls agree with its one-at-a-time calls.

``must_check_many`` asks the cache for a thousand subjects at once and caches a
platform answer's profiles at once (one taking of the lock each, instead of one
per subject): what it gets must be what :meth:`ProfileCache.get` would give.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from credit_check_sdk._cache import ProfileCache
from credit_check_sdk._models import Profile, SubjectRef

IDS = ["91442000MA4UJ2KQ57", "91440000MA4UJ2KQ5X"]


def _profile(subject_id: str) -> Profile:
    return Profile(
        subject=SubjectRef(id=subject_id, kind="legal_entity"),
        as_of=datetime(2026, 12, 3, tzinfo=timezone.utc),
        record_since=None,
        last_adverse_on=None,
        entries=(),
        related=(),
    )


def test_put_many_then_get_many_and_get_agree() -> None:
    cache = ProfileCache(maxsize=10, ttl=60)
    profiles = [_profile(i) for i in IDS]
    cache.put_many(profiles)
    got = cache.get_many([*IDS, "91110000600037341L"])
    assert got == dict(zip(IDS, profiles, strict=True))
    assert all(got[i] is cache.get(i) for i in IDS)


def test_get_many_leaves_out_what_is_no_longer_fresh_but_kept() -> None:
    cache = ProfileCache(maxsize=10, ttl=0.05, keep=60)
    cache.put_many([_profile(IDS[0])])
    time.sleep(0.1)
    cache.put(_profile(IDS[1]))
    assert list(cache.get_many(IDS)) == [IDS[1]]
    assert cache.get(IDS[0]) is None
    assert cache.get(IDS[0], max_age=60) is not None  # kept for a degraded decision


def test_a_disabled_cache_keeps_nothing() -> None:
    cache = ProfileCache(maxsize=0, ttl=60)
    cache.put_many([_profile(IDS[0])])
    assert cache.get_many(IDS) == {}
    assert len(cache) == 0
