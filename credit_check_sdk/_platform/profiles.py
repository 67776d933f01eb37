"""Subject ids and profiles: what ``GET /v1/subjects/{id}/profile`` and ``profiles:batch`` serve.

A profile's ``related`` works both ways (contract v2): an organisation lists its
persons by role, and a party named in a relation lists the organisations it
holds a role in, the role ending in ``_of``. One level deep: a related party
comes with its own entries only.

>>> rows = ({"91442000MA4UJ2KQ57": ("legal_entity", "某公司", None, None)},
...         [("91442000MA4UJ2KQ57", "director", "442000199001011233")],
...         {"91442000MA4UJ2KQ57": [], "442000199001011233": []})
>>> who = [("442000199001011233", "natural_person")]
>>> p = build_profiles(who, rows, "2026-11-30T08:00:00+08:00")
>>> [(r["role"], r["subject"]["name"]) for r in p[0]["related"]]
[('director_of', '某公司')]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._exceptions import InvalidSubjectError
from .._ids import mask_id, normalize_id, validate_id
from .store import PlatformStore, ProfileRows

__all__ = ["INVERSE_SUFFIX", "build_profiles", "require_normalised", "resolve_id"]

#: How a related party names its side of a relation: ``legal_representative_of`` …
INVERSE_SUFFIX = "_of"


def require_normalised(raw: str) -> None:
    """Raise :class:`InvalidSubjectError` unless ``raw`` is sent as the contract writes ids
    (upper case, no blanks).

    >>> require_normalised("91442000ma4uj2kq57")
    Traceback (most recent call last):
    ...
    credit_check_sdk._exceptions.InvalidSubjectError: ...
    """
    if not isinstance(raw, str) or raw != normalize_id(raw):
        raise InvalidSubjectError(
            f"subject id {mask_id(str(raw))!r} must be sent normalised (upper case, no blanks)",
            value=str(raw),
            reason="format",
        )


def resolve_id(raw: str, store: PlatformStore | None, ambiguous_kind: str) -> tuple[str, str]:
    """``(normalised id, kind)``; raises :class:`InvalidSubjectError` for an invalid id.

    An id on record is taken with its recorded kind (it was validated when
    stored, and looking it up costs less than checking a RIC's region again).
    An all-digit id valid both as a USCC and a RIC, not on record, is
    ``ambiguous_kind`` (the path carries no kind).
    """
    number = normalize_id(raw) if isinstance(raw, str) else raw
    if store is not None and isinstance(number, str) and len(number) == 18:
        known = store.kind_of(number)
        if known is not None:
            return number, known
    try:
        return validate_id(raw)
    except InvalidSubjectError as exc:
        if exc.reason != "ambiguous":
            raise
        return normalize_id(raw), ambiguous_kind


def _subject(sid: str, known: dict[str, Any], kind: str | None) -> dict[str, Any]:
    row = known.get(sid)
    if row is None:
        return {"id": sid, "kind": kind or _kind_of_id(sid), "name": None}
    return {"id": sid, "kind": row[0], "name": row[1]}


def _kind_of_id(sid: str) -> str:
    # A party named in a relation but not on record: its id says what it is (an
    # organisation's code has letters or is a valid USCC, a person's is a RIC).
    try:
        return validate_id(sid)[1]
    except InvalidSubjectError:
        return "natural_person"


def build_profiles(
    ids: Sequence[tuple[str, str]], rows: ProfileRows, as_of: str
) -> list[dict[str, Any]]:
    """The contract's ``Profile`` for each ``(id, kind)``, in order, from a store's rows."""
    known, links, entries = rows
    related: dict[str, list[dict[str, Any]]] = {}
    # Each side sorted by role, then the other party's id: the same order on every store.
    for org_id, role, person_id in sorted(links, key=lambda k: (k[1], k[2], k[0])):
        related.setdefault(org_id, []).append(
            {
                "role": role,
                "subject": _subject(person_id, known, None),
                "entries": entries.get(person_id, []),
            }
        )
    for org_id, role, person_id in sorted(links, key=lambda k: (k[1], k[0], k[2])):
        related.setdefault(person_id, []).append(
            {
                "role": role + INVERSE_SUFFIX,
                "subject": _subject(org_id, known, None),
                "entries": entries.get(org_id, []),
            }
        )
    out = []
    for sid, kind in ids:
        row = known.get(sid)
        out.append(
            {
                "subject": _subject(sid, known, kind),
                "as_of": as_of,
                "record_since": row[2] if row else None,
                "last_adverse_on": row[3] if row else None,
                "entries": entries.get(sid, []),
                "related": related.get(sid, []),
            }
        )
    return out
