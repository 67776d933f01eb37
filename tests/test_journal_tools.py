"""Journal tools: schema 2, objections, receipts, tampering, explain, export, submission."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from test_report import CST, GENERATED, PERSON, scripted_month

from credit_check_sdk._client import PlatformClient
from credit_check_sdk._exceptions import InvalidRequestError, InvalidResponseError
from credit_check_sdk.catalogue import CatalogStore, default_catalog
from credit_check_sdk.journal import SCHEMA_VERSION, Journal, canonical_hash
from credit_check_sdk.report import build_monthly_report, explain, pending_actions, submit_report
from credit_check_sdk.testing import FakePlatform

ROOT = Path(__file__).resolve().parents[1]
ORG = "91442000MA4UJ2KQ57"


def cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credit_check_sdk.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"},
    )


# --- schema 2 --------------------------------------------------------------------------


def test_schema_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE records (seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, type TEXT NOT NULL,
            check_id TEXT, at TEXT NOT NULL, body TEXT NOT NULL, hash TEXT NOT NULL,
            prev_hash TEXT, upload_state TEXT NOT NULL DEFAULT 'pending', upload_detail TEXT,
            uploaded_at TEXT);
        CREATE TABLE inputs (check_id TEXT PRIMARY KEY, body TEXT);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        PRAGMA user_version = 1;
        """
    )
    body = {
        "type": "check",
        "id": "c1",
        "checked_at": "2026-10-01T08:00:00+08:00",
        "prev_hash": None,
    }
    body["hash"] = canonical_hash(body)
    conn.execute(
        "INSERT INTO records(id, type, check_id, at, body, hash) VALUES (?, ?, ?, ?, ?, ?)",
        ("c1", "check", "c1", "2026-10-01T00:00:00.000000Z", json.dumps(body), body["hash"]),
    )
    conn.execute("INSERT INTO inputs VALUES ('c1', '{\"on\": \"2026-10-01\"}')")
    conn.commit()
    conn.close()
    with Journal(path) as j:
        assert j.get("c1") == body
        assert j.inputs_for("c1") == {"on": "2026-10-01"}  # moved to input_bodies
        assert j.verify().ok
        assert j.record_objection("OBJ-1", "c1", "BL-1", ORG)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
    assert raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "8"
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"records", "input_bodies", "meta", "objections", "report_receipts"} <= tables
    assert "inputs" not in tables


def test_objections_table(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        filed = datetime(2026, 10, 31, 23, 30, tzinfo=CST)
        assert j.record_objection("OBJ-1", "c1", "BL-1", ORG, filed_at=filed)
        assert not j.record_objection("OBJ-1", "c9", "BL-9", ORG)  # kept as first noted
        assert j.update_objection("OBJ-1", "upheld")
        assert not j.update_objection("OBJ-404", "rejected")
        with pytest.raises(InvalidRequestError):
            j.update_objection("OBJ-1", "lost")  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError):
            j.record_objection("OBJ-2", "c1", "BL-1", ORG, filed_at=datetime(2026, 10, 1))
        (row,) = j.objections(
            since=datetime(2026, 10, 1, tzinfo=CST), until=datetime(2026, 11, 1, tzinfo=CST)
        )
        assert row["objection_id"] == "OBJ-1"
        assert row["check_id"] == "c1"
        assert row["filed_at"] == "2026-10-31T15:30:00.000000Z"
        assert row["status"] == "upheld"
        assert j.objections(since=datetime(2026, 11, 1, tzinfo=CST)) == []
        # Not journal records: the chain and the upload queue do not see them.
        assert j.verify().checked == 0
        assert j.pending() == []


