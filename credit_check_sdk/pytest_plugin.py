"""Pytest fixtures for testing an integration with the credit platform.

Installing credit-check-sdk registers this module as a pytest plugin (entry
point group ``pytest11``), so these fixtures are available in any test of a
project that has the SDK installed, with no ``conftest.py``:

``credit_fake_platform``
    A fresh :class:`~credit_check_sdk.testing.FakePlatform` (function scope).
    In memory by default; call ``credit_fake_platform.serve()`` for a real
    HTTP base URL. Stopped afterwards.
``credit_checker``
    A :class:`~credit_check_sdk.CreditChecker` wired to ``credit_fake_platform``
    (function scope), in a fresh directory under ``tmp_path``, with no profile
    cache (``cache_ttl=0``: what a test arranges on the fake shows at the next
    check) and a 2-second timeout. Closed afterwards.
``credit_async_checker``
    An :class:`~credit_check_sdk.AsyncCreditChecker` wired to
    ``credit_fake_platform`` (function scope; the fake is served over real HTTP
    on a loopback port, as an async client needs), with the settings of
    ``credit_checker``. An async fixture: it is made and closed (``aclose()``)
    on the test's event loop, so the test is run by an async plugin that runs
    async fixtures: anyio's, which the ``async`` extra installs
    (``@pytest.mark.anyio``, with an ``anyio_backend`` fixture returning
    ``"asyncio"``: the checker runs on asyncio, and a test that anyio runs on
    trio is skipped), or pytest-asyncio in auto mode.
``credit_sandbox``
    The sandbox platform process,
    :class:`~credit_check_sandbox.process.SandboxProcess` (session scope:
    one process, seeded with 2,000 subjects, shared by every test of the run).
    Skips the test with the install command when the ``sandbox`` extra
    (FastAPI, uvicorn, SQLAlchemy) is missing.
``credit_sandbox_checker``
    A :class:`~credit_check_sdk.CreditChecker` wired to ``credit_sandbox``
    (function scope), in a fresh directory under ``tmp_path``; faults injected
    on the sandbox by an earlier test are cleared first. Closed afterwards.

A test needing other checker settings builds its own from the fake or the
sandbox, e.g. ``credit_fake_platform.checker(tmp_path, timeout=0.5)``.

The same test for an application on an event loop (``test_async_approval.py``)::

    import pytest

    from credit_check_sdk import AsyncCreditChecker
    from credit_check_sdk.testing import FakePlatform


    @pytest.fixture
    def anyio_backend() -> str:
        return "asyncio"  # AsyncCreditChecker runs on asyncio


    @pytest.mark.anyio
    async def test_a_defaulter_is_restricted(
        credit_fake_platform: FakePlatform, credit_async_checker: AsyncCreditChecker
    ) -> None:
        credit_fake_platform.add_entry("91442000MA4UJ2KQ57", "black", "court_judgment_defaulter")
        decision = await credit_async_checker.must_check("91442000MA4UJ2KQ57", "bidding")
        assert decision.outcome == "restriction"

Example (``test_approval.py``)::

    from credit_check_sdk import CreditChecker
    from credit_check_sdk.testing import FakePlatform


    def test_a_defaulter_is_restricted(
        credit_fake_platform: FakePlatform, credit_checker: CreditChecker
    ) -> None:
        credit_fake_platform.add_entry("91442000MA4UJ2KQ57", "black", "court_judgment_defaulter")
        decision = credit_checker.must_check("91442000MA4UJ2KQ57", "bidding")
        assert decision.outcome == "restriction"

Loading the plugin, which pytest does in every test run of a project that has
the SDK installed, imports only the package shell (its public names load on
first use): the fake platform and the checker are imported by the fixtures that
use them, the sandbox (and FastAPI) only by ``credit_sandbox``. Disable the
plugin with ``pytest -p no:credit_check_sdk``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from credit_check_sandbox.process import SandboxProcess

    from ._async_checker import AsyncCreditChecker
    from ._checker import CreditChecker
    from .testing import FakePlatform

__all__ = [
    "credit_async_checker",
    "credit_checker",
    "credit_fake_platform",
    "credit_sandbox",
    "credit_sandbox_checker",
]

#: Subjects seeded in the ``credit_sandbox`` process.
SANDBOX_SEED_SIZE = 2000


@pytest.fixture
def credit_fake_platform() -> Iterator[FakePlatform]:
    """A fresh in-memory :class:`~credit_check_sdk.testing.FakePlatform`, stopped afterwards."""
    from .testing import FakePlatform

    with FakePlatform() as fake:
        yield fake


@pytest.fixture
def credit_checker(credit_fake_platform: FakePlatform, tmp_path: Path) -> Iterator[CreditChecker]:
    """A checker against ``credit_fake_platform`` (no profile cache), closed afterwards."""
    data_dir = tmp_path / "credit-checker"
    with credit_fake_platform.checker(data_dir, timeout=2.0, cache_ttl=0) as checker:
        yield checker


@pytest.fixture
async def credit_async_checker(
    credit_fake_platform: FakePlatform, tmp_path: Path
) -> AsyncIterator[AsyncCreditChecker]:
    """An async checker against ``credit_fake_platform`` (served over HTTP, no profile
    cache), closed afterwards on the test's event loop. Needs the ``async`` extra."""
    import asyncio  # here: a test run that uses no async fixture need not load it

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # anyio's plugin runs each test on trio too, where trio is installed
        pytest.skip(
            "AsyncCreditChecker runs on asyncio: give the test an anyio_backend fixture "
            'that returns "asyncio"'
        )
    data_dir = tmp_path / "credit-async-checker"
    async with credit_fake_platform.async_checker(data_dir, timeout=2.0, cache_ttl=0) as checker:
        yield checker


@pytest.fixture(scope="session")
def credit_sandbox() -> Iterator[SandboxProcess]:
    """The sandbox platform process for the whole session; skips without the ``sandbox`` extra."""
    try:
        from credit_check_sandbox.process import SandboxProcess
    except ImportError as exc:  # the message names the missing packages and the pip command
        pytest.skip(str(exc))
    with SandboxProcess(seed_size=SANDBOX_SEED_SIZE) as sandbox:
        yield sandbox


@pytest.fixture
def credit_sandbox_checker(
    credit_sandbox: SandboxProcess, tmp_path: Path
) -> Iterator[CreditChecker]:
    """A checker against ``credit_sandbox`` (faults cleared first), closed afterwards."""
    credit_sandbox.admin("DELETE", "/faults")
    with credit_sandbox.checker(tmp_path / "credit-sandbox-checker") as checker:
        yield checker
