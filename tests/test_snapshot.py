"""The offline snapshot on real SQLite files: apply order, idempotence, imports, swaps, readers."""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_check_sdk._client import ChangesPage
from credit_check_sdk.snapshot import (
    BUILD_NAME,
    LoadStoppedError,
    Snapshot,
    SnapshotBusyError,
    SnapshotError,
    SnapshotImportError,
)

CST = timezone(timedelta(hours=8))
COMPANY = "91442000MA4UJ2KQ57"
OTHER = "91442000MA4UPJ8X1B"


def entry(
    n: int, subject: str = COMPANY, *, status: str = "active", lst: str = "black"
) -> dict[str, Any]:
    return {
        "entry_id": f"E-{n:06d}",
        "subject_id": subject,
        "list": lst,
        "category": "court_judgment_defaulter",
        "authority": "中山市中级人民法院",
        "basis": None,
        "listed_on": "2025-01-10",
        "expires_on": None,
        "status": status,
        "updated_at": "2026-11-20T10:00:00+08:00",
    }


def page(
    changes: list[tuple[int, str, dict[str, Any]]],
    *,
    cursor: str = "c",
    has_more: bool = False,
    as_of: str = "2026-11-29T08:00:00+08:00",
) -> ChangesPage:
    return ChangesPage.model_validate(
        {
            "changes": [{"seq": s, "op": op, "entry": e} for s, op, e in changes],
            "next_cursor": cursor,
            "has_more": has_more,
            "as_of": as_of,
        }
    )


def export_bytes(
    entries: list[dict[str, Any]],
    *,
    count: int | None = None,
    cursor: str = "x9",
    as_of: str = "2026-11-29T09:00:00+08:00",
    gz: bool = True,
) -> bytes:
    head = {"cursor": cursor, "as_of": as_of, "count": len(entries) if count is None else count}
    text = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in (head, *entries))
    return gzip.compress(text.encode()) if gz else text.encode()


@pytest.fixture
def snap(tmp_path: Path) -> Any:
    s = Snapshot(tmp_path / "data")
    yield s
    s.close()


def ids(entries: list[Any]) -> list[str]:
    return [e.entry_id for e in entries]


def test_upserts_and_deletes_are_applied_in_seq_order(snap: Snapshot) -> None:
    # Given out of order: the delete (seq 3) must win over the upserts (1, 2) of E-1,
    # and the upsert (seq 5) of E-2 must win over its delete (seq 4).
    p = page(
        [
            (3, "delete", entry(1)),
            (5, "upsert", entry(2, status="objection_pending")),
            (1, "upsert", entry(1)),
            (4, "delete", entry(2)),
            (2, "upsert", entry(1, status="repaired")),
        ],
        cursor="c5",
    )
    assert snap.apply(p) == 5
    got = snap.entries_for(COMPANY)
    assert ids(got) == ["E-000002"]
    assert got[0].status == "objection_pending"
    st = snap.status()
    assert (st.entries, st.cursor, st.last_seq) == (1, "c5", 5)


def test_an_upsert_can_move_an_entry_to_another_subject(snap: Snapshot) -> None:
    snap.apply(page([(1, "upsert", entry(1))], cursor="c1"))
    snap.apply(page([(2, "upsert", entry(1, OTHER))], cursor="c2"))
    assert snap.entries_for(COMPANY) == []
    assert ids(snap.entries_for(OTHER)) == ["E-000001"]
    assert snap.status().entries == 1


def test_reapplying_a_page_is_a_noop_and_overlaps_apply_only_new_changes(snap: Snapshot) -> None:
    first = page([(1, "upsert", entry(1)), (2, "upsert", entry(2))], cursor="c2")
    assert snap.apply(first) == 2
    snap.apply(page([(3, "delete", entry(1))], cursor="c3"))
    # The first page again (a retried request answered twice): E-1 must stay deleted.
    assert snap.apply(first) == 0
    assert ids(snap.entries_for(COMPANY)) == ["E-000002"]
    assert snap.status().cursor == "c3"
    overlap = page([(3, "delete", entry(1)), (4, "upsert", entry(3))], cursor="c4")
    assert snap.apply(overlap) == 1
    assert ids(snap.entries_for(COMPANY)) == ["E-000002", "E-000003"]
    assert snap.status().entries == 2


