"""Subject ids: normalise, validate, infer the kind, mask for logs.

A USCC (统一社会信用代码, GB 32100) identifies a legal entity; a RIC (居民身份证号码,
GB 11643) a natural person. Both are 18 characters with a check character. Input
typed at a counter or exported from spreadsheets carries spaces, full-width
characters and lower-case letters, so ids are normalised before they are checked,
and never sent to the platform unless they pass.

A USCC is validated by python-stdnum (format and GB 32100 check character). A RIC
is validated by its GB 11643 structure alone: a region code of 6 digits whose first
two are a province (or the HK/Macao/Taiwan residence-permit codes 81/82/83), a
real birth date from 1900-01-01 up to today, a 3-digit sequence number and the
ISO 7064 MOD 11-2 check digit. The region code is *not* checked against the
history of administrative divisions (python-stdnum's ``cn.ric`` does): a person
keeps the code the number was issued with, whatever became of the county since,
and such a person must still be checkable at a counter.

Masking: a checksum-valid USCC that cannot also be a RIC is a legal entity's
public registration number and is shown whole. Anything else that is shown as an
id (a RIC, a number of the wrong length, an old 15-digit card, a typo) may be a
person's and is masked, keeping at most the first and last 4 characters.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Literal

from ._exceptions import InvalidSubjectError
from ._time import now

SubjectKind = Literal["legal_entity", "natural_person"]

__all__ = [
    "SubjectKind",
    "is_public_uscc",
    "mask_id",
    "mask_ids_in",
    "normalize_id",
    "ric_problem",
    "validate_id",
]

# Spaces of every width, hyphens and dashes people type between groups of digits.
_SEPARATORS = re.compile(r"[\s\-‐-―]+")

#: First two digits of a RIC's region code (GB/T 2260 provinces), and 81/82/83: the
#: residence permits of Hong Kong, Macao and Taiwan residents share the RIC structure.
RIC_PROVINCES = frozenset(
    str(n)
    for n in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55),
              *range(61, 66), 71, 81, 82, 83)
)  # fmt: skip
#: The earliest birth date a RIC is taken with.
RIC_EARLIEST_BIRTH = date(1900, 1, 1)
_RIC_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


def normalize_id(raw: str) -> str:
    """Strip separators, fold full-width characters (NFKC) and upper-case.

    >>> normalize_id(" ９１４４２０００ma4ujkq57 ")
    '91442000MA4UJKQ57'
    """
    folded = unicodedata.normalize("NFKC", raw)
    return _SEPARATORS.sub("", folded).upper()


def ric_problem(number: str, *, today: date | None = None) -> str | None:
    """``None`` when ``number`` (normalised) is a structurally valid RIC, else why not.

    ``today`` (default: today in China) bounds the birth date.

    >>> ric_problem("11010519491231002X") is None
    True
    >>> ric_problem("110105194912310021")
    'the check digit is wrong'
    """
    if not _RIC_SHAPE.fullmatch(number):
        return "a RIC is 17 digits and a check digit or X"
    if number[:2] not in RIC_PROVINCES:
        return f"region code {number[:2]}…: no such province"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "the birth date is not a real date"
    if born < RIC_EARLIEST_BIRTH:
        return f"the birth date is before {RIC_EARLIEST_BIRTH.isoformat()}"
    if born > (today if today is not None else now().date()):
        return "the birth date is in the future"
    from stdnum.iso7064 import mod_11_2  # at first use, like stdnum.cn in _uscc_problem

    if not mod_11_2.is_valid(number):
        return "the check digit is wrong"
    return None


# Pure functions of the text, asked several times per check (the subject's parse, each
# masked log line): python-stdnum's checksum is cached for the ids a process sees again.
@lru_cache(maxsize=4096)
def _uscc_problem(number: str) -> str | None:
    # Imported at first use: python-stdnum's package import (stdnum.util) takes longer
    # than the rest of the SDK's, and a program importing the SDK may not check yet.
    from stdnum.cn import uscc
    from stdnum.exceptions import ValidationError

    try:
        uscc.validate(number)
    except ValidationError as exc:
        return str(exc).rstrip(".").lower()
    return None


def _check(kind: SubjectKind, number: str) -> str | None:
    """``None`` when ``number`` is valid as ``kind``, else why not."""
    return _uscc_problem(number) if kind == "legal_entity" else ric_problem(number)


def validate_id(raw: str, kind: SubjectKind | None = None) -> tuple[str, SubjectKind]:
    """Normalise ``raw`` and return ``(id, kind)``, or raise :class:`InvalidSubjectError`.

    ``kind`` may be omitted: it is inferred. An all-digit id that is valid both
    as a USCC and as a RIC needs ``kind`` to say which. The error's message and
    ``value`` never hold an id that may be a person's in full (see :func:`mask_id`).

    >>> validate_id("91442000MA4UJ2KQ57")
    ('91442000MA4UJ2KQ57', 'legal_entity')
    """
    if not isinstance(raw, str):
        shown = mask_ids_in(repr(raw))[:80]
        raise InvalidSubjectError(
            f"subject id must be a string, not {type(raw).__name__}",
            value=shown,
            reason="not a string",
        )
    number = normalize_id(raw)
    # Said to be a person's: masked even if it happens to pass as a USCC.
    shown = mask_id(number, "natural_person" if kind == "natural_person" else None)
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


#: GB 32100's registration authority and organisation type codes (the first two
#: characters) that python-stdnum's format check admits (it takes digits only there).
USCC_TYPES = frozenset(
    str(n)
    for n in (11, 12, 13, 19, 21, 29, 31, 32, 33, 34, 35, 39, 41, 49, 51, 52, 53, 59, 61, 62, 69,
              71, 72, 79, 81, 89, 91, 92, 93)
)  # fmt: skip
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_code_valid(code: str) -> bool:
    """The GB 11714 check character of the 9-character organisation code in a USCC."""
    total = sum(int(c, 36) * w for c, w in zip(code[:8], _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return code[8] == {10: "X", 11: "0"}.get(check, str(check))


def is_public_uscc(number: str) -> bool:
    """Whether ``number`` is a legal entity's USCC that is not plausibly a person's RIC.

    Such a number is public (published with the entity's registration) and may
    be shown whole. It must pass GB 32100 (format, check character) with a
    registration type GB 32100 assigns. A RIC holds no letter but a final X, so
    a USCC with a letter in its organisation code is taken as public (a RIC with
    a mistyped letter would pass the USCC check in 1 case of 31 only). An
    all-digit USCC might be a mistyped RIC: it must also carry a valid GB 11714
    organisation-code check character and must not be a valid RIC.

    >>> is_public_uscc("91442000MA4UJ2KQ57"), is_public_uscc("442000199001011234")
    (True, False)
    """
    by_form = _public_by_form(number)
    # The RIC check is not cached: whether a birth date is in the future depends on the day.
    return by_form if by_form is not None else ric_problem(number) is not None


@lru_cache(maxsize=4096)
def _public_by_form(number: str) -> bool | None:
    """:func:`is_public_uscc` from the text alone, or ``None`` when a RIC check must decide."""
    if _uscc_problem(number) is not None or number[:2] not in USCC_TYPES:
        return False
    if not number[8:17].isdigit():
        return True
    return None if _org_code_valid(number[8:17]) else False


def _masked(text: str) -> str:
    # At most 4 characters kept at each end, and never more than half of the text.
    keep = min(4, len(text) // 4)
    return text[:keep] + "*" * (len(text) - 2 * keep) + (text[-keep:] if keep else "")


def mask_id(number: str, kind: SubjectKind | None = None) -> str:
    """An id as it may be shown in logs, messages and files.

    A legal entity's USCC (see :func:`is_public_uscc`; with ``kind="legal_entity"``,
    any checksum-valid USCC) stays whole. So does text with more than two
    characters that are not digits (a RIC is digits and an X; one with a typo
    has a letter or two more): such text is no personal number, and seeing it
    whole helps to find the typo; any id-like run inside it is masked all the
    same (:func:`mask_ids_in`). Everything else, whatever its length, is masked:
    the first and last 4 characters are kept (fewer for short text, at most a
    quarter at each end). With ``kind="natural_person"`` it is always masked.

    >>> mask_id("442000199001011234")
    '4420**********1234'
    >>> mask_id("44200019900101123")  # one digit short: still someone's
    '4420*********1123'
    >>> mask_id("91442000MA4UJ2KQ57")
    '91442000MA4UJ2KQ57'
    """
    if kind != "natural_person":
        folded = normalize_id(number)
        if is_public_uscc(folded) or (kind == "legal_entity" and _uscc_problem(folded) is None):
            return number
        if sum(not c.isdigit() for c in folded) > 2:
            return mask_ids_in(number)
    return _masked(number)


# A run of letters and digits (ASCII or full-width) standing on its own in text.
_TOKEN = re.compile(
    r"(?<![0-9A-Za-z０-９Ａ-Ｚａ-ｚ])[0-9A-Za-z０-９Ａ-Ｚａ-ｚ]{14,24}(?![0-9A-Za-z０-９Ａ-Ｚａ-ｚ])"
)


def _may_be_personal(token: str) -> bool:
    """14 to 24 characters, nearly all digits: a RIC, too short or long, or with typos."""
    digits = sum(c.isdigit() for c in token)
    return digits >= 12 and len(token) - digits <= 2


def mask_ids_in(text: str) -> str:
    """Mask every run of characters in free text that may be a personal id.

    A run of 14 to 24 letters and digits with at most 2 letters (a RIC, an old
    15-digit card, one typed with a digit too many or too few or a letter typo)
    is masked as :func:`mask_id` masks it; a public USCC, hashes, UUIDs and
    ordinary words and numbers are left alone.

    >>> mask_ids_in("checked 442000199001011234 ok")
    'checked 4420**********1234 ok'
    >>> mask_ids_in("15-digit 442000900101123 and 91442000MA4UJ2KQ57")
    '15-digit 442*********123 and 91442000MA4UJ2KQ57'
    """

    def mask(match: re.Match[str]) -> str:
        token = match.group(0)
        return mask_id(token) if _may_be_personal(token) else token

    return _TOKEN.sub(mask, text)
