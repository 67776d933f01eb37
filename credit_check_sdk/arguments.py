"""Checks of the arguments of public calls: wrong types and values fail before anything
is journaled or sent, with :class:`~credit_check_sdk.InvalidArgumentError` (a
``ValueError``) or :class:`~credit_check_sdk.ArgumentTypeError` (also a ``TypeError``).

Every text an agency passes (operator, department, reasons, case ids, names …)
ends up in the journal, in uploads to the platform and in the files officials
open. The platform contract (docs/platform-api.yaml) asks for JSON strings; the
SDK takes, in addition, only text that can be stored, uploaded and shown:

* no lone surrogate (``json.loads('"\\\\ud800"')`` gives one): it has no UTF-8 form,
  so it could be neither stored nor uploaded;
* no control character (C0, DEL, C1) except tab, line feed and carriage return in
  multi-line texts (reasons), no line or paragraph separator in one-line texts,
  no bidirectional override (U+202A–U+202E, U+2066–U+2069: they make a record
  read differently from what it holds) and no U+FFFE/U+FFFF (XLSX cannot hold them);
* at most :data:`SHORT_TEXT` characters for ids, codes and people
  (operator, department, case id …), :data:`NAME_TEXT` for names and
  :data:`LONG_TEXT` for reasons, so that a record stays far below the journal's
  and the upload's size limits.

Messages name the argument and the position of a bad character, never the text
itself (it may hold a personal id). The flow plugins use these checks for their
own arguments.

>>> check_text("张三", "operator")
'张三'
>>> check_text(123, "operator")
Traceback (most recent call last):
...
credit_check_sdk._exceptions.ArgumentTypeError: operator must be a string, not int
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal, TypeVar, overload

from ._exceptions import ArgumentTypeError, InvalidArgumentError

__all__ = [
    "LONG_TEXT",
    "NAME_TEXT",
    "SHORT_TEXT",
    "check_choice",
    "check_flag",
    "check_instance",
    "check_iterable",
    "check_number",
    "check_reasons",
    "check_text",
    "check_texts",
]

#: Ids, codes and people: operator, department, case id, matter code, check id …
SHORT_TEXT = 128
#: Names of subjects and documents.
NAME_TEXT = 256
#: Reasons (of an override, an objection …); may span lines.
LONG_TEXT = 2000

_T = TypeVar("_T")

_ALWAYS_BAD = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0 but tab, LF, CR; DEL; C1
    "\u202a-\u202e\u2066-\u2069"  # bidirectional overrides and isolates
    "\ufffe\uffff\ud800-\udfff"  # non-characters, surrogates
)
_BAD_IN_LINE = re.compile(f"[{_ALWAYS_BAD}\t\n\r\u2028\u2029]")
_BAD_IN_TEXT = re.compile(f"[{_ALWAYS_BAD}]")


def _type_name(value: object) -> str:
    return type(value).__name__


def _describe(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate U+{code:04X} (not valid Unicode)"
    if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
        return f"a bidirectional override U+{code:04X}"
    if code in (0xFFFE, 0xFFFF):
        return f"the non-character U+{code:04X}"
    if code in (0x2028, 0x2029) or char in "\t\n\r":
        return f"a line break or tab U+{code:04X} (this text is one line)"
    return f"a control character U+{code:04X}"


@overload
def check_text(
    value: object,
    argument: str,
    *,
    max_length: int = ...,
    optional: Literal[False] = ...,
    multiline: bool = ...,
) -> str: ...


@overload
def check_text(
    value: object,
    argument: str,
    *,
    max_length: int = ...,
    optional: Literal[True],
    multiline: bool = ...,
) -> str | None: ...


def check_text(
    value: object,
    argument: str,
    *,
    max_length: int = SHORT_TEXT,
    optional: bool = False,
    multiline: bool = False,
) -> str | None:
    """``value`` when it is text the SDK can store, upload and show (see the module doc).

    ``optional`` admits ``None`` (and an empty string); otherwise the text must
    not be blank. ``multiline`` admits tabs and line breaks.

    >>> check_text(None, "department", optional=True) is None
    True
    >>> check_text("  ", "reason", multiline=True)
    Traceback (most recent call last):
    ...
    credit_check_sdk._exceptions.InvalidArgumentError: reason must not be blank
    """
    if value is None:
        if optional:
            return None
        raise ArgumentTypeError(f"{argument} is required (a string), not None", argument=argument)
    if not isinstance(value, str):
        raise ArgumentTypeError(
            f"{argument} must be a string, not {_type_name(value)}", argument=argument
        )
    if not optional and not value.strip():
        raise InvalidArgumentError(f"{argument} must not be blank", argument=argument)
    if len(value) > max_length:
        raise InvalidArgumentError(
            f"{argument} has {len(value):,} characters; at most {max_length:,} are taken",
            argument=argument,
        )
    bad = (_BAD_IN_TEXT if multiline else _BAD_IN_LINE).search(value)
    if bad is not None:
        raise InvalidArgumentError(
            f"{argument}: {_describe(bad.group())} at position {bad.start()} "
            "(only text that can be stored and shown is taken)",
            argument=argument,
        )
    return value


def check_texts(
    value: object, argument: str, *, max_length: int = SHORT_TEXT, max_items: int = 1000
) -> list[str]:
    """A list of texts from a list, tuple or other collection (never a single string).

    >>> check_texts(("P-1", "P-2"), "measure_ids")
    ['P-1', 'P-2']
    >>> check_texts("P-1", "measure_ids")
    Traceback (most recent call last):
    ...
    credit_check_sdk._exceptions.ArgumentTypeError: measure_ids must be a list of strings, not str
    """
    if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(value, Collection):
        raise ArgumentTypeError(
            f"{argument} must be a list of strings, not {_type_name(value)}", argument=argument
        )
    if len(value) > max_items:
        raise InvalidArgumentError(
            f"{argument} has {len(value):,} items; at most {max_items:,} are taken",
            argument=argument,
        )
    return [
        check_text(item, f"{argument}[{i}]", max_length=max_length) for i, item in enumerate(value)
    ]


def check_reasons(value: object, argument: str) -> dict[str, str]:
    """A mapping of ids (one-line text) to reasons (non-blank text, may span lines), as
    a flow's ``overrides`` takes them; ``None`` is no override.

    >>> check_reasons({"B1": "评标委员会决定"}, "overrides")
    {'B1': '评标委员会决定'}
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(
            f"{argument} must map ids to reasons, not {_type_name(value)}", argument=argument
        )
    checked: dict[str, str] = {}
    for key, reason in value.items():
        key = check_text(key, f"{argument} (an id)")
        if reason is None or (isinstance(reason, str) and not reason.strip()):
            raise InvalidArgumentError(f"the override of {key} needs a reason", argument=argument)
        checked[key] = check_text(
            reason, f"{argument}[{key!r}]", max_length=LONG_TEXT, multiline=True
        )
    return checked


