"""``POST /v1/records:batch``: which journal records a platform takes.

Each record is checked on its own (the project's reading of the contract): a
malformed one (a missing field, a bad value, another agency's ``agency_id``, a
wrong hash) is listed in ``rejected`` with the reason, the others are taken.
A body that is not ``{"records": [objects…]}`` is refused whole (400; 413 past
1000 records).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from . import inputs as inp
from .errors import Refusal

__all__ = ["MAX_RECORDS", "check_records", "record_hash"]

#: The most records one upload may hold.
MAX_RECORDS = 1000


def record_hash(record: dict[str, Any]) -> str:
    """The SHA-256 of a record's canonical JSON (without its ``hash``), as the contract fixes.

    >>> record_hash({"id": "x", "hash": "ignored"})[:12]
    '5e2b92cc57ce'
    """
    rest = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _problem_of(item: dict[str, Any], agency_id: str) -> str | None:
    kind = item.get("type")
    model: type[inp.CheckRecordIn] | type[inp.ActionRecordIn]
    if kind == "check":
        model = inp.CheckRecordIn
    elif kind == "action":
        model = inp.ActionRecordIn
    else:
        return f"type must be check or action, not {kind!r}"
    try:
        record = model.model_validate_json(json.dumps(item))
    except ValidationError as exc:
        return inp.describe_errors(exc)
    if record.agency_id != agency_id:
        return f"agency_id {record.agency_id!r} is not the calling agency {agency_id!r}"
    if (
        isinstance(record, inp.ActionRecordIn)
        and record.action != "applied"
        and not (record.reason or "").strip()
    ):
        return f"a reason is required for {record.action}"
    if record_hash(item) != record.hash:
        return "hash is not the SHA-256 of the record's canonical JSON"
    return None


def check_records(
    agency_id: str, body: bytes
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, str]]]:
    """``(records to keep, duplicate ids within the upload, rejected)`` of an upload body."""
    try:
        raw = json.loads(body) if body else None
    except ValueError:
        raise Refusal(400, "the body is not JSON", slug="bad-body") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("records"), list):
        raise Refusal(400, 'the body must be {"records": [...]}', slug="bad-body")
    items: list[Any] = raw["records"]
    if not items:
        raise Refusal(400, "records is empty", slug="bad-body")
    if len(items) > MAX_RECORDS:
        raise Refusal(413, f"at most {MAX_RECORDS} records per batch", slug="too-many")
    bad = [i for i, item in enumerate(items) if not isinstance(item, dict)]
    if bad:
        raise Refusal(400, f"records[{bad[0]}] is not a JSON object", slug="bad-body")
    accepted: list[dict[str, Any]] = []
    duplicates: list[str] = []
    rejected: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        rid = item.get("id")
        label = rid if isinstance(rid, str) and rid else f"records[{i}]"
        why = _problem_of(item, agency_id)
        if why is not None:
            rejected.append({"id": label, "detail": why})
        elif label in seen:
            duplicates.append(label)
        else:
            seen.add(label)
            accepted.append(item)
    return accepted, duplicates, rejected
