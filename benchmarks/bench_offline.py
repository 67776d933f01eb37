"""The offline mode against a large sandbox: full snapshot sync and checks with the breaker open.

Run (not part of CI; needs a seeded sandbox database, which `bench_sandbox.py`
leaves at /var/tmp/credit-sandbox-bench/sandbox-1m.db, or seeds one here)::

    .venv/bin/python benchmarks/bench_offline.py --db /var/tmp/credit-sandbox-bench/sandbox-1m.db

Prints, each beside its floor measured in the same run:

1. a full sync of every list entry from the sandbox into an empty snapshot
   (entries/s, disk size, peak memory): the list export loaded while it
   downloads, then the change feed from its cursor. Its floors: the export
   download alone (bytes thrown away: the server's share) and an import of the
   same export from a local file (the SDK's share); the sync overlaps the two;
2. the same rebuild from the change feed alone (what a platform without the
   export gets) vs the signed change-feed requests alone, parsed, not stored;
3. ``must_check`` latency with the platform down and the circuit breaker open
   (p50/p99) vs a bare ``Snapshot.entries_for`` lookup of the same subjects.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from credit_check_sandbox.process import SandboxProcess

from credit_check_sdk import CreditChecker
from credit_check_sdk._client import PlatformClient
from credit_check_sdk._sync import Syncer
from credit_check_sdk.snapshot import Snapshot


class _Discard:
    """A download sink that keeps nothing (the server's and the network's share alone)."""

    def write(self, data: bytes, /) -> int:
        return len(data)

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return 0

    def truncate(self, size: int | None = None, /) -> int:
        return 0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1e6


def _breaker_open_checks(
    sandbox: SandboxProcess, client: PlatformClient, checker: CreditChecker, n: int
) -> tuple[list[float], list[float]]:
    """``must_check`` timings with the platform down and the breaker open, and bare lookups."""
    snapshot = checker._offline.snapshot
    assert snapshot is not None
    subjects = random.Random(7).sample(
        sorted({c.entry.subject_id for c in client.list_changes(limit=5000).changes}), k=1000
    )
    sandbox.admin("PUT", "/faults", json={"outage": True})
    checker.must_check(subjects[0], "bidding")  # opens the breaker
    assert checker.health()["breaker"]["state"] == "open"
    checks: list[float] = []
    for i in range(n):
        t = time.perf_counter()
        d = checker.must_check(subjects[i % len(subjects)], "bidding")
        checks.append(time.perf_counter() - t)
        assert d.source == "snapshot"
    bare: list[float] = []
    for i in range(n):
        t = time.perf_counter()
        snapshot.entries_for(subjects[i % len(subjects)])
        bare.append(time.perf_counter() - t)
    sandbox.admin("PUT", "/faults", json={"outage": False})
    return checks, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--db",
        type=Path,
        # The same file bench_sandbox.py seeds, so a 1M-entry database is built once.
        default=Path("/var/tmp/credit-sandbox-bench/sandbox-1m.db"),  # noqa: S108 - a benchmark's scratch file
    )
    parser.add_argument("--seed-size", type=int, default=1_000_000)
    parser.add_argument("--checks", type=int, default=2_000)
    args = parser.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    with SandboxProcess(db_path=args.db, seed_size=args.seed_size, ready_timeout=900) as sandbox:
        client = PlatformClient(sandbox.base_url, sandbox.app_id, sandbox.app_secret, timeout=60)
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            # First, while the process is fresh: its peak RSS is then the sync's own.
            rss_before = _rss_mb()
            with sandbox.checker(
                Path(tmp), timeout=1.0, breaker_threshold=1, breaker_cooldown=3600
            ) as checker:
                t0 = time.perf_counter()
                result = checker.sync_snapshot(timeout=60)
                sync_s = time.perf_counter() - t0
                rss_after = _rss_mb()
                size = sum(p.stat().st_size for p in Path(tmp).glob("snapshot.*"))
                assert checker.health()["snapshot"]["usable"]
                checks, bare = _breaker_open_checks(sandbox, client, checker, args.checks)

        # Floors of the export path: the download alone, then an import of its file.
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            export = Path(tmp) / "lists.ndjson.gz"
            t0 = time.perf_counter()
            client.export_lists(_Discard())
            download_s = time.perf_counter() - t0
            with open(export, "wb") as f:
                client.export_lists(f)
            with Snapshot(Path(tmp) / "import") as snap:
                t0 = time.perf_counter()
                imported = snap.import_export(export).entries
                import_s = time.perf_counter() - t0

        # The rebuild a platform without the export gets, and its floor: the
        # change-feed pages alone, fetched and parsed, not stored.
        t0 = time.perf_counter()
        cursor, fetched, related = None, 0, 0
        while True:
            page = client.list_changes(cursor, limit=5000, timeout=60)
            fetched += len(page.changes)
            related += len(page.relations)  # contract v2: relations travel in the feed too
            cursor = page.next_cursor
            if not page.has_more:
                break
        feed_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Snapshot(Path(tmp)) as snap:
            t0 = time.perf_counter()
            by_feed = Syncer(snap, client, use_export=False).sync_once(timeout=60)
            by_feed_s = time.perf_counter() - t0
        client.close()

    rows = [
        (
            f"full sync of {result.applied:,} entries (and {related:,} relations) from the sandbox",
            f"{result.applied / sync_s:,.0f} entries/s ({sync_s:.1f} s)",
            f"export download alone: {imported / download_s:,.0f}/s ({download_s:.1f} s); "
            f"import of its file: {imported / import_s:,.0f}/s ({import_s:.1f} s)",
            f"{sync_s / max(download_s, import_s):.2f}× the slower",
        ),
        (
            "snapshot on disk / peak memory of the sync",
            f"{size / 1e6:,.0f} MB / {rss_after:,.0f} MB RSS",
            f"RSS before the sync: {rss_before:,.0f} MB",
            "-",
        ),
        (
            f"rebuild from the change feed only ({by_feed.applied:,} entry and "
            f"{related:,} relation changes)",
            f"{(by_feed.applied + related) / by_feed_s:,.0f} changes/s ({by_feed_s:.1f} s)",
            f"change feed alone: {(fetched + related) / feed_s:,.0f}/s ({feed_s:.1f} s)",
            f"{by_feed_s / feed_s:.2f}×",
        ),
        (
            f"must_check, breaker open ({args.checks:,} checks, journal write incl.)",
            f"p50 {_pct(checks, 50):,.0f} µs, p99 {_pct(checks, 99):,.0f} µs",
            f"entries_for: p50 {_pct(bare, 50):,.0f} µs, p99 {_pct(bare, 99):,.0f} µs",
            f"{statistics.median(checks) / statistics.median(bare):.1f}×",
        ),
    ]
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    head = ("benchmark", "figure", "floor (same run)", "ratio")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, width, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) + " |")


if __name__ == "__main__":
    main()
