"""Schema 5 of the PostgreSQL adapter: upload states and claims in ``cc_journal_uploads``.

A database at schema 4 (upload states and claims as columns of the records) is
migrated in place when an SDK of today opens it: every record keeps its state,
its detail and its claim (an unexpired claim still keeps other owners away), the
chains verify as before, and what is appended afterwards is queued and claimed
as usual. Against the test run's real cluster (``pg_url``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from credit_check_sdk.storage.postgres import PostgresStorage
from credit_check_sdk.storage.postgres._schema import SCHEMA_VERSION, migrate
from tests.storage.test_postgres_journal import check, sql

_V4_RECORD = (
    "INSERT INTO cc_journal_records (writer_id, wseq, id, type, check_id, at, body, hash,"
    " prev_hash, upload_state, upload_detail, uploaded_at, claimed_by, claimed_until)"
    " VALUES ('w4', %s, %s, 'check', %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    " now() + %s * interval '1 second')"
)


def _schema4_journal(url: str) -> dict[str, str]:
    """A database at schema 4 whose writer ``w4`` holds four chained records in four upload
    situations; record id → what it is."""
    from credit_check_sdk.storage._journal_core import prepare_record, seal

    with psycopg.connect(url, autocommit=True) as conn:
        assert migrate(conn, where="test", target=4) == 4
        conn.execute(
            "INSERT INTO cc_journal_writers VALUES ('w4', NULL, 0, 'x', 'x', 'schema 4 host')"
        )
        situations: list[tuple[str, str, str | None, str | None, str | None, float | None]] = [
            ("sent", "accepted", None, "2026-11-29T00:01:00.000000Z", None, None),
            ("refused", "rejected", "unknown agency", "2026-11-29T00:02:00.000000Z", None, None),
            ("held", "pending", None, None, "h:1:gone", 600.0),
            ("waiting", "pending", None, None, None, None),
        ]
        head = None
        for wseq, (rid, state, detail, at, owner, lease) in enumerate(situations, start=1):
            p = prepare_record(check(rid, wseq), None)
            body = seal(p, head)
            conn.execute(
                _V4_RECORD,
                (
                    wseq,
                    rid,
                    rid,
                    p.at,
                    body,
                    p.record["hash"],
                    head,
                    state,
                    detail,
                    at,
                    owner,
                    lease,
                ),
            )
            head = p.record["hash"]
        conn.execute("UPDATE cc_journal_writers SET head_hash = %s, head_wseq = 4", (head,))
    return {s[0]: s[1] for s in situations}


def test_a_schema4_database_keeps_every_upload_state_and_claim_when_migrated(
    tmp_path: Path, pg_url: str
) -> None:
    _schema4_journal(pg_url)
    storage = PostgresStorage(pg_url, tmp_path / "a", budget=20.0)
    try:
        journal = storage.journal
        assert journal.verify().ok
        assert journal.counts()["pending"] == 2
        assert journal.upload_state("sent") == ("accepted", None)
        assert journal.upload_state("refused") == ("rejected", "unknown agency")
        assert journal.upload_state("held") == ("pending", None)
        assert journal.upload_state("nope") is None
        # The records lost their upload columns; the states live in their own table.
        columns = {
            c
            for (c,) in sql(
                pg_url,
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'cc_journal_records'",
            )
        }
        assert not columns & {"upload_state", "claimed_by", "claimed_until", "uploaded_at"}
        versions = sql(pg_url, "SELECT max(version) FROM cc_schema_version")
        assert versions == [(SCHEMA_VERSION,)]
        assert SCHEMA_VERSION >= 5
        # The claim made before the migration still holds: another owner gets the rest.
        claimed = storage.uploads.claim("h:2:b", 10, 60)
        assert [r["id"] for _, r in claimed] == ["waiting"]
        # What is appended now is queued behind, claimed and marked as always.
        journal.append(check("after", 30))
        again = storage.uploads.claim("h:2:b", 10, 60, after=claimed[-1][0])
        assert [r["id"] for _, r in again] == ["after"]
        storage.uploads.mark(["waiting", "after"], "accepted")
        assert journal.upload_state("after") == ("accepted", None)
        assert storage.uploads.pending_count() == 1  # "held", claimed by the other owner
        assert journal.verify().ok
    finally:
        storage.close()


def _state_rows(url: str) -> list[tuple[Any, ...]]:
    return sql(
        url,
        "SELECT r.id, u.upload_state, u.claimed_by FROM cc_journal_records r"
        " JOIN cc_journal_uploads u ON u.gseq = r.gseq ORDER BY r.gseq",
    )


def test_every_record_appended_gets_its_upload_row_whichever_way_it_is_written(
    tmp_path: Path, pg_url: str
) -> None:
    storage = PostgresStorage(pg_url, tmp_path / "a", budget=20.0)
    try:
        journal = storage.journal
        journal.append(check("first"))  # the careful way: the head is read first
        journal.append_many([(check("second", 1), None), (check("third", 2), None)])  # one trip
        assert _state_rows(pg_url) == [
            ("first", "pending", None),
            ("second", "pending", None),
            ("third", "pending", None),
        ]
        claimed = storage.uploads.claim("h:1:a", 2, 60)
        assert [r["id"] for _, r in claimed] == ["first", "second"]
        storage.uploads.release("h:1:a", ["second"])
        storage.uploads.mark_rejected("first", "bad matter")
        assert _state_rows(pg_url) == [
            ("first", "rejected", None),
            ("second", "pending", None),
            ("third", "pending", None),
        ]
    finally:
        storage.close()
