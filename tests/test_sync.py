"""The syncer against a real HTTP server playing the change feed, with the real PlatformClient."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from credit_check_sdk._client import PlatformClient
from credit_check_sdk._exceptions import BadRequestError, InvalidResponseError, PlatformError
from credit_check_sdk._sync import Syncer
from credit_check_sdk._sync_thread import SyncThread
from credit_check_sdk.snapshot import BUILD_NAME, Snapshot

COMPANY = "91442000MA4UJ2KQ57"


def entry(n: int, subject: str | None = None, *, status: str = "active") -> dict[str, Any]:
    return {
        "entry_id": f"E-{n:06d}",
        "subject_id": subject or f"S{n % 7}",
        "list": "black" if n % 3 else "red",
        "category": "court_judgment_defaulter",
        "authority": "中山市中级人民法院",
        "listed_on": "2025-01-10",
        "status": status,
        "updated_at": "2026-11-20T10:00:00+08:00",
    }


class Feed:
    """A change feed served over HTTP: cursors ``s<seq>``, 410 for expired ones, faults on demand.

    ``fault(cursor, nth_request)`` may return an HTTP status to answer instead of a page.
    """

    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self.expired: set[str] = set()
        self.requests: list[str | None] = []
        self.fault: Callable[[str | None, int], int | None] | None = None
        self.as_of = "2026-11-29T08:00:00+08:00"
        self.lock = threading.Lock()
        self.body_override: bytes | None = None
        self.epoch = 0  # bumped by compact(): cursors of an earlier epoch get 410
        # The list export: not served (404) unless a test sets export_status = 200.
        self.export_status = 404
        self.export_at: int | None = None  # the export's seq (default: the feed's newest)
        self.export_cut = 0  # this many export requests end half-way (connection dropped)
        self.export_requests = 0
        self.export_damage: Callable[[list[bytes]], list[bytes]] | None = None  # edits lines

    def cursor(self, seq: int) -> str:
        return f"s{seq}" if self.epoch == 0 else f"e{self.epoch}s{seq}"

    def _parse(self, cursor: str) -> tuple[int, int]:
        epoch, _, seq = cursor[1:].rpartition("s") if cursor[0] == "e" else ("0", "", cursor[1:])
        return int(epoch), int(seq)

    def upsert(self, e: dict[str, Any]) -> None:
        self.changes.append({"seq": len(self.changes) + 1, "op": "upsert", "entry": e})

    def delete(self, e: dict[str, Any]) -> None:
        self.changes.append({"seq": len(self.changes) + 1, "op": "delete", "entry": e})

    def compact(self) -> None:
        """Restart the feed from the current state (what a platform does after retention)."""
        state = self.expected()
        self.epoch += 1
        self.changes = []
        for e in sorted(state.values(), key=lambda x: x["entry_id"]):
            self.upsert(e)

    def expected(self, upto: int | None = None) -> dict[str, dict[str, Any]]:
        state: dict[str, dict[str, Any]] = {}
        for c in self.changes[:upto]:
            if c["op"] == "upsert":
                state[c["entry"]["entry_id"]] = c["entry"]
            else:
                state.pop(c["entry"]["entry_id"], None)
        return state

    def handle(self, request: Request) -> Response:
        cursor = request.args.get("cursor")
        limit = int(request.args.get("limit", "1000"))
        with self.lock:
            self.requests.append(cursor)
            n = len(self.requests)
        status = self.fault(cursor, n) if self.fault else None
        if status is not None:
            problem = {"type": "about:blank", "title": "fault", "status": status, "detail": "x"}
            return Response(json.dumps(problem), status=status, content_type="application/json")
        epoch, after = self._parse(cursor) if cursor else (self.epoch, 0)
        if cursor in self.expired or epoch != self.epoch:
            problem = {"type": "x", "title": "cursor expired", "status": 410, "detail": "old"}
            return Response(json.dumps(problem), status=410, content_type="application/json")
        if self.body_override is not None:
            return Response(self.body_override, content_type="application/json")
        chunk = self.changes[after : after + limit]
        last = chunk[-1]["seq"] if chunk else after
        body = {
            "changes": chunk,
            "next_cursor": self.cursor(last),
            "has_more": last < len(self.changes),
            "as_of": self.as_of,
        }
        return Response(json.dumps(body), content_type="application/json")

    def handle_export(self, request: Request) -> Response:
        with self.lock:
            self.export_requests += 1
            n = self.export_requests
        if self.export_status != 200:
            problem = {"type": "x", "title": "no", "status": self.export_status, "detail": "no"}
            return Response(
                json.dumps(problem), status=self.export_status, content_type="application/json"
            )
        seq = len(self.changes) if self.export_at is None else self.export_at
        state = self.expected(seq)
        head = {"cursor": self.cursor(seq), "as_of": self.as_of, "count": len(state)}
        lines = [json.dumps(head)] + [json.dumps(e, ensure_ascii=False) for e in state.values()]
        raw = [line.encode() for line in lines]
        if self.export_damage is not None:
            raw = self.export_damage(raw)
        data = gzip.compress(b"\n".join(raw) + b"\n")
        if n <= self.export_cut:
            # Promise the whole body, send half, close: the download breaks off mid-body.
            return Response(
                iter([data[: len(data) // 2]]),
                headers={"Content-Length": str(len(data))},
                content_type="application/x-ndjson",
                direct_passthrough=True,
            )
        return Response(data, content_type="application/x-ndjson")


@pytest.fixture
def feed(httpserver: HTTPServer) -> Feed:
    f = Feed()
    httpserver.expect_request("/api/v1/lists/changes").respond_with_handler(f.handle)
    httpserver.expect_request("/api/v1/lists/export").respond_with_handler(f.handle_export)
    return f


@pytest.fixture
def client(httpserver: HTTPServer) -> Iterator[PlatformClient]:
    c = PlatformClient(httpserver.url_for("/api"), "app", "secret", max_attempts=1, timeout=5)
    yield c
    c.close()


@pytest.fixture
def snap(tmp_path: Path) -> Iterator[Snapshot]:
    s = Snapshot(tmp_path / "data")
    yield s
    s.close()


def state_of(snap: Snapshot) -> dict[str, dict[str, Any]]:
    """Every entry in the snapshot, as the feed's JSON would give it."""
    out: dict[str, dict[str, Any]] = {}
    for subject in {f"S{i}" for i in range(7)} | {COMPANY}:
        for e in snap.entries_for(subject):
            out[e.entry_id] = e.model_dump(mode="json", exclude_none=True)
    return out


