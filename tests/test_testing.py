"""The fake platform of ``credit_check_sdk.testing``: contract, faults and both wirings."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from credit_check_sdk import (
    AuthenticationError,
    ConnectError,
    CreditChecker,
    CursorExpiredError,
    InvalidResponseError,
    Outcome,
    RequestTimeoutError,
    ServerError,
)
from credit_check_sdk._client import EXPORT_TYPES, PlatformClient
from credit_check_sdk._exceptions import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
)
from credit_check_sdk._time import today
from credit_check_sdk.catalogue import default_catalog
from credit_check_sdk.journal import canonical_hash
from credit_check_sdk.signing import signed_headers
from credit_check_sdk.testing import FakePlatform

ORG = "91442000MA4UJ2KQ57"
ORG2 = "91442000MA4UC00019"
PERSON = "442000199001011292"  # valid both as a RIC and as an all-digit USCC
PERSON2 = "440101199203040016"


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        yield platform


@pytest.fixture
def client(fake: FakePlatform) -> PlatformClient:
    return PlatformClient(
        fake.base_url, fake.app_id, fake.app_secret, transport=fake.transport, timeout=1.0
    )


@pytest.fixture
def make_checker(fake: FakePlatform) -> Iterator[Callable[..., CreditChecker]]:
    made: list[CreditChecker] = []

    def make(**settings: Any) -> CreditChecker:
        checker = fake.checker(**settings)
        made.append(checker)
        return checker

    yield make
    for checker in made:
        checker.close(timeout=2)


def signed(fake: FakePlatform, method: str, path: str, body: bytes = b"", **kw: Any) -> Any:
    return signed_headers(
        app_id=fake.app_id,
        app_secret=fake.app_secret,
        method=method,
        path=path,
        body=body,
        **kw,
    )


def u(name: str) -> str:
    """A record id (a UUID, as the contract's records have) standing for ``name``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def record(fake: FakePlatform, rid: str, **changes: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "type": "check",
        "id": rid,
        "agency_id": fake.agency_id,
        "checked_at": "2026-11-29T08:00:00+08:00",
        "matter": {"category": "bidding", "code": None, "case_id": None},
        "subject": {"id": ORG, "kind": "legal_entity"},
        "outcome": "normal",
        "measures": [],
        "source": "live",
        "catalog_version": "2026.11.1",
        "sdk_version": "0",
        "prev_hash": None,
    }
    r.update(changes)
    r["hash"] = canonical_hash(r)
    return r


# --- signatures -----------------------------------------------------------------------


def test_an_unsigned_request_is_refused_with_a_problem_document(fake: FakePlatform) -> None:
    status, headers, body = fake.handle("GET", "/api/v1/health", [], {}, b"")
    assert status == 401
    assert headers["Content-Type"] == "application/problem+json"
    doc = json.loads(body)
    assert doc["status"] == 401
    assert doc["title"]
    assert "signature" in doc["detail"]


def test_a_wrong_secret_is_refused(fake: FakePlatform) -> None:
    client = PlatformClient(
        fake.base_url, fake.app_id, "wrong-secret", transport=fake.transport, timeout=1.0
    )
    with pytest.raises(AuthenticationError) as caught:
        client.health()
    assert caught.value.detail == "signature does not match"
    assert fake.requests == [("GET", "/v1/health")]  # not retried


def test_an_unknown_app_id_is_refused(fake: FakePlatform) -> None:
    client = PlatformClient(
        fake.base_url, "other-app", fake.app_secret, transport=fake.transport, timeout=1.0
    )
    with pytest.raises(AuthenticationError):
        client.health()


def test_a_replayed_nonce_is_refused(fake: FakePlatform) -> None:
    headers = signed(fake, "GET", "/api/v1/health", nonce="n" * 20)
    assert fake.handle("GET", "/api/v1/health", [], headers, b"")[0] == 200
    status, _, body = fake.handle("GET", "/api/v1/health", [], headers, b"")
    assert status == 401
    assert "nonce" in json.loads(body)["detail"]


def test_a_stale_timestamp_is_refused(fake: FakePlatform) -> None:
    headers = signed(fake, "GET", "/api/v1/health", timestamp=int(time.time()) - 301)
    assert fake.handle("GET", "/api/v1/health", [], headers, b"")[0] == 401


