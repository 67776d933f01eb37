"""Live checks from several processes on one ``data_dir``, and where their time goes.

Run from the repository root (needs the ``sandbox`` extra)::

    python benchmarks/bench_processes.py                 # 4 processes x 4 threads, 10 s
    python benchmarks/bench_processes.py --processes 2 --threads 8 --seconds 20

Phases, each against the same sandbox process (seeded with 2,000 subjects) and
each timed alone:

1. ``sdk``: every process runs a :class:`CreditChecker` on the shared
   ``data_dir``; its threads call ``must_check`` with the profile cache off
   (every check is live: one signed request, one durable journal append).
2. ``raw`` (the platform's floor): the same processes and threads send the
   same signed ``GET /v1/subjects/{id}/profile`` with ``requests`` and parse
   nothing: what the sandbox serves with no SDK around it.
3. ``journal`` (the journal's floor): the same processes and threads append
   records of a check's size to one journal file, durably, with no network.
4. ``profile``: phase 1 again with every check thread of every process under
   ``cProfile``; the wall time of the check threads is split into what the
   profile shows (HTTP round trips, signing, journal appends, decisions ...).

The CPU used by the sandbox process and by the checking processes is read from
``/proc`` before and after each phase. CI never runs this script.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from credit_check_sandbox.process import SandboxProcess  # noqa: E402
from credit_check_sandbox.seed import _uscc  # noqa: E402

SUBJECTS = [_uscc(i) for i in range(1500)]

#: What the profile is split into: a label and the functions (file suffix, name) whose
#: cumulative time counts for it. Functions are nested (an append inside a check), so
#: each label is a share of the check's wall time, not a partition.
_PARTS = [
    ("must_check (whole check)", "_checker.py", "must_check"),
    ("HTTP round trip (transport)", "_transports/default.py", "handle_request"),
    ("  of which: waiting for the socket", "socket.py", "readinto"),
    ("request signing", "signing.py", "signed_headers"),
    ("profile parsing (pydantic)", "_client.py", "_parse"),
    ("decision rules", "decision.py", "decide"),
    ("journal append (lock + write + fsync)", "sqlite/journal.py", "append"),
    ("  of which: the commit (BEGIN IMMEDIATE .. COMMIT)", "sqlite/journal.py", "_write_batch"),
    ("learnt relations (relations.sqlite3)", "_offline.py", "learn_relations"),
    ("re-check queue (followups.sqlite3)", "sqlite/followups.py", "learn_related"),
    ("snapshot status / offline start", "_offline.py", "start"),
    ("uploader notify", "_uploader.py", "notify"),
]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its waited-for children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(f) for f in fields[11:15]) / ticks


# --- the worker processes --------------------------------------------------------------


def _threads(n: int, seconds: float, work: Any) -> int:
    stop = time.monotonic() + seconds
    counts = [0] * n

    def run(i: int) -> None:
        rng = random.Random(i * 7919 + os.getpid())
        while time.monotonic() < stop:
            work(rng)
            counts[i] += 1

    pool = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts)


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    mode = cfg["mode"]
    barrier = Path(cfg["go"])
    result: dict[str, Any] = {}
    cpu = 0.0
    if mode in ("sdk", "profile"):
        from credit_check_sdk import CreditChecker

        checker = CreditChecker(
            base_url=cfg["base_url"],
            app_id=cfg["app_id"],
            app_secret=cfg["app_secret"],
            agency_id=cfg["app_id"],
            data_dir=cfg["data_dir"],
            timeout=10.0,
            cache_ttl=0,
            upload_interval=1.0,
        )
        checker.must_check(SUBJECTS[0], "bidding")  # catalogue, threads, files: warm
        profiles: list[cProfile.Profile] = []
        sends = [0, 0]  # upload requests, records in them
        send = checker._uploader._send

        def counted(records: list[dict[str, Any]]) -> Any:
            sends[0] += 1
            sends[1] += len(records)
            return send(records)

        checker._uploader._send = counted

        def check(rng: random.Random) -> None:
            checker.must_check(rng.choice(SUBJECTS), "bidding")

        if mode == "profile":
            base = check

            def check(rng: random.Random) -> None:
                prof = getattr(local, "prof", None)
                if prof is None:
                    prof = local.prof = cProfile.Profile()
                    profiles.append(prof)
                prof.enable()
                try:
                    base(rng)
                finally:
                    prof.disable()

            local = threading.local()
        _wait(barrier)
        cpu = time.process_time()
        started = time.monotonic()
        result["count"] = _threads(cfg["threads"], cfg["seconds"], check)
        result["seconds"] = time.monotonic() - started
        if profiles:
            stats = pstats.Stats(profiles[0])
            for prof in profiles[1:]:
                stats.add(prof)
            stats.dump_stats(cfg["profile_out"])
        checker.close(timeout=10)
        result["upload_requests"], result["uploaded"] = sends
        result["duplicates"] = checker._uploader.stats()["duplicates"]
    elif mode == "raw":
        import requests

        from credit_check_sdk.signing import signed_headers

        local = threading.local()

        def get(rng: random.Random) -> None:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            sid = rng.choice(SUBJECTS)
            path = f"/api/v1/subjects/{sid}/profile"
            headers = signed_headers(
                app_id=cfg["app_id"],
                app_secret=cfg["app_secret"],
                method="GET",
                path=path,
                body=b"",
            )
            response = session.get(cfg["base_url"] + path[len("/api") :], headers=headers)
            response.raise_for_status()
            _ = response.content

        _wait(barrier)
        cpu = time.process_time()
        started = time.monotonic()
        result["count"] = _threads(cfg["threads"], cfg["seconds"], get)
        result["seconds"] = time.monotonic() - started
    elif mode == "journal":
        import uuid

        from credit_check_sdk.journal import Journal

        journal = Journal(Path(cfg["data_dir"]) / "journal.sqlite3")
        body = json.loads(cfg["sample"])

        def append(rng: random.Random) -> None:
            journal.append({**body, "id": str(uuid.uuid4())})

        _wait(barrier)
        cpu = time.process_time()
        started = time.monotonic()
        result["count"] = _threads(cfg["threads"], cfg["seconds"], append)
        result["seconds"] = time.monotonic() - started
        journal.close()
    result["cpu"] = time.process_time() - cpu  # the phase's, not the start-up's
    return result


def _wait(barrier: Path) -> None:
    deadline = time.monotonic() + 120
    while not barrier.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no start signal")
        time.sleep(0.01)


# --- the conductor ---------------------------------------------------------------------


def run_phase(
    mode: str, sandbox: SandboxProcess, tmp: Path, args: argparse.Namespace, sample: str
) -> dict[str, Any]:
    phase_dir = tmp / mode
    phase_dir.mkdir()
    go = phase_dir / "go"
    procs = []
    for n in range(args.processes):
        cfg = {
            "mode": mode,
            "base_url": sandbox.base_url,
            "app_id": sandbox.app_id,
            "app_secret": sandbox.app_secret,
            "data_dir": str(phase_dir / "data"),
            "threads": args.threads,
            "seconds": args.seconds,
            "go": str(go),
            "sample": sample,
            "profile_out": str(phase_dir / f"profile-{n}.pstats"),
        }
        procs.append(
            subprocess.Popen(  # noqa: S603 - this script, fixed arguments
                [sys.executable, __file__, "--worker", json.dumps(cfg)],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    time.sleep(3.0 if mode in ("sdk", "profile") else 1.0)  # imports, warm-up check
    assert sandbox.pid is not None
    server_cpu = cpu_seconds(sandbox.pid)
    go.touch()
    outputs = [json.loads(p.communicate(timeout=args.seconds + 120)[0]) for p in procs]
    server_cpu = cpu_seconds(sandbox.pid) - server_cpu
    seconds = max(o["seconds"] for o in outputs)
    count = sum(o["count"] for o in outputs)
    result = {
        "mode": mode,
        "rate": count / seconds,
        "count": count,
        "seconds": seconds,
        "server_cpu_share": server_cpu / seconds,
        "client_cpu_ms": sum(o["cpu"] for o in outputs) / count * 1000,
        "server_cpu_ms": server_cpu / count * 1000,
    }
    if mode in ("sdk", "profile"):
        result["upload_requests"] = sum(o["upload_requests"] for o in outputs)
        result["uploaded"] = sum(o["uploaded"] for o in outputs)
        result["duplicates"] = sum(o["duplicates"] for o in outputs)
    if mode == "profile":
        stats = pstats.Stats(str(phase_dir / "profile-0.pstats"))
        for n in range(1, args.processes):
            stats.add(str(phase_dir / f"profile-{n}.pstats"))
        result["parts"] = _parts(stats, count)
        result["split"] = _split(stats, count)
    return result


def _parts(stats: pstats.Stats, checks: int) -> list[tuple[str, float]]:
    table = stats.stats  # type: ignore[attr-defined]  # pstats keeps its data here
    out = []
    for label, suffix, name in _PARTS:
        total = sum(
            ct
            for (file, _line, func), (_cc, _nc, _tt, ct, _callers) in table.items()
            if func == name and file.endswith(suffix)
        )
        out.append((label, total / checks * 1000))
    return out


def _split(stats: pstats.Stats, checks: int) -> list[tuple[str, float]]:
    """The check threads' wall time, by where it was spent (each function's own time)."""
    table = stats.stats  # type: ignore[attr-defined]  # pstats keeps its data here
    buckets: dict[str, float] = {}
    for (file, _line, func), (_cc, _nc, tt, _ct, _callers) in table.items():
        buckets[_bucket(file, func)] = buckets.get(_bucket(file, func), 0.0) + tt
    return sorted(((k, v / checks * 1000) for k, v in buckets.items()), key=lambda kv: -kv[1])


def _bucket(file: str, func: str) -> str:
    if file == "~":  # a built-in: what it waits for or does
        if any(w in func for w in ("recv", "send", "connect", "poll", "select", "getaddrinfo")):
            return "socket: waiting for / talking to the sandbox"
        if "sqlite3" in func:
            return "SQLite calls (statements, commits with fsync, busy waits)"
        if "acquire" in func or "wait" in func:
            return "waiting for a lock held by another thread"
        if "hmac" in func or "sha" in func or "digest" in func:
            return "hashing (signing, record hashes)"
        if "json" in func or "encode" in func or "decode" in func:
            return "JSON / text encoding (C)"
        return "other built-ins"
    for marker, label in (
        ("/urllib3/", "HTTP client in Python (requests, urllib3, http.client)"),
        ("/requests/", "HTTP client in Python (requests, urllib3, http.client)"),
        ("http/client.py", "HTTP client in Python (requests, urllib3, http.client)"),
        ("/pydantic", "pydantic (models, validation)"),
        ("credit_check_sdk/", "the SDK's own Python code"),
        ("json/", "json module (Python part)"),
        ("threading.py", "threading module (Python part)"),
    ):
        if marker in file:
            return label
    return "other Python (stdlib, cachetools, logging …)"


def sample_record(sandbox: SandboxProcess, tmp: Path) -> str:
    checker = sandbox.checker(tmp / "sample", cache_ttl=0)
    d = checker.must_check(SUBJECTS[3], "bidding")
    record = checker.journal.get(d.check_id)
    checker.close(timeout=1)
    assert record is not None
    record.pop("hash", None)
    record.pop("prev_hash", None)
    return json.dumps(record)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--phases", default="sdk,raw,journal,profile", help="which phases to run (all)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    cores = len(os.sched_getaffinity(0))
    print(
        f"# {platform.processor() or platform.machine()}, {cores} cores, "
        f"Python {platform.python_version()}; {args.processes} processes x "
        f"{args.threads} threads, {args.seconds:g} s a phase"
    )
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d, SandboxProcess(seed_size=2000) as sb:
        tmp = Path(d)
        sample = sample_record(sb, tmp)
        phases = args.phases.split(",")
        results = {
            m: run_phase(m, sb, tmp, args, sample) for m in ("sdk", "raw", "journal") if m in phases
        }
        profiled = run_phase("profile", sb, tmp, args, sample) if "profile" in phases else None
    print(
        "\n| phase | per second | sandbox CPU (cores busy) | CPU ms per op: clients "
        "| CPU ms per op: sandbox |"
    )
    print("|---|---|---|---|---|")
    names = {
        "sdk": "live must_check, all processes",
        "raw": "floor: raw signed profile GETs (no SDK)",
        "journal": "floor: durable journal appends only (no network)",
    }
    for mode, r in results.items():
        print(
            f"| {names[mode]} | {r['rate']:,.0f} | {r['server_cpu_share']:.2f} | "
            f"{r['client_cpu_ms']:.2f} | {r['server_cpu_ms']:.2f} |"
        )
    if "sdk" in results:
        r = results["sdk"]
        print(
            f"\nUploads during the live run: {r['upload_requests']:,} records:batch requests "
            f"for {r['uploaded']:,} records ({r['uploaded'] / max(1, r['upload_requests']):.1f} "
            f"a request), {r['duplicates']:,} answered duplicate."
        )
    if profiled is None:
        return
    print(f"\nProfiled run: {profiled['rate']:,.0f} checks/s (profiling slows it).")
    print("\n| where a check thread's time went (profiled) | ms per check |")
    print("|---|---|")
    for label, ms in profiled["split"]:
        print(f"| {label} | {ms:.2f} |")
    print("\n| part of a live check (nested, profiled) | ms per check |")
    print("|---|---|")
    for label, ms in profiled["parts"]:
        print(f"| {label} | {ms:.2f} |")


if __name__ == "__main__":
    main()
