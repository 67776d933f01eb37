"""The ``credit-check`` command: settings from the environment, clear failures, checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from credit_check_sdk.testing import FakePlatform


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credit_check_sdk.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=60,
        check=False,
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_CHECK_")}
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def test_a_missing_setting_names_the_variable_and_the_flag(tmp_path: Path) -> None:
    done = run("check", "91442000MA4UJ2KQ57", "bidding", env=clean_env())
    assert done.returncode == 2
    assert "CREDIT_CHECK_BASE_URL" in done.stderr
    assert "--base-url" in done.stderr


def test_check_reads_the_environment_and_flags_override_it(tmp_path: Path) -> None:
    with FakePlatform(agency_id="zs-fgj") as fake:
        fake.add_entry("91442000MA4UJ2KQ57", "black", "court_judgment_defaulter")
        base_url = fake.serve()
        env = clean_env(
            CREDIT_CHECK_BASE_URL="http://127.0.0.1:9/api",  # overridden by --base-url
            CREDIT_CHECK_APP_ID=fake.app_id,
            CREDIT_CHECK_APP_SECRET=fake.app_secret,
            CREDIT_CHECK_AGENCY_ID="zs-fgj",
            CREDIT_CHECK_DATA_DIR=str(tmp_path / "sdk"),
        )
        done = run("check", "91442000MA4UJ2KQ57", "bidding", "--base-url", base_url, env=env)
        assert done.returncode == 0, done.stderr
        assert "restriction" in done.stdout
        assert "P-BID-EXCLUDE" in done.stdout
        # The check was journaled and uploaded; the journal tools need no credentials.
        verify = run("journal", "verify", "--data-dir", str(tmp_path / "sdk"), env=clean_env())
        assert verify.returncode == 0, verify.stderr
        assert "1 records" in verify.stdout
        assert len(fake.records) == 1


def test_a_bad_subject_id_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    with FakePlatform(agency_id="zs-fgj") as fake:
        base_url = fake.serve()
        env = clean_env(
            CREDIT_CHECK_BASE_URL=base_url,
            CREDIT_CHECK_APP_ID=fake.app_id,
            CREDIT_CHECK_APP_SECRET=fake.app_secret,
            CREDIT_CHECK_AGENCY_ID="zs-fgj",
            CREDIT_CHECK_DATA_DIR=str(tmp_path / "sdk"),
        )
        done = run("check", "91442000MA4UJ2KQ58", "bidding", env=env)
        assert done.returncode == 2
        assert "not a valid USCC" in done.stderr or "neither a valid USCC" in done.stderr
        assert not [r for r in fake.requests if "profile" in r[1]]


def test_check_exits_1_and_says_why_when_the_platform_rejects_its_record(
    tmp_path: Path,
) -> None:
    # The platform knows the app as agency zs-fgj; records naming another agency are
    # refused. The check itself is done, but it was never reported back.
    with FakePlatform(agency_id="zs-fgj") as fake:
        env = clean_env(
            CREDIT_CHECK_BASE_URL=fake.serve(),
            CREDIT_CHECK_APP_ID=fake.app_id,
            CREDIT_CHECK_APP_SECRET=fake.app_secret,
            CREDIT_CHECK_AGENCY_ID="not-the-agency",
        )
        wrong = run(
            "check", "91442000MA4UJ2KQ57", "bidding", "--data-dir", str(tmp_path / "a"), env=env
        )
        assert wrong.returncode == 1, wrong.stderr
        assert "normal" in wrong.stdout
        assert "the platform rejected the journal record of 1 check(s)" in wrong.stderr
        assert "not-the-agency" in wrong.stderr
        assert "CREDIT_CHECK_AGENCY_ID" in wrong.stderr
        assert not fake.records
        ids = tmp_path / "ids.txt"
        ids.write_text("91442000MA4UJ2KQ57\n91442000MA4UC00019\n", encoding="utf-8")
        many = run(
            "check-many", str(ids), "--matter", "bidding", "--data-dir", str(tmp_path / "b"),
            env=env,
        )  # fmt: skip
        assert many.returncode == 1, many.stderr
        assert "rejected the journal record of 2 check(s)" in many.stderr
        right = run(
            "check", "91442000MA4UJ2KQ57", "bidding", "--data-dir", str(tmp_path / "c"),
            "--agency-id", "zs-fgj", env=env,
        )  # fmt: skip
        assert right.returncode == 0, right.stderr
        assert right.stderr == ""
        assert len(fake.records) == 1


def test_credit_check_sandbox_is_installed_as_a_command() -> None:
    from importlib.metadata import entry_points

    [script] = [
        e for e in entry_points(group="console_scripts") if e.name == "credit-check-sandbox"
    ]
    assert script.value == "credit_check_sandbox.cli:main"  # the sandbox's own distribution
    executable = Path(sys.executable).with_name("credit-check-sandbox")
    done = subprocess.run(
        [str(executable), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "--agency-id" in done.stdout


def test_credit_check_sandbox_without_the_sandbox_names_the_pip_command() -> None:
    # As if the sandbox distribution were not installed: its import fails.
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['credit_check_sandbox'] = None; "
         "from credit_check_sdk.cli import main; sys.exit(main(['sandbox', '--port', '0']))"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "credit-check sandbox: the sandbox platform is not installed: "
        'pip install "credit-check-sdk[sandbox]"'
    )
    assert "Traceback" not in done.stderr