def test_a_tampered_body_is_refused(fake: FakePlatform) -> None:
    body = b'{"subject_ids":["91442000MA4UJ2KQ57"]}'
    headers = signed(fake, "POST", "/api/v1/profiles:batch", body)
    tampered = body.replace(b"57", b"58")
    assert fake.handle("POST", "/api/v1/profiles:batch", [], headers, tampered)[0] == 401
    assert fake.handle("POST", "/api/v1/profiles:batch", [], headers, body)[0] == 200


def test_signatures_can_be_switched_off() -> None:
    fake = FakePlatform(verify_signatures=False)
    assert fake.handle("GET", "/api/v1/health", [], {}, b"")[0] == 200


# --- profiles -----------------------------------------------------------------------


def test_an_unknown_valid_subject_has_an_empty_profile(client: PlatformClient) -> None:
    profile = client.get_profile(ORG)
    assert profile.entries == ()
    assert profile.related == ()
    assert profile.record_since is None
    assert profile.subject.kind == "legal_entity"


def test_a_checksum_invalid_id_is_a_400(fake: FakePlatform, client: PlatformClient) -> None:
    with pytest.raises(BadRequestError):
        client.get_profile("91442000MA4UJ2KQ58")
    with pytest.raises(BadRequestError):
        client.get_profile("91442000ma4uj2kq57")  # the platform takes normalised ids only
    assert len(fake.requests) == 2


def test_entries_records_and_relations_show_in_the_profile(
    fake: FakePlatform, client: PlatformClient
) -> None:
    fake.set_record(ORG, record_since="2012-03-02", name="中山市某某有限公司")
    black = fake.add_entry(ORG, "black", "court_judgment_defaulter", listed_on="2025-01-10")
    fake.add_entry(PERSON2, "black", "finance", entry_id="BL-P-1")
    fake.relate(ORG, PERSON2, "principal")
    profile = client.get_profile(ORG)
    assert profile.subject.name == "中山市某某有限公司"
    assert [e.entry_id for e in profile.entries] == [black]
    assert str(profile.record_since) == "2012-03-02"
    assert str(profile.last_adverse_on) == "2025-01-10"  # a black entry is an adverse record
    (related,) = profile.related
    assert related.role == "principal"
    assert related.subject.kind == "natural_person"
    assert [e.entry_id for e in related.entries] == ["BL-P-1"]
    assert fake.profile(ORG)["entries"][0]["entry_id"] == black


def test_entry_defaults(fake: FakePlatform) -> None:
    entry_id = fake.add_entry(ORG, "red", "integrity_model")
    (entry,) = fake.profile(ORG)["entries"]
    assert entry["entry_id"] == entry_id
    assert entry_id.startswith("RL-")
    assert entry["listed_on"] == (today() - timedelta(days=365)).isoformat()
    assert entry["expires_on"] is None
    assert entry["authority"] == "中山市信用办"
    assert fake.profile(ORG)["last_adverse_on"] is None  # red entries are not adverse


def test_arranging_refuses_bad_input(fake: FakePlatform) -> None:
    with pytest.raises(ValueError, match="checksum"):
        fake.add_entry("91442000MA4UJ2KQ58", "black", "finance")
    with pytest.raises(ValueError, match="list"):
        fake.add_entry(ORG, "grey", "finance")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="status"):
        fake.add_entry(ORG, "black", "finance", status="gone")
    fake.add_entry(ORG, "black", "finance", entry_id="BL-1")
    with pytest.raises(ValueError, match="exists"):
        fake.add_entry(ORG, "black", "finance", entry_id="BL-1")
    with pytest.raises(KeyError):
        fake.set_entry_status("BL-404", "repaired")


def test_an_ambiguous_id_takes_the_kind_it_is_given(
    fake: FakePlatform, client: PlatformClient
) -> None:
    assert client.get_profile(PERSON).subject.kind == "legal_entity"
    fake.set_record(PERSON, kind="natural_person")
    assert client.get_profile(PERSON).subject.kind == "natural_person"


def test_batch(fake: FakePlatform, client: PlatformClient) -> None:
    fake.add_entry(ORG2, "black", "environment")
    batch = client.get_profiles([ORG, "91442000MA4UJ2KQ58", ORG2])
    assert [p.subject.id for p in batch.profiles] == [ORG, ORG2]
    assert len(batch.profiles[1].entries) == 1
    assert [i["subject_id"] for i in batch.invalid] == ["91442000MA4UJ2KQ58"]
    assert fake.requests == [("POST", "/v1/profiles:batch")]


