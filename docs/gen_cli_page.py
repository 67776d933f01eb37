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

## Exit status

| status | meaning |
|---|---|
| 0 | done |
| 1 | the command ran and found a problem it names (the table below) |
| 2 | bad input (an id, a file, a flag), a missing setting or extra, or an error |
| 3 | the platform refused the app id, secret or permission (401, 403) |
| 4 | the platform refused this machine's clock (more than 300 s off): set it (NTP) |

Statuses 3 and 4 come from the commands that talk to the platform (those that
take the platform settings); a refused `check` still prints and journals its
decision first.

| command | exit status 1 means |
|---|---|
{table}

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
    from credit_check_sdk.sandbox.cli import build_parser as sandbox_parser

    return sandbox_parser()


def cli_markdown() -> str:
    """The whole page: the exit statuses, then every command's help, in parser order."""
    from credit_check_sdk.cli import EXIT_STATUS_1

    table = "\n".join(f"| `credit-check {c}` | {m} |" for c, m in EXIT_STATUS_1.items())
    parts = [_INTRO.format(table=table)]
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
