"""The ``credit-check`` command.

Every command reads the same settings as the library (``CREDIT_CHECK_*``
environment variables); flags override them. A missing setting fails with a
message naming the flag and the variable.

::

    credit-check check 91442000MA4UJ2KQ57 bidding
    credit-check check-many ids.txt --matter bidding
    credit-check screen bidders.csv --matter bidding --out result.xlsx
    credit-check flush
    credit-check journal verify
    credit-check journal stats
    credit-check catalog
    credit-check sandbox --port 8700

Exit status: 0 done; 1 done in part (records still pending, problems found,
invalid rows); 2 a setting or an argument is wrong, or the SDK failed; 3 the
platform refused this app's credentials or permission (401, 403); 4 the
platform refused this machine's clock (more than 300 s off). A check that the
platform refused still journals its ``review`` (or degraded) decision and
prints it before exiting 3 or 4.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._checker import CreditChecker
from ._config import ENV_VARS, Settings, default_data_dir
from ._exceptions import ConfigurationError, CreditCheckError
from ._ids import mask_id, mask_ids_in
from ._models import Decision, Matter
from ._refusals import exit_status, refusal_kind
from ._version import __version__
from .storage import Storage, open_storage

__all__ = [
    "EXIT_STATUS_1",
    "add_settings",
    "add_storage_flags",
    "build_parser",
    "data_dir_from",
    "decision_table",
    "main",
    "refused_status",
    "sandbox_main",
    "settings_from",
    "storage_from",
    "subcommands",
]

_SETTING_FLAGS = (
    "base_url",
    "app_id",
    "app_secret",
    "agency_id",
    "data_dir",
    "database_url",
    "timeout",
)

#: Modules that add commands: each has ``register(subparsers)``, adding parsers
#: whose ``func`` default is ``handler(args, console) -> exit status``.
_COMMAND_MODULES = (
    "credit_check_sdk._cli_journal",
    "credit_check_sdk._cli_report",
    "credit_check_sdk._cli_snapshot",
    "credit_check_sdk._cli_screen",
)


#: What exit status 1 means, for the commands that use it (0: done; 2: bad input,
#: a missing setting or extra, or an error, with a message). Shown under each
#: command's ``--help`` and on the documentation's command-line page.
EXIT_STATUS_1 = {
    "check": "the platform rejected the check's journal record (the message says why)",
    "check-many": "the platform rejected the journal record of one of the checks",
    "flush": "records are still pending when the timeout ends",
    "journal verify": "the hash chain is broken, or (--columns) a stored column "
    "disagrees with its record",
    "journal explain": "the re-derived decision differs from the journal's "
    "(2: it cannot be re-derived)",
    "screen": "some rows of the file hold no valid subject id (listed by line number)",
    "snapshot status": "there is no snapshot yet",
}


def _exit_status_epilog(command: str, *, platform: bool = False) -> str:
    one = EXIT_STATUS_1.get(command)
    refused = (
        "; 3 the platform refused the app id, secret or permission; 4 it refused this "
        "machine's clock"
        if platform
        else ""
    )
    return (
        "exit status: 0 done"
        + (f"; 1 {one}" if one else "")
        + "; 2 bad input or an error"
        + refused
    )


def add_settings(parser: argparse.ArgumentParser) -> None:
    """Add the platform-setting flags (they override the ``CREDIT_CHECK_*`` variables)."""
    group = parser.add_argument_group("platform settings (flags override CREDIT_CHECK_* variables)")
    for name in _SETTING_FLAGS:
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=float if name == "timeout" else str,
            help=f"default: ${ENV_VARS[name]}",
        )
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=None,
        help="allow plain http to a non-loopback platform",
    )


def add_storage_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-dir`` and ``--database-url``: where a command that needs no platform
    settings finds the SDK's state."""
    parser.add_argument("--data-dir", help=f"default: ${ENV_VARS['data_dir']}")
    parser.add_argument(
        "--database-url",
        help=f"the shared database instead of data_dir (default: ${ENV_VARS['database_url']})",
    )


