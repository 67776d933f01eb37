"""``must_check_many`` pauses the cyclic garbage collector for the call, and only for it.

The pause (``credit_check_sdk._gc_pause``) is process-wide state that the SDK
changes for an application: these tests show that it is on only inside the call,
back on after it (also when the call raises), shared by overlapping calls from
several threads, never longer than ``LONGEST_PAUSE`` while they overlap without a
break, left alone when the application runs with the collector off, given back
to a child forked during a pause, and not taken by the async client.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stdnum.cn import uscc

from credit_check_sdk import InvalidSubjectError, _gc_pause
from credit_check_sdk._gc_pause import collector_paused
from credit_check_sdk.testing import FakePlatform

WAIT = 10.0  # a hang guard
SUBJECTS = [f"91442000MA{n:07d}" + uscc.calc_check_digit(f"91442000MA{n:07d}") for n in (1, 2)]


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    assert gc.isenabled()
    yield
    gc.enable()  # whatever a failed test left


def test_paused_inside_and_back_on_after_also_after_an_error() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_overlapping_pauses_from_threads_end_with_the_last_one() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with collector_paused():
            first_in.set()
            assert second_in.wait(WAIT)
        first_out.set()

    def second() -> None:
        assert first_in.wait(WAIT)
        with collector_paused():
            second_in.set()
            assert first_out.wait(WAIT)
            seen["after the first left"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert seen == {"after the first left": False}
    assert gc.isenabled()


def test_overlapping_calls_without_a_break_pause_at_most_the_longest_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_gc_pause, "LONGEST_PAUSE", 0.05)
    with collector_paused():
        assert not gc.isenabled()
        time.sleep(0.1)
        with collector_paused():  # overlapping: comes in after the longest pause
            assert gc.isenabled()
        assert gc.isenabled()
    assert gc.isenabled()
    with collector_paused():  # a break came: a new pause may start
        assert not gc.isenabled()


def test_an_application_running_without_the_collector_keeps_it_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_child_forked_during_a_pause_has_the_collector_on(tmp_path: Path) -> None:
    # A real fork, in a process of its own (a fork of the test runner's threads is not
    # ours to make): another thread holds the pause while the main thread forks.
    script = """
import gc, os, sys, threading
from credit_check_sdk._gc_pause import collector_paused
inside, done = threading.Event(), threading.Event()
def hold():
    with collector_paused():
        inside.set()
        done.wait(10)
t = threading.Thread(target=hold); t.start(); inside.wait(10)
assert not gc.isenabled()
pid = os.fork()
if pid == 0:
    os._exit(0 if gc.isenabled() else 3)
_, status = os.waitpid(pid, 0)
done.set(); t.join(10)
print(os.waitstatus_to_exitcode(status), gc.isenabled())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["0", "True"]


def test_must_check_many_pauses_for_the_call_only(tmp_path: Path) -> None:
    seen: list[bool] = []
    with FakePlatform() as fake, fake.checker(tmp_path, http=True) as checker:
        real = checker._journal_checks

        def journal(*args: object, **kwargs: object) -> object:
            seen.append(gc.isenabled())
            return real(*args, **kwargs)  # type: ignore[arg-type]

        checker._journal_checks = journal  # type: ignore[method-assign]
        decisions = checker.must_check_many(SUBJECTS, "bidding")
        assert len(decisions) == 2
        assert seen == [False]
        assert gc.isenabled()
        with pytest.raises(InvalidSubjectError):
            checker.must_check_many(["91442000MA4UJ2KQ57", "not an id"], "bidding")
        assert gc.isenabled()


def test_the_async_client_does_not_pause_the_collector(tmp_path: Path) -> None:
    seen: list[bool] = []

    async def main() -> None:
        with FakePlatform() as fake:
            async with fake.async_checker(tmp_path) as checker:
                real = checker._core._journal_checks

                def journal(*args: object, **kwargs: object) -> object:
                    seen.append(gc.isenabled())
                    return real(*args, **kwargs)  # type: ignore[arg-type]

                checker._core._journal_checks = journal  # type: ignore[method-assign]
                await checker.must_check_many(SUBJECTS, "bidding")

    asyncio.run(main())
    assert seen == [True]
