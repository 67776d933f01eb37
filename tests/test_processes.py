"""Several processes on one ``data_dir``: upload claims, a shared snapshot rebuild, the journal.

Real processes and real SQLite files: the other processes are started with
``subprocess`` (tests/support/forkload.py, or a short script), the platform is
the sandbox process where one is needed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from credit_check_sandbox.process import SandboxProcess

from credit_check_sdk._client import PlatformClient
from credit_check_sdk._models import RecordsReceipt
from credit_check_sdk._sync import Syncer
from credit_check_sdk._uploader import Uploader
from credit_check_sdk.journal import SCHEMA_VERSION, Journal
from credit_check_sdk.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_V4 = ROOT / "tests" / "golden" / "journal-schema4.sqlite3"
FORKLOAD = ROOT / "tests" / "support" / "forkload.py"


def record(i: int | str) -> dict[str, Any]:
    return {"type": "check", "id": f"c{i}", "checked_at": "2026-11-29T08:00:00+08:00"}


class Received:
    """A platform's records:batch answer, in this process: each id accepted once."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def send(self, records: list[dict[str, Any]]) -> RecordsReceipt:
        ids = [r["id"] for r in records]
        with self.lock:
            fresh = [i for i in ids if i not in self.sent]
            self.sent.extend(ids)
        return RecordsReceipt(
            accepted=fresh, duplicates=[i for i in ids if i not in fresh], rejected=[]
        )


# --- the journal's schema 5 ----------------------------------------------------------


def test_a_schema_4_journal_is_migrated_in_place(tmp_path: Path) -> None:
    """The file in tests/golden was written by the SDK of schema 4 (before upload claims)."""
    path = tmp_path / "journal.sqlite3"
    shutil.copy(GOLDEN_V4, path)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 4
    before = raw.execute("SELECT id, body, hash, upload_state FROM records ORDER BY seq").fetchall()
    raw.close()
    with Journal(path) as j:
        assert j.verify().ok
        assert j.verify_columns().ok
        assert j.counts() == {"pending": 6, "accepted": 5, "duplicate": 1, "rejected": 1}
        assert j.upload_state("c6") == ("rejected", "bad matter")
        assert [o["objection_id"] for o in j.objections()] == ["OBJ-1"]
        claimed = j.claim_pending(100, "host-a:1:t", lease=60)
        assert [r["id"] for _, r in claimed] == ["c7", "c8", "c9", "c10", "c11", "a0"]
        assert j.claim_pending(100, "host-b:2:t", lease=60) == []
        appended = j.append(record("new"))
        assert appended["prev_hash"] == before[-1][2]  # the chain goes on from the old file
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
    assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("8",)
    after = raw.execute("SELECT id, body, hash, upload_state FROM records ORDER BY seq").fetchall()
    raw.close()
    assert after[: len(before)] == before
    with Journal(path) as j:  # opening again changes nothing
        assert j.verify().ok