def storage_from(args: argparse.Namespace) -> Storage:
    """The storage the flags and the environment name, without platform credentials."""
    url = getattr(args, "database_url", None) or os.environ.get(ENV_VARS["database_url"])
    return open_storage(data_dir=data_dir_from(args), database_url=url or None)


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the flags, then the environment; names what is missing."""
    overrides = {name: getattr(args, name, None) for name in _SETTING_FLAGS}
    overrides["allow_insecure_http"] = getattr(args, "allow_insecure_http", None)
    return Settings.build(**overrides)


def data_dir_from(args: argparse.Namespace) -> Path:
    """The data folder alone: journal tools need no platform credentials."""
    given = getattr(args, "data_dir", None) or os.environ.get(ENV_VARS["data_dir"])
    return Path(given) if given else default_data_dir()


def decision_table(decisions: Sequence[Decision]) -> Table:
    table = Table(title="Credit checks / 信用核查", show_lines=True)
    for col in ("subject", "matter", "outcome", "measures", "source"):
        table.add_column(col)
    for d in decisions:
        measures = "\n".join(
            f"{m.id} ({m.status}{', mandatory' if m.mandatory else ''})" for m in d.measures
        )
        table.add_row(
            d.subject.id if d.subject.kind == "legal_entity" else mask_id(d.subject.id),
            d.matter.category,
            d.outcome.value,
            measures or "-",
            d.source + (" (degraded)" if d.degraded else ""),
        )
    return table


def refused_status(checker: CreditChecker, status: int = 0) -> int:
    """``status``, or 3 / 4 when the platform refused this app's credentials or the clock."""
    last = checker.client.refusals.last
    refused = exit_status(last.kind) if last is not None else None
    if refused is None:
        return status
    Console(stderr=True).print(f"[red]credit-check: {escape(_refusal_line(checker))}[/red]")
    return refused


def _refusal_line(checker: CreditChecker) -> str:
    last = checker.client.refusals.last
    if last is None:
        return ""
    what = {
        "credentials": "the app id or secret (CREDIT_CHECK_APP_ID, CREDIT_CHECK_APP_SECRET)",
        "permission": "this app's permission",
        "clock": "this machine's clock (more than 300 s off the platform's)",
    }[last.kind]
    return f"the platform refused {what}: {last.status} {last.detail or ''}".rstrip()


def _upload_status(checker: CreditChecker, check_ids: Sequence[str]) -> int:
    """Exit status after the upload: 1 (saying why) when the platform rejected a record.

    A check whose record the platform refuses was never reported back (实施情况反馈):
    most often the agency id is not the one the platform knows the app by.
    """
    rejected: dict[str, list[str]] = {}
    pending = 0
    for check_id in check_ids:
        state = checker.journal.upload_state(check_id)
        if state is not None and state[0] == "rejected":
            rejected.setdefault(state[1] or "no reason given", []).append(check_id)
        elif state is not None and state[0] == "pending":
            pending += 1
    err = Console(stderr=True, soft_wrap=True)  # whole lines: easy to grep and to paste
    if pending:
        err.print(
            f"credit-check: {pending} journal record(s) not uploaded yet; they stay in the "
            "journal and go with the next upload (credit-check flush)"
        )
    for reason, ids in rejected.items():
        err.print(
            f"[red]credit-check: the platform rejected the journal record of "
            f"{len(ids)} check(s) ({ids[0]}…): {escape(mask_ids_in(reason))}[/red]"
        )
    if rejected:
        err.print(
            f"[red]credit-check: records name agency id {escape(checker.settings.agency_id)!r}; "
            f"is it the one the platform gave for app {escape(checker.settings.app_id)!r}? "
            f"(--agency-id / ${ENV_VARS['agency_id']})[/red]"
        )
        return 1
    return 0


def _cmd_check(args: argparse.Namespace, out: Console) -> int:
    with CreditChecker(settings_from(args)) as checker:
        matter = Matter(
            args.matter,
            code=args.code,
            case_id=args.case_id,
            missing_documents=args.missing or [],
            commitment=args.commitment,
        )
        decision = checker.must_check(args.subject, matter, operator=args.operator)
        if args.json:
            out.print_json(decision.model_dump_json())
        else:
            out.print(decision_table([decision]))
            for reason in decision.reasons:
                out.print(f"• {reason.zh}\n  {reason.en}")
            out.print(f"check id: {decision.check_id}")
        checker.flush(timeout=args.flush_timeout)
        return refused_status(checker, _upload_status(checker, [decision.check_id]))


def _cmd_check_many(args: argparse.Namespace, out: Console) -> int:
    lines = Path(args.file).read_text(encoding="utf-8").splitlines()
    ids = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    with CreditChecker(settings_from(args)) as checker:
        decisions = checker.must_check_many(ids, args.matter, operator=args.operator)
        out.print(decision_table(decisions))
        checker.flush(timeout=args.flush_timeout)
        return refused_status(checker, _upload_status(checker, [d.check_id for d in decisions]))


def _cmd_flush(args: argparse.Namespace, out: Console) -> int:
    with CreditChecker(settings_from(args)) as checker:
        remaining = checker.flush(timeout=args.timeout_seconds)
        out.print(f"pending after flush: {remaining}")
        out.print(checker.upload_stats())
        return refused_status(checker, 0 if remaining == 0 else 1)


