"""Objections and report receipts (ObjectionStore, ReceiptStore), for every adapter."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from credit_check_sdk import InvalidRequestError
from credit_check_sdk.storage import Storage

CST = timezone(timedelta(hours=8))
ORG = "91442000MA4UJ2KQ57"


def test_objections_are_noted_once_updated_and_listed_by_time(storage: Storage) -> None:
    o = storage.objections
    assert o.record("OBJ-2", "c2", "BL-2", ORG, filed_at=datetime(2026, 10, 31, 23, tzinfo=CST))
    assert o.record("OBJ-1", "c1", "BL-1", ORG, filed_at=datetime(2026, 10, 5, tzinfo=CST))
    assert not o.record("OBJ-1", "cX", "BL-X", ORG)  # noted already: nothing changes
    assert o.record("OBJ-3", None, "BL-3", ORG, filed_at=datetime(2026, 11, 1, tzinfo=CST))
    assert o.update("OBJ-1", "upheld")
    assert not o.update("OBJ-9", "upheld")
    october = o.select(datetime(2026, 10, 1, tzinfo=CST), datetime(2026, 11, 1, tzinfo=CST))
    assert [(x["objection_id"], x["check_id"], x["status"]) for x in october] == [
        ("OBJ-1", "c1", "upheld"),
        ("OBJ-2", "c2", "verifying"),
    ]
    assert october[0]["filed_at"] == "2026-10-04T16:00:00.000000Z"
    assert sorted(october[0]) == [
        "check_id",
        "entry_id",
        "filed_at",
        "objection_id",
        "status",
        "subject_id",
        "updated_at",
    ]
    assert [x["objection_id"] for x in o.select()] == ["OBJ-1", "OBJ-2", "OBJ-3"]


@pytest.mark.parametrize(
    "call",
    [
        lambda o: o.record("", "c1", "BL-1", ORG),
        lambda o: o.record("OBJ-1", "c1", "BL-1", ORG, status="lost"),
        lambda o: o.record("OBJ-1", "c1", "BL-1", ORG, filed_at=datetime(2026, 10, 5)),
        lambda o: o.update("OBJ-1", "lost"),
        lambda o: o.select(datetime(2026, 10, 1)),
    ],
)
def test_bad_objection_arguments_are_refused(storage: Storage, call: object) -> None:
    with pytest.raises(InvalidRequestError):
        call(storage.objections)  # type: ignore[operator]
    assert storage.objections.select() == []


def test_receipts_by_period_then_version_a_repeat_replaces(storage: Storage) -> None:
    r = storage.receipts
    at = datetime(2026, 11, 3, 9, tzinfo=CST)
    r.record("2026-10", 2, "RCPT-2", "cd" * 32, submitted_at=at)
    r.record("2026-10", 1, "RCPT-1", "ab" * 32, submitted_at=at)
    r.record("2026-09", 1, "RCPT-0", "ef" * 32, submitted_at=at)
    r.record("2026-10", 2, "RCPT-2b", "cd" * 32, submitted_at=at)
    assert [(x["period"], x["version"], x["receipt_id"]) for x in r.select()] == [
        ("2026-09", 1, "RCPT-0"),
        ("2026-10", 1, "RCPT-1"),
        ("2026-10", 2, "RCPT-2b"),
    ]
    october = r.select("2026-10")
    assert [x["version"] for x in october] == [1, 2]
    assert october[0] == {
        "period": "2026-10",
        "version": 1,
        "receipt_id": "RCPT-1",
        "submitted_at": "2026-11-03T01:00:00.000000Z",
        "body_hash": "ab" * 32,
    }
    with pytest.raises(InvalidRequestError):
        r.record("2026-11", 1, "RCPT-3", "00" * 32, submitted_at=datetime(2026, 12, 1))
