"""Which storage a deployment gets (``database_url``), and that its URL is never shown whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_check_sdk import ConfigurationError, Settings
from credit_check_sdk.cli import main
from credit_check_sdk.storage import mask_database_url, open_storage
from credit_check_sdk.testing import FakePlatform

SECRET = "s3cr3t-pw"
URL = f"postgresql://cc:{SECRET}@db.gov.example:5432/credit"


def settings(**extra: object) -> Settings:
    return Settings.build(
        {},
        base_url="https://credit.example/api",
        app_id="a",
        app_secret="s",
        agency_id="AG-1",
        **extra,
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (URL, "postgresql://cc:***@db.gov.example:5432/credit"),
        ("postgresql://db/credit", "postgresql://db/credit"),
        (f"postgres://cc:{SECRET}@[::1]/credit", "postgres://cc:***@[::1]/credit"),
        (f"postgresql:///credit?password={SECRET}&sslmode=require", None),
    ],
)
def test_a_database_url_is_shown_without_its_password(url: str, shown: str | None) -> None:
    masked = mask_database_url(url)
    assert SECRET not in masked
    if shown is not None:
        assert masked == shown


def test_database_url_is_a_setting_from_the_environment_kept_secret() -> None:
    s = Settings.build(
        {"CREDIT_CHECK_DATABASE_URL": URL},
        base_url="https://x",
        app_id="a",
        app_secret="s",
        agency_id="g",
    )
    assert s.database_url is not None
    assert s.database_url.get_secret_value() == URL
    assert SECRET not in repr(s)
    assert (
        Settings.build(
            {"CREDIT_CHECK_DATABASE_URL": ""},
            base_url="https://x",
            app_id="a",
            app_secret="s",
            agency_id="g",
        ).database_url
        is None
    )
    with pytest.raises(ConfigurationError, match="CREDIT_CHECK_DATABASE_URL") as info:
        settings(database_url=f"mysql://cc:{SECRET}@db/credit")
    assert SECRET not in str(info.value)


def test_without_a_database_url_the_state_is_in_data_dir(tmp_path: Path) -> None:
    with open_storage(settings(data_dir=tmp_path / "d")) as storage:
        assert (storage.kind, storage.location) == ("sqlite", str(tmp_path / "d"))
        storage.journal.counts()
    assert (tmp_path / "d" / "journal.sqlite3").exists()


def test_a_postgresql_url_says_the_adapter_is_not_there_yet(tmp_path: Path) -> None:
    for call in (
        lambda: open_storage(settings(data_dir=tmp_path, database_url=URL)),
        lambda: open_storage(data_dir=tmp_path, database_url=URL),
    ):
        with pytest.raises(ConfigurationError) as info:
            call()
        message = str(info.value)
        assert "no PostgreSQL storage adapter" in message
        assert "postgresql://cc:***@db.gov.example:5432/credit" in message
        assert SECRET not in message
        assert info.value.setting == "database_url"
    fake = FakePlatform()
    with pytest.raises(ConfigurationError, match="no PostgreSQL storage adapter"):
        fake.checker(tmp_path / "checker", database_url=URL)


def test_every_command_takes_database_url_and_never_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["journal", "stats"],
        ["journal", "verify"],
        ["report", "2026-10", "--agency-id", "AG-1"],
        ["snapshot", "status"],
    ):
        status = main([*argv, "--data-dir", str(tmp_path), "--database-url", URL])
        err = capsys.readouterr().err
        assert status == 2, argv
        assert "no PostgreSQL storage adapter" in " ".join(err.split())
        assert SECRET not in err


def test_a_checker_on_a_storage_it_was_given_leaves_it_open(tmp_path: Path) -> None:
    fake = FakePlatform()
    with open_storage(data_dir=tmp_path / "shared") as storage:
        with fake.checker(tmp_path / "a", storage=storage) as checker:
            decision = checker.must_check("91442000MA4UJ2KQ57", "bidding")
            assert checker.storage is storage
            assert checker.health()["storage"]["kind"] == "sqlite"
        assert storage.journal.get(decision.check_id) is not None  # still open
    assert not (tmp_path / "a" / "journal.sqlite3").exists()
