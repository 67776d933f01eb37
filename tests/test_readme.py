"""The README's Python examples give the outcomes they show.

Blocks after ``<!-- runs against the sandbox: … -->`` run as one script against the
sandbox process (the SDK's ``credit_sandbox`` fixture: the sandbox's default app id,
secret and agency id, its scenario subjects), with the README's port replaced by the
sandbox's; blocks after ``<!-- runs with FakePlatform: … -->`` run on their own. A line
``EXPRESSION  # Outcome.NAME …`` is checked: the expression must be that outcome.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from credit_check_sandbox.process import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

_BLOCK = re.compile(
    r"<!-- runs (?P<how>[^:]+): [^>]*-->\n```python\n(?P<body>.*?)^```$", re.M | re.S
)
_SHOWN = re.compile(r"^(?P<indent>\s*)(?P<expr>[^#\s][^#]*?)\s+#\s*(?P<outcome>Outcome\.[A-Z_]+)\b")


def blocks(how: str) -> list[str]:
    return [m["body"] for m in _BLOCK.finditer(README) if m["how"] == how]


def checked(body: str) -> tuple[str, int]:
    """The block with each ``# Outcome.X`` line turned into an assertion; how many."""
    lines, count = ["from credit_check_sdk import Outcome"], 0
    for line in body.splitlines():
        shown = _SHOWN.match(line)
        if shown:
            expr, outcome = shown["expr"], shown["outcome"]
            line = f"{shown['indent']}assert ({expr}) == {outcome}, ({expr!r}, {expr})"
            count += 1
        lines.append(line)
    return "\n".join(lines) + "\n", count


def run_script(source: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", source], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{source}\n---\n{done.stderr}"


def test_the_outcome_comments_are_turned_into_checks() -> None:
    source, count = checked("d.outcome        # Outcome.RESTRICTION: why\nx = 1  # no\n")
    assert count == 1
    assert "assert (d.outcome) == Outcome.RESTRICTION" in source


@pytest.mark.sandbox
def test_the_sandbox_examples_give_the_outcomes_they_show(
    credit_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    found = blocks("against the sandbox")
    assert len(found) == 2
    source, count = checked("\n".join(found))
    assert count == 3
    port = credit_sandbox.base_url.split(":")[-1].split("/")[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_CHECK_")}
    env.update(  # what the sandbox prints, as the README's first example expects them
        CREDIT_CHECK_BASE_URL=credit_sandbox.base_url,
        CREDIT_CHECK_APP_ID=credit_sandbox.app_id,
        CREDIT_CHECK_APP_SECRET=credit_sandbox.app_secret,
        CREDIT_CHECK_AGENCY_ID=credit_sandbox.agency_id,
        CREDIT_CHECK_DATA_DIR=str(tmp_path / "default"),
    )
    credit_sandbox.admin("DELETE", "/faults")
    run_script(source.replace("127.0.0.1:8700", f"127.0.0.1:{port}"), tmp_path, env)
    # The records reached the sandbox under its agency id (the checker flushed them).
    uploaded = credit_sandbox.admin(
        "GET", f"/records?agency_id={credit_sandbox.agency_id}&limit=100000"
    )
    tolerated = [r for r in uploaded if r.get("matter", {}).get("case_id") == "XK-2026-0042"]
    assert tolerated
    assert tolerated[-1]["outcome"] == "tolerance"


def test_the_fake_platform_examples_run(tmp_path: Path) -> None:
    found = blocks("with FakePlatform")
    assert len(found) == 3  # the async checker, the testing example and the working days
    for n, body in enumerate(found):
        (tmp_path / str(n)).mkdir()
        run_script(body, tmp_path / str(n), dict(os.environ))
