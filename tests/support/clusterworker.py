"""One application server of a test cluster: checks from a few threads, printing each check id
the moment ``must_check`` returns it (one JSON line), then flushes its uploads.

Run: ``python tests/support/clusterworker.py COUNT THREADS`` with the platform, ``data_dir``
and ``CREDIT_CHECK_DATABASE_URL`` in the environment (``tests/support/clirun.platform_env``).
``COUNT`` 0 runs until killed. Exit status 0 when every upload was answered.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from credit_check_sdk import CreditChecker, Matter  # noqa: E402 - after the path

SUBJECT = "91442000MA4UJ2KQ57"


def main() -> int:
    count, threads = int(sys.argv[1]), int(sys.argv[2])
    out = threading.Lock()
    with CreditChecker() as checker:
        numbers = itertools.count() if count == 0 else iter(range(count))
        take = threading.Lock()

        def work() -> None:
            while True:
                with take:
                    n = next(numbers, None)
                if n is None:
                    return
                matter = Matter("bidding", case_id=f"K-{os.getpid()}-{n}")
                decision = checker.must_check(SUBJECT, matter)
                with out:
                    sys.stdout.write(json.dumps(decision.check_id) + "\n")
                    sys.stdout.flush()

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return 0 if checker.flush(timeout=60) == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
