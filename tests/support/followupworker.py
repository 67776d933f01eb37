"""One application server of a test cluster, driven line by line: what re-checks and watches
it runs is what the test asks of it, and what it answers.

Run: ``python tests/support/followupworker.py`` with the platform, ``data_dir`` and
``CREDIT_CHECK_DATABASE_URL`` in the environment (``tests/support/clirun.platform_env``).
Each line of standard input is one JSON command; each gets one JSON line back:

- ``{"do": "writer"}`` → ``{"writer": id}`` (this instance's chain);
- ``{"do": "check", "subject": s, "case": c}`` → ``{"check_id", "outcome", "source"}``;
- ``{"do": "watch", "subject": s, "case": c}`` → ``{}``;
- ``{"do": "sync"}`` → ``{"applied": n, "watched": [case ids re-checked by this instance]}``;
- ``{"do": "recheck", "limit": n}`` → ``{"done": n}``.

A failure answers ``{"error": text}``. End of input ends the process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from credit_check_sdk import CreditChecker, Decision, Matter, Outcome  # noqa: E402 - after the path


def main() -> int:
    watched: list[str] = []

    def on_watch(case_id: str, previous: Outcome | None, decision: Decision) -> None:
        watched.append(case_id)

    # A high breaker threshold: the test's outages must not leave the breaker open (it
    # would postpone the re-checks the test asks for).
    with CreditChecker(on_watch=on_watch, breaker_threshold=1000) as checker:
        for line in sys.stdin:
            command: dict[str, Any] = json.loads(line)
            try:
                answer = run(checker, command, watched)
            except Exception as exc:  # the test reads it
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    return 0


def run(checker: CreditChecker, command: dict[str, Any], watched: list[str]) -> dict[str, Any]:
    do = command["do"]
    if do == "writer":
        return {"writer": checker.storage.journal.writer}  # type: ignore[attr-defined]
    if do == "check":
        matter = Matter("bidding", case_id=command["case"])
        d = checker.must_check(command["subject"], matter)
        return {"check_id": d.check_id, "outcome": d.outcome.value, "source": d.source}
    if do == "watch":
        checker.watch(command["subject"], "bidding", command["case"])
        return {}
    if do == "sync":
        before = len(watched)
        result = checker.sync_snapshot(timeout=30)
        return {"applied": result.applied, "watched": watched[before:]}
    if do == "recheck":
        return {"done": checker.recheck_pending(int(command["limit"]))}
    raise ValueError(f"unknown command {do!r}")


if __name__ == "__main__":
    raise SystemExit(main())