def norm(state: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in state.items()}


def test_first_sync_pages_to_completion_then_follows_from_the_cursor(
    feed: Feed, client: PlatformClient, snap: Snapshot
) -> None:
    for i in range(1, 21):
        feed.upsert(entry(i))
    feed.delete(entry(3))
    feed.upsert(entry(5, status="repaired"))
    progress: list[int] = []
    syncer = Syncer(snap, client, page_size=5, on_progress=lambda n, total: progress.append(n))
    result = syncer.sync_once()
    assert (result.pages, result.upserts, result.deletes) == (5, 21, 1)
    assert result.resynced  # no cursor yet: built from the start, then swapped in
    assert result.cursor == "s22"
    assert progress == [5, 10, 15, 20, 22]
    assert state_of(snap) == norm(feed.expected())
    assert snap.status().entries == 19
    assert feed.requests == [None, "s5", "s10", "s15", "s20"]

    # Nothing new: one request from the saved cursor, nothing applied.
    again = syncer.sync_once()
    assert (again.applied, again.pages, again.resynced) == (0, 1, False)
    assert feed.requests[-1] == "s22"

    # New changes are followed from the saved cursor, deletes included.
    feed.delete(entry(1))
    feed.upsert(entry(30, COMPANY))
    feed.as_of = "2026-11-29T09:00:00+08:00"
    inc = syncer.sync_once()
    assert (inc.upserts, inc.deletes, inc.pages, inc.resynced) == (1, 1, 1, False)
    assert state_of(snap) == norm(feed.expected())
    assert [e.entry_id for e in snap.entries_for(COMPANY)] == ["E-000030"]
    assert inc.as_of is not None
    assert inc.as_of.isoformat() == "2026-11-29T09:00:00+08:00"


