"""Decision models built without validation: the decision engine's hot path.

A verdict is made of many small frozen models (:class:`Reason`,
:class:`DecidedMeasure`) whose values the engine has built itself from a
validated catalogue and profile. Building them through pydantic's validation
(or even ``model_construct``) was most of the cost of a decision, so
:func:`reason` and :func:`decided_measure` set their fields directly, after
checking once (:func:`fast_path_sound`) that this builds exactly what
validation builds under the installed pydantic; otherwise they validate.

Nothing here decides anything: the rules are all in :mod:`credit_check_sdk.decision`.

>>> reason("甲", "a") == Reason(zh="甲", en="a")
True
"""

from __future__ import annotations

from ._models import DecidedMeasure, Decision, Reason, Title

__all__ = [
    "REASON_FIELDS",
    "decided_measure",
    "decision",
    "fast_ok",
    "fast_path_sound",
    "reason",
]

REASON_FIELDS = frozenset(("zh", "en"))
_MEASURE_FIELDS = frozenset(DecidedMeasure.model_fields)
_DECISION_FIELDS = frozenset(Decision.model_fields)
_setattr = object.__setattr__


def _reason_unchecked(zh: str, en: str) -> Reason:
    # What model_construct does for a frozen model without extras, private
    # attributes or post-init, minus its per-field loop: model_construct alone
    # was most of the cost of a decision. The values are typed and trusted.
    r = object.__new__(Reason)
    _setattr(r, "__dict__", {"zh": zh, "en": en})
    _setattr(r, "__pydantic_fields_set__", REASON_FIELDS)
    _setattr(r, "__pydantic_extra__", None)
    _setattr(r, "__pydantic_private__", None)
    return r


def _measure_unchecked(values: dict[str, object]) -> DecidedMeasure:
    m = object.__new__(DecidedMeasure)
    _setattr(m, "__dict__", values)
    _setattr(m, "__pydantic_fields_set__", _MEASURE_FIELDS)
    _setattr(m, "__pydantic_extra__", None)
    _setattr(m, "__pydantic_private__", None)
    return m


def _decision_unchecked(values: dict[str, object]) -> Decision:
    d = object.__new__(Decision)
    _setattr(d, "__dict__", values)
    # A set of its own, as validation gives: model_copy(update=...) adds to it.
    _setattr(d, "__pydantic_fields_set__", set(_DECISION_FIELDS))
    _setattr(d, "__pydantic_extra__", None)
    _setattr(d, "__pydantic_private__", None)
    return d


def fast_path_sound() -> bool:
    """True when the shortcut builds exactly what validation builds.

    Should a pydantic release change its internals, the engine falls back to
    validation instead of returning subtly broken models.

    >>> fast_path_sound()
    True
    """
    try:
        title = Title(zh="标题", en="title")
        values: dict[str, object] = {
            "id": "P-X",
            "kind": "punishment",
            "effect": "restrict",
            "mandatory": True,
            "status": "applied",
            "entry_ids": ("BL-1",),
            "title": title,
            "basis": "b",
            "points": None,
        }
        fast_m = _measure_unchecked(dict(values))
        fast_r = _reason_unchecked("甲", "a")
        from datetime import datetime, timedelta, timezone

        from ._models import Matter, Outcome, Subject

        at = datetime(2026, 12, 3, 9, 30, tzinfo=timezone(timedelta(hours=8)))
        decided: dict[str, object] = {
            "check_id": "c1",
            "subject": Subject.parse("91442000MA4UJ2KQ57"),
            "matter": Matter("bidding"),
            "outcome": Outcome.RESTRICTION,
            "measures": (fast_m,),
            "reasons": (fast_r,),
            "source": "live",
            "degraded": False,
            "data_as_of": at,
            "checked_at": at,
            "catalog_version": "v",
            "recheck_of": None,
        }
        fast_d = _decision_unchecked(dict(decided))
        valid_d = Decision.model_validate(decided)
        return (
            fast_d == valid_d
            and fast_d.model_dump() == valid_d.model_dump()
            and fast_d.model_fields_set == valid_d.model_fields_set
            and fast_d.model_copy(update={"outcome": Outcome.REVIEW}).outcome is Outcome.REVIEW
            and fast_m == DecidedMeasure.model_validate(values)
            and fast_m.model_dump() == DecidedMeasure.model_validate(values).model_dump()
            and fast_m.model_fields_set == DecidedMeasure.model_validate(values).model_fields_set
            and fast_r == Reason(zh="甲", en="a")
            and hash(fast_r) == hash(Reason(zh="甲", en="a"))
        )
    except Exception:  # any surprise from pydantic internals: take the safe path
        return False


# Checked at the first verdict, not at import: the check builds the models' validators
# (and pydantic then looks for its plugins), which an import need not pay for.
_fast: bool | None = None


def fast_ok() -> bool:
    """Whether the shortcut is in use (:func:`fast_path_sound`, asked once per process)."""
    global _fast
    if _fast is None:
        _fast = fast_path_sound()
    return _fast


def reason(zh: str, en: str) -> Reason:
    """A :class:`Reason` of trusted texts."""
    if _fast or (_fast is None and fast_ok()):
        return _reason_unchecked(zh, en)
    return Reason(zh=zh, en=en)  # pragma: no cover - only with an incompatible pydantic release


def decision(values: dict[str, object]) -> Decision:
    """A :class:`Decision` of trusted, typed ``values`` (every field given, in field order).

    What ``Decision.model_construct(**values)`` builds, without its per-field loop.
    """
    if _fast or (_fast is None and fast_ok()):
        return _decision_unchecked(values)
    return Decision.model_construct(**values)  # type: ignore[arg-type]  # pragma: no cover


def decided_measure(values: dict[str, object]) -> DecidedMeasure:
    """A :class:`DecidedMeasure` of trusted, typed ``values`` (every field given)."""
    if _fast or (_fast is None and fast_ok()):
        return _measure_unchecked(values)
    return DecidedMeasure.model_validate(values)  # pragma: no cover - as above
