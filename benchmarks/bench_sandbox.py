"""Sandbox platform benchmarks: seeding speed and profile look-ups per second.

Run from the repository root (needs the ``sandbox`` extra)::

    # look-ups against a sandbox of 1,000,000 list entries kept in /var/tmp (seeded on the
    # first run, reused after), 1 and 2 server workers, 32 connections, 10 s each
    python benchmarks/bench_sandbox.py

    # also time seeding 1,000,000 list entries into a fresh SQLite file
    python benchmarks/bench_sandbox.py --seed-entries 1000000

    # options: --db FILE  --subjects N  --workers 1,2  --connections N  --seconds S
    #          --client-cpus 1  --seed-entries N  --skip-lookups

Every figure is printed beside a floor measured in the same run: seeding
against a bare ``executemany`` of the same rows into tables without keys or
indexes; look-ups against a signed ``/v1/health`` on the same server, and
against the bare indexed SQL of a profile, in-process. The load generator is
one asyncio process (keep-alive connections, every request signed with a
fresh nonce); with ``--client-cpus`` it is pinned to those CPUs while the
server's processes may use every CPU, so on a 2-core machine the two share.

CI never runs this script; it prints a table of what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from credit_check_sandbox import db
from credit_check_sandbox.process import SandboxProcess
from credit_check_sandbox.seed import seed_database

from credit_check_sdk.signing import signed_headers

Row = tuple[str, str, str]

_TABLES = ("subjects", "relations", "entries", "changes", "adverse_records")


# --- seeding -----------------------------------------------------------------------------


def bench_seed(entries: int) -> list[Row]:
    """Seed a fresh SQLite file with about ``entries`` list entries; then the floor: the same
    rows, read back, inserted with a bare ``executemany`` into tables without keys."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        path = Path(tmp) / "seed.db"
        engine = db.make_engine(f"sqlite:///{path}")
        started = time.perf_counter()
        stats = seed_database(engine, seed_size=entries, entries_per_subject=1.0)
        elapsed = time.perf_counter() - started
        engine.dispose()
        assert stats is not None
        size_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
        src = sqlite3.connect(path)
        rows = {t: src.execute(f"SELECT * FROM {t}").fetchall() for t in _TABLES}  # noqa: S608
        src.close()
        total = sum(len(r) for r in rows.values())
        bare = sqlite3.connect(Path(tmp) / "bare.db")
        bare.execute("PRAGMA journal_mode=OFF")
        bare.execute("PRAGMA synchronous=OFF")
        t0 = time.perf_counter()
        for t, table_rows in rows.items():
            width = len(table_rows[0])
            bare.execute(f"CREATE TABLE {t} ({', '.join(f'c{i}' for i in range(width))})")
            bare.executemany(f"INSERT INTO {t} VALUES ({', '.join('?' * width)})", table_rows)  # noqa: S608
        bare.commit()
        floor = time.perf_counter() - t0
        bare.close()
    return [
        ("seed: subjects / entries", f"{stats.subjects:,} / {stats.entries:,}", ""),
        (
            "seed: all rows",
            f"{total:,} in 5 tables (subjects, relations, entries, change feed, adverse records)",
            "",
        ),
        ("seed: seconds", f"{elapsed:.1f}", f"bare executemany of the same rows: {floor:.1f} s"),
        (
            "seed: entries/s",
            f"{stats.entries / elapsed:,.0f}",
            f"bare: {stats.entries / floor:,.0f}",
        ),
        ("seed: rows/s", f"{total / elapsed:,.0f}", f"bare: {total / floor:,.0f}"),
        ("seed: database MB", f"{size_mb:,.0f}", ""),
    ]


# --- look-ups ----------------------------------------------------------------------------


