"""A sync SIGKILLed mid-way resumes from its saved cursor: nothing lost, nothing twice."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from credit_check_sdk._client import PlatformClient
from credit_check_sdk._sync import Syncer
from credit_check_sdk.snapshot import BUILD_NAME, Snapshot

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

# Syncs the snapshot in data_dir from the feed at base_url, page by page, and prints
# the saved cursor after each page has been committed.
SYNCER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from credit_check_sdk._client import PlatformClient
    from credit_check_sdk._sync import Syncer
    from credit_check_sdk.snapshot import Snapshot
    snap = Snapshot(sys.argv[1])
    client = PlatformClient(sys.argv[2], "app", "secret", max_attempts=1, timeout=10)
    def progress(applied, total):
        sys.stdout.write(f"{{applied}}\\n")
        sys.stdout.flush()
    Syncer(snap, client, page_size=int(sys.argv[3]), on_progress=progress).sync_once()
    sys.stdout.write("done\\n")
    sys.stdout.flush()
    """
).format(root=str(ROOT))


class Feed:
    """A change feed whose pages take a little while, so that a kill lands mid-sync."""

    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self.requests: list[str | None] = []
        self.delay = 0.0
        self.epoch = 0
        self.lock = threading.Lock()
        self.export = False  # serve GET /v1/lists/export (else 404: rebuilt from the feed)
        self.export_requests = 0

    def add(self, op: str, n: int, status: str = "active") -> None:
        e = {
            "entry_id": f"E-{n:06d}",
            "subject_id": f"S{n % 11}",
            "list": "black",
            "category": "court_judgment_defaulter",
            "authority": "中山市中级人民法院",
            "listed_on": "2025-01-10",
            "status": status,
            "updated_at": "2026-11-20T10:00:00+08:00",
        }
        self.changes.append({"seq": len(self.changes) + 1, "op": op, "entry": e})

    def expected(self) -> dict[str, str]:
        state: dict[str, str] = {}
        for c in self.changes:
            if c["op"] == "upsert":
                state[c["entry"]["entry_id"]] = c["entry"]["status"]
            else:
                state.pop(c["entry"]["entry_id"], None)
        return state

    def handle(self, request: Request) -> Response:
        cursor = request.args.get("cursor")
        limit = int(request.args["limit"])
        with self.lock:
            self.requests.append(cursor)
        if self.delay:
            time.sleep(self.delay)
        if cursor is not None and not cursor.startswith(f"e{self.epoch}:"):
            body = {"type": "x", "title": "cursor expired", "status": 410, "detail": "old"}
            return Response(json.dumps(body), status=410, content_type="application/json")
        after = int(cursor.split(":")[1]) if cursor else 0
        chunk = self.changes[after : after + limit]
        last = chunk[-1]["seq"] if chunk else after
        body = {
            "changes": chunk,
            "next_cursor": f"e{self.epoch}:{last}",
            "has_more": last < len(self.changes),
            "as_of": "2026-11-29T08:00:00+08:00",
        }
        return Response(json.dumps(body), content_type="application/json")

    def handle_export(self, request: Request) -> Response:
        with self.lock:
            self.export_requests += 1
        if not self.export:
            body = {"type": "x", "title": "not found", "status": 404, "detail": "no export"}
            return Response(json.dumps(body), status=404, content_type="application/json")
        live = self.expected()
        latest = {c["entry"]["entry_id"]: c["entry"] for c in self.changes if c["op"] == "upsert"}
        state = [e for key, e in latest.items() if key in live]
        head = {
            "cursor": f"e{self.epoch}:{len(self.changes)}",
            "as_of": "2026-11-29T08:00:00+08:00",
            "count": len(state),
        }
        lines = [json.dumps(head)] + [json.dumps(e) for e in state]
        delay = self.delay

        def body() -> Iterator[bytes]:
            # Streamed slowly, 1,000 lines at a time, so that a kill lands mid-download.
            packer = zlib.compressobj(wbits=31)
            for at in range(0, len(lines), 1000):
                yield packer.compress(("\n".join(lines[at : at + 1000]) + "\n").encode())
                time.sleep(delay)
            yield packer.flush()

        return Response(body(), content_type="application/x-ndjson")


@pytest.fixture
def feed(httpserver: HTTPServer) -> Feed:
    f = Feed()
    httpserver.expect_request("/api/v1/lists/changes").respond_with_handler(f.handle)
    httpserver.expect_request("/api/v1/lists/export").respond_with_handler(f.handle_export)
    return f


@pytest.fixture
def client(httpserver: HTTPServer) -> Iterator[PlatformClient]:
    c = PlatformClient(httpserver.url_for("/api"), "app", "secret", max_attempts=1, timeout=10)
    yield c
    c.close()


