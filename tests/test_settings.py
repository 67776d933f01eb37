"""Settings: keywords first, then the ``CREDIT_CHECK_*`` environment; errors name both."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from credit_check_sdk import ConfigurationError, Settings
from credit_check_sdk.testing import FakePlatform

REQUIRED = {
    "CREDIT_CHECK_BASE_URL": "https://credit.example/api",
    "CREDIT_CHECK_APP_ID": "test-app",
    "CREDIT_CHECK_APP_SECRET": "test-secret-0123456789",
    "CREDIT_CHECK_AGENCY_ID": "zs-fgj",
}


def test_max_relation_age_defaults_to_thirty_days() -> None:
    assert Settings.build(REQUIRED).max_relation_age == 30 * 24 * 3600.0


def test_max_relation_age_from_the_environment() -> None:
    env = {**REQUIRED, "CREDIT_CHECK_MAX_RELATION_AGE": "86400"}
    assert Settings.build(env).max_relation_age == 86400.0


def test_max_relation_age_keyword_overrides_the_environment() -> None:
    env = {**REQUIRED, "CREDIT_CHECK_MAX_RELATION_AGE": "86400"}
    assert Settings.build(env, max_relation_age=600).max_relation_age == 600.0
    assert Settings.build(env, max_relation_age=timedelta(days=7)).max_relation_age == 7 * 86400.0


def test_max_relation_age_reaches_the_checker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDIT_CHECK_MAX_RELATION_AGE", "3600")
    fake = FakePlatform()
    with fake.checker(tmp_path / "env") as checker:
        assert checker.settings.max_relation_age == 3600.0
    with fake.checker(tmp_path / "keyword", max_relation_age=timedelta(hours=2)) as checker:
        assert checker.settings.max_relation_age == 7200.0


@pytest.mark.parametrize("value", ["-1", "0"])
def test_a_negative_or_zero_max_relation_age_from_the_environment_is_refused(value: str) -> None:
    env = {**REQUIRED, "CREDIT_CHECK_MAX_RELATION_AGE": value}
    with pytest.raises(ConfigurationError) as caught:
        Settings.build(env)
    assert caught.value.setting == "max_relation_age"
    assert caught.value.variable == "CREDIT_CHECK_MAX_RELATION_AGE"
    assert "CREDIT_CHECK_MAX_RELATION_AGE" in str(caught.value)


def test_a_negative_max_relation_age_keyword_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.build(REQUIRED, max_relation_age=timedelta(days=-1))
    assert caught.value.setting == "max_relation_age"
    assert "CREDIT_CHECK_MAX_RELATION_AGE" in str(caught.value)
