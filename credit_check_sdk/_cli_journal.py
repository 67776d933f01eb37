"""``credit-check journal …`` and ``credit-check objection …``: tools for auditors.

The journal commands read the local journal only and need no platform credentials::

    credit-check journal verify                 # walk the hash chain; exit 1 naming each problem
    credit-check journal verify --columns       # also re-derive the report columns from bodies
    credit-check journal stats                  # records by upload state, head hash
    credit-check journal explain CHECK_ID       # re-derive a decision from its stored inputs
    credit-check journal export --since 2026-10-01 --until 2026-11-01 --format csv --out oct.csv
    credit-check journal pending-actions --days 5

Each takes ``--json`` (``export`` writes its own format, ``--format``).

The objection commands talk to the platform (settings as for ``check``)::

    credit-check objection file CHECK_ID ENTRY_ID --reason "已履行" --by u123
    credit-check objection status OBJ-000001
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._cells import csv_row
from ._cli_common import add_json, emit_json, id_column, text_column
from ._exceptions import InvalidRequestError
from ._ids import mask_id, mask_ids_in
from ._time import SHANGHAI

if TYPE_CHECKING:  # the storage package is imported by the commands that open it
    from .storage import ColumnMismatch, Storage

__all__ = ["parse_instant", "register"]

_CSV_COLUMNS = (
    "type",
    "id",
    "check_id",
    "time",
    "agency_id",
    "department",
    "operator",
    "matter_category",
    "matter_code",
    "case_id",
    "subject_id",
    "subject_kind",
    "outcome",
    "measures",
    "source",
    "data_as_of",
    "recheck_of",
    "catalog_version",
    "action",
    "measure_ids",
    "reason",
    "prev_hash",
    "hash",
)


def _open(args: argparse.Namespace) -> Storage:
    from .cli import storage_from

    return storage_from(args)


def parse_instant(text: str) -> datetime:
    """A date (midnight, Asia/Shanghai) or an RFC 3339 timestamp with offset.

    >>> parse_instant("2026-10-01").isoformat()
    '2026-10-01T00:00:00+08:00'
    >>> parse_instant("2026-10-31T15:59:59Z").isoformat()
    '2026-10-31T15:59:59+00:00'
    """
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), SHANGHAI)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(f"{text!r} is neither YYYY-MM-DD nor an RFC 3339 time") from None
    if value.tzinfo is None:
        raise InvalidRequestError(f"{text!r} has no UTC offset")
    return value


# --- verify and stats ------------------------------------------------------------------


# Mismatches printed by ``journal verify --columns``; all are counted.
_SHOWN_MISMATCHES = 1000


def _shown(value: Any) -> str:
    """A stored or derived value for the terminal: JSON (``null``, ``"text"``), ids masked.

    >>> _shown(None), _shown("bidding"), _shown(3)
    ('null', '"bidding"', '3')
    """
    return escape(mask_ids_in(json.dumps(value, ensure_ascii=False, default=str)))


def _mismatch_line(m: ColumnMismatch) -> str:
    where = f"record #{m.seq} {m.id}" if m.id else f"record #{m.seq} (no such record)"
    return (
        f"[red]{escape(where)}: column_mismatch[/red] {escape(m.column)}:"
        f" stored {_shown(m.stored)}, body gives {_shown(m.derived)}"
    )


def _verify(args: argparse.Namespace, out: Console) -> int:
    with _open(args) as storage:
        result = storage.journal.verify()
        columns = storage.journal.verify_columns(limit=_SHOWN_MISMATCHES) if args.columns else None
    status = 0 if result.ok and (columns is None or columns.ok) else 1
    if args.json:
        emit_json(
            {
                "ok": status == 0,
                "checked": result.checked,
                "problems": [
                    {"seq": p.seq, "id": p.id, "kind": p.kind, "detail": mask_ids_in(p.detail)}
                    for p in result.problems
                ],
                "columns": None
                if columns is None
                else {
                    "ok": columns.ok,
                    "checked": columns.checked,
                    "mismatch_count": columns.mismatch_count,
                    "mismatches": [
                        {
                            "seq": m.seq,
                            "id": m.id,
                            "column": m.column,
                            "stored": _plain(m.stored),
                            "derived": _plain(m.derived),
                        }
                        for m in columns.mismatches
                    ],
                },
            }
        )
        return status
    if result.ok:
        out.print(f"journal intact: {result.checked} records, hash chain verified")
    else:
        for problem in result.problems:
            where = f"record #{problem.seq} {problem.id}"
            out.print(
                f"[red]{escape(where)}: {problem.kind}[/red] {escape(mask_ids_in(problem.detail))}"
            )
        out.print(f"{len(result.problems)} problems in {result.checked} records")
    if columns is None:
        return status
    if columns.ok:
        out.print(f"report columns agree with the bodies: {columns.checked} records")
        return status
    for mismatch in columns.mismatches:
        out.print(_mismatch_line(mismatch))
    hidden = columns.mismatch_count - len(columns.mismatches)
    if hidden:
        out.print(f"… and {hidden} more")
    out.print(
        f"{columns.mismatch_count} column values disagree with their record's body"
        f" in {columns.checked} records"
    )
    return status


def _plain(value: Any) -> Any:
    """A stored or derived value for JSON: as it is, strings with ids masked."""
    if isinstance(value, str):
        return mask_ids_in(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_ids_in(json.dumps(value, ensure_ascii=False, default=str))


def _stats(args: argparse.Namespace, out: Console) -> int:
    with _open(args) as storage:
        counts = storage.journal.counts()
        head = storage.journal.head_hash()
    if args.json:
        emit_json({"records": counts, "head_hash": head})
        return 0
    table = Table(title="Journal / 核查日志")
    table.add_column("upload state")
    table.add_column("records", justify="right")
    for state, n in sorted(counts.items()):
        table.add_row(state, f"{n:,}")
    table.add_row("total", f"{sum(counts.values()):,}", style="bold")
    out.print(table)
    out.print(f"head hash: {head or '- (empty journal)'}", soft_wrap=True)
    return 0


# --- explain ---------------------------------------------------------------------------


def _explain(args: argparse.Namespace, out: Console) -> int:
    from .catalogue import CatalogStore
    from .cli import data_dir_from
    from .report import explain

    data_dir = data_dir_from(args)
    with _open(args) as storage:
        e = explain(storage.journal, CatalogStore(data_dir / "catalog"), args.check_id)
    if args.json:
        emit_json(_explanation_dict(e))
        return 0 if e.matches else (2 if e.matches is None else 1)
    out.print(
        f"check {e.check_id} at {e.checked_at}: {escape(e.subject)}, {escape(e.matter)}, "
        f"source {e.source}, catalogue {e.catalog_version}",
        soft_wrap=True,
    )
    out.print(f"recorded outcome: {e.recorded_outcome}; re-derived: {e.derived_outcome or '-'}")
    table = Table(title="Measures / 奖惩措施", show_lines=True)
    id_column(table, "measure", [m.id for m in e.measures])
    text_column(table, "status\ntitle")
    id_column(table, "entries", [x.entry_id for m in e.measures for x in m.entries])
    text_column(table, "entry: holder, list, category, status, listed, by")
    for m in e.measures:
        table.add_row(
            m.id,
            f"{m.status}{', mandatory' if m.mandatory else ''}\n"
            f"{escape(m.title_zh)}\n{escape(m.title_en)}",
            "\n".join(x.entry_id for x in m.entries) or "-",
            "\n".join(
                escape(
                    f"{x.holder}, {x.list} {x.category}, {x.status}, "
                    f"{x.listed_on}–{x.expires_on or '…'}, {x.authority}"
                )
                for x in m.entries
            )
            or "-",
        )
    out.print(table)
    for m in e.measures:
        out.print(f"basis of {m.id}: {escape(m.basis)}")
    for reason in e.reasons:
        out.print(f"• {escape(reason.zh)}\n  {escape(reason.en)}")
    if e.matches is None:
        out.print(f"[yellow]cannot re-derive: {escape('; '.join(e.differences))}[/yellow]")
        return 2
    if not e.matches:
        for d in e.differences:
            out.print(f"[red]differs: {escape(d)}[/red]")
        return 1
    out.print("[green]re-derived decision matches the journal[/green]")
    return 0


def _explanation_dict(e: Any) -> dict[str, Any]:
    from dataclasses import asdict

    data: dict[str, Any] = asdict(e)
    data["reasons"] = [{"zh": r.zh, "en": r.en} for r in e.reasons]
    return data


# --- export ------------------------------------------------------------------------------


def _csv_row(record: dict[str, Any]) -> list[Any]:
    matter = record.get("matter") or {}
    subject = record.get("subject") or {}
    measures = record.get("measures")
    row = {
        "type": record.get("type"),
        "id": record.get("id"),
        "check_id": record.get("id") if record.get("type") == "check" else record.get("check_id"),
        "time": record.get("checked_at") or record.get("acted_at"),
        "agency_id": record.get("agency_id"),
        "department": record.get("department"),
        "operator": record.get("operator"),
        "matter_category": matter.get("category"),
        "matter_code": matter.get("code"),
        "case_id": matter.get("case_id"),
        "subject_id": mask_id(str(subject["id"]), subject.get("kind"))
        if subject.get("id")
        else None,
        "subject_kind": subject.get("kind"),
        "outcome": record.get("outcome"),
        "measures": (
            ";".join(f"{m.get('id')}:{m.get('status')}" for m in measures)
            if isinstance(measures, list)
            else None
        ),
        "source": record.get("source"),
        "data_as_of": record.get("data_as_of"),
        "recheck_of": record.get("recheck_of"),
        "catalog_version": record.get("catalog_version"),
        "action": record.get("action"),
        "measure_ids": ";".join(record.get("measure_ids") or ()) or None,
        "reason": record.get("reason"),
        "prev_hash": record.get("prev_hash"),
        "hash": record.get("hash"),
    }
    return [row[c] for c in _CSV_COLUMNS]


def export_records(records: Iterator[dict[str, Any]], fmt: str, sink: IO[str]) -> int:
    """Write records as JSON lines (verbatim: hashes verify) or CSV (personal ids masked).

    In CSV, text that a spreadsheet would take for a formula (``=2+2``, ``@…``,
    ``+…``, ``-…``) is written with a leading ``'``.

    >>> import io
    >>> buf = io.StringIO()
    >>> export_records(iter([{"type": "check", "id": "c1"}]), "jsonl", buf), buf.getvalue()
    (1, '{"id":"c1","type":"check"}\\n')
    """
    n = 0
    if fmt == "jsonl":
        for record in records:
            sink.write(
                json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
            )
            n += 1
        return n
    writer = csv.writer(sink)
    writer.writerow(_CSV_COLUMNS)
    for record in records:
        writer.writerow(csv_row(_csv_row(record)))  # text that Excel would evaluate: quoted
        n += 1
    return n


def _export(args: argparse.Namespace, out: Console) -> int:
    since = parse_instant(args.since) if args.since else None
    until = parse_instant(args.until) if args.until else None
    with _open(args) as storage:
        records = storage.journal.iter_records(since, until)
        if args.out:
            path = Path(args.out)
            path.parent.mkdir(parents=True, exist_ok=True)
            # utf-8-sig for CSV: spreadsheet programs then read the Chinese text right.
            encoding = "utf-8-sig" if args.format == "csv" else "utf-8"
            with path.open("w", encoding=encoding, newline="") as sink:
                n = export_records(records, args.format, sink)
            Console(stderr=True).print(f"{n} records written to {path}")
        else:
            buffer = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
            try:
                export_records(records, args.format, buffer)
            finally:
                try:
                    buffer.flush()
                finally:
                    # Even when the reader went away (``| head``): the wrapper must not
                    # close standard output when it is collected.
                    buffer.detach()
    return 0


# --- pending actions ---------------------------------------------------------------------


def _pending_actions(args: argparse.Namespace, out: Console) -> int:
    from .report import pending_actions

    with _open(args) as storage:
        rows = pending_actions(storage, days=args.days)
    if args.json:
        emit_json(
            {
                "days": args.days,
                "checks": [
                    {
                        "check_id": r.check_id,
                        "checked_at": r.checked_at.isoformat(),
                        "subject": r.subject,
                        "matter": r.matter,
                        "case_id": r.case_id,
                        "outcome": r.outcome,
                        "measure_ids": list(r.measure_ids),
                        "days_waiting": r.days_waiting,
                    }
                    for r in rows
                ],
            }
        )
        return 0
    table = Table(
        title=f"Checks with measures and no action after {args.days} days / 待反馈",
        show_lines=True,
    )
    firsts = [f"{r.check_id}\n{r.subject}" for r in rows]
    id_column(table, "check id\nsubject", firsts)
    text_column(table, "checked at, matter\noutcome, days waiting")
    id_column(table, "measures", [m for r in rows for m in r.measure_ids])
    for first, r in zip(firsts, rows, strict=True):
        table.add_row(
            escape(first),
            f"{r.checked_at:%Y-%m-%d %H:%M}\n{escape(r.matter)}\n{r.outcome}\n"
            f"{r.days_waiting} day{'s' if r.days_waiting != 1 else ''}",
            "\n".join(r.measure_ids),
        )
    out.print(table)
    out.print(
        f"{len(rows)} checks waiting for feedback; record what was done with: "
        "credit-check action CHECK_ID applied|not_applied|overridden",
        soft_wrap=True,
    )
    return 0


# --- objections ----------------------------------------------------------------------------


def _objection_file(args: argparse.Namespace, out: Console) -> int:
    from ._checker import CreditChecker
    from .cli import settings_from

    with CreditChecker(settings_from(args)) as checker:
        objection_id = checker.file_objection(args.check_id, args.entry_id, args.reason, args.by)
        check = checker.journal.get(args.check_id) or {}
        # Local bookkeeping; recording twice is harmless, so this stays right
        # whether or not file_objection records it itself.
        checker.storage.objections.record(
            objection_id, args.check_id, args.entry_id, str((check.get("subject") or {}).get("id"))
        )
    if args.json:
        emit_json(
            {
                "objection_id": objection_id,
                "check_id": args.check_id,
                "entry_id": args.entry_id,
                "status": "verifying",
            }
        )
    else:
        out.print(f"objection {escape(objection_id)} filed; status verifying", soft_wrap=True)
    return 0


def _objection_status(args: argparse.Namespace, out: Console) -> int:
    from ._checker import CreditChecker
    from .cli import settings_from

    with CreditChecker(settings_from(args)) as checker:
        answer = checker.objection_status(args.objection_id)
        status = answer.get("status")
        known = False
        if status in ("verifying", "upheld", "rejected"):
            known = checker.storage.objections.update(args.objection_id, status)
    if args.json:
        emit_json({"objection_id": args.objection_id, "status": status, "updated_locally": known})
        return 0
    shown = escape(str(status or "-"))
    out.print(f"objection {escape(args.objection_id)}: {shown}", soft_wrap=True)
    if not known:
        out.print("(not filed through this data folder; nothing updated locally)")
    return 0


def register(sub: Any) -> None:
    """Add ``journal`` and ``objection`` with their subcommands to the ``credit-check`` parser."""
    from .cli import add_settings, add_storage_flags

    journal = sub.add_parser("journal", help="the local journal (no credentials needed)")
    commands = journal.add_subparsers(dest="journal_command", required=True)
    parsers = {}
    for name, handler, text in (
        ("verify", _verify, "walk the hash chain and name every broken record"),
        ("stats", _stats, "records by upload state and the head hash"),
        ("explain", _explain, "re-derive a check's decision from its stored inputs"),
        ("export", _export, "write records as JSON lines (verbatim) or CSV (ids masked)"),
        ("pending-actions", _pending_actions, "checks with measures and no action yet"),
    ):
        cmd = commands.add_parser(name, help=text)
        if name != "export":  # export writes its own format (--format)
            add_json(cmd, f"journal {name}")
        add_storage_flags(cmd)
        cmd.set_defaults(func=handler)
        parsers[name] = cmd
    parsers["verify"].add_argument(
        "--columns",
        action="store_true",
        help="also re-derive the report columns and measure rows from each body"
        " and name every stored value that disagrees",
    )
    parsers["explain"].add_argument("check_id")
    export = parsers["export"]
    export.add_argument("--since", help="YYYY-MM-DD (Asia/Shanghai midnight) or RFC 3339")
    export.add_argument("--until", help="exclusive; same forms as --since")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--out", metavar="FILE", help="default: standard output")
    parsers["pending-actions"].add_argument(
        "--days", type=int, default=5, help="checks this many days old or more (default 5)"
    )

    objection = sub.add_parser("objection", help="file and follow objections (异议, §五(三))")
    ocommands = objection.add_subparsers(dest="objection_command", required=True)
    file_cmd = ocommands.add_parser("file", help="file a subject's objection to an entry")
    file_cmd.add_argument("check_id")
    file_cmd.add_argument("entry_id")
    file_cmd.add_argument("--reason", required=True)
    file_cmd.add_argument("--by", required=True, help="who submits it (operator id)")
    add_json(file_cmd, "objection file")
    add_settings(file_cmd)
    file_cmd.set_defaults(func=_objection_file)
    status_cmd = ocommands.add_parser("status", help="the platform's state of an objection")
    status_cmd.add_argument("objection_id")
    add_json(status_cmd, "objection status")
    add_settings(status_cmd)
    status_cmd.set_defaults(func=_objection_status)
