"""The fork gate (credit_check_sdk._fork) and the Runner, each forked for real in a subprocess."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from credit_check_sdk._fork import LongLock, ShortLock, in_region, region
from credit_check_sdk._runner import Run, Runner

ROOT = Path(__file__).resolve().parents[1]

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")


def run_script(body: str) -> str:
    script = f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n" + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@needs_fork
def test_a_fork_waits_for_a_short_lock_and_the_child_can_take_it() -> None:
    out = run_script(
        """
        import os, threading, time
        from credit_check_sdk._fork import ShortLock
        lock = ShortLock()
        held = threading.Event()
        def hold():
            with lock:
                held.set()
                time.sleep(0.4)
        threading.Thread(target=hold).start()
        held.wait()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            ok = lock.acquire(timeout=2)  # would hang for ever had the fork not waited
            os._exit(0 if ok else 3)
        waited = time.monotonic() - started
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert waited >= 0.3, waited
        print("waited", round(waited, 2))
        """
    )
    assert "waited" in out


@needs_fork
def test_a_fork_does_not_wait_for_a_long_lock_and_the_child_gets_a_new_one() -> None:
    out = run_script(
        """
        import os, threading, time
        from credit_check_sdk._fork import LongLock
        lock = LongLock()
        held = threading.Event()
        def hold():  # a sync pass waiting for the platform
            with lock:
                held.set()
                time.sleep(5)
        threading.Thread(target=hold, daemon=True).start()
        held.wait()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os._exit(0 if lock.acquire(timeout=2) else 3)
        waited = time.monotonic() - started
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert waited < 1.0, waited
        assert lock.locked()  # still the parent's thread's
        print("ok")
        """
    )
    assert "ok" in out


@needs_fork
def test_the_wait_is_bounded_and_says_so() -> None:
    out = run_script(
        """
        import logging, os, threading, time
        logging.basicConfig(level=logging.WARNING)
        from credit_check_sdk import _fork
        _fork.FORK_WAIT = 0.3
        lock = _fork.ShortLock()
        held = threading.Event()
        def hold():
            with lock:
                held.set()
                time.sleep(3)
        threading.Thread(target=hold, daemon=True).start()
        held.wait()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        waited = time.monotonic() - started
        os.waitpid(pid, 0)
        assert 0.25 <= waited < 2.0, waited
        with _fork.region():  # the gate is open again in the parent
            print("open")
        """
    )
    assert "still inside SQLite after 0.3 s" in out
    assert "open" in out


@needs_fork
def test_a_fork_from_inside_a_region_does_not_wait_for_itself() -> None:
    out = run_script(
        """
        import logging, os
        logging.basicConfig(level=logging.WARNING)
        from credit_check_sdk._fork import region, in_region
        with region():
            pid = os.fork()
            if pid == 0:
                os._exit(0 if in_region() else 3)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        with region():
            print("open")
        """
    )
    assert "fork() from inside the SDK's own work" in out
    assert "open" in out


@needs_fork
def test_a_runner_starts_again_in_a_forked_child() -> None:
    out = run_script(
        """
        import os, threading
        from credit_check_sdk._runner import Runner
        seen = []
        ran = threading.Event()
        def work(run):
            seen.append((os.getpid(), threading.get_ident()))
            ran.set()
            while not run.stopping:
                run.wait(60)
        runner = Runner("test-runner", work)
        runner.start()
        assert ran.wait(5)
        pid = os.fork()
        if pid == 0:
            ran.clear()
            ok = not runner.running  # the parent's thread is not here
            runner.start()  # ... so this starts one
            ok = ok and ran.wait(5) and runner.running and seen[-1][0] == os.getpid()
            ok = ok and runner.stop(timeout=5)
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert runner.running  # the parent's thread carried on
        assert runner.stop(timeout=5)
        print("ok")
        """
    )
    assert "ok" in out


def test_regions_nest_and_short_locks_are_regions() -> None:
    lock = ShortLock()
    assert not in_region()
    with region():
        with lock:
            assert in_region()
        assert in_region()
    assert not in_region()
    assert lock.acquire(blocking=False)
    tried: list[tuple[bool, bool]] = []
    # Taken already: another thread's attempt fails and leaves it outside any region.
    other = threading.Thread(target=lambda: tried.append((lock.acquire(False), in_region())))
    other.start()
    other.join()
    assert tried == [(False, False)]
    lock.release()
    assert not in_region()
    long_lock = LongLock(reentrant=True)
    with long_lock, long_lock:
        assert long_lock.locked()
        assert not in_region()  # a long lock is not a region


def test_runner_wake_stop_and_a_failing_work(caplog: pytest.LogCaptureFixture) -> None:
    woken = threading.Event()
    calls: list[int] = []

    def work(run: Run) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")  # logged; the next start runs the work again
        while not run.stopping:
            if run.wait(60):
                woken.set()

    runner = Runner("test-runner", work)
    with caplog.at_level(logging.ERROR):
        runner.start()
        deadline = time.monotonic() + 5
        while runner.running or not calls:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert "the background work failed" in caplog.text
    runner.start()
    deadline = time.monotonic() + 5
    while len(calls) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    runner.wake()
    assert woken.wait(5)
    assert runner.stop(timeout=5)
    assert not runner.running
    runner.wake()  # stopped: a wake does not start it again
    assert not runner.running


def test_runner_stop_is_bounded_while_the_work_is_busy() -> None:
    release = threading.Event()

    def work(run: Run) -> None:
        release.wait(10)  # a request in flight that ignores the stop

    runner = Runner("test-runner", work)
    runner.start()
    started = time.monotonic()
    assert runner.stop(timeout=0.2) is False
    assert time.monotonic() - started < 1.0
    release.set()
