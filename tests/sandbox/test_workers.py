"""``--workers``: several processes serve one database; a replay to another worker fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from credit_check_sandbox.process import SandboxProcess

from credit_check_sdk.signing import signed_headers


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    db_path = Path(tmp_path_factory.mktemp("workers")) / "sandbox.db"
    with SandboxProcess(seed_size=300, db_path=db_path, extra_args=["--workers", "2"]) as proc:
        yield proc


def test_profiles_served(workers: SandboxProcess) -> None:
    r = workers.request("GET", "/v1/subjects/91442000MA4UC00019/profile")
    assert r.status_code == 200, r.text
    assert r.json()["entries"][0]["category"] == "court_judgment_defaulter"


def test_replay_refused_by_every_worker(workers: SandboxProcess) -> None:
    # Each request on a new connection: the two workers take connections in turn or at
    # random, so among 30 replays many reach the worker that did not see the original.
    for _ in range(30):
        h = signed_headers(
            app_id=workers.app_id,
            app_secret=workers.app_secret,
            method="GET",
            path="/api/v1/health",
        )
        first = requests.get(workers.base_url + "/v1/health", headers=h, timeout=10)
        assert first.status_code == 200, first.text
        again = requests.get(workers.base_url + "/v1/health", headers=h, timeout=10)
        assert again.status_code == 401, again.text
        assert "nonce" in again.json()["detail"]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_two_worker_processes(workers: SandboxProcess) -> None:
    assert workers.pid is not None
    # uvicorn's supervisor also keeps a resource tracker or so; at least the two workers.
    assert len(_children(workers.pid)) >= 2
