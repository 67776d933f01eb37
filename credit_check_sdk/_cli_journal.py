"""``credit-check journal …``: tools over the local journal. Needs no platform credentials.

::

    credit-check journal verify     # walk the hash chain; exit 1 on the first problem
    credit-check journal stats      # records by upload state, head hash
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from .journal import Journal

__all__ = ["register"]


def _open(args: argparse.Namespace) -> Journal:
    from .cli import data_dir_from

    return Journal(data_dir_from(args) / "journal.sqlite3")


def _verify(args: argparse.Namespace, out: Console) -> int:
    with _open(args) as journal:
        result = journal.verify()
    if result.ok:
        out.print(f"journal intact: {result.checked} records, hash chain verified")
        return 0
    for problem in result.problems:
        where = f"record #{problem.seq} {problem.id}"
        out.print(f"[red]{where}: {problem.kind}[/red] {problem.detail}")
    return 1


def _stats(args: argparse.Namespace, out: Console) -> int:
    with _open(args) as journal:
        counts = journal.counts()
        head = journal.head_hash()
    table = Table(title="Journal")
    table.add_column("upload state")
    table.add_column("records", justify="right")
    for state, n in sorted(counts.items()):
        table.add_row(state, str(n))
    out.print(table)
    out.print(f"head hash: {head}")
    return 0


def register(sub: Any) -> None:
    """Add ``journal`` and its subcommands to the ``credit-check`` parser."""
    journal = sub.add_parser("journal", help="the local journal (no credentials needed)")
    commands = journal.add_subparsers(dest="journal_command", required=True)
    for name, handler, text in (
        ("verify", _verify, "walk the hash chain and report the first broken link"),
        ("stats", _stats, "records by upload state and the head hash"),
    ):
        cmd = commands.add_parser(name, help=text)
        cmd.add_argument("--data-dir", help="default: $CREDIT_CHECK_DATA_DIR")
        cmd.set_defaults(func=handler)
