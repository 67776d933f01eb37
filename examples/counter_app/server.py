"""The counter app for a pre-forking server, with one checker made before the fork.

Run from the repository root, with the platform settings in the
``CREDIT_CHECK_*`` environment variables::

    gunicorn --preload --workers 4 --worker-class uvicorn_worker.UvicornWorker \\
        --bind 127.0.0.1:8080 examples.counter_app.server:app

``--preload`` imports this module once, in gunicorn's master process: the
checker below is made there, and every worker is a ``fork()`` of it. That is
safe: the SDK waits, at each fork, until none of its threads is inside SQLite
or holds one of its locks, and a worker starts its own background threads
(uploads, snapshot sync) and opens its own files at its first check. The
workers share ``data_dir``: their checks go into one journal, each record is
uploaded by one of them, and one of them at a time rebuilds the snapshot.

``GET /health`` answers ``checker.health()`` as JSON, with the worker's ``pid``
and how many checks it has served.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from typing import Any

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from credit_check_sdk import AsyncCreditChecker

from .app import create_app

__all__ = ["app", "checker"]

#: Made once, in the master with ``--preload`` (or in each worker without it). Its HTTP
#: connections are made by each worker, on the worker's event loop, at its first check.
checker = AsyncCreditChecker()


@atexit.register
def _close() -> None:
    """At exit (of each worker, then of the master): stop the threads, upload what is left."""
    asyncio.run(checker.aclose())


app = create_app(checker)

_served = {"pid": os.getpid(), "checks": 0}
_lock = threading.Lock()


@app.middleware("http")
async def _count_checks(request: Any, call_next: Any) -> Any:
    response = await call_next(request)
    if request.url.path == "/check" and response.status_code == 200:
        with _lock:
            if _served["pid"] != os.getpid():  # the first request of a forked worker
                _served.update(pid=os.getpid(), checks=0)
            _served["checks"] += 1
    return response


@app.get("/health")
async def health() -> JSONResponse:
    """The checker's health for this worker, as JSON."""
    with _lock:
        served = _served["checks"] if _served["pid"] == os.getpid() else 0
    report = await run_in_threadpool(checker.health)  # reads SQLite files: not on the loop
    return JSONResponse({"pid": os.getpid(), "checks_served": served, **report})
