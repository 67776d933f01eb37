"""The SQLite journal's upload queue without an index of upload states (journal schema 8):
walks start at the upload floor, marks move it and store it now and then, a journal of
schema 7 (tests/golden/journal-schema7.sqlite3) migrates in place.

The golden file was written by the SDK of schema 7 (commit a394f79): twelve checks decided
from equal inputs and an action; c1-c3 accepted, c4 duplicate, c5 claimed by a process on
another host (lease of ten years) and still pending, c6 accepted, c7 duplicate and c8
rejected after it (out of order), c9-c12 and a1 never sent.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from credit_check_sdk.journal import Journal
from credit_check_sdk.report import build_monthly_report
from credit_check_sdk.storage import open_storage

GOLDEN_V7 = Path(__file__).resolve().parents[1] / "golden" / "journal-schema7.sqlite3"


def record(n: int) -> dict[str, object]:
    return {"type": "check", "id": f"c{n}", "checked_at": "2026-11-29T08:00:00+08:00"}


def stored_floor(path: Path) -> int:
    with closing(sqlite3.connect(path)) as raw:
        row = raw.execute("SELECT value FROM meta WHERE key = 'upload_floor'").fetchone()
    return int(row[0])


def indexes(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as raw:
        return {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_a_schema_7_journal_is_migrated_in_place(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = data_dir / "journal.sqlite3"
    shutil.copy(GOLDEN_V7, path)
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 7
        before = raw.execute(
            "SELECT seq, id, body, hash, upload_state, upload_detail, claimed_by FROM records"
            " ORDER BY seq"
        ).fetchall()
    assert "records_upload_state" in indexes(path)
    with open_storage(data_dir=data_dir) as storage:
        j = storage.journal
        assert j.verify().ok
        assert j.verify_columns().ok
        assert j.counts() == {"pending": 6, "accepted": 4, "duplicate": 2, "rejected": 1}
        assert j.upload_state("c8") == ("rejected", "unknown measure")
        assert j.upload_state("c7") == ("duplicate", None)
        assert [r["id"] for r in storage.uploads.pending()] == [
            "c5",
            "c9",
            "c10",
            "c11",
            "c12",
            "a1",
        ]
        assert storage.uploads.pending_count() == 6
        # c5 is another host's (its claim is live): the rest are free, in journal order.
        assert storage.uploads.pending_count(claimed_by_others="here:1:a") == 1
        claimed = storage.uploads.claim("here:1:a", 100, 60)
        assert [r["id"] for _, r in claimed] == ["c9", "c10", "c11", "c12", "a1"]
        report = build_monthly_report(storage, agency_id="AG-1", period="2026-11")
        assert report.record_count == 13
        assert report.journal_head_hash == before[-1][3]
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 8
        after = raw.execute(
            "SELECT seq, id, body, hash, upload_state, upload_detail FROM records ORDER BY seq"
        ).fetchall()
    assert after == [row[:6] for row in before]  # nothing but the indexes changed
    # The floor found from the old index: c1-c4 answered, c5 pending.
    assert stored_floor(path) == 4
    found = indexes(path)
    assert "records_upload_state" not in found
    assert "records_upload_exceptions" in found
    with Journal(path) as j:  # opening again changes nothing
        assert j.verify().ok
        assert stored_floor(path) == 4


def test_an_append_writes_no_upload_index_and_marks_move_the_floor(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as j:
        j._floor.step = 3  # stored every third record the floor moves
        for n in range(1, 8):
            j.append(record(n))
        with closing(sqlite3.connect(path)) as raw:
            plan = raw.execute(
                "EXPLAIN QUERY PLAN SELECT seq FROM records WHERE seq > ?"
                " AND upload_state = 'pending' ORDER BY seq",
                (0,),
            ).fetchall()
        assert "INTEGER PRIMARY KEY" in plan[0][3]  # a walk by position, no upload index
        j.mark(["c2"], "accepted")  # out of order: c1 still pending
        assert j._floor.known == 0
        j.mark(["c1"], "accepted")
        assert j._floor.known == 2  # c1 and c2 answered
        assert stored_floor(path) == 0  # not stored yet: it moved 2 records only
        j.mark_rejected("c3", "bad matter")
        assert j._floor.known == 3
        assert stored_floor(path) == 3
        j.mark(["c4", "c5", "c6", "c7"], "duplicate")  # every record answered
        assert j._floor.known == 7
        assert j.counts() == {"pending": 0, "accepted": 2, "duplicate": 4, "rejected": 1}
        j.append(record(8))
        assert [r["id"] for _, r in j.claim("host:1:a", 10, 60)] == ["c8"]
        assert j.pending_count() == 1
    assert stored_floor(path) == 7
    with Journal(path) as j:  # another process starts from the stored floor
        assert j.pending_count() == 1
        assert [r["id"] for r in j.pending()] == ["c8"]


def test_a_process_starts_from_the_floor_another_stored(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as a, Journal(path) as b:
        a._floor.step = b._floor.step = 1
        for n in range(1, 6):
            a.append(record(n))
        a.mark(["c1", "c2", "c3"], "accepted")
        assert stored_floor(path) == 3
        assert b._floor.known == 0  # b has marked nothing: it reads a's stored floor
        assert [r["id"] for _, r in b.claim("host:2:b", 10, 60)] == ["c4", "c5"]
        b.mark(["c5"], "accepted")
        assert b._floor.known == 3  # c4 is still pending
        b.mark(["c4"], "accepted")
        assert stored_floor(path) == 5
        assert a.pending_count() == 0


@pytest.mark.parametrize("deleted", [1, 2])
def test_records_appended_after_a_deleted_tail_are_still_uploaded(
    tmp_path: Path, deleted: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Deleting the newest records frees their positions: the next records take them,
    below the floor. A walk sees that the floor names no answered record and starts
    from the first record again: the new records are sent."""
    path = tmp_path / "j.db"
    with Journal(path) as j:
        j._floor.step = 1
        for n in range(1, 5):
            j.append(record(n))
        j.mark([f"c{n}" for n in range(1, 5)], "accepted")
        assert stored_floor(path) == 4
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("DELETE FROM records WHERE seq > ?", (4 - deleted,))
    with Journal(path) as j:
        for n in range(deleted):
            j.append(record(10 + n))
        claimed = j.claim("host:1:a", 10, 60)
        assert [r["id"] for _, r in claimed] == [f"c{10 + n}" for n in range(deleted)]
        assert "names no answered record" in caplog.text
        assert j.pending_count() == deleted