class _Client:
    """Signed keep-alive HTTP/1.1 requests on one connection (minimal, cheap per request)."""

    def __init__(self, host: str, port: int, app_id: str, secret: str) -> None:
        self.host, self.port, self.app_id, self.secret = host, port, app_id, secret
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        h = signed_headers(app_id=self.app_id, app_secret=self.secret, method="GET", path=path)
        head = "".join(f"{k}: {v}\r\n" for k, v in h.items())
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}\r\n".encode())
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _load(
    host: str,
    port: int,
    app_id: str,
    secret: str,
    paths: list[str],
    connections: int,
    seconds: float,
) -> tuple[int, int, float, list[float]]:
    latencies: list[float] = []
    errors = 0
    rng = random.Random(7)
    stop_at = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal errors
        client = _Client(host, port, app_id, secret)
        try:
            while time.perf_counter() < stop_at:
                path = paths[rng.randrange(len(paths))]
                t0 = time.perf_counter()
                status = await client.get(path)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors += 1
        finally:
            client.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return len(latencies), errors, time.perf_counter() - t0, latencies


def _run_load(
    sandbox: SandboxProcess, paths: list[str], connections: int, seconds: float
) -> dict[str, float]:
    host_port = sandbox.root_url.split("//", 1)[1]
    host, port = host_port.rsplit(":", 1)
    # warm-up, then the measured run
    asyncio.run(
        _load(
            host,
            int(port),
            sandbox.app_id,
            sandbox.app_secret,
            paths,
            connections,
            min(2.0, seconds),
        )
    )
    n, errors, wall, lat = asyncio.run(
        _load(host, int(port), sandbox.app_id, sandbox.app_secret, paths, connections, seconds)
    )
    lat.sort()
    return {
        "n": n,
        "errors": errors,
        "rps": n / wall,
        "p50": statistics.median(lat) * 1000,
        "p99": lat[int(n * 0.99)] * 1000,
    }


def _sample_ids(path: Path, n: int) -> list[str]:
    conn = sqlite3.connect(path)
    ids = [r[0] for r in conn.execute("SELECT DISTINCT subject_id FROM entries")]
    conn.close()
    ids.sort()
    return random.Random(7).sample(ids, min(n, len(ids)))


def _bare_sql(path: Path, ids: list[str], count: int = 5000) -> float:
    """Microseconds for the three indexed queries of a profile, plain sqlite3, in-process."""
    conn = sqlite3.connect(path)
    rng = random.Random(3)
    picks = [ids[rng.randrange(len(ids))] for _ in range(count)]
    t0 = time.perf_counter()
    for sid in picks:
        conn.execute(
            "SELECT id, kind, name, record_since, last_adverse_on FROM subjects WHERE id = ?",
            (sid,),
        ).fetchall()
        people = conn.execute(
            "SELECT r.org_id, r.role, r.person_id, s.kind, s.name FROM relations r LEFT JOIN "
            "subjects s ON s.id = r.person_id WHERE r.org_id = ?",
            (sid,),
        ).fetchall()
        owners = [sid, *(p[2] for p in people)]
        conn.execute(
            "SELECT * FROM entries WHERE subject_id IN "  # noqa: S608 - placeholders only
            f"({','.join('?' * len(owners))}) AND deleted = 0 ORDER BY listed_on, entry_id",
            owners,
        ).fetchall()
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed / count * 1e6


def _in_process(path: Path, ids: list[str], count: int = 3000) -> float:
    """Milliseconds per signed profile request through the ASGI app, in-process (no HTTP)."""
    from credit_check_sandbox.app import SandboxSettings, create_app

    secret = "bench-secret"  # noqa: S105 - a throwaway in-process app
    app = create_app(
        SandboxSettings(database_url=f"sqlite:///{path}", app_id="a", app_secret=secret)
    )

    async def call(p: str) -> int:
        h = signed_headers(app_id="a", app_secret=secret, method="GET", path=p)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": p,
            "raw_path": p.encode(),
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "headers": [(k.lower().encode(), v.encode()) for k, v in h.items()],
        }
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    async def run() -> float:
        rng = random.Random(5)
        for _ in range(200):
            await call(f"/api/v1/subjects/{ids[rng.randrange(len(ids))]}/profile")
        t0 = time.perf_counter()
        for _ in range(count):
            assert await call(f"/api/v1/subjects/{ids[rng.randrange(len(ids))]}/profile") == 200
        return (time.perf_counter() - t0) / count * 1000

    return asyncio.run(run())


