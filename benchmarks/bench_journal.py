"""Durable journal appends per second, against a bare SQLite INSERT with the same durability.

Run: ``python -m benchmarks.bench_journal [--seconds 2] [--dir /path/on/the/target/disk]``

Every case commits each record with WAL and ``synchronous=FULL`` (the WAL is
fsynced at each commit), so the numbers depend on the disk's fsync latency:
run it on the disk the journal will live on. The bare baselines write one
row per transaction into a one-table file, either through one shared
connection guarded by a lock or through one connection per thread (each
waiting on SQLite's file lock). ``Journal.append`` also hashes, chains and
validates each record, and commits the records that queue up during an
fsync together (group commit).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from credit_check_sdk.journal import Journal


def sample_record() -> dict[str, Any]:
    """A check record of realistic size (about 600 bytes of JSON)."""
    return {
        "type": "check",
        "id": str(uuid.uuid4()),
        "agency_id": "AG-442000-0001",
        "checked_at": "2026-11-29T08:00:00+08:00",
        "department": "中山市市场监督管理局",
        "operator": "op-1024",
        "matter": {"category": "bidding", "code": "GC-2026-118", "case_id": "case-88231"},
        "subject": {"id": "91442000MA4UJ2KQ57", "kind": "legal_entity"},
        "outcome": "restriction",
        "measures": [
            {"id": "P-BID-EXCLUDE", "status": "applied", "entry_ids": ["BL-2026-000123"]},
            {"id": "P-FUND-RESTRICT", "status": "applied", "entry_ids": ["BL-2026-000123"]},
        ],
        "source": "live",
        "data_as_of": "2026-11-29T07:59:58+08:00",
        "recheck_of": None,
        "catalog_version": "2026.11.1",
        "sdk_version": "0.1.0",
    }


def run_threads(threads: int, seconds: float, op: Callable[[], None]) -> float:
    """Call ``op`` from ``threads`` threads for ``seconds``; return calls per second."""
    counts = [0] * threads
    stop = threading.Event()

    def work(k: int) -> None:
        n = 0
        while not stop.is_set():
            op()
            n += 1
        counts[k] = n

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def bare_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, id TEXT, body TEXT)")
    return conn


def bench_bare_shared(path: Path, threads: int, seconds: float) -> float:
    conn = bare_connection(path)
    lock = threading.Lock()
    body = json.dumps(sample_record(), ensure_ascii=False)

    def op() -> None:
        with lock:
            conn.execute("INSERT INTO t (id, body) VALUES (?, ?)", (str(uuid.uuid4()), body))

    try:
        return run_threads(threads, seconds, op)
    finally:
        conn.close()


def bench_bare_per_thread(path: Path, threads: int, seconds: float) -> float:
    bare_connection(path).close()
    local = threading.local()
    body = json.dumps(sample_record(), ensure_ascii=False)
    opened: list[sqlite3.Connection] = []

    def op() -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = bare_connection(path)
            opened.append(conn)
        conn.execute("INSERT INTO t (id, body) VALUES (?, ?)", (str(uuid.uuid4()), body))

    try:
        return run_threads(threads, seconds, op)
    finally:
        for c in opened:
            c.close()


def bench_journal(path: Path, threads: int, seconds: float) -> float:
    journal = Journal(path)
    template = sample_record()

    def op() -> None:
        journal.append(dict(template, id=str(uuid.uuid4())))

    try:
        rate = run_threads(threads, seconds, op)
        assert journal.verify().ok
        return rate
    finally:
        journal.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per case (default 2)")
    parser.add_argument("--dir", default=None, help="directory for the test files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        rows = []
        for threads in (1, 8):
            bare_shared = bench_bare_shared(
                root / f"bare-shared-{threads}.db", threads, args.seconds
            )
            bare_own = bench_bare_per_thread(root / f"bare-own-{threads}.db", threads, args.seconds)
            journal = bench_journal(root / f"journal-{threads}.db", threads, args.seconds)
            rows.append((threads, journal, bare_shared, bare_own))
    where = args.dir or tempfile.gettempdir()
    print(f"durable appends/s (WAL, synchronous=FULL), {args.seconds:g} s per case, in {where}")
    header = (
        f"{'threads':>7} | {'Journal.append':>14} | {'bare, 1 conn+lock':>17} | "
        f"{'bare, conn/thread':>17} | {'journal / best bare':>19}"
    )
    print(header)
    print("-" * len(header))
    for threads, journal, shared, own in rows:
        best = max(shared, own)
        print(
            f"{threads:>7} | {journal:>14,.0f} | {shared:>17,.0f} | {own:>17,.0f} | "
            f"{journal / best:>18.2f}x"
        )


if __name__ == "__main__":
    main()
