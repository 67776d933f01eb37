"""Snapshot lookups build entries from stored bodies without validating them again."""

from __future__ import annotations

import json

import pytest

from credit_check_sdk._models import ListEntry
from credit_check_sdk.snapshot import _entry_from_body

BASE = {
    "entry_id": "BL-1",
    "subject_id": "91442000MA4UJ2KQ57",
    "list": "black",
    "category": "court_judgment_defaulter",
    "authority": "中山市中级人民法院",
    "listed_on": "2025-01-10",
    "status": "objection_pending",
    "updated_at": "2026-11-20T10:00:00+08:00",
}


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"expires_on": "2028-01-10", "basis": "（2025）粤20执1234号"},
        {"updated_at": "2026-11-20T02:00:00Z"},
        {"updated_at": "2026-11-20T02:00:00.123456+00:00"},
    ],
)
def test_stored_body_reads_back_as_the_validated_entry(extra: dict[str, str]) -> None:
    entry = ListEntry.model_validate({**BASE, **extra})
    body = entry.model_dump_json()  # as the snapshot stores it
    fast = _entry_from_body(body)
    assert fast == entry
    assert fast.model_dump() == entry.model_dump()
    assert fast.model_dump_json() == body
    assert fast.model_fields_set == ListEntry.model_validate_json(body).model_fields_set


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({**BASE, "expires_on": None, "basis": None, "extra": 1}),  # a field too many
        json.dumps(BASE),  # fields missing: the defaults come from validation
    ],
)
def test_unexpected_bodies_take_the_validating_path(body: str) -> None:
    assert _entry_from_body(body) == ListEntry.model_validate_json(body)


def test_an_invalid_body_is_still_refused() -> None:
    with pytest.raises(ValueError, match="listed_on"):
        _entry_from_body(json.dumps({**BASE, "listed_on": "not a date", "extra": 1}))
