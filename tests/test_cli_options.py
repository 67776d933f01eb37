"""``credit-check`` options: one spelling for one thing, global options on either side of
the command, exit statuses in every ``--help`` — run as the installed executable."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from credit_check_sdk._cli_common import DEPRECATED_OPTIONS
from credit_check_sdk.cli import build_parser, subcommands
from credit_check_sdk.testing import FakePlatform
from tests.support.clirun import base_env, credit_check, executable, platform_env

ORG = "91442000MA4UJ2KQ57"


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.add_entry(ORG, "black", "court_judgment_defaulter")
        platform.serve()
        yield platform


def test_old_timeout_spellings_still_work_hidden_and_warn_once(
    fake: FakePlatform, tmp_path: Path
) -> None:
    env = platform_env(fake, tmp_path / "d")
    done = credit_check(
        "flush", "--flush-timeout", "1", "--timeout-seconds", "2", "--flush-timeout", "3",
        "--json", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pending"] == 0  # the JSON stays alone on stdout
    warnings = [line for line in done.stderr.splitlines() if "deprecated" in line]
    assert warnings == [
        "credit-check: --flush-timeout is deprecated; use --timeout",
        "credit-check: --timeout-seconds is deprecated; use --timeout",
    ]
    assert "--flush-timeout" not in credit_check("check", "--help", env=env).stdout
    bad = credit_check("flush", "--timeout", "soon", env=env)
    assert bad.returncode == 2
    assert "'soon' is not a number of seconds" in bad.stderr


def test_every_time_budget_is_spelt_timeout() -> None:
    for name, parser in subcommands(build_parser()):
        if name == "sandbox":
            continue
        options = {o for a in parser._actions for o in a.option_strings}
        assert not {o for o in options if "timeout" in o} - {
            "--timeout",  # the command's time budget
            "--request-timeout",  # the setting: seconds for each request
            *DEPRECATED_OPTIONS,
        }, name
        if options & set(DEPRECATED_OPTIONS):
            assert "--timeout" in options, name


def test_global_options_go_before_or_after_the_command(fake: FakePlatform, tmp_path: Path) -> None:
    data = tmp_path / "d"
    env = platform_env(fake, data)
    del env["CREDIT_CHECK_BASE_URL"]  # given as a flag instead
    after = credit_check("check", ORG, "bidding", "--base-url", fake.base_url, "-v", env=env)
    assert after.returncode == 0, after.stderr
    assert "INFO credit_check_sdk._checker: check " in after.stderr  # -v took effect
    before = credit_check("-v", "--base-url", fake.base_url, "check", ORG, "bidding", env=env)
    assert before.returncode == 0, before.stderr
    assert "INFO credit_check_sdk._checker: check " in before.stderr
    quiet = credit_check("--base-url", fake.base_url, "check", ORG, "bidding", env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "INFO" not in quiet.stderr
    # --data-dir on either side; the one after the command wins.
    local = base_env()
    for args in (
        ["--data-dir", str(data), "journal", "stats", "--json"],
        ["journal", "stats", "--data-dir", str(data), "--json"],
        ["--data-dir", str(tmp_path / "elsewhere"), "journal", "stats", "--data-dir", str(data),
         "--json"],
    ):  # fmt: skip
        done = credit_check(*args, env=local)
        assert done.returncode == 0, (args, done.stderr)
        assert json.loads(done.stdout)["records"]["accepted"] == 3, args


def _exit_statuses_in(text: str, name: str) -> None:
    text = " ".join(text.split())
    assert "exit status: 0 done" in text, name
    assert "; 2 bad input, a missing extra or an error" in text, name
    assert "; 130 interrupted" in text, name
    assert text.rstrip().endswith("141 standard output closed before the end"), name
    assert "-v, --verbose" in text, name


def test_every_help_lists_the_exit_statuses() -> None:
    leaves = [
        (name, parser)
        for name, parser in subcommands(build_parser())
        if name != "sandbox" and not subcommands(parser)
    ]
    for name, parser in leaves:  # the parser the executable uses …
        _exit_statuses_in(parser.format_help(), name)
    env = base_env(120)
    for name in ("check", "action", "journal verify", "report"):  # … and as a user sees it
        done = credit_check(*name.split(), "--help", env=env)
        assert done.returncode == 0, name
        _exit_statuses_in(done.stdout, name)
    assert "1 some lines hold no valid id" in " ".join(
        credit_check("check-many", "--help", env=env).stdout.split()
    )


def _sandbox_until_ready(tmp_path: Path, *args: str) -> tuple[list[str], str]:
    """``credit-check ARGS`` (a sandbox): its standard output up to ``SANDBOX_READY``,
    then, once stopped, its standard error."""
    err_path = tmp_path / f"stderr-{len(list(tmp_path.iterdir()))}.txt"
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            [executable(), *args], stdout=subprocess.PIPE, stderr=err, text=True, env=base_env()
        )
        try:
            assert proc.stdout is not None
            shown: list[str] = []
            deadline = time.monotonic() + 120
            while not (shown and shown[-1].startswith("SANDBOX_READY ")):
                line = proc.stdout.readline()
                assert line, (shown, err_path.read_text())
                assert time.monotonic() < deadline, shown
                shown.append(line.rstrip("\n"))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return shown, err_path.read_text()


@pytest.mark.sandbox
def test_global_options_go_before_or_after_sandbox(tmp_path: Path) -> None:
    common = ["--port", "0", "--seed-size", "50", "--log-level", "warning"]
    db = ["--db", str(tmp_path / "sandbox.db")]
    for args in (
        ["-v", "--app-id", "app-x", "sandbox", *common, *db],
        ["sandbox", *common, *db, "-v", "--app-id", "app-x"],
        # After the command wins, as for the other commands.
        ["--verbose", "--app-id=app-y", "sandbox", *common, *db, "--app-id", "app-x"],
    ):
        shown, err = _sandbox_until_ready(tmp_path, *args)
        assert "app id:     app-x" in shown, args
        assert "DEBUG credit_check_sandbox.db: database ready" in err, args
    shown, err = _sandbox_until_ready(tmp_path, "--app-id", "sandbox", "sandbox", *common, *db)
    assert "app id:     sandbox" in shown  # a value that reads "sandbox" is still a value
    assert "DEBUG" not in err  # without -v: INFO
    wrong = credit_check("--base-url", "http://x.invalid", "sandbox", *common, env=base_env())
    assert wrong.returncode == 2  # a platform setting means nothing to the sandbox
    assert "unrecognized arguments: --base-url http://x.invalid" in wrong.stderr
