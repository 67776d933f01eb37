"""Fixtures of the storage contract tests: each test runs once per adapter (see adapters.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk.storage import Storage
from tests.storage.adapters import ADAPTERS


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """One storage adapter on a fresh, empty store."""
    return ADAPTERS[request.param](request, tmp_path)


@pytest.fixture
def storage(adapter: Any) -> Iterator[Storage]:
    """A storage of ``adapter``, closed after the test."""
    opened = adapter.open()
    try:
        yield opened
    finally:
        opened.close()
