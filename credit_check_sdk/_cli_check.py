"""``credit-check check``, ``check-many``, ``action``, ``flush`` and ``catalog``.

::

    credit-check check 91442000MA4UJ2KQ57 bidding
    credit-check check-many ids.txt --matter bidding --json > checks.json
    credit-check action CHECK_ID applied
    credit-check action CHECK_ID not_applied --reason "投标已撤回" --operator zhang.w
    credit-check flush --timeout 60
    credit-check catalog

``check-many`` reads one id a line (``#`` starts a comment line; ``-`` reads
standard input). A line that holds no valid id is reported by its line number,
as an editor shows it, and the other lines are checked all the same (exit
status 1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._cli_common import (
    add_json,
    add_timeout,
    counts_line,
    decision_json,
    decision_table,
    emit_json,
    id_column,
    progress,
    quoted,
    stderr,
    text_column,
)
from ._cli_screen import InvalidRow, ScreenRow, invalid_row, screen
from ._env import ENV_VARS
from ._exceptions import InvalidArgumentError, InvalidRequestError, InvalidSubjectError
from ._ids import mask_ids_in
from ._refusals import exit_status

if TYPE_CHECKING:  # imported where used: the command line starts without the checker
    from ._checker import CreditChecker
    from ._models import Decision

__all__ = ["read_ids", "refused_status", "register", "upload_states"]

#: An upload state as the JSON shows it: {"state": ..., "detail": ...}.
_NOT_JOURNALED = {"state": None, "detail": None}


def refused_status(checker: CreditChecker, status: int = 0) -> int:
    """``status``, or 3 / 4 when the platform refused this app's credentials or the clock."""
    last = checker.client.refusals.last
    refused = exit_status(last.kind) if last is not None else None
    if refused is None or last is None:
        return status
    what = {
        "credentials": "the app id or secret (CREDIT_CHECK_APP_ID, CREDIT_CHECK_APP_SECRET)",
        "permission": "this app's permission",
        "clock": "this machine's clock (more than 300 s off the platform's)",
    }[last.kind]
    line = f"the platform refused {what}: {last.status} {last.detail or ''}".rstrip()
    stderr().print(f"credit-check: {line}", style="red", markup=False)
    return refused


