"""Subject ids: normalise, validate (python-stdnum), infer the kind, mask for logs.

A USCC (统一社会信用代码, GB 32100) identifies a legal entity; a RIC (居民身份证号码)
a natural person. Both are 18 characters with a check character. Input typed at a
counter or exported from spreadsheets carries spaces, full-width characters and
lower-case letters, so ids are normalised before they are checked, and never sent
to the platform unless they pass.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from ._exceptions import InvalidSubjectError

SubjectKind = Literal["legal_entity", "natural_person"]

__all__ = ["SubjectKind", "mask_id", "mask_ids_in", "normalize_id", "validate_id"]

# Spaces of every width, hyphens and dashes people type between groups of digits.
_SEPARATORS = re.compile(r"[\s\-‐-―]+")


def normalize_id(raw: str) -> str:
    """Strip separators, fold full-width characters (NFKC) and upper-case.

    >>> normalize_id(" ９１４４２０００ma4ujkq57 ")
    '91442000MA4UJKQ57'
    """
    folded = unicodedata.normalize("NFKC", raw)
    return _SEPARATORS.sub("", folded).upper()


def _check(kind: SubjectKind, number: str) -> str | None:
    """``None`` when ``number`` is valid as ``kind``, else why not."""
    module = uscc if kind == "legal_entity" else ric
    try:
        module.validate(number)
    except ValidationError as exc:
        return str(exc).rstrip(".").lower()
    return None


def validate_id(raw: str, kind: SubjectKind | None = None) -> tuple[str, SubjectKind]:
    """Normalise ``raw`` and return ``(id, kind)``, or raise :class:`InvalidSubjectError`.

    ``kind`` may be omitted: it is inferred. An all-digit id that is valid both
    as a USCC and as a RIC needs ``kind`` to say which.

    >>> validate_id("91442000MA4UJ2KQ57")
    ('91442000MA4UJ2KQ57', 'legal_entity')
    """
    if not isinstance(raw, str):
        raise InvalidSubjectError(
            f"subject id must be a string, not {type(raw).__name__}",
            value=repr(raw),
            reason="not a string",
        )
    number = normalize_id(raw)
    shown = mask_id(number)
    if not number:
        raise InvalidSubjectError("subject id is empty", value=shown, reason="empty")
    if len(number) != 18:
        raise InvalidSubjectError(
            f"subject id {shown!r} has {len(number)} characters; a USCC or RIC has 18",
            value=shown,
            reason="length",
        )
    if kind is not None:
        if kind not in ("legal_entity", "natural_person"):
            raise InvalidSubjectError(f"unknown subject kind {kind!r}", value=shown, reason="kind")
        why = _check(kind, number)
        if why is not None:
            label = "USCC" if kind == "legal_entity" else "RIC"
            raise InvalidSubjectError(
                f"subject id {shown!r} is not a valid {label}: {why}", value=shown, reason=why
            )
        return number, kind
    as_uscc = _check("legal_entity", number)
    as_ric = _check("natural_person", number)
    if as_uscc is None and as_ric is None:
        raise InvalidSubjectError(
            f"subject id {shown!r} is valid both as a USCC and as a RIC; pass kind=",
            value=shown,
            reason="ambiguous",
        )
    if as_uscc is None:
        return number, "legal_entity"
    if as_ric is None:
        return number, "natural_person"
    raise InvalidSubjectError(
        f"subject id {shown!r} is neither a valid USCC ({as_uscc}) nor a valid RIC ({as_ric})",
        value=shown,
        reason=as_uscc if not number.isdigit() else as_ric,
    )


def _looks_personal(number: str) -> bool:
    return len(number) == 18 and number[:17].isdigit()


def mask_id(number: str) -> str:
    """Mask an id that may be a personal one: keep the first 4 and last 4 characters.

    USCCs are public registration numbers and stay whole; anything that could be
    a RIC (17 digits and a check character) is masked.

    >>> mask_id("442000199001011234")
    '4420**********1234'
    """
    if _looks_personal(number):
        return number[:4] + "*" * 10 + number[-4:]
    return number


_RIC_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{4})\d{10}(\d{3}[\dXx])(?![0-9A-Za-z])")


def mask_ids_in(text: str) -> str:
    """Mask every RIC-shaped run of characters in free text (log lines, messages).

    >>> mask_ids_in("checked 442000199001011234 ok")
    'checked 4420**********1234 ok'
    """
    return _RIC_IN_TEXT.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
