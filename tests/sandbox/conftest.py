"""One sandbox platform process for the whole ``tests/sandbox`` session."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("sqlalchemy")

from credit_check_sandbox.process import SandboxProcess

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed_size=2000, app_id="agency-test", app_secret="test-secret") as proc:
        yield proc


@pytest.fixture
def clean_faults(sandbox: SandboxProcess) -> Iterator[SandboxProcess]:
    """Faults and counters reset before and after the test."""
    sandbox.admin("DELETE", "/faults")
    yield sandbox
    sandbox.admin("DELETE", "/faults")


def with_hash(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its contract ``hash`` (SHA-256 of the canonical JSON)."""
    rest = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {**rest, "hash": hashlib.sha256(canonical.encode()).hexdigest()}


def check_record(agency_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid ``check`` journal record."""
    record: dict[str, Any] = {
        "type": "check",
        "id": str(uuid.uuid4()),
        "agency_id": agency_id,
        "checked_at": "2026-11-20T10:00:00+08:00",
        "department": "行政服务中心",
        "operator": "op-1",
        "matter": {"category": "bidding", "code": "ZB-1", "case_id": "C-1"},
        "subject": {"id": "91442000MA4UC00019", "kind": "legal_entity"},
        "outcome": "restriction",
        "measures": [{"id": "P-BID-EXCLUDE", "status": "applied", "entry_ids": ["BL-1"]}],
        "source": "live",
        "data_as_of": "2026-11-20T10:00:00+08:00",
        "recheck_of": None,
        "catalog_version": "2026.11.1",
        "sdk_version": "0.1.0",
        "prev_hash": None,
    }
    record.update(overrides)
    return with_hash(record)


def action_record(agency_id: str, check_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid ``action`` journal record."""
    record: dict[str, Any] = {
        "type": "action",
        "id": str(uuid.uuid4()),
        "check_id": check_id,
        "agency_id": agency_id,
        "acted_at": "2026-11-20T10:05:00+08:00",
        "action": "applied",
        "measure_ids": ["P-BID-EXCLUDE"],
        "reason": None,
        "operator": "op-1",
        "prev_hash": None,
    }
    record.update(overrides)
    return with_hash(record)


def new_uscc() -> str:
    """A checksum-valid Zhongshan USCC the seed never makes (random org code, "N" prefix)."""
    import random

    from stdnum.cn import uscc

    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91442000N" + "".join(random.choice(alphabet) for _ in range(8))
    return body + uscc.calc_check_digit(body)


def fresh_company(sandbox: SandboxProcess) -> str:
    """A new company with records since 2015 and no adverse record; its id."""
    sid = new_uscc()
    sandbox.admin(
        "POST",
        "/subjects",
        json={"id": sid, "name": "中山市测试有限公司", "record_since": "2015-01-01"},
    )
    return sid
