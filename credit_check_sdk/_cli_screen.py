"""``credit-check screen``: screen every subject of a spreadsheet export at once.

::

    credit-check screen bidders.csv --matter bidding --out result.xlsx
    credit-check screen applicants.csv --matter licensing --json > result.json
    credit-check screen applicants.csv --matter licensing --out result.csv

The CSV is what a spreadsheet exports: UTF-8 with or without a byte-order
mark, UTF-16 with one ("Unicode text"), or GBK/GB18030 (older Excel on a
Chinese Windows); comma, semicolon or tab separated. The first non-blank row
is the header; the id column is found by its name (``subject_id``,
``统一社会信用代码``, ``身份证号``, ``id`` … or ``--id-column``), a name column
(``name``, ``名称``, ``企业名称``, ``姓名`` …) is optional.

Every valid id is checked with ``must_check_many``, in chunks, with a
progress bar. Rows whose id is not a valid USCC or RIC are never dropped:
they are listed with their line number and the reason, in the console (or
the JSON) and in the workbook's "invalid rows" sheet, and the command exits
with status 1. Blank lines are skipped and counted. Personal ids (RICs) are
masked in every output.

The workbook needs openpyxl (``pip install "credit-check-sdk[report]"``); a
``.csv`` result does not. Names and every other text from the input are
written as text, never as a spreadsheet formula (see :mod:`._cells`).
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._cells import append_row, csv_row
from ._cli_common import add_json, add_timeout, emit_json, id_column, progress, quoted, stderr
from ._exceptions import CreditCheckError, InvalidSubjectError
from ._ids import mask_id, mask_ids_in

if TYPE_CHECKING:  # imported where used: the command line starts without the checker
    from ._checker import CreditChecker
    from ._models import Decision, Subject

__all__ = [
    "CsvError",
    "InvalidRow",
    "ScreenInput",
    "ScreenRow",
    "invalid_row",
    "read_subjects",
    "register",
    "screen",
    "write_csv",
    "write_xlsx",
]

_INSTALL_HINT = 'pip install "credit-check-sdk[report]"'
_CHUNK = 200

#: Header names (compared without case, spaces, ``_`` and ``-``) of the id column.
ID_HEADERS = (
    "subjectid", "subject", "id", "uscc", "ric", "idnumber", "idno", "creditcode",
    "统一社会信用代码", "社会信用代码", "信用代码", "身份证号", "身份证号码", "身份证",
    "公民身份号码", "证件号码", "证件号", "主体代码", "主体标识",
)  # fmt: skip
#: Header names of the optional name column.
NAME_HEADERS = (
    "name", "subjectname", "company", "companyname", "名称", "主体名称", "企业名称",
    "单位名称", "姓名", "申请人", "申请人名称", "投标人", "投标人名称",
)  # fmt: skip

_SCIENTIFIC = re.compile(r"^\s*\d(\.\d+)?[eE]\+?\d+\s*$")


class CsvError(CreditCheckError):
    """The CSV file cannot be read as a table of subjects (no header, no id column …)."""


@dataclass(frozen=True)
class ScreenRow:
    """A row with a valid id, and after screening its decision."""

    line: int
    subject: Subject
    name: str
    decision: Decision | None = None


@dataclass(frozen=True)
class InvalidRow:
    """A row that was not screened: its line, what it held (masked) and why."""

    line: int
    value: str
    name: str
    reason: str


@dataclass
class ScreenInput:
    """What :func:`read_subjects` found in a CSV file."""

    encoding: str
    delimiter: str
    id_column: str
    name_column: str | None
    rows: list[ScreenRow] = field(default_factory=list)
    invalid: list[InvalidRow] = field(default_factory=list)
    blank_lines: int = 0


def _key(header: str) -> str:
    return re.sub(r"[\s_\-/（）()]", "", header.strip().lower())


def _decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding used: BOMs first, then UTF-8, then GB18030 (GBK)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gbk"
    except UnicodeDecodeError as exc:
        raise CsvError(
            f"cannot decode the file as UTF-8 or GBK (byte {exc.start}): save it from the "
            "spreadsheet as 'CSV UTF-8'"
        ) from exc


def _delimiter(text: str) -> str:
    sample = "\n".join(line for line in text.splitlines()[:20] if line.strip())
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _find(headers: list[str], wanted: str | None, names: Sequence[str], what: str) -> int | None:
    keys = [_key(h) for h in headers]
    if wanted is not None:
        if _key(wanted) in keys:
            return keys.index(_key(wanted))
        raise CsvError(f"no {what} column {wanted!r}; the header has: {', '.join(headers)}")
    for name in names:
        if name in keys:
            return keys.index(name)
    return None


def read_subjects(
    path: str | Path,
    *,
    id_column: str | None = None,
    name_column: str | None = None,
    encoding: str | None = None,
) -> ScreenInput:
    """Read a spreadsheet's CSV export: valid rows to screen, invalid rows with reasons.

    Line numbers are the file's (the header is usually line 1).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.csv")
    >>> _ = open(p, "w", encoding="utf-8-sig").write(
    ...     "统一社会信用代码,名称\\n91442000MA4UC00019,恒达\\n\\nnot-an-id,某某\\n")
    >>> found = read_subjects(p)
    >>> [(r.line, r.subject.id) for r in found.rows], [i.line for i in found.invalid]
    ([(2, '91442000MA4UC00019')], [4])
    >>> found.encoding, found.blank_lines
    ('utf-8-sig', 1)
    """
    from ._models import Subject  # with the checker, not to parse the command line

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CsvError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if encoding is not None:
        try:
            text, used = data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise CsvError(f"cannot decode {path} as {encoding}: {exc}") from exc
        text = text.removeprefix("\ufeff")
    else:
        text, used = _decode(data)
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    blank = 0
    found: ScreenInput | None = None
    id_at = 0
    name_at: int | None = None
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            blank += 1
            continue
        if header is None:
            header = [c.strip() for c in cells]
            located = _find(header, id_column, ID_HEADERS, "id")
            if located is None:
                raise CsvError(
                    f"no id column in the header (line {line}: {', '.join(header)}); name it "
                    "subject_id / 统一社会信用代码 / 身份证号, or pass --id-column"
                )
            id_at = located
            name_at = _find(header, name_column, NAME_HEADERS, "name")
            found = ScreenInput(
                encoding=used,
                delimiter=delimiter,
                id_column=header[id_at],
                name_column=header[name_at] if name_at is not None else None,
            )
            continue
        assert found is not None  # noqa: S101 - set with the header
        value = cells[id_at].strip() if id_at < len(cells) else ""
        name = cells[name_at].strip() if name_at is not None and name_at < len(cells) else ""
        try:
            subject = Subject.parse(value)
        except InvalidSubjectError as exc:
            found.invalid.append(invalid_row(line, value, name, exc))
            continue
        found.rows.append(ScreenRow(line, subject, name))
    if found is None:
        raise CsvError(f"{path} has no header row: the file is empty")
    found.blank_lines = blank
    return found


def invalid_row(line: int, value: str, name: str, exc: InvalidSubjectError) -> InvalidRow:
    """The row of ``line`` that holds no valid id, as it may be shown (masked) and why.

    >>> from credit_check_sdk import Subject
    >>> try:
    ...     Subject.parse("44200019900101123")
    ... except InvalidSubjectError as exc:
    ...     invalid_row(3, "44200019900101123", "", exc).value
    '4420*********1123'
    """
    return InvalidRow(line, _masked(value), name, mask_ids_in(_why(value, exc)))


def _masked(value: str) -> str:
    """What an invalid id cell held, as it may be shown: anything with a digit may be
    (part of) a person's number, whatever its length, and is masked."""
    if any(c.isdigit() for c in value):
        return mask_id(value)
    return mask_ids_in(value)