def test_report_receipts_and_snapshot_isolation(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        j.record_report_receipt("2026-10", 1, "R1", "a" * 64)
        j.record_report_receipt("2026-10", 2, "R2", "b" * 64)
        j.record_report_receipt("2026-09", 1, "R0", "c" * 64)
        assert [(r["period"], r["version"]) for r in j.report_receipts()] == [
            ("2026-09", 1),
            ("2026-10", 1),
            ("2026-10", 2),
        ]
        assert [r["receipt_id"] for r in j.report_receipts("2026-10")] == ["R1", "R2"]
        j.append({"type": "check", "id": "c1", "checked_at": "2026-10-01T08:00:00+08:00"})
        with j.snapshot() as conn:
            assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 1
            j.append({"type": "check", "id": "c2", "checked_at": "2026-10-01T08:01:00+08:00"})
            assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 1
            with pytest.raises(sqlite3.OperationalError):
                conn.execute("DELETE FROM records")
        assert j.counts()["pending"] == 2


# --- tampering, through the real command ----------------------------------------------


@pytest.fixture
def month_dir(tmp_path: Path) -> Path:
    scripted_month(tmp_path / "journal.sqlite3").close()
    return tmp_path


def test_verify_intact(month_dir: Path) -> None:
    done = cli("journal", "verify", data_dir=month_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 records" in done.stdout


def _tamper(month_dir: Path, *sql: tuple[str, tuple[Any, ...]]) -> None:
    conn = sqlite3.connect(month_dir / "journal.sqlite3")
    for statement, params in sql:
        conn.execute(statement, params)
    conn.commit()
    conn.close()


def test_verify_names_a_deleted_record(month_dir: Path) -> None:
    _tamper(month_dir, ("DELETE FROM records WHERE id = 'a03'", ()))
    done = cli("journal", "verify", data_dir=month_dir)
    assert done.returncode == 1
    # The record after the hole: its sequence number jumps and its link points at a03.
    assert "record #6 a03b: gap" in done.stdout
    assert "record #6 a03b: broken_link" in done.stdout


def test_verify_names_an_edited_field(month_dir: Path) -> None:
    conn = sqlite3.connect(month_dir / "journal.sqlite3")
    body = json.loads(conn.execute("SELECT body FROM records WHERE id = 'a04'").fetchone()[0])
    conn.close()
    body["action"] = "applied"  # hide an override
    _tamper(
        month_dir,
        ("UPDATE records SET body = ? WHERE id = 'a04'", (json.dumps(body, ensure_ascii=False),)),
    )
    done = cli("journal", "verify", data_dir=month_dir)
    assert done.returncode == 1
    assert "record #8 a04: hash_mismatch" in done.stdout
    assert done.stdout.count("hash_mismatch") == 1


def test_verify_names_two_reordered_records(month_dir: Path) -> None:
    conn = sqlite3.connect(month_dir / "journal.sqlite3")
    rows = {
        rid: row
        for rid, *row in conn.execute(
            "SELECT id, type, check_id, at, body, hash, prev_hash FROM records"
            " WHERE id IN ('c04', 'a04')"
        )
    }
    conn.close()
    swap = (
        "UPDATE records SET id=?, type=?, check_id=?, at=?, body=?, hash=?, prev_hash=? WHERE seq=?"
    )
    _tamper(
        month_dir,
        ("UPDATE records SET id = id || '-x' WHERE id IN ('c04', 'a04')", ()),
        (swap, (*("a04", *rows["a04"]), 7)),  # c04 was #7, a04 #8
        (swap, (*("c04", *rows["c04"]), 8)),
    )
    done = cli("journal", "verify", data_dir=month_dir)
    assert done.returncode == 1, done.stdout
    assert "record #7 a04: broken_link" in done.stdout
    assert "record #8 c04: broken_link" in done.stdout
    assert "record #9 c05: broken_link" in done.stdout


def test_verify_columns_intact(month_dir: Path) -> None:
    done = cli("journal", "verify", "--columns", data_dir=month_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "report columns agree with the bodies: 20 records" in done.stdout


def test_verify_columns_names_edited_report_columns(month_dir: Path) -> None:
    _tamper(
        month_dir,
        # c02's restriction counted as normal, a04's override as applied, and
        # c08's measure row moved to another measure: the bodies stay untouched.
        ("UPDATE records SET outcome = 'normal' WHERE id = 'c02'", ()),
        ("UPDATE records SET action = 'applied' WHERE id = 'a04'", ()),
        (
            "UPDATE record_measures SET measure_id = 'P-NONE'"
            " WHERE seq = (SELECT seq FROM records WHERE id = 'c08')",
            (),
        ),
    )
    plain = cli("journal", "verify", data_dir=month_dir)
    assert plain.returncode == 0, plain.stdout  # the hash chain alone cannot see it
    done = cli("journal", "verify", "--columns", data_dir=month_dir)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "journal intact: 20 records" in done.stdout
    assert (
        'record #2 c02: column_mismatch outcome: stored "normal", body gives "restriction"'
        in done.stdout
    )
    assert (
        'record #8 a04: column_mismatch action: stored "applied", body gives "overridden"'
        in done.stdout
    )
    assert 'c08: column_mismatch record_measures[0].measure_id: stored "P-NONE",' in done.stdout
    assert "3 column values disagree with their record's body in 20 records" in done.stdout


def test_verify_columns_names_an_edited_list_authority(month_dir: Path) -> None:
    # by_authority counts from these rows: one moved to another authority is named, with
    # what the check's stored inputs (the profile it was decided from) give.
    conn = sqlite3.connect(month_dir / "journal.sqlite3")
    seq, n, authority = conn.execute(
        "SELECT a.seq, a.n, a.authority FROM record_authorities AS a"
        " JOIN records AS r ON r.seq = a.seq WHERE r.id = 'c02'"
    ).fetchone()
    conn.close()
    _tamper(
        month_dir,
        (
            "UPDATE record_authorities SET authority = ? WHERE seq = ? AND n = ?",
            ("某某部门", seq, n),
        ),
    )
    done = cli("journal", "verify", "--columns", data_dir=month_dir)
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if f"record_authorities[{n}]" in x)
    assert "c02" in line
    assert "某某部门" in line
    assert authority in line
    assert "1 column values disagree" in done.stdout or "1 column value" in done.stdout
    fine = cli("journal", "verify", "--columns", "--json", data_dir=month_dir)
    doc = json.loads(fine.stdout)
    assert doc["columns"]["mismatch_count"] == 1


def test_verify_columns_masks_personal_ids(month_dir: Path) -> None:
    _tamper(month_dir, ("UPDATE records SET category = ? WHERE id = 'c08'", (PERSON,)))
    done = cli("journal", "verify", "--columns", data_dir=month_dir)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'c08: column_mismatch category: stored "4420**********1237"' in done.stdout
    assert PERSON not in done.stdout + done.stderr


# --- explain ---------------------------------------------------------------------------


def test_explain_rederives_a_real_checkers_decisions(tmp_path: Path) -> None:
    fake = FakePlatform(agency_id="AG-1")
    entry = fake.add_entry(ORG, "black", "court_judgment_defaulter")
    with fake.checker(tmp_path) as checker:
        d = checker.must_check(ORG, "bidding")
        e = explain(checker.journal, CatalogStore(tmp_path / "catalog"), d.check_id)
        assert e.matches is True
        assert e.derived_outcome == e.recorded_outcome == "restriction"
        (m,) = e.measures
        assert (m.id, m.status, m.mandatory) == ("P-BID-EXCLUDE", "applied", True)
        assert [x.entry_id for x in m.entries] == [entry]
        assert m.entries[0].category == "court_judgment_defaulter"
        assert m.basis
        # A newer catalogue from the platform: decisions name it, explain finds it on disk.
        newer = default_catalog().model_copy(update={"version": "2027.01.1"})
        fake.set_catalog(newer)
        assert checker.refresh_catalog()
        d2 = checker.must_check(ORG, "bidding")
        assert checker.journal.get(d2.check_id)["catalog_version"] == "2027.01.1"  # type: ignore[index]
        e2 = explain(checker.journal, CatalogStore(tmp_path / "catalog"), d2.check_id)
        assert e2.matches is True
        assert e2.catalog_version == "2027.01.1"
        assert explain(checker.journal, None, d2.check_id).matches is None
        assert explain(checker.journal, [newer], d2.check_id).matches is True
        with pytest.raises(InvalidRequestError):
            explain(checker.journal, None, "no-such-check")
    # Tampered inputs (the entry repaired): the re-derived decision differs.
    conn = sqlite3.connect(tmp_path / "journal.sqlite3")
    (key, text) = conn.execute(
        "SELECT b.hash, b.body FROM records r JOIN input_bodies b ON b.hash = r.inputs_hash"
        " WHERE r.id=?",
        (d.check_id,),
    ).fetchone()
    body = json.loads(text)
    body["profile"]["entries"][0]["status"] = "repaired"
    conn.execute("UPDATE input_bodies SET body=? WHERE hash=?", (json.dumps(body), key))
    conn.commit()
    conn.close()
    done = cli("journal", "explain", d.check_id, data_dir=tmp_path)
    assert done.returncode == 1
    assert "outcome: recorded restriction, re-derived normal" in done.stdout
    done = cli("journal", "explain", d2.check_id, data_dir=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "P-BID-EXCLUDE" in done.stdout
    assert "matches" in done.stdout


def test_explain_without_inputs(month_dir: Path) -> None:
    with Journal(month_dir / "journal.sqlite3") as j:
        e = explain(j, None, "c11")  # the scripted month's check journaled without inputs
    assert e.matches is None
    assert e.recorded_outcome == "normal"
    assert "no inputs" in e.differences[0]
    assert cli("journal", "explain", "c11", data_dir=month_dir).returncode == 2


# --- export and pending actions ----------------------------------------------------------


def test_export_jsonl_is_verbatim_and_csv_masks(month_dir: Path) -> None:
    out = month_dir / "oct.jsonl"
    done = cli(
        "journal", "export", "--since", "2026-10-01", "--until", "2026-11-01",
        "--format", "jsonl", "--out", str(out), data_dir=month_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 16
    assert records[0]["id"] == "c02"
    assert all(r["hash"] == canonical_hash(r) for r in records)
    done = cli(
        "journal", "export", "--since", "2026-10-25", "--until", "2026-10-26", "--format", "csv",
        data_dir=month_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["id"] for r in rows] == ["c08"]
    assert rows[0]["subject_id"] == "4420**********1237"
    assert PERSON not in done.stdout
    assert rows[0]["measures"] == "P-LIC-STRICT-REVIEW:applied"


def test_pending_actions(month_dir: Path) -> None:
    with Journal(month_dir / "journal.sqlite3") as j:
        rows = pending_actions(j, days=5, at=GENERATED)
        assert [(r.check_id, r.days_waiting) for r in rows] == [("c08", 8)]
        later = GENERATED + timedelta(days=30)
        assert [r.check_id for r in pending_actions(j, days=5, at=later)] == ["c08", "c11", "c10"]
    done = cli("journal", "pending-actions", "--days", "0", data_dir=month_dir)
    assert done.returncode == 0
    for cid in ("c08", "c10", "c11"):
        assert cid in done.stdout
    assert "4420**********1237" in done.stdout
    assert PERSON not in done.stdout


# --- submission against an HTTP server -------------------------------------------------------


def test_submit_and_correct(month_dir: Path, httpserver: HTTPServer) -> None:
    received: list[dict[str, Any]] = []

    def answer(version: int) -> Any:
        def handler(request: Any) -> Any:
            from werkzeug.wrappers import Response

            received.append(json.loads(request.data))
            assert request.headers["X-App-Id"] == "app-1"
            body = {"receipt_id": f"RCPT-2026-10-{version}", "version": version}
            return Response(json.dumps(body), status=200, content_type="application/json")

        return handler

    path = "/api/v1/reports/AG-1/2026-10"
    httpserver.expect_ordered_request(path, method="PUT").respond_with_handler(answer(1))
    httpserver.expect_ordered_request(path, method="PUT").respond_with_handler(answer(2))
    client = PlatformClient(httpserver.url_for("/api"), "app-1", "secret-0123456789")
    with Journal(month_dir / "journal.sqlite3") as j:
        first = build_monthly_report(j, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
        receipt = submit_report(client, first, j)
        assert (receipt.version, receipt.receipt_id, receipt.correction) == (
            1,
            "RCPT-2026-10-1",
            False,
        )
        # Late feedback on c08, then a correction.
        j.append(
            {
                "type": "action",
                "id": "a08",
                "check_id": "c08",
                "agency_id": "AG-1",
                "acted_at": "2026-11-05T09:00:00+08:00",
                "action": "applied",
                "measure_ids": ["P-LIC-STRICT-REVIEW"],
                "reason": None,
                "operator": "op-2",
            }
        )
        second = build_monthly_report(j, agency_id="AG-1", period="2026-10")
        again = submit_report(client, second, j)
        assert (again.version, again.correction) == (2, True)
        stored = j.report_receipts("2026-10")
    httpserver.check_assertions()
    assert received == [first.wire(), second.wire()]
    assert [(r["version"], r["receipt_id"]) for r in stored] == [
        (1, "RCPT-2026-10-1"),
        (2, "RCPT-2026-10-2"),
    ]
    assert stored[0]["body_hash"] == receipt.body_hash != again.body_hash
    line = next(m for m in received[1]["measures"] if m["id"] == "P-LIC-STRICT-REVIEW")
    assert line["applied"] == 1


def test_submit_refuses_a_bad_answer(month_dir: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/reports/AG-1/2026-10", method="PUT").respond_with_json(
        {"receipt_id": "R"}
    )
    client = PlatformClient(httpserver.url_for("/api"), "app-1", "secret-0123456789")
    with Journal(month_dir / "journal.sqlite3") as j:
        report = build_monthly_report(j, agency_id="AG-1", period="2026-10")
        with pytest.raises(InvalidResponseError):
            submit_report(client, report, j)
        assert j.report_receipts() == []


def test_times_are_utc_text_in_the_objections_table(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        j.record_objection(
            "O", None, "BL-1", ORG, filed_at=datetime(2026, 1, 1, tzinfo=timezone.utc)
        )
        assert j.objections()[0]["filed_at"] == "2026-01-01T00:00:00.000000Z"
