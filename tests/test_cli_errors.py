"""How ``credit-check`` fails: one line for what a user can fix, exit statuses as documented.

Every test runs the installed executable in a subprocess against a FakePlatform
served over HTTP. A missing extra is simulated the way a user meets it: the package
cannot be imported (a module on PYTHONPATH that raises ImportError).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from credit_check_sdk.testing import FakePlatform
from tests.support.clirun import base_env, credit_check, executable, platform_env

ORG = "91442000MA4UJ2KQ57"
PERSON = "442000199001011233"


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.add_entry(ORG, "black", "court_judgment_defaulter")
        platform.serve()
        yield platform


def _hidden(tmp_path: Path, *modules: str) -> str:
    """A PYTHONPATH on which ``modules`` cannot be imported, as when the extra is missing."""
    shim = tmp_path / "shim"
    for module in modules:
        (shim / module).mkdir(parents=True)
        (shim / module / "__init__.py").write_text(
            f'raise ImportError("No module named {module!r}")\n'
        )
    return str(shim)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(("flag", "module"), [("--xlsx", "openpyxl"), ("--chart", "matplotlib")])
def test_report_without_the_report_extra_says_what_to_install(
    tmp_path: Path, flag: str, module: str
) -> None:
    target = tmp_path / f"report.{'xlsx' if flag == '--xlsx' else 'png'}"
    env = base_env(PYTHONPATH=_hidden(tmp_path, module), CREDIT_CHECK_AGENCY_ID="AG-1")
    done = credit_check(
        "report", "2026-10", flag, str(target), "--data-dir", str(tmp_path / "d"), env=env
    )
    assert done.returncode == 2
    line = _one_line(done.stderr)
    assert line.startswith("credit-check: ")
    assert 'pip install "credit-check-sdk[report]"' in line
    assert module in line
    assert done.stdout == ""  # failed before any table was printed
    assert not target.exists()
    # -v changes nothing: a missing extra is no bug.
    verbose = credit_check(
        "report", "2026-10", flag, str(target), "-v", "--data-dir", str(tmp_path / "d"), env=env
    )
    assert verbose.returncode == 2
    assert "Traceback" not in verbose.stderr


def test_file_errors_take_one_line_and_exit_2(fake: FakePlatform, tmp_path: Path) -> None:
    env = platform_env(fake, tmp_path / "d")
    missing = credit_check("check-many", str(tmp_path / "ids.txt"), "--matter", "bidding", env=env)
    assert missing.returncode == 2
    assert _one_line(missing.stderr) == (
        f"credit-check: No such file or directory: {tmp_path / 'ids.txt'}"
    )
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("x")
    unwritable = credit_check(
        "report", "2026-10", "--json", str(not_a_dir / "r.json"), "--agency-id", "AG-1", env=env
    )
    assert unwritable.returncode == 2
    assert "Not a directory" in _one_line(unwritable.stderr)
    binary = tmp_path / "ids.bin"
    binary.write_bytes(b"\xff\xfe\x00bad")
    undecodable = credit_check("check-many", str(binary), "--matter", "bidding", env=env)
    assert undecodable.returncode == 2
    assert "is not UTF-8 text" in _one_line(undecodable.stderr)


def test_sdk_errors_take_one_line_and_exit_2(fake: FakePlatform, tmp_path: Path) -> None:
    env = platform_env(fake, tmp_path / "d")
    unknown = credit_check("check", ORG, "no_such_matter", env=env)
    assert unknown.returncode == 2
    assert _one_line(unknown.stderr).startswith("credit-check: ")
    person = credit_check("check", PERSON[:-1] + "0", "bidding", env=env)  # a wrong check digit
    assert person.returncode == 2
    line = _one_line(person.stderr)
    assert PERSON[:-1] not in line  # masked even when it is not a valid id
    missing = credit_check("check", ORG, "bidding", env=base_env())
    assert missing.returncode == 2
    line = _one_line(missing.stderr)
    assert "CREDIT_CHECK_BASE_URL" in line
    assert "--base-url" in line


def test_a_bug_shows_its_traceback_only_with_verbose(tmp_path: Path) -> None:
    # A fault put into the command as a bug would be: journal stats raises an error
    # the CLI does not expect (its message holds a personal id, which stays masked).
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import credit_check_sdk._cli_journal as journal_cli\n"
        "def _broken(args, out):\n"
        f"    raise ZeroDivisionError('a bug near {PERSON}')\n"
        "journal_cli._stats = _broken\n"
    )
    env = base_env(PYTHONPATH=str(inject))
    quiet = credit_check("journal", "stats", "--data-dir", str(tmp_path / "d"), env=env)
    assert quiet.returncode == 2
    line = _one_line(quiet.stderr)
    assert line == (
        "credit-check: unexpected error: ZeroDivisionError: a bug near 4420**********1233 "
        "(run with -v for the traceback)"
    )
    loud = credit_check("journal", "stats", "--data-dir", str(tmp_path / "d"), "-v", env=env)
    assert loud.returncode == 2
    assert "Traceback (most recent call last)" in loud.stderr
    assert "ZeroDivisionError: a bug near 4420**********1233" in loud.stderr
    assert PERSON not in loud.stderr


def test_ctrl_c_exits_130_without_a_traceback(fake: FakePlatform, tmp_path: Path) -> None:
    env = platform_env(fake, tmp_path / "d")
    fake.outage()
    checked = credit_check("check", ORG, "bidding", "--timeout", "0.5", env=env)
    assert checked.returncode == 0, checked.stderr  # decided offline; its record is pending
    asked = len(fake.requests)
    running = subprocess.Popen(
        [executable(), "flush", "--timeout", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while len(fake.requests) == asked and time.monotonic() < deadline:
            time.sleep(0.05)  # until the flush is trying to upload
        assert len(fake.requests) > asked
        started = time.monotonic()
        running.send_signal(signal.SIGINT)
        out, err = running.communicate(timeout=30)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 130
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err
    assert out == ""
    assert time.monotonic() - started < 20  # not the 120 s of --timeout
