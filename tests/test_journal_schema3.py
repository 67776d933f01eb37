"""Journal schema 3: the report columns and record_measures, at append and by migration."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from credit_check_sdk.journal import SCHEMA_VERSION, Journal, _derived
from credit_check_sdk.report import build_monthly_report, pending_actions
from credit_check_sdk.storage._journal_core import derive_authorities
from tests.test_report import GENERATED, scripted_month

COLUMNS = "outcome, category, source, recheck_of, action"


def stored(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        cols = conn.execute(f"SELECT seq, {COLUMNS} FROM records ORDER BY seq").fetchall()  # noqa: S608
        rows = conn.execute("SELECT * FROM record_measures ORDER BY seq, n").fetchall()
        rows += conn.execute("SELECT * FROM record_authorities ORDER BY seq, n").fetchall()
    finally:
        conn.close()
    return cols, rows


def expected(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        bodies = conn.execute(
            "SELECT seq, records.body, input_bodies.body FROM records"
            " LEFT JOIN input_bodies ON input_bodies.hash = records.inputs_hash ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
    cols: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    named: list[tuple[Any, ...]] = []
    for seq, body, inputs in bodies:
        record = json.loads(body)
        columns, measures = _derived(record)
        cols.append((seq, *columns))
        rows.extend((seq, *m) for m in measures)
        given = json.loads(inputs) if inputs else None
        named.extend((seq, *a) for a in derive_authorities(record, given))
    return cols, rows + named


def downgrade_to_schema_2(path: Path) -> None:
    """What an older SDK left: no report columns, no record_measures, user_version 2."""
    conn = sqlite3.connect(path, isolation_level=None)
    # Schema 7: inputs by check id again, no case_id column, records_at back.
    conn.execute("CREATE TABLE inputs (check_id TEXT PRIMARY KEY, body TEXT)")
    conn.execute(
        "INSERT INTO inputs SELECT r.id, b.body FROM records r"
        " JOIN input_bodies b ON b.hash = r.inputs_hash"
    )
    conn.execute("DROP TABLE input_bodies")
    conn.execute("DROP INDEX records_case")
    for column in ("case_id", "inputs_hash"):
        conn.execute(f"ALTER TABLE records DROP COLUMN {column}")
    conn.execute("CREATE INDEX records_at ON records(at)")
    for column in ("claimed_by", "claimed_until"):  # schema 5
        conn.execute(f"ALTER TABLE records DROP COLUMN {column}")
    conn.execute("DROP TABLE record_measures")
    conn.execute("DROP TABLE record_authorities")  # schema 6
    conn.execute("DROP INDEX records_type_at")
    conn.execute("DROP INDEX records_overrides")  # schema 4
    conn.execute("DROP INDEX records_check_id")
    conn.execute("CREATE INDEX records_check_id ON records(check_id)")
    conn.execute("DROP INDEX records_recheck_of")
    for column in COLUMNS.split(", "):
        conn.execute(f"ALTER TABLE records DROP COLUMN {column}")
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.execute("PRAGMA user_version = 2")
    conn.close()


def test_append_writes_the_columns_and_measure_rows(tmp_path: Path) -> None:
    j = scripted_month(tmp_path / "j.db")
    j.close()
    cols, rows = stored(tmp_path / "j.db")
    assert (cols, rows) == expected(tmp_path / "j.db")
    assert any(r[3] == "suspended" for r in rows)
    assert any(r[3] is None for r in rows)
    assert any(c[5] == "overridden" for c in cols)
    assert ("中山市中级人民法院",) in {r[2:] for r in rows if len(r) == 3}  # authority rows


def test_schema_2_file_is_migrated_with_the_same_report(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = scripted_month(path)
    before = build_monthly_report(j, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
    pending_before = pending_actions(j, days=5, at=GENERATED)
    j.close()
    fresh = stored(path)
    downgrade_to_schema_2(path)
    with Journal(path) as j:
        after = build_monthly_report(j, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
        assert j.verify().ok
        assert pending_actions(j, days=5, at=GENERATED) == pending_before
    assert stored(path) == fresh  # the backfill gives what append wrote
    assert after.wire() == before.wire()
    assert after.details == before.details
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
    conn.close()


def test_backfill_skips_bodies_that_are_not_json_objects(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as j:
        j.append({"type": "check", "id": "c1", "checked_at": "2026-10-01T08:00:00+08:00"})
    downgrade_to_schema_2(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE records SET body = 'not json' WHERE id = 'c1'")
    conn.commit()
    conn.close()
    with Journal(path) as j:
        assert [p.kind for p in j.verify().problems] == ["bad_body"]
    assert stored(path) == ([(1, None, None, None, None, None)], [])


def test_odd_values_are_stored_as_json_extract_reads_them() -> None:
    columns, rows = _derived(
        {
            "type": "check",
            "outcome": True,
            "matter": "bidding",
            "source": {"b": 1, "a": "中"},
            "recheck_of": 2**70,
            "measures": [{"id": "P-1"}, "junk", {"id": 3, "status": ["x"]}],
        }
    )
    assert columns == (1, None, '{"a":"中","b":1}', float(2**70), None)
    assert rows == [(0, "P-1", None), (2, 3, '["x"]')]
    assert _derived({"type": "other"}) == ((None,) * 5, [])


def test_a_reused_sequence_number_gets_fresh_measure_rows(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    measures = [{"id": "P-1", "status": "applied"}, {"id": "P-2", "status": "applied"}]
    with Journal(path) as j:
        j.append(
            {
                "type": "check",
                "id": "c1",
                "checked_at": "2026-10-01T08:00:00+08:00",
                "measures": measures,
            }
        )
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM records WHERE id = 'c1'")  # seq 1 is free again
    conn.commit()
    conn.close()
    with Journal(path) as j:
        j.append(
            {
                "type": "check",
                "id": "c2",
                "checked_at": "2026-10-01T08:00:00+08:00",
                "measures": measures[:1],
            }
        )
    assert stored(path)[1] == [(1, 0, "P-1", "applied")]