def test_a_page_applied_twice_changes_nothing(
    feed: Feed, client: PlatformClient, snap: Snapshot
) -> None:
    for i in range(1, 11):
        feed.upsert(entry(i))
    syncer = Syncer(snap, client, page_size=4)
    syncer.sync_once()
    feed.delete(entry(2))
    syncer.sync_once()
    from credit_check_sdk._sync import fetch_changes

    old = fetch_changes(client, "s4", limit=4, timeout=5)  # E-1..E-4 upserted again
    assert snap.apply(old) == 0
    assert "E-000002" not in state_of(snap)
    assert state_of(snap) == norm(feed.expected())


def test_on_change_gets_applied_changes_and_its_errors_do_not_stop_the_sync(
    feed: Feed, client: PlatformClient, snap: Snapshot, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(1, 8):
        feed.upsert(entry(i))
    got: list[list[str]] = []

    def watcher(subject_ids: list[str]) -> None:
        got.append(subject_ids)
        raise RuntimeError("watcher bug")

    syncer = Syncer(snap, client, page_size=3, on_change=watcher)
    with caplog.at_level(logging.ERROR, logger="credit_check_sdk._sync"):
        result = syncer.sync_once()
    assert result.applied == 7
    # The subjects of each page's changes, in seq order (entry n belongs to S{n % 7}).
    assert got == [["S1", "S2", "S3"], ["S4", "S5", "S6"], ["S0"]]
    assert "on_change callback failed" in caplog.text
    assert state_of(snap) == norm(feed.expected())


def test_410_resyncs_cleanly_and_serves_the_old_snapshot_until_done(
    feed: Feed, client: PlatformClient, snap: Snapshot
) -> None:
    for i in range(1, 13):
        feed.upsert(entry(i, COMPANY if i <= 2 else None))
    syncer = Syncer(snap, client, page_size=5)
    syncer.sync_once()
    old_generation = snap.status().generation
    old_company = [e.entry_id for e in snap.entries_for(COMPANY)]
    assert old_company == ["E-000001", "E-000002"]

    # The platform compacts its feed; our cursor is gone. Meanwhile E-1 was repaired away.
    feed.delete(entry(1, COMPANY))
    feed.upsert(entry(40, COMPANY))
    feed.compact()
    seen_during_rebuild: list[list[str]] = []

    def watcher(subject_ids: list[str]) -> None:
        seen_during_rebuild.append([e.entry_id for e in snap.entries_for(COMPANY)])

    syncer = Syncer(snap, client, page_size=5, on_change=watcher)
    result = syncer.sync_once()
    assert result.resynced
    assert result.cursor == feed.cursor(len(feed.changes))
    assert seen_during_rebuild
    assert all(s == old_company for s in seen_during_rebuild)  # old one in service meanwhile
    assert [e.entry_id for e in snap.entries_for(COMPANY)] == ["E-000002", "E-000040"]
    assert state_of(snap) == norm(feed.expected())
    assert snap.status().generation == old_generation + 1
    assert feed.requests[-4:] == ["s12", None, "e1s5", "e1s10"]


def test_a_failure_mid_rebuild_keeps_the_old_snapshot_intact(
    feed: Feed, client: PlatformClient, snap: Snapshot
) -> None:
    for i in range(1, 13):
        feed.upsert(entry(i))
    syncer = Syncer(snap, client, page_size=4)
    syncer.sync_once()
    before = (snap.status(), state_of(snap))
    feed.upsert(entry(50))
    feed.compact()
    # The rebuild's third page fails (a 400, not retried).
    feed.fault = lambda cursor, n: 400 if cursor == "e1s8" else None
    with pytest.raises(BadRequestError):
        syncer.sync_once()
    after = snap.status()
    assert (after.generation, after.cursor, after.entries) == (
        before[0].generation,
        before[0].cursor,
        before[0].entries,
    )
    assert state_of(snap) == before[1]
    assert BUILD_NAME not in os.listdir(snap.dir)
    # Once the platform behaves, the rebuild completes.
    feed.fault = None
    result = syncer.sync_once()
    assert result.resynced
    assert state_of(snap) == norm(feed.expected())


def test_a_fault_mid_follow_keeps_the_pages_already_applied(
    feed: Feed, client: PlatformClient, snap: Snapshot
) -> None:
    feed.upsert(entry(1))
    syncer = Syncer(snap, client, page_size=2)
    syncer.sync_once()
    for i in range(2, 10):
        feed.upsert(entry(i))
    feed.fault = lambda cursor, n: 503 if cursor == "s5" else None
    with pytest.raises(PlatformError):
        syncer.sync_once()
    assert snap.status().cursor == "s5"  # pages up to seq 5 committed
    feed.fault = None
    syncer.sync_once()
    assert feed.requests[-3:] == ["s5", "s5", "s7"]  # failed, then resumed from there
    assert state_of(snap) == norm(feed.expected())


def test_a_malformed_page_is_refused(feed: Feed, client: PlatformClient, snap: Snapshot) -> None:
    feed.body_override = b'{"changes": [{"seq": 1, "op": "upsert"}], "has_more": false}'
    with pytest.raises(InvalidResponseError):
        Syncer(snap, client).sync_once()
    assert snap.status().generation == 0


def test_import_file_then_follow_the_feed_from_the_export_cursor(
    feed: Feed, client: PlatformClient, snap: Snapshot, tmp_path: Path
) -> None:
    for i in range(1, 9):
        feed.upsert(entry(i))
    head = {"cursor": "s8", "as_of": "2026-11-29T07:00:00+08:00", "count": 8}
    lines = [json.dumps(head)] + [json.dumps(e) for e in feed.expected().values()]
    export = tmp_path / "lists.ndjson.gz"
    export.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    syncer = Syncer(snap, client, page_size=3)
    imported = syncer.import_file(export)
    assert (imported.entries, imported.cursor) == (8, "s8")
    feed.delete(entry(4))
    feed.upsert(entry(9))
    result = syncer.sync_once()
    assert (result.resynced, result.upserts, result.deletes) == (False, 1, 1)
    assert feed.requests == ["s8"]
    assert state_of(snap) == norm(feed.expected())


def test_sync_thread_runs_wakes_logs_once_per_state_and_stops(
    feed: Feed, client: PlatformClient, snap: Snapshot, caplog: pytest.LogCaptureFixture
) -> None:
    feed.upsert(entry(1))
    failing = threading.Event()
    feed.fault = lambda cursor, n: 503 if failing.is_set() else None
    runner = SyncThread(Syncer(snap, client), interval=30, timeout=2, min_backoff=0.02)
    caplog.set_level(logging.INFO, logger="credit_check_sdk._sync")

    def wait_for(cond: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 10
        while not cond():
            assert time.monotonic() < deadline, what
            time.sleep(0.01)

    runner.start()
    try:
        wait_for(lambda: snap.status().entries == 1, "first pass")
        feed.upsert(entry(2))
        runner.wake()
        wait_for(lambda: snap.status().entries == 2, "woken pass")
        failing.set()
        runner.wake()
        wait_for(lambda: runner.failures >= 4, "failing passes (backoff below interval)")
        failing.clear()
        wait_for(lambda: runner.failures == 0, "recovery")
        assert runner.stats()["running"]
    finally:
        assert runner.stop(timeout=5)
    assert not runner.running
    warnings = [r for r in caplog.records if "sync failing" in r.getMessage()]
    assert len(warnings) == 1  # once for the state change, not per attempt
    assert any("works again" in r.getMessage() for r in caplog.records)
    runner.stop()  # idempotent


def test_sync_thread_never_raises_into_the_caller(snap: Snapshot) -> None:
    class Broken:
        def list_changes(self, *a: Any, **k: Any) -> Any:
            raise RuntimeError("not a platform error at all")

        export_lists = list_changes

    runner = SyncThread(Syncer(snap, Broken()), interval=0.05)  # type: ignore[arg-type]
    runner.start()
    time.sleep(0.2)
    assert runner.running
    assert runner.last_error is not None
    assert "RuntimeError" in runner.last_error
    assert runner.stop(timeout=5)


def test_page_size_is_bounded(snap: Snapshot, client: PlatformClient) -> None:
    with pytest.raises(ValueError, match="page_size"):
        Syncer(snap, client, page_size=5001)


# --- rebuilding from the list export ----------------------------------------------------


def test_a_rebuild_loads_the_export_then_follows_the_feed_from_its_cursor(
    feed: Feed, client: PlatformClient, snap: Snapshot
) -> None:
    for i in range(1, 31):
        feed.upsert(entry(i))
    feed.delete(entry(7))
    feed.export_status = 200
    feed.export_at = 25  # the export is a little behind the feed's head
    feed.upsert(entry(31, COMPANY))
    progress: list[tuple[int, int | None]] = []
    seen: list[str] = []
    syncer = Syncer(
        snap,
        client,
        page_size=4,
        on_progress=lambda n, total: progress.append((n, total)),
        on_change=seen.extend,
    )
    result = syncer.sync_once()
    assert result.resynced
    assert result.complete
    assert feed.export_requests == 1
    assert feed.requests == ["s25", "s29"]  # the feed followed on from the export's cursor
    assert state_of(snap) == norm(feed.expected())
    assert [e.entry_id for e in snap.entries_for(COMPANY)] == ["E-000031"]
    assert (result.upserts, result.deletes) == (25 + 6, 1)
    assert result.cursor == "s32"
    # Watchers hear of the exported entries' subjects, then of the feed's changes.
    assert seen[:25] == [e["subject_id"] for e in feed.expected(25).values()]
    assert seen[25:] == [c["entry"]["subject_id"] for c in feed.changes[25:]]
    assert progress[0] == (25, 25)  # while the export loads, the total is known
    assert progress[-1][0] == result.applied


def test_a_platform_without_the_export_is_rebuilt_from_the_feed_and_not_asked_again(
    feed: Feed, client: PlatformClient, snap: Snapshot, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(1, 6):
        feed.upsert(entry(i))
    feed.export_status = 501
    syncer = Syncer(snap, client, page_size=2)
    with caplog.at_level(logging.INFO, logger="credit_check_sdk._sync"):
        assert syncer.sync_once().resynced
    assert "does not serve the list export" in caplog.text
    assert state_of(snap) == norm(feed.expected())
    feed.compact()  # a 410 later: the rebuild goes straight to the feed
    assert syncer.sync_once().resynced
    assert feed.export_requests == 1
    assert state_of(snap) == norm(feed.expected())


def test_an_export_failure_keeps_the_old_snapshot_and_leaves_no_half_built_file(
    feed: Feed, client: PlatformClient, snap: Snapshot
) -> None:
    for i in range(1, 6):
        feed.upsert(entry(i))
    Syncer(snap, client, use_export=False).sync_once()
    before = (snap.status().generation, state_of(snap))
    feed.upsert(entry(6))
    feed.compact()
    feed.export_status = 503
    syncer = Syncer(snap, client)
    with pytest.raises(PlatformError):
        syncer.sync_once()
    assert (snap.status().generation, state_of(snap)) == before
    assert BUILD_NAME not in os.listdir(snap.dir)
    assert syncer.use_export  # a 503 is an outage, not "no export": asked again next time
    feed.export_status = 200
    assert syncer.sync_once().resynced
    assert state_of(snap) == norm(feed.expected())


def test_an_export_cut_off_mid_body_is_downloaded_again_from_nothing(
    feed: Feed, httpserver: HTTPServer, snap: Snapshot
) -> None:
    for i in range(1, 2001):
        feed.upsert(entry(i, f"S{i}"))
    feed.export_status = 200
    feed.export_cut = 1
    retrying = PlatformClient(httpserver.url_for("/api"), "app", "secret", max_attempts=3)
    try:
        result = Syncer(snap, retrying).sync_once()
    finally:
        retrying.close()
    assert feed.export_requests == 2
    assert result.resynced
    assert snap.status().entries == 2000  # the first half-load was discarded, not doubled
    assert [e.entry_id for e in snap.entries_for("S1999")] == ["E-001999"]


def test_an_export_cut_off_without_retries_is_refused(
    feed: Feed, client: PlatformClient, snap: Snapshot
) -> None:
    for i in range(1, 2001):
        feed.upsert(entry(i))
    feed.export_status = 200
    feed.export_cut = 1
    with pytest.raises(PlatformError):
        Syncer(snap, client).sync_once()
    assert snap.status().generation == 0
    assert BUILD_NAME not in os.listdir(snap.dir)


def test_a_stop_during_the_export_abandons_the_rebuild(
    feed: Feed, client: PlatformClient, snap: Snapshot
) -> None:
    for i in range(1, 30_001):
        feed.upsert(entry(i, f"S{i % 5000}"))
    feed.export_status = 200
    stop = threading.Event()

    def stop_after_first_batch(subject_ids: list[str]) -> None:
        stop.set()

    result = Syncer(snap, client, on_change=stop_after_first_batch).sync_once(stop=stop)
    assert not result.complete
    assert not result.resynced
    assert snap.status().generation == 0
    assert BUILD_NAME not in os.listdir(snap.dir)
    assert feed.requests == []  # never reached the feed


def test_a_damaged_export_falls_back_to_the_feed(
    feed: Feed, client: PlatformClient, snap: Snapshot, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(1, 30):
        feed.upsert(entry(i))
    feed.export_status = 200
    feed.export_at = 10

    def damage(lines: list[bytes]) -> list[bytes]:
        lines[3] = b'{"entry_id": "E-000003"}'  # an entry without its other fields
        return lines

    feed.export_damage = damage
    with caplog.at_level(logging.WARNING, logger="credit_check_sdk._sync"):
        result = Syncer(snap, client, page_size=10).sync_once()
    assert "list export was refused" in caplog.text
    assert "line 4 is not a valid list entry" in caplog.text
    assert result.resynced
    assert result.applied == 29  # counted once: the discarded export load is not included
    assert feed.requests[0] is None  # the feed was read from its start
    assert state_of(snap) == norm(feed.expected())


FORKER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {root!r})
    from credit_check_sdk._client import PlatformClient
    from credit_check_sdk._sync import Syncer
    from credit_check_sdk.snapshot import Snapshot

    snap = Snapshot(sys.argv[2])
    client = PlatformClient(sys.argv[1], "app", "secret", max_attempts=1, timeout=5)
    syncer = Syncer(snap, client, page_size=3)
    assert syncer.sync_once().complete  # several pages: the prefetch thread runs
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # The parent's prefetch thread does not exist here: it must start anew.
            code = 0 if syncer.sync_once().complete else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert syncer.sync_once().complete, "parent after fork"
    syncer.close()
    snap.close()
    client.close()
    sys.exit(os.waitstatus_to_exitcode(status))
    """
).format(root=str(Path(__file__).resolve().parents[1]))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_syncs_with_its_own_prefetch_thread(
    feed: Feed, httpserver: HTTPServer, tmp_path: Path
) -> None:
    for i in range(1, 11):
        feed.upsert(entry(i))
    done = subprocess.run(
        [sys.executable, "-c", FORKER, httpserver.url_for("/api"), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert feed.requests[-2:] == ["s10", "s10"]  # the child's pass, then the parent's


def test_one_follower_of_the_feed_at_a_time(
    feed: Feed, client: PlatformClient, snap: Snapshot
) -> None:
    """Two followers of one data_dir (two processes, in effect): while one holds the
    snapshot's lease the other asks the platform nothing and applies nothing; then it
    follows from where the first left the snapshot, and only it tells its watchers."""
    for i in range(1, 6):
        feed.upsert(entry(i))
    assert Syncer(snap, client).sync_once().complete
    other = Snapshot(snap.dir)
    changed: list[str] = []
    second = Syncer(other, client, on_change=changed.extend, rebuild_wait=0.3)
    feed.upsert(entry(6, COMPANY))
    asked = len(feed.requests)
    lease = snap.lead()  # the first follower is in the middle of a pass
    assert lease is not None
    try:
        waited = second.sync_once()
    finally:
        lease.release()
    assert (waited.complete, waited.applied, changed) == (False, 0, [])
    assert len(feed.requests) == asked
    followed = second.sync_once()
    assert (followed.complete, followed.resynced, followed.applied) == (True, False, 1)
    assert changed == [COMPANY]
    assert [e.entry_id for e in snap.entries_for(COMPANY)] == ["E-000006"]
    second.close()
    other.close()
