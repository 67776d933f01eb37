"""A second process for the storage contract tests: opens the storage a JSON spec names
and works on it, printing what it got (one JSON line per step).

Run: ``python tests/storage/worker.py SPEC COMMAND [ARGS]``, where SPEC is the JSON
of :func:`~credit_check_sdk.storage.open_storage`'s keywords. It waits for the file
``GO`` (an argument) to exist before starting, so that two workers start together.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from credit_check_sdk.storage import open_storage, owner_name  # noqa: E402 - after the path


def _wait_for(go: Path) -> None:
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no GO file")
        time.sleep(0.005)


def main() -> None:
    spec, command, go = json.loads(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    storage = open_storage(**spec)
    owner = owner_name()
    try:
        _wait_for(go)
        if command == "uploads":
            # Claim small batches until none is free; mark each batch accepted.
            while True:
                rows = storage.uploads.claim(owner, 7, 60.0)
                if not rows:
                    break
                ids = [r["id"] for _, r in rows]
                sys.stdout.write(json.dumps(ids) + "\n")
                sys.stdout.flush()
                storage.uploads.mark(ids, "accepted")
        elif command == "rechecks":
            while True:
                claimed = storage.followups.claim_rechecks(owner, 3, 60.0)
                if not claimed:
                    break
                ids = [p.check_id for p in claimed]
                sys.stdout.write(json.dumps(ids) + "\n")
                sys.stdout.flush()
                for check_id in ids:
                    storage.followups.finish_recheck(check_id, "r-" + check_id, "normal")
        elif command == "lead":
            lease = storage.snapshot.lead(wait=0)
            sys.stdout.write(json.dumps(lease is not None) + "\n")
            sys.stdout.flush()
            sys.stdin.readline()  # hold the lease until told
            if lease is not None:
                lease.release()
        else:
            raise SystemExit(f"unknown command {command}")
    finally:
        storage.close()


if __name__ == "__main__":
    main()
