"""What every ``credit-check`` command shares: ``--json`` and ``--timeout``, tables whose
ids stay whole, progress bars, and one-line messages for the errors a user can fix.

Output rules: with ``--json`` a command writes one JSON document to standard output and
nothing else (messages, warnings and progress go to standard error); without it, tables
and lines for a person. Personal ids are masked in both.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import select
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ._exceptions import ConfigurationError, CreditCheckError
from ._ids import mask_id, mask_ids_in
from ._refusals import exit_status, refusal_kind

if TYPE_CHECKING:  # the models load with the checker, not to parse the command line
    from ._models import Decision

__all__ = [
    "DEPRECATED_OPTIONS",
    "EXIT_INTERRUPTED",
    "EXIT_OUTPUT_CLOSED",
    "JSON_KEYS",
    "add_json",
    "add_timeout",
    "counts_line",
    "decision_json",
    "decision_table",
    "emit_json",
    "failure_status",
    "id_column",
    "output_closed",
    "progress",
    "quoted",
    "stderr",
    "stdout",
    "text_column",
]

#: The exit status of a command stopped with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

#: The exit status of a command whose standard output was closed before it finished
#: (``credit-check journal export | head -1``): 128 + SIGPIPE, what a shell reports for
#: a command the signal stopped. Nothing more is written, and no traceback.
EXIT_OUTPUT_CLOSED = 141

#: Old option spellings, still accepted (hidden from ``--help``) with a warning: new name.
DEPRECATED_OPTIONS: dict[str, str] = {
    "--flush-timeout": "--timeout",
    "--timeout-seconds": "--timeout",
}

#: The keys of the JSON document each command prints with ``--json``, and what they hold.
#: Keys are only ever added; tests/test_cli_json.py compares every command's output with it.
JSON_KEYS: dict[str, dict[str, str]] = {
    "check": {
        "check_id": "the journal record to attach actions to",
        "subject": "id (masked for a person) and kind",
        "matter": "category, code, case id, missing documents, commitment",
        "outcome": "green_channel, tolerance, normal, restriction or review",
        "measures": "each measure: id, status, mandatory, title, entries …",
        "reasons": "why, in Chinese (zh) and English (en)",
        "source": "live, cache, snapshot or none",
        "degraded": "true when not decided from a live or fresh profile",
        "data_as_of": "when the data decided from was current",
        "checked_at": "when the check was made",
        "catalog_version": "the measures catalogue applied",
        "recheck_of": "the check this one re-checks, or null",
        "upload": "state (pending, accepted, duplicate, rejected) and detail",
    },
    "check-many": {
        "file": "the file read",
        "matter": "the matter category",
        "results": "one per checked line: line, then the keys of `check --json`",
        "invalid": "lines not checked: line, value (masked), reason",
        "summary": "checks by outcome",
        "journal_pending": "records not uploaded when the command ended",
        "rejected": "records the platform refused: check_id, detail",
    },
    "action": {
        "action_id": "the action record's id",
        "check_id": "the check it belongs to",
        "action": "applied, not_applied or overridden",
        "measure_ids": "the measures it concerns",
        "reason": "why (null for applied without one)",
        "operator": "who recorded it, or null",
        "upload": "state (pending, accepted, duplicate, rejected) and detail",
    },
    "flush": {
        "pending": "records still to upload when the timeout ended",
        "uploads": "records by upload state: pending, accepted, duplicate, rejected",
    },
    "catalog": {
        "version": "the catalogue's version",
        "published_at": "when it was published",
        "measures": "every measure: id, kind, effect, mandatory, matters, trigger, title …",
        "parameters": "the numbers the rules use (clean years, time limits, bonus caps …)",
    },
    "health": {
        "platform_answers": "whether the platform answered a signed request",
        "breaker": "state, consecutive failures, open for, last error",
        "snapshot": "entries, as of, age, usable, cursor, path (null: none yet)",
        "background": "the background thread: running, passes, failures, last success",
        "followups": "re-checks pending, reverified, changed; watches",
        "relations": "related parties kept for offline decisions",
        "uploads": "journal records by upload state",
        "disclosures": "双公示 the platform has not received: pending, due, late, next_due_on",
        "catalog_version": "the catalogue in force",
        "configuration": "a refusal in force (credentials, permission, clock) and the proxy",
        "file_modes": "private: whether only this user can read the data folder; wider: fixes",
        "storage": "kind (sqlite, postgresql), location (password masked), its files or schema",
        "checked_at": "when this report was made",
    },
    "journal verify": {
        "ok": "true when the hash chain is intact (and, with --columns, every column agrees)",
        "checked": "records walked",
        "problems": "broken records: seq, id, kind, detail",
        "columns": "with --columns: ok, checked, mismatch_count, mismatches; else null",
    },
    "journal stats": {
        "records": "records by upload state",
        "head_hash": "the hash of the last record (null: empty journal)",
    },
    "journal explain": {
        "check_id": "the check explained",
        "recorded_outcome": "the outcome in the journal",
        "derived_outcome": "the outcome re-derived from the stored inputs (null: cannot be)",
        "matches": "true, false, or null when it cannot be re-derived",
        "differences": "what differs, or why it cannot be re-derived",
        "measures": "each measure with its entries and basis",
        "reasons": "the reasons, zh and en",
        "…": "and the check's subject, matter, source, time and catalogue version",
    },
    "journal pending-actions": {
        "days": "the --days asked for",
        "checks": "check_id, checked_at, subject (masked), matter, outcome, measure_ids, "
        "days_waiting",
    },
    "disclosures pending": {
        "today": "the day (Asia/Shanghai) the states are judged on",
        "disclosures": "each not yet received by the platform, late first: disclosure_id, "
        "kind, subject_id (masked), decision_no, title, decided_on, due_on, state (due or "
        "late), days_left, check_id",
        "due": "how many are still within their 7 working days",
        "late": "how many are past their due day",
    },
    "objection file": {
        "objection_id": "the platform's id for it",
        "check_id": "the check it objects to",
        "entry_id": "the list entry objected to",
        "status": "verifying",
    },
    "objection status": {
        "objection_id": "the objection",
        "status": "verifying, upheld or rejected",
        "updated_locally": "whether this data folder filed it and now holds the new status",
    },
    "report": {
        "…": "the monthly report document the platform takes (platform-api.yaml MonthlyReport)"
    },
    "snapshot status": {
        "entries": "list entries held",
        "as_of": "when the lists were current (null: no snapshot)",
        "age_seconds": "how old that is",
        "synced_at": "the last sync",
        "cursor": "where the next sync goes on from",
        "path": "the snapshot file (null: none yet)",
        "size_bytes": "its size",
    },
    "snapshot import": {
        "entries": "entries loaded",
        "as_of": "the export's time",
        "cursor": "where syncs go on from",
        "seconds": "how long it took",
    },
    "snapshot download": {
        "path": "the file written",
        "bytes": "its size",
    },
    "sync": {
        "resynced": "true when the snapshot was rebuilt from the start",
        "applied": "changes applied",
        "upserts": "entries added or changed",
        "deletes": "entries removed",
        "pages": "pages of the change feed read",
        "as_of": "when the snapshot is current to",
    },
    "screen": {
        "file": "the file read",
        "matter": "the matter category",
        "encoding": "the encoding found",
        "id_column": "the id column's header",
        "name_column": "the name column's header, or null",
        "blank_lines": "blank lines skipped",
        "summary": "checks by outcome",
        "results": "line, id (masked), kind, name, outcome, measures, reasons, source, "
        "degraded, check_id",
        "invalid": "rows not screened: line, value (masked), name, reason",
        "journal_pending": "records not uploaded when the command ended",
        "xlsx": "the file written with --out, or null",
    },
}


class _StdoutConsole(Console):
    """A console on standard output that lets a closed pipe reach the command's caller.

    rich's own answer to a closed pipe is ``SystemExit(1)``; ``credit-check`` answers
    every closed standard output alike (:data:`EXIT_OUTPUT_CLOSED`), so it re-raises.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more to write: the reader is gone
        raise BrokenPipeError(errno.EPIPE, "standard output was closed")


