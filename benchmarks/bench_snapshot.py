"""Snapshot benchmark: import, incremental sync, lookup latency, disk size, peak memory.

Builds a snapshot of N synthetic list entries by importing a generated export
file (gzip NDJSON, as ``GET /v1/lists/export`` serves it), applies change-feed
pages on top, then measures lookups through :class:`Snapshot` against a bare
indexed ``SELECT`` on the same file (what SQLite alone costs).

    .venv/bin/python benchmarks/bench_snapshot.py                    # 1 000 000 entries
    .venv/bin/python benchmarks/bench_snapshot.py --entries 10000000 --dir /var/tmp/snap

10 million entries need about 5 GB of free disk in ``--dir`` (export file,
snapshot and the build file during import) and take several minutes to build.
Not run by CI.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from credit_check_sdk._client import ChangesPage
from credit_check_sdk.snapshot import Snapshot

CATEGORIES = [
    "court_judgment_defaulter",
    "major_tax_violation",
    "wage_arrears",
    "safety_production",
]


def subject(i: int) -> str:
    # USCC-shaped, unique per i; checksums do not matter to the snapshot.
    return f"9144{i:014d}"


def make_entry(n: int, subjects: int, rng: random.Random) -> dict[str, Any]:
    return {
        "entry_id": f"BL-{n:010d}",
        "subject_id": subject(rng.randrange(subjects)),
        "list": "black" if rng.random() < 0.8 else "red",
        "category": rng.choice(CATEGORIES),
        "authority": "中山市中级人民法院",
        "basis": "（2025）粤20执1234号",
        "listed_on": "2025-01-10",
        "expires_on": "2028-01-10" if rng.random() < 0.5 else None,
        "status": "active",
        "updated_at": "2026-11-20T10:00:00+08:00",
    }


def write_export(path: Path, entries: int, subjects: int, seed: int) -> None:
    rng = random.Random(seed)
    head = {"cursor": f"s{entries}", "as_of": "2026-11-29T08:00:00+08:00", "count": entries}
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(json.dumps(head).encode() + b"\n")
        buf: list[bytes] = []
        for n in range(entries):
            buf.append(json.dumps(make_entry(n, subjects, rng), ensure_ascii=False).encode())
            if len(buf) >= 10_000:
                f.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            f.write(b"\n".join(buf) + b"\n")


def percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    qs = statistics.quantiles(samples_ns, n=100, method="inclusive")
    return qs[49] / 1000, qs[98] / 1000, max(samples_ns) / 1000


def peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KiB elsewhere


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--changes", type=int, default=50_000, help="changes applied as pages")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: temp)")
    parser.add_argument("--seed", type=int, default=20181130)
    args = parser.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
    work.mkdir(parents=True, exist_ok=True)
    subjects = max(1, args.entries // 2)  # about two entries a listed subject
    rows: list[tuple[str, str]] = []

    export = work / "export.ndjson.gz"
    t0 = time.perf_counter()
    write_export(export, args.entries, subjects, args.seed)
    gen_s = time.perf_counter() - t0
    rows.append(
        ("export file generated", f"{gen_s:.1f} s, {export.stat().st_size / 2**20:.0f} MiB")
    )
    rss_before = peak_rss_mib()

    snap = Snapshot(work / "data")
    t0 = time.perf_counter()
    result = snap.import_export(export)
    imp_s = time.perf_counter() - t0
    rows.append(("import", f"{result.entries / imp_s:,.0f} entries/s ({imp_s:.1f} s)"))
    rows.append(("peak RSS before / after import", f"{rss_before:.0f} / {peak_rss_mib():.0f} MiB"))

    # Incremental sync: pages of 5000 changes (new entries and updates), one transaction each.
    rng = random.Random(args.seed + 1)
    pages: list[ChangesPage] = []
    seq = args.entries
    for start in range(0, args.changes, 5000):
        changes = []
        for _ in range(min(5000, args.changes - start)):
            seq += 1
            n = seq if rng.random() < 0.5 else rng.randrange(args.entries)
            changes.append({"seq": seq, "op": "upsert", "entry": make_entry(n, subjects, rng)})
        pages.append(
            ChangesPage.model_validate(
                {
                    "changes": changes,
                    "next_cursor": f"s{seq}",
                    "has_more": False,
                    "as_of": "2026-11-29T09:00:00+08:00",
                }
            )
        )
    t0 = time.perf_counter()
    applied = sum(snap.apply(p) for p in pages)
    sync_s = time.perf_counter() - t0
    rows.append(
        ("sync (apply pages of 5000)", f"{applied / sync_s:,.0f} changes/s ({sync_s:.1f} s)")
    )

    status = snap.status()
    assert status.path is not None
    rows.append(
        ("entries / disk size", f"{status.entries:,} / {status.size_bytes / 2**20:.0f} MiB")
    )

    probe = [subject(rng.randrange(subjects)) for _ in range(args.lookups)]
    for s in probe[:2000]:  # warm the page cache and the connection pool alike
        snap.entries_for(s)

    def timed(fn: Any) -> list[int]:
        out = []
        for s in probe:
            t = time.perf_counter_ns()
            fn(s)
            out.append(time.perf_counter_ns() - t)
        return out

    bare = sqlite3.connect(status.path)
    sql = "SELECT body FROM entries WHERE subject_id = ?"
    found = sum(1 for s in probe if bare.execute(sql, (s,)).fetchall())
    results = {
        "bare SELECT (no parsing)": timed(lambda s: bare.execute(sql, (s,)).fetchall()),
        "Snapshot.entries_for": timed(snap.entries_for),
        "Snapshot.profile_for": timed(lambda s: snap.profile_for(s, "legal_entity")),
    }
    bare.close()
    rows.append(("lookups (subjects with entries)", f"{args.lookups:,} ({found:,} found)"))
    for name, samples in results.items():
        p50, p99, worst = percentiles(samples)
        rows.append((f"lookup {name}", f"p50 {p50:.1f} µs, p99 {p99:.1f} µs, max {worst:.0f} µs"))
    rows.append(("peak RSS (whole run)", f"{peak_rss_mib():.0f} MiB"))
    snap.close()

    width = max(len(k) for k, _ in rows)
    print(f"snapshot benchmark, {args.entries:,} entries, SQLite {sqlite3.sqlite_version}")
    print("-" * (width + 50))
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"work directory: {work}")


if __name__ == "__main__":
    main()
