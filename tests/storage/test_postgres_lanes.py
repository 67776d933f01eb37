"""The PostgreSQL journal's lanes and budget: batches of one process commit side by side,
each lane a chain of its own that ``verify`` walks, and an append waits no longer than
what remains of its check's time.

Against the test run's real cluster (``pg_url``). A lane is made busy the way a
real one is: another session holds its writer's row lock, so its commit waits on
the server.
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from credit_check_sdk import ConfigurationError, Settings
from credit_check_sdk.storage.postgres import PostgresStorage
from credit_check_sdk.storage.postgres import journal as journal_module
from credit_check_sdk.storage.spool import Spool
from credit_check_sdk.testing import FakePlatform
from tests.storage.test_postgres_journal import check, sql


@contextmanager
def row_locked(url: str, writer: str) -> Iterator[psycopg.Connection[Any]]:
    """Hold ``writer``'s row lock from another session for the ``with`` block."""
    with psycopg.connect(url) as locker:
        locker.execute(
            "SELECT 1 FROM cc_journal_writers WHERE writer_id = %s FOR UPDATE", (writer,)
        )
        try:
            yield locker
        finally:
            locker.rollback()


def wait_for_lock_waiter(url: str) -> None:
    """Until a session of this database waits for a lock (a commit stuck on the row)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = sql(
            url,
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()",
        )
        if rows[0][0]:
            return
        time.sleep(0.02)
    raise AssertionError("no commit waited for the writer's row")


def writer_of(url: str, rid: str) -> str:
    ((writer,),) = sql(url, "SELECT writer_id FROM cc_journal_records WHERE id = %s", (rid,))
    return str(writer)


@pytest.fixture
def storage(tmp_path: Path, pg_url: str) -> Iterator[PostgresStorage]:
    s = PostgresStorage(pg_url, tmp_path / "a", budget=20.0)
    try:
        yield s
    finally:
        s.close()


def test_a_busy_lane_leaves_the_next_batches_to_another_lane(
    storage: PostgresStorage, pg_url: str
) -> None:
    journal = storage.journal
    journal.append(check("warm"))
    journal.append(check("warm2"))
    writer = journal.writer
    assert writer is not None
    # One thread appending alone writes the writer's own chain.
    assert {writer_of(pg_url, "warm"), writer_of(pg_url, "warm2")} == {writer}
    held: list[dict[str, Any]] = []
    with row_locked(pg_url, writer):
        stuck = threading.Thread(target=lambda: held.append(journal.append(check("held"))))
        stuck.start()
        wait_for_lock_waiter(pg_url)
        # Lane 0 waits on the server; the next appends commit meanwhile in lane 1.
        beside = [journal.append(check(f"beside{n}", n)) for n in range(3)]
        assert not held
        assert all(r["hash"] is not None for r in beside)
    stuck.join(30)
    assert held
    assert held[0]["hash"] is not None  # committed once the row was free
    assert not Spool.holds_records(journal.data_dir)
    lane = f"{writer}+1"
    chains = {
        w: ids
        for w, ids in sql(
            pg_url,
            "SELECT writer_id, array_agg(id ORDER BY wseq) FROM cc_journal_records"
            " GROUP BY writer_id",
        )
    }
    assert chains == {writer: ["warm", "warm2", "held"], lane: ["beside0", "beside1", "beside2"]}
    # Each lane is a chain of its own: its first record chains to nothing.
    assert beside[0]["prev_hash"] is None
    assert beside[1]["prev_hash"] == beside[0]["hash"]
    assert {w["writer_id"] for w in journal.writers()} == {writer, lane}
    result = journal.verify()
    assert (result.ok, result.checked) == (True, 6)


def test_verify_names_the_lane_of_a_deleted_or_altered_record(
    storage: PostgresStorage, pg_url: str
) -> None:
    journal = storage.journal
    journal.append(check("warm"))
    writer = journal.writer
    assert writer is not None
    with row_locked(pg_url, writer):
        stuck = threading.Thread(target=lambda: journal.append(check("held")))
        stuck.start()
        wait_for_lock_waiter(pg_url)
        for n in range(4):
            journal.append(check(f"l{n}", n))
    stuck.join(30)
    lane = f"{writer}+1"
    assert writer_of(pg_url, "l1") == lane
    sql(pg_url, "DELETE FROM cc_journal_records WHERE id = 'l1'")
    ((body,),) = sql(pg_url, "SELECT body FROM cc_journal_records WHERE id = 'held'")
    altered = json.loads(body)
    altered["outcome"] = "restriction"
    sql(pg_url, "UPDATE cc_journal_records SET body = %s WHERE id = 'held'", (json.dumps(altered),))
    problems = {(p.chain, p.kind, p.id) for p in journal.verify().problems}
    assert (writer, "hash_mismatch", "held") in problems
    assert any(chain == lane and rid in ("l1", "l2") for chain, _, rid in problems)
    # Removing a lane's tail shows as a head past the lane's last record.
    sql(pg_url, "DELETE FROM cc_journal_records WHERE id = 'l3'")
    problems = {(p.chain, p.kind) for p in journal.verify().problems}
    assert (lane, "head_mismatch") in problems


def test_a_lane_removed_whole_below_a_higher_one_shows(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three lanes (more than a process commits to by default).
    monkeypatch.setattr(journal_module, "DEFAULT_LANES", 3)
    storage = PostgresStorage(pg_url, tmp_path / "a", budget=20.0)
    try:
        _lane_removed_whole_below_a_higher_one(storage, pg_url)
    finally:
        storage.close()


def _lane_removed_whole_below_a_higher_one(storage: PostgresStorage, pg_url: str) -> None:
    journal = storage.journal
    journal.append(check("warm"))
    writer = journal.writer
    assert writer is not None
    # Lane 2 writes while lanes 0 and 1 wait on their rows.
    lane1 = f"{writer}+1"
    stuck = []
    with row_locked(pg_url, writer):
        stuck.append(threading.Thread(target=lambda: journal.append(check("held0"))))
        stuck[-1].start()
        wait_for_lock_waiter(pg_url)
        journal.append(check("one"))  # lane 1 registered with its record
        with row_locked(pg_url, lane1):
            stuck.append(threading.Thread(target=lambda: journal.append(check("held1"))))
            stuck[-1].start()
            deadline = time.monotonic() + 30
            while (
                time.monotonic() < deadline
                and sql(
                    pg_url,
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()",
                )[0][0]
                < 2
            ):
                time.sleep(0.02)
            journal.append(check("two"))
    for thread in stuck:
        thread.join(30)
    assert writer_of(pg_url, "two") == f"{writer}+2"
    assert journal.verify().ok
    # Lane 1 removed, head row and records: lane 2's row says it was there.
    sql(pg_url, "DELETE FROM cc_journal_records WHERE writer_id = %s", (lane1,))
    sql(pg_url, "DELETE FROM cc_journal_writers WHERE writer_id = %s", (lane1,))
    problems = {(p.chain, p.kind) for p in journal.verify().problems}
    assert problems == {(lane1, "missing_chain")}


def test_an_append_waits_only_what_remains_of_its_deadline_then_spools(
    storage: PostgresStorage, pg_url: str
) -> None:
    journal = storage.journal  # its budget: 20 s
    journal.append(check("warm"))
    writer = journal.writer
    assert writer is not None
    with row_locked(pg_url, writer):
        started = time.monotonic()
        record = journal.append(check("late"), deadline=started + 0.5)
        took = time.monotonic() - started
        assert record["hash"] is None  # spooled, unchained
        # Far from the journal's 20 s budget: the deadline's 0.5 s and slack for a loaded
        # machine.
        assert took < 0.5 + 2.0
        # A deadline already past: the spool at once, the database not waited for.
        started = time.monotonic()
        assert journal.append(check("later"), deadline=started - 1.0)["hash"] is None
        assert time.monotonic() - started < 2.0
    # The commit left behind goes through once the row is free; the spool's copy of
    # the same record is recognised when it drains; every record is stored once.
    deadline = time.monotonic() + 30
    while Spool.holds_records(journal.data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Spool.holds_records(journal.data_dir)
    ids = [r[0] for r in sql(pg_url, "SELECT id FROM cc_journal_records ORDER BY gseq")]
    assert sorted(ids) == ["late", "later", "warm"]
    assert journal.verify().ok


def test_must_check_journals_within_the_time_its_check_has_left(
    tmp_path: Path, pg_url: str
) -> None:
    fake = FakePlatform()
    subject = "91442000MA4UJ2KQ57"
    checker = fake.checker(tmp_path / "a", database_url=pg_url, timeout=4.0)
    try:
        checker.must_check(subject, "bidding")  # the chain's head is known from here
        writer = checker.journal.writer  # type: ignore[attr-defined]  # the PostgreSQL journal's
        fake.delay(3.0, path="/profile")  # most of the check's 4 s goes to the platform
        with row_locked(pg_url, writer):
            started = time.monotonic()
            decision = checker.must_check(subject, "bidding", fresh=True)
            took = time.monotonic() - started
        # The record waited for the database only the ~1 s its check had left (the
        # whole timeout again would be 7 s in all), then went to the spool. The margin
        # is wide so that a busy machine's spool write does not fail the test.
        assert took < 4.0 + 1.5
        assert checker.journal.get(decision.check_id)["hash"] is None
    finally:
        checker.close(timeout=5)
    with PostgresStorage(pg_url, tmp_path / "a") as storage:
        deadline = time.monotonic() + 30
        while Spool.holds_records(tmp_path / "a") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert storage.journal.get(decision.check_id)["hash"] is not None
        assert storage.journal.verify().ok


def test_a_forked_child_appends_on_lanes_of_its_own_and_leaves_the_parents_alone(
    storage: PostgresStorage, pg_url: str
) -> None:
    journal = storage.journal
    journal.append(check("parent0"))  # the parent's lane 0 connection is open now
    pid = os.fork()
    if pid == 0:  # the child: its own connections; the parent's sockets untouched
        code = 1
        try:
            threads = [
                threading.Thread(
                    target=lambda t=t: [journal.append(check(f"child{t}-{n}", n)) for n in range(5)]
                )
                for t in range(4)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            stored = sql(
                pg_url, "SELECT count(*) FROM cc_journal_records WHERE id LIKE %s", ("child%",)
            )
            code = 0 if stored[0][0] == 20 and not Spool.holds_records(journal.data_dir) else 2
        except BaseException:
            traceback.print_exc()
            raise
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's own connection still works: its next record commits, not spooled.
    assert journal.append(check("parent1"))["hash"] is not None
    assert not Spool.holds_records(journal.data_dir)
    result = journal.verify()
    assert (result.ok, result.checked) == (True, 22)


def test_the_pool_size_setting_bounds_a_checkers_connections(tmp_path: Path, pg_url: str) -> None:
    fake = FakePlatform()
    env = {"CREDIT_CHECK_DATABASE_POOL_SIZE": "4"}
    settings = Settings.build(
        env, base_url="http://127.0.0.1:1", app_id="a", app_secret="s", agency_id="zs-fgj"
    )
    assert settings.database_pool_size == 4
    checker = fake.checker(tmp_path / "a", database_url=pg_url, database_pool_size=4)
    try:
        checker.must_check("91442000MA4UJ2KQ57", "bidding")
        storage = checker.storage
        assert isinstance(storage, PostgresStorage)
        assert storage.db.pool_size == 4
        assert len(storage.journal._lanes) == 2  # type: ignore[attr-defined]  # half the pool
    finally:
        checker.close(timeout=5)
    with pytest.raises(ConfigurationError, match="database_pool_size"):
        fake.checker(tmp_path / "b", database_url=pg_url, database_pool_size=1)
