"""credit-check-sdk: credit checks (应查必查) and their feedback (实施情况反馈) for agency systems.

>>> from credit_check_sdk import must_check
>>> decision = must_check("91442000MA4UJ2KQ57", "bidding")  # doctest: +SKIP
>>> decision.outcome  # doctest: +SKIP
<Outcome.RESTRICTION: 'restriction'>
"""

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
from ._version import __version__

__all__ = [
    "ArgumentTypeError",
    "AuthenticationError",
    "Catalog",
    "ConfigurationError",
    "ConnectError",
    "CreditCheckError",
    "CreditChecker",
    "CursorExpiredError",
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
