"""What a check was decided from (its journaled ``inputs``), built once per distinct input.

A busy counter checks the same subjects again and again from cached
profiles: the inputs of those checks (the profile, the matter, the day, the
catalogue version, how the profile was found) are equal, and so is their
JSON text. :func:`check_inputs` hands out one read-only
``SerialisedInputs`` (``storage._journal_core``) per distinct input, so
the profile is dumped, serialised and hashed once, not at every check; the
journal stores such inputs once (by their hash) all the same.

>>> from datetime import date
>>> from credit_check_sdk._models import Matter
>>> a = check_inputs(None, Matter("bidding"), date(2026, 12, 3), "2026.12.1",
...                  clean_years_known=True, degraded=False, policy="default")
>>> a is check_inputs(None, Matter("bidding"), date(2026, 12, 3), "2026.12.1",
...                   clean_years_known=True, degraded=False, policy="default")
True
>>> a["on"], a.text[:10]
('2026-12-03', '{"catalog_')
>>> b = check_inputs(None, Matter("bidding"), date(2026, 12, 4), "2026.12.1",
...                  clean_years_known=True, degraded=False, policy="default", remember=False)
>>> b is check_inputs(None, Matter("bidding"), date(2026, 12, 4), "2026.12.1",
...                   clean_years_known=True, degraded=False, policy="default")
False
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ._models import Matter, Profile
from .storage._journal_core import SerialisedInputs

__all__ = ["check_inputs"]

#: Distinct inputs remembered; past it the memory starts again (a day's subjects fit).
_KEEP = 2048

# key -> (the profile, kept so that its id() is not reused while the key lives; the inputs)
_memo: dict[tuple[Any, ...], tuple[Profile | None, SerialisedInputs]] = {}


def check_inputs(
    profile: Profile | None,
    matter: Matter,
    on: date,
    catalog_version: str,
    *,
    clean_years_known: bool,
    degraded: bool,
    policy: str,
    relations_as_of: str | None = None,
    remember: bool = True,
) -> SerialisedInputs:
    """The inputs of a check decided from ``profile`` (``None``: no data) on ``on``.

    The same object for equal arguments and the same ``profile`` object
    (profiles are frozen, and a cached one is the same object at every check).
    ``remember=False``: made afresh unless remembered already, and not kept (a
    profile just fetched is seldom checked again before the next one replaces
    it, and ``must_check_many`` would keep a thousand inputs it never reuses: a
    third of what the garbage collector walks after the call).

    >>> check_inputs(None, Matter("bidding"), date(2026, 12, 3), "v",
    ...              clean_years_known=False, degraded=True, policy="review")["degraded"]
    True
    """
    key = (
        id(profile),
        matter,
        on,
        catalog_version,
        clean_years_known,
        degraded,
        policy,
        relations_as_of,
    )
    found = _memo.get(key)
    if found is not None and found[0] is profile:
        return found[1]
    values: dict[str, Any] = {
        "matter": matter.model_dump(mode="json"),
        "on": on.isoformat(),
        "catalog_version": catalog_version,
        "clean_years_known": clean_years_known,
        "degraded": degraded,
        "degraded_policy": policy,
        "profile": profile.model_dump(mode="json") if profile is not None else None,
    }
    if relations_as_of is not None:
        # The profile's related persons were learnt earlier, not fetched with it.
        values["relations_as_of"] = relations_as_of
    inputs = SerialisedInputs(values)
    if not remember:
        return inputs
    if len(_memo) >= _KEEP:
        _memo.clear()
    _memo[key] = (profile, inputs)
    return inputs
