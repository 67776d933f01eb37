"""The journal: hash chain per the contract, tamper detection, concurrency, inputs, upload state."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk._exceptions import InvalidRequestError, JournalError
from credit_check_sdk.journal import SCHEMA_VERSION, Journal, canonical_hash

CST = timezone(timedelta(hours=8))
ROOT = Path(__file__).resolve().parents[1]


def check_record(i: int = 0, **extra: Any) -> dict[str, Any]:
    base = datetime(2026, 11, 29, 8, 0, tzinfo=CST) + timedelta(minutes=i)
    record: dict[str, Any] = {
        "type": "check",
        "id": str(uuid.uuid4()),
        "agency_id": "AG-1",
        "checked_at": base.isoformat(),
        "department": "市场监督管理局",
        "operator": "张三",
        "matter": {"category": "bidding", "code": None, "case_id": f"case-{i}"},
        "subject": {"id": "91442000MA4UJ2KQ57", "kind": "legal_entity"},
        "outcome": "restriction",
        "measures": [{"id": "P-BID-EXCLUDE", "status": "applied", "entry_ids": ["BL-1"]}],
        "source": "live",
        "data_as_of": base.isoformat(),
        "recheck_of": None,
        "catalog_version": "2026.11.1",
        "sdk_version": "0.1.0",
    }
    record.update(extra)
    return record


def contract_hash(record: dict[str, Any]) -> str:
    """The contract's formula, written out here independently of the SDK."""
    without = {k: v for k, v in record.items() if k != "hash"}
    text = json.dumps(without, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    j = Journal(tmp_path / "journal.db")
    yield j
    j.close()


def raw(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# --- chain ------------------------------------------------------------------------


def test_chain_matches_contract_formula(journal: Journal) -> None:
    first = journal.append(check_record(0))
    second = journal.append(
        {
            "type": "action",
            "id": str(uuid.uuid4()),
            "check_id": first["id"],
            "agency_id": "AG-1",
            "acted_at": "2026-11-29T08:05:00+08:00",
            "action": "not_applied",
            "measure_ids": ["P-BID-EXCLUDE"],
            "reason": "依法不适用",
            "operator": "李四",
        }
    )
    assert first["prev_hash"] is None
    assert second["prev_hash"] == first["hash"]
    for r in (first, second):
        assert r["hash"] == contract_hash(r)
        assert r["hash"] == canonical_hash(r)
        assert len(r["hash"]) == 64
        assert r["hash"] == r["hash"].lower()
    # Non-ASCII characters are hashed as themselves, not as \u escapes.
    assert (
        "依法不适用".encode()
        in json.dumps(
            {k: v for k, v in second.items() if k != "hash"},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
    )
    assert journal.head_hash() == second["hash"]
    assert journal.get(second["id"]) == second
    assert journal.verify().ok


def test_stored_body_is_canonical_and_hash_covers_prev_hash(journal: Journal) -> None:
    a = journal.append(check_record(0))
    b = journal.append(check_record(1))
    body = (
        raw(journal.path).execute("SELECT body FROM records WHERE id = ?", (b["id"],)).fetchone()[0]
    )
    assert json.loads(body) == b
    changed = dict(b, prev_hash="0" * 64)
    assert contract_hash(changed) != b["hash"]
    assert b["prev_hash"] == a["hash"]


def test_append_replaces_caller_hashes_and_copies(journal: Journal) -> None:
    rec = check_record(0, hash="forged", prev_hash="forged")
    out = journal.append(rec)
    assert out["hash"] != "forged"
    assert out["prev_hash"] is None
    rec["outcome"] = "normal"  # the caller changing its dict later changes nothing stored
    assert journal.get(out["id"])["outcome"] == "restriction"  # type: ignore[index]
    assert journal.verify().ok


def test_tuples_are_stored_as_lists_and_hash_matches(journal: Journal) -> None:
    out = journal.append(
        check_record(0, measures=({"id": "X", "status": "applied", "entry_ids": ("a",)},))
    )
    assert out["measures"] == [{"id": "X", "status": "applied", "entry_ids": ["a"]}]
    assert out["hash"] == contract_hash(out)


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "x", "checked_at": "2026-11-29T08:00:00+08:00"},  # no type
        {"type": "check", "checked_at": "2026-11-29T08:00:00+08:00"},  # no id
        {"type": "check", "id": "x"},  # no timestamp
        {"type": "check", "id": "x", "checked_at": "2026-11-29T08:00:00"},  # no offset
        {"type": "check", "id": "x", "checked_at": "yesterday"},
        {"type": "check", "id": "x", "checked_at": "2026-11-29T08:00:00+08:00", "v": float("nan")},
        {"type": "check", "id": "x", "checked_at": "2026-11-29T08:00:00+08:00", "v": object()},
    ],
)
def test_malformed_records_are_refused(journal: Journal, bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        journal.append(bad)
    assert journal.counts()["pending"] == 0


def test_duplicate_id_raises_and_chain_continues(journal: Journal) -> None:
    a = journal.append(check_record(0))
    with pytest.raises(JournalError) as info:
        journal.append(dict(check_record(1), id=a["id"]))
    assert info.value.path == journal.path
    b = journal.append(check_record(2))
    assert b["prev_hash"] == a["hash"]
    assert journal.verify().ok
    assert journal.verify().checked == 2


def test_closed_journal_raises_with_path(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.close()
    j.close()
    with pytest.raises(JournalError) as info:
        j.append(check_record(0))
    assert info.value.path == str(tmp_path / "j.db")


def test_unwritable_location_raises_journal_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(JournalError) as info:
        Journal(blocker / "sub" / "j.db")
    assert info.value.path is not None


def test_pragmas_schema_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = Journal(path)
    rec = j.append(check_record(0))
    conn = j._conn
    assert conn is not None
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    wanted = {"records_upload_exceptions", "records_type_at", "records_check_id", "records_case"}
    assert wanted <= indexes
    # Schema 7: no index over the time alone, nor over a JSON expression of every check;
    # schema 8: none over every record's upload state (the queue walks from its floor).
    assert not {"records_at", "records_case_id", "records_upload_state"} & indexes
    j.close()
    j2 = Journal(path)
    assert j2.get(rec["id"]) == rec
    assert j2.append(check_record(1))["prev_hash"] == rec["hash"]
    j2.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal(path).close()
    raw(str(path)).execute("PRAGMA user_version = 99")
    with pytest.raises(JournalError, match="schema 99"):
        Journal(path)


# --- tamper detection -------------------------------------------------------------


def filled(journal: Journal, n: int = 5) -> list[dict[str, Any]]:
    return [journal.append(check_record(i)) for i in range(n)]


def test_verify_detects_edited_body(journal: Journal) -> None:
    recs = filled(journal)
    body = json.loads(journal._query("SELECT body FROM records WHERE seq = 3", ())[0][0])
    body["outcome"] = "normal"
    raw(journal.path).execute("UPDATE records SET body = ? WHERE seq = 3", (json.dumps(body),))
    result = journal.verify()
    assert not result.ok
    assert result.checked == 5
    assert [(p.seq, p.kind) for p in result.problems] == [(3, "hash_mismatch")]
    assert result.problems[0].id == recs[2]["id"]


def test_verify_detects_edit_with_recomputed_hash(journal: Journal) -> None:
    filled(journal)
    body = json.loads(journal._query("SELECT body FROM records WHERE seq = 3", ())[0][0])
    body["outcome"] = "normal"
    body["hash"] = contract_hash(body)
    raw(journal.path).execute(
        "UPDATE records SET body = ?, hash = ? WHERE seq = 3", (json.dumps(body), body["hash"])
    )
    kinds = [(p.seq, p.kind) for p in journal.verify().problems]
    assert kinds == [(4, "broken_link")]


def test_verify_detects_deleted_record(journal: Journal) -> None:
    filled(journal)
    raw(journal.path).execute("DELETE FROM records WHERE seq = 3")
    kinds = {(p.seq, p.kind) for p in journal.verify().problems}
    assert kinds == {(4, "gap"), (4, "broken_link")}


def test_verify_detects_deleted_first_and_last(journal: Journal) -> None:
    filled(journal)
    raw(journal.path).execute("DELETE FROM records WHERE seq = 1")
    kinds = {(p.seq, p.kind) for p in journal.verify().problems}
    assert kinds == {(2, "gap"), (2, "broken_link")}


def test_verify_detects_swapped_records(journal: Journal) -> None:
    filled(journal)
    conn = raw(journal.path)
    rows = {
        seq: (rid, body, h, p)
        for seq, rid, body, h, p in conn.execute(
            "SELECT seq, id, body, hash, prev_hash FROM records WHERE seq IN (2, 3)"
        )
    }
    conn.execute("BEGIN")
    conn.execute("UPDATE records SET id = 'tmp' WHERE seq = 2")
    for seq, other in ((3, 2), (2, 3)):
        rid, body, h, p = rows[other]
        conn.execute(
            "UPDATE records SET id = ?, body = ?, hash = ?, prev_hash = ? WHERE seq = ?",
            (rid, body, h, p, seq),
        )
    conn.execute("COMMIT")
    result = journal.verify()
    assert not result.ok
    assert {p.kind for p in result.problems} == {"broken_link"}
    assert {p.seq for p in result.problems} == {2, 3, 4}


def test_verify_detects_column_tamper_and_bad_body(journal: Journal) -> None:
    filled(journal, 3)
    conn = raw(journal.path)
    conn.execute("UPDATE records SET id = 'other' WHERE seq = 1")
    conn.execute("UPDATE records SET body = 'not json' WHERE seq = 2")
    kinds = {(p.seq, p.kind) for p in journal.verify().problems}
    assert (1, "column_mismatch") in kinds
    assert (2, "bad_body") in kinds


def test_verify_streams_many_pages(journal: Journal) -> None:
    filled(journal, 1203)
    result = journal.verify()
    assert result.ok
    assert result.checked == 1203


# --- the report columns against the bodies (verify_columns) -------------------------


def action_record(i: int, check_id: str, action: str, measure_ids: list[str]) -> dict[str, Any]:
    acted = datetime(2026, 11, 29, 9, 0, tzinfo=CST) + timedelta(minutes=i)
    return {
        "type": "action",
        "id": f"act-{i}",
        "check_id": check_id,
        "acted_at": acted.isoformat(),
        "action": action,
        "measure_ids": measure_ids,
        "reason": "履行完毕" if action != "applied" else None,
    }


def mixed(journal: Journal) -> list[dict[str, Any]]:
    """Checks (restriction with a measure, normal without) and actions on them."""
    c0 = journal.append(check_record(0))
    c1 = journal.append(check_record(1, outcome="normal", measures=[]))
    a0 = journal.append(action_record(2, c0["id"], "not_applied", ["P-BID-EXCLUDE"]))
    c3 = journal.append(check_record(3, source="snapshot", recheck_of=c1["id"]))
    return [c0, c1, a0, c3]


def test_verify_columns_passes_on_a_clean_journal(journal: Journal) -> None:
    mixed(journal)
    result = journal.verify_columns()
    assert result.ok
    assert result.checked == 4
    assert (result.mismatch_count, result.mismatches) == (0, [])


def test_verify_columns_names_a_restriction_turned_normal(journal: Journal) -> None:
    recs = mixed(journal)
    raw(journal.path).execute("UPDATE records SET outcome = 'normal' WHERE seq = 1")
    assert journal.verify().ok  # the bodies are untouched: the chain cannot see it
    result = journal.verify_columns()
    assert not result.ok
    assert [(m.seq, m.id, m.column, m.stored, m.derived) for m in result.mismatches] == [
        (1, recs[0]["id"], "outcome", "normal", "restriction")
    ]


def test_verify_columns_names_an_action_and_a_key_column(journal: Journal) -> None:
    recs = mixed(journal)
    conn = raw(journal.path)
    conn.execute("UPDATE records SET action = 'applied' WHERE seq = 3")  # hide an override
    conn.execute("UPDATE records SET check_id = 'elsewhere', at = '2026-12-01' WHERE seq = 3")
    conn.execute("UPDATE records SET recheck_of = NULL, source = 'live' WHERE seq = 4")
    found = {(m.seq, m.column): (m.stored, m.derived) for m in journal.verify_columns().mismatches}
    assert found == {
        (3, "action"): ("applied", "not_applied"),
        (3, "check_id"): ("elsewhere", recs[0]["id"]),
        (3, "at"): ("2026-12-01", "2026-11-29T01:02:00.000000Z"),
        (4, "recheck_of"): (None, recs[1]["id"]),
        (4, "source"): ("live", "snapshot"),
    }


def test_verify_columns_names_measure_rows(journal: Journal) -> None:
    recs = mixed(journal)
    conn = raw(journal.path)
    conn.execute("UPDATE record_measures SET status = 'suspended' WHERE seq = 1 AND n = 0")
    conn.execute("DELETE FROM record_measures WHERE seq = 3")  # the action names no measure
    conn.execute("INSERT INTO record_measures VALUES (2, 0, 'P-BID-EXCLUDE', 'applied')")
    conn.execute("INSERT INTO record_measures VALUES (99, 0, 'P-X', 'applied')")  # no record
    result = journal.verify_columns()
    found = [(m.seq, m.id, m.column, m.stored, m.derived) for m in result.mismatches]
    assert found == [
        (1, recs[0]["id"], "record_measures[0].status", "suspended", "applied"),
        (2, recs[1]["id"], "record_measures[0]", ("P-BID-EXCLUDE", "applied"), None),
        (3, recs[2]["id"], "record_measures[0]", None, ("P-BID-EXCLUDE", None)),
        (99, "", "record_measures[0]", ("P-X", "applied"), None),
    ]
    assert result.mismatch_count == 4


def test_verify_columns_a_value_of_another_type_differs(journal: Journal) -> None:
    journal.append(check_record(0, outcome=1))
    assert journal.verify_columns().ok
    raw(journal.path).execute("UPDATE records SET outcome = '1' WHERE seq = 1")
    (m,) = journal.verify_columns().mismatches
    assert (m.column, m.stored, m.derived) == ("outcome", "1", 1)


def test_verify_columns_reports_an_unreadable_body(journal: Journal) -> None:
    filled(journal, 2)
    raw(journal.path).execute("UPDATE records SET body = 'not json' WHERE seq = 2")
    (m,) = journal.verify_columns().mismatches
    assert (m.seq, m.column, m.derived) == (2, "body", None)


def test_verify_columns_streams_pages_and_keeps_a_bounded_list(journal: Journal) -> None:
    filled(journal, 1203)
    assert journal.verify_columns().checked == 1203
    raw(journal.path).execute("UPDATE records SET category = 'licensing' WHERE seq % 2 = 0")
    result = journal.verify_columns(limit=10)
    assert (result.ok, result.checked, result.mismatch_count) == (False, 1203, 601)
    assert [m.seq for m in result.mismatches] == list(range(2, 22, 2))
    assert len(journal.verify_columns(limit=None).mismatches) == 601


def test_verify_columns_after_a_deleted_last_record(journal: Journal) -> None:
    recs = filled(journal, 3)
    raw(journal.path).execute("DELETE FROM records WHERE seq = 3")
    found = [(m.seq, m.id, m.column) for m in journal.verify_columns().mismatches]
    assert found == [(3, "", "record_measures[0]")]
    assert recs[2]["id"] not in {m.id for m in journal.verify_columns().mismatches}


# --- the latest check of a case (for watches) -----------------------------------------


def test_latest_check_for_case_reads_through_an_index(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = Journal(path)
    first = j.append(check_record(0, matter={"category": "bidding", "case_id": "K-1"}))
    j.append(check_record(1, matter={"category": "bidding", "case_id": "K-2"}))
    other = {"id": "442000199001011237", "kind": "natural_person"}
    j.append(check_record(2, matter={"category": "bidding", "case_id": "K-1"}, subject=other))
    assert j.latest_check_for_case("91442000MA4UJ2KQ57", "K-1") == first
    latest = j.append(check_record(3, matter={"category": "bidding", "case_id": "K-1"}))
    j.append(action_record(4, latest["id"], "applied", ["P-BID-EXCLUDE"]))
    assert j.latest_check_for_case("91442000MA4UJ2KQ57", "K-1") == latest
    assert j.latest_check_for_case("91442000MA4UJ2KQ57", "K-9") is None
    # A tampered body that is not JSON neither breaks the index nor the lookup.
    raw(str(path)).execute("UPDATE records SET body = 'not json' WHERE seq = 1")
    assert j.latest_check_for_case("91442000MA4UJ2KQ57", "K-1") == latest
    (plan,) = j._query(
        "EXPLAIN QUERY PLAN SELECT body FROM records WHERE case_id = ? AND type = 'check'"
        " AND json_valid(body) AND json_extract(body, '$.subject.id') = ?"
        " ORDER BY seq DESC LIMIT 1",
        ("K-1", "x"),
    )
    assert "USING INDEX records_case" in plan[-1]
    # Only checks with a case id have an entry in the partial index.
    (entries,) = j._query(
        "SELECT COUNT(*) FROM records INDEXED BY records_case WHERE case_id IS NOT NULL", ()
    )
    assert entries == (4,)  # the four checks, not the action
    j.close()


# --- reading, inputs, upload state -------------------------------------------------


def test_inputs_roundtrip_and_only_for_checks(journal: Journal) -> None:
    rec = journal.append(check_record(0), inputs={"profile": {"x": "中"}, "catalog_version": "v"})
    assert journal.inputs_for(rec["id"]) == {"profile": {"x": "中"}, "catalog_version": "v"}
    assert journal.inputs_for("nope") is None
    action = {
        "type": "action",
        "id": "a1",
        "check_id": rec["id"],
        "acted_at": "2026-11-29T09:00:00+08:00",
    }
    with pytest.raises(InvalidRequestError):
        journal.append(action, inputs={"x": 1})
    journal.append(action)
    rows = journal._query("SELECT check_id FROM records ORDER BY seq", ())
    assert [r[0] for r in rows] == [rec["id"], rec["id"]]


def test_iter_records_by_time_with_offsets(journal: Journal) -> None:
    recs = filled(journal, 10)  # 08:00 .. 08:09 +08:00
    since = datetime(2026, 11, 29, 0, 3, tzinfo=timezone.utc)  # == 08:03 +08:00
    until = datetime(2026, 11, 29, 8, 7, tzinfo=CST)
    got = [r["id"] for r in journal.iter_records(since=since, until=until)]
    assert got == [r["id"] for r in recs[3:7]]
    assert [r["id"] for r in journal.iter_records()] == [r["id"] for r in recs]
    with pytest.raises(InvalidRequestError):
        list(journal.iter_records(since=datetime(2026, 1, 1)))


def test_iter_records_pages_and_allows_appends_meanwhile(journal: Journal) -> None:
    filled(journal, 1100)
    seen = 0
    for _ in journal.iter_records():
        if seen == 10:
            journal.append(check_record(99))  # must not deadlock
        seen += 1
    assert seen >= 1100


def test_pending_mark_and_counts(journal: Journal) -> None:
    recs = filled(journal, 6)
    assert [r["id"] for r in journal.pending(limit=4)] == [r["id"] for r in recs[:4]]
    journal.mark([recs[0]["id"], recs[1]["id"]], "accepted")
    journal.mark([recs[2]["id"]], "duplicate")
    journal.mark_rejected(recs[3]["id"], "subject id invalid")
    assert journal.counts() == {"pending": 2, "accepted": 2, "duplicate": 1, "rejected": 1}
    assert [r["id"] for r in journal.pending()] == [r["id"] for r in recs[4:]]
    assert journal.upload_state(recs[3]["id"]) == ("rejected", "subject id invalid")
    assert journal.get(recs[3]["id"]) == recs[3]  # a rejected record is kept
    with pytest.raises(InvalidRequestError):
        journal.mark([recs[4]["id"]], "rejected")  # type: ignore[arg-type]
    journal.mark([f"id-{i}" for i in range(1500)], "accepted")  # many ids: chunked, no error
    assert journal.verify().ok  # upload state is not part of the chain


# --- concurrency ------------------------------------------------------------------


def test_eight_threads_append_concurrently(journal: Journal) -> None:
    per_thread = 150
    errors: list[BaseException] = []
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            for i in range(per_thread):
                r = journal.append(check_record(i))
                with lock:
                    results.append(r)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = journal.verify()
    assert result.ok
    assert result.checked == 8 * per_thread
    seqs = [r[0] for r in journal._query("SELECT seq FROM records ORDER BY seq", ())]
    assert seqs == list(range(1, 8 * per_thread + 1))
    # Every returned record is exactly what is stored.
    for r in results[::37]:
        assert journal.get(r["id"]) == r
    hashes = {r["hash"] for r in results}
    prevs = {r["prev_hash"] for r in results}
    assert len(hashes) == len(results)
    assert len(prevs) == len(results)


def test_concurrent_duplicate_fails_alone(journal: Journal) -> None:
    base = journal.append(check_record(0))
    outcomes: list[str] = []

    def work(i: int) -> None:
        rec = check_record(i, id=base["id"]) if i % 4 == 0 else check_record(i)
        try:
            journal.append(rec)
            outcomes.append("ok")
        except JournalError:
            outcomes.append("dup")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, 41)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("dup") == 10
    assert outcomes.count("ok") == 30
    assert journal.verify().ok
    assert journal.verify().checked == 31


APPENDER = textwrap.dedent(
    """
    import sys, uuid
    sys.path.insert(0, {root!r})
    from credit_check_sdk.journal import Journal
    j = Journal(sys.argv[1])
    for i in range(int(sys.argv[2])):
        j.append({{"type": "action", "id": str(uuid.uuid4()), "check_id": sys.argv[3],
                   "acted_at": "2026-11-29T08:00:00+08:00", "action": "applied"}})
    j.close()
    """
)


@pytest.mark.slow
def test_two_processes_append_to_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    Journal(path).close()
    script = APPENDER.format(root=str(ROOT))
    n = 300
    procs = [
        subprocess.Popen([sys.executable, "-c", script, path, str(n), f"proc-{k}"])
        for k in range(2)
    ]
    local = Journal(path)  # and this process too, with threads, at the same time
    threads = [
        threading.Thread(target=lambda: [local.append(check_record(i)) for i in range(50)])
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        assert p.wait(timeout=60) == 0
    result = local.verify()
    assert result.ok, result.problems[:3]
    assert result.checked == 2 * n + 100
    per_proc = local._query("SELECT check_id, COUNT(*) FROM records GROUP BY check_id", ())
    assert {k: v for k, v in per_proc if k and k.startswith("proc-")} == {
        "proc-0": n,
        "proc-1": n,
    }
    local.close()


def test_append_many_is_one_chained_durable_batch(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    first = j.append(check_record(0))
    many = j.append_many([(check_record(i), {"catalog_version": "v"}) for i in range(1, 6)])
    assert [r["prev_hash"] for r in many] == [first["hash"]] + [r["hash"] for r in many[:-1]]
    assert all(
        canonical_hash({k: v for k, v in r.items() if k != "hash"}) == r["hash"] for r in many
    )
    assert j.verify().ok
    assert j.inputs_for(many[2]["id"]) == {"catalog_version": "v"}
    assert j.counts()["pending"] == 6
    j.close()


def test_a_batch_is_stored_as_its_records_one_at_a_time_would_be(tmp_path: Path) -> None:
    """append_many writes prepared rows a table at a time: every row of every table is
    what appending the same records one by one writes (sequence numbers, measure and
    authority rows, inputs kept once), and the chain verifies."""
    profile = {"entries": [{"entry_id": "BL-1", "authority": "中山市中级人民法院"}]}
    shared = {"catalog_version": "v", "profile": profile}
    items: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for i in range(6):
        record = check_record(i)
        if i % 3 == 2:
            record["measures"] = []
            record["matter"] = {"category": "bidding", "code": None}
        items.append((record, shared if i % 2 else {"catalog_version": "v", "n": i}))
    items.append((check_record(9), None))
    batch, single = Journal(tmp_path / "batch.db"), Journal(tmp_path / "single.db")
    batch.append(check_record(100, id="first"))
    single.append(check_record(100, id="first"))
    batch.append_many([(dict(r), i) for r, i in items])
    for record, inputs in items:
        single.append(dict(record), inputs=inputs)
    assert batch.verify().ok
    assert single.verify().ok
    assert batch.verify_columns().ok
    tables = {
        "records": "SELECT seq, id, type, check_id, at, body, hash, prev_hash, outcome,"
        " category, source, recheck_of, action, case_id, inputs_hash FROM records ORDER BY seq",
        "record_measures": "SELECT * FROM record_measures ORDER BY seq, n",
        "record_authorities": "SELECT * FROM record_authorities ORDER BY seq, n, authority",
        "input_bodies": "SELECT hash, body FROM input_bodies ORDER BY hash",
    }
    batch.close()
    single.close()
    with sqlite3.connect(tmp_path / "batch.db") as a, sqlite3.connect(tmp_path / "single.db") as b:
        for name, sql in tables.items():
            rows = a.execute(sql).fetchall()
            assert rows == b.execute(sql).fetchall(), name
            assert rows, name
    a.close()
    b.close()


def test_the_canonical_runs_cut_from_one_serialisation_are_those_made_one_by_one() -> None:
    """A record is serialised once and cut at its marked hash and prev_hash members; the
    runs are those of serialising each run on its own, whatever the keys (sorting before,
    between, after, or equal to hash and prev_hash) and values (the marker itself too)."""
    import random
    import string

    from credit_check_sdk.storage._journal_core import _MARK, _canonical_parts, _canonical_runs

    rnd = random.Random(5)
    keys = ["a", "hash", "prev_hash", "h", "hasi", "id", "prev", "prev_hasi", "z", "", "中"]
    specials = [None, True, 1, -2.5, "", 'x,"hash":1', '"prev_hash":null', _MARK, "中文"]

    def value(depth: int = 0) -> Any:
        r = rnd.random()
        if depth < 2 and r < 0.2:
            return {rnd.choice(keys): value(depth + 1) for _ in range(rnd.randint(0, 3))}
        if depth < 2 and r < 0.35:
            return [value(depth + 1) for _ in range(rnd.randint(0, 3))]
        if r < 0.6:
            return rnd.choice(specials)
        return "".join(rnd.choice(string.printable) for _ in range(rnd.randint(0, 8)))

    for _ in range(3000):
        record = {k: value() for k in rnd.sample(keys, rnd.randint(0, len(keys)))}
        assert _canonical_parts(record) == _canonical_runs(record), record
    assert _canonical_parts({}) == ("", "", "")


def test_the_inputs_keys_remembered_are_the_newest_and_bounded(tmp_path: Path) -> None:
    from credit_check_sdk.storage.sqlite import journal as sqlite_journal

    j = Journal(tmp_path / "j.db")
    try:
        limit = sqlite_journal._KNOWN_INPUTS
        keys = [f"{n:064x}" for n in range(limit + 1500)]
        for start in range(0, len(keys), 1000):  # as batches of checks remember them
            j._remember_inputs(keys[start : start + 1000])
        assert list(j._known_inputs) == keys[-limit:]
    finally:
        j.close()
