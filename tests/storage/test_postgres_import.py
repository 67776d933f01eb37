"""``credit-check storage import``: a host's SQLite journal becomes its writer chain in the
shared database, hashes unchanged, and the host goes on writing that chain."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from credit_check_sdk.cli import main
from credit_check_sdk.storage import open_storage


def record(rid: str, n: int) -> dict[str, object]:
    return {
        "type": "check",
        "id": rid,
        "checked_at": f"2026-10-0{1 + n % 9}T08:00:00+08:00",
        "outcome": "restriction",
        "source": "live",
        "subject": {"id": "91442000MA4UJ2KQ57", "kind": "legal_entity"},
        "matter": {"category": "bidding", "case_id": f"K-{n}"},
        "measures": [{"id": "P-BID-EXCLUDE", "status": "applied"}],
    }


def test_a_hosts_journal_is_imported_as_its_chain_and_continued(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    host = tmp_path / "host"
    with open_storage(data_dir=host) as local:
        written = [local.journal.append(record(f"c{n}", n), inputs={"n": n}) for n in range(5)]
        local.uploads.mark(["c0", "c1"], "accepted")
        local.objections.record(
            "OBJ-1", "c1", "BL-1", "91442000MA4UJ2KQ57",
            filed_at=datetime(2026, 10, 2, tzinfo=timezone.utc),
        )  # fmt: skip
        local.receipts.record("2026-09", 1, "RCPT-1", "ab" * 32)
    with open_storage(data_dir=host) as local, local.report.view() as view:
        before = view.record_count("2026-09-30T00:00:00.000000Z", "2026-11-01T00:00:00.000000Z")

    assert main(["storage", "import", str(host), "--database-url", pg_url]) == 0
    assert "imported 5 records" in capsys.readouterr().out

    with open_storage(data_dir=tmp_path / "admin", database_url=pg_url) as shared:
        stored = [shared.journal.get(f"c{n}") for n in range(5)]
        assert stored == written  # bodies and hashes unchanged
        assert shared.journal.verify().ok
        assert shared.journal.counts() == {
            "pending": 3, "accepted": 2, "duplicate": 0, "rejected": 0,
        }  # fmt: skip
        assert shared.journal.inputs_for("c3") == {"n": 3}
        assert [o["objection_id"] for o in shared.objections.select()] == ["OBJ-1"]
        assert [r["receipt_id"] for r in shared.receipts.select()] == ["RCPT-1"]
        with shared.report.view() as view:
            assert (
                view.record_count("2026-09-30T00:00:00.000000Z", "2026-11-01T00:00:00.000000Z")
                == before
            )
        assert shared.journal.verify_columns().ok

    # The host, pointed at the database, goes on writing the same chain.
    with open_storage(data_dir=host, database_url=pg_url) as moved:
        nxt = moved.journal.append(record("c5", 5))
        assert nxt["prev_hash"] == written[-1]["hash"]
        assert moved.journal.verify().ok

    # A second import of the same host is refused (its chain is there).
    assert main(["storage", "import", str(host), "--database-url", pg_url]) != 0
    assert "already" in capsys.readouterr().err