def test_batch_limits(fake: FakePlatform, client: PlatformClient) -> None:
    with pytest.raises(BadRequestError):
        client.request("POST", "/v1/profiles:batch", json_body={"subject_ids": []})
    with pytest.raises(PayloadTooLargeError):
        client.request("POST", "/v1/profiles:batch", json_body={"subject_ids": [ORG] * 201})
    body = client.post("/v1/profiles:batch", {"subject_ids": [ORG] * 200}, ok=(200,))
    assert len(body["profiles"]) == 200


# --- catalogue ----------------------------------------------------------------------


def test_catalog_etag_and_304(fake: FakePlatform, client: PlatformClient) -> None:
    fetched = client.get_catalog()
    assert fetched is not None
    catalog, etag, _ = fetched
    assert catalog == default_catalog()
    assert etag
    assert client.get_catalog(etag) is None
    assert client.get_catalog('"something-else"') is not None
    newer = default_catalog().model_copy(update={"version": "2027.01.1"})
    fake.set_catalog(newer)
    again = client.get_catalog(etag)
    assert again is not None
    assert again[0].version == "2027.01.1"
    assert again[1] != etag


def test_a_checker_refreshes_its_catalogue_from_the_fake(
    fake: FakePlatform, make_checker: Callable[..., CreditChecker]
) -> None:
    fake.set_catalog(default_catalog().model_copy(update={"version": "2027.01.1"}))
    checker = make_checker()
    assert checker.must_check(ORG, "bidding").catalog_version == "2027.01.1"
    assert checker.refresh_catalog() is False  # 304
    assert fake.requests.count(("GET", "/v1/catalog")) == 2


# --- change feed --------------------------------------------------------------------


def test_the_change_feed_pages_through_every_change(
    fake: FakePlatform, client: PlatformClient
) -> None:
    ids = [fake.add_entry(ORG, "black", "finance") for _ in range(5)]
    fake.set_entry_status(ids[0], "repaired")
    fake.remove_entry(ids[1])
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = [("limit", "3")] + ([("cursor", cursor)] if cursor else [])
        page = client.get("/v1/lists/changes", query=query)
        pages += 1
        seen.extend(page["changes"])
        cursor = page["next_cursor"]
        assert page["as_of"]
        if not page["has_more"]:
            break
    assert pages == 3
    assert [c["seq"] for c in seen] == list(range(1, 8))
    assert [c["op"] for c in seen] == ["upsert"] * 6 + ["delete"]
    assert seen[5]["entry"]["status"] == "repaired"
    assert seen[0]["entry"]["status"] == "active"  # each change is a snapshot
    # Nothing new: an empty page, same cursor.
    page = client.get("/v1/lists/changes", query=[("cursor", cursor or "")])
    assert page["changes"] == []
    assert page["next_cursor"] == cursor
    assert page["has_more"] is False


def test_change_feed_limits_and_expired_cursors(fake: FakePlatform, client: PlatformClient) -> None:
    for limit in ("0", "5001", "many"):
        with pytest.raises(BadRequestError):
            client.get("/v1/lists/changes", query=[("limit", limit)])
    assert client.get("/v1/lists/changes", query=[("limit", "5000")])["changes"] == []
    fake.fail(410, path="lists/changes", times=1)
    with pytest.raises(CursorExpiredError):
        client.get("/v1/lists/changes", query=[("cursor", "s1")])
    client.get("/v1/lists/changes")  # the fault was used up


def test_export(fake: FakePlatform, client: PlatformClient) -> None:
    fake.add_entry(ORG, "black", "finance")
    fake.add_entry(ORG2, "red", "integrity_model")
    response = client.request("GET", "/v1/lists/export", accept=EXPORT_TYPES)
    lines = gzip.decompress(response.body).decode().splitlines()
    head = json.loads(lines[0])
    assert head["count"] == 2
    assert head["cursor"] == "s2"
    assert {json.loads(x)["subject_id"] for x in lines[1:]} == {ORG, ORG2}


# --- records, reports ------------------------------------------------------------------


