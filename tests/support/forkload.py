"""Workloads for the fork and multi-process tests, run as real processes.

``python tests/support/forkload.py MODE CONFIG_JSON`` where MODE is

``fork``
    one checker busy in 4 threads (live checks, the uploader, the snapshot
    sync and the breaker's probe all running), forked ``forks`` times at
    random moments; every child checks, flushes, closes and exits; a child
    still running 10 s after its fork is killed and counted as hung.
``mp``
    the same busy checker, used by ``multiprocessing`` (start method
    ``fork``): a Pool mapping checks, and single Processes.
``worker``
    one of several independent processes sharing a ``data_dir``: ``threads``
    threads check for ``seconds`` seconds, then flush and close.

Each writes a JSON summary to ``CONFIG["out"]``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from credit_check_sandbox.seed import _uscc  # noqa: E402

from credit_check_sdk import CreditChecker  # noqa: E402

CHILD_LIMIT = 10.0  # seconds a forked child may take to check, flush and exit

_checker: CreditChecker | None = None


def subjects(n: int = 300) -> list[str]:
    """Organisation ids the sandbox seeded."""
    return [_uscc(i) for i in range(n)]


def make_checker(cfg: dict[str, Any]) -> CreditChecker:
    return CreditChecker(
        base_url=cfg["base_url"],
        app_id=cfg["app_id"],
        app_secret=cfg["app_secret"],
        agency_id=cfg["app_id"],
        data_dir=cfg["data_dir"],
        timeout=5.0,
        cache_ttl=cfg.get("cache_ttl", 0.0),
        upload_interval=cfg.get("upload_interval", 0.2),
        sync_interval=cfg.get("sync_interval", 0.5),
        breaker_threshold=1,
        breaker_cooldown=0.1,
    )


class Busy:
    """Threads that keep a checker busy: checks, and a breaker opened again and again."""

    def __init__(self, checker: CreditChecker, threads: int, *, chaos: bool) -> None:
        self.checker = checker
        self.stop = threading.Event()
        self.checks: list[str] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._check, args=(i,), daemon=True) for i in range(threads)
        ]
        if chaos:
            # Opens the breaker now and then: the probe thread runs, checks go to the
            # snapshot meanwhile, and their re-checks run on the sync thread.
            self._threads.append(threading.Thread(target=self._chaos, daemon=True))

    def __enter__(self) -> Busy:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(30)

    def _check(self, i: int) -> None:
        rng = random.Random(i)
        ids = subjects()
        while not self.stop.is_set():
            try:
                d = self.checker.must_check(rng.choice(ids), "bidding")
            except Exception:
                with self._lock:
                    self.errors.append(traceback.format_exc())
                continue
            with self._lock:
                self.checks.append(d.check_id)

    def _chaos(self) -> None:
        breaker = self.checker._offline.breaker
        while not self.stop.wait(0.3):
            breaker.record_failure("opened by the test")


def _child(checker: CreditChecker, out: Path, i: int) -> None:
    """In a forked child: check, flush, close; the outcome as a JSON file."""
    code = 2
    result: dict[str, Any] = {"i": i, "pid": os.getpid()}
    try:
        started = time.monotonic()
        d = checker.must_check(random.choice(subjects()), "bidding")
        result["check_id"] = d.check_id
        result["left"] = checker.flush(timeout=8)
        state = checker.journal.upload_state(d.check_id)
        result["state"] = state[0] if state else None
        checker.close(timeout=2)
        result["seconds"] = time.monotonic() - started
        code = 0 if result["left"] == 0 and result["state"] == "accepted" else 3
    except BaseException:
        result["error"] = traceback.format_exc()
    finally:
        try:
            (out / f"child-{i}.json").write_text(json.dumps(result))
        finally:
            os._exit(code)


def run_fork(cfg: dict[str, Any]) -> dict[str, Any]:
    out = Path(cfg["out_dir"])
    checker = make_checker(cfg)
    checker.must_check(subjects()[0], "bidding")  # uploader and sync thread running
    rng = random.Random(cfg.get("seed", 1))
    running: dict[int, tuple[int, float]] = {}  # pid -> (i, forked at)
    codes: dict[int, int] = {}
    hung: list[int] = []

    def reap(block: bool) -> None:
        for pid, (i, at) in list(running.items()):
            done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
            if done:
                codes[i] = os.waitstatus_to_exitcode(status)
                del running[pid]
            elif time.monotonic() - at > CHILD_LIMIT:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                hung.append(i)
                del running[pid]

    with Busy(checker, 4, chaos=True) as busy:
        time.sleep(0.5)  # the first sync pass and probes under way
        for i in range(cfg["forks"]):
            time.sleep(rng.uniform(0, 0.15))
            while len(running) >= 3:
                reap(False)
                time.sleep(0.01)
            pid = os.fork()
            if pid == 0:
                _child(checker, out, i)
            running[pid] = (i, time.monotonic())
            reap(False)
        deadline = time.monotonic() + CHILD_LIMIT + 1
        while running and time.monotonic() < deadline:
            reap(False)
            time.sleep(0.02)
        reap(False)
        for pid, (i, _) in list(running.items()):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            hung.append(i)
    left = checker.flush(timeout=20)
    checker.close(timeout=5)
    return {
        "codes": codes,
        "hung": hung,
        "parent_checks": busy.checks,
        "parent_errors": busy.errors,
        "left": left,
    }


def _mp_check(subject: str) -> tuple[int, str]:
    assert _checker is not None
    return os.getpid(), _checker.must_check(subject, "bidding").check_id


def _mp_process(subject: str, queue: Any) -> None:
    assert _checker is not None
    d = _checker.must_check(subject, "bidding")
    left = _checker.flush(timeout=8)
    queue.put((os.getpid(), d.check_id, left))


def run_mp(cfg: dict[str, Any]) -> dict[str, Any]:
    global _checker
    _checker = checker = make_checker(cfg)
    checker.must_check(subjects()[0], "bidding")
    ctx = multiprocessing.get_context("fork")
    pool_results: list[tuple[int, str]] = []
    process_results: list[tuple[int, str, int]] = []
    codes: list[int | None] = []
    with Busy(checker, 4, chaos=True) as busy:
        time.sleep(0.5)
        for _ in range(cfg.get("pools", 2)):
            pool = ctx.Pool(3)
            pool_results += pool.map_async(_mp_check, subjects()[:24]).get(timeout=60)
            # close + join: the workers end normally (terminate() would kill them,
            # possibly in the middle of an upload that then has to be sent again).
            pool.close()
            pool.join()
        queue = ctx.Queue()
        for n in range(cfg.get("processes", 8)):
            time.sleep(random.uniform(0, 0.1))
            p = ctx.Process(target=_mp_process, args=(subjects()[n], queue))
            p.start()
            p.join(CHILD_LIMIT)
            if p.is_alive():
                p.kill()
                p.join()
            codes.append(p.exitcode)
            if p.exitcode == 0:
                process_results.append(queue.get(timeout=5))
    left = checker.flush(timeout=20)
    checker.close(timeout=5)
    return {
        "pool": pool_results,
        "processes": process_results,
        "codes": codes,
        "parent_checks": busy.checks,
        "parent_errors": busy.errors,
        "left": left,
    }


def run_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    checker = make_checker(cfg)
    with Busy(checker, cfg.get("threads", 3), chaos=False) as busy:
        time.sleep(cfg["seconds"])
    left = checker.flush(timeout=30)
    stats = checker._uploader.stats()
    checker.close(timeout=5)
    return {"checks": busy.checks, "errors": busy.errors, "left": left, "uploads": stats}


if __name__ == "__main__":
    # As an application would: warnings and errors (with their tracebacks) on stderr,
    # which the tests read; the snapshot sync's INFO lines too (another process's
    # rebuild waited for).
    logging.basicConfig(
        level=logging.WARNING, format="%(process)d %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("credit_check_sdk._sync").setLevel(logging.INFO)
    mode, config = sys.argv[1], json.loads(sys.argv[2])
    summary = {"fork": run_fork, "mp": run_mp, "worker": run_worker}[mode](config)
    Path(config["out"]).write_text(json.dumps(summary))
