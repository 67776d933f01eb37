"""``credit-check storage import``: a host's SQLite state moves into the shared database whole
(its journal as its writer chain, hashes and upload states unchanged; re-checks, watches,
learnt relations, commitments, disclosures, objections, receipts), the host goes on writing
that chain, and running the import again changes nothing but what the host did since."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from credit_check_sdk._models import Profile
from credit_check_sdk.cli import main
from credit_check_sdk.report import build_monthly_report
from credit_check_sdk.storage import Commitment, DisclosureDuty, Storage, open_storage
from credit_check_sdk.storage.postgres import _import

ORG = "91442000MA4UJ2KQ57"
PERSON = "442000199001011233"
COURT = "中山市中级人民法院"


def record(rid: str, n: int) -> dict[str, object]:
    return {
        "type": "check",
        "id": rid,
        "checked_at": f"2026-10-0{1 + n % 9}T08:00:00+08:00",
        "outcome": "restriction",
        "source": "live",
        "subject": {"id": ORG, "kind": "legal_entity"},
        "matter": {"category": "bidding", "case_id": f"K-{n}"},
        "measures": [{"id": "P-BID-EXCLUDE", "status": "applied", "entry_ids": ["BL-1"]}],
    }


def inputs(n: int) -> dict[str, Any]:
    # The profile the check was decided from: the list authority behind its measure.
    return {"n": n, "profile": {"entries": [{"entry_id": "BL-1", "authority": COURT}]}}


def profile(as_of: datetime) -> Profile:
    return Profile.model_validate(
        {
            "subject": {"id": ORG, "kind": "legal_entity"},
            "as_of": as_of.isoformat(),
            "record_since": None,
            "last_adverse_on": None,
            "entries": [],
            "related": [
                {
                    "role": "legal_representative",
                    "subject": {"id": PERSON, "kind": "natural_person"},
                    "entries": [],
                }
            ],
        }
    )


def commitment(cid: str) -> Commitment:
    return Commitment(
        cid, "c1", ORG, "XK-1", "C-" + cid, ("场地证明",), date(2026, 10, 2), date(2026, 11, 2)
    )


def disclosure(did: str) -> DisclosureDuty:
    return DisclosureDuty(
        did,
        "licence",
        ORG,
        f"中市监许〔2026〕{did}号",
        date(2026, 10, 2),
        date(2026, 10, 12),
        "食品经营许可",
        {"scope": "餐饮服务"},
        "c2",
    )


def fill(host: Path) -> list[dict[str, Any]]:
    """A host that has worked a while on SQLite: every store holds something."""
    with open_storage(data_dir=host) as local:
        written = [local.journal.append(record(f"c{n}", n), inputs=inputs(n)) for n in range(5)]
        local.uploads.mark(["c0", "c1"], "accepted")
        local.uploads.mark_rejected("c2", "unknown agency")
        local.objections.record(
            "OBJ-1", "c1", "BL-1", ORG, filed_at=datetime(2026, 10, 2, tzinfo=timezone.utc)
        )
        local.receipts.record("2026-09", 1, "RCPT-1", "ab" * 32)
        f = local.followups
        f.queue_recheck("c3", ORG, "legal_entity", {"category": "bidding"}, "restriction")
        f.queue_recheck("c4", ORG, "legal_entity", {"category": "bidding"}, "restriction")
        f.finish_recheck("c3", "r3", "normal")
        f.claim_rechecks("host:1:gone", 10, 600)  # a claim of the stopped host: not copied
        f.watch(ORG, "legal_entity", {"category": "bidding"}, "K-4", check_id="c4",
                outcome="restriction")  # fmt: skip
        f.learn_related(ORG, [PERSON])
        local.relations.learn([profile(datetime(2026, 10, 3, tzinfo=timezone.utc))])
        local.commitments.add(commitment("CM-1"))
        local.commitments.add(commitment("CM-2"))
        local.commitments.resolve("CM-2", "fulfilled", date(2026, 10, 20))
        local.commitments.mark_posted("CM-2")
        local.disclosures.add(disclosure("D-1"))
        local.disclosures.add(disclosure("D-2"))
        local.disclosures.mark_posted("D-2", date(2026, 10, 5))
    return written


def state(storage: Storage, ids: list[str]) -> dict[str, Any]:
    """Everything the host keeps, as the stores' own calls give it."""
    report = build_monthly_report(
        storage,
        agency_id="A-1",
        period="2026-10",
        details=True,
        generated_at=datetime(2026, 11, 2, tzinfo=timezone.utc),
    )
    body = report.model_dump(mode="json")
    return {
        "records": [storage.journal.get(i) for i in ids],
        "upload": {i: storage.uploads.upload_state(i) for i in ids},
        "counts": storage.journal.counts(),
        "inputs": [storage.journal.inputs_for(i) for i in ids],
        "objections": storage.objections.select(),
        "receipts": storage.receipts.select(),
        "followups": storage.followups.counts(),
        "pending": storage.followups.pending_rechecks(),
        "watches": storage.followups.watches(),
        "relations": storage.relations.known(ORG, max_age=10**9),
        "commitments": storage.commitments.select(),
        "disclosures": storage.disclosures.select(),
        "report": body,
    }