def check_iterable(value: object, argument: str) -> Iterable[Any]:
    """``value`` when it is an iterable of items (a list, tuple, generator …), not a
    string, bytes or a mapping, which iterate over characters or keys.

    >>> check_iterable("91442000MA4UJ2KQ57", "subjects")
    Traceback (most recent call last):
    ...
    credit_check_sdk._exceptions.ArgumentTypeError: subjects must be a list or other iterable \
of items, not str
    """
    if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise ArgumentTypeError(
            f"{argument} must be a list or other iterable of items, not {_type_name(value)}",
            argument=argument,
        )
    return value


def check_flag(value: object, argument: str) -> bool:
    """``value`` when it is ``True`` or ``False`` (not ``0``, ``1`` or ``"yes"``).

    >>> check_flag(True, "fresh")
    True
    """
    if not isinstance(value, bool):
        raise ArgumentTypeError(
            f"{argument} must be True or False, not {_type_name(value)}", argument=argument
        )
    return value


def check_choice(value: object, argument: str, choices: Collection[str]) -> str:
    """``value`` when it is one of ``choices``.

    >>> check_choice("applied", "action", ("applied", "not_applied"))
    'applied'
    """
    if not isinstance(value, str):
        raise ArgumentTypeError(
            f"{argument} must be a string, not {_type_name(value)}", argument=argument
        )
    if value not in choices:
        raise InvalidArgumentError(
            f"{argument} must be one of {', '.join(choices)}", argument=argument
        )
    return value


def check_number(
    value: object,
    argument: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """``value`` as a float when it is a finite int or float (not a bool) within bounds.

    >>> check_number(1.5, "max_bonus", minimum=0)
    1.5
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentTypeError(
            f"{argument} must be a number, not {_type_name(value)}", argument=argument
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidArgumentError(f"{argument} must be a finite number", argument=argument)
    if minimum is not None and number < minimum:
        raise InvalidArgumentError(f"{argument} must be at least {minimum:g}", argument=argument)
    if maximum is not None and number > maximum:
        raise InvalidArgumentError(f"{argument} must be at most {maximum:g}", argument=argument)
    return number


def check_instance(value: object, argument: str, kind: type[_T]) -> _T:
    """``value`` when it is an instance of ``kind``.

    >>> check_instance(3, "count", int)
    3
    """
    if not isinstance(value, kind):
        raise ArgumentTypeError(
            f"{argument} must be a {kind.__name__}, not {_type_name(value)}", argument=argument
        )
    return value
