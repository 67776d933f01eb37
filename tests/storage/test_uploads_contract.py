"""The upload queue's promises (UploadQueue: claims, marks, releases), for every adapter,
including two processes claiming from one store at once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk import InvalidRequestError
from credit_check_sdk.storage import Storage

WORKER = Path(__file__).with_name("worker.py")


def check(cid: str) -> dict[str, Any]:
    return {"type": "check", "id": cid, "checked_at": "2026-11-29T08:00:00+08:00"}


def fill(storage: Storage, n: int) -> None:
    storage.journal.append_many([(check(f"c{i:03d}"), None) for i in range(n)])


def ids(rows: list[tuple[int, dict[str, Any]]]) -> list[str]:
    return [record["id"] for _, record in rows]


def test_claims_keep_owners_apart_oldest_first(storage: Storage) -> None:
    fill(storage, 5)
    q = storage.uploads
    first = q.claim("h:1:a", 3, 60)
    assert ids(first) == ["c000", "c001", "c002"]
    positions = [pos for pos, _ in first]
    assert positions == sorted(positions)
    assert ids(q.claim("h:2:b", 10, 60)) == ["c003", "c004"]
    assert q.claim("h:3:c", 10, 60) == []
    # An owner gets its own claims again (a retry after a failed send).
    assert ids(q.claim("h:1:a", 10, 60)) == ["c000", "c001", "c002"]
    # ``after``: a pass goes on past what it has already sent.
    assert ids(q.claim("h:1:a", 10, 60, after=positions[0])) == ["c001", "c002"]


def test_an_expired_claim_is_free_again(storage: Storage) -> None:
    fill(storage, 2)
    assert len(storage.uploads.claim("h:1:a", 10, 0.2)) == 2
    assert storage.uploads.claim("h:2:b", 10, 60) == []
    time.sleep(0.3)
    assert ids(storage.uploads.claim("h:2:b", 10, 60)) == ["c000", "c001"]


def test_mark_and_mark_rejected_end_claims_and_pending(storage: Storage) -> None:
    fill(storage, 4)
    q = storage.uploads
    q.claim("h:1:a", 10, 60)
    q.mark(["c000"], "accepted")
    q.mark(["c001"], "duplicate")
    q.mark_rejected("c002", "bad matter")
    assert q.pending_count() == 1
    assert ids(q.claim("h:1:a", 10, 60)) == ["c003"]
    assert [r["id"] for r in q.pending()] == ["c003"]
    with pytest.raises(InvalidRequestError):
        q.mark(["c003"], "rejected")  # type: ignore[arg-type]


def test_release_some_or_all(storage: Storage) -> None:
    fill(storage, 3)
    q = storage.uploads
    q.claim("h:1:a", 10, 60)
    q.release("h:1:a", ["c001"])
    assert ids(q.claim("h:2:b", 10, 60)) == ["c001"]
    q.release("h:1:a")
    assert ids(q.claim("h:3:c", 10, 60)) == ["c000", "c002"]


def test_pending_counts_up_to_a_position_and_those_others_hold(storage: Storage) -> None:
    q = storage.uploads
    assert q.head_position() == 0
    fill(storage, 4)
    head = q.head_position()
    assert head > 0
    storage.journal.append(check("later"))
    assert q.head_position() > head
    assert q.pending_count() == 5
    assert q.pending_count(head) == 4
    q.claim("h:1:a", 2, 60)
    q.claim("h:2:b", 1, 60)
    assert q.pending_count(head, claimed_by_others="h:1:a") == 1
    assert q.pending_count(claimed_by_others="h:3:c") == 3
    assert len(q.pending(limit=2)) == 2


def test_claims_of_a_process_that_ended_on_this_host_are_released(storage: Storage) -> None:
    fill(storage, 2)
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = f"{socket.gethostname()}:{int(ended.stdout)}:x"
    alive = f"{socket.gethostname()}:{os.getpid()}:y"
    elsewhere = "another-host:1:z"
    storage.uploads.claim(dead, 1, 3600)
    storage.uploads.claim(elsewhere, 1, 3600)
    assert storage.uploads.release_ended(alive) == 1
    assert ids(storage.uploads.claim(alive, 10, 60)) == ["c000"]  # the dead one's record only


def test_two_processes_claiming_at_once_never_get_the_same_record(
    adapter: Any, storage: Storage, tmp_path: Path
) -> None:
    fill(storage, 300)
    go = tmp_path / "GO"
    spec = json.dumps(adapter.spec)
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), spec, "uploads", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()
    got: list[list[str]] = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        got.append([i for line in out.splitlines() for i in json.loads(line)])
    first, second = (set(g) for g in got)
    assert not first & second
    assert first | second == {f"c{i:03d}" for i in range(300)}
    assert sum(len(g) for g in got) == 300  # nothing sent twice, even by one worker
    assert storage.journal.counts()["accepted"] == 300
