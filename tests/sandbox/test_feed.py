"""Change feed paging, cursors, 410, and the gzip NDJSON export."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pytest

from credit_check_sdk._models import ListEntry
from credit_check_sdk.sandbox.process import SandboxProcess
from credit_check_sdk.sandbox.seed import SCENARIO_SUBJECTS as S

from .conftest import fresh_company


def _all_changes(
    sandbox: SandboxProcess, limit: int, cursor: str | None = None
) -> tuple[list[dict[str, object]], str]:
    got: list[dict[str, object]] = []
    pages = 0
    while True:
        params = [("limit", str(limit))] + ([("cursor", cursor)] if cursor else [])
        r = sandbox.request("GET", "/v1/lists/changes", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["as_of"].endswith("+08:00")
        got.extend(body["changes"])
        cursor = body["next_cursor"]
        pages += 1
        assert pages < 1000
        if not body["has_more"]:
            return got, cursor


def test_paging_covers_every_entry_once(sandbox: SandboxProcess) -> None:
    changes, _ = _all_changes(sandbox, 500)
    seqs = [c["seq"] for c in changes]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    ids = [c["entry"]["entry_id"] for c in changes]  # type: ignore[index]
    assert len(set(ids)) == len(ids)
    for c in changes[:50]:
        ListEntry.model_validate(c["entry"])
    export_ids = {e["entry_id"] for e in _export(sandbox)[1]}
    live = {c["entry"]["entry_id"] for c in changes if c["op"] == "upsert"}  # type: ignore[index]
    assert live == export_ids


def test_limit_bounds(sandbox: SandboxProcess) -> None:
    for bad in ("0", "5001", "x"):
        r = sandbox.request("GET", "/v1/lists/changes", params={"limit": bad})
        assert r.status_code == 400, bad
    r = sandbox.request("GET", "/v1/lists/changes", params={"limit": "5000"})
    assert r.status_code == 200
    assert len(r.json()["changes"]) <= 5000


def test_cursor_resumes_and_sees_new_changes(sandbox: SandboxProcess) -> None:
    _, cursor = _all_changes(sandbox, 5000)
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": cursor})
    assert r.json()["changes"] == []
    assert r.json()["has_more"] is False
    assert r.json()["next_cursor"]
    sid = fresh_company(sandbox)
    added = sandbox.admin(
        "POST",
        "/entries",
        json={"subject_id": sid, "list": "red", "category": "integrity_model", "status": "active"},
    )
    changed = sandbox.admin("PATCH", f"/entries/{added['entry_id']}", json={"status": "withdrawn"})
    assert changed["status"] == "withdrawn"
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": cursor})
    [change] = r.json()["changes"]  # compacted: one change per entry, its latest state
    assert change["entry"]["entry_id"] == added["entry_id"]
    assert change["entry"]["status"] == "withdrawn"
    assert change["op"] == "upsert"
    deleted = sandbox.admin("DELETE", f"/entries/{added['entry_id']}")
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": cursor})
    [change] = r.json()["changes"]
    assert change["op"] == "delete"
    assert change["seq"] == deleted["seq"]
    profile = sandbox.request("GET", f"/v1/subjects/{sid}/profile").json()
    assert profile["entries"] == []


def test_bad_cursor(sandbox: SandboxProcess) -> None:
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": "garbage!"})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")


def _export(sandbox: SandboxProcess) -> tuple[dict[str, object], list[dict[str, object]]]:
    r = sandbox.request("GET", "/v1/lists/export", stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Encoding"] == "gzip"
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    raw = gzip.decompress(r.raw.read())
    lines = raw.decode().splitlines()
    head = json.loads(lines[0])
    return head, [json.loads(line) for line in lines[1:]]


def test_export(sandbox: SandboxProcess) -> None:
    head, entries = _export(sandbox)
    assert set(head) == {"cursor", "as_of", "count"}
    assert head["count"] == len(entries) > 1000
    for e in entries[:100]:
        ListEntry.model_validate(e)
    categories = {e["category"] for e in entries}
    from credit_check_sdk.categories import BLACK, RED

    assert set(BLACK) | set(RED) <= categories
    statuses = {e["status"] for e in entries}
    assert statuses == {"active", "objection_pending", "repaired", "expired", "withdrawn"}
    # The export's cursor continues with the feed.
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": str(head["cursor"])})
    assert r.status_code == 200
    assert r.json()["has_more"] is False


@pytest.fixture(scope="module")
def short_retention() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed_size=20, extra_args=["--change-retention", "3"]) as proc:
        yield proc


def test_old_cursor_is_410(short_retention: SandboxProcess) -> None:
    sb = short_retention
    _, cursor = _all_changes(sb, 5000)
    fresh, _ = _all_changes(sb, 1, cursor)
    assert fresh == []
    for i in range(4):
        sb.admin(
            "POST",
            "/entries",
            json={
                "subject_id": S["clean_no_entries"].id,
                "list": "black",
                "category": "statistics",
                "entry_id": f"BL-T-{i}",
            },
        )
    r = sb.request("GET", "/v1/lists/changes", params={"cursor": cursor})
    assert r.status_code == 410
    assert r.headers["Content-Type"].startswith("application/problem+json")
    # Starting again without a cursor works.
    changes, _ = _all_changes(sb, 5000)
    assert {f"BL-T-{i}" for i in range(4)} <= {c["entry"]["entry_id"] for c in changes}  # type: ignore[index]


def test_cursor_of_another_database_is_410(
    short_retention: SandboxProcess, sandbox: SandboxProcess
) -> None:
    _, cursor = _all_changes(short_retention, 5000)
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": cursor})
    assert r.status_code == 410
