"""The ``credit-check`` command.

Every command reads the same settings as the library (``CREDIT_CHECK_*``
environment variables); flags override them. A missing setting fails with a
message naming the flag and the variable. The global options (``-v`` and the
settings flags) go before or after the command.

::

    credit-check check 91442000MA4UJ2KQ57 bidding
    credit-check check-many ids.txt --matter bidding --json > checks.json
    credit-check action CHECK_ID not_applied --reason "投标已撤回"
    credit-check screen bidders.csv --matter bidding --out result.xlsx
    credit-check flush --timeout 60
    credit-check journal verify
    credit-check journal stats
    credit-check catalog
    credit-check health
    credit-check sandbox --port 8700

Every command that prints data takes ``--json``: one JSON document on standard
output (its keys in ``JSON_KEYS``), messages and progress on standard error.
``--timeout SECONDS`` is a command's time budget wherever it has one.

Exit status: 0 done; 1 done in part (records still pending, problems found,
invalid lines or rows); 2 a setting, an argument or a file is wrong, an extra
is missing, or the SDK failed; 3 the platform refused this app's credentials or
permission (401, 403); 4 the platform refused this machine's clock (more than
300 s off); 130 interrupted (Ctrl-C); 141 standard output was closed before the
command finished (``credit-check journal export | head -1``: it stops quietly, no
traceback). A check that the platform refused still
journals its ``review`` (or degraded) decision and prints it before exiting 3
or 4. Errors a user can fix take one line on standard error; an unexpected
error shows its traceback with ``-v``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._cli_check import refused_status
from ._cli_common import (
    EXIT_INTERRUPTED,
    EXIT_OUTPUT_CLOSED,
    decision_table,
    failure_status,
    output_closed,
    stdout,
)
from ._env import ENV_VARS, default_data_dir
from ._version import __version__

if TYPE_CHECKING:  # imported by the commands that use them, not to parse the command line
    from ._config import Settings
    from .storage import Storage

__all__ = [
    "EXIT_STATUS_1",
    "SETTING_FLAGS",
    "add_settings",
    "add_storage_flags",
    "build_parser",
    "data_dir_from",
    "decision_table",
    "main",
    "refused_status",
    "settings_from",
    "storage_from",
    "subcommands",
]

#: Setting → its flag. ``--timeout`` is each command's time budget; the
#: per-request setting (``CREDIT_CHECK_TIMEOUT``) is ``--request-timeout``.
SETTING_FLAGS: dict[str, str] = {
    "base_url": "--base-url",
    "app_id": "--app-id",
    "app_secret": "--app-secret",
    "agency_id": "--agency-id",
    "data_dir": "--data-dir",
    "database_url": "--database-url",
    "timeout": "--request-timeout",
    "allow_insecure_http": "--allow-insecure-http",
}
_SETTING_HELP = {
    "base_url": "the platform's URL",
    "app_id": "this app's id on the platform",
    "app_secret": "this app's signing secret",
    "agency_id": "the agency id records are filed under",
    "data_dir": "the folder of the journal, snapshot and caches",
    "database_url": "a shared database (PostgreSQL) for the SDK's state instead of data_dir",
    "timeout": "seconds for each request to the platform",
}

#: Modules that add commands: each has ``register(subparsers)``, adding parsers
#: whose ``func`` default is ``handler(args, console) -> exit status``.
_COMMAND_MODULES = (
    "credit_check_sdk._cli_check",
    "credit_check_sdk._cli_journal",
    "credit_check_sdk._cli_report",
    "credit_check_sdk._cli_snapshot",
    "credit_check_sdk._cli_screen",
    "credit_check_sdk._cli_storage",
    "credit_check_sdk._cli_disclosures",
)


#: What exit status 1 means, for the commands that use it (0: done; 2: bad input,
#: a missing setting or extra, or an error, with a message). Shown under each
#: command's ``--help`` and on the documentation's command-line page.
EXIT_STATUS_1 = {
    "check": "the platform rejected the check's journal record (the message says why)",
    "check-many": "some lines hold no valid id (listed by line number; the others are "
    "checked), or the platform rejected the journal record of one of the checks",
    "action": "the platform rejected the action's journal record (the message says why)",
    "flush": "records are still pending when the timeout ends",
    "journal verify": "the hash chain is broken, or (--columns) a stored column "
    "disagrees with its record",
    "journal explain": "the re-derived decision differs from the journal's "
    "(2: it cannot be re-derived)",
    "screen": "some rows of the file hold no valid subject id (listed by line number)",
    "snapshot status": "there is no snapshot yet",
    "disclosures pending": "some disclosures are late: past their due day (7 working days "
    "after the decision) and not yet received by the platform",
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
        + "; 2 bad input, a missing extra or an error"
        + refused
        + "; 130 interrupted; 141 standard output closed before the end"
    )


def add_settings(parser: argparse.ArgumentParser) -> None:
    """Add the platform-setting flags (they override the ``CREDIT_CHECK_*`` variables).

    >>> p = argparse.ArgumentParser()
    >>> add_settings(p)
    >>> p.parse_args(["--base-url", "https://credit.example/api"]).base_url
    'https://credit.example/api'
    """
    group = parser.add_argument_group("platform settings (flags override CREDIT_CHECK_* variables)")
    for name, flag in SETTING_FLAGS.items():
        if name == "allow_insecure_http":
            continue
        group.add_argument(
            flag,
            dest=_dest(name),
            type=float if name == "timeout" else str,
            metavar="SECONDS" if name == "timeout" else None,
            help=f"{_SETTING_HELP[name]} (default: ${ENV_VARS[name]})",
        )
    group.add_argument(
        SETTING_FLAGS["allow_insecure_http"],
        action="store_true",
        default=None,
        help="allow plain http to a non-loopback platform",
    )


def add_storage_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-dir`` and ``--database-url``: where a command that needs no platform
    settings finds the SDK's state."""
    for name in ("data_dir", "database_url"):
        parser.add_argument(
            SETTING_FLAGS[name],
            dest=name,
            help=f"{_SETTING_HELP[name]} (default: ${ENV_VARS[name]})",
        )