def test_a_hosts_whole_state_is_imported_continued_and_imported_again(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Records go to the database a few at a time (2,000 in use): every round is crossed.
    monkeypatch.setattr(_import, "_CHUNK", 2)
    host = tmp_path / "host"
    written = fill(host)
    ids = [r["id"] for r in written]
    with open_storage(data_dir=host) as local:
        before = state(local, ids)
    assert before["report"]["by_authority"], "the test needs list authorities to compare"

    assert main(["storage", "import", str(host), "--database-url", pg_url]) == 0
    out = capsys.readouterr().out
    assert "imported 5 records" in out
    assert "re-checks 2, watches 1, learnt relations of 1 subject(s), commitments 2" in out
    assert "snapshot is not copied" in out

    with open_storage(data_dir=tmp_path / "admin", database_url=pg_url) as shared:
        assert state(shared, ids) == before
        assert [r["hash"] for r in before["records"]] == [r["hash"] for r in written]
        assert shared.journal.verify().ok
        assert shared.journal.verify_columns().ok  # measure and authority rows as derived
        # Nobody holds the stopped host's claim: any instance takes the re-check.
        assert [p.check_id for p in shared.followups.claim_rechecks("app:2:x", 10, 60)] == ["c4"]
        shared.followups.release_recheck("app:2:x")

    # Again, unchanged: nothing is copied or changed.
    assert main(["storage", "import", str(host), "--database-url", pg_url]) == 0
    out = capsys.readouterr().out
    assert "imported 0 records" in out
    assert "5 held there already" in out
    assert "objections 0, report receipts 0, re-checks 0, watches 0, learnt relations of 0" in out
    assert "commitments 0, disclosures 0" in out

    # The host worked on before it moved: its new records and answers follow on import.
    with open_storage(data_dir=host) as local:
        written.append(local.journal.append(record("c5", 5), inputs=inputs(5)))
        local.uploads.mark(["c3"], "duplicate")
        local.followups.finish_recheck("c4", "r4", "restriction")
        local.commitments.resolve("CM-1", "breached", date(2026, 11, 3))
        local.disclosures.mark_posted("D-1", date(2026, 10, 9))
        ids.append("c5")
        before = state(local, ids)
    assert main(["storage", "import", str(host), "--database-url", pg_url]) == 0
    out = capsys.readouterr().out
    assert "imported 1 records" in out
    assert "upload states brought forward 1" in out
    assert "re-checks 1, watches 0, learnt relations of 0 subject(s), commitments 1" in out
    with open_storage(data_dir=tmp_path / "admin", database_url=pg_url) as shared:
        assert state(shared, ids) == before
        assert shared.journal.verify().ok

    # The host, pointed at the database, goes on writing the same chain; a later import
    # of its (now older) SQLite files changes nothing.
    with open_storage(data_dir=host, database_url=pg_url) as moved:
        nxt = moved.journal.append(record("c6", 6))
        assert nxt["prev_hash"] == written[-1]["hash"]
        assert moved.journal.verify().ok
    assert main(["storage", "import", str(host), "--database-url", pg_url]) == 0
    assert "imported 0 records" in capsys.readouterr().out


def test_a_journal_that_differs_from_its_chain_in_the_database_is_refused_whole(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    host, other = tmp_path / "host", tmp_path / "other"
    fill(host)
    assert main(["storage", "import", str(host), "--database-url", pg_url]) == 0
    # Another folder claiming the same writer id, with other records: the host wrote to
    # both, or a folder was copied. Nothing of it is imported (one transaction).
    with open_storage(data_dir=other) as local:
        local.journal.append(record("x0", 0))
        local.followups.watch(ORG, "legal_entity", {"category": "bidding"}, "K-OTHER")
    shutil.copy(host / "writer.json", other / "writer.json")
    capsys.readouterr()
    assert main(["storage", "import", str(other), "--database-url", pg_url]) != 0
    assert "other records at the same places" in capsys.readouterr().err
    with psycopg.connect(pg_url) as raw:
        assert raw.execute("SELECT count(*) FROM cc_watches").fetchone() == (1,)
        assert raw.execute(
            "SELECT count(*) FROM cc_journal_records WHERE id = 'x0'"
        ).fetchone() == (0,)


def test_a_folder_without_sqlite_state_is_refused(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["storage", "import", str(tmp_path / "empty"), "--database-url", pg_url]) != 0
    assert "no SQLite state" in capsys.readouterr().err


def test_stores_without_a_journal_are_imported(tmp_path: Path, pg_url: str) -> None:
    host = tmp_path / "host"
    with open_storage(data_dir=host) as local:
        local.followups.queue_recheck("c9", ORG, "legal_entity", {"category": "bidding"}, "review")
    assert not (host / "journal.sqlite3").exists()
    assert main(["storage", "import", str(host), "--database-url", pg_url]) == 0
    with open_storage(data_dir=tmp_path / "admin", database_url=pg_url) as shared:
        assert [p.check_id for p in shared.followups.pending_rechecks()] == ["c9"]
        assert shared.journal.counts()["pending"] == 0
