"""The sandbox platform: a local server implementing the whole platform contract.

Agency developers have no platform on their laptops or in CI; the sandbox is
one, on a real database with realistic synthetic data. Start it with
``credit-check sandbox --port 8700`` (or ``python -m credit_check_sandbox``),
or from tests with :class:`~credit_check_sandbox.process.SandboxProcess`.

It needs the ``sandbox`` extra::

    pip install "credit-check-sdk[sandbox]"
"""

from __future__ import annotations

import importlib.util

__all__ = ["require_extra"]

_NEEDED = ("fastapi", "uvicorn", "sqlalchemy")


def require_extra() -> None:
    """Raise an actionable :class:`ImportError` when a sandbox dependency is missing.

    >>> require_extra()  # all installed: nothing happens
    """
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"the sandbox platform needs {', '.join(missing)}: "
            'pip install "credit-check-sdk[sandbox]"',
            name=missing[0],
        )


require_extra()