def test_records_batch(fake: FakePlatform, client: PlatformClient) -> None:
    good = [record(fake, u("r1")), record(fake, u("r2"))]
    missing = {k: v for k, v in record(fake, u("r3")).items() if k not in ("outcome", "source")}
    foreign = record(fake, u("r4"), agency_id="another-agency")
    forged = {**record(fake, u("r5")), "outcome": "restriction"}
    receipt = client.upload_records([*good, missing, foreign, forged])
    assert receipt.accepted == (u("r1"), u("r2"))
    assert receipt.duplicates == ()
    rejected = {r.id: r.detail for r in receipt.rejected}
    assert set(rejected) == {u("r3"), u("r4"), u("r5")}
    assert "outcome" in rejected[u("r3")]
    assert "source" in rejected[u("r3")]
    assert "agency" in rejected[u("r4")]
    assert "hash" in rejected[u("r5")]
    again = client.upload_records([good[0], record(fake, u("r6"))])
    assert again.accepted == (u("r6"),)
    assert again.duplicates == (u("r1"),)
    assert set(fake.records) == {u("r1"), u("r2"), u("r6")}
    assert fake.upload_counts[u("r1")] == 2
    assert fake.upload_counts[u("r2")] == 1


def test_an_action_record_needs_its_own_fields(fake: FakePlatform, client: PlatformClient) -> None:
    action: dict[str, Any] = {
        "type": "action",
        "id": u("a1"),
        "check_id": u("r1"),
        "agency_id": fake.agency_id,
        "acted_at": "2026-11-29T08:05:00+08:00",
        "action": "applied",
        "prev_hash": None,
    }
    receipt = client.upload_records([{**action, "hash": canonical_hash(action)}])
    assert receipt.rejected[0].id == u("a1")
    assert "measure_ids" in receipt.rejected[0].detail
    action["measure_ids"] = []
    assert client.upload_records([{**action, "hash": canonical_hash(action)}]).accepted == (
        u("a1"),
    )


def test_reports_are_versioned(fake: FakePlatform, client: PlatformClient) -> None:
    report: dict[str, Any] = {
        "agency_id": "zs-fgj",
        "period": "2026-11",
        "generated_at": "2026-12-01T08:00:00+08:00",
        "totals": {},
        "by_matter": {},
        "measures": [],
        "overrides": [],
        "degraded": {"checks": 0, "reverified": 0, "changed": 0},
        "journal_head_hash": None,
        "record_count": 0,
    }
    assert client.put("/v1/reports/zs-fgj/2026-11", report)["version"] == 1
    second = client.put("/v1/reports/zs-fgj/2026-11", {**report, "record_count": 3})
    assert second["version"] == 2
    assert second["receipt_id"]
    assert [r["record_count"] for r in fake.reports[("zs-fgj", "2026-11")]] == [0, 3]
    with pytest.raises(BadRequestError):
        client.put("/v1/reports/zs-fgj/2026-13", report)
    with pytest.raises(BadRequestError):
        client.put("/v1/reports/zs-fgj/2026-12", {"agency_id": "zs-fgj"})
    with pytest.raises(PermissionDeniedError):
        client.put("/v1/reports/other/2026-11", report)


# --- objections, commitments -----------------------------------------------------------


def test_objections(
    fake: FakePlatform, client: PlatformClient, make_checker: Callable[..., CreditChecker]
) -> None:
    entry = fake.add_entry(ORG, "black", "court_judgment_defaulter")
    checker = make_checker()
    decision = checker.must_check(ORG, "bidding")
    assert decision.outcome is Outcome.RESTRICTION
    objection_id = checker.file_objection(decision.check_id, entry, "已履行判决", "u123")
    assert fake.objections[objection_id]["status"] == "verifying"
    assert fake.objections[objection_id]["check_id"] == decision.check_id
    assert fake.profile(ORG)["entries"][0]["status"] == "objection_pending"
    assert checker.objection_status(objection_id)["status"] == "verifying"
    # While it is verified the punishment is suspended (the cached profile was dropped).
    suspended = checker.must_check(ORG, "bidding")
    assert suspended.outcome is not Outcome.RESTRICTION
    assert {m.status for m in suspended.measures} == {"suspended"}
    # A second objection to the same entry conflicts; an unknown entry is not found.
    body = {"subject_id": ORG, "entry_id": entry, "reason": "again", "submitted_by": "u"}
    with pytest.raises(ConflictError):
        client.post("/v1/objections", body)
    with pytest.raises(NotFoundError):
        client.post("/v1/objections", {**body, "entry_id": "BL-404"})
    with pytest.raises(BadRequestError):
        client.post("/v1/objections", {**body, "reason": " "})
    fake.decide_objection(objection_id, "rejected")
    assert checker.objection_status(objection_id)["status"] == "rejected"
    assert fake.profile(ORG)["entries"][0]["status"] == "active"
    with pytest.raises(NotFoundError):
        client.get("/v1/objections/OBJ-404")


