"""Change feed paging, cursors, 410, and the gzip NDJSON export; the SQLite fast path
that serves them against the SQLAlchemy Core path."""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from credit_check_sandbox import db
from credit_check_sandbox import store as store_module
from credit_check_sandbox.app import _blocks, _decode_cursor, _read_ahead
from credit_check_sandbox.process import SandboxProcess
from credit_check_sandbox.seed import SCENARIO_SUBJECTS as S
from credit_check_sandbox.seed import seed_database
from credit_check_sandbox.store import Store

from credit_check_sdk._models import ListEntry

from .conftest import fresh_company


def _all_changes(
    sandbox: SandboxProcess, limit: int, cursor: str | None = None
) -> tuple[list[dict[str, object]], str]:
    got: list[dict[str, object]] = []
    pages = 0
    while True:
        params = [("limit", str(limit))] + ([("cursor", cursor)] if cursor else [])
        r = sandbox.request("GET", "/v1/lists/changes", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["as_of"].endswith("+08:00")
        got.extend(body["changes"])
        cursor = body["next_cursor"]
        pages += 1
        assert pages < 1000
        if not body["has_more"]:
            return got, cursor


def _entries(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entry changes (upsert, delete) of a feed, without the relation changes."""
    return [c for c in changes if "entry" in c]


def _key(relation: dict[str, Any]) -> tuple[str, str, str]:
    return relation["subject_id"], relation["role"], relation["related_id"]


def test_paging_covers_every_entry_and_relation_once(sandbox: SandboxProcess) -> None:
    changes, _ = _all_changes(sandbox, 500)
    seqs = [c["seq"] for c in changes]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    entries = _entries(changes)
    ids = [c["entry"]["entry_id"] for c in entries]
    assert len(set(ids)) == len(ids)
    for c in entries[:50]:
        ListEntry.model_validate(c["entry"])
    relations = [c for c in changes if "relation" in c]
    assert {c["op"] for c in relations} <= {"relate", "unrelate"}
    assert len(relations) + len(entries) == len(changes)
    keys = [_key(c["relation"]) for c in relations]
    assert len(set(keys)) == len(keys)  # compacted: one change per relation
    _, lines = _export(sandbox)
    export_ids = {e["entry_id"] for e in lines if "relation" not in e}
    live = {c["entry"]["entry_id"] for c in entries if c["op"] == "upsert"}
    assert live == export_ids
    # The seed's relations are in the feed, and the export holds those still in force.
    assert S["legal_rep_blacklisted"].id in {k[0] for k in keys}
    related = {_key(c["relation"]) for c in relations if c["op"] == "relate"}
    assert related == {_key(e["relation"]) for e in lines if "relation" in e}


def test_limit_bounds(sandbox: SandboxProcess) -> None:
    for bad in ("0", "5001", "x"):
        r = sandbox.request("GET", "/v1/lists/changes", params={"limit": bad})
        assert r.status_code == 400, bad
    r = sandbox.request("GET", "/v1/lists/changes", params={"limit": "5000"})
    assert r.status_code == 200
    assert len(r.json()["changes"]) <= 5000


def test_cursor_resumes_and_sees_new_changes(sandbox: SandboxProcess) -> None:
    _, cursor = _all_changes(sandbox, 5000)
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": cursor})
    assert r.json()["changes"] == []
    assert r.json()["has_more"] is False
    assert r.json()["next_cursor"]
    sid = fresh_company(sandbox)
    added = sandbox.admin(
        "POST",
        "/entries",
        json={"subject_id": sid, "list": "red", "category": "integrity_model", "status": "active"},
    )
    changed = sandbox.admin("PATCH", f"/entries/{added['entry_id']}", json={"status": "withdrawn"})
    assert changed["status"] == "withdrawn"
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": cursor})
    [change] = r.json()["changes"]  # compacted: one change per entry, its latest state
    assert change["entry"]["entry_id"] == added["entry_id"]
    assert change["entry"]["status"] == "withdrawn"
    assert change["op"] == "upsert"
    deleted = sandbox.admin("DELETE", f"/entries/{added['entry_id']}")
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": cursor})
    [change] = r.json()["changes"]
    assert change["op"] == "delete"
    assert change["seq"] == deleted["seq"]
    profile = sandbox.request("GET", f"/v1/subjects/{sid}/profile").json()
    assert profile["entries"] == []


def test_bad_cursor(sandbox: SandboxProcess) -> None:
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": "garbage!"})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")


def _export(sandbox: SandboxProcess) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    r = sandbox.request("GET", "/v1/lists/export", stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Encoding"] == "gzip"
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    raw = gzip.decompress(r.raw.read())
    lines = raw.decode().splitlines()
    head = json.loads(lines[0])
    return head, [json.loads(line) for line in lines[1:]]


def test_export(sandbox: SandboxProcess) -> None:
    head, lines = _export(sandbox)
    entries = [e for e in lines if "relation" not in e]
    assert set(head) == {"cursor", "as_of", "count"}
    assert head["count"] == len(entries) > 1000
    # Relation lines come after the entry lines (the count counts entries only).
    first = next(i for i, e in enumerate(lines) if "relation" in e)
    assert all("relation" in e for e in lines[first:])
    for e in entries[:100]:
        ListEntry.model_validate(e)
    categories = {e["category"] for e in entries}
    from credit_check_sdk.categories import BLACK, RED

    assert set(BLACK) | set(RED) <= categories
    statuses = {e["status"] for e in entries}
    assert statuses == {"active", "objection_pending", "repaired", "expired", "withdrawn"}
    # The export's cursor continues with the feed.
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": str(head["cursor"])})
    assert r.status_code == 200
    assert r.json()["has_more"] is False


@pytest.fixture(scope="module")
def short_retention() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed_size=20, extra_args=["--change-retention", "3"]) as proc:
        yield proc


def test_old_cursor_is_410(short_retention: SandboxProcess) -> None:
    sb = short_retention
    _, cursor = _all_changes(sb, 5000)
    fresh, _ = _all_changes(sb, 1, cursor)
    assert fresh == []
    for i in range(4):
        sb.admin(
            "POST",
            "/entries",
            json={
                "subject_id": S["clean_no_entries"].id,
                "list": "black",
                "category": "statistics",
                "entry_id": f"BL-T-{i}",
            },
        )
    r = sb.request("GET", "/v1/lists/changes", params={"cursor": cursor})
    assert r.status_code == 410
    assert r.headers["Content-Type"].startswith("application/problem+json")
    # Starting again without a cursor works.
    changes, _ = _all_changes(sb, 5000)
    assert {f"BL-T-{i}" for i in range(4)} <= {c["entry"]["entry_id"] for c in _entries(changes)}


def test_cursor_of_another_database_is_410(
    short_retention: SandboxProcess, sandbox: SandboxProcess
) -> None:
    _, cursor = _all_changes(short_retention, 5000)
    r = sandbox.request("GET", "/v1/lists/changes", params={"cursor": cursor})
    assert r.status_code == 410


# --- the SQLite fast path against the SQLAlchemy Core path it replaces ----------------------

#: Text whose JSON is easy to get wrong: quotes, backslashes, control characters, a line
#: separator that JSON leaves as it is, and characters outside the BMP.
_AWKWARD = 'He said "停止" \\ C:\\path\n\ttab \x01 \x7f \u2028 😀 end'


def _add_awkward_entries(store: Store, subject_id: str) -> None:
    """Entries with ``NULL`` basis and expiry, an empty basis, fractional and midnight
    ``updated_at``, text needing escapes, and a tombstone."""
    base = {
        "subject_id": subject_id,
        "list": "black",
        "category": "statistics",
        "authority": "中山市统计局",
        "basis": "《统计法》",
        "listed_on": date(2026, 11, 1),
        "expires_on": date(2029, 10, 31),
        "status": "active",
        "deleted": False,
    }
    rows: list[dict[str, Any]] = [
        {
            "entry_id": "BL-T-NULLS",
            "basis": None,
            "expires_on": None,
            "updated_at": datetime(2026, 11, 20, 10, 0, 5, 123456),
        },
        {"entry_id": "BL-T-EMPTY", "basis": "", "updated_at": datetime(2026, 1, 1, 0, 0, 0)},
        {
            "entry_id": "BL-T-ESCAPES",
            "authority": _AWKWARD,
            "basis": _AWKWARD,
            "category": 'a "category"',
            "updated_at": datetime(2026, 12, 31, 23, 59, 59, 999999),
        },
        {
            "entry_id": "BL-T-GONE",
            "status": "withdrawn",
            "deleted": True,
            "updated_at": datetime(2026, 11, 21, 8, 30, 0, 1),
        },
    ]
    with store.write() as conn:
        for row in rows:
            values = {**base, **row}
            conn.execute(db.entries.insert().values(**values))
            op = "delete" if values["deleted"] else "upsert"
            store.touch_entry(conn, values["entry_id"], op, values["updated_at"])


def _stores(path: Path) -> tuple[Store, Store]:
    """A store on the SQLite fast path and one on the Core path, over one database."""
    fast = Store(db.make_engine(f"sqlite:///{path}"))
    core = Store(db.make_engine(f"sqlite:///{path}"))
    core.is_sqlite = False  # as on any other database
    assert fast.is_sqlite
    return fast, core


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    path = tmp_path / "feed.db"
    seed_database(db.make_engine(f"sqlite:///{path}"), seed=5, seed_size=300)
    fast, core = _stores(path)
    _add_awkward_entries(core, S["clean_no_entries"].id)
    yield fast, core
    fast.close()
    core.close()


def _pages(store: Store, limit: int) -> list[tuple[list[tuple[int, Any]], int]]:
    """Every page of the feed through :meth:`Store.change_texts_after`, changes parsed."""
    pages = []
    after = 0
    while True:
        rows, newest = store.change_texts_after(after, limit)
        pages.append(([(seq, json.loads(text)) for seq, text in rows], newest))
        if not rows:
            return pages
        after = rows[-1][0]


@pytest.mark.parametrize("limit", [1, 7, 5001])
def test_fast_feed_equals_core_feed(seeded: tuple[Store, Store], limit: int) -> None:
    fast, core = seeded
    fast_pages = _pages(fast, limit)
    assert fast_pages == _pages(core, limit)  # the Core fallback serves the same
    after = 0
    for changes, newest in fast_pages:
        old, old_newest = core.changes_after(after, limit)
        assert newest == old_newest
        assert changes == [(c["seq"], c) for c in old]
        after = changes[-1][0] if changes else after
    every = _entries([change for changes, _ in fast_pages for _, change in changes])
    by_id = {c["entry"]["entry_id"]: c for c in every}
    assert len(by_id) == len(every) > 300
    nulls = by_id["BL-T-NULLS"]["entry"]
    assert nulls["basis"] is None
    assert nulls["expires_on"] is None
    assert nulls["updated_at"] == "2026-11-20T10:00:05+08:00"
    assert by_id["BL-T-EMPTY"]["entry"]["basis"] == ""
    assert by_id["BL-T-EMPTY"]["entry"]["updated_at"] == "2026-01-01T00:00:00+08:00"
    assert by_id["BL-T-ESCAPES"]["entry"]["basis"] == _AWKWARD
    assert by_id["BL-T-GONE"]["op"] == "delete"


def test_fast_export_equals_core_export(
    seeded: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, core = seeded
    monkeypatch.setattr(store_module, "_EXPORT_BATCH", 7)  # many chunks from a small database
    with fast.export_ndjson() as (newest, count, chunks):
        got = list(chunks)
    with core.export_snapshot() as (old_newest, old_count, rows):
        old = list(rows)
    with core.export_ndjson() as (_, _, core_chunks):
        core_lines = b"".join(core_chunks)
    assert (newest, count) == (old_newest, old_count)
    assert len(got) > 40
    assert all(chunk.endswith(b"\n") for chunk in got)
    lines = b"".join(got).split(b"\n")
    assert lines.pop() == b""
    assert [json.loads(line) for line in lines] == old
    assert [json.loads(line) for line in core_lines.split(b"\n")[:-1]] == old
    assert len([e for e in old if "relation" not in e]) == count
    assert any("relation" in e for e in old)
    ids = [e["entry_id"] for e in old if "relation" not in e]
    assert "BL-T-GONE" not in ids
    assert {"BL-T-NULLS", "BL-T-EMPTY", "BL-T-ESCAPES"} <= set(ids)


def test_served_feed_and_export_equal_core_path(tmp_path: Path) -> None:
    """Over HTTP: the pages, cursors and export of the fast path are what the Core path's
    rows make of them."""
    path = tmp_path / "served.db"
    with SandboxProcess(db_path=path, seed_size=200) as sb:
        _, core = _stores(path)
        _add_awkward_entries(core, S["clean_no_entries"].id)
        generation = core.meta()["generation"]
        limit = 150
        after = 0
        cursor = None
        while True:
            params = [("limit", str(limit))] + ([("cursor", cursor)] if cursor else [])
            r = sb.request("GET", "/v1/lists/changes", params=params)
            assert r.status_code == 200, r.text
            assert r.headers["Content-Type"] == "application/json"
            page = r.json()
            assert list(page) == ["changes", "next_cursor", "has_more", "as_of"]
            old, newest = core.changes_after(after, limit + 1)
            assert page["changes"] == old[:limit]
            assert page["has_more"] is (len(old) > limit)
            last = old[:limit][-1]["seq"] if old[:limit] else after
            assert _decode_cursor(page["next_cursor"])[:3] == (generation, last, newest)
            cursor, after = page["next_cursor"], last
            if not page["has_more"]:
                break
        r = sb.request("GET", "/v1/lists/export", stream=True)
        assert r.headers["Content-Encoding"] == "gzip"
        head_line, *lines = gzip.decompress(r.raw.read()).split(b"\n")
        assert lines.pop() == b""
        head = json.loads(head_line)
        with core.export_snapshot() as (newest, count, rows):
            old_rows = list(rows)
        assert head["count"] == count == len([x for x in lines if b'"relation"' not in x[:12]])
        assert _decode_cursor(head["cursor"])[:3] == (generation, newest, newest)
        assert [json.loads(line) for line in lines] == old_rows
        core.close()


# --- the export's read-ahead ------------------------------------------------------------


def test_read_ahead_yields_everything_in_order() -> None:
    items = [str(i).encode() for i in range(100)]
    with _read_ahead(iter(items)) as got:
        assert list(got) == items
    assert list(_blocks([b"ab", b"c", b"def", b"g"], 3)) == [b"abc", b"def", b"g"]


def test_read_ahead_raises_the_sources_error() -> None:
    def source() -> Iterator[bytes]:
        yield b"one"
        raise sqlite3.OperationalError("disk I/O error")

    with _read_ahead(source()) as got:
        assert next(got) == b"one"
        with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
            next(got)


def test_read_ahead_stops_when_left_early() -> None:
    taken = []

    def source() -> Iterator[bytes]:
        for i in range(1000):
            taken.append(i)
            yield b"x"

    with _read_ahead(source(), depth=2) as got:
        next(got)
    count = len(taken)
    assert count <= 4  # the one consumed, two queued, one waiting for room
    assert not [t for t in threading.enumerate() if t.name == "sandbox-export-reader"]
    assert len(taken) == count
