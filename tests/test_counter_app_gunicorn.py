"""The counter app behind gunicorn with ``--preload``: one checker made in the master, forked.

gunicorn (uvicorn worker class) runs examples/counter_app/server.py as a real
process tree against the sandbox process. The master checks once before it
forks its workers (its uploader and sync threads are running at the fork);
each worker then serves checks over HTTP from the forked checker. Afterwards
the shared journal verifies and every record is on the platform, sent once.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from credit_check_sandbox.process import SandboxProcess
from credit_check_sandbox.seed import _uscc

from credit_check_sdk.journal import Journal

pytest.importorskip("gunicorn", reason="needs gunicorn (extra: examples)")
pytest.importorskip("uvicorn_worker", reason="needs uvicorn-worker (extra: examples)")

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(sys.platform == "win32", reason="gunicorn runs on POSIX only"),
]

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 3

GUNICORN_CONF = """
import asyncio

def when_ready(server):
    # The master uses the checker before it forks the workers: its threads are running,
    # and its HTTP client was made on an event loop the workers do not have.
    from examples.counter_app import server as counter

    async def check():
        await counter.checker.must_check({subject!r}, "bidding")
        await counter.checker.flush(timeout=5)

    asyncio.run(check())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def test_checks_from_every_worker_of_a_preloaded_gunicorn(
    credit_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    credit_sandbox.admin("DELETE", "/faults")
    data_dir = tmp_path / "data"
    conf = tmp_path / "gunicorn_conf.py"
    conf.write_text(GUNICORN_CONF.format(subject=_uscc(1)))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CREDIT_CHECK_BASE_URL": credit_sandbox.base_url,
        "CREDIT_CHECK_APP_ID": credit_sandbox.app_id,
        "CREDIT_CHECK_APP_SECRET": credit_sandbox.app_secret,
        "CREDIT_CHECK_AGENCY_ID": credit_sandbox.app_id,
        "CREDIT_CHECK_DATA_DIR": str(data_dir),
        "CREDIT_CHECK_TIMEOUT": "5",
    }
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--preload",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "uvicorn_worker.UvicornWorker",
            "--bind",
            f"127.0.0.1:{port}",
            "--config",
            str(conf),
            "--graceful-timeout",
            "20",
            "examples.counter_app.server:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    check_ids: list[str] = []
    lock = threading.Lock()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                up = requests.get(url + "/health", timeout=2).status_code == 200
            except requests.RequestException:  # refused, or a worker still starting
                up = False
            workers = children_of(server.pid)
            if up and len(workers) == WORKERS:
                break
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, "gunicorn did not come up"
            time.sleep(0.2)

        def check(n: int) -> None:
            response = requests.post(
                url + "/check",
                data={"subject": _uscc(n % 300), "matter": "bidding", "operator": "u-7"},
                headers={"Connection": "close"},  # a new connection: any worker may take it
                timeout=30,
            )
            assert response.status_code == 200, response.text[:500]
            found = re.search(r'id="check-id">([0-9a-f-]{36})<', response.text)
            assert found is not None
            with lock:
                check_ids.append(found.group(1))

        served: dict[int, int] = {}
        for batch in range(20):
            threads = [threading.Thread(target=check, args=(batch * 12 + i,)) for i in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for _ in range(10 * WORKERS):
                health = requests.get(url + "/health", headers={"Connection": "close"}, timeout=10)
                body = health.json()
                served[body["pid"]] = body["checks_served"]
                assert body["breaker"]["state"] == "closed"
            if set(served) == workers and all(served.values()):
                break
        assert set(served) == workers, served
        assert all(n > 0 for n in served.values()), served  # every worker served checks
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
            log.close()
    output = (tmp_path / "gunicorn.log").read_text()
    assert server.returncode == 0, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    with Journal(data_dir / "journal.sqlite3") as journal:
        assert journal.verify().ok
        counts = journal.counts()
        ids = {r["id"] for r in journal.iter_records()}
    assert set(check_ids) <= ids
    assert len(ids) >= len(check_ids) + 1  # and the master's own check
    # Each worker's exit uploads what it has (checker.close at exit).
    assert counts["pending"] == 0, counts
    assert counts["duplicate"] == 0, counts
    received = credit_sandbox.admin(
        "GET", "/records", params={"agency_id": credit_sandbox.app_id, "limit": 100_000}
    )
    assert ids <= {r["id"] for r in received}
