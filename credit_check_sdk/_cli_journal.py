"""``credit-check journal …`` and ``credit-check objection …``: tools for auditors.

The journal commands read the local journal only and need no platform credentials::

    credit-check journal verify                 # walk the hash chain; exit 1 naming each problem
    credit-check journal verify --columns       # also re-derive the report columns from bodies
    credit-check journal stats                  # records by upload state, head hash
    credit-check journal explain CHECK_ID       # re-derive a decision from its stored inputs
    credit-check journal export --since 2026-10-01 --until 2026-11-01 --format csv --out oct.csv
    credit-check journal pending-actions --days 5

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
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._cells import csv_row
from ._exceptions import InvalidRequestError
from ._ids import mask_id, mask_ids_in
from ._time import SHANGHAI
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
    """A stored or derived value for the terminal: repr, RIC-shaped runs masked."""
    return escape(mask_ids_in(repr(value)))


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
    status = 0
    if result.ok:
        out.print(f"journal intact: {result.checked} records, hash chain verified")
    else:
        for problem in result.problems:
            where = f"record #{problem.seq} {problem.id}"
            out.print(f"[red]{escape(where)}: {problem.kind}[/red] {escape(problem.detail)}")
        out.print(f"{len(result.problems)} problems in {result.checked} records")
        status = 1
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
    return 1


def _stats(args: argparse.Namespace, out: Console) -> int:
    with _open(args) as storage:
        counts = storage.journal.counts()
        head = storage.journal.head_hash()
    table = Table(title="Journal")
    table.add_column("upload state")
    table.add_column("records", justify="right")
    for state, n in sorted(counts.items()):
        table.add_row(state, str(n))
    out.print(table)
    out.print(f"head hash: {head}")
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
        out.print_json(json.dumps(_explanation_dict(e), ensure_ascii=False, default=str))
    else:
        out.print(
            f"check {e.check_id} at {e.checked_at}: {e.subject}, {e.matter}, source {e.source},"
            f" catalogue {e.catalog_version}"
        )
        out.print(f"recorded outcome: {e.recorded_outcome}; re-derived: {e.derived_outcome or '-'}")
        table = Table(title="Measures / 奖惩措施", show_lines=True)
        for col in ("measure", "status", "mandatory", "title", "entries", "basis"):
            table.add_column(col)
        for m in e.measures:
            entries = "\n".join(
                f"{x.entry_id} ({x.holder}, {x.list} {x.category}, {x.status},"
                f" {x.listed_on}–{x.expires_on or '…'}, {x.authority})"
                for x in m.entries
            )
            table.add_row(
                m.id,
                m.status,
                "yes" if m.mandatory else "no",
                f"{m.title_zh}\n{m.title_en}",
                escape(entries) or "-",
                escape(m.basis),
            )
        out.print(table)
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
                buffer.flush()
                buffer.detach()
    return 0


# --- pending actions ---------------------------------------------------------------------


def _pending_actions(args: argparse.Namespace, out: Console) -> int:
    from .report import pending_actions

    with _open(args) as storage:
        rows = pending_actions(storage, days=args.days)
    table = Table(title=f"Checks with measures and no action after {args.days} days / 待反馈")
    for col in ("checked at", "check id", "subject", "matter", "outcome", "measures", "days"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            f"{r.checked_at:%Y-%m-%d %H:%M}",
            r.check_id,
            r.subject,
            r.matter,
            r.outcome,
            ", ".join(r.measure_ids),
            str(r.days_waiting),
        )
    out.print(table)
    out.print(f"{len(rows)} checks waiting for feedback")
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
    out.print(f"objection {objection_id} filed; status verifying")
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
    out.print(f"objection {escape(args.objection_id)}: {status}")
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
    parsers["explain"].add_argument("--json", action="store_true")
    export = parsers["export"]
    export.add_argument("--since", help="YYYY-MM-DD (Asia/Shanghai midnight) or RFC 3339")
    export.add_argument("--until", help="exclusive; same forms as --since")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--out", metavar="FILE", help="default: standard output")
    parsers["pending-actions"].add_argument("--days", type=int, default=5)

    objection = sub.add_parser("objection", help="file and follow objections (异议, §五(三))")
    ocommands = objection.add_subparsers(dest="objection_command", required=True)
    file_cmd = ocommands.add_parser("file", help="file a subject's objection to an entry")
    file_cmd.add_argument("check_id")
    file_cmd.add_argument("entry_id")
    file_cmd.add_argument("--reason", required=True)
    file_cmd.add_argument("--by", required=True, help="who submits it (operator id)")
    add_settings(file_cmd)
    file_cmd.set_defaults(func=_objection_file)
    status_cmd = ocommands.add_parser("status", help="the platform's state of an objection")
    status_cmd.add_argument("objection_id")
    add_settings(status_cmd)
    status_cmd.set_defaults(func=_objection_status)