def _cmd_catalog(args: argparse.Namespace, out: Console) -> int:
    with CreditChecker(settings_from(args)) as checker:
        checker.refresh_catalog()
        catalog = checker.catalog
        if args.json:
            out.print_json(catalog.model_dump_json())
            return refused_status(checker)
        table = Table(title=f"Measures catalogue {catalog.version}")
        for col in ("id", "kind", "effect", "mandatory", "matters", "title"):
            table.add_column(col)
        for m in catalog.measures:
            table.add_row(
                m.id,
                m.kind,
                m.effect,
                "yes" if m.mandatory else "no",
                ", ".join(m.matters),
                m.title.zh,
            )
        out.print(table)
        return refused_status(checker)


def _cmd_sandbox(argv: list[str]) -> int:
    try:
        from .sandbox.cli import main as sandbox_main
    except ImportError as exc:
        print(  # noqa: T201 - the command-line tool speaks to its user
            f"credit-check sandbox: {exc}", file=sys.stderr
        )
        return 2
    return int(sandbox_main(argv))


def sandbox_main() -> int:
    """Run ``credit-check-sandbox``: the same as ``credit-check sandbox``."""
    return _cmd_sandbox(sys.argv[1:])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="credit-check",
        description="Credit checks (应查必查) and their feedback (实施情况反馈).",
    )
    parser.add_argument("--version", action="version", version=f"credit-check-sdk {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="check one subject for one matter")
    check.add_argument("subject", help="USCC or RIC")
    check.add_argument("matter", help="matter category, e.g. bidding")
    check.add_argument("--code", help="the matter's code in the agency's list of matters")
    check.add_argument("--case-id", help="the application's case number, kept in the journal")
    check.add_argument("--missing", action="append", help="a missing non-statutory document")
    check.add_argument("--commitment", action="store_true", help="a written commitment was given")
    check.add_argument("--operator", help="the officer making the check (journaled)")
    check.add_argument("--json", action="store_true", help="print the decision as JSON")
    check.add_argument(
        "--flush-timeout",
        type=float,
        default=5.0,
        help="seconds to wait for the record's upload before exiting (5)",
    )
    add_settings(check)

    many = sub.add_parser("check-many", help="check every id in a file (one per line)")
    many.add_argument("file", help="one USCC or RIC a line; lines starting with # are skipped")
    many.add_argument("--matter", required=True, help="matter category, e.g. bidding")
    many.add_argument("--operator", help="the officer making the checks (journaled)")
    many.add_argument(
        "--flush-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the records' upload before exiting (10)",
    )
    add_settings(many)

    flush = sub.add_parser("flush", help="upload pending journal records now")
    flush.add_argument(
        "--timeout-seconds", type=float, default=30.0, help="how long to keep trying (30)"
    )
    add_settings(flush)

    catalog = sub.add_parser("catalog", help="show the measures catalogue in force")
    catalog.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    add_settings(catalog)

    sub.add_parser("sandbox", help="run the sandbox platform (extra: sandbox)", add_help=False)

    check.set_defaults(func=_cmd_check)
    many.set_defaults(func=_cmd_check_many)
    flush.set_defaults(func=_cmd_flush)
    catalog.set_defaults(func=_cmd_catalog)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for command, subparser in subcommands(parser):
        if not subcommands(subparser) and command != "sandbox":  # sandbox: its own parser
            # Commands that talk to the platform (they take its settings) can be refused.
            platform = any(a.dest == "app_secret" for a in subparser._actions)
            subparser.epilog = _exit_status_epilog(command, platform=platform)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``credit-check`` argument parser, every command registered.

    ``credit-check sandbox`` is parsed by :func:`credit_check_sdk.sandbox.cli.build_parser`.

    >>> build_parser().parse_args(["check", "91442000MA4UC00019", "bidding"]).matter
    'bidding'
    """
    return _parser()


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command below ``parser``, depth first, named as typed (``"journal verify"``).

    >>> [name for name, _ in subcommands(build_parser())][:3]
    ['check', 'check-many', 'flush']
    """
    found: list[tuple[str, argparse.ArgumentParser]] = []
    # argparse has no public way to list a parser's subcommands: its actions hold them.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((name, sub))
                found += [(f"{name} {inner}", p) for inner, p in subcommands(sub)]
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``credit-check``; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["sandbox"]:
        return _cmd_sandbox(args_list[1:])
    args = _parser().parse_args(args_list)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    out = Console()
    try:
        return int(args.func(args, out))
    except ConfigurationError as exc:
        flag = f"; on the command line: --{exc.setting.replace('_', '-')}" if exc.setting else ""
        Console(stderr=True).print(f"[red]credit-check: {escape(str(exc))}{flag}[/red]")
        return 2
    except CreditCheckError as exc:
        Console(stderr=True).print(f"[red]credit-check: {escape(str(exc))}[/red]")
        return exit_status(refusal_kind(exc)) or 2


if __name__ == "__main__":
    raise SystemExit(main())
