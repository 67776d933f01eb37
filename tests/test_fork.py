"""fork() of a process whose checker is busy: no child hangs, nothing is lost or sent twice.

Real processes throughout: the sandbox platform is a subprocess, the busy
checker runs in another (tests/support/forkload.py), which forks 50 times at
random moments while 4 threads check, the uploader sends, the snapshot sync
runs and the breaker's probe is opened again and again. A child still running
10 s after its fork is killed and counted as hung.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from credit_check_sandbox.process import SandboxProcess

from credit_check_sdk.journal import Journal

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)"),
]

FORKLOAD = Path(__file__).parent / "support" / "forkload.py"


def run_load(mode: str, sandbox: SandboxProcess, tmp_path: Path, **cfg: Any) -> dict[str, Any]:
    out = tmp_path / f"{mode}.json"
    config = {
        "base_url": sandbox.base_url,
        "app_id": sandbox.app_id,
        "app_secret": sandbox.app_secret,
        "data_dir": str(tmp_path / "data"),
        "out": str(out),
        "out_dir": str(tmp_path),
        **cfg,
    }
    done = subprocess.run(
        [sys.executable, str(FORKLOAD), mode, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    summary: dict[str, Any] = json.loads(out.read_text())
    summary["stderr"] = done.stderr
    return summary


def platform_records(sandbox: SandboxProcess) -> dict[str, dict[str, Any]]:
    received = sandbox.admin(
        "GET", "/records", params={"agency_id": sandbox.app_id, "limit": 100_000}
    )
    return {r["id"]: r for r in received}


def assert_journal_uploaded_once(sandbox: SandboxProcess, data_dir: Path) -> list[dict[str, Any]]:
    """The journal's chain is intact and every record is on the platform, sent once."""
    with Journal(data_dir / "journal.sqlite3") as journal:
        verified = journal.verify()
        assert verified.ok, verified.problems[:5]
        counts = journal.counts()
        records = list(journal.iter_records())
    assert counts["pending"] == 0, counts
    assert counts["rejected"] == 0, counts
    # "duplicate" is the platform saying it had the record already: a second send.
    assert counts["duplicate"] == 0, counts
    on_platform = platform_records(sandbox)
    missing = [r["id"] for r in records if r["id"] not in on_platform]
    assert not missing, f"{len(missing)} records never reached the platform"
    assert all(on_platform[r["id"]]["hash"] == r["hash"] for r in records)
    return records


def test_fifty_forks_of_a_busy_checker(credit_sandbox: SandboxProcess, tmp_path: Path) -> None:
    credit_sandbox.admin("DELETE", "/faults")
    summary = run_load("fork", credit_sandbox, tmp_path, forks=50, seed=20261129)
    assert summary["hung"] == [], f"children hung: {summary['hung']}"
    children = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("child-*.json"))]
    failed = [c for c in children if c.get("error") or c.get("left") != 0]
    assert not failed, failed[:3]
    assert summary["codes"] == {str(i): 0 for i in range(50)}
    assert len(children) == 50
    assert max(c["seconds"] for c in children) < 10
    assert not summary["parent_errors"], summary["parent_errors"][:2]
    assert summary["left"] == 0
    records = assert_journal_uploaded_once(credit_sandbox, tmp_path / "data")
    ids = {r["id"] for r in records}
    assert {c["check_id"] for c in children} <= ids
    assert set(summary["parent_checks"]) <= ids
    assert len(summary["parent_checks"]) > 100  # the parent was busy throughout


def test_multiprocessing_with_fork_start_method(
    credit_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    credit_sandbox.admin("DELETE", "/faults")
    summary = run_load("mp", credit_sandbox, tmp_path, pools=2, processes=8)
    assert summary["codes"] == [0] * 8
    assert all(left == 0 for _, _, left in summary["processes"])
    workers = {pid for pid, _ in summary["pool"]} | {pid for pid, _, _ in summary["processes"]}
    assert len(workers) >= 8  # the checks ran in the forked processes
    assert not summary["parent_errors"], summary["parent_errors"][:2]
    assert summary["left"] == 0
    records = assert_journal_uploaded_once(credit_sandbox, tmp_path / "data")
    ids = {r["id"] for r in records}
    assert {cid for _, cid in summary["pool"]} <= ids
    assert {cid for _, cid, _ in summary["processes"]} <= ids
