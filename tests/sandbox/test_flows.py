"""Objections (pending, upheld, rejected) and commitments (breach moves last_adverse_on)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from credit_check_sandbox.process import SandboxProcess
from credit_check_sandbox.seed import SCENARIO_SUBJECTS as S

from .conftest import fresh_company, new_uscc


def _profile(sandbox: SandboxProcess, sid: str) -> dict[str, Any]:
    r = sandbox.request("GET", f"/v1/subjects/{sid}/profile")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def _feed_head(sandbox: SandboxProcess) -> str:
    cursor = None
    while True:
        params = [("limit", "5000")] + ([("cursor", cursor)] if cursor else [])
        body = sandbox.request("GET", "/v1/lists/changes", params=params).json()
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return str(cursor)


def _new_black_entry(sandbox: SandboxProcess) -> tuple[str, str]:
    sid = fresh_company(sandbox)
    entry = sandbox.admin(
        "POST", "/entries", json={"subject_id": sid, "list": "black", "category": "food_drug"}
    )
    return sid, str(entry["entry_id"])


@pytest.mark.parametrize(("outcome", "final"), [("upheld", "withdrawn"), ("rejected", "active")])
def test_objection_flow(sandbox: SandboxProcess, outcome: str, final: str) -> None:
    sid, entry_id = _new_black_entry(sandbox)
    cursor = _feed_head(sandbox)
    r = sandbox.request(
        "POST",
        "/v1/objections",
        json={
            "subject_id": sid,
            "entry_id": entry_id,
            "check_id": str(uuid.uuid4()),
            "reason": "处罚已撤销",
            "submitted_by": "申请人",
        },
    )
    assert r.status_code == 202, r.text
    objection = r.json()
    assert objection["status"] == "verifying"
    oid = objection["objection_id"]
    entries = {e["entry_id"]: e for e in _profile(sandbox, sid)["entries"]}
    assert entries[entry_id]["status"] == "objection_pending"
    feed = sandbox.request("GET", "/v1/lists/changes", params={"cursor": cursor}).json()
    assert [(c["op"], c["entry"]["entry_id"], c["entry"]["status"]) for c in feed["changes"]] == [
        ("upsert", entry_id, "objection_pending")
    ]
    # A second objection on the same entry conflicts.
    again = sandbox.request(
        "POST",
        "/v1/objections",
        json={"subject_id": sid, "entry_id": entry_id, "reason": "x", "submitted_by": "y"},
    )
    assert again.status_code == 409
    assert sandbox.request("GET", f"/v1/objections/{oid}").json()["status"] == "verifying"
    resolved = sandbox.admin("POST", f"/objections/{oid}/resolve", json={"status": outcome})
    assert resolved["status"] == outcome
    assert sandbox.request("GET", f"/v1/objections/{oid}").json()["status"] == outcome
    entries = {e["entry_id"]: e for e in _profile(sandbox, sid)["entries"]}
    assert entries[entry_id]["status"] == final


def test_objection_errors(sandbox: SandboxProcess) -> None:
    r = sandbox.request(
        "POST",
        "/v1/objections",
        json={
            "subject_id": S["tax_grade_a"].id,
            "entry_id": "BL-NOPE",
            "reason": "x",
            "submitted_by": "y",
        },
    )
    assert r.status_code == 404
    r = sandbox.request(
        "POST",
        "/v1/objections",
        json={"subject_id": "123", "entry_id": "BL-NOPE", "reason": "x", "submitted_by": "y"},
    )
    assert r.status_code == 400
    r = sandbox.request(
        "POST",
        "/v1/objections",
        json={
            "subject_id": S["tax_grade_a"].id,
            "entry_id": "BL-NOPE",
            "reason": "",
            "submitted_by": "y",
        },
    )
    assert r.status_code == 400
    assert sandbox.request("GET", "/v1/objections/OB-NONE").status_code == 404
    seeded = sandbox.request("GET", "/v1/objections/OB-SEED-0001")
    assert seeded.status_code == 200
    assert seeded.json()["subject_id"] == S["objection_pending"].id


def _commitment(sid: str) -> dict[str, Any]:
    return {
        "commitment_id": f"CM-{uuid.uuid4()}",
        "subject_id": sid,
        "check_id": str(uuid.uuid4()),
        "matter": {"category": "licensing", "code": "XK-1", "case_id": None},
        "documents": ["场地证明"],
        "due_on": "2026-12-31",
    }


def test_commitment_breach_moves_last_adverse_on(sandbox: SandboxProcess) -> None:
    sid = fresh_company(sandbox)
    assert _profile(sandbox, sid)["last_adverse_on"] is None
    body = _commitment(sid)
    r = sandbox.request("POST", "/v1/commitments", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "open"
    same = sandbox.request("POST", "/v1/commitments", json=body)
    assert same.status_code == 201  # idempotent by id
    changed = sandbox.request("POST", "/v1/commitments", json={**body, "documents": []})
    assert changed.status_code == 409
    cid = body["commitment_id"]
    r = sandbox.request(
        "POST",
        f"/v1/commitments/{cid}:resolve",
        json={"resolution": "breached", "resolved_on": "2026-11-02"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "breached"
    assert _profile(sandbox, sid)["last_adverse_on"] == "2026-11-02"
    again = sandbox.request(
        "POST",
        f"/v1/commitments/{cid}:resolve",
        json={"resolution": "breached", "resolved_on": "2026-11-02"},
    )
    assert again.status_code == 200
    other = sandbox.request(
        "POST",
        f"/v1/commitments/{cid}:resolve",
        json={"resolution": "fulfilled", "resolved_on": "2026-11-03"},
    )
    assert other.status_code == 409


def test_commitment_fulfilled_and_unknown_subject(sandbox: SandboxProcess) -> None:
    sid = new_uscc()  # valid, unknown to the platform
    body = _commitment(sid)
    assert sandbox.request("POST", "/v1/commitments", json=body).status_code == 201
    r = sandbox.request(
        "POST",
        f"/v1/commitments/{body['commitment_id']}:resolve",
        json={"resolution": "fulfilled", "resolved_on": "2026-11-02"},
    )
    assert r.json()["status"] == "fulfilled"
    assert _profile(sandbox, sid)["last_adverse_on"] is None
    assert (
        sandbox.request(
            "POST",
            "/v1/commitments/CM-NONE:resolve",
            json={"resolution": "fulfilled", "resolved_on": "2026-11-02"},
        ).status_code
        == 404
    )
    bad = sandbox.request("POST", "/v1/commitments", json={**body, "due_on": "soon"})
    assert bad.status_code == 400
