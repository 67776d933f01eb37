"""Soak: 8 threads of cached and live checks for minutes; does anything grow but the journal?

Run from the repository root (needs the ``sandbox`` extra)::

    python benchmarks/bench_soak.py               # 10 minutes
    python benchmarks/bench_soak.py --minutes 2.5 # a short run

One :class:`CreditChecker` against the sandbox process (seeded with 2,000
subjects), 8 threads: four check with the profile cache (most checks are
cache hits), four with ``fresh=True`` (every check live). Uploads, the
snapshot sync and the re-check queue run in the background as in production.
After a warm-up (a tenth of the run, at least 45 s: past the first
incremental snapshot sync, which opens the snapshot's writer connection) the process's resident
memory (RSS), open file descriptors, threads and the files in ``data_dir``
are taken as the start; every minute a line shows them again, and at the end
the growth is judged:

* open files and threads must not grow, nor sockets beyond one per thread;
* RSS may grow by at most 16 MiB (allocator noise), nothing per check;
* the journal may grow, but its size per record must stay flat (±15 %);
* the other files of ``data_dir`` (snapshot, re-check queue, relations,
  their write-ahead logs) may grow by at most 16 MiB.

Anything beyond that is printed as FAIL and the exit status is 1. ``make
bench`` does not run this script (it takes ten minutes); CI never does.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from credit_check_sandbox.process import SandboxProcess  # noqa: E402
from credit_check_sandbox.seed import _uscc  # noqa: E402

from credit_check_sdk import CreditChecker  # noqa: E402

THREADS = 8
SUBJECTS = [_uscc(i) for i in range(1500)]
MiB = 1024 * 1024
RSS_SLACK = 16 * MiB
FILES_SLACK = 16 * MiB
PER_RECORD_SLACK = 0.15


def open_file_names() -> list[str]:
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/"):
            names.append(target)
    return sorted(names)


def open_fds() -> dict[str, int]:
    """Open file descriptors by kind: ``file`` (anything on disk), ``socket``, ``other``."""
    kinds = {"file": 0, "socket": 0, "other": 0}
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the descriptor listdir itself used, gone already
        if target.startswith("/"):
            kinds["file"] += 1
        elif target.startswith("socket:"):
            kinds["socket"] += 1
        else:
            kinds["other"] += 1
    return kinds


@dataclass(frozen=True)
class Sample:
    at: float
    checks: int
    rss: int
    files: int
    sockets: int
    fds: int
    threads: int
    records: int
    journal_bytes: int
    other_bytes: int

    @property
    def per_record(self) -> float:
        return self.journal_bytes / max(1, self.records)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def file_sizes(data_dir: Path) -> tuple[int, int]:
    """Bytes of the journal (with its WAL) and of everything else in ``data_dir``."""
    journal = other = 0
    for path in data_dir.rglob("*"):
        if path.is_file():
            size = path.stat().st_size
            if path.name.startswith("journal.sqlite3"):
                journal += size
            else:
                other += size
    return journal, other


def sample(checker: CreditChecker, data_dir: Path, checks: int, started: float) -> Sample:
    journal, other = file_sizes(data_dir)
    counts = checker.journal.counts()
    fds = open_fds()
    return Sample(
        at=time.monotonic() - started,
        checks=checks,
        rss=rss_bytes(),
        files=fds["file"],
        sockets=fds["socket"],
        fds=sum(fds.values()),
        threads=threading.active_count(),
        records=sum(counts.values()),
        journal_bytes=journal,
        other_bytes=other,
    )


def show(label: str, s: Sample) -> None:
    print(
        f"| {label} | {s.at:7.0f} | {s.checks:9,} | {s.rss / MiB:7.1f} | {s.files:3} | "
        f"{s.sockets:3} | "
        f"{s.threads:3} | {s.records:9,} | {s.per_record:6.0f} | {s.other_bytes / MiB:7.2f} |",
        flush=True,
    )


def judge(start: Sample, end: Sample) -> list[str]:
    failures = []
    if end.files > start.files:
        failures.append(f"open files grew from {start.files} to {end.files}")
    # A keep-alive connection closed by the server and opened again meanwhile moves
    # the count a little; one socket per thread at most (8 checks, 4 background).
    if end.sockets > start.sockets + 2 or end.sockets > THREADS + 4:
        failures.append(f"sockets grew from {start.sockets} to {end.sockets}")
    if end.threads > start.threads:
        failures.append(f"threads grew from {start.threads} to {end.threads}")
    if end.rss - start.rss > RSS_SLACK:
        failures.append(
            f"RSS grew by {(end.rss - start.rss) / MiB:.1f} MiB "
            f"({(end.rss - start.rss) / max(1, end.checks - start.checks):.0f} bytes a check)"
        )
    if abs(end.per_record - start.per_record) > PER_RECORD_SLACK * start.per_record:
        failures.append(
            f"journal bytes per record went from {start.per_record:.0f} to {end.per_record:.0f}"
        )
    grown = end.other_bytes - start.other_bytes
    if grown > FILES_SLACK:
        failures.append(f"data_dir besides the journal grew by {grown / MiB:.1f} MiB")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    seconds = args.minutes * 60
    # Past the first incremental sync (30 s in: the snapshot's writer connection opens).
    warm_up = max(45.0, seconds / 10)
    cores = len(os.sched_getaffinity(0))
    print(
        f"# {platform.processor() or platform.machine()}, {cores} cores, Python "
        f"{platform.python_version()}; {THREADS} threads (4 cached, 4 live), "
        f"{args.minutes:g} min after a {warm_up:.0f} s warm-up"
    )
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d, SandboxProcess(seed_size=2000) as sb:
        data_dir = Path(d) / "data"
        checker = sb.checker(data_dir, cache_ttl=300, sync_interval=30)
        stop = threading.Event()
        counts = [0] * THREADS
        errors: list[str] = []

        def work(i: int) -> None:
            rng = random.Random(i)
            live = i % 2 == 1
            while not stop.is_set():
                try:
                    checker.must_check(rng.choice(SUBJECTS), "bidding", fresh=live)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.1)
                counts[i] += 1

        started = time.monotonic()
        pool = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(THREADS)]
        for t in pool:
            t.start()
        print(
            "\n| when | seconds | checks | RSS MiB | open files | sockets | threads | records "
            "| bytes/record | other files MiB |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        time.sleep(warm_up)
        start = sample(checker, data_dir, sum(counts), started)
        files_at_start = open_file_names()
        show("start", start)
        end_at = time.monotonic() + seconds
        while time.monotonic() < end_at:
            time.sleep(min(60.0, max(0.0, end_at - time.monotonic())))
            show("  ", sample(checker, data_dir, sum(counts), started))
        end = sample(checker, data_dir, sum(counts), started)
        show("end", end)
        new_files = [n for n in open_file_names() if n not in files_at_start]
        stop.set()
        for t in pool:
            t.join(30)
        left = checker.flush(timeout=60)
        checker.close(timeout=10)
    rate = (end.checks - start.checks) / (end.at - start.at)
    print(f"\n{rate:,.0f} checks/s between start and end; {left} records left unsent at the end.")
    failures = judge(start, end)
    if end.files > start.files:
        print("files opened since the start:", *new_files, sep="\n  ")
    if errors:
        failures.append(f"{len(errors)} checks raised, e.g. {errors[0]}")
    if left:
        failures.append(f"{left} records were not uploaded at the end")
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("OK: nothing grew but the journal, at a steady size per record.")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
