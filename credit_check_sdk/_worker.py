"""A worker thread for the jobs of one call (``must_check_many`` decides the checks of
one answer while the calling thread waits for the next).

Made and joined within the call: no thread outlives it, so there is nothing to
restart after a fork.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["Worker"]


class Worker:
    """Runs jobs one after another in one thread (or in the caller's, when not
    ``enabled``); leaving the ``with`` block waits for them and raises the first error.

    >>> done = []
    >>> with Worker(enabled=True) as w:
    ...     w.run(done.extend, [1, 2])
    >>> done
    [1, 2]
    """

    def __init__(self, *, enabled: bool) -> None:
        self._pool = ThreadPoolExecutor(1, "credit-check-many") if enabled else None
        self._jobs: list[Future[None]] = []

    def run(self, job: Callable[[list[int]], None], indices: list[int]) -> None:
        if not indices:
            return
        if self._pool is None:
            job(indices)
        else:
            self._jobs.append(self._pool.submit(job, indices))

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is None:
            return
        self._pool.shutdown(wait=True)
        for job in self._jobs:
            job.result()  # the first failure, raised in the caller
