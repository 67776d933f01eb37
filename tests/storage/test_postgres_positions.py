"""Readers of the shared journal by position, while writers commit out of order.

A record's position (``gseq``) is taken when it is inserted; writers on other
connections commit in any order, so a record may become visible *below* positions
already read. Here one append really is held between taking its position and its
commit (another connection holds its id uncommitted, so the append's insert waits on
the unique key), while a second writer commits records after it; then the held one
commits. What is proved: the uploader still sends it, once, in the same ``flush()``;
an export is one consistent view (all records committed when it began, none after),
and the next export has it; ``verify``/``verify_columns`` see no false problem
while instances append.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from credit_check_sdk._models import RecordsReceipt
from credit_check_sdk._uploader import Uploader
from credit_check_sdk.storage.postgres import PostgresStorage

ORG = "91442000MA4UJ2KQ57"


def record(rid: str, day: int = 1) -> dict[str, Any]:
    return {
        "type": "check",
        "id": rid,
        "checked_at": f"2026-10-{day:02d}T08:00:00+08:00",
        "outcome": "restriction",
        "source": "live",
        "subject": {"id": ORG, "kind": "legal_entity"},
        "matter": {"category": "bidding"},
        "measures": [{"id": "P-BID-EXCLUDE", "status": "applied"}],
    }


def position(url: str, rid: str) -> int:
    with psycopg.connect(url) as raw:
        found = raw.execute("SELECT gseq FROM cc_journal_records WHERE id = %s", (rid,)).fetchone()
    assert found is not None, rid
    return int(found[0])


class HeldAppend:
    """``storage.journal.append(record(rid))`` held after it took its position."""

    def __init__(self, url: str, storage: PostgresStorage, rid: str) -> None:
        self.url, self.rid = url, rid
        self.blocker = psycopg.connect(url)
        # The same id, inserted and not committed: the append's insert waits on the key.
        self.blocker.execute(
            "INSERT INTO cc_journal_records (writer_id, wseq, id, type, at, body, hash)"
            " VALUES ('blocker', 1, %s, 'check', '', '{}', '')",
            (rid,),
        )
        self.result: list[dict[str, Any]] = []
        self.thread = threading.Thread(
            target=lambda: self.result.append(storage.journal.append(record(rid)))
        )
        self.thread.start()
        deadline = time.monotonic() + 30
        with psycopg.connect(url, autocommit=True) as watch:
            while time.monotonic() < deadline:
                (waiting,) = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                ).fetchone() or (0,)
                if waiting:
                    return
                time.sleep(0.02)
        raise AssertionError("the append did not reach its insert")

    def commit(self) -> dict[str, Any]:
        """Let the held append commit (the blocker gives the id up); the record stored."""
        self.blocker.rollback()
        self.blocker.close()
        self.thread.join(30)
        assert self.result, "the held append did not return"
        return self.result[0]


@pytest.fixture
def stores(tmp_path: Path, pg_url: str) -> Iterator[tuple[PostgresStorage, PostgresStorage]]:
    """Two instances (separate data folders: two writers) with a generous budget: a held
    append must wait for its commit, not spool."""
    a = PostgresStorage(pg_url, tmp_path / "a", budget=30.0)
    b = PostgresStorage(pg_url, tmp_path / "b", budget=30.0)
    a.journal.append(record("warm-a"))  # each writer registered, its head known
    b.journal.append(record("warm-b"))
    try:
        yield a, b
    finally:
        a.close()
        b.close()


@contextmanager
def held(url: str, storage: PostgresStorage, rid: str) -> Iterator[HeldAppend]:
    h = HeldAppend(url, storage, rid)
    try:
        yield h
    finally:
        if h.thread.is_alive():
            h.commit()


def test_a_record_committed_late_below_the_uploaders_cursor_is_sent_in_the_same_flush(
    stores: tuple[PostgresStorage, PostgresStorage], pg_url: str
) -> None:
    a, b = stores
    sent: list[str] = []
    hold = HeldAppend(pg_url, a, "late")

    def send(batch: list[dict[str, Any]]) -> RecordsReceipt:
        ids = [r["id"] for r in batch]
        sent.extend(ids)
        if "early" in ids and hold.thread.is_alive():
            # While the pass is past "early", the record below it commits.
            hold.commit()
        return RecordsReceipt(accepted=tuple(ids), duplicates=(), rejected=())

    try:
        b.journal.append(record("early"))
        up = Uploader(b.uploads, send, interval=60, batch_size=1)
        assert up.flush(timeout=30) == 0
        up.close()
    finally:
        if hold.thread.is_alive():
            hold.commit()
    assert position(pg_url, "late") < position(pg_url, "early")  # committed out of order
    assert sorted(sent) == ["early", "late", "warm-a", "warm-b"]  # each once
    assert b.journal.counts()["pending"] == 0


def test_an_export_is_the_journal_as_it_stood_when_it_began(
    stores: tuple[PostgresStorage, PostgresStorage], pg_url: str
) -> None:
    a, b = stores
    with held(pg_url, a, "late") as hold:
        # More than a page of records committed after the held one took its position.
        b.journal.append_many([(record(f"b{n}"), None) for n in range(1500)])
        export = a.journal.iter_records()
        first = next(export)
        hold.commit()  # below every position the export has read
        b.journal.append(record("after"))  # above them
        ids = [first["id"], *(r["id"] for r in export)]
    assert position(pg_url, "late") < position(pg_url, "b0")
    assert ids == ["warm-a", "warm-b", *(f"b{n}" for n in range(1500))]
    again = [r["id"] for r in b.journal.iter_records()]
    assert sorted(again) == sorted([*ids, "late", "after"])


def test_verify_sees_no_false_problem_while_instances_append(
    stores: tuple[PostgresStorage, PostgresStorage], pg_url: str
) -> None:
    a, b = stores
    stop = threading.Event()

    batches = {"x": 0, "y": 0}

    def keep_appending(storage: PostgresStorage, prefix: str) -> None:
        n = 0
        while not stop.is_set():
            storage.journal.append_many([(record(f"{prefix}{n}-{k}"), None) for k in range(5)])
            n += 1
            batches[prefix] = n

    writers = [
        threading.Thread(target=keep_appending, args=(s, p)) for s, p in ((a, "x"), (b, "y"))
    ]
    for w in writers:
        w.start()
    try:
        results = []
        # Verified at least 15 times, and until both instances have appended a few
        # batches meanwhile (a busy machine may start the writers late).
        deadline = time.monotonic() + 60
        while len(results) < 30 or (min(batches.values()) < 5 and time.monotonic() < deadline):
            results.append(a.journal.verify())
            results.append(a.journal.verify_columns())
    finally:
        stop.set()
        for w in writers:
            w.join(30)
    problems = [p for r in results for p in getattr(r, "problems", getattr(r, "mismatches", []))]
    assert all(r.ok for r in results), problems[:3]
    assert a.journal.verify().checked > 40
