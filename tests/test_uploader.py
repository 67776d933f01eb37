"""The uploader against a real HTTP server playing ``POST /api/v1/records:batch``."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from credit_check_sdk._exceptions import (
    ConnectError,
    RateLimitedError,
    RequestTimeoutError,
    problem_class,
)
from credit_check_sdk._models import RecordsReceipt
from credit_check_sdk._uploader import Uploader
from credit_check_sdk.journal import Journal

ROOT = Path(__file__).resolve().parents[1]
PATH = "/api/v1/records:batch"


# --- the platform, played by pytest-httpserver ----------------------------------------


@dataclass
class Platform:
    """Server-side state: what arrived, what was stored, and scripted faults."""

    received: Counter[str] = field(default_factory=Counter)  # every delivery of every id
    accepted: Counter[str] = field(default_factory=Counter)  # answered "accepted"
    stored: set[str] = field(default_factory=set)
    reject: dict[str, str] = field(default_factory=dict)
    script: list[Any] = field(default_factory=list)  # next answers: status, (status, headers), …
    batches: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.times.append(time.monotonic())
            step = self.script.pop(0) if self.script else None
        if step == "hang":
            self.release.wait(10)
            return Response("{}", 503)
        if isinstance(step, int):
            return problem(step)
        if isinstance(step, tuple):
            return problem(step[0], step[1])
        records = json.loads(request.get_data())["records"]
        answer: dict[str, list[Any]] = {"accepted": [], "duplicates": [], "rejected": []}
        with self.lock:
            self.batches.append(len(records))
            for r in records:
                self.bodies.append(r)
                rid = r["id"]
                self.received[rid] += 1
                if rid in self.reject:
                    answer["rejected"].append({"id": rid, "detail": self.reject[rid]})
                elif rid in self.stored:
                    answer["duplicates"].append(rid)
                else:
                    self.stored.add(rid)
                    self.accepted[rid] += 1
                    answer["accepted"].append(rid)
        if step == "store_then_fail":  # the platform stored them, the answer was lost
            return problem(502)
        return Response(json.dumps(answer), 200, content_type="application/json")


def problem(status: int, headers: dict[str, str] | None = None) -> Response:
    body = {"type": "about:blank", "title": "fault", "status": status, "detail": "scripted"}
    return Response(
        json.dumps(body), status, headers=headers, content_type="application/problem+json"
    )


def make_send(
    url: str, read_timeout: float = 5.0
) -> Callable[[list[dict[str, Any]]], RecordsReceipt]:
    """A minimal records:batch client for the tests (the SDK's own client lives elsewhere)."""

    def send(records: list[dict[str, Any]]) -> RecordsReceipt:
        try:
            resp = requests.post(url, json={"records": records}, timeout=(2.0, read_timeout))
        except requests.ConnectionError as exc:
            raise ConnectError(str(exc), method="POST", url=url) from exc
        except requests.Timeout as exc:
            raise RequestTimeoutError(str(exc), method="POST", url=url) from exc
        if resp.status_code == 429:
            raise RateLimitedError(
                "429", retry_after=float(resp.headers["Retry-After"]), method="POST", url=url
            )
        if resp.status_code >= 400:
            cls = problem_class(resp.status_code)
            raise cls(str(resp.status_code), status=resp.status_code, method="POST", url=url)
        return RecordsReceipt.model_validate(resp.json())

    return send


@pytest.fixture
def platform(httpserver: HTTPServer) -> Iterator[Platform]:
    p = Platform()
    httpserver.expect_request(PATH, method="POST").respond_with_handler(p.handle)
    yield p
    p.release.set()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.db")
    yield j
    j.close()


@pytest.fixture
def make_uploader(journal: Journal, httpserver: HTTPServer) -> Iterator[Callable[..., Uploader]]:
    made: list[Uploader] = []

    def make(**kw: Any) -> Uploader:
        kw.setdefault("interval", 0.2)
        kw.setdefault("min_backoff", 0.05)
        kw.setdefault("max_backoff", 0.5)
        send = kw.pop("send", None) or make_send(httpserver.url_for(PATH))
        up = Uploader(journal, send, **kw)
        made.append(up)
        return up

    yield make
    for up in made:
        up.close(timeout=1)


def add(journal: Journal, n: int, uploader: Uploader | None = None) -> list[str]:
    ids = []
    for i in range(n):
        rid = str(uuid.uuid4())
        journal.append(
            {
                "type": "check",
                "id": rid,
                "checked_at": f"2026-11-29T08:{i % 60:02d}:00+08:00",
                "outcome": "normal",
                "subject": {"id": "91442000MA4UJ2KQ57", "kind": "legal_entity"},
            }
        )
        if uploader is not None:
            uploader.notify()
        ids.append(rid)
    return ids


def flush_until_empty(up: Uploader, budget: float) -> int:
    deadline = time.monotonic() + budget
    left = up.flush(timeout=budget)
    while left and time.monotonic() < deadline:
        left = up.flush(timeout=max(0.01, deadline - time.monotonic()))
    return left


# --- cases --------------------------------------------------------------------------


def test_all_accepted(journal: Journal, platform: Platform, make_uploader: Any) -> None:
    up = make_uploader()
    ids = add(journal, 25, up)
    assert up.flush(timeout=5) == 0
    assert journal.counts() == {"pending": 0, "accepted": 25, "duplicate": 0, "rejected": 0}
    assert set(platform.received) == set(ids)
    assert all(n == 1 for n in platform.received.values())
    # What reached the platform is the journal's record, hash intact per the contract.
    for body in platform.bodies:
        canonical = json.dumps(
            {k: v for k, v in body.items() if k != "hash"},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        assert hashlib.sha256(canonical.encode()).hexdigest() == body["hash"]
    assert up.stats()["accepted"] == 25


def test_notify_alone_uploads_in_background(
    journal: Journal, platform: Platform, make_uploader: Any
) -> None:
    up = make_uploader()
    ids = add(journal, 3, up)
    deadline = time.monotonic() + 5
    while journal.counts()["accepted"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert set(platform.accepted) == set(ids)


def test_duplicates_are_marked_done(
    journal: Journal, platform: Platform, make_uploader: Any
) -> None:
    ids = add(journal, 6)
    platform.stored.update(ids[:4])  # the platform already has these (an earlier upload)
    up = make_uploader()
    assert up.flush(timeout=5) == 0
    assert journal.counts() == {"pending": 0, "accepted": 2, "duplicate": 4, "rejected": 0}
    assert up.stats()["duplicates"] == 4


def test_rejected_record_is_kept_with_detail_and_counted(
    journal: Journal, platform: Platform, make_uploader: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ids = add(journal, 5)
    platform.reject[ids[2]] = "subject 442000199001011234 unknown"
    seen: list[tuple[str, str]] = []

    def on_rejected(rid: str, detail: str) -> None:
        seen.append((rid, detail))
        raise RuntimeError("callback bug")  # must not break the uploader

    up = make_uploader(on_rejected=on_rejected)
    with caplog.at_level(logging.WARNING, logger="credit_check_sdk._uploader"):
        assert up.flush(timeout=5) == 0
    assert journal.counts() == {"pending": 0, "accepted": 4, "duplicate": 0, "rejected": 1}
    assert journal.upload_state(ids[2]) == ("rejected", "subject 442000199001011234 unknown")
    assert journal.get(ids[2]) is not None  # never dropped
    assert up.rejected_count == 1
    assert up.stats()["rejected"] == 1
    assert seen == [(ids[2], "subject 442000199001011234 unknown")]
    assert ids[2] in caplog.text
    assert "4420**********1234" in caplog.text
    assert "442000199001011234" not in caplog.text  # personal ids masked in logs
    # Later uploads go on as before.
    more = add(journal, 2, up)
    assert up.flush(timeout=5) == 0
    assert set(more) <= set(platform.accepted)


def test_503_then_recovery_delivers_each_record_once(
    journal: Journal, platform: Platform, make_uploader: Any
) -> None:
    platform.script = [503, 503, "store_then_fail", 503]
    up = make_uploader()
    ids = add(journal, 40, up)
    assert flush_until_empty(up, 10) == 0
    assert journal.counts()["pending"] == 0
    assert set(platform.stored) == set(ids)
    # Accepted exactly once per id; any second delivery was answered as a duplicate.
    assert all(platform.accepted[i] == 1 for i in ids)
    resent = [i for i, n in platform.received.items() if n > 1]
    assert resent  # the lost answer forced a resend ...
    counts = journal.counts()
    assert counts["accepted"] + counts["duplicate"] == 40
    assert counts["duplicate"] == len(resent)  # ... which the platform called duplicates
    assert up.stats()["failures"] >= 4
    assert up.stats()["consecutive_failures"] == 0


def test_429_retry_after_is_honoured(
    journal: Journal, platform: Platform, make_uploader: Any
) -> None:
    platform.script = [(429, {"Retry-After": "1"})]
    up = make_uploader()
    add(journal, 3, up)
    start = time.monotonic()
    assert flush_until_empty(up, 5) == 0
    assert len(platform.times) == 2
    gap = platform.times[1] - platform.times[0]
    assert gap >= 0.95, f"retried after {gap:.2f}s despite Retry-After: 1"
    assert time.monotonic() - start < 4


def test_connection_refused_then_server_back(
    journal: Journal, httpserver: HTTPServer, platform: Platform, make_uploader: Any
) -> None:
    httpserver.stop()
    try:
        up = make_uploader()
        ids = add(journal, 5, up)
        left = up.flush(timeout=1)
        assert left == 5
        assert "ConnectError" in (up.stats()["last_error"] or "")
        assert journal.counts()["pending"] == 5
    finally:
        httpserver.start()
    assert flush_until_empty(up, 5) == 0
    assert set(platform.accepted) == set(ids)


@pytest.mark.slow
def test_flush_and_close_return_within_timeout_when_server_hangs(
    journal: Journal, platform: Platform, make_uploader: Any
) -> None:
    platform.script = ["hang"]
    up = make_uploader()
    add(journal, 4, up)
    start = time.monotonic()
    left = up.flush(timeout=0.5)
    assert time.monotonic() - start < 1.0
    assert left == 4
    start = time.monotonic()
    up.notify()  # never blocks, even with the worker stuck in send
    assert time.monotonic() - start < 0.1
    start = time.monotonic()
    up.close(timeout=0.5)
    assert time.monotonic() - start < 1.0
    assert journal.counts()["pending"] == 4  # nothing lost; next run sends them


def test_close_flushes_what_it_can(
    journal: Journal, platform: Platform, make_uploader: Any
) -> None:
    up = make_uploader(interval=60)
    ids = add(journal, 7)
    up.close(timeout=5)
    assert set(platform.accepted) == set(ids)
    up.notify()  # after close: ignored, no error
    assert up.flush(timeout=0.1) == 0


def test_more_than_1000_pending_go_in_batches(
    journal: Journal, platform: Platform, make_uploader: Any
) -> None:
    n = 2345
    threads = [threading.Thread(target=add, args=(journal, n // 5)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    up = make_uploader()
    assert up.flush(timeout=20) == 0
    assert platform.batches == [1000, 1000, 345]
    assert len(platform.accepted) == n


def test_small_batch_size_and_oldest_first(
    journal: Journal, platform: Platform, make_uploader: Any
) -> None:
    ids = add(journal, 10)
    up = make_uploader(batch_size=3)
    assert up.flush(timeout=5) == 0
    assert platform.batches == [3, 3, 3, 1]
    assert [b["id"] for b in platform.bodies] == ids


def test_ids_the_answer_leaves_out_stay_pending(journal: Journal, make_uploader: Any) -> None:
    ids = add(journal, 5)
    calls: list[list[str]] = []

    def send(records: list[dict[str, Any]]) -> RecordsReceipt:
        calls.append([r["id"] for r in records])
        # Names every record but ids[1], plus an id that was never sent.
        named = tuple(r["id"] for r in records if r["id"] != ids[1])
        return RecordsReceipt(accepted=(*named, "not-sent"), duplicates=(), rejected=())

    up = make_uploader(send=send, batch_size=2)
    assert up.flush(timeout=5) == 1
    assert calls[:3] == [ids[:2], ids[2:4], ids[4:]]  # one pass does not resend ids[1] ...
    assert all(c == [ids[1]] for c in calls[3:])  # ... later passes may, alone
    assert len(calls) < 10
    assert [r["id"] for r in journal.pending()] == [ids[1]]
    assert journal.get("not-sent") is None
    assert journal.counts()["accepted"] == 4


def test_send_errors_are_logged_masked_never_raised(
    journal: Journal, make_uploader: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def send(records: list[dict[str, Any]]) -> RecordsReceipt:
        raise ValueError("cannot encode subject 442000199001011234")

    up = make_uploader(send=send)
    with caplog.at_level(logging.WARNING, logger="credit_check_sdk._uploader"):
        add(journal, 2, up)  # notify() after each append: no exception reaches here
        assert up.flush(timeout=1) == 2
    assert "4420**********1234" in caplog.text
    assert "442000199001011234" not in caplog.text
    assert journal.counts()["pending"] == 2


def test_notify_never_raises_even_if_journal_is_closed(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    up = Uploader(j, lambda r: RecordsReceipt(accepted=(), duplicates=(), rejected=()))
    j.close()
    up.notify()
    assert up.flush(timeout=1) == -1
    up.close(timeout=1)


def test_rejects_bad_settings(journal: Journal) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Uploader(journal, make_send("http://x"), batch_size=1001)


FORKER = textwrap.dedent(
    """
    import os, sys, uuid, requests
    sys.path.insert(0, {root!r})
    from credit_check_sdk._models import RecordsReceipt
    from credit_check_sdk._uploader import Uploader
    from credit_check_sdk.journal import Journal

    url, path = sys.argv[1], sys.argv[2]

    def send(records):
        r = requests.post(url, json={{"records": records}}, timeout=5)
        r.raise_for_status()
        return RecordsReceipt.model_validate(r.json())

    def rec(rid):
        return {{"type": "check", "id": rid, "checked_at": "2026-11-29T08:00:00+08:00"}}

    j = Journal(path)
    up = Uploader(j, send, interval=0.2)
    j.append(rec("parent-1"))
    up.notify()
    assert up.flush(timeout=5) == 0, "parent flush"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            j.append(rec("child-1"))
            up.notify()
            left = up.flush(timeout=5)
            code = 0 if left == 0 and j.upload_state("child-1")[0] == "accepted" else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    j.append(rec("parent-2"))
    up.notify()
    assert up.flush(timeout=5) == 0, "parent flush after fork"
    up.close()
    j.close()
    sys.exit(os.waitstatus_to_exitcode(status))
    """
).format(root=str(ROOT))


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs os.fork")
def test_forked_child_uploads_its_own_records(
    tmp_path: Path, httpserver: HTTPServer, platform: Platform
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FORKER, httpserver.url_for(PATH), str(tmp_path / "j.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert {"parent-1", "child-1", "parent-2"} <= set(platform.accepted)
    j = Journal(tmp_path / "j.db")
    assert j.verify().ok
    assert j.counts()["pending"] == 0
    j.close()
