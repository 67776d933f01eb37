"""Text for spreadsheets: what users typed goes out as text, never as a formula.

Officials open the SDK's CSV and XLSX files in Excel or WPS, and a cell that
starts with ``=`` (or, in a CSV, ``+ - @`` or a tab or carriage return) is
taken as a formula: ``=HYPERLINK(…)`` sends data away on a click, and
``=cmd|' /C calc'!A0`` (DDE) runs a program. Names, operators, reasons and
case ids come from applicants and agency systems, so every such text is written
as text:

* CSV: a text value starting with one of ``= + - @ \\t \\r`` (or their full-width
  forms, or any of them after leading spaces) gets a leading ``'`` (the OWASP
  advice), which spreadsheet programs show as text and do not evaluate.
* XLSX: a string cell, never a formula cell (openpyxl takes a string starting
  with ``=`` as a formula), marked "quote prefix" so that it stays text when an
  official edits it. Control characters that XLSX cannot hold are replaced by
  U+FFFD instead of failing the whole file.

>>> csv_text("=2+2"), csv_text("中山市某某有限公司"), csv_text(-5)
("'=2+2", '中山市某某有限公司', -5)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell, MergedCell
    from openpyxl.worksheet.worksheet import Worksheet

__all__ = ["FORMULA_START", "append_row", "as_text", "csv_row", "csv_text", "xlsx_value"]

#: First characters that make a spreadsheet program read a cell as a formula.
FORMULA_START = frozenset("=+-@\t\r＝＋－＠")

# What the XLSX format cannot hold (openpyxl raises IllegalCharacterError on it).
_ILLEGAL_IN_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

_T = TypeVar("_T")


def _formula_like(text: str) -> bool:
    stripped = text.lstrip(" ")
    return bool(text) and (text[0] in FORMULA_START or stripped[:1] in FORMULA_START)


def csv_text(value: _T) -> _T | str:
    """``value`` for a CSV cell: text that a spreadsheet would evaluate gets a leading ``'``.

    >>> csv_text("@SUM(A1)"), csv_text("\\t=1"), csv_text("P-1:applied")
    ("'@SUM(A1)", "'\\t=1", 'P-1:applied')
    """
    if isinstance(value, str) and _formula_like(value):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    """Every value of a CSV row through :func:`csv_text`."""
    return [csv_text(v) for v in values]


def xlsx_value(value: _T) -> _T | str:
    """``value`` for an XLSX cell: control characters XLSX cannot hold become U+FFFD."""
    if isinstance(value, str):
        return _ILLEGAL_IN_XLSX.sub("\ufffd", value)
    return value


def as_text(cell: Cell | MergedCell) -> None:
    """Make a cell that openpyxl took for a formula a string cell, kept text when edited."""
    if isinstance(cell.value, str) and cell.data_type == "f":
        cell.data_type = "s"
        cell.quotePrefix = True


def append_row(sheet: Worksheet, values: Iterable[Any]) -> None:
    """Append a row whose text values are all written as text (see the module doc).

    >>> from openpyxl import Workbook
    >>> ws = Workbook().active
    >>> append_row(ws, ["=HYPERLINK(\\"http://x\\")", 1])
    >>> ws["A1"].data_type, ws["A1"].value
    ('s', '=HYPERLINK("http://x")')
    """
    sheet.append([xlsx_value(v) for v in values])
    for cell in sheet[sheet.max_row]:
        as_text(cell)
