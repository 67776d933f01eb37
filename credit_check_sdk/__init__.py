"""credit-check-sdk: credit checks (应查必查) and their feedback (实施情况反馈) for agency systems.

>>> from credit_check_sdk import must_check
>>> decision = must_check("91442000MA4UC00019", "bidding")  # doctest: +SKIP
>>> decision.outcome  # doctest: +SKIP
<Outcome.RESTRICTION: 'restriction'>

The public names are imported on first use (PEP 562), so that importing a
submodule alone — the pytest plugin, which every test run of a project with the
SDK installed loads — costs next to nothing. ``from credit_check_sdk import X``
works as usual.

The library logs under the ``credit_check_sdk`` logger and its children and
installs a :class:`logging.NullHandler` there: an application that configures no
logging sees none of the SDK's lines (see ``docs/logging.md``).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and readers
    from ._async_checker import AsyncCreditChecker
    from ._checker import CreditChecker
    from ._config import Settings
    from ._default import configure, must_check
    from ._exceptions import (
        ArgumentTypeError,
        AuthenticationError,
        ConfigurationError,
        ConnectError,
        CreditCheckError,
        CursorExpiredError,
        DatabaseUnavailableError,
        InvalidArgumentError,
        InvalidRequestError,
        InvalidResponseError,
        InvalidSubjectError,
        JournalError,
        PlatformError,
        ProblemError,
        RateLimitedError,
        RequestTimeoutError,
        ServerError,
        TransportError,
        UnknownMatterError,
    )
    from ._models import (
        Catalog,
        DecidedMeasure,
        Decision,
        Document,
        ListEntry,
        Matter,
        Measure,
        Outcome,
        Profile,
        Reason,
        Subject,
    )

__all__ = [
    "ArgumentTypeError",
    "AsyncCreditChecker",
    "AuthenticationError",
    "Catalog",
    "ConfigurationError",
    "ConnectError",
    "CreditCheckError",
    "CreditChecker",
    "CursorExpiredError",
    "DatabaseUnavailableError",
    "DecidedMeasure",
    "Decision",
    "Document",
    "InvalidArgumentError",
    "InvalidRequestError",
    "InvalidResponseError",
    "InvalidSubjectError",
    "JournalError",
    "ListEntry",
    "Matter",
    "Measure",
    "Outcome",
    "PlatformError",
    "ProblemError",
    "Profile",
    "RateLimitedError",
    "Reason",
    "RequestTimeoutError",
    "ServerError",
    "Settings",
    "Subject",
    "TransportError",
    "UnknownMatterError",
    "__version__",
    "configure",
    "must_check",
]

# A library leaves handlers to the application; without this, Python's last-resort
# handler prints the SDK's warnings to stderr of an application that set up no logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())

#: The private module each public name lives in (pinned against ``__all__`` by a test).
_MODULE_OF: dict[str, str] = {
    "AsyncCreditChecker": "_async_checker",
    "CreditChecker": "_checker",
    "Settings": "_config",
    "configure": "_default",
    "must_check": "_default",
    **dict.fromkeys(
        (
            "ArgumentTypeError",
            "AuthenticationError",
            "ConfigurationError",
            "ConnectError",
            "CreditCheckError",
            "CursorExpiredError",
            "DatabaseUnavailableError",
            "InvalidArgumentError",
            "InvalidRequestError",
            "InvalidResponseError",
            "InvalidSubjectError",
            "JournalError",
            "PlatformError",
            "ProblemError",
            "RateLimitedError",
            "RequestTimeoutError",
            "ServerError",
            "TransportError",
            "UnknownMatterError",
        ),
        "_exceptions",
    ),
    **dict.fromkeys(
        (
            "Catalog",
            "DecidedMeasure",
            "Decision",
            "Document",
            "ListEntry",
            "Matter",
            "Measure",
            "Outcome",
            "Profile",
            "Reason",
            "Subject",
        ),
        "_models",
    ),
}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and keep the name here."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
