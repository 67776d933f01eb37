"""``credit-check check-many`` and ``credit-check action``, as the installed executable."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from credit_check_sdk.testing import FakePlatform
from tests.support.clirun import credit_check, executable, platform_env

DEFAULTER = "91442000MA4UJ2KQ57"  # court judgment defaulter: restricted in bidding
CLEAN = "91442000MA4UC00019"
OTHER = "91442000MA00000034"
PERSON = "442000199001011233"
SHORT_PERSON = "44200019900101123"  # 17 digits: not an id, still a person's number


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.add_entry(DEFAULTER, "black", "court_judgment_defaulter")
        platform.serve()
        yield platform


def _ids_file(tmp_path: Path) -> Path:
    path = tmp_path / "ids.txt"
    lines = [
        "# bidders of ZB-2026-118",  # 1: a comment
        DEFAULTER,  # 2
        "",  # 3: blank
        "not-an-id",  # 4
        f"  {CLEAN.lower()}  ",  # 5: spaces and case are normalised
        SHORT_PERSON,  # 6
        PERSON,  # 7
        DEFAULTER[:-1] + "8",  # 8: a wrong check character
    ]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    return path


def test_bad_lines_are_reported_by_line_number_and_the_rest_checked(
    fake: FakePlatform, tmp_path: Path
) -> None:
    done = credit_check(
        "check-many", str(_ids_file(tmp_path)), "--matter", "bidding",
        env=platform_env(fake, tmp_path / "d", columns=100),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # some lines were bad
    assert len(fake.records) == 3  # the good lines were checked and uploaded all the same
    text = done.stdout
    assert "Lines not checked" in text
    rows = {
        line.split("│")[1].strip(): line
        for line in text.splitlines()
        if line.startswith("│") and line.split("│")[1].strip().isdigit()
    }
    assert sorted(rows, key=int) == ["4", "6", "8"]  # 1-based, as an editor numbers them
    assert "not-an-id" in rows["4"]
    assert "4420*********1123" in rows["6"]
    assert "91442000MA4UJ2KQ58" in rows["8"]
    for number in (PERSON, SHORT_PERSON):
        assert number not in done.stdout + done.stderr
    assert "4420**********1233  line 7" in text
    assert f"{DEFAULTER}  line 2" in text
    assert f"{CLEAN}  line 5" in text
    assert "3 checked (normal 2, restriction 1); 3 line(s) not checked" in text
    assert "Traceback" not in done.stderr


def test_check_many_json_is_one_document_with_lines(fake: FakePlatform, tmp_path: Path) -> None:
    done = credit_check(
        "check-many", str(_ids_file(tmp_path)), "--matter", "bidding", "--json",
        env=platform_env(fake, tmp_path / "d"),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert [(r["line"], r["outcome"]) for r in doc["results"]] == [
        (2, "restriction"),
        (5, "normal"),
        (7, "normal"),
    ]
    person = doc["results"][2]["subject"]
    assert (person["id"], person["kind"]) == ("4420**********1233", "natural_person")
    assert {r["check_id"] for r in doc["results"]} == set(fake.records)
    assert [(i["line"], i["value"]) for i in doc["invalid"]] == [
        (4, "not-an-id"),
        (6, "4420*********1123"),
        (8, "91442000MA4UJ2KQ58"),  # an organisation's code: shown whole
    ]
    assert all(i["reason"] for i in doc["invalid"])
    assert doc["summary"] == {"restriction": 1, "normal": 2}
    assert doc["journal_pending"] == 0
    assert doc["rejected"] == []
    assert PERSON not in done.stdout + done.stderr
    assert "3 line(s) not checked" in done.stderr  # messages on stderr


def test_all_good_lines_exit_0_and_standard_input_works(fake: FakePlatform, tmp_path: Path) -> None:
    done = credit_check(
        "check-many", "-", "--matter", "bidding", "--json",
        input=f"{DEFAULTER}\n{CLEAN}\n", env=platform_env(fake, tmp_path / "d"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [r["line"] for r in json.loads(done.stdout)["results"]] == [1, 2]


def _run_with_a_terminal_for_stderr(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run with standard error on a pseudo-terminal (as in a shell); stdout still a pipe."""
    primary, secondary = pty.openpty()
    seen: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed
                return
            if not chunk:
                return
            seen.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            [executable(), *args],
            stdout=subprocess.PIPE,
            stderr=secondary,
            env={**env, "TERM": "xterm-256color"},
            timeout=90,
            check=False,
        )
    finally:
        os.close(secondary)
    reader.join(10)
    os.close(primary)
    return done.returncode, done.stdout.decode(), b"".join(seen).decode(errors="replace")


