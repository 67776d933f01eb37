"""Every speed goal of the SDK in one table: figure, floor measured in the same run, ratio.

Run: ``python benchmarks/bench_floor.py [--checks 400] [--rounds 3] [--dir DIR] [--only many ...]``
(``make bench`` runs it first).

Rows:

1. cached ``must_check`` from 1 thread, µs per check, against a bare durable insert
   of the same check record (WAL, ``synchronous=FULL``, one commit per record), the
   best of ``--rounds`` alternating runs of each;
2. cached ``must_check`` from 8 threads, checks per second, against bare durable
   inserts from 8 threads (the better of one shared connection behind a lock and
   one connection per thread);
3. and 4. ``fdatasync``/``fsync`` calls per check at 1 and 8 threads over
   ``--traced-checks`` checks (3,000: WAL checkpoints fall among them), counted
   by ``strace -f -c`` attached to a child process running the checks with the
   background uploader sending to a platform that accepts every record (the bare
   insert's count per record is shown beside it); the rows say so when strace is
   missing;
5. ``decide()`` against LaunchDarkly's ``variation()`` with events off;
6. ``must_check_many(1,000)`` over HTTP against the raw signed ``profiles:batch``
   requests (the same five, by ``requests``), best of 3 alternating rounds, the fake
   platform served by a process of its own, timed once the warm-up check's background
   work (snapshot sync, upload) is over;
7. the same ``must_check_many(1,000)`` against what its promise physically needs: those
   raw requests plus a bare durable insert of the 1,000 records it journaled (their
   stored bodies and inputs, byte for byte) in one transaction (WAL,
   ``synchronous=FULL``), each measured in the same rounds;
8. ``import credit_check_sdk`` and ``from credit_check_sdk import CreditChecker``,
   each timed inside a fresh interpreter (its start-up, shown beside, not counted),
   median of 7.

Each check workload runs in a child process of its own (``--workload``), so that
one row's threads, files and caches do not weigh on the next, against a fake
platform served by a process of its own, as a real platform is: its work
(answering profiles, taking uploads) is not counted as the checker's.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from credit_check_sdk import CreditChecker

HERE = Path(__file__).resolve().parent
SUBJECTS = 50
MANY = 1_000
SYNC_CALLS = ("fdatasync", "fsync")
#: The groups of rows ``--only`` picks from, in the table's order.
ROW_GROUPS = ("single", "threads", "syncs", "decide", "many", "import")


# --- the workload, run in a child process -------------------------------------------------


def company_ids(n: int) -> list[str]:
    """``n`` distinct valid unified social credit codes (the other scripts use these too)."""
    from stdnum.cn import uscc

    ids = []
    for i in range(n):
        body = f"91442000MA{i:07d}"
        ids.append(body + uscc.calc_check_digit(body))
    return ids


def _run_threads(threads: int, per_thread: int, op: Callable[[int, int], None]) -> float:
    """Run ``op(thread, n)`` ``per_thread`` times in each of ``threads`` threads; seconds."""
    start = threading.Barrier(threads + 1)

    def run(i: int) -> None:
        start.wait()
        for n in range(per_thread):
            op(i, n)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    t0 = time.perf_counter()
    start.wait()
    for t in pool:
        t.join()
    return time.perf_counter() - t0


def _bare_connection(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS r (seq INTEGER PRIMARY KEY, body TEXT)")
    return conn


_PLATFORM = """
import json, sys
from credit_check_sdk.testing import FakePlatform
fake = FakePlatform()
url = fake.serve()
for subject, kind in json.loads(sys.argv[1]):
    fake.add_entry(subject, "black", kind)
