"""``must_check`` end to end, each figure beside its floor measured in the same run.

Run: ``python benchmarks/bench_checker.py`` (``make bench`` runs every benchmark).

1. Cached checks with the durable journal write, from 8 threads, against a bare
   SQLite insert of a record of the same size with the same durability (WAL,
   ``synchronous=FULL``, one transaction per record) from the same 8 threads.
2. ``must_check_many`` of 1,000 subjects against a local platform served over
   HTTP, against the raw signed ``profiles:batch`` requests alone.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests
from bench_floor import company_ids

from credit_check_sdk.signing import signed_headers
from credit_check_sdk.testing import FakePlatform

THREADS = 8
CHECKS_PER_THREAD = 400
MANY = 1_000


def _threads(work: Callable[[int], None]) -> float:
    start = threading.Barrier(THREADS + 1)

    def run(i: int) -> None:
        start.wait()
        work(i)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in pool:
        t.start()
    t0 = time.perf_counter()
    start.wait()
    for t in pool:
        t.join()
    return time.perf_counter() - t0


def cached_checks(tmp: Path) -> tuple[float, float]:
    fake = FakePlatform()
    subjects = company_ids(50)
    fake.add_entry(subjects[0], "black", "court_judgment_defaulter")
    checker = fake.checker(tmp / "cached", cache_ttl=3600)
    for s in subjects:
        checker.must_check(s, "bidding")  # warm the cache
    sample = json.dumps(checker.journal.get(checker.must_check(subjects[0], "bidding").check_id))

    def work(i: int) -> None:
        for n in range(CHECKS_PER_THREAD):
            checker.must_check(subjects[(i + n) % len(subjects)], "bidding")

    elapsed = _threads(work)
    checker.close(timeout=1)
    sdk_rate = THREADS * CHECKS_PER_THREAD / elapsed

    db = tmp / "bare.sqlite3"
    setup = sqlite3.connect(db)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE r (id INTEGER PRIMARY KEY, body TEXT)")
    setup.close()

    def bare(i: int) -> None:
        conn = sqlite3.connect(db, timeout=30, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        for _ in range(CHECKS_PER_THREAD):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO r (body) VALUES (?)", (sample,))
            conn.execute("COMMIT")
        conn.close()

    bare_rate = THREADS * CHECKS_PER_THREAD / _threads(bare)
    return sdk_rate, bare_rate


def many(tmp: Path) -> tuple[float, float]:
    fake = FakePlatform()
    base_url = fake.serve()
    subjects = company_ids(MANY)
    for s in subjects[::10]:
        fake.add_entry(s, "black", "wage_arrears")
    checker = fake.checker(tmp / "many", http=True, cache_ttl=0, timeout=30)
    checker.must_check(subjects[0], "bidding")  # catalogue fetched, connection warm
    t0 = time.perf_counter()
    decisions = checker.must_check_many(subjects, "bidding")
    sdk = time.perf_counter() - t0
    assert all(d.source == "live" for d in decisions)
    checker.close(timeout=1)

    session = requests.Session()
    path = "/api/v1/profiles:batch"
    t0 = time.perf_counter()
    for start in range(0, MANY, 200):
        body = json.dumps({"subject_ids": subjects[start : start + 200]}).encode()
        headers = signed_headers(
            app_id=fake.app_id, app_secret=fake.app_secret, method="POST", path=path, body=body
        )
        headers["Content-Type"] = "application/json"
        response = session.post(base_url + "/v1/profiles:batch", data=body, headers=headers)
        response.raise_for_status()
        response.json()
    raw = time.perf_counter() - t0
    fake.stop()
    return sdk, raw


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sdk_rate, bare_rate = cached_checks(tmp)
        sdk_many, raw_many = many(tmp)
    rows = [
        (
            "cached must_check + durable journal, 8 threads",
            f"{sdk_rate:,.0f} checks/s",
            f"bare durable insert {bare_rate:,.0f}/s",
            f"{bare_rate / sdk_rate:.2f}× slower",
        ),
        (
            f"must_check_many({MANY:,}) over HTTP",
            f"{sdk_many:.2f} s",
            f"raw profiles:batch {raw_many:.2f} s",
            f"{sdk_many / raw_many:.2f}×",
        ),
    ]
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    print(
        "| "
        + " | ".join(
            h.ljust(w)
            for h, w in zip(
                ("benchmark", "figure", "floor (same run)", "ratio"), width, strict=True
            )
        )
        + " |"
    )
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) + " |")


if __name__ == "__main__":
    main()
