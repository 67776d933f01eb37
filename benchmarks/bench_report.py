"""Monthly report generation over a large journal, against a bare SQL aggregation.

Run: ``python -m benchmarks.bench_report [--records 1000000] [--dir /path]``

A journal file is filled by bulk SQL inserts into the journal's own schema
(not through ``Journal.append``, which would fsync every commit): check
records over October and early November 2026 in Asia/Shanghai, about a
quarter with measures, a few degraded with live re-checks, and action
records (applied, not applied, overridden) for most checks with measures.

Then, each in a fresh child process so that peak memory (``ru_maxrss``) is
its own (``VmHWM``), best of ``--repeat`` runs:

- ``report``: :func:`credit_check_sdk.report.build_monthly_report` for 2026-10
  and its JSON (the wire document and the local details the CLI shows:
  no-feedback list, degraded checks, weeks); then, timed apart, the
  restriction and incentive cases, which are read on first use (the workbook);
- ``bare SQL (columns)``: the same counts as plain ``GROUP BY`` queries the way
  a DBA would write them on the journal's schema 3: on the report columns
  (``outcome``, ``category``, ``source``, ``action``) and the
  ``record_measures`` table (outcomes by matter, measures triggered and
  suspended, actions by measure, degraded checks, records in the month), with
  none of the report's rules (latest action per measure, suspended measures,
  re-checks) and no details;
- ``bare SQL (json_extract)``: the same counts read out of the bodies with
  ``json_extract`` / ``json_each``, as on schema 2 (for comparison only).

The target is the report within 3x the bare column aggregation and under 10 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

CST = timezone(timedelta(hours=8))
MATTERS = {
    "bidding": ["P-BID-EXCLUDE", "P-BID-PERSONNEL-REVIEW", "I-BID-POINTS"],
    "procurement": ["P-BID-EXCLUDE", "P-BID-PERSONNEL-REVIEW"],
    "licensing": ["P-LIC-STRICT-REVIEW", "I-LIC-GREEN", "I-LIC-TOLERANCE"],
    "subsidy": ["P-SUB-RESTRICT", "I-SUB-PRIORITY"],
    "honours": ["P-HON-EXCLUDE", "I-HON-PRIORITY"],
    "inspection": ["P-INS-KEY-SUPERVISION", "I-INS-REDUCED"],
}


def _utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def generate(path: Path, n: int, seed: int = 7) -> None:
    """Fill a journal file with about ``n`` records by bulk insert."""
    from credit_check_sdk.journal import Journal, _derived

    Journal(path).close()  # the schema, exactly as the SDK creates it
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=CST)
    span = (datetime(2026, 11, 4, tzinfo=CST) - start).total_seconds()
    rows: list[tuple[Any, ...]] = []
    measure_rows: list[tuple[int, int, Any, Any]] = []
    prev: str | None = None

    def add(record: dict[str, Any], at: datetime) -> None:
        nonlocal prev
        record["prev_hash"] = prev
        body = _dump(record)
        digest = hashlib.sha256(body.encode()).hexdigest()
        record["hash"] = digest
        check_id = record["id"] if record["type"] == "check" else record["check_id"]
        # The report columns and measure rows, as Journal.append writes them.
        columns, measures = _derived(record)
        seq = len(rows) + 1  # a fresh file: rows get seq 1, 2, 3, ...
        measure_rows.extend((seq, *m) for m in measures)
        rows.append(
            (
                record["id"],
                record["type"],
                check_id,
                _utc(at),
                _dump(record),
                digest,
                prev,
                *columns,
            )
        )
        prev = digest

    times = sorted(rng.random() * span for _ in range(int(n * 0.72)))
    for offset in times:
        if len(rows) >= n:
            break
        at = start + timedelta(seconds=offset)
        matter = rng.choice(list(MATTERS))
        measures: list[dict[str, Any]] = []
        outcome = "normal"
        roll = rng.random()
        source = "live" if rng.random() > 0.04 else rng.choice(["snapshot", "none"])
        if source == "none":
            outcome = "review"
        elif roll < 0.15:
            pid = MATTERS[matter][0]
            status = "suspended" if rng.random() < 0.05 else "applied"
            measures.append(
                {"id": pid, "status": status, "entry_ids": [f"BL-{rng.randrange(10**6)}"]}
            )
            outcome = "restriction" if status == "applied" else "normal"
        elif roll < 0.25:
            iid = MATTERS[matter][-1]
            measures.append(
                {"id": iid, "status": "applied", "entry_ids": [f"RL-{rng.randrange(10**6)}"]}
            )
            outcome = "green_channel" if "GREEN" in iid else "normal"
        cid = str(uuid.uuid4())
        check = {
            "type": "check",
            "id": cid,
            "agency_id": "AG-442000-0001",
            "checked_at": at.isoformat(),
            "department": "中山市市场监督管理局",
            "operator": f"op-{rng.randrange(500)}",
            "matter": {"category": matter, "code": "GC-2026-118", "case_id": f"case-{len(rows)}"},
            "subject": {"id": "91442000MA4UJ2KQ57", "kind": "legal_entity"},
            "outcome": outcome,
            "measures": measures,
            "source": source,
            "data_as_of": None if source == "none" else at.isoformat(),
            "recheck_of": None,
            "catalog_version": "2026.11.1",
            "sdk_version": "0.1.0",
        }
        add(check, at)
        if source != "live" and rng.random() < 0.8:
            again = dict(check, id=str(uuid.uuid4()), recheck_of=cid, source="live")
            again["outcome"] = "restriction" if rng.random() < 0.2 else "normal"
            again.pop("hash", None)
            add(again, at + timedelta(minutes=30))
        if measures and rng.random() < 0.85:
            what = rng.choices(["applied", "not_applied", "overridden"], [0.9, 0.05, 0.05])[0]
            acted = at + timedelta(hours=rng.random() * 72)
            add(
                {
                    "type": "action",
                    "id": str(uuid.uuid4()),
                    "check_id": cid,
                    "agency_id": "AG-442000-0001",
                    "acted_at": acted.isoformat(),
                    "action": what,
                    "measure_ids": [m["id"] for m in measures],
                    "reason": None if what == "applied" else "经集体研究决定",
                    "operator": "op-7",
                },
                acted,
            )
        elif not measures and rng.random() < 0.5:
            acted = at + timedelta(minutes=5)
            add(
                {
                    "type": "action",
                    "id": str(uuid.uuid4()),
                    "check_id": cid,
                    "agency_id": "AG-442000-0001",
                    "acted_at": acted.isoformat(),
                    "action": "applied",
                    "measure_ids": [],
                    "reason": None,
                    "operator": "op-7",
                },
                acted,
            )
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO records(id, type, check_id, at, body, hash, prev_hash,"
        " outcome, category, source, recheck_of, action) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO record_measures(seq, n, measure_id, status) VALUES (?,?,?,?)", measure_rows
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# The counts out of the bodies, as they had to be read before schema 3.
_BARE_JSON = (
    """SELECT json_extract(body, '$.outcome'), json_extract(body, '$.matter.category'), COUNT(*)
       FROM records WHERE type = 'check' AND at >= ? AND at < ? GROUP BY 1, 2""",
    """SELECT json_extract(m.value, '$.id'), json_extract(m.value, '$.status'), COUNT(*)
       FROM records r, json_each(r.body, '$.measures') m
       WHERE r.type = 'check' AND r.at >= ? AND r.at < ? GROUP BY 1, 2""",
    """SELECT json_extract(a.body, '$.action'), m.value, COUNT(*)
       FROM records a, json_each(a.body, '$.measure_ids') m
       WHERE a.type = 'action' AND a.check_id IN
             (SELECT id FROM records WHERE type = 'check' AND at >= ? AND at < ?)
       GROUP BY 1, 2""",
    """SELECT COUNT(*) FROM records WHERE type = 'check' AND at >= ? AND at < ?
       AND json_extract(body, '$.source') IN ('snapshot', 'none')""",
    "SELECT COUNT(*) FROM records WHERE at >= ? AND at < ?",
)

# The same counts on the report columns and record_measures (schema 3).
_BARE_COLUMNS = (
    """SELECT outcome, category, COUNT(*)
       FROM records WHERE type = 'check' AND at >= ? AND at < ? GROUP BY 1, 2""",
    """SELECT m.measure_id, m.status, COUNT(*)
       FROM record_measures m JOIN records r ON r.seq = m.seq
       WHERE r.type = 'check' AND r.at >= ? AND r.at < ? GROUP BY 1, 2""",
    """SELECT a.action, m.measure_id, COUNT(*)
       FROM records a JOIN record_measures m ON m.seq = a.seq
       WHERE a.type = 'action' AND a.check_id IN
             (SELECT id FROM records WHERE type = 'check' AND at >= ? AND at < ?)
       GROUP BY 1, 2""",
    """SELECT COUNT(*) FROM records WHERE type = 'check' AND at >= ? AND at < ?
       AND source IN ('snapshot', 'none')""",
    "SELECT COUNT(*) FROM records WHERE at >= ? AND at < ?",
)
_KINDS = {"sql": "bare SQL (columns)", "sql-json": "bare SQL (json_extract)", "report": "report"}


def child(kind: str, db: str) -> dict[str, Any]:
    from credit_check_sdk.journal import Journal
    from credit_check_sdk.report import build_monthly_report

    lo, hi = "2026-09-30T16:00:00.000000Z", "2026-10-31T16:00:00.000000Z"
    started = time.perf_counter()
    if kind in ("sql", "sql-json"):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        queries = _BARE_COLUMNS if kind == "sql" else _BARE_JSON
        rows = sum(len(conn.execute(q, (lo, hi)).fetchall()) for q in queries)
        conn.close()
        summary: Any = rows
    else:
        from credit_check_sdk.report import report_json

        with Journal(db) as journal:
            report = build_monthly_report(
                journal,
                agency_id="AG-442000-0001",
                period="2026-10",
                generated_at=datetime(2026, 11, 4, tzinfo=CST),
            )
            document = report_json(report)
            seconds = time.perf_counter() - started
            peak = _peak_kib()
            # The cases, read on demand (what the workbook adds), timed apart.
            started = time.perf_counter()
            cases = len(report.details.cases)
            cases_seconds = time.perf_counter() - started
        summary = {
            "checks": sum(report.totals.values()),
            "records": report.record_count,
            "no_feedback": len(report.details.no_feedback),
            "json_sha256": hashlib.sha256(document.encode()).hexdigest()[:16],
            "cases": cases,
        }
        return {
            "seconds": seconds,
            "peak_mib": peak / 1024,
            "cases_seconds": cases_seconds,
            "cases_peak_mib": _peak_kib() / 1024,
            "summary": summary,
        }
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mib": _peak_kib() / 1024, "summary": summary}


def _peak_kib() -> int:
    """This process's peak resident memory. ``ru_maxrss`` would not do: on Linux it
    keeps the parent's high-water mark across fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_child(kind: str, db: Path) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - this script re-runs itself with fixed arguments
        [sys.executable, "-m", "benchmarks.bench_report", "--child", kind, "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", help="where to put the journal (default: a temporary folder)")
    parser.add_argument("--child", choices=tuple(_KINDS), help=argparse.SUPPRESS)
    parser.add_argument(
        "--reuse", action="store_true", help="keep an existing journal in --dir (no regeneration)"
    )
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.db)))
        return
    folder = Path(args.dir or tempfile.mkdtemp(prefix="bench-report-"))
    db = folder / "journal.sqlite3"
    started = time.perf_counter()
    if not (args.reuse and db.exists()):
        if db.exists():
            db.unlink()
        generate(db, args.records)
    count = sqlite3.connect(db).execute("SELECT COUNT(*) FROM records").fetchone()[0]
    print(
        f"journal: {count:,} records, {db.stat().st_size / 2**20:.0f} MiB,"
        f" generated in {time.perf_counter() - started:.1f} s ({db})"
    )
    results: dict[str, dict[str, Any]] = {}
    results_runs: dict[str, list[dict[str, Any]]] = {}
    for kind in ("sql-json", "sql", "report"):
        runs = results_runs[kind] = [run_child(kind, db) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["seconds"])
        results[kind] = best
        print(
            f"{_KINDS[kind]:>23}: best {best['seconds']:.2f} s,"
            f" median {sorted(r['seconds'] for r in runs)[len(runs) // 2]:.2f} s,"
            f" peak RSS {max(r['peak_mib'] for r in runs):.0f} MiB  {best['summary']}"
        )
    cases = sorted(float(r["cases_seconds"]) for r in results_runs["report"])
    print(
        f"{'cases (on first use)':>23}: best {cases[0]:.2f} s,"
        f" median {cases[len(cases) // 2]:.2f} s, peak RSS with them"
        f" {max(r['cases_peak_mib'] for r in results_runs['report']):.0f} MiB"
    )
    ratio = results["report"]["seconds"] / results["sql"]["seconds"]
    ok = ratio <= 3 and results["report"]["seconds"] < 10
    print(
        f"report / bare SQL (columns): {ratio:.2f}x (target <= 3x and < 10 s):"
        f" {'OK' if ok else 'MISSED'}"
    )
    old = results["report"]["seconds"] / results["sql-json"]["seconds"]
    print(f"report / bare SQL (json_extract): {old:.2f}x")


if __name__ == "__main__":
    main()
