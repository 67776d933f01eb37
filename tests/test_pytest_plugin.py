"""The SDK's pytest plugin: its fixtures reach a project's tests with no conftest.

Each test writes a throwaway test file into ``tmp_path`` and runs pytest on it
in a subprocess, the way an agency's own test suite would run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

# Runs in the subprocess. Module level: loading the plugin imported neither the
# sandbox nor FastAPI. Then the fixtures, used as an agency would, and what
# their teardown left behind.
_AGENCY_TESTS = """
import sys

import pytest

from credit_check_sdk import CreditCheckError

LIGHT = not any(m in sys.modules for m in ("fastapi", "credit_check_sandbox"))
COMPANY = "91442000MA4UJ2KQ57"
KEPT = []


def test_the_plugin_imports_lightly():
    assert LIGHT


def test_a_blacklisted_subject_is_restricted(credit_fake_platform, credit_checker):
    credit_fake_platform.add_entry(COMPANY, "black", "court_judgment_defaulter")
    decision = credit_checker.must_check(COMPANY, "bidding")
    assert decision.outcome == "restriction"
    assert credit_checker.data_dir.is_dir()
    KEPT.append((credit_fake_platform, credit_checker))


def test_the_fake_serves_http(credit_fake_platform, tmp_path):
    url = credit_fake_platform.serve()
    assert url.startswith("http://127.0.0.1:")
    credit_fake_platform.add_entry(COMPANY, "black", "fiscal_funds")
    with credit_fake_platform.checker(tmp_path / "http", timeout=2.0) as checker:
        assert checker.must_check(COMPANY, "subsidy").outcome == "restriction"
    assert credit_fake_platform.requests
    KEPT.append((credit_fake_platform, None))


def test_fixtures_are_fresh_and_torn_down(credit_fake_platform, credit_checker):
    assert credit_checker.must_check(COMPANY, "bidding").outcome == "normal"
    (first, closed), (served, _) = KEPT
    assert first is not credit_fake_platform
    with pytest.raises(CreditCheckError, match="closed"):
        closed.must_check(COMPANY, "bidding")
    assert served.base_url == "https://fake-platform.invalid/api"  # no longer served
"""

# The async fixture, run by anyio's pytest plugin (the async extra installs anyio), as an
# agency's tests of an application on an event loop would use it.
_ASYNC_AGENCY_TESTS = """
import asyncio

import pytest

from credit_check_sdk import AsyncCreditChecker, CreditCheckError

COMPANY = "91442000MA4UJ2KQ57"
KEPT = []


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_a_blacklisted_subject_is_restricted(credit_fake_platform, credit_async_checker):
    assert isinstance(credit_async_checker, AsyncCreditChecker)
    assert credit_fake_platform.base_url.startswith("http://127.0.0.1:")  # served for it
    credit_fake_platform.add_entry(COMPANY, "black", "court_judgment_defaulter")
    decision = await credit_async_checker.must_check(COMPANY, "bidding")
    assert decision.outcome == "restriction"
    # No profile cache: what the test arranges shows at the next check.
    credit_fake_platform.set_entry_status(credit_fake_platform.profile(COMPANY)["entries"][0]
                                          ["entry_id"], "repaired")
    assert (await credit_async_checker.must_check(COMPANY, "bidding")).outcome == "normal"
    await credit_async_checker.watch(COMPANY, "bidding", "ZSGC-2026-118")
    assert credit_async_checker.data_dir.parent.name.startswith("test_a_blacklisted")
    KEPT.append((credit_fake_platform, credit_async_checker, asyncio.get_running_loop()))


@pytest.mark.anyio
async def test_fixtures_are_fresh_and_torn_down(credit_fake_platform, credit_async_checker):
    assert (await credit_async_checker.must_check(COMPANY, "bidding")).outcome == "normal"
    [(first_fake, closed, loop)] = KEPT
    assert first_fake is not credit_fake_platform
    with pytest.raises(CreditCheckError, match="closed"):
        await closed.must_check(COMPANY, "bidding")
    assert first_fake.base_url == "https://fake-platform.invalid/api"  # no longer served
"""

# anyio's plugin runs a test on every backend installed unless told: on trio the
# async checker cannot run, and the fixture says how to keep the test on asyncio.
_ON_TRIO = """
import pytest


@pytest.fixture
def anyio_backend():
    return "trio"


@pytest.mark.anyio
async def test_on_trio(credit_async_checker):
    raise AssertionError("not reached")
"""

_WITHOUT_THE_EXTRA = """
import sys

sys.modules["fastapi"] = None  # as if the sandbox extra were not installed


def test_needs_the_sandbox(credit_sandbox):
    raise AssertionError("not reached")
"""


def run_pytest(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest on ``source`` in ``tmp_path``: no conftest, none of this project's settings."""
    (tmp_path / "test_agency.py").write_text(source, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    assert not (tmp_path / "conftest.py").exists()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
    }
    # Plugins of other installed packages, slow to load and beside the point here, stay off.
    quiet = ["-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *quiet, "-rs", *args, "test_agency.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_registered_as_a_pytest_plugin() -> None:
    [plugin] = [e for e in entry_points(group="pytest11") if e.name == "credit_check_sdk"]
    assert plugin.value == "credit_check_sdk.pytest_plugin"


# Modules a project's test run must not pay for just because the SDK is installed.
_HEAVY = (
    "credit_check_sdk._checker",
    "credit_check_sdk._models",
    "credit_check_sdk.testing",
    "credit_check_sandbox",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "requests",
    "urllib3",
    "pydantic",
    "rich",
    "tenacity",
    "stdnum",
)

_IMPORT_THE_PLUGIN = f"""
import json, logging, sys
import pytest

before = set(sys.modules)
import credit_check_sdk.pytest_plugin
print(json.dumps(sorted(set(sys.modules) - before)))
print(json.dumps([m for m in {_HEAVY!r} if m in sys.modules]))
"""


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    # What pytest does at start-up in any project with the SDK installed: import the
    # plugin module. Beyond pytest itself, it brings the package shell and nothing else.
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_THE_PLUGIN],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    added, heavy = (json.loads(line) for line in done.stdout.splitlines())
    assert heavy == []
    assert added == [
        "credit_check_sdk",
        "credit_check_sdk._version",
        "credit_check_sdk.pytest_plugin",
    ]


def test_the_fixtures_need_no_conftest(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, _AGENCY_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_the_async_checker_fixture_runs_on_the_tests_event_loop(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, _ASYNC_AGENCY_TESTS, "-W", "error::ResourceWarning")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert "Warning" not in done.stdout  # closed on its loop: no unclosed connection


def test_the_async_checker_fixture_skips_a_test_on_trio(tmp_path: Path) -> None:
    pytest.importorskip("trio", reason="trio is not installed (the examples extra brings it)")
    done = run_pytest(tmp_path, _ON_TRIO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert 'an anyio_backend fixture that returns "asyncio"' in done.stdout


def test_the_sandbox_fixture_skips_without_the_extra(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, _WITHOUT_THE_EXTRA)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert 'pip install "credit-check-sdk[sandbox]"' in done.stdout


def test_the_plugin_can_be_disabled(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, _AGENCY_TESTS, "-p", "no:credit_check_sdk")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED
    assert "fixture 'credit_fake_platform' not found" in done.stdout
