"""Which storage a deployment gets (``database_url``), and that its URL is never shown whole."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from credit_check_sdk import ConfigurationError, Settings
from credit_check_sdk.cli import main
from credit_check_sdk.storage import mask_database_url, open_storage
from credit_check_sdk.storage.postgres._schema import SCHEMA_VERSION
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


def test_a_postgresql_url_opens_the_shared_database(tmp_path: Path, pg_url: str) -> None:
    with open_storage(settings(data_dir=tmp_path / "d", database_url=pg_url)) as storage:
        assert (storage.kind, storage.location) == ("postgresql", pg_url)
        assert storage.journal.counts()["pending"] == 0
        described = storage.describe()
        assert (described["schema"], described["reachable"]) == (SCHEMA_VERSION, True)
        assert described["spool"]["records"] == 0
    assert not (tmp_path / "d" / "journal.sqlite3").exists()
    fake = FakePlatform()
    with fake.checker(tmp_path / "checker", database_url=pg_url) as checker:
        decision = checker.must_check("91442000MA4UJ2KQ57", "bidding")
        assert checker.health()["storage"]["kind"] == "postgresql"
    with psycopg.connect(pg_url) as raw:
        rows = raw.execute(
            "SELECT writer_id, wseq FROM cc_journal_records WHERE id = %s", (decision.check_id,)
        ).fetchall()
    assert [wseq for _, wseq in rows] == [1]
    assert not (tmp_path / "checker" / "journal.sqlite3").exists()


def test_every_command_reads_the_database_url_from_its_flag_or_the_environment(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_storage(data_dir=tmp_path / "writer", database_url=pg_url) as storage:
        storage.journal.append(
            {"type": "check", "id": "c1", "checked_at": "2026-10-09T08:00:00+08:00"}
        )
    empty = tmp_path / "admin"
    argvs = (
        ["journal", "stats"],
        ["journal", "verify"],
        ["report", "2026-10", "--agency-id", "AG-1"],
        ["snapshot", "status"],
    )
    for argv in argvs:
        status = main([*argv, "--data-dir", str(empty), "--database-url", pg_url])
        # snapshot status answers 1 while there is no snapshot yet (nothing synced).
        assert status == (1 if argv[0] == "snapshot" else 0), argv
        capsys.readouterr()
    monkeypatch.setenv("CREDIT_CHECK_DATABASE_URL", pg_url)
    assert main(["journal", "stats", "--data-dir", str(empty)]) == 0
    assert re.search(r"pending\W+1\b", capsys.readouterr().out)
    assert not (empty / "journal.sqlite3").exists()


def test_a_database_that_does_not_answer_is_named_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    down = f"postgresql://cc:{SECRET}@127.0.0.1:9/credit?connect_timeout=1"
    status = main(["journal", "stats", "--data-dir", str(tmp_path), "--database-url", down])
    err = capsys.readouterr().err
    assert status != 0
    assert "postgresql://cc:***@127.0.0.1:9/credit" in err
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


def test_a_database_that_does_not_answer_raises_the_public_error(tmp_path: Path) -> None:
    # What an operator's script catches: credit_check_sdk.DatabaseUnavailableError, a
    # JournalError, naming the database without its password.
    from credit_check_sdk import DatabaseUnavailableError, JournalError

    down = f"postgresql://cc:{SECRET}@127.0.0.1:9/credit?connect_timeout=1"
    with (
        open_storage(data_dir=tmp_path, database_url=down) as storage,
        pytest.raises(DatabaseUnavailableError) as caught,
        storage.report.view() as view,
    ):
        view.head()
    assert isinstance(caught.value, JournalError)
    assert caught.value.path == "postgresql://cc:***@127.0.0.1:9/credit?connect_timeout=1"
    assert SECRET not in str(caught.value)
