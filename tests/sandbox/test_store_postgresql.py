"""The platform core over the sandbox's SQL store on PostgreSQL (the SQLAlchemy Core path, not
SQLite's plain-SQL fast path): the contract v2 data round trip on a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from credit_check_sandbox import db
from credit_check_sandbox.scenarios import SCENARIO_SUBJECTS as S
from credit_check_sandbox.seed import seed_database
from credit_check_sandbox.store import Store

from credit_check_sdk._platform import GenerationCursors, PlatformCore, Refusal

pytest.importorskip("psycopg")


@pytest.fixture
def core(pg_url: str) -> Iterator[PlatformCore]:
    engine = db.make_engine(pg_url)
    seed_database(engine, seed=3, seed_size=40)
    store = Store(engine)
    assert not store.is_sqlite
    yield PlatformCore(
        store,
        app_id="app",
        app_secret="secret",
        cursors=GenerationCursors(lambda: store.meta()["generation"]),
    )
    store.close()
    engine.dispose()


def test_profiles_feed_and_export_carry_relations_both_ways(core: PlatformCore) -> None:
    company = S["dishonest_company_people"].id
    person = S["entry_barred_legal_rep"].id
    profile = core.profile(company)
    assert {r["role"] for r in profile["related"]} == {
        "legal_representative",
        "senior_manager",
        "director",
    }
    (mine,) = core.profiles([(person, "natural_person")])
    assert [(r["role"], r["subject"]["id"]) for r in mine["related"]] == [
        ("legal_representative_of", company)
    ]
    assert mine["related"][0]["entries"][0]["category"] == "environment"

    head = json.loads(core.changes(None, 5000))
    seq = core.store.max_seq()
    core.relate(company, "shareholder", person, since="2021-02-03")
    page = json.loads(core.changes(head["next_cursor"], 5000))
    relations = [c for c in page["changes"] if "relation" in c]
    assert relations[-1] == {
        "seq": seq + 1,
        "op": "relate",
        "relation": {
            "subject_id": company,
            "role": "shareholder",
            "related_id": person,
            "since": "2021-02-03",
        },
    }
    assert core.unrelate(company, person, "shareholder") == [seq + 2]
    lines = [json.loads(x) for x in b"".join(core.export()).splitlines()]
    entries = [x for x in lines[1:] if "relation" not in x]
    assert lines[0]["count"] == len(entries)
    keys = {(x["relation"]["subject_id"], x["relation"]["role"]) for x in lines if "relation" in x}
    assert (company, "director") in keys
    assert (company, "shareholder") not in keys


def test_documents_round_trip(core: PlatformCore) -> None:
    sid = S["judgment_defaulter_bidder"].id
    body = {
        "disclosure_id": "D-PG-1",
        "kind": "licence",
        "subject_id": sid,
        "decision_no": "中环许〔2026〕1号",
        "decided_on": core.today().isoformat(),
        "title": "排污许可",
    }
    status, receipt = core.disclose("app", json.dumps(body).encode())
    assert (status, receipt["published_on"]) == (201, core.today().isoformat())
    assert core.disclose("app", json.dumps(body).encode()) == (200, receipt)
    with pytest.raises(Refusal) as refused:
        core.disclose("app", json.dumps({**body, "title": "另一"}).encode())
    assert refused.value.status == 409

    entry = core.profile(sid)["entries"][0]["entry_id"]
    filed = core.file_objection(
        "app",
        json.dumps(
            {"subject_id": sid, "entry_id": entry, "reason": "已履行", "submitted_by": "u"}
        ).encode(),
    )
    assert core.profile(sid)["entries"][0]["status"] == "objection_pending"
    assert core.resolve_objection(filed["objection_id"], "upheld")["status"] == "upheld"
    assert core.profile(sid)["entries"][0]["status"] == "withdrawn"