def upload_states(checker: CreditChecker, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each record's upload state and the platform's reason for a rejection."""
    states = {}
    for record_id in ids:
        state = checker.journal.upload_state(record_id)
        states[record_id] = (
            {"state": state[0], "detail": state[1]} if state is not None else _NOT_JOURNALED
        )
    return states


def _report_uploads(checker: CreditChecker, states: dict[str, dict[str, Any]]) -> int:
    """Say on stderr what was not uploaded; 1 when the platform rejected a record.

    A check whose record the platform refuses was never reported back (实施情况反馈):
    most often the agency id is not the one the platform knows the app by.
    """
    rejected: dict[str, list[str]] = {}
    pending = 0
    for record_id, state in states.items():
        if state["state"] == "rejected":
            rejected.setdefault(state["detail"] or "no reason given", []).append(record_id)
        elif state["state"] == "pending":
            pending += 1
    err = stderr()
    if pending:
        err.print(
            f"credit-check: {pending} journal record(s) not uploaded yet; they stay in the "
            "journal and go with the next upload (credit-check flush)",
            markup=False,
        )
    for reason, ids in rejected.items():
        err.print(
            f"credit-check: the platform rejected the journal record of {len(ids)} "
            f"check(s) ({', '.join(ids[:3])}{' …' if len(ids) > 3 else ''}): "
            f"{mask_ids_in(reason)}",
            style="red",
            markup=False,
        )
    if rejected:
        err.print(
            f"credit-check: records name agency id {quoted(checker.settings.agency_id)}; is it "
            f"the one the platform gave for app {quoted(checker.settings.app_id)}? "
            f"(--agency-id / ${ENV_VARS['agency_id']})",
            style="red",
            markup=False,
        )
        return 1
    return 0


def _print_reasons(out: Console, decision: Decision) -> None:
    for reason in decision.reasons:
        out.print(f"• {escape(reason.zh)}\n  {escape(reason.en)}")


# --- check -------------------------------------------------------------------------------


def _check(args: argparse.Namespace, out: Console) -> int:
    from ._checker import CreditChecker
    from ._models import Matter
    from .cli import settings_from

    with CreditChecker(settings_from(args)) as checker:
        matter = Matter(
            args.matter,
            code=args.code,
            case_id=args.case_id,
            missing_documents=args.missing or [],
            commitment=args.commitment,
        )
        decision = checker.must_check(args.subject, matter, operator=args.operator)
        if not args.json:  # at once: the upload below may take the whole --timeout
            out.print(decision_table([decision]))
            _print_reasons(out, decision)
            out.print(f"check id: {decision.check_id}", soft_wrap=True)
        checker.flush(timeout=args.timeout)
        states = upload_states(checker, [decision.check_id])
        if args.json:
            emit_json({**decision_json(decision), "upload": states[decision.check_id]})
        return refused_status(checker, _report_uploads(checker, states))


# --- check-many ---------------------------------------------------------------------------


def read_ids(text: str) -> tuple[list[ScreenRow], list[InvalidRow]]:
    """The ids of a file, one a line, by line number (1-based); and the lines that are not.

    Blank lines and lines starting with ``#`` are skipped.

    >>> rows, bad = read_ids("# bidders\\n91442000MA4UC00019\\n\\nnot-an-id\\n")
    >>> [(r.line, r.subject.id) for r in rows], [(b.line, b.value) for b in bad]
    ([(2, '91442000MA4UC00019')], [(4, 'not-an-id')])
    """
    from ._models import Subject  # with the checker, not to parse the command line

    rows: list[ScreenRow] = []
    invalid: list[InvalidRow] = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        try:
            rows.append(ScreenRow(number, Subject.parse(value), ""))
        except InvalidSubjectError as exc:
            invalid.append(invalid_row(number, value, "", exc))
    return rows, invalid


def _read_text(file: str) -> str:
    data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            f"{'standard input' if file == '-' else file} is not UTF-8 text (byte {exc.start}); "
            "save it as UTF-8"
        ) from None


def _invalid_table(invalid: Sequence[InvalidRow]) -> Table:
    table = Table(title=f"Lines not checked / 未核查的行: {len(invalid)}")
    table.add_column("line", no_wrap=True)
    id_column(table, "value", [i.value for i in invalid])
    text_column(table, "reason")
    for item in invalid:
        table.add_row(str(item.line), escape(item.value or "-"), escape(item.reason))
    return table


def _check_many(args: argparse.Namespace, out: Console) -> int:
    from ._checker import CreditChecker
    from .cli import settings_from

    settings = settings_from(args)  # a missing setting fails before the file is read
    rows, invalid = read_ids(_read_text(args.file))
    talk = stderr() if args.json else out
    done: list[ScreenRow] = []
    states: dict[str, dict[str, Any]] = {}
    status = 1 if invalid else 0
    remaining = 0
    with CreditChecker(settings) as checker:
        if rows:
            with progress(f"checking for {args.matter}", len(rows)) as advance:
                done = screen(checker, rows, args.matter, operator=args.operator, progress=advance)
            decisions = [r.decision for r in done if r.decision is not None]
            if not args.json:
                out.print(decision_table(decisions, lines=[r.line for r in done]))
            remaining = checker.flush(timeout=args.timeout)
            states = upload_states(checker, [d.check_id for d in decisions])
        if invalid:
            talk.print(_invalid_table(invalid))
        summary: dict[str, int] = {}
        for row in done:
            if row.decision is not None:
                key = row.decision.outcome.value
                summary[key] = summary.get(key, 0) + 1
        if args.json:
            emit_json(
                {
                    "file": args.file,
                    "matter": args.matter,
                    "results": [
                        {"line": r.line, **decision_json(r.decision)}
                        for r in done
                        if r.decision is not None
                    ],
                    "invalid": [
                        {"line": i.line, "value": i.value, "reason": i.reason} for i in invalid
                    ],
                    "summary": summary,
                    "journal_pending": remaining,
                    "rejected": [
                        {"check_id": k, "detail": s["detail"]}
                        for k, s in states.items()
                        if s["state"] == "rejected"
                    ],
                }
            )
        talk.print(
            f"{len(done)} checked ({counts_line(summary)}); {len(invalid)} line(s) not checked",
            highlight=False,
        )
        return refused_status(checker, max(status, _report_uploads(checker, states)))


# --- action ------------------------------------------------------------------------------


def _action(args: argparse.Namespace, out: Console) -> int:
    from ._checker import CreditChecker
    from .cli import settings_from

    if args.action != "applied" and not (args.reason and args.reason.strip()):
        raise InvalidArgumentError(
            f'a {args.action} action needs a reason: --reason "…"', argument="reason"
        )
    with CreditChecker(settings_from(args)) as checker:
        action_id = checker.record_action(
            args.check_id,
            args.action,
            measure_ids=args.measure,
            reason=args.reason,
            operator=args.operator,
        )
        record = checker.journal.get(action_id) or {}
        measure_ids = list(record.get("measure_ids") or [])
        if not args.json:
            out.print(
                f"{args.action} recorded for check {args.check_id}: "
                f"{', '.join(measure_ids) or 'no measures'}",
                highlight=False,
                soft_wrap=True,
            )
            out.print(f"action id: {action_id}", soft_wrap=True)
        checker.flush(timeout=args.timeout)
        states = upload_states(checker, [action_id])
        if args.json:
            emit_json(
                {
                    "action_id": action_id,
                    "check_id": args.check_id,
                    "action": args.action,
                    "measure_ids": measure_ids,
                    "reason": record.get("reason"),
                    "operator": record.get("operator"),
                    "upload": states[action_id],
                }
            )
        return refused_status(checker, _report_uploads(checker, states))


# --- flush and catalog --------------------------------------------------------------------


def _flush(args: argparse.Namespace, out: Console) -> int:
    from ._checker import CreditChecker
    from .cli import settings_from

    with CreditChecker(settings_from(args)) as checker:
        remaining = checker.flush(timeout=args.timeout)
        counts = checker.upload_stats()
        if args.json:
            emit_json({"pending": remaining, "uploads": counts})
        else:
            table = Table(title="Uploads / 上传")
            table.add_column("state")
            table.add_column("records", justify="right")
            for state in ("accepted", "duplicate", "pending", "rejected"):
                table.add_row(state, f"{counts.get(state, 0):,}")
            out.print(table)
            if remaining:
                out.print(
                    f"[yellow]{remaining:,} record(s) still pending after {args.timeout:g} s; "
                    "they stay in the journal and go with the next upload[/yellow]"
                )
            else:
                out.print("every record is uploaded")
        return refused_status(checker, 0 if remaining == 0 else 1)


def _catalog(args: argparse.Namespace, out: Console) -> int:
    from ._checker import CreditChecker
    from .cli import settings_from

    with CreditChecker(settings_from(args)) as checker:
        checker.refresh_catalog()
        catalog = checker.catalog
        if args.json:
            emit_json(catalog.model_dump(mode="json"))
            return refused_status(checker)
        table = Table(title=f"Measures catalogue {catalog.version} / 奖惩措施清单", show_lines=True)
        id_column(table, "id", [m.id for m in catalog.measures])
        text_column(table, "kind, effect")
        text_column(table, "matters")
        text_column(table, "title")
        for m in catalog.measures:
            table.add_row(
                m.id,
                f"{m.kind}\n{m.effect}" + ("\nmandatory" if m.mandatory else ""),
                escape(", ".join(m.matters)),
                escape(m.title.zh),
            )
        out.print(table)
        return refused_status(checker)


# --- the parsers ------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add ``check``, ``check-many``, ``action``, ``flush`` and ``catalog``."""
    from .cli import add_settings

    check = sub.add_parser("check", help="check one subject for one matter")
    check.add_argument("subject", help="USCC or RIC")
    check.add_argument("matter", help="matter category, e.g. bidding")
    check.add_argument("--code", help="the matter's code in the agency's list of matters")
    check.add_argument("--case-id", help="the application's case number, kept in the journal")
    check.add_argument("--missing", action="append", help="a missing non-statutory document")
    check.add_argument("--commitment", action="store_true", help="a written commitment was given")
    check.add_argument("--operator", help="the officer making the check (journaled)")
    add_json(check, "check")
    add_timeout(check, 5.0, "seconds to wait for the record's upload before exiting")
    add_settings(check)
    check.set_defaults(func=_check)

    many = sub.add_parser(
        "check-many",
        help="check every id in a file (one per line)",
        description="Check every id of a file, one a line, for one matter. A line that "
        "holds no valid id is listed by its line number and the others are checked all "
        "the same (exit status 1).",
    )
    many.add_argument(
        "file", help="one USCC or RIC a line (# starts a comment line); - for standard input"
    )
    many.add_argument("--matter", required=True, help="matter category, e.g. bidding")
    many.add_argument("--operator", help="the officer making the checks (journaled)")
    add_json(many, "check-many")
    add_timeout(many, 10.0, "seconds to wait for the records' upload before exiting")
    add_settings(many)
    many.set_defaults(func=_check_many)

    action = sub.add_parser(
        "action",
        help="record what the flow did with a check's measures",
        description="Record what was done with a check's measures (实施情况反馈): applied, "
        "not_applied or overridden (these two need --reason). The record is journaled and "
        "uploaded like the check.",
    )
    action.add_argument("check_id", help="the check id that check / check-many printed")
    action.add_argument("action", choices=("applied", "not_applied", "overridden"))
    action.add_argument("--reason", help="why (required for not_applied and overridden)")
    action.add_argument(
        "--measure",
        action="append",
        metavar="ID",
        help="a measure it concerns (repeat for more; default: every measure of the check)",
    )
    action.add_argument("--operator", help="the officer recording it (journaled)")
    add_json(action, "action")
    add_timeout(action, 5.0, "seconds to wait for the record's upload before exiting")
    add_settings(action)
    action.set_defaults(func=_action)

    flush = sub.add_parser("flush", help="upload pending journal records now")
    add_json(flush, "flush")
    add_timeout(flush, 30.0, "how long to keep trying")
    add_settings(flush)
    flush.set_defaults(func=_flush)

    catalog = sub.add_parser("catalog", help="show the measures catalogue in force")
    add_json(catalog, "catalog")
    add_settings(catalog)
    catalog.set_defaults(func=_catalog)
