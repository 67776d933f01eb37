"""Run the installed ``credit-check`` executable as a user would, in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from credit_check_sdk.testing import FakePlatform


def executable() -> str:
    """The ``credit-check`` script installed beside this Python (the venv's), or on PATH."""
    beside = Path(sys.executable).parent / "credit-check"
    if beside.exists():
        return str(beside)
    found = shutil.which("credit-check")
    assert found, "the credit-check script is not installed (pip install -e .)"
    return found


def base_env(columns: int = 80, **extra: str) -> dict[str, str]:
    """The environment without any CREDIT_CHECK_* setting, a terminal of ``columns``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_CHECK_")}
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR"):
        env.pop(name, None)  # rich must decide from the real file descriptors
    env.update(COLUMNS=str(columns), LINES="40", PYTHONIOENCODING="utf-8")
    env.update(extra)
    return env


def platform_env(
    fake: FakePlatform, data_dir: Path, columns: int = 80, **extra: str
) -> dict[str, str]:
    """Settings for ``fake`` (served over HTTP) and ``data_dir``, as environment variables."""
    return base_env(
        columns,
        CREDIT_CHECK_BASE_URL=fake.base_url,
        CREDIT_CHECK_APP_ID=fake.app_id,
        CREDIT_CHECK_APP_SECRET=fake.app_secret,
        CREDIT_CHECK_AGENCY_ID=fake.agency_id,
        CREDIT_CHECK_DATA_DIR=str(data_dir),
        **extra,
    )


def credit_check(
    *args: str, env: dict[str, str], timeout: float = 90, **options: Any
) -> subprocess.CompletedProcess[str]:
    """``credit-check ARGS`` with standard output and error captured as text."""
    return subprocess.run(
        [executable(), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=timeout,
        check=False,
        **options,
    )