def test_as_of_moves_only_when_caught_up_and_never_back(snap: Snapshot) -> None:
    snap.apply(page([(1, "upsert", entry(1))], cursor="c1", has_more=True))
    assert snap.as_of() is None
    assert snap.profile_for(COMPANY, "legal_entity") is None  # never completed a sync
    snap.apply(page([(2, "upsert", entry(2))], cursor="c2", as_of="2026-11-29T08:05:00+08:00"))
    assert snap.as_of() == datetime(2026, 11, 29, 8, 5, tzinfo=CST)
    # A later empty page moves freshness forwards...
    snap.apply(page([], cursor="c2", as_of="2026-11-29T09:00:00+08:00"))
    assert snap.as_of() == datetime(2026, 11, 29, 9, 0, tzinfo=CST)
    # ...an old empty page answered again does not move it (or the cursor) back.
    snap.apply(page([], cursor="c0", as_of="2026-11-29T07:00:00+08:00"))
    assert snap.as_of() == datetime(2026, 11, 29, 9, 0, tzinfo=CST)
    assert snap.cursor() == "c2"
    age = snap.age(datetime(2026, 11, 29, 10, 0, tzinfo=CST))
    assert age == timedelta(hours=1)
    synced = snap.synced_at()
    assert synced is not None
    assert abs(datetime.now(CST) - synced) < timedelta(minutes=1)


def test_profile_for_builds_a_list_only_profile(snap: Snapshot) -> None:
    snap.apply(
        page(
            [
                (1, "upsert", entry(1)),
                (2, "upsert", entry(2, lst="red")),
                (3, "upsert", entry(3, OTHER)),
            ],
            cursor="c3",
        )
    )
    profile = snap.profile_for(COMPANY, "legal_entity")
    assert profile is not None
    assert profile.subject.id == COMPANY
    assert profile.subject.kind == "legal_entity"
    assert ids(list(profile.entries)) == ["E-000001", "E-000002"]
    assert profile.record_since is None
    assert profile.last_adverse_on is None
    assert profile.related == ()
    assert profile.as_of == datetime(2026, 11, 29, 8, 0, tzinfo=CST)
    empty = snap.profile_for("91442000MA4W00000X", "legal_entity")
    assert empty is not None
    assert empty.entries == ()


def test_import_export_swaps_in_a_new_generation(snap: Snapshot, tmp_path: Path) -> None:
    snap.apply(page([(1, "upsert", entry(1))], cursor="c1"))
    old_path = snap.status().path
    f = tmp_path / "export.ndjson.gz"
    f.write_bytes(export_bytes([entry(10), entry(11), entry(12, OTHER)]))
    result = snap.import_export(f)
    assert (result.entries, result.cursor, result.generation) == (3, "x9", 2)
    assert result.as_of == datetime(2026, 11, 29, 9, 0, tzinfo=CST)
    assert ids(snap.entries_for(COMPANY)) == ["E-000010", "E-000011"]
    st = snap.status()
    assert (st.entries, st.cursor, st.generation, st.last_seq) == (3, "x9", 2, 0)
    assert st.path != old_path
    assert st.size_bytes > 0
    # The old generation and the build file are gone.
    names = sorted(os.listdir(snap.dir))
    assert not any(n.startswith("snapshot.1.") for n in names), names
    assert BUILD_NAME not in names
    # The feed continues after the export: changes from its cursor apply on top.
    snap.apply(page([(41, "delete", entry(10))], cursor="x10"))
    assert ids(snap.entries_for(COMPANY)) == ["E-000011"]


