"""``credit-check`` whose standard output is closed before it finishes (``… | head -1``):
it stops quietly with exit status 141 — no traceback, no message — run as the installed
executable on a real pipe."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from credit_check_sdk._cli_common import EXIT_OUTPUT_CLOSED
from credit_check_sdk.testing import FakePlatform
from tests.support.clirun import base_env, executable

ORG = "91442000MA4UJ2KQ57"


@pytest.fixture(scope="module")
def big_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A journal whose export is far larger than a pipe's buffer (64 KiB on Linux)."""
    data = tmp_path_factory.mktemp("journal")
    with FakePlatform() as fake, fake.checker(data) as checker:
        fake.add_entry(ORG, "black", "court_judgment_defaulter")
        for _ in range(400):
            checker.must_check(ORG, "bidding")
    return data


def test_journal_export_into_a_reader_that_stops_early(big_journal: Path) -> None:
    proc = subprocess.Popen(
        [executable(), "journal", "export", "--data-dir", str(big_journal)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=base_env(),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()
    assert first.startswith(b'{"'), first
    proc.stdout.close()  # the reader goes away with most of the export unread
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == EXIT_OUTPUT_CLOSED
    assert err == ""  # no BrokenPipeError traceback, no "Exception ignored" at exit


def test_journal_export_piped_to_head_in_a_shell(big_journal: Path) -> None:
    command = (
        f"set -o pipefail; {shlex.quote(executable())} journal export --data-dir "
        f"{shlex.quote(str(big_journal))} --format csv | head -1"
    )
    bash = shutil.which("bash")
    assert bash, "bash runs the pipeline"
    done = subprocess.run(
        [bash, "-c", command], capture_output=True, text=True, env=base_env(), timeout=60
    )
    assert done.stdout.lstrip("\ufeff").startswith("type,id,check_id,")
    assert len(done.stdout.splitlines()) == 1
    assert done.stderr == ""
    assert done.returncode == EXIT_OUTPUT_CLOSED  # the export's own status, via pipefail
    whole = subprocess.run(
        [bash, "-c", command.replace("| head -1", "| wc -l")],
        capture_output=True, text=True, env=base_env(), timeout=60,
    )  # fmt: skip
    assert whole.returncode == 0, whole.stderr  # read to the end: status 0
    assert int(whole.stdout) == 401  # the header and every record


@pytest.mark.parametrize(
    "args",
    [
        ["journal", "stats"],  # a table (rich)
        ["journal", "stats", "--json"],  # one JSON document
        ["journal", "export"],  # the export's own writer
        ["snapshot", "status"],
        ["journal", "verify"],
    ],
)
def test_output_closed_before_the_first_write(big_journal: Path, args: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the first write fails
    try:
        done = subprocess.run(
            [executable(), *args, "--data-dir", str(big_journal)],
            stdout=write_end, stderr=subprocess.PIPE, text=True, env=base_env(), timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert done.stderr == "", args
    assert done.returncode == EXIT_OUTPUT_CLOSED, args


def test_a_reader_that_reads_everything_sees_status_0(big_journal: Path) -> None:
    done = subprocess.run(
        [executable(), "journal", "stats", "--json", "--data-dir", str(big_journal)],
        capture_output=True, text=True, env=base_env(), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"accepted": 400' in done.stdout
