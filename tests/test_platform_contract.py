"""The platform contract v2, run against both platforms the project ships.

FakePlatform (in memory) and the sandbox (FastAPI on SQLite, a real process
over HTTP) run one platform core; these tests hold them to the same answers:
related parties both ways, relations in the change feed and the export,
objections, commitments, record uploads and disclosures (双公示), good and bad.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from stdnum.cn import ric, uscc

from credit_check_sdk._client import PlatformClient
from credit_check_sdk._exceptions import BadRequestError, ConflictError, NotFoundError
from credit_check_sdk._models import Disclosure, Profile
from credit_check_sdk._time import today
from credit_check_sdk.journal import canonical_hash
from credit_check_sdk.testing import FakePlatform

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def new_org() -> str:
    """A checksum-valid USCC no seed makes (``N`` after the region)."""
    body = "91442000N" + "".join(random.choice(_ALPHABET) for _ in range(8))
    return body + uscc.calc_check_digit(body)


def new_person() -> str:
    """A checksum-valid RIC of Zhongshan (born 1988 or later, when its region code was in
    use) that is not also a valid USCC."""
    while True:
        born = date(1988, 1, 1) + timedelta(days=random.randrange(6000))
        body = f"442000{born:%Y%m%d}{random.randrange(1000):03d}"
        number = body + ric.calc_check_digit(body + "0")  # the digit's place counts
        if not uscc.is_valid(number):
            return number


class Platform:
    """One platform under test: a signed client, and a way to arrange its data."""

    name: str
    client: PlatformClient
    agency_id: str

    def add_entry(self, subject_id: str, list_name: str, category: str, **kw: Any) -> str:
        raise NotImplementedError

    def relate(self, org: str, role: str, person: str, since: str | None = None) -> None:
        raise NotImplementedError

    def unrelate(self, org: str, person: str, role: str) -> None:
        raise NotImplementedError

    def decide_objection(self, objection_id: str, outcome: str) -> None:
        raise NotImplementedError


class Fake(Platform):
    name = "fake"

    def __init__(self) -> None:
        self.fake = FakePlatform()
        self.agency_id = self.fake.agency_id
        self.client = PlatformClient(
            self.fake.base_url,
            self.fake.app_id,
            self.fake.app_secret,
            transport=self.fake.transport,
        )

    def add_entry(self, subject_id: str, list_name: str, category: str, **kw: Any) -> str:
        return self.fake.add_entry(subject_id, list_name, category, **kw)  # type: ignore[arg-type]

    def relate(self, org: str, role: str, person: str, since: str | None = None) -> None:
        self.fake.relate(org, person, role, since=since)

    def unrelate(self, org: str, person: str, role: str) -> None:
        self.fake.unrelate(org, person, role)

    def decide_objection(self, objection_id: str, outcome: str) -> None:
        self.fake.decide_objection(objection_id, outcome)  # type: ignore[arg-type]


class Sandbox(Platform):
    name = "sandbox"

    def __init__(self, process: Any) -> None:
        self.process = process
        self.agency_id = process.app_id
        self.client = PlatformClient(process.base_url, process.app_id, process.app_secret)

    def add_entry(self, subject_id: str, list_name: str, category: str, **kw: Any) -> str:
        body = {"subject_id": subject_id, "list": list_name, "category": category, **kw}
        return str(self.process.admin("POST", "/entries", json=body)["entry_id"])

    def relate(self, org: str, role: str, person: str, since: str | None = None) -> None:
        body = {"subject_id": org, "role": role, "related_id": person, "since": since}
        self.process.admin("POST", "/relations", json=body)

    def unrelate(self, org: str, person: str, role: str) -> None:
        body = {"subject_id": org, "role": role, "related_id": person}
        self.process.admin("POST", "/relations:end", json=body)

    def decide_objection(self, objection_id: str, outcome: str) -> None:
        self.process.admin("POST", f"/objections/{objection_id}/resolve", json={"status": outcome})


@pytest.fixture(scope="module")
def sandbox_process() -> Iterator[Any]:
    pytest.importorskip("fastapi")
    from credit_check_sandbox.process import SandboxProcess

    with SandboxProcess(seed_size=30) as process:
        yield process


@pytest.fixture(params=["fake", "sandbox"])
def platform(request: pytest.FixtureRequest) -> Platform:
    if request.param == "fake":
        return Fake()
    return Sandbox(request.getfixturevalue("sandbox_process"))


def _changes(client: PlatformClient, cursor: str | None) -> tuple[list[dict[str, Any]], str]:
    got: list[dict[str, Any]] = []
    while True:
        query = [("limit", "5000")] + ([("cursor", cursor)] if cursor else [])
        page = client.get("/v1/lists/changes", query=query)
        got.extend(page["changes"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            assert cursor is not None
            return got, cursor


def _export(client: PlatformClient) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    sink = io.BytesIO()
    client.export_lists(sink)
    raw = sink.getvalue()
    lines = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


# --- related parties both ways (v2 change 2) --------------------------------------------


ROLES = (
    "legal_representative",
    "principal",
    "senior_manager",
    "director",
    "shareholder",
    "responsible_person",
    "registered_practitioner",
)


def test_relations_show_both_ways_with_of_roles(platform: Platform) -> None:
    org = new_org()
    people = {role: new_person() for role in ROLES}
    black = platform.add_entry(org, "black", "environment", listed_on="2025-06-01")
    own = platform.add_entry(people["director"], "black", "finance", listed_on="2025-06-01")
    for role, person in people.items():
        platform.relate(org, role, person, since="2020-01-01")
    company = platform.client.get_profile(org)
    assert {(r.role, r.subject.id) for r in company.related} == set(
        (role, person) for role, person in people.items()
    )
    director = next(r for r in company.related if r.role == "director")
    assert [e.entry_id for e in director.entries] == [own]
    # The person's profile names the company by the role ending in _of, with its entries.
    for role, person in people.items():
        (profile,) = platform.client.get_profiles([person]).profiles
        assert [(r.role, r.subject.id) for r in profile.related] == [(role + "_of", org)]
        assert profile.related[0].subject.kind == "legal_entity"
        assert [e.entry_id for e in profile.related[0].entries] == [black]


def test_unknown_roles_are_served_and_parsed(platform: Platform) -> None:
    org, person = new_org(), new_person()
    platform.relate(org, "supervisor", person)
    assert [r.role for r in platform.client.get_profile(org).related] == ["supervisor"]
    (profile,) = platform.client.get_profiles([person]).profiles
    assert isinstance(profile, Profile)
    assert [r.role for r in profile.related] == ["supervisor_of"]


def test_a_company_can_be_a_shareholder(platform: Platform) -> None:
    org, holder = new_org(), new_org()
    platform.relate(org, "shareholder", holder)
    assert [(r.role, r.subject.id) for r in platform.client.get_profile(holder).related] == [
        ("shareholder_of", org)
    ]


# --- relations in the change feed and the export (v2 change 2) -------------------------


def test_relations_travel_in_the_feed_and_the_export(platform: Platform) -> None:
    _, cursor = _changes(platform.client, None)
    org, person = new_org(), new_person()
    platform.relate(org, "legal_representative", person, since="2019-03-01")
    platform.relate(org, "director", person)
    changes, cursor = _changes(platform.client, cursor)
    relations = [c for c in changes if c["op"] in ("relate", "unrelate")]
    assert [(c["op"], c["relation"]) for c in relations] == [
        (
            "relate",
            {
                "subject_id": org,
                "role": "legal_representative",
                "related_id": person,
                "since": "2019-03-01",
            },
        ),
        ("relate", {"subject_id": org, "role": "director", "related_id": person, "since": None}),
    ]
    head, lines = _export(platform.client)
    exported = [x["relation"] for x in lines if "relation" in x]
    assert {"subject_id": org, "role": "director", "related_id": person, "since": None} in exported
    assert head["count"] == len([x for x in lines if "relation" not in x])
    platform.unrelate(org, person, "director")
    changes, _ = _changes(platform.client, cursor)
    assert [(c["op"], c["relation"]["role"]) for c in changes] == [("unrelate", "director")]
    _, lines = _export(platform.client)
    roles = {x["relation"]["role"] for x in lines if x.get("relation", {}).get("subject_id") == org}
    assert roles == {"legal_representative"}
    assert [r.role for r in platform.client.get_profile(org).related] == ["legal_representative"]


def test_a_changes_page_parses_relations_apart(platform: Platform) -> None:
    org, person = new_org(), new_person()
    _, cursor = _changes(platform.client, None)
    platform.add_entry(org, "black", "statistics")
    platform.relate(org, "principal", person)
    page = platform.client.list_changes(cursor)
    assert [c.entry.subject_id for c in page.changes] == [org]
    assert [(r.op, r.relation.related_id) for r in page.relations] == [("relate", person)]


# --- objections, commitments, records ---------------------------------------------------


def test_an_upheld_objection_withdraws_the_entry(platform: Platform) -> None:
    org = new_org()
    entry = platform.add_entry(org, "black", "court_judgment_defaulter")
    body = {"subject_id": org, "entry_id": entry, "reason": "已履行", "submitted_by": "u1"}
    filed = platform.client.post("/v1/objections", body, ok=(202,))
    assert filed["status"] == "verifying"
    assert platform.client.get_profile(org).entries[0].status == "objection_pending"
    with pytest.raises(ConflictError):
        platform.client.post("/v1/objections", body)
    platform.decide_objection(filed["objection_id"], "upheld")
    assert platform.client.get(f"/v1/objections/{filed['objection_id']}")["status"] == "upheld"
    assert platform.client.get_profile(org).entries[0].status == "withdrawn"


def test_a_breached_commitment_is_an_adverse_record(platform: Platform) -> None:
    org = new_org()
    commitment = {
        "commitment_id": f"CM-{uuid.uuid4().hex[:8]}",
        "subject_id": org,
        "check_id": str(uuid.uuid4()),
        "matter": {"category": "licensing", "code": None, "case_id": "A-1"},
        "documents": ["场地证明"],
        "due_on": "2026-12-31",
    }
    assert platform.client.post("/v1/commitments", commitment, ok=(201,))["status"] == "open"
    with pytest.raises(ConflictError):
        platform.client.post("/v1/commitments", {**commitment, "documents": []})
    path = f"/v1/commitments/{commitment['commitment_id']}:resolve"
    resolved = platform.client.post(path, {"resolution": "breached", "resolved_on": "2026-11-02"})
    assert resolved["status"] == "breached"
    assert platform.client.get_profile(org).last_adverse_on == date(2026, 11, 2)


def test_records_are_checked_one_by_one(platform: Platform) -> None:
    good: dict[str, Any] = {
        "type": "check",
        "id": str(uuid.uuid4()),
        "agency_id": platform.agency_id,
        "checked_at": "2026-11-29T08:00:00+08:00",
        "matter": {"category": "bidding", "code": None, "case_id": None},
        "subject": {"id": "91442000MA4UJ2KQ57", "kind": "legal_entity"},
        "outcome": "restriction",
        "measures": [{"id": "I-BID-POINTS", "status": "blocked", "entry_ids": ["RL-1"]}],
        "source": "live",
        "catalog_version": "2026.12.1",
        "sdk_version": "0",
        "prev_hash": None,
    }
    good["hash"] = canonical_hash(good)
    bad = {**good, "id": str(uuid.uuid4()), "outcome": "maybe"}
    bad["hash"] = canonical_hash(bad)
    receipt = platform.client.upload_records([good, bad])
    assert receipt.accepted == (good["id"],)
    assert [r.id for r in receipt.rejected] == [bad["id"]]
    assert platform.client.upload_records([good]).duplicates == (good["id"],)


# --- disclosures, 双公示 (v2 change 5) ----------------------------------------------------


def _disclosure(subject: str, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "disclosure_id": f"D-{uuid.uuid4().hex[:10]}",
        "kind": "penalty",
        "subject_id": subject,
        "decision_no": "中环罚〔2026〕3号",
        "decided_on": (today() - timedelta(days=2)).isoformat(),
        "title": "环境违法行政处罚",
        "content": {"fine_yuan": 50000},
        "check_id": None,
    }
    doc.update(over)
    return doc


def test_a_disclosure_is_published_once(platform: Platform) -> None:
    doc = _disclosure(new_org())
    first = platform.client.disclose(Disclosure.model_validate(doc))
    assert first.disclosure_id == doc["disclosure_id"]
    assert first.published_on == today()
    again = platform.client.request("POST", "/v1/disclosures", json_body=doc, ok=(200,))
    assert json.loads(again.body) == {
        "disclosure_id": doc["disclosure_id"],
        "published_on": today().isoformat(),
    }
    with pytest.raises(ConflictError):
        platform.client.post("/v1/disclosures", {**doc, "title": "另一决定"})


@pytest.mark.parametrize(
    "change",
    [
        {"subject_id": "91442000MA4UJ2KQ58"},  # wrong check digit
        {"subject_id": "91442000ma4uj2kq57"},  # not sent normalised
        {"kind": "permit"},
        {"decided_on": "2026-02-30"},
        {"decided_on": (date.today() + timedelta(days=30)).isoformat()},  # not decided yet
        {"title": ""},
        {"decision_no": ""},
        {"disclosure_id": ""},
        {"content": None},
        {"content": ["not", "an", "object"]},
        {"kind": None},
    ],
)
def test_bad_disclosures_are_400(platform: Platform, change: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError):
        platform.client.post("/v1/disclosures", _disclosure(new_org(), **change))


def test_disclosure_bodies_that_are_not_objects_are_400(platform: Platform) -> None:
    for body in ([], "x", None):
        with pytest.raises(BadRequestError):
            platform.client.post("/v1/disclosures", body)
    missing = {k: v for k, v in _disclosure(new_org()).items() if k != "decision_no"}
    with pytest.raises(BadRequestError):
        platform.client.post("/v1/disclosures", missing)


def test_unknown_routes_are_404(platform: Platform) -> None:
    with pytest.raises(NotFoundError):
        platform.client.get("/v1/disclosures/D-1")


def test_the_core_and_fakeplatform_need_neither_fastapi_nor_sqlalchemy() -> None:
    """FakePlatform runs on the core install: a later release may ship the sandbox apart."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from credit_check_sdk.testing import FakePlatform\n"
        "fake = FakePlatform()\n"
        "fake.relate('91442000MA4UJ2KQ57', '442000199001011233', 'director')\n"
        "with fake.checker() as c:\n"
        "    c.must_check('91442000MA4UJ2KQ57', 'bidding')\n"
        "print(sorted(m for m in ('fastapi', 'sqlalchemy', 'starlette') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