def test_import_accepts_plain_ndjson_and_file_objects(snap: Snapshot) -> None:
    result = snap.import_export(io.BytesIO(export_bytes([entry(1)], gz=False)))
    assert result.entries == 1
    assert ids(snap.entries_for(COMPANY)) == ["E-000001"]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (export_bytes([entry(10), entry(11)], count=3), "promises 3 entries"),
        (export_bytes([entry(10), entry(11)], count=1), "promises 1 entries"),
        (export_bytes([entry(10), entry(10)]), "repeats an entry id"),
        (export_bytes([entry(10), entry(11)])[:-12], "truncated"),
        (export_bytes([{"entry_id": "E-9"}]), "line 2 is not a valid list entry"),
        (gzip.compress(b'{"cursor": "x"}\n'), "header"),
    ],
    ids=["short", "long", "duplicate", "truncated", "invalid-entry", "bad-header"],
)
def test_a_bad_export_is_refused_and_the_old_snapshot_kept(
    snap: Snapshot, tmp_path: Path, data: bytes, match: str
) -> None:
    snap.apply(page([(1, "upsert", entry(1))], cursor="c1"))
    before = snap.status()
    f = tmp_path / "bad.ndjson.gz"
    f.write_bytes(data)
    with pytest.raises(SnapshotImportError, match=match):
        snap.import_export(f)
    after = snap.status()
    assert (after.generation, after.cursor, after.entries) == (1, "c1", 1)
    assert after.path == before.path
    assert ids(snap.entries_for(COMPANY)) == ["E-000001"]
    assert BUILD_NAME not in os.listdir(snap.dir)
    # And the snapshot still takes changes.
    snap.apply(page([(2, "upsert", entry(2))], cursor="c2"))
    assert ids(snap.entries_for(COMPANY)) == ["E-000001", "E-000002"]


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
@pytest.mark.parametrize("piece", [1, 7, 1 << 20], ids=["byte-by-byte", "7-bytes", "whole"])
def test_an_export_pushed_in_any_pieces_loads_the_same(
    snap: Snapshot, gz: bool, piece: int
) -> None:
    entries = [entry(i, COMPANY if i % 2 else OTHER) for i in range(1, 41)]
    data = export_bytes(entries, gz=gz)
    got: list[list[str]] = []
    with snap.begin_rebuild() as builder:
        loader = builder.export_loader(on_stored=got.append)
        for at in range(0, len(data), piece):
            assert loader.write(data[at : at + piece]) == len(data[at : at + piece])
        header = loader.finish()
        builder.commit()
    assert (header.cursor, header.count, loader.loaded) == ("x9", 40, 40)
    assert got == [[e["subject_id"] for e in entries]]  # one batch, the subjects in order
    assert len(snap.entries_for(COMPANY)) == 20
    assert snap.status().cursor == "x9"


def test_concatenated_gzip_members_are_one_export(snap: Snapshot) -> None:
    whole = export_bytes([entry(1), entry(2), entry(3)], gz=False)
    cut = whole.index(b"\n", whole.index(b"E-000001")) + 1
    data = gzip.compress(whole[:cut]) + gzip.compress(whole[cut:])
    assert snap.import_export(io.BytesIO(data)).entries == 3


