"""Journal records (idempotent, rejected one by one) and monthly reports (versions)."""

from __future__ import annotations

import uuid
from typing import Any

from credit_check_sandbox.process import SandboxProcess

from .conftest import action_record, check_record, with_hash


def _upload(sandbox: SandboxProcess, records: list[Any]) -> dict[str, Any]:
    r = sandbox.request("POST", "/v1/records:batch", json={"records": records})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_records_idempotent(sandbox: SandboxProcess) -> None:
    check = check_record(sandbox.app_id)
    action = action_record(sandbox.app_id, check["id"])
    first = _upload(sandbox, [check, action])
    assert first == {"accepted": [check["id"], action["id"]], "duplicates": [], "rejected": []}
    again = _upload(sandbox, [check, action])
    assert again["accepted"] == []
    assert again["duplicates"] == [check["id"], action["id"]]
    stored = {r["id"] for r in sandbox.admin("GET", f"/records?agency_id={sandbox.app_id}")}
    assert {check["id"], action["id"]} <= stored


def test_duplicates_within_one_batch(sandbox: SandboxProcess) -> None:
    check = check_record(sandbox.app_id)
    body = _upload(sandbox, [check, check])
    assert body["accepted"] == [check["id"]]
    assert body["duplicates"] == [check["id"]]


def test_bad_records_rejected_one_by_one(sandbox: SandboxProcess) -> None:
    good = check_record(sandbox.app_id)
    missing = check_record(sandbox.app_id)
    del missing["outcome"]
    missing = with_hash(missing)
    bad_outcome = check_record(sandbox.app_id, outcome="maybe")
    other_agency = check_record("another-agency")
    bad_hash = {**check_record(sandbox.app_id), "hash": "0" * 64}
    no_reason = action_record(sandbox.app_id, good["id"], action="overridden", reason=None)
    no_type = {"id": str(uuid.uuid4())}
    no_id = with_hash({k: v for k, v in check_record(sandbox.app_id).items() if k != "id"})
    body = _upload(
        sandbox, [good, missing, bad_outcome, other_agency, bad_hash, no_reason, no_type, no_id]
    )
    assert body["accepted"] == [good["id"]]
    rejected = {r["id"]: r["detail"] for r in body["rejected"]}
    assert "outcome" in rejected[missing["id"]]
    assert "outcome" in rejected[bad_outcome["id"]]
    assert "agency" in rejected[other_agency["id"]]
    assert "hash" in rejected[bad_hash["id"]]
    assert "reason" in rejected[no_reason["id"]]
    assert "type" in rejected[no_type["id"]]
    assert "id" in rejected["records[7]"]
    assert len(body["rejected"]) == 7


def test_batch_limits(sandbox: SandboxProcess) -> None:
    r = sandbox.request("POST", "/v1/records:batch", json={"records": []})
    assert r.status_code == 400
    big = [check_record(sandbox.app_id) for _ in range(1001)]
    r = sandbox.request("POST", "/v1/records:batch", json={"records": big})
    assert r.status_code == 413
    assert r.headers["Content-Type"].startswith("application/problem+json")
    r = sandbox.request("POST", "/v1/records:batch", json={"records": ["x"]})
    assert r.status_code == 400
    r = sandbox.request("POST", "/v1/records:batch", json=[1])
    assert r.status_code == 400


def _report(agency: str, period: str, total: int) -> dict[str, Any]:
    return {
        "agency_id": agency,
        "period": period,
        "generated_at": "2026-12-01T09:00:00+08:00",
        "totals": {"restriction": total, "normal": 10},
        "by_matter": {"bidding": {"restriction": total}},
        "measures": [
            {
                "id": "P-BID-EXCLUDE",
                "triggered": total,
                "applied": total,
                "suspended": 0,
                "not_applied": 0,
                "overridden": 0,
            }
        ],
        "overrides": [],
        "degraded": {"checks": 0, "reverified": 0, "changed": 0},
        "objections": {"filed": 1, "upheld": 0, "rejected": 0, "verifying": 1},
        "journal_head_hash": "ab" * 32,
        "record_count": total + 10,
    }


def test_report_versions(sandbox: SandboxProcess) -> None:
    path = f"/v1/reports/{sandbox.app_id}/2026-10"
    r1 = sandbox.request("PUT", path, json=_report(sandbox.app_id, "2026-10", 3))
    assert r1.status_code == 200, r1.text
    assert r1.json()["version"] == 1
    r2 = sandbox.request("PUT", path, json=_report(sandbox.app_id, "2026-10", 4))
    assert r2.json()["version"] == 2
    assert r2.json()["receipt_id"] != r1.json()["receipt_id"]
    stored = [
        x
        for x in sandbox.admin("GET", "/reports")
        if x["period"] == "2026-10" and x["agency_id"] == sandbox.app_id
    ]
    assert [x["version"] for x in stored] == [1, 2]
    assert stored[1]["report"]["totals"]["restriction"] == 4


def test_report_errors(sandbox: SandboxProcess) -> None:
    r = sandbox.request(
        "PUT", "/v1/reports/other-agency/2026-10", json=_report("other-agency", "2026-10", 1)
    )
    assert r.status_code == 403
    r = sandbox.request(
        "PUT", f"/v1/reports/{sandbox.app_id}/2026-13", json=_report(sandbox.app_id, "2026-13", 1)
    )
    assert r.status_code == 400
    r = sandbox.request(
        "PUT", f"/v1/reports/{sandbox.app_id}/2026-09", json=_report(sandbox.app_id, "2026-08", 1)
    )
    assert r.status_code == 400
    bad = _report(sandbox.app_id, "2026-09", 1)
    bad["record_count"] = "11"
    r = sandbox.request("PUT", f"/v1/reports/{sandbox.app_id}/2026-09", json=bad)
    assert r.status_code == 400
    assert "record_count" in r.json()["detail"]
