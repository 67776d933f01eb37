"""``credit-check snapshot status|download|import``, ``sync`` and ``health``, as real processes."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli import run

from credit_check_sdk.testing import FakePlatform

BLACK = "91442000MA4UJ2KQ57"
RED = "91442000MA00000034"


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.add_entry(BLACK, "black", "court_judgment_defaulter")
        platform.add_entry(RED, "red", "integrity_model")
        platform.serve()
        yield platform


def env_for(fake: FakePlatform, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_CHECK_")}
    env.update(
        COLUMNS="200",
        CREDIT_CHECK_BASE_URL=fake.base_url,
        CREDIT_CHECK_APP_ID=fake.app_id,
        CREDIT_CHECK_APP_SECRET=fake.app_secret,
        CREDIT_CHECK_AGENCY_ID="zs-fgj",
        CREDIT_CHECK_DATA_DIR=str(data_dir),
        CREDIT_CHECK_ALLOW_INSECURE_HTTP="1",
    )
    return env


def test_sync_fills_the_snapshot_and_status_shows_it(fake: FakePlatform, tmp_path: Path) -> None:
    env = env_for(fake, tmp_path / "data")
    before = run("snapshot", "status", env=env)
    assert before.returncode == 1  # nothing to decide from offline yet
    assert "no snapshot yet" in before.stdout

    synced = run("sync", env=env)
    assert synced.returncode == 0, synced.stderr
    assert "rebuilt: 2 changes" in synced.stdout

    status = run("snapshot", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "entries" in status.stdout
    assert " 2 " in status.stdout

    again = run("sync", env=env)
    assert again.returncode == 0, again.stderr
    assert "followed: 0 changes" in again.stdout

    health = run("health", "--json", env=env)
    assert health.returncode == 0, health.stderr
    report = json.loads(health.stdout)
    assert report["snapshot"]["entries"] == 2
    assert report["snapshot"]["usable"] is True
    assert report["breaker"]["state"] == "closed"


def test_download_then_import_on_another_machine(fake: FakePlatform, tmp_path: Path) -> None:
    target = tmp_path / "usb" / "lists-export.ndjson.gz"
    target.parent.mkdir()
    env = env_for(fake, tmp_path / "online")
    done = run("snapshot", "download", str(target), env=env)
    assert done.returncode == 0, done.stderr
    assert "snapshot import lists-export.ndjson.gz" in done.stdout
    assert sorted(p.name for p in target.parent.iterdir()) == ["lists-export.ndjson.gz"]
    lines = gzip.decompress(target.read_bytes()).decode().splitlines()
    assert json.loads(lines[0])["count"] == 2
    assert {json.loads(line)["subject_id"] for line in lines[1:]} == {BLACK, RED}

    # The air-gapped machine needs no credentials to import.
    offline_env = {k: v for k, v in env.items() if not k.startswith("CREDIT_CHECK_")}
    offline_env["CREDIT_CHECK_DATA_DIR"] = str(tmp_path / "airgapped")
    imported = run("snapshot", "import", str(target), env=offline_env)
    assert imported.returncode == 0, imported.stderr
    assert "imported 2 entries" in imported.stdout
    status = run("snapshot", "status", env=offline_env)
    assert status.returncode == 0, status.stderr


def test_a_failed_download_leaves_no_file(fake: FakePlatform, tmp_path: Path) -> None:
    target = tmp_path / "lists-export.ndjson.gz"
    fake.outage()
    done = run(
        "snapshot",
        "download",
        str(target),
        "--timeout",
        "3",
        env=env_for(fake, tmp_path / "d"),
    )
    assert done.returncode == 2
    assert "503" in done.stderr
    assert list(tmp_path.glob("lists-export*")) == []


def test_a_damaged_export_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson.gz"
    bad.write_bytes(
        gzip.compress(b'{"cursor": "s1", "as_of": "2026-11-29T08:00:00+08:00", "count": 2}\n{}\n')
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_CHECK_")}
    env["CREDIT_CHECK_DATA_DIR"] = str(tmp_path / "data")
    done = run("snapshot", "import", str(bad), env=env)
    assert done.returncode == 2
    assert "line 2 is not a valid list entry" in done.stderr