def test_commitments(fake: FakePlatform, client: PlatformClient) -> None:
    fake.set_record(ORG, record_since="2012-03-02", last_adverse_on=None)
    commitment = {
        "commitment_id": "CM-1",
        "subject_id": ORG,
        "check_id": "c1",
        "matter": {"category": "licensing", "code": None, "case_id": "A-1"},
        "documents": ["场地证明"],
        "due_on": "2026-12-31",
    }
    created = client.post("/v1/commitments", commitment, ok=(201,))
    assert created["status"] == "open"
    assert client.post("/v1/commitments", commitment, ok=(201,)) == created  # idempotent
    resolved = client.post(
        "/v1/commitments/CM-1:resolve",
        {"resolution": "breached", "resolved_on": "2026-12-31"},
        ok=(200,),
    )
    assert resolved["status"] == "breached"
    assert fake.commitments["CM-1"]["status"] == "breached"
    assert fake.profile(ORG)["last_adverse_on"] == "2026-12-31"
    with pytest.raises(ConflictError):
        client.post(
            "/v1/commitments/CM-1:resolve",
            {"resolution": "fulfilled", "resolved_on": "2027-01-02"},
        )
    with pytest.raises(NotFoundError):
        client.post("/v1/commitments/CM-404:resolve", {"resolution": "fulfilled"})
    with pytest.raises(BadRequestError):
        client.post("/v1/commitments", {"commitment_id": "CM-2"})


def test_unknown_routes_and_methods(fake: FakePlatform, client: PlatformClient) -> None:
    with pytest.raises(NotFoundError):
        client.get("/v1/nothing-here")
    with pytest.raises(Exception, match="405"):
        client.post("/v1/health", {})


# --- faults ---------------------------------------------------------------------------


def test_fail_a_number_of_times(fake: FakePlatform, client: PlatformClient) -> None:
    fake.fail(503, times=2)
    assert client.health()["status"] == "ok"  # retried past the two failures
    assert fake.requests == [("GET", "/v1/health")] * 3


def test_fail_is_limited_to_a_path(fake: FakePlatform, client: PlatformClient) -> None:
    fake.fail(500, path="/profile")
    assert client.health()["status"] == "ok"
    with pytest.raises(ServerError):
        client.get_profile(ORG)
    fake.reset_faults()
    assert client.get_profile(ORG).subject.id == ORG


def test_fail_with_retry_after(fake: FakePlatform, client: PlatformClient) -> None:
    fake.fail(429, retry_after=30)
    with pytest.raises(RateLimitedError) as caught:
        client.health()
    assert caught.value.retry_after == 30
    assert len(fake.requests) == 1


def test_outage_and_recovery(fake: FakePlatform, client: PlatformClient) -> None:
    fake.outage()
    with pytest.raises(ServerError):
        client.health()
    with pytest.raises(ServerError):
        client.get_profile(ORG)
    fake.outage(False)
    assert client.health()["status"] == "ok"


@pytest.mark.parametrize("kind", ["not_json", "truncated", "missing_fields", "wrong_types"])
def test_malformed_answers(fake: FakePlatform, client: PlatformClient, kind: Any) -> None:
    fake.malformed(kind, times=1)
    with pytest.raises(InvalidResponseError):
        client.get_profile(ORG)
    assert client.get_profile(ORG).subject.id == ORG


def test_malformed_records_answer_still_stores_them(
    fake: FakePlatform, client: PlatformClient
) -> None:
    fake.malformed("missing_fields", path="records:batch", times=1)
    with pytest.raises(InvalidResponseError):
        client.upload_records([record(fake, u("r1"))])
    assert u("r1") in fake.records  # the platform took it; only the answer was lost
    assert client.upload_records([record(fake, u("r1"))]).duplicates == (u("r1"),)


def test_delay_in_memory_times_out_like_a_transport(
    fake: FakePlatform, client: PlatformClient
) -> None:
    fake.delay(5.0, path="/health")
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError):
        client.health()
    assert time.monotonic() - started < 1.0 + 0.3
    fake.reset_faults()
    fake.delay(0.2, times=1)
    started = time.monotonic()
    assert client.health()["status"] == "ok"
    assert time.monotonic() - started >= 0.2


def test_reset_in_memory(fake: FakePlatform, client: PlatformClient) -> None:
    fake.reset(times=10)
    with pytest.raises(ConnectError):
        client.health()


def test_faults_refuse_nonsense(fake: FakePlatform) -> None:
    with pytest.raises(ValueError, match="times"):
        fake.fail(503, times=0)
    with pytest.raises(ValueError, match="malformed"):
        fake.malformed("sideways")  # type: ignore[arg-type]


