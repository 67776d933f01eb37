"""Run every benchmark script in this folder, one after another (``make bench``).

Heavy ones that need a large seeded sandbox (``bench_sandbox.py``) take their
own flags; run them by hand as their docstrings say.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
QUICK = [
    "bench_floor.py",  # the table of every speed goal against its floor, first
    "bench_decision.py",
    "bench_peers.py",
    "bench_journal.py",
    "bench_checker.py",
    "bench_async.py",
    "bench_postgres.py",
    "bench_instrumentation.py",
]


def main() -> int:
    cores = len(os.sched_getaffinity(0))
    machine = platform.processor() or platform.machine()
    print(f"# {machine}, {cores} cores, Python {platform.python_version()}")
    status = 0
    for name in QUICK:
        script = HERE / name
        if not script.exists():
            continue
        print(f"\n## {name}\n", flush=True)
        status |= subprocess.call([sys.executable, str(script)])  # noqa: S603 - our own scripts
    return status


if __name__ == "__main__":
    raise SystemExit(main())