def stdout() -> Console:
    """The console a command prints its tables and lines on (standard output)."""
    return _StdoutConsole()


def output_closed(exc: BaseException) -> bool:
    """Whether ``exc`` says standard output was closed by its reader (``… | head``).

    When it was, standard output is pointed at the null device, so that the writes
    still buffered (Python flushes them on exit) go nowhere instead of failing again —
    the recipe of the Python documentation's note on SIGPIPE. A broken pipe elsewhere
    (a socket) is not this, and is left alone.
    """
    if not isinstance(exc, BrokenPipeError):
        return False
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False  # not a real file (a test's capture): not a closed pipe
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        # A pipe whose reader has gone reports POLLERR to its writer; a socket, POLLHUP.
        if not any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0)):
            return False
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
    return True


def stderr() -> Console:
    """A console on standard error for messages: whole lines (easy to grep and to paste)."""
    return Console(stderr=True, soft_wrap=True, highlight=False)


def quoted(text: object) -> str:
    """``text`` between double quotes, for a message (never a Python repr).

    >>> quoted("zs-fgj")
    '"zs-fgj"'
    """
    return f'"{text}"'


def counts_line(counts: Mapping[str, int]) -> str:
    """``accepted 3, pending 1`` from a mapping of counts (``nothing`` when empty).

    >>> counts_line({"pending": 1, "accepted": 3})
    'accepted 3, pending 1'
    """
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing"