print(json.dumps([url, fake.app_id, fake.app_secret, fake.agency_id]), flush=True)
sys.stdin.readline()
fake.stop()
"""


@contextmanager
def served_platform(entries: list[tuple[str, str]]) -> Iterator[dict[str, str]]:
    """A fake platform (black ``entries``: subject id, kind) served over HTTP by a
    process of its own, as a real platform is: its work is not counted as the
    checker's (CPU, system calls). Yields the checker's settings for it."""
    server = subprocess.Popen(  # noqa: S603 - this interpreter, our own snippet
        [sys.executable, "-c", _PLATFORM, json.dumps(entries)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    url, app_id, app_secret, agency_id = json.loads(server.stdout.readline())
    try:
        yield {"base_url": url, "app_id": app_id, "app_secret": app_secret, "agency_id": agency_id}
    finally:
        server.stdin.write("end\n")
        server.stdin.flush()
        server.wait(timeout=30)


def workload(kind: str, threads: int, checks: int, folder: Path) -> None:
    """Set up, say READY, wait for a line on stdin, run ``checks`` operations, say the
    seconds taken, wait for a line, exit. ``kind``: checks, bare-shared or bare-own."""
    from credit_check_sdk import CreditChecker

    per_thread = max(1, checks // threads)
    subjects = company_ids(SUBJECTS)
    platform_ = served_platform([(subjects[0], "court_judgment_defaulter")])
    # The uploader sends to the fake platform, which accepts every record.
    settings = platform_.__enter__()
    checker = CreditChecker(**settings, data_dir=folder / "checks", cache_ttl=3600)
    for s in subjects:
        checker.must_check(s, "bidding")  # warm the cache (live profiles)
    sample = json.dumps(checker.journal.get(checker.must_check(subjects[0], "bidding").check_id))
    checker.flush(timeout=10)
    op: Callable[[int, int], None]
    if kind == "checks":

        def op(i: int, n: int) -> None:
            checker.must_check(subjects[(i + n) % SUBJECTS], "bidding")

    elif kind == "bare-shared":
        shared = _bare_connection(folder / "bare-shared.sqlite3")
        lock = threading.Lock()

        def op(i: int, n: int) -> None:
            with lock:
                shared.execute("INSERT INTO r (body) VALUES (?)", (sample,))

    else:
        db = folder / "bare-own.sqlite3"
        _bare_connection(db).close()
        local = threading.local()

        def op(i: int, n: int) -> None:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = _bare_connection(db)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO r (body) VALUES (?)", (sample,))
            conn.execute("COMMIT")

        if threads == 1:
            # Open it before the clock (and strace) start, like the others.
            local.conn = _bare_connection(db)
    print(f"READY {len(sample)}", flush=True)
    sys.stdin.readline()
    elapsed = _run_threads(threads, per_thread, op)
    if kind == "checks":
        # The uploader keeps running: the marks and claims of what it sent are counted.
        checker.flush(timeout=30)
    print(f"DONE {elapsed:.6f} {per_thread * threads}", flush=True)
    sys.stdin.readline()
    checker.close(timeout=5)
    platform_.__exit__(None, None, None)


# --- the parent: run workloads, count syscalls ------------------------------------------------


class Workload:
    """A child process running :func:`workload`, optionally under ``strace -c``."""

    def __init__(self, kind: str, threads: int, checks: int, folder: Path, trace: bool) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - this script, with fixed arguments
            [sys.executable, __file__, "--workload", kind, str(threads), str(checks), str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline().split()
        if not ready or ready[0] != "READY":
            raise RuntimeError(f"workload {kind} did not start: {ready}")
        self.record_bytes = int(ready[1])
        self.trace_file = folder / f"strace-{kind}-{threads}.txt"
        self.strace: subprocess.Popen[str] | None = None
        if trace:
            tids = os.listdir(f"/proc/{self.proc.pid}/task")
            args = ["strace", "-f", "-c", "-e", "trace=fdatasync,fsync,pwrite64"]
            args += ["-o", str(self.trace_file)]
            for tid in tids:
                args += ["-p", tid]
            self.strace = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)  # noqa: S603
            time.sleep(1.0)  # strace attaches to every thread

    def run(self) -> tuple[float, int, dict[str, int]]:
        """Seconds, operations, and the syscall counts when traced."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        done = self.proc.stdout.readline().split()
        if not done or done[0] != "DONE":
            raise RuntimeError(f"workload failed: {done}")
        counts: dict[str, int] = {}
        if self.strace is not None:
            self.strace.send_signal(signal.SIGINT)  # detach: the summary is written
            self.strace.wait(timeout=30)
            counts = _strace_counts(self.trace_file.read_text())
        self.proc.stdin.write("end\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)
        return float(done[1]), int(done[2]), counts


def _strace_counts(summary: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in summary.splitlines():
        parts = line.split()
        if parts and parts[-1] in (*SYNC_CALLS, "pwrite64") and parts[0][0].isdigit():
            # "% time  seconds  usecs/call  calls  [errors]  syscall"
            counts[parts[-1]] = int(parts[3])
    return counts


def run_workload(
    kind: str, threads: int, checks: int, root: Path, *, trace: bool = False
) -> tuple[float, int, dict[str, int], int]:
    folder = Path(tempfile.mkdtemp(dir=root, prefix=f"{kind}-{threads}-"))
    w = Workload(kind, threads, checks, folder, trace)
    seconds, n, counts = w.run()
    shutil.rmtree(folder, ignore_errors=True)
    return seconds, n, counts, w.record_bytes


# --- the other rows ---------------------------------------------------------------------------


def peers_row() -> tuple[float, float | str]:
    """``decide()`` and LaunchDarkly ``variation()`` (events off), best µs per call."""
    import logging

    sys.path.insert(0, str(HERE))
    from bench_decision import DAY, typical_profile
    from bench_peers import launchdarkly, per_call_us

    from credit_check_sdk._models import Matter
    from credit_check_sdk.catalogue import default_catalog
    from credit_check_sdk.decision import decide

    logging.getLogger("ldclient").setLevel(logging.CRITICAL)
    catalog = default_catalog()
    profile = typical_profile(black=False)
    bidding = Matter("bidding")
    decide_us = per_call_us(lambda: decide(profile, catalog, bidding, on=DAY))[0]
    made = launchdarkly(events=False)
    if isinstance(made, str):
        return decide_us, made
    evaluate, close = made
    try:
        return decide_us, per_call_us(evaluate)[0]
    finally:
        close()


def _bare_batch_insert(folder: Path, rows: list[tuple[str, str | None]]) -> float:
    """Seconds to insert ``rows`` (record body, inputs) durably in one transaction into a
    new SQLite file (WAL, ``synchronous=FULL``): the least a journal of them must do."""
    conn = _bare_connection(folder / "bare-many.sqlite3")
    conn.execute("CREATE TABLE IF NOT EXISTS m (seq INTEGER PRIMARY KEY, body TEXT, inputs TEXT)")
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO m (body, inputs) VALUES (?, ?)", rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def _settle(checker: CreditChecker) -> None:
    """Wait for the background work the first check starts (the offline snapshot's
    first sync, the upload of that check): a checker in service has long done it, and
    it is not the work of the call being timed."""
    deadline = time.monotonic() + 30
    while checker.health()["background"]["passes"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    checker.flush(timeout=10)


def many_row(root: Path, rounds: int = 3) -> tuple[float, float, float, int]:
    """Best seconds of ``must_check_many(1,000)`` (live profiles, journaled), of the
    same five raw signed ``profiles:batch`` requests, and of a bare durable insert of
    the records it journaled (bodies and inputs, one transaction), alternating,
    against one fake platform served by another process (as a real platform is: its
    work is not the checker's process's). Also the bytes a record and its inputs
    take on average."""
    import requests

    from credit_check_sdk import CreditChecker
    from credit_check_sdk.signing import signed_headers

    subjects = company_ids(MANY)
    served = served_platform([(s, "wage_arrears") for s in subjects[::10]])
    settings = served.__enter__()
    url, app_id, app_secret = settings["base_url"], settings["app_id"], settings["app_secret"]
    sdk, raw, bare = [], [], []
    row_bytes = 0
    session = requests.Session()
    path = "/api/v1/profiles:batch"
    try:
        for k in range(rounds):
            checker = CreditChecker(
                **settings, data_dir=root / f"many-{k}", cache_ttl=0, timeout=30
            )
            checker.must_check(subjects[0], "bidding")  # catalogue fetched, connection warm
            _settle(checker)
            t0 = time.perf_counter()
            decisions = checker.must_check_many(subjects, "bidding")
            sdk.append(time.perf_counter() - t0)
            assert all(d.source == "live" for d in decisions)
            checker.close(timeout=1)
            t0 = time.perf_counter()
            for start in range(0, MANY, 200):
                body = json.dumps({"subject_ids": subjects[start : start + 200]}).encode()
                headers = signed_headers(
                    app_id=app_id, app_secret=app_secret, method="POST", path=path, body=body
                )
                headers["Content-Type"] = "application/json"
                response = session.post(url + "/v1/profiles:batch", data=body, headers=headers)
                response.raise_for_status()
                response.json()
            raw.append(time.perf_counter() - t0)
            # The very records and inputs the checker stored, as the journal holds them.
            with sqlite3.connect(root / f"many-{k}" / "journal.sqlite3") as journal:
                rows = journal.execute(
                    "SELECT r.body, b.body FROM records AS r LEFT JOIN input_bodies AS b"
                    " ON b.hash = r.inputs_hash ORDER BY r.seq DESC LIMIT ?",
                    (MANY,),
                ).fetchall()
            journal.close()
            row_bytes = sum(len(b.encode()) + len((i or "").encode()) for b, i in rows) // MANY
            folder = Path(tempfile.mkdtemp(dir=root, prefix="bare-many-"))
            bare.append(_bare_batch_insert(folder, rows))
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        served.__exit__(None, None, None)
    return min(sdk), min(raw), min(bare), row_bytes


_IMPORT = """
import sys, time
t0 = time.perf_counter()
if sys.argv[1] == "package":
    import credit_check_sdk
else:
    from credit_check_sdk import CreditChecker
print(time.perf_counter() - t0)
"""


def import_row(runs: int = 7) -> tuple[float, float, float]:
    """Median seconds, each in a fresh interpreter: ``import credit_check_sdk``,
    ``from credit_check_sdk import CreditChecker``, and a bare ``python -c pass``.

    The package's modules are byte-compiled first, as ``pip install`` of a wheel does:
    from a checkout (or with ``PYTHONDONTWRITEBYTECODE`` set) every import would
    otherwise compile each module's source again, which is not what a user waits for."""
    compileall.compile_dir(str(HERE.parent / "credit_check_sdk"), quiet=1)
    package, checker, bare = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t0)
        for what, into in (("package", package), ("checker", checker)):
            out = subprocess.run(  # noqa: S603 - this interpreter, our own snippet
                [sys.executable, "-c", _IMPORT, what], check=True, capture_output=True, text=True
            )
            into.append(float(out.stdout))
    return statistics.median(package), statistics.median(checker), statistics.median(bare)


# --- the table ----------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=400, help="checks per timed case")
    parser.add_argument(
        "--traced-checks",
        type=int,
        default=3000,
        help="checks counted under strace (enough for WAL checkpoints to fall among them)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds, best kept")
    parser.add_argument("--dir", default=None, help="directory for the files (the disk to test)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=ROW_GROUPS,
        default=list(ROW_GROUPS),
        help="run only these rows (default: all): single = row 1, threads = row 2,"
        " syncs = rows 3-4, decide = row 5, many = rows 6-7, import = row 8",
    )
    parser.add_argument("--workload", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        kind, threads, checks, folder = args.workload
        workload(kind, int(threads), int(checks), Path(folder))
        return
    traced = shutil.which("strace") is not None
    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        n = args.checks
        if "single" in args.only:
            # Alternating rounds (bare, checks, bare, checks …), the best of each kind: on a
            # shared machine a burst of other work slows one run, not the figure.
            bare_runs, check_runs = [], []
            size = 0
            for _ in range(args.rounds):
                b1, bn, _, size = run_workload("bare-own", 1, n, root)
                bare_runs.append(b1 / bn * 1e6)
                c1, cn, _, _ = run_workload("checks", 1, n, root)
                check_runs.append(c1 / cn * 1e6)
            bare_us, check_us = min(bare_runs), min(check_runs)
            rows.append(
                (
                    f"cached must_check, 1 thread (best of {args.rounds})",
                    f"{check_us:,.0f} µs/check",
                    f"bare durable insert of the same {size}-byte record {bare_us:,.0f} µs",
                    f"{check_us / bare_us:.2f}×",
                    f"≤ 1.5× {_verdict(check_us <= 1.5 * bare_us)}",
                )
            )
        if "threads" in args.only:
            check_rate = bare_rate = 0.0
            for _ in range(args.rounds):
                c8, cn8, _, _ = run_workload("checks", 8, n * 2, root)
                own8, on8, _, _ = run_workload("bare-own", 8, n * 2, root)
                sh8, sn8, _, _ = run_workload("bare-shared", 8, n * 2, root)
                check_rate = max(check_rate, cn8 / c8)
                bare_rate = max(bare_rate, on8 / own8, sn8 / sh8)
            rows.append(
                (
                    f"cached must_check, 8 threads (best of {args.rounds})",
                    f"{check_rate:,.0f} checks/s",
                    f"bare durable inserts, 8 threads {bare_rate:,.0f}/s",
                    f"{check_rate / bare_rate:.2f}×",
                    f"≥ 1.0× {_verdict(check_rate >= bare_rate)}",
                )
            )
        if "syncs" in args.only:
            for threads, goal in ((1, 1.0), (8, 0.25)):
                if not traced:
                    rows.append(
                        (
                            f"fdatasync per check, {threads} thread(s)",
                            "not measured: strace is not installed",
                            "",
                            "",
                            f"≤ {goal:g}",
                        )
                    )
                    continue
                traced_n = args.traced_checks
                _, cn_, counts, _ = run_workload("checks", threads, traced_n, root, trace=True)
                _, bn_, bcounts, _ = run_workload("bare-own", threads, traced_n, root, trace=True)
                syncs = sum(counts.get(c, 0) for c in SYNC_CALLS) / cn_
                bare_syncs = sum(bcounts.get(c, 0) for c in SYNC_CALLS) / bn_
                rows.append(
                    (
                        f"fdatasync+fsync per check, {threads} thread{'s' if threads > 1 else ''}"
                        f" (strace, {traced_n:,} checks, uploader sending)",
                        f"{syncs:.3f} ({counts.get('pwrite64', 0) / cn_:.1f} pwrite64)",
                        f"bare insert {bare_syncs:.3f} per record"
                        f" ({bcounts.get('pwrite64', 0) / bn_:.1f} pwrite64)",
                        f"{syncs / bare_syncs:.2f}×" if bare_syncs else "",
                        f"≤ {goal:g} {_verdict(syncs <= goal)}",
                    )
                )
        if "decide" in args.only:
            decide_us, ld = peers_row()
            if isinstance(ld, str):
                rows.append(
                    ("decide() vs LaunchDarkly variation()", f"{decide_us:.2f} µs", ld, "", "")
                )
            else:
                rows.append(
                    (
                        "decide() (bidding, red entries)",
                        f"{decide_us:.2f} µs",
                        f"LaunchDarkly variation(), events off {ld:.2f} µs",
                        f"{decide_us / ld:.2f}×",
                        f"≤ 1.0× {_verdict(decide_us <= ld)}",
                    )
                )
        if "many" in args.only:
            sdk_many, raw_many, bare_many, many_bytes = many_row(root, args.rounds)
            rows.append(
                (
                    "must_check_many(1,000) over HTTP (platform in another process,"
                    f" best of {args.rounds})",
                    f"{sdk_many:.3f} s",
                    f"raw signed profiles:batch {raw_many:.3f} s",
                    f"{sdk_many / raw_many:.2f}×",
                    f"≤ 1.2× {_verdict(sdk_many <= 1.2 * raw_many)}",
                )
            )
            # What the promise physically needs: the requests, and the records (with the
            # inputs they were decided from) durable in one transaction before the return.
            need = raw_many + bare_many
            rows.append(
                (
                    "must_check_many(1,000) against what it must do (same runs)",
                    f"{sdk_many:.3f} s",
                    f"raw requests {raw_many:.3f} s + bare durable insert of its 1,000 records"
                    f" and inputs ({many_bytes:,} bytes each), one transaction {bare_many:.3f} s"
                    f" = {need:.3f} s",
                    f"{sdk_many / need:.2f}×",
                    f"≤ 1.2× {_verdict(sdk_many <= 1.2 * need)}",
                )
            )
        if "import" in args.only:
            package, checker, bare_py = import_row()
            for statement, seconds in (
                ("import credit_check_sdk", package),
                ("from credit_check_sdk import CreditChecker", checker),
            ):
                rows.append(
                    (
                        f"`{statement}` (fresh interpreter, median of 7)",
                        f"{seconds * 1000:.0f} ms",
                        f"python -c pass {bare_py * 1000:.0f} ms (start-up, not in the figure)",
                        "",
                        f"≤ 200 ms {_verdict(seconds <= 0.2)}",
                    )
                )
    cores = len(os.sched_getaffinity(0))
    print(
        f"# {platform.processor() or platform.machine()}, {cores} cores, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}, "
        f"{args.checks} checks per case, {args.rounds} rounds, rows: {' '.join(args.only)},"
        f" files in {args.dir or tempfile.gettempdir()}"
    )
    header = ("goal", "figure", "floor (same run)", "ratio", "target")
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, width, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) + " |")


if __name__ == "__main__":
    main()
