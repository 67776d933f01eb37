"""A wrong secret, a forbidden app or a clock far off is loud, not an outage.

The check still decides as in an outage (``review`` without usable data), but
its first reason names what was refused; one ERROR a minute, not one per
check; ``health()["configuration"]`` shows it; the breaker stays closed; the
``credit-check`` executable exits 3 (credentials, permission) or 4 (clock).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk import AuthenticationError, CreditChecker, Outcome
from credit_check_sdk._client import PlatformClient
from credit_check_sdk._exceptions import PermissionDeniedError
from credit_check_sdk.testing import FakePlatform
from tests.netfaults import ORG, problem, raw_server, skewed_platform

CLEAN_ORG = "91442000MA4UC00019"
WRONG = "not-the-secret-at-all"
HOUR = 3600.0


def sdk_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("credit_check_sdk")
    ]


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.serve()
        yield platform


@pytest.fixture
def make_checker(tmp_path: Path) -> Iterator[Callable[..., CreditChecker]]:
    made: list[CreditChecker] = []

    def make(**settings: Any) -> CreditChecker:
        options: dict[str, Any] = {
            "data_dir": tmp_path / f"cc{len(made)}",
            "timeout": 2.0,
            "offline": False,
            "breaker_threshold": 2,
        }
        options.update(settings)
        checker = CreditChecker(**options)
        made.append(checker)
        return checker

    yield make
    for checker in made:
        checker.close(timeout=1)


def _settings_of(fake: FakePlatform, **overrides: Any) -> dict[str, Any]:
    return {
        "base_url": fake.serve(),
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        "agency_id": fake.agency_id,
        **overrides,
    }


def test_a_wrong_secret_gives_review_naming_the_credentials(
    fake: FakePlatform,
    make_checker: Callable[..., CreditChecker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    checker = make_checker(**_settings_of(fake, app_secret=WRONG))
    caplog.set_level(logging.WARNING)
    for _ in range(4):
        decision = checker.must_check(ORG, "bidding")
        assert decision.outcome is Outcome.REVIEW
        assert decision.degraded
        assert "credentials" in decision.reasons[0].en
        assert "CREDIT_CHECK_APP_SECRET" in decision.reasons[0].en
        assert "凭据" in decision.reasons[0].zh
    errors = sdk_errors(caplog)
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "credentials" in errors[0].getMessage()
    assert WRONG not in caplog.text
    report = checker.health()
    assert report["configuration"]["refused"] == "credentials"
    assert report["configuration"]["status"] == 401
    assert report["configuration"]["exit_status"] == 3
    assert report["configuration"]["count"] >= 4
    # Not an outage: every check asked the platform, the breaker stayed closed.
    assert report["breaker"]["state"] == "closed"
    profile_calls = [r for r in fake.requests if r[1].endswith("/profile")]
    assert len(profile_calls) == 4


def test_must_check_many_names_the_refusal_too(
    fake: FakePlatform, make_checker: Callable[..., CreditChecker]
) -> None:
    checker = make_checker(**_settings_of(fake, app_secret=WRONG))
    decisions = checker.must_check_many([ORG, CLEAN_ORG], "bidding")
    assert [d.outcome for d in decisions] == [Outcome.REVIEW, Outcome.REVIEW]
    assert all("credentials" in d.reasons[0].en for d in decisions)


def test_the_refusal_clears_once_the_secret_is_right_and_is_logged_again_later(
    fake: FakePlatform,
    make_checker: Callable[..., CreditChecker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    checker = make_checker(**_settings_of(fake, app_secret=WRONG), cache_ttl=0)
    caplog.set_level(logging.WARNING)
    checker.must_check(ORG, "bidding")
    fake.app_secret = WRONG  # the platform now holds the secret the install has
    decision = checker.must_check(ORG, "bidding")
    assert decision.source == "live"
    assert not decision.degraded
    assert checker.health()["configuration"]["refused"] is None
    fake.app_secret = "rotated-on-the-platform"
    later = checker.must_check(ORG, "bidding")
    # A recently fetched profile decides, degraded, and says why the platform was not asked.
    assert later.source == "cache"
    assert later.degraded
    assert "credentials" in later.reasons[0].en
    assert len(sdk_errors(caplog)) == 2


def test_a_403_names_the_permission(
    fake: FakePlatform, make_checker: Callable[..., CreditChecker]
) -> None:
    checker = make_checker(**_settings_of(fake))
    checker.refresh_catalog()
    fake.fail(403, path="/profile")
    decision = checker.must_check(ORG, "bidding")
    assert decision.outcome is Outcome.REVIEW
    assert "permission" in decision.reasons[0].en
    assert checker.health()["configuration"]["refused"] == "permission"


def test_a_clock_an_hour_slow_is_named_with_the_offset(
    make_checker: Callable[..., CreditChecker], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with raw_server({"/v1/": skewed_platform("s3cret", HOUR)}) as server:
        checker = make_checker(
            base_url=server.url(), app_id="app", app_secret="s3cret", agency_id="zs-fgj"
        )
        decisions = [checker.must_check(ORG, "bidding") for _ in range(3)]
    for decision in decisions:
        assert decision.outcome is Outcome.REVIEW
        reason = decision.reasons[0].en
        assert "clock" in reason
        assert "behind" in reason  # the platform's clock is an hour ahead of this one
    errors = sdk_errors(caplog)
    assert len(errors) == 1
    assert "clock" in errors[0].getMessage()
    config = checker.health()["configuration"]
    assert config["refused"] == "clock"
    assert config["exit_status"] == 4
    assert abs(config["clock_skew_seconds"] - HOUR) < 10


def test_without_a_date_header_the_problem_detail_tells_the_clock() -> None:
    detail = "timestamp is more than 300 s off the platform clock"
    with raw_server({"/v1/health": problem(401, detail, date=False)}) as server:
        client = PlatformClient(server.url(), "app", "secret", timeout=2.0)
        with pytest.raises(AuthenticationError) as caught:
            client.health()
        client.close()
    assert caught.value.clock_skew is None
    assert client.refusals.last is not None
    assert client.refusals.last.kind == "clock"


def test_a_wrong_secret_with_a_sound_clock_is_the_credentials() -> None:
    with raw_server({"/v1/health": problem(401, "signature does not match")}) as server:
        client = PlatformClient(server.url(), "app", "secret", timeout=2.0)
        with pytest.raises(AuthenticationError) as caught:
            client.health()
        client.close()
    assert caught.value.clock_skew is not None
    assert abs(caught.value.clock_skew) < 5
    assert client.refusals.last is not None
    assert client.refusals.last.kind == "credentials"


def test_the_error_is_rate_limited_per_interval(
    fake: FakePlatform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    client = PlatformClient(fake.serve(), fake.app_id, WRONG, timeout=2.0)
    client.refusals.log_every = 0.3
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            client.health()
    assert len(sdk_errors(caplog)) == 1
    time.sleep(0.35)
    with pytest.raises(AuthenticationError):
        client.health()
    assert len(sdk_errors(caplog)) == 2
    client.close()


def test_a_refusal_is_an_answer_for_the_breakers_probe(fake: FakePlatform) -> None:
    refused = PlatformClient(fake.serve(), fake.app_id, WRONG, timeout=2.0)
    assert refused.answers(timeout=2.0)  # the platform is up: close the breaker
    fake.outage()
    down = PlatformClient(fake.serve(), fake.app_id, fake.app_secret, timeout=1.0)
    assert not down.answers(timeout=1.0)
    fake.outage(False)
    fake.fail(403, path="/health")
    assert down.answers(timeout=1.0)
    with pytest.raises(PermissionDeniedError):
        down.health()
    refused.close()
    down.close()


# --- the credit-check executable ----------------------------------------------------------


def credit_check(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "credit-check"
    return subprocess.run(
        [str(executable), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def cli_env(base_url: str, secret: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_CHECK_")}
    env.update(
        {
            "COLUMNS": "200",
            "CREDIT_CHECK_BASE_URL": base_url,
            "CREDIT_CHECK_APP_ID": "test-app",
            "CREDIT_CHECK_APP_SECRET": secret,
            "CREDIT_CHECK_AGENCY_ID": "zs-fgj",
            "CREDIT_CHECK_DATA_DIR": str(data_dir),
            "CREDIT_CHECK_TIMEOUT": "2",
        }
    )
    return env


def _run_commands(server_url: str, secret: str, tmp_path: Path) -> dict[str, Any]:
    env = cli_env(server_url, secret, tmp_path / "data")
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{ORG}\n{CLEAN_ORG}\n", encoding="utf-8")
    runs = {
        "check": credit_check("check", ORG, "bidding", "--timeout", "1", env=env, cwd=tmp_path),
        "check-many": credit_check(
            "check-many",
            str(ids),
            "--matter",
            "bidding",
            "--timeout",
            "1",
            "--json",
            env=env,
            cwd=tmp_path,
        ),
        "health": credit_check("health", "--json", env=env, cwd=tmp_path),
        "sync": credit_check("sync", "--timeout", "2", env=env, cwd=tmp_path),
    }
    return runs


def test_the_cli_exits_3_when_the_credentials_are_refused(
    fake: FakePlatform, tmp_path: Path
) -> None:
    runs = _run_commands(fake.serve(), WRONG, tmp_path)
    for name, done in runs.items():
        assert done.returncode == 3, (name, done.stdout[-2000:], done.stderr[-2000:])
        assert WRONG not in done.stdout + done.stderr
    assert "review" in runs["check"].stdout
    assert "app id or secret" in runs["check"].stderr
    results = json.loads(runs["check-many"].stdout)["results"]
    assert [r["outcome"] for r in results] == ["review", "review"]
    report = json.loads(runs["health"].stdout)
    assert report["configuration"]["refused"] == "credentials"
    assert report["platform_answers"] is True
    assert "401" in runs["sync"].stderr


def test_the_cli_exits_4_when_the_clock_is_refused(tmp_path: Path) -> None:
    with raw_server({"/v1/": skewed_platform("s3cret", -HOUR)}) as server:
        runs = _run_commands(server.url(), "s3cret", tmp_path)
    for name, done in runs.items():
        assert done.returncode == 4, (name, done.stdout[-2000:], done.stderr[-2000:])
    assert "clock" in runs["check"].stderr
    report = json.loads(runs["health"].stdout)
    assert report["configuration"]["refused"] == "clock"
    assert report["configuration"]["clock_skew_seconds"] < -HOUR + 10


def test_the_cli_exits_0_against_a_platform_that_accepts(
    fake: FakePlatform, tmp_path: Path
) -> None:
    env = cli_env(fake.serve(), fake.app_secret, tmp_path / "data")
    done = credit_check("check", ORG, "bidding", "--timeout", "1", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    health = credit_check("health", "--json", env=env, cwd=tmp_path)
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)["configuration"]["refused"] is None
