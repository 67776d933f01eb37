"""data_dir is 0700 and every SQLite file in it 0600 (with its -wal and -shm), under the usual
umask; ``health()`` and ``credit-check health`` warn when they are wider."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from credit_check_flow_licensing import Application, LicensingFlow

from credit_check_sdk.cli import main
from credit_check_sdk.journal import Journal
from credit_check_sdk.testing import FakePlatform

ORG = "91442000MA4UJ2KQ57"
PERSON = "442000199001011233"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    platform = FakePlatform(agency_id="AG-MODES")
    platform.add_entry(ORG, "black", "court_judgment_defaulter")
    platform.add_entry(PERSON, "black", "court_judgment_defaulter")
    platform.serve()
    yield platform
    platform.stop()


def _sqlite_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if ".sqlite3" in p.name)


def test_every_store_is_private_while_open(
    usual_umask: None, fake: FakePlatform, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var" / "credit-check"  # created by the SDK, parents too
    with fake.checker(data_dir) as checker:
        checker.must_check(ORG, "bidding")
        checker.must_check(PERSON, "bidding")
        checker.watch(ORG, "bidding", "ZB-1")  # followups.sqlite3
        checker.sync_snapshot()  # snapshot.<gen>.sqlite3
        LicensingFlow(checker).accept(Application(ORG, "XK-1", "C-1"))
        files = _sqlite_files(data_dir)
        names = {p.name for p in files}
        for expected in (
            "journal.sqlite3",
            "journal.sqlite3-wal",
            "journal.sqlite3-shm",
            "followups.sqlite3",
            "followups.sqlite3-wal",
            "relations.sqlite3",
            "licensing-commitments.sqlite3",
        ):
            assert expected in names, names
        assert any(n.startswith("snapshot.") and n.endswith(".sqlite3") for n in names), names
        assert any(n.startswith("snapshot.") and n.endswith("-wal") for n in names), names
        assert mode(data_dir) == 0o700
        for path in files:
            assert mode(path) == 0o600, (path.name, oct(mode(path)))
        assert checker.health()["file_modes"] == {"private": True, "wider": []}
    for path in _sqlite_files(data_dir):
        assert mode(path) == 0o600, (path.name, oct(mode(path)))


def test_a_journal_alone_is_private(usual_umask: None, tmp_path: Path) -> None:
    path = tmp_path / "new" / "journal.sqlite3"
    Journal(path).close()
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600


def test_an_existing_file_keeps_its_mode_and_health_warns(
    usual_umask: None,
    fake: FakePlatform,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = tmp_path / "cc"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)  # noqa: S103 - the too-wide mode whose warning is tested
    journal = data_dir / "journal.sqlite3"
    journal.touch(mode=0o644)
    os.chmod(journal, 0o644)  # as an older SDK or a copy left it
    with fake.checker(data_dir, offline=False) as checker:
        checker.must_check(ORG, "bidding")
        with caplog.at_level(logging.WARNING, logger="credit_check_sdk._checker"):
            report = checker.health()
    assert mode(journal) == 0o644  # not changed behind the administrator's back
    wider = {w["path"]: w for w in report["file_modes"]["wider"]}
    assert report["file_modes"]["private"] is False
    assert wider[str(data_dir)]["mode"] == "0755"
    assert wider[str(journal)]["fix"] == f"chmod 600 {journal}"
    assert str(journal) + "-wal" in wider  # SQLite gave the WAL the journal's mode
    assert "hold personal ids" in caplog.text
    settings = [
        "--base-url", fake.base_url, "--app-id", fake.app_id, "--app-secret", fake.app_secret,
        "--agency-id", fake.agency_id, "--data-dir", str(data_dir),
    ]  # fmt: skip
    capsys.readouterr()
    assert main(["health", *settings]) == 0
    printed = capsys.readouterr().out
    assert f"chmod 600 {journal}" in printed
    assert "warning:" in printed
