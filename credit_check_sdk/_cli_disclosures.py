"""``credit-check disclosures …``: the 双公示 an agency owes (§四(三)).

Reads the data folder (or ``--database-url``) only; needs no platform credentials::

    credit-check disclosures pending            # not yet received by the platform, late first
    credit-check disclosures pending --json     # the same, for monitoring (exit 1: some late)

A disclosure is due 7 Chinese working days after its decision
(:func:`credit_check_sdk.workdays.add_working_days`); it is *late* once that day has
passed. ``CreditChecker.disclose()`` keeps them and the background uploader posts
them; a disclosure listed here waits for the platform (an outage) or was refused by
it (the log says why).
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._cli_common import add_json, emit_json, id_column, text_column
from ._ids import mask_id
from ._time import today

__all__ = ["register"]

_KIND_NAMES = {"licence": "licensing (行政许可)", "penalty": "penalty (行政处罚)"}


def _pending(args: argparse.Namespace, out: Console) -> int:
    from ._disclosures import pending_disclosures
    from .cli import storage_from

    day = today()
    with storage_from(args) as storage:
        rows = pending_disclosures(storage.disclosures.select(unposted=True), day)
    late = sum(1 for r in rows if r.state == "late")
    if args.json:
        emit_json(
            {
                "today": day.isoformat(),
                "disclosures": [r.as_json() for r in rows],
                "due": len(rows) - late,
                "late": late,
            }
        )
        return 1 if late else 0
    table = Table(title="Disclosures not yet published / 待公示 (双公示)", show_lines=True)
    firsts = [
        f"{r.duty.decision_no}\n{r.duty.disclosure_id}\n{mask_id(r.duty.subject_id)}" for r in rows
    ]
    id_column(table, "decision no.\ndisclosure id\nsubject", firsts)
    text_column(table, "kind\ntitle")
    text_column(table, "decided, due\nstate", no_wrap=True)
    for first, r in zip(firsts, rows, strict=True):
        d = r.duty
        if r.state == "late":
            when = f"late by {-r.days_left} day{'s' if r.days_left != -1 else ''}"
        else:
            when = f"due in {r.days_left} day{'s' if r.days_left != 1 else ''}"
        colour = "red" if r.state == "late" else "green"
        table.add_row(
            escape(first),
            escape(f"{_KIND_NAMES.get(d.kind, d.kind)}\n{d.title}"),
            f"{d.decided_on}\n{d.due_on}\n[{colour}]{when}[/]",
        )
    if rows:
        out.print(table)
    out.print(
        f"{len(rows)} disclosures not yet received by the platform: "
        f"{len(rows) - late} due, {late} late",
        soft_wrap=True,
    )
    return 1 if late else 0


def register(sub: Any) -> None:
    """Add ``disclosures`` and its subcommands to the ``credit-check`` parser."""
    from .cli import add_storage_flags

    disclosures = sub.add_parser("disclosures", help="双公示 of licensing and penalty decisions")
    commands = disclosures.add_subparsers(dest="disclosures_command", required=True)
    pending = commands.add_parser(
        "pending", help="disclosures the platform has not received yet (due or late)"
    )
    add_json(pending, "disclosures pending")
    add_storage_flags(pending)
    pending.set_defaults(func=_pending)