def _why(value: str, exc: InvalidSubjectError) -> str:
    if not value:
        return "no id in this row / 缺少代码"
    if _SCIENTIFIC.match(value):
        return (
            f"the spreadsheet turned the id into a number ({_masked(value)}); format the column as "
            "text and export again / 表格已将号码转为数值，请将该列设为文本后重新导出"
        )
    return str(exc)


def screen(
    checker: CreditChecker,
    rows: Sequence[ScreenRow],
    matter: str,
    *,
    operator: str | None = None,
    chunk_size: int = _CHUNK,
    progress: Callable[[int], object] | None = None,
) -> list[ScreenRow]:
    """Check every row with ``must_check_many``, ``chunk_size`` at a time.

    ``progress(n)`` is called after each chunk with the number just checked.
    Returns the rows with their decisions, in the input's order.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    done: list[ScreenRow] = []
    for start in range(0, len(rows), chunk_size):
        chunk = rows[start : start + chunk_size]
        decisions = checker.must_check_many([r.subject for r in chunk], matter, operator=operator)
        done.extend(
            ScreenRow(r.line, r.subject, r.name, d) for r, d in zip(chunk, decisions, strict=True)
        )
        if progress is not None:
            progress(len(chunk))
    return done


def _shown(subject: Subject) -> str:
    return mask_id(subject.id, subject.kind)


def _measures(decision: Decision) -> str:
    return "\n".join(
        f"{m.id} [{m.status}{', mandatory' if m.mandatory else ''}] {m.title.zh} / {m.title.en}"
        for m in decision.measures
    )


def _reasons(decision: Decision) -> str:
    return "\n".join(f"{r.zh}\n{r.en}" for r in decision.reasons)


def _result(row: ScreenRow) -> dict[str, Any]:
    d = row.decision
    assert d is not None  # noqa: S101 - screened rows have decisions
    return {
        "line": row.line,
        "id": _shown(row.subject),
        "kind": row.subject.kind,
        "name": row.name,
        "outcome": d.outcome.value,
        "measures": [
            {"id": m.id, "status": m.status, "mandatory": m.mandatory, "title": m.title.zh}
            for m in d.measures
        ],
        "reasons": [{"zh": r.zh, "en": r.en} for r in d.reasons],
        "source": d.source,
        "degraded": d.degraded,
        "check_id": d.check_id,
    }


def _require_openpyxl() -> None:
    try:
        import openpyxl  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"writing the .xlsx result needs openpyxl, which is not installed: {_INSTALL_HINT} "
            "(or leave out --out and use --json)"
        ) from exc


def write_xlsx(
    rows: Sequence[ScreenRow], invalid: Sequence[InvalidRow], path: str | Path, *, matter: str
) -> Path:
    """Write the results sheet and the "invalid rows" sheet; returns the path.

    Raises :class:`ImportError` naming the extra to install when openpyxl is missing.
    """
    _require_openpyxl()
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    results = wb.active
    assert results is not None  # noqa: S101 - a new workbook has one sheet
    results.title = "筛查结果 results"
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    wrap = Alignment(wrap_text=True, vertical="top")
    red = PatternFill("solid", fgColor="FDE2E1")
    headers = ("line 行号", "id 代码", "name 名称", "outcome 结果", "measures 措施",
               "reasons 理由", "source 来源", "check id 核查编号")  # fmt: skip
    results.append(list(headers))
    for row in rows:
        r = _result(row)
        d = row.decision
        assert d is not None  # noqa: S101 - screened rows have decisions
        append_row(  # names, reasons … as text, never a formula
            results,
            [
                r["line"],
                r["id"],
                r["name"],
                r["outcome"],
                _measures(d),
                _reasons(d),
                d.source + (" (degraded)" if d.degraded else ""),
                d.check_id,
            ],
        )
        if d.outcome.value in ("restriction", "review"):
            results.cell(results.max_row, 4).fill = red
    bad = wb.create_sheet("无效行 invalid rows")
    bad.append(["line 行号", "value 内容", "name 名称", "reason 原因"])
    for item in invalid:
        append_row(bad, [item.line, item.value, item.name, item.reason])
    widths = {"A": 8, "B": 22, "C": 30, "D": 14, "E": 50, "F": 80, "G": 16, "H": 38}
    for sheet in (results, bad):
        for cell in sheet[1]:
            cell.font, cell.fill = bold, fill
        for line in sheet.iter_rows(min_row=2):
            for cell in line:
                cell.alignment = wrap
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions
    for col, width in widths.items():
        results.column_dimensions[col].width = width
    for col, width in {"A": 8, "B": 24, "C": 30, "D": 90}.items():
        bad.column_dimensions[col].width = width
    wb.properties.title = f"credit-check screen: {matter}"
    target = Path(path)
    wb.save(target)
    return target


def write_csv(rows: Sequence[ScreenRow], invalid: Sequence[InvalidRow], path: str | Path) -> Path:
    """Write the results and then the invalid rows (outcome ``invalid``) as one CSV file.

    UTF-8 with a byte-order mark, so that Excel and WPS read the Chinese text; text a
    spreadsheet would evaluate (``=…``, ``+…``, ``-…``, ``@…``) starts with ``'``.
    """
    target = Path(path)
    with target.open("w", encoding="utf-8-sig", newline="") as sink:
        writer = csv.writer(sink)
        writer.writerow(
            ["line", "id", "name", "outcome", "measures", "reasons", "source", "check_id"]
        )
        for row in rows:
            r = _result(row)
            d = row.decision
            assert d is not None  # noqa: S101 - screened rows have decisions
            writer.writerow(
                csv_row(
                    [
                        r["line"],
                        r["id"],
                        r["name"],
                        r["outcome"],
                        _measures(d),
                        _reasons(d),
                        d.source + (" (degraded)" if d.degraded else ""),
                        d.check_id,
                    ]
                )
            )
        for item in invalid:
            writer.writerow(
                csv_row([item.line, item.value, item.name, "invalid", "", item.reason, "", ""])
            )
    return target


def _writes_csv(out: str | None) -> bool:
    return out is not None and out.lower().endswith(".csv")


def _summary(rows: Sequence[ScreenRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        if row.decision is not None:
            key = row.decision.outcome.value
            counts[key] = counts.get(key, 0) + 1
    return counts


def _invalid_table(invalid: Sequence[InvalidRow]) -> Table:
    table = Table(title=f"Invalid rows, not screened / 无效行（未核查）: {len(invalid)}")
    table.add_column("line", no_wrap=True)
    id_column(table, "value", [i.value for i in invalid])
    for col in ("name", "reason"):
        table.add_column(col, overflow="fold")
    for item in invalid:
        table.add_row(
            str(item.line), escape(item.value or "-"), escape(item.name or "-"), escape(item.reason)
        )
    return table


def _results_table(rows: Sequence[ScreenRow]) -> Table:
    table = Table(title="Screening / 批量核查", show_lines=False)
    table.add_column("line", no_wrap=True)
    id_column(table, "id", [_shown(r.subject) for r in rows])
    for col in ("name", "outcome", "measures"):
        table.add_column(col, overflow="fold")
    for row in rows:
        d = row.decision
        assert d is not None  # noqa: S101 - screened rows have decisions
        table.add_row(
            str(row.line),
            _shown(row.subject),
            escape(row.name or "-"),
            d.outcome.value + (" (degraded)" if d.degraded else ""),
            ", ".join(m.id for m in d.measures) or "-",
        )
    return table


def _cmd_screen(args: argparse.Namespace, out: Console) -> int:
    from ._checker import CreditChecker
    from .cli import settings_from

    if args.out is not None and not _writes_csv(args.out):
        _require_openpyxl()  # before anything is checked
    if args.chunk_size < 1:
        raise CsvError(f"--chunk-size must be at least 1, not {args.chunk_size}")
    settings = settings_from(args)
    found = read_subjects(
        args.file, id_column=args.id_column, name_column=args.name_column, encoding=args.encoding
    )
    # With --json, stdout carries the JSON alone; everything else goes to stderr.
    talk = stderr() if args.json else out
    named = f", name column {quoted(found.name_column)}" if found.name_column else ""
    talk.print(
        f"{args.file}: {len(found.rows)} valid ids, {len(found.invalid)} invalid rows, "
        f"{found.blank_lines} blank lines skipped (encoding {found.encoding}, id column "
        f"{quoted(found.id_column)}{named})",
        highlight=False,
        markup=False,
    )
    with CreditChecker(settings) as checker:
        with progress(f"screening for {args.matter}", len(found.rows)) as advance:
            rows = screen(
                checker,
                found.rows,
                args.matter,
                operator=args.operator,
                chunk_size=args.chunk_size,
                progress=advance,
            )
        remaining = checker.flush(timeout=args.timeout)
    if _writes_csv(args.out):
        written = write_csv(rows, found.invalid, args.out)
    elif args.out is not None:
        written = write_xlsx(rows, found.invalid, args.out, matter=args.matter)
    counts = _summary(rows)
    if args.json:
        emit_json(
            {
                "file": str(args.file),
                "matter": args.matter,
                "encoding": found.encoding,
                "id_column": found.id_column,
                "name_column": found.name_column,
                "blank_lines": found.blank_lines,
                "summary": counts,
                "results": [_result(r) for r in rows],
                "invalid": [
                    {"line": i.line, "value": i.value, "name": i.name, "reason": i.reason}
                    for i in found.invalid
                ],
                "journal_pending": remaining,
                "xlsx": str(args.out) if args.out is not None else None,
            }
        )
    else:
        if rows and not args.quiet:
            out.print(_results_table(rows))
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing screened"
        out.print(f"outcomes: {summary}", highlight=False)
    if found.invalid:
        talk.print(_invalid_table(found.invalid))
    if args.out is not None:
        talk.print(f"written: {written}", highlight=False, markup=False, soft_wrap=True)
    if remaining:
        talk.print(f"[yellow]{remaining} journal records still pending upload[/yellow]")
    return 1 if found.invalid else 0


def register(sub: Any) -> None:
    """Add ``screen`` to the ``credit-check`` parser."""
    from .cli import add_settings

    screen_cmd = sub.add_parser(
        "screen",
        help="screen every subject of a CSV file (spreadsheet export) and write an .xlsx",
        description=(
            "Check every id of a CSV file for one matter. Invalid rows are listed with "
            "their line number and reason (exit status 1); nothing is dropped silently."
        ),
    )
    screen_cmd.add_argument("file", help="CSV with a header row (UTF-8, UTF-8 with BOM or GBK)")
    screen_cmd.add_argument("--matter", required=True, help="matter category, e.g. bidding")
    screen_cmd.add_argument("--out", help="write the results here: .xlsx (extra: report) or .csv")
    add_json(screen_cmd, "screen")
    screen_cmd.add_argument("--id-column", help="the id column's header (default: found by name)")
    screen_cmd.add_argument("--name-column", help="the name column's header (optional)")
    screen_cmd.add_argument("--encoding", help="the file's encoding (default: detected)")
    screen_cmd.add_argument("--operator", help="the officer screening (journaled)")
    screen_cmd.add_argument("--chunk-size", type=int, default=_CHUNK, help="ids per batch")
    screen_cmd.add_argument("--quiet", action="store_true", help="no results table")
    add_timeout(screen_cmd, 10.0, "seconds to wait for the records' upload before exiting")
    add_settings(screen_cmd)
    screen_cmd.set_defaults(func=_cmd_screen)
