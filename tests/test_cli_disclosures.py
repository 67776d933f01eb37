"""``credit-check disclosures pending`` and the disclosures in ``credit-check health``, run as
the installed executable on a data folder where a checker kept disclosures it could not post."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from credit_check_sdk._time import today
from credit_check_sdk.testing import FakePlatform
from tests.support.clirun import base_env, credit_check, platform_env

ORG = "91442000MA4UJ2KQ57"
PERSON = "442000199001011233"
PERSON_MASKED = "4420**********1233"


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-scjgj") as platform:
        platform.serve()
        yield platform


def _keep_two(fake: FakePlatform, data: Path) -> tuple[str, str]:
    """A licence decided today and a penalty decided long ago, kept while the platform is
    down: the first due, the second late."""
    fake.outage()
    with fake.checker(data, timeout=1.0) as checker:
        due = checker.disclose(
            "licensing", ORG, "中市监许〔2026〕31号", today(), "食品经营许可证核发"
        )
        late = checker.disclose(
            "penalty", PERSON, "中市监罚〔2026〕7号", date(2026, 1, 5), "行政处罚决定书",
            {"fine_yuan": 5000},
        )  # fmt: skip
        checker.flush(timeout=1)
    fake.outage(False)
    return due.disclosure_id, late.disclosure_id


def test_pending_lists_late_first_and_exits_1(fake: FakePlatform, tmp_path: Path) -> None:
    data = tmp_path / "data"
    due_id, late_id = _keep_two(fake, data)
    env = base_env(80, CREDIT_CHECK_DATA_DIR=str(data))
    done = credit_check("disclosures", "pending", "--json", env=env)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["today"] == today().isoformat()
    assert (doc["due"], doc["late"]) == (1, 1)
    assert [d["disclosure_id"] for d in doc["disclosures"]] == [late_id, due_id]
    late, due = doc["disclosures"]
    assert late["state"] == "late"
    assert late["due_on"] == "2026-01-14"
    assert late["days_left"] < 0
    assert late["kind"] == "penalty"
    assert late["subject_id"] == PERSON_MASKED
    assert due["state"] == "due"
    assert due["days_left"] >= 0
    assert due["subject_id"] == ORG
    assert PERSON not in done.stdout + done.stderr

    text = credit_check("disclosures", "pending", env=env)
    assert text.returncode == 1
    assert "中市监罚〔2026〕7号" in text.stdout
    assert late_id in text.stdout
    assert due_id in text.stdout
    assert "late by" in text.stdout
    assert "1 due, 1 late" in text.stdout
    assert PERSON not in text.stdout
    assert all(len(line) <= 80 for line in text.stdout.splitlines())


def test_health_shows_them_until_posted(fake: FakePlatform, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _keep_two(fake, data)
    env = platform_env(fake, data)
    health = credit_check("health", "--json", env=env)
    assert health.returncode == 0, health.stderr
    shown = json.loads(health.stdout)["disclosures"]
    assert shown["pending"] == 2
    assert shown["late"] == 1
    assert shown["due"] == 1
    assert "credit-check disclosures pending" in health.stderr
    # A checker's next pass posts both; nothing is pending any more: exit 0.
    flushed = credit_check("flush", env=env)
    assert flushed.returncode == 0, flushed.stderr
    assert len(fake.disclosures) == 2
    after = credit_check("disclosures", "pending", "--json", env=env)
    assert after.returncode == 0
    assert json.loads(after.stdout) == {
        "today": today().isoformat(),
        "disclosures": [],
        "due": 0,
        "late": 0,
    }
    plain = credit_check("health", env=env)
    assert "disclosures" in plain.stdout