# --- options ------------------------------------------------------------------------------


_warned: set[str] = set()


class _DeprecatedAlias(argparse.Action):
    """An old spelling of an option: does what the new one does, and says so once."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if option_string is not None and option_string not in _warned:
            _warned.add(option_string)
            new = DEPRECATED_OPTIONS.get(option_string, "")
            stderr().print(
                f"credit-check: {option_string} is deprecated; use {new}",
                style="yellow",
                markup=False,
            )
        setattr(namespace, self.dest, values)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):  # also refuses NaN
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds (0 or more)")
    return value


def add_timeout(parser: argparse.ArgumentParser, default: float, what: str) -> None:
    """``--timeout SECONDS``: the command's time budget, with the old spellings hidden."""
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=default,
        metavar="SECONDS",
        help=f"{what} (default {default:g})",
    )
    parser.add_argument(
        *DEPRECATED_OPTIONS,
        dest="timeout",
        type=_seconds,
        action=_DeprecatedAlias,
        help=argparse.SUPPRESS,
    )


def add_json(parser: argparse.ArgumentParser, command: str) -> None:
    """``--json``: one JSON document on standard output, with the keys of ``JSON_KEYS``."""
    keys = ", ".join(k for k in JSON_KEYS[command] if k != "…")
    what = f"keys: {keys}" if keys else "the report document"
    parser.add_argument(
        "--json",
        action="store_true",
        help=f"print one JSON document on standard output ({what}); messages go to stderr",
    )


# --- JSON ---------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} cannot be written as JSON")


def emit_json(doc: Any) -> None:
    """Write ``doc`` to standard output as one JSON document (UTF-8, indented)."""
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=_json_default) + "\n")
    sys.stdout.flush()


def decision_json(decision: Decision) -> dict[str, Any]:
    """A decision as ``check --json`` prints it: a person's id masked.

    >>> from credit_check_sdk.testing import FakePlatform
    >>> with FakePlatform().checker() as c:  # doctest: +SKIP
    ...     decision_json(c.must_check("442000199001011233", "bidding"))["subject"]
    {'id': '4420**********1233', 'kind': 'natural_person'}
    """
    doc: dict[str, Any] = decision.model_dump(mode="json")
    subject = doc["subject"]
    subject["id"] = mask_id(subject["id"], subject.get("kind"))
    return doc


# --- tables -------------------------------------------------------------------------------


