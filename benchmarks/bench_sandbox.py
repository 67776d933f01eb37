"""Sandbox platform benchmarks: seeding speed and profile look-ups per second.

Run from the repository root (needs the ``sandbox`` extra)::

    # profile look-ups/s against a sandbox process with 20,000 subjects, 8 client threads, 10 s
    python benchmarks/bench_sandbox.py

    # also time seeding 1,000,000 list entries into a fresh SQLite file (about 1M subjects)
    python benchmarks/bench_sandbox.py --seed-entries 1000000

    # options: --subjects N  --threads N  --seconds S  --seed-entries N

CI never runs this script; it prints a table of what it measured.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from credit_check_sdk.sandbox import db
from credit_check_sdk.sandbox.process import SandboxProcess
from credit_check_sdk.sandbox.seed import seed_database


def bench_seed(entries: int) -> list[tuple[str, str]]:
    """Seed a fresh SQLite file with about ``entries`` list entries."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.db"
        engine = db.make_engine(f"sqlite:///{path}")
        started = time.perf_counter()
        stats = seed_database(engine, seed_size=entries, entries_per_subject=1.0)
        elapsed = time.perf_counter() - started
        engine.dispose()
        assert stats is not None
        size_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
        return [
            ("seed: subjects", f"{stats.subjects:,}"),
            ("seed: list entries", f"{stats.entries:,}"),
            ("seed: relations", f"{stats.relations:,}"),
            ("seed: seconds", f"{elapsed:.1f}"),
            ("seed: entries/s", f"{stats.entries / elapsed:,.0f}"),
            ("seed: database MB", f"{size_mb:,.0f}"),
        ]


def bench_lookups(subjects: int, threads: int, seconds: float) -> list[tuple[str, str]]:
    """Signed profile look-ups from a thread pool against a sandbox process."""
    started = time.perf_counter()
    with SandboxProcess(seed_size=subjects, admin=True) as sandbox:
        ready = time.perf_counter() - started
        r = sandbox.request("GET", "/v1/lists/export", stream=True)
        lines = gzip.decompress(r.raw.read()).decode().splitlines()[1:]
        ids = sorted({json.loads(line)["subject_id"] for line in lines})
        rng = random.Random(7)
        latencies: list[float] = []
        errors = 0
        lock = threading.Lock()
        stop_at = time.perf_counter() + seconds

        def worker() -> None:
            nonlocal errors
            local: list[float] = []
            bad = 0
            while time.perf_counter() < stop_at:
                sid = rng.choice(ids)
                t0 = time.perf_counter()
                resp = sandbox.request("GET", f"/v1/subjects/{sid}/profile")
                local.append(time.perf_counter() - t0)
                if resp.status_code != 200:
                    bad += 1
            with lock:
                latencies.extend(local)
                errors += bad

        # One session per thread would be fairer to requests; SandboxProcess.request shares
        # one pooled session, which is what the SDK's client does as well.
        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            for _ in range(threads):
                pool.submit(worker)
        wall = time.perf_counter() - t0
    latencies.sort()
    n = len(latencies)
    return [
        ("lookups: subjects seeded", f"{subjects:,} (+ fixtures), started in {ready:.1f} s"),
        ("lookups: client threads", str(threads)),
        ("lookups: requests", f"{n:,} ({errors} not 200)"),
        ("lookups: profiles/s", f"{n / wall:,.0f}"),
        ("lookups: p50 ms", f"{statistics.median(latencies) * 1000:.1f}"),
        ("lookups: p95 ms", f"{latencies[int(n * 0.95)] * 1000:.1f}"),
        ("lookups: p99 ms", f"{latencies[int(n * 0.99)] * 1000:.1f}"),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--subjects", type=int, default=20_000, help="subjects for the look-up run")
    p.add_argument("--threads", type=int, default=8, help="client threads")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the look-up run")
    p.add_argument("--seed-entries", type=int, default=0,
                   help="also time seeding this many list entries (e.g. 1000000)")
    args = p.parse_args()
    rows: list[tuple[str, str]] = []
    if args.seed_entries:
        rows += bench_seed(args.seed_entries)
    rows += bench_lookups(args.subjects, args.threads, args.seconds)
    width = max(len(k) for k, _ in rows)
    print(f"{'measure'.ljust(width)} | value")
    print(f"{'-' * width}-+-{'-' * 30}")
    for k, v in rows:
        print(f"{k.ljust(width)} | {v}")


if __name__ == "__main__":
    main()
