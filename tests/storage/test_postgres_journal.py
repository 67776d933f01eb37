"""The journal in a shared PostgreSQL database: a chain per writer, group commit, the spool.

Against the test run's real cluster (``pg_url``); the outage tests stop and start it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from credit_check_sdk import JournalError
from credit_check_sdk.storage import canonical_hash, open_storage
from credit_check_sdk.storage._journal_core import prepare_record
from credit_check_sdk.storage.postgres import PostgresStorage
from credit_check_sdk.storage.spool import Spool
from tests.support.pgcluster import PgCluster


def check(rid: str, minute: int = 0) -> dict[str, Any]:
    return {
        "type": "check",
        "id": rid,
        "checked_at": f"2026-11-29T08:{minute % 60:02d}:00+08:00",
        "outcome": "normal",
        "source": "live",
        "subject": {"id": "91442000MA4UJ2KQ57", "kind": "legal_entity"},
        "matter": {"category": "bidding", "case_id": f"K-{rid}"},
    }


def sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as raw:
        cur = raw.execute(statement, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def two(tmp_path: Path, pg_url: str) -> Iterator[tuple[PostgresStorage, PostgresStorage]]:
    a = open_storage(data_dir=tmp_path / "a", database_url=pg_url)
    b = open_storage(data_dir=tmp_path / "b", database_url=pg_url)
    assert isinstance(a, PostgresStorage)
    assert isinstance(b, PostgresStorage)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_each_data_dir_writes_its_own_chain(
    two: tuple[PostgresStorage, PostgresStorage], pg_url: str
) -> None:
    a, b = two
    for n in range(3):
        ra = a.journal.append(check(f"a{n}", n))
        rb = b.journal.append(check(f"b{n}", n))
        assert ra["hash"] == canonical_hash(ra)
        assert rb["hash"] == canonical_hash(rb)
    assert a.journal.writer != b.journal.writer
    chains = sql(
        pg_url,
        "SELECT writer_id, array_agg(id ORDER BY wseq), array_agg(wseq ORDER BY wseq)"
        " FROM cc_journal_records GROUP BY writer_id ORDER BY 1",
    )
    by_writer = {w: (ids, seqs) for w, ids, seqs in chains}
    assert by_writer[a.journal.writer] == (["a0", "a1", "a2"], [1, 2, 3])
    assert by_writer[b.journal.writer] == (["b0", "b1", "b2"], [1, 2, 3])
    # Each record chains to the one before it in its own writer's chain.
    assert a.journal.get("a1")["prev_hash"] == a.journal.get("a0")["hash"]
    assert b.journal.get("b0")["prev_hash"] is None
    assert a.journal.head_hash() == a.journal.get("a2")["hash"]
    result = a.journal.verify()
    assert (result.ok, result.checked) == (True, 6)


def test_verify_names_the_writer_of_a_deleted_altered_or_reordered_record(
    two: tuple[PostgresStorage, PostgresStorage], pg_url: str
) -> None:
    a, b = two
    for n in range(4):
        a.journal.append(check(f"a{n}", n))
        b.journal.append(check(f"b{n}", n))
    wa, wb = a.journal.writer, b.journal.writer
    sql(pg_url, "DELETE FROM cc_journal_records WHERE id = 'a3'")  # a's tail
    ((body,),) = sql(pg_url, "SELECT body FROM cc_journal_records WHERE id = 'b1'")
    altered = json.loads(body)
    altered["outcome"] = "restriction"
    sql(pg_url, "UPDATE cc_journal_records SET body = %s WHERE id = 'b1'", (json.dumps(altered),))
    problems = {(p.chain, p.kind, p.id) for p in a.journal.verify().problems}
    assert (wa, "head_mismatch", "") in problems
    assert (wb, "hash_mismatch", "b1") in problems
    assert all(chain in (wa, wb) for chain, _, _ in problems)


def test_appends_from_many_threads_are_committed_together(tmp_path: Path, pg_url: str) -> None:
    with open_storage(data_dir=tmp_path / "a", database_url=pg_url) as storage:
        journal = storage.journal
        journal.append(check("warm"))
        batches: list[int] = []
        lock = threading.Lock()

        def counting(write: Any) -> Any:
            def counted(batch: list[Any], **kw: Any) -> set[str]:
                with lock:
                    batches.append(len(batch))
                result: set[str] = write(batch, **kw)
                return result

            return counted

        for lane in journal._lanes:  # counts the real writes of every lane
            lane.write = counting(lane.write)  # type: ignore[method-assign]
        threads = [
            threading.Thread(
                target=lambda t=t: [journal.append(check(f"t{t}-{i}", i)) for i in range(20)]
            )
            for t in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sum(batches) == 160
        assert len(batches) < 160  # some transactions held several threads' records
        assert journal.verify().ok
        assert journal.counts()["pending"] == 161


def test_an_answer_lost_after_the_commit_is_not_stored_twice(tmp_path: Path, pg_url: str) -> None:
    with open_storage(data_dir=tmp_path / "a", database_url=pg_url) as storage:
        journal = storage.journal
        stored = journal.append(check("c1"))
        # The same record, as the spool keeps it, drained: recognised, not stored again.
        again = prepare_record({k: v for k, v in stored.items() if k != "hash"}, None)
        assert journal._writer.write([again], budget=5.0, drain=True) == {"c1"}
        assert again.error is None
        other = prepare_record(check("c1", 5), None)  # another record under the same id
        journal._writer.write([other], budget=5.0, drain=True)
        assert other.error is not None
        assert journal.counts()["pending"] == 1
        assert journal.verify().ok


def test_a_database_down_spools_within_the_budget_and_drains_in_order(
    tmp_path: Path, pg_url: str, pg_cluster: PgCluster
) -> None:
    storage = open_storage(data_dir=tmp_path / "a", database_url=pg_url)
    assert isinstance(storage, PostgresStorage)
    journal = storage.journal
    journal.budget = 1.0
    try:
        journal.append(check("before"))
        pg_cluster.pause()
        try:
            took = []
            for n in range(5):
                started = time.monotonic()
                record = journal.append(check(f"down{n}", n))
                took.append(time.monotonic() - started)
                assert record["hash"] is None  # spooled unchained
            # Each within its budget (1 s) and some slack for a loaded machine: never
            # for as long as the database stays down.
            assert max(took) < 1.0 + 2.0
            assert Spool.holds_records(tmp_path / "a")
            assert journal.get("down3")["id"] == "down3"
            status = storage.describe()
            assert status["spool"]["records"] == 5
            assert status["spool"]["last_error"]
            assert status["reachable"] is False
        finally:
            pg_cluster.resume()
        deadline = time.monotonic() + 30
        while Spool.holds_records(tmp_path / "a") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Spool.holds_records(tmp_path / "a")
        journal.append(check("after"))
    finally:
        storage.close()
    rows = sql(pg_url, "SELECT id, wseq FROM cc_journal_records ORDER BY wseq")
    assert [r[0] for r in rows] == ["before", *(f"down{n}" for n in range(5)), "after"]
    with open_storage(data_dir=tmp_path / "admin", database_url=pg_url) as admin:
        assert admin.journal.verify().ok
        assert admin.journal.get("down0")["prev_hash"] == admin.journal.get("before")["hash"]


def test_a_spool_left_by_an_earlier_run_is_drained_at_start_up(tmp_path: Path, pg_url: str) -> None:
    spool = Spool(tmp_path / "a")
    spool.put([prepare_record(check(f"s{n}", n), {"n": n}) for n in range(3)], reason="test")
    spool.close()
    with open_storage(data_dir=tmp_path / "a", database_url=pg_url) as storage:
        journal = storage.journal
        deadline = time.monotonic() + 30
        while Spool.holds_records(tmp_path / "a") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [r["id"] for r in journal.iter_records()] == ["s0", "s1", "s2"]
        assert journal.inputs_for("s2") == {"n": 2}
        assert journal.verify().ok


def test_the_schema_is_made_from_empty_once_and_a_newer_one_is_refused(
    tmp_path: Path, pg_url: str
) -> None:
    from credit_check_sdk import JournalError
    from credit_check_sdk.storage.postgres._schema import SCHEMA_VERSION

    with open_storage(data_dir=tmp_path / "a", database_url=pg_url) as first:
        first.journal.counts()
    with open_storage(data_dir=tmp_path / "b", database_url=pg_url) as second:
        second.journal.counts()
    versions = sql(pg_url, "SELECT version FROM cc_schema_version ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))
    sql(pg_url, "INSERT INTO cc_schema_version VALUES (99, 'x', 'future')")
    third = open_storage(data_dir=tmp_path / "c", database_url=pg_url)
    try:
        with pytest.raises(JournalError, match="schema 99"):
            third.journal.counts()
    finally:
        third.close()


def test_health_shows_the_spool(tmp_path: Path, pg_url: str) -> None:
    from credit_check_sdk.testing import FakePlatform

    spool = Spool(tmp_path / "app")
    spool.put([prepare_record(check("s0"), None)], reason="database down")
    spool.close()
    with FakePlatform().checker(tmp_path / "app", database_url=pg_url) as checker:
        storage = checker.health()["storage"]
        assert storage["kind"] == "postgresql"
        assert set(storage["spool"]) >= {"records", "oldest", "last_error"}
        deadline = time.monotonic() + 30
        while checker.health()["storage"]["spool"]["records"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checker.health()["storage"]["spool"]["records"] == 0
        assert checker.journal.get("s0")["hash"] is not None


def test_two_instances_of_one_data_dir_chain_each_batch_to_the_head_the_other_left(
    tmp_path: Path, pg_url: str
) -> None:
    # Two processes sharing a data folder share its chain; each remembers the head it
    # last wrote, and a batch chained to a head the other has moved must not be stored.
    a = open_storage(data_dir=tmp_path / "same", database_url=pg_url)
    b = open_storage(data_dir=tmp_path / "same", database_url=pg_url)
    try:
        for n in range(4):
            a.journal.append(check(f"a{n}", n))
            b.journal.append_many([(check(f"b{n}", n), None), (check(f"c{n}", n), None)])
        assert a.journal.writer == b.journal.writer
        ((ids, seqs),) = sql(
            pg_url,
            "SELECT array_agg(id ORDER BY wseq), array_agg(wseq ORDER BY wseq)"
            " FROM cc_journal_records",
        )
        assert seqs == list(range(1, 13))
        assert ids[:3] == ["a0", "b0", "c0"]
        assert b.journal.get("a1")["prev_hash"] == b.journal.get("c0")["hash"]
        # An id stored already is refused alone; the rest of its batch is chained past it.
        with pytest.raises(JournalError, match="journaled already"):
            a.journal.append_many([(check("d0"), None), (check("b3"), None)])
        assert a.journal.get("d0")["prev_hash"] == a.journal.get("c3")["hash"]
        assert a.journal.head_hash() == a.journal.get("d0")["hash"]
        result = b.journal.verify()
        assert (result.ok, result.checked) == (True, 13)
    finally:
        a.close()
        b.close()
