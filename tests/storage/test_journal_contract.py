"""The journal's promises (JournalStore), for every storage adapter."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from credit_check_sdk import InvalidRequestError, JournalError
from credit_check_sdk.storage import MAX_RECORD_BYTES, Storage, canonical_hash

CST = timezone(timedelta(hours=8))
ORG = "91442000MA4UJ2KQ57"


def check(cid: str, at: str = "2026-11-29T08:00:00+08:00", **extra: Any) -> dict[str, Any]:
    return {"type": "check", "id": cid, "checked_at": at, **extra}


def action(
    aid: str, cid: str, at: str = "2026-11-29T08:05:00+08:00", **extra: Any
) -> dict[str, Any]:
    return {"type": "action", "id": aid, "check_id": cid, "acted_at": at, **extra}


def test_append_chains_hashes_and_returns_what_is_stored(storage: Storage) -> None:
    journal = storage.journal
    first = journal.append(check("c1", outcome="normal"), inputs={"on": "2026-11-29"})
    second = journal.append(action("a1", "c1", action="applied", hash="x", prev_hash="y"))
    assert first["prev_hash"] is None
    assert second["prev_hash"] == first["hash"]
    for record in (first, second):
        assert record["hash"] == canonical_hash(record)
        assert journal.get(record["id"]) == record
    assert journal.head_hash() == second["hash"]
    assert journal.inputs_for("c1") == {"on": "2026-11-29"}
    assert journal.inputs_for("a1") is None
    assert journal.get("nope") is None


def test_the_caller_cannot_change_a_record_after_append(storage: Storage) -> None:
    mine = check("c1", matter={"category": "bidding"})
    stored = storage.journal.append(mine)
    mine["matter"]["category"] = "subsidy"
    assert storage.journal.get("c1") == stored
    assert stored["matter"]["category"] == "bidding"


def test_append_many_is_one_chain_in_order(storage: Storage) -> None:
    records = storage.journal.append_many([(check(f"c{i}"), None) for i in range(5)])
    assert [r["id"] for r in records] == [f"c{i}" for i in range(5)]
    for before, after in itertools.pairwise(records):
        assert after["prev_hash"] == before["hash"]
    assert storage.journal.append_many([]) == []


@pytest.mark.parametrize(
    ("record", "inputs"),
    [
        ({"type": "note", "id": "n1"}, None),
        ({"type": "check", "id": "", "checked_at": "2026-11-29T08:00:00+08:00"}, None),
        ({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00"}, None),  # no offset
        ({"type": "check", "id": "c1"}, None),
        (
            {
                "type": "check",
                "id": "c1",
                "checked_at": "2026-11-29T08:00:00+08:00",
                "x": float("nan"),
            },
            None,
        ),
        (
            {"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00", "x": "\ud800"},
            None,
        ),
        (action("a1", "c1"), {"on": "2026-11-29"}),  # inputs with an action
        (check("c1", blob="x" * (MAX_RECORD_BYTES + 1)), None),
    ],
)
def test_a_bad_record_is_refused_before_anything_is_written(
    storage: Storage, record: dict[str, Any], inputs: dict[str, Any] | None
) -> None:
    with pytest.raises(InvalidRequestError):
        storage.journal.append(record, inputs=inputs)
    with pytest.raises(InvalidRequestError):
        storage.journal.append_many([(check("ok"), None), (record, inputs)])
    assert storage.journal.counts()["pending"] == 0
    assert storage.journal.head_hash() is None


def test_an_id_is_stored_once_and_the_chain_goes_on(storage: Storage) -> None:
    first = storage.journal.append(check("c1"))
    with pytest.raises(JournalError):
        storage.journal.append(check("c1"))
    with pytest.raises(JournalError):
        storage.journal.append_many([(check("c2"), None), (check("c1"), None), (check("c3"), None)])
    # The good records of the failed batch are stored and chained past the bad one.
    assert storage.journal.get("c3")["prev_hash"] == storage.journal.get("c2")["hash"]  # type: ignore[index]
    assert storage.journal.get("c2")["prev_hash"] == first["hash"]  # type: ignore[index]
    assert storage.journal.verify().ok


def test_concurrent_appends_from_threads_are_all_stored_in_one_chain(storage: Storage) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(25):
                storage.journal.append(check(f"t{t}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    result = storage.journal.verify()
    assert result.ok, result.problems[:3]
    assert result.checked == 200
    assert storage.journal.counts()["pending"] == 200


def test_records_survive_closing_and_opening_again(adapter: Any) -> None:
    with adapter.open() as storage:
        stored = storage.journal.append(check("c1"), inputs={"on": "2026-11-29"})
    with adapter.open() as storage:
        assert storage.journal.get("c1") == stored
        assert storage.journal.inputs_for("c1") == {"on": "2026-11-29"}
        assert storage.journal.append(check("c2"))["prev_hash"] == stored["hash"]


def test_a_closed_journal_refuses_work(adapter: Any) -> None:
    storage = adapter.open()
    storage.journal.append(check("c1"))
    storage.close()
    with pytest.raises(JournalError):
        storage.journal.append(check("c2"))


def test_iter_records_in_journal_order_within_the_window(storage: Storage) -> None:
    storage.journal.append(check("early", "2026-10-31T23:59:59+08:00"))
    storage.journal.append_many(
        [(check(f"c{i:04d}", "2026-11-01T00:00:00+08:00"), None) for i in range(1200)]
    )
    storage.journal.append(action("late", "c0000", "2026-12-01T00:00:00+08:00"))
    since = datetime(2026, 11, 1, tzinfo=CST)
    until = datetime(2026, 12, 1, tzinfo=CST)
    ids = [r["id"] for r in storage.journal.iter_records(since, until)]
    assert ids == [f"c{i:04d}" for i in range(1200)]  # paged, in order, nothing twice
    assert [r["id"] for r in storage.journal.iter_records(until=since)] == ["early"]
    assert [r["id"] for r in storage.journal.iter_records(since=until)] == ["late"]
    assert len(list(storage.journal.iter_records())) == 1202
    with pytest.raises(InvalidRequestError):
        next(iter(storage.journal.iter_records(since=datetime(2026, 11, 1))))


def test_degraded_checks_without_a_recheck(storage: Storage) -> None:
    j = storage.journal
    j.append(check("live", source="live"))
    j.append(check("snap", source="snapshot"))
    j.append(check("none", source="none"))
    j.append(check("old", "2026-01-01T00:00:00+08:00", source="none"))
    j.append(check("rechecked", source="snapshot"))
    j.append(check("again", source="live", recheck_of="rechecked"))
    j.append(check("degraded-recheck", source="none", recheck_of="none-before"))
    since = datetime(2026, 11, 1, tzinfo=CST)
    assert [r["id"] for r in j.degraded_without_recheck(since)] == ["snap", "none"]


def test_latest_check_for_a_case(storage: Storage) -> None:
    j = storage.journal
    subject = {"id": ORG, "kind": "legal_entity"}
    j.append(check("c1", subject=subject, matter={"category": "bidding", "case_id": "K-1"}))
    j.append(check("c2", subject=subject, matter={"category": "bidding", "case_id": "K-1"}))
    j.append(check("c3", subject=subject, matter={"category": "bidding", "case_id": "K-2"}))
    other = {"id": "91442000MA4UPJ8X1B", "kind": "legal_entity"}
    j.append(check("c4", subject=other, matter={"category": "bidding", "case_id": "K-1"}))
    assert j.latest_check_for_case(ORG, "K-1")["id"] == "c2"  # type: ignore[index]
    assert j.latest_check_for_case(ORG, "K-3") is None


def test_counts_and_upload_state(storage: Storage) -> None:
    j = storage.journal
    for i in range(4):
        j.append(check(f"c{i}"))
    storage.uploads.mark(["c0"], "accepted")
    storage.uploads.mark(["c1"], "duplicate")
    storage.uploads.mark_rejected("c2", "unknown agency")
    assert j.counts() == {"pending": 1, "accepted": 1, "duplicate": 1, "rejected": 1}
    assert j.upload_state("c2") == ("rejected", "unknown agency")
    assert j.upload_state("c3") == ("pending", None)
    assert j.upload_state("nope") is None


# --- verify ---------------------------------------------------------------------------


def _chain(storage: Storage, n: int = 5) -> None:
    for i in range(1, n + 1):
        storage.journal.append(check(f"c{i}", outcome="normal"))


def test_verify_passes_an_untouched_chain(storage: Storage) -> None:
    _chain(storage)
    result = storage.journal.verify()
    assert (result.ok, result.checked, result.problems) == (True, 5, [])
    assert storage.journal.verify_columns().ok


def test_verify_finds_a_deleted_record(adapter: Any, storage: Storage) -> None:
    _chain(storage)
    adapter.delete_record("c3")
    result = storage.journal.verify()
    assert not result.ok
    kinds = {(p.id, p.kind) for p in result.problems}
    assert ("c4", "gap") in kinds or ("c4", "broken_link") in kinds
    assert all(p.id == "c4" for p in result.problems if p.kind in ("gap", "broken_link"))


def test_verify_finds_an_altered_record(adapter: Any, storage: Storage) -> None:
    _chain(storage)
    adapter.alter_body("c2", lambda r: r.update(outcome="green_channel"))
    result = storage.journal.verify()
    assert not result.ok
    assert [(p.id, p.kind) for p in result.problems] == [("c2", "hash_mismatch")]


def test_verify_finds_an_altered_record_whose_hash_was_recomputed(
    adapter: Any, storage: Storage
) -> None:
    _chain(storage)

    def forge(record: dict[str, Any]) -> None:
        record["outcome"] = "green_channel"
        record["hash"] = canonical_hash(record)

    adapter.alter_body("c2", forge)
    problems = {(p.id, p.kind) for p in storage.journal.verify().problems}
    # Its own hash now matches; the next record's link to it, and its hash column, do not.
    assert ("c3", "broken_link") in problems
    assert ("c2", "column_mismatch") in problems


def test_verify_finds_reordered_records(adapter: Any, storage: Storage) -> None:
    _chain(storage)
    adapter.swap_records("c2", "c4")
    result = storage.journal.verify()
    assert not result.ok
    assert {p.kind for p in result.problems} == {"broken_link"}
    assert {p.id for p in result.problems} >= {"c4", "c2"}


def test_verify_columns_names_a_column_that_disagrees_with_its_body(
    adapter: Any, storage: Storage
) -> None:
    _chain(storage)
    adapter.set_outcome_column("c3", "restriction")
    result = storage.journal.verify_columns()
    assert not result.ok
    assert [(m.id, m.column, m.stored, m.derived) for m in result.mismatches] == [
        ("c3", "outcome", "restriction", "normal")
    ]
    assert storage.journal.verify().ok  # the bodies themselves are untouched


def _authority_check(storage: Storage) -> None:
    storage.journal.append(
        {
            "type": "check",
            "id": "k1",
            "checked_at": "2026-10-05T10:00:00+08:00",
            "outcome": "restriction",
            "matter": {"category": "bidding"},
            "source": "live",
            "measures": [
                {"id": "P-1", "status": "applied", "entry_ids": ["BL-1"]},
                {"id": "P-2", "status": "applied", "entry_ids": ["BL-2"]},
            ],
        },
        inputs={
            "profile": {
                "entries": [{"entry_id": "BL-1", "authority": "中山市中级人民法院"}],
                "related": [
                    {"entries": [{"entry_id": "BL-2", "authority": "国家税务总局中山市税务局"}]}
                ],
            }
        },
    )


def test_verify_columns_finds_a_changed_authority_row(adapter: Any, storage: Storage) -> None:
    _authority_check(storage)
    assert storage.journal.verify_columns().ok
    adapter.set_authority("k1", 1, "国家税务总局中山市税务局", "中山市发展和改革局")
    result = storage.journal.verify_columns()
    assert [(m.id, m.column, m.stored, m.derived) for m in result.mismatches] == [
        ("k1", "record_authorities[1]", ("中山市发展和改革局",), ("国家税务总局中山市税务局",))
    ]
    assert storage.journal.verify().ok


def test_verify_columns_re_derives_the_authorities_from_the_stored_inputs(
    adapter: Any, storage: Storage
) -> None:
    _authority_check(storage)
    # The inputs say another authority listed BL-1 now: the stored rows no longer follow.
    adapter.set_inputs(
        "k1", {"profile": {"entries": [{"entry_id": "BL-1", "authority": "中山市市场监督管理局"}]}}
    )
    result = storage.journal.verify_columns()
    assert [(m.column, m.stored, m.derived) for m in result.mismatches] == [
        ("record_authorities[0]", ("中山市中级人民法院",), ("中山市市场监督管理局",)),
        ("record_authorities[1]", ("国家税务总局中山市税务局",), None),
    ]