# --- checkers wired to the fake ----------------------------------------------------------


def test_checker_in_memory(fake: FakePlatform, make_checker: Callable[..., CreditChecker]) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    fake.add_entry(ORG2, "red", "integrity_model")
    checker = make_checker()
    assert checker.must_check(ORG, "bidding").outcome is Outcome.RESTRICTION
    assert checker.must_check(ORG2, "licensing").outcome is Outcome.GREEN_CHANNEL
    assert checker.flush(timeout=5) == 0
    assert len(fake.records) == 2
    assert all(r["agency_id"] == "zs-fgj" for r in fake.records.values())
    assert checker.data_dir.exists()


def test_a_checker_with_an_explicit_data_dir(
    fake: FakePlatform, make_checker: Callable[..., CreditChecker], tmp_path: Any
) -> None:
    checker = make_checker(data_dir=tmp_path / "cc", timeout=0.5)
    assert checker.data_dir == tmp_path / "cc"
    assert checker.settings.timeout == 0.5


def test_the_fake_is_thread_safe(fake: FakePlatform, client: PlatformClient) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                fake.add_entry(ORG if i % 2 else ORG2, "black", "finance")
                client.get_profile(ORG)
        except BaseException as exc:  # collected; the main thread asserts there were none
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    page = client.get("/v1/lists/changes", query=[("limit", "5000")])
    assert [c["seq"] for c in page["changes"]] == list(range(1, 161))
    assert len({c["entry"]["entry_id"] for c in page["changes"]}) == 160


# --- over real HTTP ------------------------------------------------------------------------


def test_served_over_http(fake: FakePlatform, make_checker: Callable[..., CreditChecker]) -> None:
    base = fake.serve()
    assert base.startswith("http://127.0.0.1:")
    assert base.endswith("/api")
    assert fake.serve() == base
    assert fake.base_url == base
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    checker = make_checker(timeout=1.0)  # served: over HTTP
    assert checker.client.base_url == base
    decision = checker.must_check(ORG, "bidding")
    assert decision.outcome is Outcome.RESTRICTION
    assert decision.source == "live"
    assert checker.flush(timeout=5) == 0
    assert decision.check_id in fake.records
    assert ("POST", "/v1/records:batch") in fake.requests


def test_http_refuses_unsigned_and_replayed_requests(fake: FakePlatform) -> None:
    base = fake.serve()
    unsigned = requests.get(base + "/v1/health", timeout=2)
    assert unsigned.status_code == 401
    assert unsigned.headers["Content-Type"] == "application/problem+json"
    headers = signed(fake, "GET", "/api/v1/lists/changes", query=[("limit", "5")])
    assert requests.get(base + "/v1/lists/changes?limit=5", headers=headers, timeout=2).ok
    replay = requests.get(base + "/v1/lists/changes?limit=5", headers=headers, timeout=2)
    assert replay.status_code == 401
    assert "nonce" in replay.json()["detail"]


def test_http_delay_drip_and_reset(fake: FakePlatform) -> None:
    base = fake.serve()
    client = PlatformClient(base, fake.app_id, fake.app_secret, timeout=0.6)
    try:
        cases: list[tuple[Callable[[], None], type[Exception]]] = [
            (lambda: fake.delay(3.0), RequestTimeoutError),
            (lambda: fake.drip(0.3), RequestTimeoutError),
            (lambda: fake.reset(), ConnectError),
        ]
        for arrange, error in cases:
            fake.reset_faults()
            arrange()
            started = time.monotonic()
            with pytest.raises(error):
                client.health()
            assert time.monotonic() - started < 0.6 + 0.5
        fake.reset_faults()
        assert client.health()["status"] == "ok"
    finally:
        client.close()


def test_stop_and_context_manager() -> None:
    with FakePlatform() as fake:
        base = fake.serve()
        assert requests.get(base + "/v1/health", timeout=2).status_code == 401
    assert fake.base_url == "https://fake-platform.invalid/api"
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/v1/health", timeout=2)


def test_listed_on_accepts_dates(fake: FakePlatform) -> None:
    fake.add_entry(ORG, "black", "finance", listed_on=date(2024, 2, 29), expires_on="2027-02-28")
    (entry,) = fake.profile(ORG)["entries"]
    assert (entry["listed_on"], entry["expires_on"]) == ("2024-02-29", "2027-02-28")
