"""What a developer starting the sandbox for the first time is told, and that it is right.

The sandbox prints every setting a checker needs, the agency id included (the one
its journal records must name), as text and as a shell ``export`` line; a checker
configured from exactly that line has its records accepted, one naming another
agency has them rejected.
"""

from __future__ import annotations

import queue
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from credit_check_sandbox.process import SandboxProcess
from credit_check_sandbox.seed import SCENARIO_SUBJECTS

from credit_check_sdk import CreditChecker, Settings

pytestmark = pytest.mark.sandbox


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start ``python -m credit_check_sandbox``; its stdout up to ``SANDBOX_READY``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "credit_check_sandbox", "--port", "0", "--seed-size", "300",
         "--db", str(tmp_path / "sandbox.db"), "--log-level", "warning", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    shown: list[str] = []
    while not shown or not shown[-1].startswith("SANDBOX_READY "):
        line = lines.get(timeout=120)
        if line is None:
            proc.kill()
            raise AssertionError(f"the sandbox exited before it was ready: {shown}")
        shown.append(line)
    return proc, shown


@pytest.fixture
def sandbox_zs_fgj(tmp_path: Path) -> Iterator[list[str]]:
    proc, shown = _start(tmp_path, "--agency-id", "zs-fgj")
    try:
        yield shown
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _exported(shown: list[str]) -> dict[str, str]:
    [line] = [line for line in shown if line.startswith("export ")]
    return dict(word.split("=", 1) for word in shlex.split(line)[1:])


def test_the_sandbox_prints_every_setting_a_checker_needs(sandbox_zs_fgj: list[str]) -> None:
    shown = sandbox_zs_fgj
    base_url = shown[-1].split()[1]
    assert shown[0] == f"credit platform sandbox at {base_url}"
    assert "app id:     sandbox-agency" in shown
    assert "app secret: sandbox-secret" in shown
    assert "agency id:  zs-fgj" in shown
    assert _exported(shown) == {
        "CREDIT_CHECK_BASE_URL": base_url,
        "CREDIT_CHECK_APP_ID": "sandbox-agency",
        "CREDIT_CHECK_APP_SECRET": "sandbox-secret",
        "CREDIT_CHECK_AGENCY_ID": "zs-fgj",
    }


def test_records_naming_the_printed_agency_are_accepted_others_rejected(
    sandbox_zs_fgj: list[str], tmp_path: Path
) -> None:
    env = _exported(sandbox_zs_fgj)  # the settings exactly as printed
    defaulter = SCENARIO_SUBJECTS["judgment_defaulter_bidder"].id
    with CreditChecker(Settings.build(env, data_dir=tmp_path / "right")) as checker:
        assert checker.must_check(defaulter, "bidding").outcome == "restriction"
        assert checker.flush(timeout=30) == 0
        assert checker.upload_stats()["accepted"] == 1
    wrong = Settings.build(env, data_dir=tmp_path / "wrong", agency_id="sandbox-agency")
    with CreditChecker(wrong) as checker:
        checker.must_check(defaulter, "bidding")
        checker.flush(timeout=30)
        assert checker.upload_stats()["rejected"] == 1


def test_the_agency_id_defaults_to_the_app_id(tmp_path: Path) -> None:
    proc, shown = _start(tmp_path, "--app-id", "my-app")
    try:
        assert "agency id:  my-app" in shown
        assert _exported(shown)["CREDIT_CHECK_AGENCY_ID"] == "my-app"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_sandbox_process_wires_checkers_to_its_agency(tmp_path: Path) -> None:
    with SandboxProcess(seed_size=300, agency_id="zs-fgj") as sandbox:
        assert sandbox.admin("GET", "")["agency_id"] == "zs-fgj"
        with sandbox.checker(tmp_path / "sdk") as checker:
            assert checker.settings.agency_id == "zs-fgj"
            checker.must_check(SCENARIO_SUBJECTS["clean_no_entries"].id, "bidding")
            assert checker.flush(timeout=30) == 0
            assert checker.upload_stats()["accepted"] == 1