def bench_lookups(
    db_path: Path,
    subjects: int,
    workers: list[int],
    connections: int,
    seconds: float,
    client_cpus: set[int] | None,
) -> list[Row]:
    """Signed profile look-ups from a pinned asyncio load generator against sandbox processes."""
    rows: list[Row] = []
    db_path.parent.mkdir(parents=True, exist_ok=True)
    all_cpus = os.sched_getaffinity(0)
    for n_workers in workers:
        started = time.perf_counter()
        extra = ["--workers", str(n_workers)] if n_workers > 1 else []
        with SandboxProcess(
            seed_size=subjects, db_path=db_path, admin=False, extra_args=extra, ready_timeout=900
        ) as sandbox:
            ready = time.perf_counter() - started
            ids = _sample_ids(db_path, 50_000)
            paths = [f"/api/v1/subjects/{sid}/profile" for sid in ids]
            if client_cpus:
                os.sched_setaffinity(0, client_cpus)
            try:
                health = _run_load(sandbox, ["/api/v1/health"], connections, seconds)
                got = _run_load(sandbox, paths, connections, seconds)
            finally:
                os.sched_setaffinity(0, all_cpus)
        label = f"lookups, {n_workers} worker{'s' if n_workers > 1 else ''}"
        rows += [
            (
                f"{label}: profiles/s",
                f"{got['rps']:,.0f} ({got['n']:,} requests, {got['errors']:.0f} not 200)",
                f"signed /v1/health: {health['rps']:,.0f}/s",
            ),
            (
                f"{label}: p50 / p99 ms",
                f"{got['p50']:.1f} / {got['p99']:.1f}",
                f"health: {health['p50']:.1f} / {health['p99']:.1f}",
            ),
            (f"{label}: ready in s", f"{ready:.1f}", ""),
        ]
    ids = _sample_ids(db_path, 50_000)
    with sqlite3.connect(db_path) as conn:
        entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    rows.insert(0, ("lookups: database", f"{db_path} ({entries:,} entries)", ""))
    rows.insert(
        1,
        (
            "lookups: load",
            f"{connections} keep-alive connections, "
            f"client on CPUs {sorted(client_cpus or all_cpus)} of {sorted(all_cpus)}",
            "",
        ),
    )
    rows.append(
        (
            "in-process: ms per profile request",
            f"{_in_process(db_path, ids):.2f}",
            f"bare indexed SQL of a profile: {_bare_sql(db_path, ids):.0f} µs",
        )
    )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--db",
        default="/var/tmp/credit-sandbox-bench/sandbox-1m.db",  # noqa: S108 - a benchmark's scratch file, meant to be kept
        help="database of the look-up runs; seeded when missing, reused after",
    )
    p.add_argument(
        "--subjects",
        type=int,
        default=1_000_000,
        help="seed size when --db is seeded (1,000,000 subjects ~ 1M entries)",
    )
    p.add_argument("--workers", default="1,2", help="server worker counts to run (1,2)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each load run")
    p.add_argument(
        "--client-cpus",
        default="1",
        help="CPUs of the load generator, e.g. 1 or 0,1; empty: not pinned",
    )
    p.add_argument(
        "--seed-entries",
        type=int,
        default=0,
        help="also time seeding this many list entries (e.g. 1000000)",
    )
    p.add_argument("--skip-lookups", action="store_true", help="only the seeding run")
    args = p.parse_args()
    cpus = {int(c) for c in args.client_cpus.split(",") if c.strip()} or None
    if cpus and not cpus <= os.sched_getaffinity(0):
        cpus = None
    rows: list[Row] = []
    if args.seed_entries:
        rows += bench_seed(args.seed_entries)
    if not args.skip_lookups:
        rows += bench_lookups(
            Path(args.db),
            args.subjects,
            [int(w) for w in args.workers.split(",")],
            args.connections,
            args.seconds,
            cpus,
        )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    print(
        f"# {cpu}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    w1 = max(len(k) for k, _, _ in rows)
    w2 = max(len(v) for _, v, _ in rows)
    print(f"{'measure'.ljust(w1)} | {'value'.ljust(w2)} | floor, same run")
    print(f"{'-' * w1}-+-{'-' * w2}-+-{'-' * 40}")
    for k, v, f in rows:
        print(f"{k.ljust(w1)} | {v.ljust(w2)} | {f}")


if __name__ == "__main__":
    main()
