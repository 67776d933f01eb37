"""Relations in the offline snapshot (contract v2): from the change feed and the export, both
ways, and the decisions made from them when the platform is down (§三(二), §三(七))."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk import Outcome
from credit_check_sdk._client import ChangesPage
from credit_check_sdk.snapshot import Snapshot, SnapshotImportError
from credit_check_sdk.testing import FakePlatform

COMPANY = "91442000MA4UJ2KQ57"
OTHER = "91442000MA4UC0007U"
PERSON = "442000199001011233"
AS_OF = "2026-11-29T08:00:00+08:00"


def _entry(eid: str, subject: str) -> dict[str, Any]:
    return {
        "entry_id": eid,
        "subject_id": subject,
        "list": "black",
        "category": "wage_arrears",
        "authority": "中山市人力资源和社会保障局",
        "basis": None,
        "listed_on": "2025-01-10",
        "expires_on": None,
        "status": "active",
        "updated_at": "2026-11-20T10:00:00+08:00",
    }


def _rel(org: str, role: str, person: str, since: str | None = None) -> dict[str, Any]:
    return {"subject_id": org, "role": role, "related_id": person, "since": since}


def _page(changes: list[dict[str, Any]], cursor: str, has_more: bool = False) -> ChangesPage:
    return ChangesPage.model_validate(
        {"changes": changes, "next_cursor": cursor, "has_more": has_more, "as_of": AS_OF}
    )


@pytest.fixture
def snap(tmp_path: Path) -> Iterator[Snapshot]:
    s = Snapshot(tmp_path / "data")
    yield s
    s.close()


def _related(snap: Snapshot, subject: str) -> list[tuple[str, str]] | None:
    found = snap.related_for(subject)
    return None if found is None else [(role, ref.id) for role, ref in found]


def test_feed_relations_are_kept_both_ways(snap: Snapshot) -> None:
    assert snap.apply(_page([{"seq": 1, "op": "upsert", "entry": _entry("BL-1", PERSON)}], "s1"))
    assert _related(snap, COMPANY) is None  # the platform has sent no relation yet
    changes = [
        {"seq": 2, "op": "relate", "relation": _rel(COMPANY, "legal_representative", PERSON)},
        {"seq": 3, "op": "relate", "relation": _rel(OTHER, "director", PERSON, "2020-01-01")},
    ]
    assert snap.apply(_page(changes, "s3")) == 0  # no entry changed; the relations did
    assert snap.status().cursor == "s3"
    assert snap.last_seq() == 3
    assert _related(snap, COMPANY) == [("legal_representative", PERSON)]
    assert _related(snap, PERSON) == [("director_of", OTHER), ("legal_representative_of", COMPANY)]
    assert _related(snap, "91442000MA4UC0006Q") == []  # relations known, none for it
    kinds = {ref.id: ref.kind for _, ref in snap.related_for(PERSON) or []}
    assert kinds == {OTHER: "legal_entity", COMPANY: "legal_entity"}
    assert snap.related_for(COMPANY)[0][1].kind == "natural_person"  # type: ignore[index]
    # Applying the same page again changes nothing; an unrelate removes the relation.
    assert snap.apply(_page(changes, "s3")) == 0
    unrelate = {"seq": 4, "op": "unrelate", "relation": _rel(OTHER, "director", PERSON)}
    snap.apply(_page([unrelate], "s4"))
    assert _related(snap, PERSON) == [("legal_representative_of", COMPANY)]
    # The profile of the snapshot carries each party's entries.
    related = snap.related_for(COMPANY)
    assert related is not None
    profile = snap.profile_for(COMPANY, "legal_entity", related=related)
    assert profile is not None
    assert [e.entry_id for e in profile.related[0].entries] == ["BL-1"]


def test_relations_in_seq_order_within_a_page(snap: Snapshot) -> None:
    changes = [
        {"seq": 6, "op": "relate", "relation": _rel(COMPANY, "principal", PERSON)},
        {"seq": 5, "op": "unrelate", "relation": _rel(COMPANY, "principal", PERSON)},
    ]
    snap.apply(_page(changes, "s6"))
    assert _related(snap, COMPANY) == [("principal", PERSON)]


def _export(lines: list[dict[str, Any]], count: int) -> bytes:
    head = {"cursor": "s9", "as_of": AS_OF, "count": count}
    text = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in (head, *lines))
    return gzip.compress(text.encode())


def test_export_relation_lines_are_loaded(snap: Snapshot) -> None:
    data = _export(
        [
            _entry("BL-1", PERSON),
            {"relation": _rel(COMPANY, "legal_representative", PERSON, "2019-03-01")},
            {"relation": _rel(COMPANY, "shareholder", OTHER)},
        ],
        count=1,  # the header counts entries only
    )
    result = snap.import_export(io.BytesIO(data))
    assert result.entries == 1
    assert _related(snap, COMPANY) == [("legal_representative", PERSON), ("shareholder", OTHER)]
    assert _related(snap, OTHER) == [("shareholder_of", COMPANY)]


def test_a_bad_relation_line_refuses_the_export(snap: Snapshot) -> None:
    data = _export([_entry("BL-1", PERSON), {"relation": {"subject_id": COMPANY}}], count=1)
    with pytest.raises(SnapshotImportError, match="line 3 is not a valid relation"):
        snap.import_export(io.BytesIO(data))


def test_relations_are_counted_apart_from_entries(snap: Snapshot) -> None:
    data = _export([{"relation": _rel(COMPANY, "director", PERSON)}], count=1)
    with pytest.raises(SnapshotImportError, match="promises 1 entries"):
        snap.import_export(io.BytesIO(data))


# --- decisions from the snapshot, the platform down ---------------------------------------


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        yield platform


def _offline_checker(fake: FakePlatform, tmp_path: Path) -> Any:
    checker = fake.checker(
        tmp_path / "data",
        timeout=0.5,
        cache_ttl=0,
        stale_cache_age=0,
        breaker_threshold=1,
        breaker_cooldown=3600,
    )
    checker.sync_snapshot()
    fake.outage()
    return checker


def _text(decision: Any) -> str:
    return "\n".join(f"{r.zh}\n{r.en}" for r in decision.reasons)


def test_a_company_never_checked_live_is_restricted_through_its_legal_representative(
    fake: FakePlatform, tmp_path: Path
) -> None:
    fake.add_entry(PERSON, "black", "wage_arrears")
    fake.relate(COMPANY, PERSON, "legal_representative")
    checker = _offline_checker(fake, tmp_path)
    try:
        decision = checker.must_check(COMPANY, "bidding")
        assert decision.source == "snapshot"
        assert decision.outcome is Outcome.RESTRICTION
        assert [m.id for m in decision.applied] == ["P-BID-EXCLUDE"]
        assert "related parties as the change feed sent them" in _text(decision)
        assert "4420**********1233" in _text(decision)
        assert PERSON not in _text(decision)
    finally:
        checker.close(timeout=1)


def test_without_feed_relations_the_learnt_ones_are_the_fallback(
    fake: FakePlatform, tmp_path: Path
) -> None:
    fake.feed_relations = False  # a platform of contract v1
    fake.add_entry(PERSON, "black", "wage_arrears")
    fake.relate(COMPANY, PERSON, "legal_representative")
    checker = fake.checker(tmp_path / "data", timeout=0.5, cache_ttl=0, stale_cache_age=0)
    try:
        checker.sync_snapshot()
        assert checker.must_check(COMPANY, "bidding").source == "live"  # learns the relation
        fake.outage()
        decision = checker.must_check(COMPANY, "bidding")
        assert decision.source == "snapshot"
        assert decision.outcome is Outcome.RESTRICTION
        assert "relations as learnt from the platform" in _text(decision)
    finally:
        checker.close(timeout=1)


def test_a_new_role_still_decides_live_and_offline(fake: FakePlatform, tmp_path: Path) -> None:
    """A role the SDK does not know is accepted and triggers nothing it is not named for."""
    fake.add_entry(PERSON, "black", "wage_arrears")
    fake.relate(COMPANY, PERSON, "supervisor")
    checker = fake.checker(tmp_path / "data", timeout=0.5, cache_ttl=0, stale_cache_age=0)
    try:
        live = checker.must_check(COMPANY, "bidding")
        assert live.source == "live"
        assert live.outcome is Outcome.NORMAL
        profile = checker.client.get_profile(COMPANY)
        assert [r.role for r in profile.related] == ["supervisor"]
        checker.sync_snapshot()
        fake.outage()
        offline = checker.must_check(COMPANY, "bidding")
        assert offline.source == "snapshot"
        assert offline.outcome is Outcome.NORMAL
    finally:
        checker.close(timeout=1)
