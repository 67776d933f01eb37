"""A record is durable once append() returns: SIGKILL right after loses nothing, breaks no link."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from credit_check_sdk.journal import Journal

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

# Appends records as fast as it can from several threads, printing each id only
# after append() has returned for it. The parent kills it at an arbitrary point,
# usually in the middle of other appends.
WRITER = textwrap.dedent(
    """
    import sys, threading, uuid
    sys.path.insert(0, {root!r})
    from credit_check_sdk.journal import Journal
    j = Journal(sys.argv[1])
    out_lock = threading.Lock()
    def work():
        while True:
            rid = str(uuid.uuid4())
            j.append({{"type": "check", "id": rid, "checked_at": "2026-11-29T08:00:00+08:00",
                       "outcome": "normal", "note": "中" * 200}},
                     inputs={{"profile": {{"entries": []}}}})
            with out_lock:
                sys.stdout.write(rid + "\\n")
                sys.stdout.flush()
    threads = [threading.Thread(target=work, daemon=True) for _ in range(int(sys.argv[2]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """
).format(root=str(ROOT))


def run_and_kill(path: Path, threads: int, after: int) -> list[str]:
    """Start a writer, read ``after`` ids, SIGKILL it at once; return the ids it reported."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(threads)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ids: list[str] = []
    try:
        while len(ids) < after:
            line = proc.stdout.readline()
            assert line, f"writer exited early with {proc.poll()}"
            ids.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return ids


@pytest.mark.slow
def test_sigkill_never_loses_an_acknowledged_record(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    rng = random.Random(20261129)
    acknowledged: list[str] = []
    rounds = 12
    for n in range(rounds):
        # Kill after the first record of a fresh process sometimes, after
        # hundreds (with the WAL grown and checkpoints under way) other times.
        after = rng.choice([1, 2, 7, 50, 300])
        ids = run_and_kill(path, threads=1 + n % 4, after=after)
        acknowledged.extend(ids)
        # Every round reopens the file as a crashed process left it.
        j = Journal(path)
        try:
            missing = [i for i in ids if j.get(i) is None]
            assert not missing, f"round {n}: {len(missing)} acknowledged records lost"
            assert all(j.inputs_for(i) == {"profile": {"entries": []}} for i in ids[-3:])
            result = j.verify()
            assert result.ok, f"round {n}: {result.problems[:3]}"
        finally:
            j.close()
    j = Journal(path)
    try:
        stored = {r["id"] for r in j.iter_records()}
        assert set(acknowledged) <= stored
        # Records written after the last printed id may or may not be there;
        # none can be there twice, and the chain covers them all.
        assert j.verify().checked == len(stored)
        last = j.append({"type": "check", "id": "after", "checked_at": "2026-11-29T09:00:00Z"})
        assert last["prev_hash"] is not None
        assert j.verify().ok
    finally:
        j.close()