def run_and_kill(data: Path, url: str, page_size: int, pages: int, jitter: float) -> list[str]:
    """Start a syncing subprocess, SIGKILL it after ``pages`` pages (+ a random delay)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SYNCER, str(data), url, str(page_size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while len(lines) < pages:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        time.sleep(jitter)  # usually lands inside a request or an apply transaction
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    return lines


def stored(data: Path) -> dict[str, str]:
    snap = Snapshot(data)
    try:
        out: dict[str, str] = {}
        for s in range(11):
            for e in snap.entries_for(f"S{s}"):
                out[e.entry_id] = e.status
        return out
    finally:
        snap.close()


def check_consistent(data: Path) -> None:
    """The counted entries match the rows, and no entry is stored twice."""
    snap = Snapshot(data)
    try:
        st = snap.status()
        assert st.path is not None
        conn = sqlite3.connect(st.path)
        try:
            rows = conn.execute("SELECT count(*), count(DISTINCT entry_id) FROM entries").fetchone()
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
        assert rows == (st.entries, st.entries)
    finally:
        snap.close()


def test_killed_incremental_sync_resumes_from_the_saved_cursor(
    feed: Feed, client: PlatformClient, httpserver: HTTPServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    rng = random.Random(7)
    for n in range(1, 51):
        feed.add("upsert", n)
    # The first, complete sync (a rebuild from the start of the feed).
    snap = Snapshot(data)
    Syncer(snap, client, page_size=50).sync_once()
    snap.close()
    # Then a long run of changes: upserts, status changes and deletes of earlier ones.
    for n in range(51, 1251):
        r = rng.random()
        if r < 0.2:
            feed.add("delete", rng.randrange(1, n))
        elif r < 0.4:
            feed.add("upsert", rng.randrange(1, n), "repaired")
        else:
            feed.add("upsert", n)
    feed.delay = 0.01
    url = httpserver.url_for("/api")
    cursors_seen: list[int] = []
    for round_ in range(4):
        before = Snapshot(data)
        saved = before.status()
        before.close()
        assert saved.cursor is not None
        cursors_seen.append(saved.last_seq)
        start = len(feed.requests)
        lines = run_and_kill(data, url, 20, pages=3 + round_ * 2, jitter=rng.uniform(0, 0.02))
        assert lines, "the syncer printed nothing"
        assert "done" not in lines
        # The killed run asked first for exactly the cursor the previous run had saved.
        assert feed.requests[start] == saved.cursor
        check_consistent(data)
        after = Snapshot(data)
        # Nothing committed was lost: at least the pages it reported are saved.
        assert after.status().last_seq >= saved.last_seq + 20 * len(lines)
        after.close()
    assert cursors_seen == sorted(cursors_seen)
    assert len(set(cursors_seen)) == len(cursors_seen)  # every run made progress
    # Restart in-process and finish.
    feed.delay = 0.0
    snap = Snapshot(data)
    resume_from = snap.status().cursor
    start = len(feed.requests)
    result = Syncer(snap, client, page_size=100).sync_once()
    snap.close()
    assert feed.requests[start] == resume_from
    assert not result.resynced
    assert stored(data) == feed.expected()
    check_consistent(data)


@pytest.mark.parametrize(
    ("export", "new_entries", "page_size", "pages", "printed"),
    [
        # Rebuilt from the start of the feed, killed after five pages of ten.
        (False, 370, 10, 5, ["10", "20", "30", "40", "50"]),
        # Rebuilt from the list export, killed after its first batch of 10,000 entries.
        (True, 30_000, 100, 1, ["10000"]),
    ],
    ids=["from-the-feed", "from-the-export"],
)
def test_killed_rebuild_leaves_the_old_snapshot_in_service(
    feed: Feed,
    client: PlatformClient,
    httpserver: HTTPServer,
    tmp_path: Path,
    export: bool,
    new_entries: int,
    page_size: int,
    pages: int,
    printed: list[str],
) -> None:
    data = tmp_path / "data"
    for n in range(1, 31):
        feed.add("upsert", n)
    snap = Snapshot(data)
    Syncer(snap, client, page_size=30).sync_once()
    old = (snap.status(), stored(data))
    snap.close()
    # The platform starts a new feed (our cursor now gets 410) with more entries.
    feed.epoch = 1
    for n in range(31, 31 + new_entries):
        feed.add("upsert", n)
    feed.export = export
    feed.delay = 0.02 if export else 0.01
    lines = run_and_kill(data, httpserver.url_for("/api"), page_size, pages=pages, jitter=0.005)
    assert lines == printed
    assert os.path.exists(data / BUILD_NAME)  # killed mid-rebuild
    snap = Snapshot(data)
    st = snap.status()
    assert (st.generation, st.cursor, st.entries) == (
        old[0].generation,
        old[0].cursor,
        old[0].entries,
    )
    assert stored(data) == old[1]
    feed.delay = 0.0
    result = Syncer(snap, client, page_size=100).sync_once()
    snap.close()
    assert result.resynced
    # Each of the three syncers asked for the export once (404 when it is not served).
    assert feed.export_requests == 3
    assert stored(data) == feed.expected()
    assert not os.path.exists(data / BUILD_NAME)
    check_consistent(data)