def storage_from(args: argparse.Namespace) -> Storage:
    """The storage the flags and the environment name, without platform credentials."""
    from .storage import open_storage

    url = getattr(args, "database_url", None) or os.environ.get(ENV_VARS["database_url"])
    return open_storage(data_dir=data_dir_from(args), database_url=url or None)


def _dest(setting: str) -> str:
    # The per-request timeout is not the command's time budget (``--timeout``).
    return "request_timeout" if setting == "timeout" else setting


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the flags, then the environment; names what is missing."""
    from ._config import Settings

    overrides = {name: getattr(args, _dest(name), None) for name in SETTING_FLAGS}
    return Settings.build(**overrides)


def data_dir_from(args: argparse.Namespace) -> Path:
    """The data folder alone: journal tools need no platform credentials."""
    given = getattr(args, "data_dir", None) or os.environ.get(ENV_VARS["data_dir"])
    return Path(given) if given else default_data_dir()


#: The global options that take a value (``--base-url URL``).
_VALUE_FLAGS = {flag for name, flag in SETTING_FLAGS.items() if name != "allow_insecure_http"}


def _sandbox_args(args: list[str]) -> list[str] | None:
    """The arguments of ``credit-check sandbox`` when that is the command, else None.

    The sandbox has its own parser; the global options given before it are handed to
    it first, so that ``credit-check -v sandbox`` is ``credit-check sandbox -v`` (and
    what comes after the command wins, as for the other commands). It takes ``-v`` and
    the app's credentials (``--app-id``, ``--app-secret``, ``--agency-id``: those it
    accepts); it refuses the other settings, which mean nothing to it.

    >>> _sandbox_args(["-v", "--app-id=a", "sandbox", "--port", "0"])
    ['-v', '--app-id=a', '--port', '0']
    >>> _sandbox_args(["--app-id", "sandbox", "check"]) is None
    True
    """
    i = 0
    while i < len(args):
        token = args[i]
        name = token.split("=", 1)[0]
        if token == "sandbox":  # noqa: S105 - a command's name, not a password
            return args[:i] + args[i + 1 :]
        if name in _VALUE_FLAGS and "=" not in token:
            i += 2  # the flag and its value (which may be any word, even "sandbox")
        elif name in _VALUE_FLAGS or token in ("-v", "--verbose", "--allow-insecure-http"):
            i += 1
        else:
            return None  # another command, or an option for the main parser to judge
    return None


def _cmd_sandbox(argv: list[str]) -> int:
    try:
        # The sandbox platform is its own distribution, which the sandbox extra installs.
        from credit_check_sandbox.cli import main as sandbox_main
    except ImportError as exc:
        reason = str(exc)
        if exc.name in ("credit_check_sandbox", "credit_check_sandbox.cli"):
            reason = (
                'the sandbox platform is not installed: pip install "credit-check-sdk[sandbox]"'
            )
        print(  # noqa: T201 - the command-line tool speaks to its user
            f"credit-check sandbox: {reason}", file=sys.stderr
        )
        return 2
    return int(sandbox_main(argv))


def _verbose(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="log at INFO; show the traceback of an unexpected error",
    )


#: Destinations of the global options: a command's own copy of one keeps, when not
#: given after the command, what was given before it.
_GLOBAL_DESTS = {"verbose", *(_dest(name) for name in SETTING_FLAGS)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="credit-check",
        description="Credit checks (应查必查) and their feedback (实施情况反馈).",
        epilog="The global options may also be given after the command.",
    )
    parser.add_argument("--version", action="version", version=f"credit-check-sdk {__version__}")
    _verbose(parser, default=False)
    add_settings(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    sub.add_parser("sandbox", help="run the sandbox platform (extra: sandbox)", add_help=False)
    for command, subparser in subcommands(parser):
        if command == "sandbox":
            continue  # its own parser
        if not any(a.dest == "verbose" for a in subparser._actions):
            _verbose(subparser, default=argparse.SUPPRESS)
        for action in subparser._actions:
            # argparse has no public way to do this: a command's copy of a global
            # option must not overwrite, with its default, what came before the command.
            if action.dest in _GLOBAL_DESTS:
                action.default = argparse.SUPPRESS
        if not subcommands(subparser):
            # Commands that talk to the platform (they take its settings) can be refused.
            platform = any(a.dest == "app_secret" for a in subparser._actions)
            subparser.epilog = _exit_status_epilog(command, platform=platform)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``credit-check`` argument parser, every command registered.

    ``credit-check sandbox`` is parsed by :func:`credit_check_sandbox.cli.build_parser`.

    >>> build_parser().parse_args(["check", "91442000MA4UC00019", "bidding"]).matter
    'bidding'
    """
    return _parser()


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command below ``parser``, depth first, named as typed (``"journal verify"``).

    >>> [name for name, _ in subcommands(build_parser())][:3]
    ['check', 'check-many', 'action']
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
    verbose = "-v" in args_list or "--verbose" in args_list
    try:
        sandbox_args = _sandbox_args(args_list)
        if sandbox_args is not None:
            status = _cmd_sandbox(sandbox_args)
        else:
            args = _parser().parse_args(args_list)
            verbose = bool(args.verbose)
            logging.basicConfig(
                level=logging.INFO if verbose else logging.WARNING,
                format="%(levelname)s %(name)s: %(message)s",
            )
            status = int(args.func(args, stdout()))
        # Here, not at exit: a reader gone by now must be answered like one gone earlier.
        sys.stdout.flush()
        return status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED  # the user stopped it: no traceback, no message
    except Exception as exc:  # every error becomes a message and an exit status
        if output_closed(exc):
            return EXIT_OUTPUT_CLOSED  # ``… | head``: the reader has what it wanted
        return failure_status(exc, verbose=verbose)


if __name__ == "__main__":
    raise SystemExit(main())