def test_truncate_starts_a_load_again_from_nothing(snap: Snapshot) -> None:
    data = export_bytes([entry(i) for i in range(1, 25_001)])
    with snap.begin_rebuild() as builder:
        loader = builder.export_loader()
        loader.write(data[: len(data) * 3 // 4])  # some batches already written
        assert loader.loaded >= 10_000
        loader.seek(0)
        loader.truncate()  # what a retried download does
        loader.write(data)
        assert loader.finish().count == 25_000
        builder.commit()
    assert snap.status().entries == 25_000
    assert len(snap.entries_for(COMPANY)) == 25_000


def test_a_stopped_load_raises_at_the_next_write(snap: Snapshot) -> None:
    stop = threading.Event()
    data = export_bytes([entry(1)])
    with snap.begin_rebuild() as builder:
        loader = builder.export_loader(stop=stop)
        loader.write(data[:5])
        stop.set()
        with pytest.raises(LoadStoppedError):
            loader.write(data[5:])
    assert snap.status().generation == 0
    assert BUILD_NAME not in os.listdir(snap.dir)


def test_an_empty_export_is_refused(snap: Snapshot) -> None:
    with pytest.raises(SnapshotImportError, match="empty"):
        snap.import_export(io.BytesIO(b""))
    with pytest.raises(SnapshotImportError, match="truncated"):
        snap.import_export(io.BytesIO(b"\x1f\x8b"))


def test_builder_refuses_an_incomplete_feed_and_abort_keeps_the_old(snap: Snapshot) -> None:
    snap.apply(page([(1, "upsert", entry(1))], cursor="c1"))
    builder = snap.begin_rebuild()
    builder.apply(page([(1, "upsert", entry(5))], cursor="n1", has_more=True))
    with pytest.raises(SnapshotError, match="incomplete"):
        builder.commit()
    assert ids(snap.entries_for(COMPANY)) == ["E-000001"]
    builder.abort()
    builder.abort()  # idempotent
    assert BUILD_NAME not in os.listdir(snap.dir)
    with snap.begin_rebuild() as b2:
        b2.apply(page([(1, "upsert", entry(5))], cursor="n1"))
        assert b2.commit() == 2
    assert ids(snap.entries_for(COMPANY)) == ["E-000005"]
    assert snap.status().cursor == "n1"


def test_one_rebuild_at_a_time(snap: Snapshot, tmp_path: Path) -> None:
    other = Snapshot(snap.dir, busy_timeout=0.2)  # as another process would hold it
    try:
        with snap.begin_rebuild():
            with pytest.raises(SnapshotBusyError):
                other.begin_rebuild()
            with pytest.raises(SnapshotBusyError):
                other.import_export(io.BytesIO(export_bytes([entry(1)])))
        with other.begin_rebuild() as b:  # free again once the first one ended
            b.abort()
    finally:
        other.close()


def test_a_swap_is_seen_by_another_instance(tmp_path: Path) -> None:
    a = Snapshot(tmp_path / "d", recheck=0.0)
    b = Snapshot(tmp_path / "d", recheck=0.0)
    try:
        a.import_export(io.BytesIO(export_bytes([entry(1)])))
        assert ids(b.entries_for(COMPANY)) == ["E-000001"]  # b had no file at all before
        b.import_export(io.BytesIO(export_bytes([entry(2)], cursor="y")))
        assert ids(a.entries_for(COMPANY)) == ["E-000002"]
        # a's writer must follow the swap too: its change lands in the new file.
        a.apply(page([(7, "upsert", entry(3))], cursor="y7"))
        assert ids(b.entries_for(COMPANY)) == ["E-000002", "E-000003"]
        assert b.status().cursor == "y7"
    finally:
        a.close()
        b.close()


def test_readers_see_whole_generations_during_swaps(snap: Snapshot) -> None:
    set_a = [entry(1), entry(2), entry(3)]
    set_b = [entry(7), entry(8)]
    snap.import_export(io.BytesIO(export_bytes(set_a)))
    other = Snapshot(snap.dir, recheck=0.0)  # a second "process" reading the same files
    expected = {("E-000001", "E-000002", "E-000003"), ("E-000007", "E-000008")}
    seen: set[tuple[str, ...]] = set()
    errors: list[BaseException] = []
    stop = threading.Event()
    reads = [0]

    def read(s: Snapshot) -> None:
        try:
            while not stop.is_set():
                got = tuple(ids(s.entries_for(COMPANY)))
                p = s.profile_for(COMPANY, "legal_entity")
                assert got in expected, got
                assert p is not None
                assert tuple(ids(list(p.entries))) in expected
                seen.add(got)
                reads[0] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(s,)) for s in (snap, snap, snap, other, other)]
    for t in threads:
        t.start()
    try:
        for i in range(12):
            time.sleep(0.01)
            data = set_b if i % 2 == 0 else set_a
            snap.import_export(io.BytesIO(export_bytes(data, cursor=f"g{i}")))
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        other.close()
    assert not errors, errors[0]
    assert seen == expected
    assert reads[0] > 50
    # Only the generation in service is left on disk.
    names = [n for n in os.listdir(snap.dir) if n.startswith("snapshot.") and ".sqlite3" in n]
    assert {n.split(".")[1] for n in names} == {str(snap.status().generation)}