def test_a_progress_bar_only_when_stderr_is_a_terminal(fake: FakePlatform, tmp_path: Path) -> None:
    ids = tmp_path / "many.txt"
    ids.write_text("\n".join([DEFAULTER, CLEAN, OTHER] * 3) + "\n")
    args = ["check-many", str(ids), "--matter", "bidding", "--json"]
    env = platform_env(fake, tmp_path / "d")
    status, out, terminal = _run_with_a_terminal_for_stderr(args, env)
    assert status == 0, terminal
    assert "checking for bidding" in terminal
    assert "9/9" in terminal
    assert len(json.loads(out)["results"]) == 9  # stdout holds the JSON alone
    piped = credit_check(*args, env=env)
    assert piped.returncode == 0, piped.stderr
    assert "checking for bidding" not in piped.stderr
    assert "9/9" not in piped.stderr
    assert len(json.loads(piped.stdout)["results"]) == 9


# --- action ------------------------------------------------------------------------------


def test_action_records_what_the_flow_did(fake: FakePlatform, tmp_path: Path) -> None:
    env = platform_env(fake, tmp_path / "d")
    checked = credit_check("check", DEFAULTER, "bidding", "--json", env=env)
    assert checked.returncode == 0, checked.stderr
    check_id = json.loads(checked.stdout)["check_id"]

    applied = credit_check("action", check_id, "applied", "--operator", "zhang.w", env=env)
    assert applied.returncode == 0, applied.stderr
    assert f"applied recorded for check {check_id}: P-BID-EXCLUDE" in applied.stdout
    action_id = applied.stdout.split("action id: ")[1].split()[0]
    assert fake.records[action_id]["action"] == "applied"
    assert fake.records[action_id]["operator"] == "zhang.w"

    overridden = credit_check(
        "action", check_id, "overridden", "--reason", "复核后纠正", "--measure", "P-BID-EXCLUDE",
        "--json", env=env,
    )  # fmt: skip
    assert overridden.returncode == 0, overridden.stderr
    doc = json.loads(overridden.stdout)
    assert doc["check_id"] == check_id
    assert doc["measure_ids"] == ["P-BID-EXCLUDE"]
    assert doc["reason"] == "复核后纠正"
    assert doc["upload"] == {"state": "accepted", "detail": None}
    assert fake.records[doc["action_id"]]["reason"] == "复核后纠正"


def test_action_refuses_what_the_library_refuses(fake: FakePlatform, tmp_path: Path) -> None:
    env = platform_env(fake, tmp_path / "d")
    checked = credit_check("check", DEFAULTER, "bidding", "--json", env=env)
    check_id = json.loads(checked.stdout)["check_id"]
    records = len(fake.records)
    for action in ("not_applied", "overridden"):
        no_reason = credit_check("action", check_id, action, env=env)
        assert no_reason.returncode == 2
        assert no_reason.stderr.strip() == (
            f'credit-check: a {action} action needs a reason: --reason "…"'
        )
    unknown_measure = credit_check("action", check_id, "applied", "--measure", "P-NONE", env=env)
    assert unknown_measure.returncode == 2
    assert unknown_measure.stderr.strip() == (
        f"credit-check: check {check_id} has no measure P-NONE; it has P-BID-EXCLUDE"
    )
    unknown_check = credit_check("action", "no-such-check", "applied", env=env)
    assert unknown_check.returncode == 2
    assert "no check 'no-such-check' in the journal" in unknown_check.stderr
    bad_action = credit_check("action", check_id, "ignored", env=env)
    assert bad_action.returncode == 2  # argparse: not one of the choices
    assert "invalid choice" in bad_action.stderr
    assert len(fake.records) == records  # nothing was journaled or sent


def test_action_exits_1_when_the_platform_rejects_its_record(
    fake: FakePlatform, tmp_path: Path
) -> None:
    env = platform_env(fake, tmp_path / "d")
    checked = credit_check("check", DEFAULTER, "bidding", "--json", env=env)
    check_id = json.loads(checked.stdout)["check_id"]
    rejected = credit_check(
        "action", check_id, "applied", "--agency-id", "not-the-agency", "--json", env=env
    )
    assert rejected.returncode == 1, rejected.stderr
    assert json.loads(rejected.stdout)["upload"]["state"] == "rejected"
    assert "the platform rejected the journal record" in rejected.stderr
    assert '"not-the-agency"' in rejected.stderr
