"""Writes the site's command-line page (cli.md) from the ``credit-check`` argument parser.

Run by mkdocs-gen-files at every docs build, so the page lists exactly the commands,
arguments, options and exit statuses that ``credit-check … --help`` shows: it cannot
drift from the code. ``cli_markdown()`` is also what tests/test_docs_site.py checks.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from credit_check_sdk.cli import build_parser, subcommands

_INTRO = """\
# Command line

`credit-check` runs checks, uploads the journal, reads and verifies it, builds the
monthly feedback report, keeps the offline snapshot and runs the sandbox. It
reads the same settings as the library: the `CREDIT_CHECK_*` environment
variables, which the flags of the *platform settings* group override (see
[Getting started](getting-started.md), step 3). `credit-check-sandbox` is
`credit-check sandbox`.

This page is written from the command's argument parser at every build of the
site: each section is what `credit-check COMMAND --help` prints.

## Options every command shares

- **Global options** go before or after the command: `-v` / `--verbose` (log at
  INFO; an unexpected error shows its traceback), `--data-dir` and
  `--database-url` (where the SDK's state lives), and the platform settings
  `--base-url`, `--app-id`, `--app-secret`, `--agency-id`,
  `--request-timeout` (seconds for each request; `CREDIT_CHECK_TIMEOUT`) and
  `--allow-insecure-http`. `credit-check -v check …` and
  `credit-check check … -v` are the same.
- **`--timeout SECONDS`** is a command's time budget wherever it has one: how
  long `check`, `check-many`, `action` and `screen` wait for their records'
  upload, how long `flush` keeps trying, a `sync`'s requests, a whole
  `snapshot download`, the upload before `report --submit`.
- **`--json`**: one JSON document on standard output and nothing else there;
  messages, warnings and progress go to standard error (see [JSON output](#json-output)).
- Progress bars are drawn on standard error, and only when it is a terminal.
- Tables never cut an id that is to be copied (subject, check, measure, entry
  ids): at 80 columns they are whole; in a narrower terminal they fold onto the
  next line rather than end in "…".

Earlier spellings still work, are hidden from `--help`, and warn once:

| spelling | now |
|---|---|
{deprecated}

## Exit status

| status | meaning |
|---|---|
| 0 | done |
| 1 | the command ran and found a problem it names (the table below) |
| 2 | bad input (an id, a file, a flag), a missing setting or extra (named with its \
`pip install`), or an error |
| 3 | the platform refused the app id, secret or permission (401, 403) |
| 4 | the platform refused this machine's clock (more than 300 s off): set it (NTP) |
| 130 | interrupted (Ctrl-C): no traceback; what was journaled stays and is uploaded later |
| 141 | standard output was closed before the command finished (`credit-check journal \
export \\| head -1`): it stops quietly, no traceback (128 + SIGPIPE, as a shell reports it) |

Statuses 3 and 4 come from the commands that talk to the platform (those that
take the platform settings); a refused `check` still prints and journals its
decision first. An error the user can act on takes one line on standard error;
an unexpected one says so and shows its traceback with `-v`.

| command | exit status 1 means |
|---|---|
{table}

## JSON output

With `--json`, each command prints one JSON document with these keys. Keys are
only ever added, never renamed or removed; a personal id is masked
(`4420**********1234`) as everywhere else.

{json}

## Commands
"""


@contextmanager
def _columns(width: int) -> Iterator[None]:
    """argparse wraps help to the terminal's width: a fixed one for a stable page."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def _sandbox_parser() -> argparse.ArgumentParser:
    # Parsed by the sandbox's own module (its extra need not be installed to read it).
    from credit_check_sandbox.cli import build_parser as sandbox_parser

    return sandbox_parser()


def _json_sections() -> str:
    from credit_check_sdk._cli_common import JSON_KEYS

    parts = []
    for command, keys in JSON_KEYS.items():
        rows = "\n".join(
            f"| {'…' if key == '…' else f'`{key}`'} | {meaning} |" for key, meaning in keys.items()
        )
        parts.append(f"`credit-check {command} --json`\n\n| key | holds |\n|---|---|\n{rows}\n")
    return "\n".join(parts)


def cli_markdown() -> str:
    """The whole page: shared options, exit statuses, JSON keys, then every command's help."""
    from credit_check_sdk._cli_common import DEPRECATED_OPTIONS
    from credit_check_sdk.cli import EXIT_STATUS_1

    table = "\n".join(f"| `credit-check {c}` | {m} |" for c, m in EXIT_STATUS_1.items())
    deprecated = "\n".join(f"| `{old}` | `{new}` |" for old, new in DEPRECATED_OPTIONS.items())
    parts = [_INTRO.format(table=table, deprecated=deprecated, json=_json_sections())]
    parser = build_parser()
    with _columns(78):  # what fits the page's code blocks
        for name, sub in subcommands(parser):
            if name == "sandbox":
                sub = _sandbox_parser()
            depth = "#" * (3 + name.count(" "))
            summary = sub.description or _summary(parser, name) or ""
            parts.append(f"{depth} credit-check {name}\n")
            if summary:
                parts.append(f"{summary}\n")
            parts.append(f"```text\n{sub.format_help().rstrip()}\n```\n")
    return "\n".join(parts)


def _summary(parser: argparse.ArgumentParser, name: str) -> str | None:
    """The one-line help a command has in its parent's list of commands."""
    *parents, last = name.split()
    node = parser
    for part in parents:
        node = dict(subcommands(node))[part]
    for action in node._actions:  # no public way to reach the subcommands' help texts
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == last:
                    return choice.help
    return None


if __name__ == "__main__":
    print(cli_markdown())  # noqa: T201 - to look at the page without building the site
elif __name__ == "<run_path>":  # how mkdocs-gen-files runs its scripts
    import mkdocs_gen_files

    with mkdocs_gen_files.open("cli.md", "w") as page:
        page.write(cli_markdown())
