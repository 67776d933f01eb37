"""A cluster of application servers on one PostgreSQL database, as real processes.

Each instance is a subprocess (``tests/support/clusterworker.py``) with its own
``data_dir``, checking against a FakePlatform served over HTTP and journaling to
the test run's cluster (``pg_url``). What is proved: concurrent instances keep
their own chains and one report and one verify from a fourth process with an
empty ``data_dir`` see them all; an instance SIGKILLed mid-run loses nothing it
returned; checks go on while PostgreSQL is stopped and their spool drains after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from credit_check_sdk._time import today
from credit_check_sdk.testing import FakePlatform
from tests.support.clirun import credit_check, platform_env
from tests.support.pgcluster import PgCluster

WORKER = Path(__file__).parent / "support" / "clusterworker.py"


@pytest.fixture
def fake() -> FakePlatform:
    platform = FakePlatform()
    platform.serve()
    return platform


def start(
    fake: FakePlatform, data_dir: Path, url: str, count: int, threads: int
) -> subprocess.Popen[str]:
    env = platform_env(fake, data_dir, CREDIT_CHECK_DATABASE_URL=url, CREDIT_CHECK_TIMEOUT="1.0")
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(count), str(threads)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def ids_in_db(url: str) -> dict[str, str]:
    with psycopg.connect(url) as raw:
        return dict(raw.execute("SELECT id, writer_id FROM cc_journal_records").fetchall())


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]  # a callable
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_three_instances_then_one_report_and_one_verify_from_an_empty_data_dir(
    fake: FakePlatform, pg_url: str, tmp_path: Path
) -> None:
    workers = [start(fake, tmp_path / f"app{n}", pg_url, 30, 3) for n in range(3)]
    returned: list[str] = []
    for w in workers:
        out, err = w.communicate(timeout=180)
        assert w.returncode == 0, err
        returned += [json.loads(line) for line in out.splitlines()]
    assert len(returned) == len(set(returned)) == 90
    stored = ids_in_db(pg_url)
    assert set(stored) == set(returned)
    # One writer per instance (its lanes, "<writer>+k", are chains of that writer).
    assert len({w.partition("+")[0] for w in stored.values()}) == 3
    # Uploaded; at least once (a claim whose lease ran out on a loaded machine may send
    # a record twice, which the platform answers duplicate).
    assert set(returned) <= set(fake.records)

    env = platform_env(fake, tmp_path / "admin", CREDIT_CHECK_DATABASE_URL=pg_url)
    verify = credit_check("journal", "verify", "--json", env=env)
    assert verify.returncode == 0, verify.stderr
    assert json.loads(verify.stdout)["checked"] == 90
    report = credit_check(
        "report", f"{today():%Y-%m}", "--agency-id", fake.agency_id, "--json", env=env
    )
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    assert sum(doc["totals"].values()) == 90
    assert not (tmp_path / "admin" / "journal.sqlite3").exists()

    # --submit from the admin machine, then from an instance: sent once (the receipts
    # are in the database), whoever submits it.
    period = f"{today():%Y-%m}"
    first = credit_check("report", period, "--submit", env=env)
    assert first.returncode == 0, first.stderr
    app_env = platform_env(fake, tmp_path / "app1", CREDIT_CHECK_DATABASE_URL=pg_url)
    second = credit_check("report", period, "--submit", env=app_env)
    assert second.returncode == 0, second.stderr
    assert "not sent" in second.stdout + second.stderr
    assert len(fake.reports[(fake.agency_id, period)]) == 1


def test_an_instance_killed_mid_run_loses_nothing_it_returned(
    fake: FakePlatform, pg_url: str, tmp_path: Path
) -> None:
    worker = start(fake, tmp_path / "app", pg_url, 0, 4)
    assert worker.stdout is not None
    returned = [json.loads(worker.stdout.readline()) for _ in range(40)]
    os.kill(worker.pid, signal.SIGKILL)
    rest, _ = worker.communicate(timeout=30)
    returned += [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert set(returned) <= set(ids_in_db(pg_url))
    # Another start of the same instance uploads what the killed one had not.
    again = start(fake, tmp_path / "app", pg_url, 1, 1)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert set(returned) <= set(fake.records)


def test_checks_go_on_while_the_database_is_stopped_and_the_spool_drains_after(
    fake: FakePlatform, pg_url: str, pg_cluster: PgCluster, tmp_path: Path
) -> None:
    worker = start(fake, tmp_path / "app", pg_url, 0, 2)
    assert worker.stdout is not None
    returned = [json.loads(worker.stdout.readline()) for _ in range(10)]
    pg_cluster.pause()
    try:
        started = time.monotonic()
        during = [json.loads(worker.stdout.readline()) for _ in range(10)]
        # Ten checks while the database is down: each within its timeout (1 s), most at once.
        assert time.monotonic() - started < 10
        assert (tmp_path / "app" / "spool.pending").exists()
    finally:
        pg_cluster.resume()
    after = [json.loads(worker.stdout.readline()) for _ in range(10)]
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=30)
    everything = set(returned + during + after)
    if (tmp_path / "app" / "spool.pending").exists():
        # The worker ended before its spool drained: the next start drains it.
        again = start(fake, tmp_path / "app", pg_url, 1, 1)
        _, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
    wait_for(lambda: everything <= set(ids_in_db(pg_url)))
    env = platform_env(fake, tmp_path / "admin", CREDIT_CHECK_DATABASE_URL=pg_url)
    verify = credit_check("journal", "verify", "--json", env=env)
    assert json.loads(verify.stdout)["ok"] is True


def test_the_snapshot_leader_killed_another_takes_over(pg_url: str, tmp_path: Path) -> None:
    worker = Path(__file__).parent / "storage" / "worker.py"
    go = tmp_path / "GO"
    go.touch()
    spec = json.dumps({"data_dir": str(tmp_path / "leader"), "database_url": pg_url})
    leader = subprocess.Popen(
        [sys.executable, str(worker), spec, "lead", str(go)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    from credit_check_sdk.storage import open_storage

    try:
        assert leader.stdout is not None
        assert json.loads(leader.stdout.readline()) is True
        with open_storage(data_dir=tmp_path / "other", database_url=pg_url) as other:
            assert other.snapshot.lead(wait=0.2) is None
            os.kill(leader.pid, signal.SIGKILL)
            leader.wait(30)
            lease = other.snapshot.lead(wait=10)  # the dead session's lock is gone
            assert lease is not None
            assert lease.alive()
            lease.release()
    finally:
        if leader.poll() is None:
            leader.kill()
        leader.communicate(timeout=30)


def test_one_sync_fills_the_snapshot_every_instance_reads(
    fake: FakePlatform, pg_url: str, tmp_path: Path
) -> None:
    from credit_check_sdk.storage import open_storage

    fake.add_entry("91442000MA4UJ2KQ57", "black", "court_judgment_defaulter")
    env = platform_env(fake, tmp_path / "app0", CREDIT_CHECK_DATABASE_URL=pg_url)
    done = credit_check("sync", "--json", env=env)
    assert done.returncode == 0, done.stderr
    with open_storage(data_dir=tmp_path / "app1", database_url=pg_url) as other:
        assert other.snapshot.status().entries >= 1
        assert other.snapshot.entries_for("91442000MA4UJ2KQ57")
        assert other.snapshot.profile_for("91442000MA4UJ2KQ57", "legal_entity") is not None
    admin = platform_env(fake, tmp_path / "admin", CREDIT_CHECK_DATABASE_URL=pg_url)
    status = credit_check("snapshot", "status", "--json", env=admin)
    assert json.loads(status.stdout)["entries"] >= 1