def test_claims_and_marks_commit_without_their_own_fsync_but_records_do(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        j.append(record(1))
        j.claim_pending(10, "a", lease=60)
        j.mark(["c1"], "accepted")
        conn = j._connection()
        # Back at FULL for the next record, whatever the bookkeeping used.
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_two_uploaders_on_one_journal_send_each_record_once(tmp_path: Path) -> None:
    platform = Received()
    journals = [Journal(tmp_path / "j.db"), Journal(tmp_path / "j.db")]
    uploaders = [Uploader(j, platform.send, interval=0.05, batch_size=7) for j in journals]
    stop = threading.Event()

    def append(n: int) -> None:
        for i in range(150):
            journals[n % 2].append(record(f"{n}-{i}"))
            uploaders[n % 2].notify()

    writers = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    assert all(u.flush(timeout=20) == 0 for u in uploaders)
    assert len(platform.sent) == 600
    assert len(set(platform.sent)) == 600  # no record sent twice
    for u in uploaders:
        u.close()
    assert journals[0].counts() == {"pending": 0, "accepted": 600, "duplicate": 0, "rejected": 0}
    for j in journals:
        j.close()


CLAIMER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from credit_check_sdk.journal import Journal
    from credit_check_sdk._uploader import _owner_name
    j = Journal(sys.argv[1])
    owner = sys.argv[2] or _owner_name()
    got = j.claim_pending(100, owner, lease=float(sys.argv[3]))
    print(len(got), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # killed while "sending"
    """
).format(root=str(ROOT))


def claim_and_die(path: Path, owner: str, lease: float) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CLAIMER, str(path), owner, str(lease)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return int(done.stdout)


def test_a_killed_process_claims_are_taken_over_after_the_lease(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as j:
        for i in range(5):
            j.append(record(i))
        # A process on another machine (same file on shared storage): nothing here can
        # tell it has died, so its lease decides.
        assert claim_and_die(path, "elsewhere:4242:abcd", lease=1.5) == 5
        platform = Received()
        up = Uploader(j, platform.send, interval=60)
        assert up.flush(timeout=0.3) == 5  # claimed by a live lease: not ours to send
        assert platform.sent == []
        time.sleep(1.3)
        assert up.flush(timeout=5) == 0
        assert sorted(platform.sent) == [f"c{i}" for i in range(5)]
        up.close()


def test_claims_of_a_process_killed_on_this_host_are_released_at_once(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as j:
        for i in range(5):
            j.append(record(i))
        assert claim_and_die(path, "", lease=600) == 5
        platform = Received()
        up = Uploader(j, platform.send, interval=60)
        started = time.monotonic()
        assert up.flush(timeout=10) == 0
        assert time.monotonic() - started < 5  # not the 600 s lease
        assert sorted(platform.sent) == [f"c{i}" for i in range(5)]
        up.close()


# --- the snapshot, rebuilt by one process for all --------------------------------------

REBUILDER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from credit_check_sdk._client import PlatformClient
    from credit_check_sdk.snapshot import Snapshot
    base_url, app_id, secret, data_dir = sys.argv[1:5]
    snap = Snapshot(data_dir)
    client = PlatformClient(base_url, app_id, secret, timeout=30, allow_insecure_http=True)
    with snap.begin_rebuild() as builder:
        print("LOCKED", flush=True)
        time.sleep(1.5)  # a slow export download
        loader = builder.export_loader()
        client.export_lists(loader, timeout=60)
        loader.finish()
        print("GENERATION", builder.commit(), flush=True)
    """
).format(root=str(ROOT))


@pytest.mark.sandbox
def test_a_rebuild_running_in_another_process_is_waited_for_and_followed(
    credit_sandbox: SandboxProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    credit_sandbox.admin("DELETE", "/faults")
    data_dir = tmp_path / "data"
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            REBUILDER,
            credit_sandbox.base_url,
            credit_sandbox.app_id,
            credit_sandbox.app_secret,
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "LOCKED"
        snap = Snapshot(data_dir)
        client = PlatformClient(
            credit_sandbox.base_url,
            credit_sandbox.app_id,
            credit_sandbox.app_secret,
            timeout=30,
            allow_insecure_http=True,
        )
        syncer = Syncer(snap, client)
        caplog.set_level(logging.INFO, logger="credit_check_sdk")
        started = time.monotonic()
        result = syncer.sync_once(timeout=30)  # no cursor: would rebuild, finds one running
        waited = time.monotonic() - started
        out, err = other.communicate(timeout=60)
    finally:
        if other.poll() is None:
            other.kill()
    assert other.returncode == 0, err
    assert "GENERATION 1" in out
    assert result.complete
    assert not result.resynced  # the other process's snapshot, followed from its cursor
    assert waited > 0.5
    assert snap.status().generation == 1  # nobody rebuilt twice
    assert snap.status().cursor is not None
    assert "waiting for its result" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    syncer.close()
    snap.close()
    client.close()


# --- several busy processes, one data_dir ------------------------------------------------


@pytest.mark.sandbox
def test_busy_processes_sharing_a_data_dir(credit_sandbox: SandboxProcess, tmp_path: Path) -> None:
    credit_sandbox.admin("DELETE", "/faults")
    data_dir = tmp_path / "data"
    procs = []
    for n in range(3):
        config = {
            "base_url": credit_sandbox.base_url,
            "app_id": credit_sandbox.app_id,
            "app_secret": credit_sandbox.app_secret,
            "data_dir": str(data_dir),
            "out": str(tmp_path / f"worker-{n}.json"),
            "threads": 3,
            "seconds": 6,
            "upload_interval": 0.2,
            "sync_interval": 0.5,
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(FORKLOAD), "worker", json.dumps(config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-4000:]
        # Another process rebuilding the snapshot, or holding the journal's write lock
        # for a moment, is normal: nothing of it may reach stderr.
        assert "Traceback" not in err, err[-4000:]
        assert "Error" not in err, err[-4000:]
    summaries = [json.loads((tmp_path / f"worker-{n}.json").read_text()) for n in range(3)]
    assert all(s["left"] == 0 and not s["errors"] for s in summaries)
    accepted = sum(s["uploads"]["accepted"] for s in summaries)
    duplicates = sum(s["uploads"]["duplicates"] for s in summaries)
    checks = [cid for s in summaries for cid in s["checks"]]
    assert len(checks) > 150
    assert duplicates < 0.05 * (accepted + duplicates), (accepted, duplicates)
    with Journal(data_dir / "journal.sqlite3") as journal:
        assert journal.verify().ok
        assert journal.counts()["pending"] == 0
        ids = {r["id"] for r in journal.iter_records()}
    assert set(checks) <= ids  # nothing lost
    received = credit_sandbox.admin(
        "GET", "/records", params={"agency_id": credit_sandbox.app_id, "limit": 100_000}
    )
    assert ids <= {r["id"] for r in received}
    assert len(list(data_dir.glob("snapshot.*.sqlite3"))) >= 1
    assert os.path.exists(data_dir / "snapshot.current")
