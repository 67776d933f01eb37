"""The SQLite adapter on the files SDKs before the storage seam wrote: they open, read as
they were and migrate in place (tests/golden/data-dir-before-storage, and the schema-4
journal of tests/golden); and what only the SQLite adapter does (files opened lazily)."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from credit_check_sdk import JournalError
from credit_check_sdk.report import build_monthly_report
from credit_check_sdk.storage import open_storage

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
BEFORE = GOLDEN / "data-dir-before-storage"
CST = timezone(timedelta(hours=8))
ORG = "91442000MA4UJ2KQ57"
PERSON = "442000199001011237"


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as raw:
        return int(raw.execute("PRAGMA user_version").fetchone()[0])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(BEFORE, copy, ignore=shutil.ignore_patterns("README.md"))
    return copy


def test_the_journal_of_before_reads_as_it_was(data_dir: Path) -> None:
    path = data_dir / "journal.sqlite3"
    assert user_version(path) == 5
    with closing(sqlite3.connect(path)) as raw:
        before = raw.execute("SELECT seq, id, body, hash FROM records ORDER BY seq").fetchall()
        claimed = raw.execute("SELECT claimed_by FROM records WHERE id = 'c2'").fetchone()
    with open_storage(data_dir=data_dir) as storage:
        j = storage.journal
        assert j.verify().ok
        assert j.verify_columns().ok
        assert [r["id"] for r in j.iter_records()] == ["c1", "a1", "c2", "c3", "c4"]
        assert j.counts() == {"pending": 3, "accepted": 1, "duplicate": 0, "rejected": 1}
        assert j.upload_state("a1") == ("rejected", "unknown measure")
        assert j.inputs_for("c1") == {"catalog_version": "2026.12.1", "on": "2026-10-05"}
        assert j.latest_check_for_case(ORG, "ZSGC-2026-118")["id"] == "c4"  # type: ignore[index]
        since = datetime(2026, 1, 1, tzinfo=CST)
        assert [r["id"] for r in j.degraded_without_recheck(since)] == ["c4"]
        assert [o["status"] for o in storage.objections.select()] == ["upheld"]
        assert [r["receipt_id"] for r in storage.receipts.select("2026-10")] == ["RCPT-1"]
        report = build_monthly_report(storage, agency_id="AG-1", period="2026-10")
        assert report.record_count == 5
        assert report.journal_head_hash == before[-1][3]
        assert report.degraded.reverified == 1
        # The claim of the process elsewhere is kept as it was written.
        assert claimed == ("otherhost:4242:deadbeef",)
        assert storage.uploads.pending_count(claimed_by_others="here:1:a") == 1
        appended = j.append(
            {"type": "check", "id": "c5", "checked_at": "2026-11-01T08:00:00+08:00"}
        )
        assert appended["prev_hash"] == before[-1][3]  # the chain goes on from the old file
    with closing(sqlite3.connect(path)) as raw:
        after = raw.execute("SELECT seq, id, body, hash FROM records ORDER BY seq").fetchall()
    assert after[: len(before)] == before
    assert user_version(path) == 8
    with closing(sqlite3.connect(path)) as raw:
        # Schema 7: the inputs moved to input_bodies (by content), case ids to a column.
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "inputs" not in tables
        assert raw.execute("SELECT COUNT(*) FROM input_bodies").fetchone()[0] >= 1
        cases = raw.execute("SELECT id FROM records WHERE case_id = 'ZSGC-2026-118'").fetchall()
        assert ("c4",) in cases


def test_a_schema_4_journal_is_migrated_in_place(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(GOLDEN / "journal-schema4.sqlite3", data_dir / "journal.sqlite3")
    assert user_version(data_dir / "journal.sqlite3") == 4
    with open_storage(data_dir=data_dir) as storage:
        assert storage.journal.verify().ok
        assert storage.journal.verify_columns().ok
        claimed = storage.uploads.claim("host-a:1:t", 100, 60)
        assert [r["id"] for _, r in claimed] == ["c7", "c8", "c9", "c10", "c11", "a0"]
        assert storage.uploads.claim("host-b:2:t", 100, 60) == []
    assert user_version(data_dir / "journal.sqlite3") == 8


def test_the_followups_of_before_gain_claims(data_dir: Path) -> None:
    path = data_dir / "followups.sqlite3"
    assert user_version(path) == 0  # written before the small files had versions
    with open_storage(data_dir=data_dir) as storage:
        f = storage.followups
        assert f.counts() == {"pending": 1, "reverified": 1, "changed": 1, "watches": 1}
        (watch,) = f.watches()
        assert (watch.case_id, watch.related_ids, watch.last_check_id) == (
            "ZSGC-2026-118",
            (PERSON,),
            "c4",
        )
        assert [p.check_id for p in f.claim_rechecks("h:1:a")] == ["c4"]
        assert f.claim_rechecks("h:2:b") == []
        assert f.finish_recheck("c4", "c9", "restriction") is True
    assert user_version(path) == 2
    with open_storage(data_dir=data_dir) as storage:  # opening again changes nothing
        assert storage.followups.counts()["changed"] == 2


def test_the_relations_of_before(data_dir: Path) -> None:
    with open_storage(data_dir=data_dir) as storage:
        at = datetime(2026, 11, 29, 9, tzinfo=CST)
        known = storage.relations.known(ORG, max_age=86400, at=at)
        assert known is not None
        assert [(r.role, r.subject_id) for r in known.relations] == [
            ("legal_representative", PERSON)
        ]
        assert storage.relations.counts() == {"subjects": 1, "relations": 1}
    assert user_version(data_dir / "relations.sqlite3") == 1


def test_the_snapshot_of_before(data_dir: Path) -> None:
    with open_storage(data_dir=data_dir) as storage:
        s = storage.snapshot
        status = s.status()
        assert (status.generation, status.entries, status.cursor, status.last_seq) == (
            1,
            2,
            "s3",
            3,
        )
        assert [(role, ref.id) for role, ref in s.related_for(ORG) or []] == [
            ("legal_representative", PERSON)
        ]
        profile = s.profile_for(ORG, "legal_entity", related=s.related_for(ORG) or [])
        assert profile is not None
        assert [e.entry_id for e in profile.entries] == ["BL-1"]
        assert [[e.entry_id for e in r.entries] for r in profile.related] == [["BL-2"]]
        assert s.lead(wait=0) is not None


def test_the_commitments_of_before(data_dir: Path) -> None:
    path = data_dir / "licensing-commitments.sqlite3"
    assert user_version(path) == 0
    with open_storage(data_dir=data_dir) as storage:
        c = storage.commitments
        assert [x.commitment_id for x in c.select()] == ["K-1", "K-2"]
        assert c.get("K-1").posted  # type: ignore[union-attr]
        assert [x.commitment_id for x in c.select(status="breached")] == ["K-2"]
        assert [x.commitment_id for x in c.select(unposted=True)] == ["K-2"]
    assert user_version(path) == 1
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_newer_than_the_sdk_is_refused(data_dir: Path) -> None:
    with closing(sqlite3.connect(data_dir / "followups.sqlite3")) as raw:
        raw.execute("PRAGMA user_version = 99")
    with open_storage(data_dir=data_dir) as storage, pytest.raises(JournalError, match="schema 99"):
        storage.followups.counts()


def test_stores_are_opened_on_first_use_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with open_storage(data_dir=data_dir) as storage:
        assert storage.describe() == {"kind": "sqlite", "location": str(data_dir), "files": {}}
        storage.journal.counts()
        assert sorted(p.name for p in data_dir.glob("*.sqlite3")) == ["journal.sqlite3"]
        assert storage.uploads is storage.journal
        storage.disclosures.select()
        assert sorted(storage.describe()["files"]) == ["disclosures.sqlite3", "journal.sqlite3"]
    assert not (data_dir / "snapshot.current").exists()
    with pytest.raises(JournalError, match="closed"):
        storage.followups.counts()


def _downgrade_to_schema_6(path: Path) -> None:
    """What the SDK of schema 6 wrote: inputs by check id, no case_id, records_at."""
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("CREATE TABLE inputs (check_id TEXT PRIMARY KEY, body TEXT)")
        raw.execute(
            "INSERT INTO inputs SELECT r.id, b.body FROM records r"
            " JOIN input_bodies b ON b.hash = r.inputs_hash"
        )
        raw.execute("DROP TABLE input_bodies")
        raw.execute("DROP INDEX records_case")
        for column in ("case_id", "inputs_hash"):
            raw.execute(f"ALTER TABLE records DROP COLUMN {column}")
        raw.execute("CREATE INDEX records_at ON records(at)")
        raw.execute("DROP INDEX records_check_id")
        raw.execute("CREATE INDEX records_check_id ON records(check_id, type, action, at)")
        raw.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
        raw.execute("PRAGMA user_version = 6")


def test_a_schema_6_journal_is_migrated_in_place(data_dir: Path) -> None:
    """Schema 7 from 6: the inputs move to input_bodies (equal ones kept once), case ids
    to their column; reads, the chain and the derived rows are as they were."""
    path = data_dir / "journal.sqlite3"
    inputs = {"catalog_version": "2026.12.1", "on": "2026-11-01"}
    with open_storage(data_dir=data_dir) as storage:
        j = storage.journal
        for n in range(3):  # three checks decided from the same inputs
            j.append(
                {
                    "type": "check",
                    "id": f"k{n}",
                    "checked_at": "2026-11-01T08:00:00+08:00",
                    "matter": {"category": "bidding", "case_id": f"CASE-{n % 2}"},
                    "subject": {"id": ORG, "kind": "legal_entity"},
                },
                inputs=inputs,
            )
    _downgrade_to_schema_6(path)
    assert user_version(path) == 6
    with closing(sqlite3.connect(path)) as raw:
        before = raw.execute("SELECT seq, id, body, hash FROM records ORDER BY seq").fetchall()
    with open_storage(data_dir=data_dir) as storage:
        j = storage.journal
        assert j.verify().ok
        assert j.verify_columns().ok
        assert j.inputs_for("k1") == inputs
        assert j.inputs_for("c1") == {"catalog_version": "2026.12.1", "on": "2026-10-05"}
        assert j.latest_check_for_case(ORG, "CASE-0")["id"] == "k2"  # type: ignore[index]
        assert j.latest_check_for_case(ORG, "ZSGC-2026-118")["id"] == "c4"  # type: ignore[index]
    assert user_version(path) == 8
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT seq, id, body, hash FROM records ORDER BY seq").fetchall() == (
            before
        )
        keys = raw.execute("SELECT inputs_hash FROM records WHERE id LIKE 'k%'").fetchall()
        assert len(set(keys)) == 1  # the three checks' equal inputs, stored once
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "inputs" not in tables
