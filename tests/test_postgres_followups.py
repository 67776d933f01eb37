"""Re-checks and watches across a cluster: run once by one instance, taken over when it dies.

Two application servers as real processes (``tests/support/followupworker.py``), each
with its own ``data_dir`` (its own writer), on the test run's PostgreSQL database and a
FakePlatform served over HTTP. What is proved: a list change touching a watched subject
is re-checked once across both instances, not once per instance; degraded checks are
re-checked once each when both run their re-checks at the same time; an instance
SIGKILLed while it follows the feed (holding the lead) or while it re-checks (holding
the claim) leaves its work to the other, which does it at once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from credit_check_sdk.testing import FakePlatform
from tests.support.clirun import platform_env

WORKER = Path(__file__).parent / "support" / "followupworker.py"
ORG = "91442000MA4UJ2KQ57"
OTHER = "91442000MA4UC00019"


class Instance:
    """One worker process; :meth:`ask` sends a command and reads its answer."""

    def __init__(self, fake: FakePlatform, data_dir: Path, url: str, timeout: float) -> None:
        env = platform_env(
            fake, data_dir, CREDIT_CHECK_DATABASE_URL=url, CREDIT_CHECK_TIMEOUT=str(timeout)
        )
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the worker ended: {self.proc.stderr.read() if self.proc.stderr else ''}"
        found: dict[str, Any] = json.loads(line)
        assert "error" not in found, found["error"]
        return found

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.send(command)
        return self.answer()

    def writer(self) -> str:
        """This instance's writer (its chain), once it has written."""
        return str(self.ask({"do": "writer"})["writer"])

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    platform = FakePlatform()
    platform.serve()
    yield platform
    platform.stop()


@pytest.fixture
def pair(fake: FakePlatform, pg_url: str, tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    """Two instances; their checks wait up to 20 s for the platform (a held request is
    held, not timed out, until the test kills its instance)."""
    a = Instance(fake, tmp_path / "a", pg_url, 20.0)
    b = Instance(fake, tmp_path / "b", pg_url, 20.0)
    try:
        yield a, b
    finally:
        for instance in (a, b):
            if instance.proc.poll() is None:
                instance.kill()


def checks_of_case(url: str, case_id: str) -> list[tuple[str, str | None]]:
    """``(writer, recheck_of)`` of the case's check records, in order."""
    with psycopg.connect(url) as raw:
        rows = raw.execute(
            "SELECT writer_id, recheck_of FROM cc_journal_records"
            " WHERE type = 'check' AND case_id = %s ORDER BY gseq",
            (case_id,),
        ).fetchall()
    return [(str(w), r) for w, r in rows]


def wait_until(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def both(a: Instance, b: Instance, command: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The same command sent to both at once; their answers."""
    a.send(command)
    b.send(command)
    return a.answer(), b.answer()


def test_a_watched_case_is_rechecked_once_across_instances_and_by_the_survivor_of_a_kill(
    fake: FakePlatform, pg_url: str, pair: tuple[Instance, Instance]
) -> None:
    a, b = pair
    a.ask({"do": "sync"})  # the shared snapshot, built once
    a.ask({"do": "check", "subject": ORG, "case": "K-1"})
    a.ask({"do": "watch", "subject": ORG, "case": "K-1"})
    assert len(checks_of_case(pg_url, "K-1")) == 1

    for n in (1, 2):
        fake.add_entry(ORG, "black", "court_judgment_defaulter", entry_id=f"BL-{n}")
        answers = both(a, b, {"do": "sync"})
        # One of them followed the feed and re-checked; the other found nothing new.
        assert sorted(x["watched"] for x in answers) == [[], ["K-1"]]
        assert len(checks_of_case(pg_url, "K-1")) == 1 + n

    # The instance that follows the feed dies in the middle of a page request.
    fake.delay(60, times=1, path="lists/changes")
    fake.add_entry(ORG, "black", "court_judgment_defaulter", entry_id="BL-3")
    asked = len(fake.requests)
    a.send({"do": "sync"})
    wait_until(
        lambda: any("changes" in route for _, route in fake.requests[asked:]),
        "the held change-feed request",
    )
    a.kill()
    answer = b.ask({"do": "sync"})
    assert answer["watched"] == ["K-1"]
    rows = checks_of_case(pg_url, "K-1")
    assert len(rows) == 4
    assert rows[-1][0] == b.writer()  # the survivor's re-check


def test_degraded_checks_are_rechecked_once_across_instances_and_a_killed_claim_taken_over(
    fake: FakePlatform, pg_url: str, pair: tuple[Instance, Instance]
) -> None:
    a, b = pair
    fake.outage()
    cases = [f"R-{n}" for n in range(4)]
    for case in cases:
        assert a.ask({"do": "check", "subject": ORG, "case": case})["source"] in (
            "snapshot",
            "none",
        )
    fake.outage(False)

    done = both(a, b, {"do": "recheck", "limit": 100})
    assert sum(x["done"] for x in done) == 4
    for case in cases:
        rows = checks_of_case(pg_url, case)
        assert len(rows) == 2, rows  # the degraded check and one re-check
        assert rows[1][1] is not None
    assert both(a, b, {"do": "recheck", "limit": 100}) == ({"done": 0}, {"done": 0})

    # An instance killed while it re-checks (its claim held, its request in flight):
    # the other takes the re-check at once, not when the claim's lease ends.
    fake.outage()
    # Another subject: ORG's profile is in A's cache since its re-checks.
    assert a.ask({"do": "check", "subject": OTHER, "case": "R-9"})["source"] in ("snapshot", "none")
    a_writer = a.writer()
    fake.outage(False)
    fake.delay(60, times=1, path="/profile")
    asked = len(fake.requests)
    a.send({"do": "recheck", "limit": 1})
    wait_until(
        lambda: any("/profile" in route for _, route in fake.requests[asked:]),
        "the held profile request",
    )
    with psycopg.connect(pg_url) as raw:
        held = raw.execute("SELECT count(*) FROM cc_rechecks WHERE claimed_by IS NOT NULL")
        assert held.fetchone() == (1,)
    a.kill()
    started = time.monotonic()
    assert b.ask({"do": "recheck", "limit": 10}) == {"done": 1}
    assert time.monotonic() - started < 30  # the lease (over 60 s) was not waited for
    rows = checks_of_case(pg_url, "R-9")
    assert [w for w, _ in rows] == [a_writer, b.writer()]