def test_empty_snapshot_answers_nothing(snap: Snapshot) -> None:
    assert snap.entries_for(COMPANY) == []
    assert snap.profile_for(COMPANY, "legal_entity") is None
    assert snap.as_of() is None
    assert snap.synced_at() is None
    assert snap.age() is None
    assert snap.cursor() is None
    st = snap.status()
    assert (st.entries, st.generation, st.path, st.size_bytes) == (0, 0, None, 0)


def test_a_damaged_pointer_is_an_error_not_an_empty_snapshot(snap: Snapshot) -> None:
    snap.apply(page([(1, "upsert", entry(1))], cursor="c1"))
    snap.pointer_path.write_text('{"file": "../../etc/passwd", "generation": 1}')
    fresh = Snapshot(snap.dir)
    with pytest.raises(SnapshotError):
        fresh.entries_for(COMPANY)


def test_import_reports_progress_per_batch(snap: Snapshot) -> None:
    seen: list[tuple[int, int]] = []
    data = export_bytes([entry(i) for i in range(1, 25_001)])
    result = snap.import_export(io.BytesIO(data), progress=lambda n, total: seen.append((n, total)))
    assert result.entries == 25_000
    assert seen == [(10_000, 25_000), (20_000, 25_000), (25_000, 25_000)]


_CHANGE = st.tuples(
    st.sampled_from(["upsert", "delete"]),
    st.integers(1, 5),  # entry number: few, so that changes collide
    st.sampled_from([COMPANY, OTHER]),
    st.sampled_from(["active", "repaired", "objection_pending"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(_CHANGE, max_size=30), cuts=st.lists(st.integers(1, 8), max_size=10))
def test_any_changes_in_any_pages_end_as_applying_them_one_by_one(
    changes: list[tuple[str, int, str, str]], cuts: list[int]
) -> None:
    seqd = [(seq, op, entry(n, subject, status=status)) for seq, (op, n, subject, status)
            in enumerate(changes, start=1)]  # fmt: skip
    model: dict[str, dict[str, Any]] = {}
    for _seq, op, e in seqd:
        if op == "upsert":
            model[e["entry_id"]] = e
        else:
            model.pop(e["entry_id"], None)
    pages, at = [], 0
    for cut in [*cuts, len(seqd)]:
        pages.append(seqd[at : at + cut])
        at += cut
    with tempfile.TemporaryDirectory() as tmp:
        incremental = Snapshot(Path(tmp) / "a")
        rebuilt = Snapshot(Path(tmp) / "b")
        builder = rebuilt.begin_rebuild()
        for i, chunk in enumerate(pages):
            done = i == len(pages) - 1
            incremental.apply(page(chunk, cursor=f"c{i}", has_more=not done))
            builder.apply(page(chunk, cursor=f"c{i}", has_more=not done))
        builder.commit()
        for snap in (incremental, rebuilt):
            got = {
                e.entry_id: (e.subject_id, e.status)
                for s in (COMPANY, OTHER)
                for e in snap.entries_for(s)
            }
            assert got == {k: (v["subject_id"], v["status"]) for k, v in model.items()}
            assert snap.status().entries == len(model)
            snap.close()
