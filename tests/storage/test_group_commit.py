"""The group commit's leader waits, briefly, for the callers of its last batch: one
``fsync`` then serves them all; a caller alone never waits.

The writes here are lists (the adapters' real writes are covered by the journal
contract tests); what is pinned is who is committed together.
"""

from __future__ import annotations

import threading
import time

import pytest

from credit_check_sdk._fork import ShortLock
from credit_check_sdk.storage import _group_commit
from credit_check_sdk.storage._group_commit import GroupCommit
from credit_check_sdk.storage._journal_core import PreparedRecord, prepare_record


def record(n: int) -> PreparedRecord:
    return prepare_record(
        {"type": "check", "id": f"c{n}", "checked_at": "2026-11-29T08:00:00+08:00"}, None
    )


class Writes:
    """The batches written, in order; the first one held until ``release``."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(self, batch: list[PreparedRecord]) -> None:
        if not self.batches and not self.release.is_set():
            self.holding.set()
            assert self.release.wait(10)
        self.batches.append([p.record["id"] for p in batch])


def submit_in_thread(group: GroupCommit, n: int) -> threading.Thread:
    t = threading.Thread(target=group.submit, args=([record(n)],))
    t.start()
    return t


def batch_of_two_callers(group: GroupCommit, writes: Writes) -> None:
    """Commit ``c0`` alone, then ``c1`` and ``c2`` together: while the first batch is
    written (held), two callers queue, and the next batch has both."""
    first = submit_in_thread(group, 0)
    assert writes.holding.wait(10)
    a, b = submit_in_thread(group, 1), submit_in_thread(group, 2)
    while len(group.queue) < 2:
        time.sleep(0.001)
    writes.release.set()
    for t in (first, a, b):
        t.join(10)


def test_a_caller_alone_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_group_commit, "GATHER", 30.0)
    writes = Writes()
    writes.release.set()
    group = GroupCommit(ShortLock(), writes, path="journal.sqlite3")
    started = time.monotonic()
    for n in range(20):
        group.submit([record(n)])
    assert time.monotonic() - started < 10  # no 30 s wait for a sibling that never comes
    assert writes.batches == [[f"c{n}"] for n in range(20)]


def test_the_leader_waits_for_the_callers_of_its_last_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_group_commit, "GATHER", 30.0)
    writes = Writes()
    group = GroupCommit(ShortLock(), writes, path="journal.sqlite3")
    batch_of_two_callers(group, writes)
    assert writes.batches == [["c0"], ["c1", "c2"]]
    # The last batch came from two callers: a lone caller now waits for the other.
    c = submit_in_thread(group, 3)
    time.sleep(0.3)
    assert c.is_alive()
    assert len(writes.batches) == 2
    d = submit_in_thread(group, 4)
    for t in (c, d):
        t.join(10)
        assert not t.is_alive()
    assert writes.batches[2] == ["c3", "c4"]  # one commit, one fsync, for both


def test_the_wait_is_bounded_by_gather(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_group_commit, "GATHER", 0.2)
    writes = Writes()
    group = GroupCommit(ShortLock(), writes, path="journal.sqlite3")
    batch_of_two_callers(group, writes)
    started = time.monotonic()
    group.submit([record(3)])  # the sibling never comes: committed once GATHER is over
    assert 0.15 <= time.monotonic() - started < 10
    group.submit([record(4)])  # the last batch had one caller: no wait now
    assert writes.batches[2:] == [["c3"], ["c4"]]