def id_column(table: Table, header: str, values: Sequence[str], **options: Any) -> None:
    """Add a column of ids that a user copies: never cut, never broken at 80 columns.

    The column is as wide as its longest id and does not wrap; should the
    terminal be narrower still, an id folds onto the next line instead of
    ending in "…".
    """
    widest = max((len(line) for v in values for line in v.splitlines()), default=0)
    table.add_column(header, no_wrap=True, overflow="fold", min_width=widest or None, **options)


def text_column(table: Table, header: str, **options: Any) -> None:
    """Add a column of text that may wrap and fold (never cut short with "…")."""
    table.add_column(header, overflow="fold", **options)


def _source(decision: Decision) -> str:
    return decision.source + (", degraded" if decision.degraded else "")


def decision_table(decisions: Sequence[Decision], *, lines: Sequence[int] | None = None) -> Table:
    """Decisions with their subject and check id in full (a person's id masked).

    ``lines``: the input file's line of each decision, shown beside the subject.
    """
    table = Table(title="Credit checks / 信用核查", show_lines=True)
    firsts = []
    for i, d in enumerate(decisions):
        subject = mask_id(d.subject.id, d.subject.kind)
        where = f"  line {lines[i]}" if lines is not None else ""
        firsts.append(f"{subject}{where}\n{d.check_id}")
    id_column(table, "subject\ncheck id", firsts)
    text_column(table, "outcome\nmatter, source")
    measure_ids = [m.id for d in decisions for m in d.measures]
    table.add_column("measures", overflow="fold", min_width=max(map(len, measure_ids), default=1))
    for first, d in zip(firsts, decisions, strict=True):
        measures = "\n".join(
            f"{m.id} ({m.status}{', mandatory' if m.mandatory else ''})" for m in d.measures
        )
        table.add_row(
            escape(first),
            f"{d.outcome.value}\n{escape(d.matter.category)}, {_source(d)}",
            escape(measures) or "-",
        )
    return table


# --- progress -----------------------------------------------------------------------------


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error, shown only when standard error is a terminal.

    Yields ``advance(n)``. Standard output stays free for the results (or the JSON).
    """
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    with bar:
        task = bar.add_task(escape(description), total=total)
        yield lambda n: bar.advance(task, n)


# --- errors -------------------------------------------------------------------------------


def _setting_flag(setting: str) -> str:
    from .cli import SETTING_FLAGS

    return SETTING_FLAGS.get(setting, "--" + setting.replace("_", "-"))


def _message(exc: BaseException) -> tuple[str, int] | None:
    """The one line and exit status for an error a user can act on; None for a bug."""
    if isinstance(exc, ConfigurationError):
        flag = f"; on the command line: {_setting_flag(exc.setting)}" if exc.setting else ""
        return f"{exc}{flag}", 2
    if isinstance(exc, CreditCheckError):
        return str(exc), exit_status(refusal_kind(exc)) or 2
    if isinstance(exc, ImportError) and "pip install" in str(exc):
        return str(exc), 2  # an optional extra is missing: the message names the command
    if isinstance(exc, OSError):
        if exc.filename is not None:
            return f"{exc.strerror or exc}: {exc.filename}", 2
        return str(exc) or type(exc).__name__, 2
    return None


def failure_status(exc: BaseException, *, verbose: bool) -> int:
    """Say what went wrong on standard error and return the exit status.

    Errors a user can fix (a setting, an id, a file, a missing extra, the platform's
    refusal) take one line. Anything else is a bug: one line and a hint, or with
    ``-v`` the traceback (personal ids masked).
    """
    err = stderr()
    known = _message(exc)
    if known is not None:
        text, status = known
        err.print(f"credit-check: {mask_ids_in(text)}", style="red", markup=False)
        return status
    if verbose:
        trace = "".join(traceback.format_exception(exc))
        err.print(mask_ids_in(trace.rstrip()), markup=False)
    else:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        err.print(
            f"credit-check: unexpected error: {mask_ids_in(what)} (run with -v for the traceback)",
            style="red",
            markup=False,
        )
    return 2
