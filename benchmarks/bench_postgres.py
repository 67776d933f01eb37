"""The PostgreSQL storage, each figure beside its floor measured in the same run.

Run: ``python benchmarks/bench_postgres.py [--entries N] [--records N]`` (``make bench``
runs it with the defaults). It starts a throwaway cluster (initdb + pg_ctl, as the
tests do: ``tests/support/pgcluster.py``; fsync and synchronous_commit on).

1. Cached ``must_check`` journaling to PostgreSQL, 8 threads in one process, against
   bare single-row ``INSERT; COMMIT`` of a record of the same size from 8 connections.
2. The same from 4 processes × 4 threads (four instances, one database) against bare
   inserts from 16 connections.

The checkers' platform (a fake one that answers profiles and takes uploads) is
served by a process of its own, as a real platform is, and as in
``bench_floor.py``: its work is not counted as the checker's, while the
checker's background uploader keeps sending to it (its claims and marks in the
database, its requests) during the run.
3. Snapshot ``profile_for`` p99 with ``--entries`` entries (1,000,000) against a bare
   indexed ``SELECT`` of the same rows, the two taken in turn (a busy moment of the
   shared machine falls on both).
4. The monthly report over ``--records`` journal records of one month (1,000,000).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_floor import company_ids, served_platform  # noqa: E402 - after the path

from credit_check_sdk import CreditChecker  # noqa: E402 - after the path
from tests.support.pgcluster import PgCluster  # noqa: E402 - after the path

CHECKS_PER_THREAD = 300


def _threads(n: int, work: Callable[[int], None]) -> float:
    start = threading.Barrier(n + 1)

    def run(i: int) -> None:
        start.wait()
        work(i)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in pool:
        t.start()
    t0 = time.perf_counter()
    start.wait()
    for t in pool:
        t.join()
    return time.perf_counter() - t0


def bare_inserts(url: str, connections: int, body: str) -> float:
    """Records per second: single-row INSERT; COMMIT from ``connections`` threads."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bare")
        conn.execute("CREATE TABLE bare (id bigserial PRIMARY KEY, body text)")

    def work(_i: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(CHECKS_PER_THREAD):
                with conn.transaction():
                    conn.execute("INSERT INTO bare (body) VALUES (%s)", (body,), prepare=True)

    return connections * CHECKS_PER_THREAD / _threads(connections, work)


def checker_in_process(
    platform: dict[str, str], url: str, data_dir: Path, threads: int
) -> tuple[float, str]:
    """Cached checks per second from ``threads`` threads; a journal body for the floor."""
    subjects = company_ids(50)
    checker = CreditChecker(
        **platform, data_dir=data_dir, cache_ttl=3600, database_url=url, timeout=10
    )
    for s in subjects:
        checker.must_check(s, "bidding")  # warm the cache and the pool
    sample = json.dumps(checker.journal.get(checker.must_check(subjects[0], "bidding").check_id))

    def work(i: int) -> None:
        for n in range(CHECKS_PER_THREAD):
            checker.must_check(subjects[(i + n) % len(subjects)], "bidding")

    elapsed = _threads(threads, work)
    assert checker.storage.describe()["spool"]["records"] == 0, "records were spooled"
    checker.close(timeout=1)
    return threads * CHECKS_PER_THREAD / elapsed, sample


def checker_processes(
    platform: dict[str, str], url: str, tmp: Path, processes: int, threads: int
) -> float:
    """Cached checks per second from ``processes`` instances of ``threads`` threads."""
    go = tmp / "go"
    child = json.dumps([platform, url])
    procs = [
        subprocess.Popen(  # noqa: S603 - this very script
            [sys.executable, __file__, "--child", child, str(tmp / f"p{n}"), str(threads), str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    time.sleep(0.2)
    while not all((tmp / f"p{n}.ready").exists() for n in range(processes)):
        time.sleep(0.05)
    go.touch()
    total = 0.0
    for p in procs:
        out, _ = p.communicate(timeout=600)
        total += float(out.strip().splitlines()[-1])
    return total


def _child(platform_and_url: str, data_dir: str, threads: int, go: str) -> None:
    platform, url = json.loads(platform_and_url)
    subjects = company_ids(50)
    checker = CreditChecker(
        **platform, data_dir=Path(data_dir), cache_ttl=3600, database_url=url, timeout=10
    )
    for s in subjects:
        checker.must_check(s, "bidding")
    Path(data_dir + ".ready").touch()
    while not os.path.exists(go):
        time.sleep(0.005)

    def work(i: int) -> None:
        for n in range(CHECKS_PER_THREAD):
            checker.must_check(subjects[(i + n) % len(subjects)], "bidding")

    elapsed = _threads(threads, work)
    checker.close(timeout=1)
    print(threads * CHECKS_PER_THREAD / elapsed)


def snapshot_lookups(url: str, tmp: Path, entries: int) -> tuple[float, float]:
    """p99 of ``profile_for`` and of a bare indexed select, in microseconds."""
    from credit_check_sdk.storage import open_storage
    from credit_check_sdk.storage._export import ExportHeader

    subjects = company_ids(entries // 2)
    storage = open_storage(data_dir=tmp / "snap", database_url=url)
    with storage.snapshot.begin_rebuild() as builder:
        batch: list[tuple[str, str, str]] = []
        for n in range(entries):
            sid = subjects[n % len(subjects)]
            entry = {
                "entry_id": f"BL-{n:08d}", "subject_id": sid, "list": "black",
                "updated_at": "2026-11-20T10:00:00+08:00", "category": "wage_arrears",
                "status": "active", "listed_on": "2025-01-01", "authority": "中山市信用办",
            }  # fmt: skip
            batch.append((entry["entry_id"], sid, json.dumps(entry, ensure_ascii=False)))
            if len(batch) == 50_000:
                builder.insert_entries(batch)
                batch = []
        if batch:
            builder.insert_entries(batch)
        now = datetime.now(timezone.utc)
        builder.set_export_meta(ExportHeader(cursor="s1", as_of=now, count=entries))
        builder.commit()
    probes = [random.choice(subjects) for _ in range(5000)]
    snap = storage.snapshot
    bare_sql = "SELECT body FROM cc_snapshot_entries WHERE subject_id = %s"
    sdk: list[float] = []
    bare: list[float] = []
    # One lookup of each in turn: a busy moment of the shared machine falls on both.
    with psycopg.connect(url, autocommit=True) as conn:
        for sid in probes[:200]:
            snap.profile_for(sid, "legal_entity")
            conn.execute(bare_sql, (sid,), prepare=True).fetchall()
        for sid in probes:
            t0 = time.perf_counter()
            snap.profile_for(sid, "legal_entity")
            t1 = time.perf_counter()
            conn.execute(bare_sql, (sid,), prepare=True).fetchall()
            t2 = time.perf_counter()
            sdk.append(t1 - t0)
            bare.append(t2 - t1)
    storage.close()
    return _p99(sdk) * 1e6, _p99(bare) * 1e6


def _p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99) - 1]


def month_report(url: str, tmp: Path, records: int) -> tuple[float, float]:
    """Seconds to build one month's report over ``records`` records, and to load them."""
    from credit_check_sdk.report import build_monthly_report
    from credit_check_sdk.storage import open_storage
    from credit_check_sdk.storage._journal_core import prepare_record, seal
    from credit_check_sdk.storage.postgres._columns import detail_columns, pg_text

    subjects = company_ids(1000)
    start = datetime(2026, 10, 1, tzinfo=timezone(timedelta(hours=8)))
    step = timedelta(days=30) / records
    t0 = time.perf_counter()
    head = None
    with psycopg.connect(url, autocommit=True) as conn:
        with open_storage(data_dir=tmp / "rep", database_url=url) as s:
            s.journal.counts()  # the schema
        conn.execute("INSERT INTO cc_journal_writers VALUES ('bench', NULL, 0, '', '', 'bench')")
        with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(
                "COPY cc_journal_records (writer_id, wseq, id, type, check_id, at, body, hash,"
                " prev_hash, outcome, category, source, recheck_of, action, subject_id,"
                " subject_kind, matter_code, case_id, reason) FROM STDIN"
            ) as copy,
        ):
            for n in range(records):
                outcome = ("normal", "restriction", "tolerance", "review")[n % 4]
                record = {
                    "type": "check", "id": f"c{n}", "agency_id": "AG-1",
                    "checked_at": (start + step * n).isoformat(), "outcome": outcome,
                    "source": "live" if n % 50 else "snapshot",
                    "subject": {"id": subjects[n % 1000], "kind": "legal_entity"},
                    "matter": {"category": "bidding", "case_id": f"K-{n}"},
                }  # fmt: skip
                p = prepare_record(record, None)
                body = seal(p, head)
                head = p.record["hash"]
                copy.write_row(
                    (
                        "bench", n + 1, f"c{n}", "check", f"c{n}", p.at, body, head,
                        p.record["prev_hash"], *(pg_text(v) for v in p.columns),
                        *detail_columns(p.record),
                    )
                )  # fmt: skip
        conn.execute(
            "UPDATE cc_journal_writers SET head_hash = %s, head_wseq = %s", (head, records)
        )
        conn.execute("ANALYZE cc_journal_records")
    loaded = time.perf_counter() - t0
    with open_storage(data_dir=tmp / "admin", database_url=url) as storage:
        t0 = time.perf_counter()
        report = build_monthly_report(storage, agency_id="AG-1", period="2026-10")
        took = time.perf_counter() - t0
    assert sum(report.totals.values()) > 0
    return took, loaded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--journal-only", action="store_true", help="only the two must_check rows (1 and 2)"
    )
    parser.add_argument("--child", nargs=4)
    args = parser.parse_args()
    if args.child:
        child, data_dir, threads, go = args.child
        _child(child, data_dir, int(threads), go)
        return
    cluster = PgCluster.start()
    rows = []
    try:
        with (
            tempfile.TemporaryDirectory() as d,
            served_platform([(company_ids(1)[0], "court_judgment_defaulter")]) as platform,
        ):
            tmp = Path(d)
            sdk8, sample = checker_in_process(
                platform, cluster.create_database("one"), tmp / "one", 8
            )
            bare8 = bare_inserts(cluster.create_database("bare8"), 8, sample)
            rows.append(
                (
                    "cached must_check, PG journal, 8 threads",
                    f"{sdk8:,.0f} checks/s",
                    f"bare INSERT;COMMIT, 8 connections: {bare8:,.0f}/s",
                    f"{sdk8 / bare8:.2f}×",
                )
            )
            sdk16 = checker_processes(platform, cluster.create_database("four"), tmp, 4, 4)
            bare16 = bare_inserts(cluster.create_database("bare16"), 16, sample)
            rows.append(
                (
                    "cached must_check, PG journal, 4 processes × 4 threads",
                    f"{sdk16:,.0f} checks/s",
                    f"bare INSERT;COMMIT, 16 connections: {bare16:,.0f}/s",
                    f"{sdk16 / bare16:.2f}×",
                )
            )
            if args.journal_only:
                _table(rows)
                return
            p99, bare_p99 = snapshot_lookups(cluster.create_database("snap"), tmp, args.entries)
            rows.append(
                (
                    f"snapshot profile_for p99, {args.entries:,} entries",
                    f"{p99:,.0f} µs",
                    f"bare indexed SELECT p99: {bare_p99:,.0f} µs",
                    f"{p99 / bare_p99:.2f}×",
                )
            )
            took, loaded = month_report(cluster.create_database("rep"), tmp, args.records)
            rows.append(
                (
                    f"monthly report, {args.records:,} records in the month",
                    f"{took:.2f} s",
                    f"(loading them took {loaded:.0f} s)",
                    "",
                )
            )
    finally:
        cluster.stop()
    _table(rows)


def _table(rows: list[tuple[str, str, str, str]]) -> None:
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    heads = ("benchmark", "figure", "floor (same run)", "ratio")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(heads, width, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) + " |")


if __name__ == "__main__":
    main()
