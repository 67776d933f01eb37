"""Rate limit, injected faults, counters and the admin endpoints' guard rails."""

from __future__ import annotations

import time

import requests
from credit_check_sandbox.process import SandboxProcess

from .conftest import new_uscc


def test_rate_limit(clean_faults: SandboxProcess) -> None:
    sb = clean_faults
    sb.admin("PUT", "/faults", json={"rate_limit": 2})
    statuses = [sb.request("GET", "/v1/health") for _ in range(8)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].headers["Content-Type"].startswith("application/problem+json")
    time.sleep(1.1)
    assert sb.request("GET", "/v1/health").status_code == 200


def test_outage(clean_faults: SandboxProcess) -> None:
    sb = clean_faults
    sb.admin("PUT", "/faults", json={"outage": True})
    r = sb.request("GET", "/v1/health")
    assert r.status_code == 503
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert requests.get(sb.base_url + "/v1/anything", timeout=5).status_code == 503
    sb.admin("PUT", "/faults", json={"outage": False})
    assert sb.request("GET", "/v1/health").status_code == 200


def test_latency_and_errors(clean_faults: SandboxProcess) -> None:
    sb = clean_faults
    sb.admin("PUT", "/faults", json={"latency_ms": 300})
    started = time.monotonic()
    assert sb.request("GET", "/v1/health").status_code == 200
    assert time.monotonic() - started >= 0.3
    sb.admin("PUT", "/faults", json={"latency_ms": 0, "error_rate": 1.0, "error_status": 502})
    assert sb.request("GET", "/v1/health").status_code == 502
    sb.admin("PUT", "/faults", json={"error_rate": 0.5})
    codes = {sb.request("GET", "/v1/health").status_code for _ in range(40)}
    assert codes == {200, 502}


def test_counters(clean_faults: SandboxProcess) -> None:
    sb = clean_faults
    sb.admin("POST", "/counters/reset")
    sb.request("GET", "/v1/health")
    requests.get(sb.base_url + "/v1/health", timeout=5)
    counts = sb.admin("GET", "/counters")["requests"]
    assert counts["GET /v1/health"] == {"200": 1, "401": 1}


def test_bad_fault_settings(clean_faults: SandboxProcess) -> None:
    r = requests.put(clean_faults.root_url + "/_sandbox/faults", json={"error_rate": 2}, timeout=5)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")


def test_admin_disabled_without_flag() -> None:
    with SandboxProcess(seed_size=10, admin=False) as sb:
        r = requests.get(sb.root_url + "/_sandbox/faults", timeout=5)
        assert r.status_code == 404
        assert sb.request("GET", "/v1/health").status_code == 200


def test_admin_subject_and_adverse(sandbox: SandboxProcess) -> None:
    org = new_uscc()
    person = "442000199701019113"
    profile = sandbox.admin(
        "POST",
        "/subjects",
        json={
            "id": org,
            "name": "中山市测试科技有限公司",
            "record_since": "2016-01-01",
            "related": [{"role": "principal", "subject_id": person, "name": "麦嘉欣"}],
        },
    )
    assert profile["subject"]["name"] == "中山市测试科技有限公司"
    assert profile["related"][0]["subject"]["id"] == person
    profile = sandbox.admin(
        "POST", "/adverse-records", json={"subject_id": org, "occurred_on": "2025-05-05"}
    )
    assert profile["last_adverse_on"] == "2025-05-05"
