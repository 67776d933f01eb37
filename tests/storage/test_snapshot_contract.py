"""The offline snapshot's promises (SnapshotStore, SnapshotBuilder, SnapshotLease), for
every adapter: lookups, feed pages (entries and relations), rebuilds, imports, the lease."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk._client import ChangesPage
from credit_check_sdk.storage import SnapshotBusyError, SnapshotError, SnapshotImportError, Storage
from tests.test_snapshot import COMPANY, OTHER, entry, export_bytes, page

WORKER = Path(__file__).with_name("worker.py")
PERSON = "442000199001011233"


def relations_page(changes: list[tuple[int, str, str, str, str]], **kw: Any) -> ChangesPage:
    return ChangesPage.model_validate(
        {
            "changes": [
                {"seq": s, "op": op, "relation": {"subject_id": a, "role": role, "related_id": b}}
                for s, op, a, role, b in changes
            ],
            "next_cursor": kw.get("cursor", "r"),
            "has_more": kw.get("has_more", False),
            "as_of": kw.get("as_of", "2026-11-29T08:00:00+08:00"),
        }
    )


def ids(entries: list[Any]) -> list[str]:
    return [e.entry_id for e in entries]


def test_an_empty_snapshot_answers_nothing(storage: Storage) -> None:
    s = storage.snapshot
    assert s.entries_for(COMPANY) == []
    assert s.profile_for(COMPANY, "legal_entity") is None
    assert s.related_for(COMPANY) is None
    assert (s.as_of(), s.synced_at(), s.cursor(), s.last_seq(), s.age()) == (
        None,
        None,
        None,
        0,
        None,
    )
    assert s.status().entries == 0
    assert isinstance(s.location, str)
    assert s.location


def test_pages_are_applied_in_seq_order_once(storage: Storage) -> None:
    s = storage.snapshot
    first = page(
        [(3, "delete", entry(1)), (1, "upsert", entry(1)), (2, "upsert", entry(2))],
        cursor="c3",
        has_more=True,
        as_of="2026-11-29T07:00:00+08:00",
    )
    assert [c.seq for c in s.apply_changes(first)] == [1, 2, 3]
    assert ids(s.entries_for(COMPANY)) == ["E-000002"]
    assert s.profile_for(COMPANY, "legal_entity") is None  # the feed had more: not synced yet
    assert s.apply(first) == 0  # applied before: nothing changes
    last = page([(4, "upsert", entry(3, OTHER))], cursor="c4", as_of="2026-11-29T08:00:00+08:00")
    assert s.apply(last) == 1
    status = s.status()
    assert (status.entries, status.cursor, status.last_seq) == (2, "c4", 4)
    assert s.as_of() is not None
    assert s.as_of().hour == 8
    assert s.synced_at() is not None
    profile = s.profile_for(COMPANY, "legal_entity")
    assert profile is not None
    assert ids(list(profile.entries)) == ["E-000002"]
    assert profile.record_since is None
    assert profile.last_adverse_on is None
    # An old empty page answered again does not move the cursor back.
    assert s.apply(page([], cursor="old", as_of="2026-11-29T06:00:00+08:00")) == 0
    assert s.cursor() == "c4"


def test_relations_from_the_feed_both_ways(storage: Storage) -> None:
    s = storage.snapshot
    s.apply(page([(1, "upsert", entry(1, PERSON))], cursor="c1"))
    assert s.related_for(COMPANY) is None  # no relation sent yet: none known from here
    s.apply(
        relations_page(
            [
                (2, "relate", COMPANY, "legal_representative", PERSON),
                (3, "relate", OTHER, "director", PERSON),
                (4, "unrelate", OTHER, "director", PERSON),
            ],
            cursor="c4",
        )
    )
    assert [(role, ref.id) for role, ref in s.related_for(COMPANY) or []] == [
        ("legal_representative", PERSON)
    ]
    assert [(role, ref.id, ref.kind) for role, ref in s.related_for(PERSON) or []] == [
        ("legal_representative_of", COMPANY, "legal_entity")
    ]
    assert s.related_for(OTHER) == []  # relations are sent: it has none
    related = s.related_for(COMPANY) or []
    profile = s.profile_for(COMPANY, "legal_entity", related=related)
    assert profile is not None
    assert [ids(list(r.entries)) for r in profile.related] == [["E-000001"]]


def test_a_rebuild_is_swapped_in_whole_or_not_at_all(storage: Storage) -> None:
    s = storage.snapshot
    s.apply(page([(1, "upsert", entry(1))], cursor="old"))
    generation = s.status().generation
    with s.begin_rebuild() as builder:
        assert isinstance(builder.location, str)
        builder.apply(page([(1, "upsert", entry(7))], cursor="n1", has_more=True))
        with pytest.raises(SnapshotError):
            builder.commit()  # the feed had more pages: never half a snapshot in service
    assert ids(s.entries_for(COMPANY)) == ["E-000001"]  # aborted: the old one answers
    with s.begin_rebuild() as builder:
        builder.apply(page([(1, "upsert", entry(7))], cursor="n1", has_more=True))
        assert ids(s.entries_for(COMPANY)) == ["E-000001"]  # nothing read from a rebuild
        builder.apply(page([(2, "upsert", entry(8))], cursor="n2"))
        new = builder.commit()
    assert new > generation
    assert ids(s.entries_for(COMPANY)) == ["E-000007", "E-000008"]
    assert s.cursor() == "n2"


def test_one_rebuild_at_a_time(storage: Storage) -> None:
    s = storage.snapshot
    builder = s.begin_rebuild()
    try:
        with pytest.raises(SnapshotBusyError):
            s.begin_rebuild(wait=0.1)
        assert s.lead(wait=0) is None  # the lease and the right to rebuild are one
    finally:
        builder.abort()
        builder.abort()  # idempotent
    s.begin_rebuild().abort()


def test_an_export_is_imported_and_a_bad_one_changes_nothing(
    storage: Storage, tmp_path: Path
) -> None:
    s = storage.snapshot
    good = tmp_path / "export.ndjson.gz"
    good.write_bytes(export_bytes([entry(1), entry(2, OTHER)], cursor="x9"))
    seen: list[tuple[int, int]] = []
    result = s.import_export(good, progress=lambda done, count: seen.append((done, count)))
    assert (result.entries, result.cursor) == (2, "x9")
    assert seen[-1] == (2, 2)
    assert s.cursor() == "x9"
    assert s.last_seq() == 0
    assert s.profile_for(COMPANY, "legal_entity") is not None
    with pytest.raises(SnapshotImportError):
        s.import_export(io.BytesIO(export_bytes([entry(3)], count=2, gz=False)))
    with pytest.raises(SnapshotImportError):
        s.import_export(io.BytesIO(export_bytes([entry(4), entry(4)])))  # an id twice
    assert ids(s.entries_for(COMPANY)) == ["E-000001"]
    assert s.cursor() == "x9"


def test_the_export_loader_through_a_builder(storage: Storage) -> None:
    s = storage.snapshot
    lines = [
        entry(1),
        {"relation": {"subject_id": COMPANY, "role": "principal", "related_id": PERSON}},
    ]
    with s.begin_rebuild() as builder:
        loader = builder.export_loader()
        data = export_bytes(lines, count=1)
        loader.write(data[:7])
        loader.truncate()  # a retried download starts again from nothing
        loader.seek(0)
        loader.write(data)
        header = loader.finish()
        builder.apply(page([(5, "upsert", entry(2))], cursor="x10"))
        builder.commit()
    assert header.count == 1
    assert ids(s.entries_for(COMPANY)) == ["E-000001", "E-000002"]
    assert [(role, ref.id) for role, ref in s.related_for(COMPANY) or []] == [("principal", PERSON)]


def test_the_lease_is_held_by_one_at_a_time(storage: Storage) -> None:
    s = storage.snapshot
    lease = s.lead(wait=0)
    assert lease is not None
    assert lease.alive()
    assert s.lead(wait=0.1) is None
    with pytest.raises(SnapshotBusyError):
        s.begin_rebuild(wait=0)
    with s.begin_rebuild(lease=lease) as builder:  # a rebuild under the lease
        builder.apply(page([(1, "upsert", entry(1))], cursor="l1"))
        builder.commit()
    assert lease.alive()  # the rebuild leaves the lease held
    lease.release()
    lease.release()  # idempotent
    assert not lease.alive()
    with s.lead(wait=0) as again:  # type: ignore[union-attr]
        assert again.alive()
    assert ids(s.entries_for(COMPANY)) == ["E-000001"]


def test_a_lease_held_by_another_process_keeps_this_one_out(
    adapter: Any, storage: Storage, tmp_path: Path
) -> None:
    go = tmp_path / "GO"
    go.touch()
    other = subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(adapter.spec), "lead", str(go)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        assert other.stdin is not None
        assert json.loads(other.stdout.readline()) is True
        assert storage.snapshot.lead(wait=0.2) is None
        other.stdin.write("\n")
        other.stdin.flush()
        other.wait(60)
        lease = storage.snapshot.lead(wait=5)
        assert lease is not None
        lease.release()
    finally:
        if other.poll() is None:
            other.kill()
