"""Every error the SDK raises, one tree, each carrying the context it was raised in.

::

    CreditCheckError                     base of everything the SDK raises
    ├── ConfigurationError               a setting is missing or wrong (names the variable)
    ├── InvalidSubjectError (ValueError) a subject id fails normalisation or its checksum
    ├── UnknownMatterError (ValueError)  the catalogue has no measures for that matter category
    ├── InvalidRequestError (ValueError) an argument is wrong (unknown check id, missing reason …)
    │   └── InvalidArgumentError         a public call's argument has a value it cannot take
    │       └── ArgumentTypeError (TypeError)  … or is not of the type the call documents
    ├── JournalError                     the local journal cannot be written or read
    │   └── DatabaseUnavailableError     the shared database did not answer in time
    ├── SnapshotError                    the offline snapshot cannot be read or written (¹)
    │   ├── SnapshotBusyError            another rebuild or import is in progress
    │   ├── SnapshotImportError          a list export is malformed, truncated or miscounted
    │   └── LoadStoppedError             an export load ended because a stop was asked for
    ├── UnknownFlowError (LookupError)   no approval-flow plugin of that name (²)
    └── PlatformError                    the platform could not give a usable answer
        ├── TransportError               no HTTP answer at all
        │   ├── ConnectError             connection refused, reset, DNS, TLS
        │   └── RequestTimeoutError      a connect/read timeout or the check's budget ran out
        ├── ProblemError                 the platform answered with an RFC 9457 problem document
        │   ├── BadRequestError          400
        │   ├── AuthenticationError      401 (bad signature, clock skew, replayed nonce)
        │   ├── PermissionDeniedError    403
        │   ├── NotFoundError            404
        │   ├── ConflictError            409
        │   ├── CursorExpiredError       410 (change feed: start again without a cursor)
        │   ├── PayloadTooLargeError     413
        │   ├── RateLimitedError         429 (``retry_after`` seconds)
        │   └── ServerError              5xx
        └── InvalidResponseError         the answer is malformed, too large or breaks the contract

(¹) defined in :mod:`credit_check_sdk.storage` (also importable from
:mod:`credit_check_sdk.snapshot`), with ``path``;
(²) in :mod:`credit_check_sdk.plugins`.

``DatabaseUnavailableError`` (a ``JournalError``, with ``path`` the database's URL,
password masked) is raised only with ``database_url`` set: the shared database is
down, unreachable, restarting or slower than the time allowed. ``must_check`` never
raises it (the record goes to the spool in ``data_dir``); reads that need the
database (a report, ``journal verify``, ``storage import``) do.

``PlatformError`` subclasses carry ``method`` and ``url``; problem errors also
``status``, ``title``, ``detail`` and ``type``. ``CreditChecker.must_check`` never
raises ``PlatformError``: a platform fault becomes a degraded or ``review`` decision.
It is raised by calls that have no safe fallback (objections, reports …).
"""

from __future__ import annotations

__all__ = [
    "ArgumentTypeError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ConnectError",
    "CreditCheckError",
    "CursorExpiredError",
    "DatabaseUnavailableError",
    "InvalidArgumentError",
    "InvalidRequestError",
    "InvalidResponseError",
    "InvalidSubjectError",
    "JournalError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlatformError",
    "ProblemError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServerError",
    "TransportError",
    "UnknownMatterError",
]


class CreditCheckError(Exception):
    """Base class of every error the SDK raises."""


class ConfigurationError(CreditCheckError):
    """A setting is missing or invalid.

    ``setting`` names the keyword argument and ``variable`` the environment
    variable that would provide it.
    """

    def __init__(self, message: str, *, setting: str | None = None, variable: str | None = None):
        super().__init__(message)
        self.setting = setting
        self.variable = variable


class InvalidSubjectError(CreditCheckError, ValueError):
    """A subject id is not a checksum-valid USCC or RIC.

    ``value`` is what was given (masked in ``str()`` when it looks like a
    personal id), ``reason`` says what is wrong.
    """

    def __init__(self, message: str, *, value: str, reason: str):
        super().__init__(message)
        self.value = value
        self.reason = reason


class UnknownMatterError(CreditCheckError, ValueError):
    """The catalogue names no measure for this matter category.

    ``known`` lists the categories the catalogue does know.
    """

    def __init__(self, category: str, known: list[str], catalog_version: str | None = None):
        super().__init__(
            f"unknown matter category {category!r} in catalogue {catalog_version or '?'}; "
            f"known categories: {', '.join(sorted(known)) or '(none)'}"
        )
        self.category = category
        self.known = sorted(known)
        self.catalog_version = catalog_version


class InvalidRequestError(CreditCheckError, ValueError):
    """An argument to an SDK call is wrong (an unknown check id, a missing reason …)."""


class InvalidArgumentError(InvalidRequestError):
    """An argument of a public call has a value it cannot take (too long, a control
    character, not one of the allowed values …); raised before anything is journaled
    or sent. ``argument`` names the parameter.

    >>> from credit_check_sdk.arguments import check_text
    >>> check_text("a\\x00b", "operator")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    credit_check_sdk._exceptions.InvalidArgumentError: operator: a control character U+0000 ...
    """

    def __init__(self, message: str, *, argument: str | None = None):
        super().__init__(message)
        self.argument = argument


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of a public call is not of the documented type (``operator=123``,
    ``b"bidding"`` as a matter …). Also a :class:`TypeError`."""


class JournalError(CreditCheckError):
    """The local journal could not be written or read; ``path`` names its file."""

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class DatabaseUnavailableError(JournalError):
    """The shared database (``database_url``) did not answer within the time allowed (down,
    unreachable, restarting, or busier than the budget): nothing of the operation is known
    to have happened. ``path`` is the database's URL, its password masked.

    >>> try:
    ...     raise DatabaseUnavailableError("no answer", path="postgresql://cc:***@db/credit")
    ... except JournalError as exc:
    ...     exc.path
    'postgresql://cc:***@db/credit'
    """


class PlatformError(CreditCheckError):
    """The platform did not give a usable answer to ``method`` ``url``."""

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None):
        super().__init__(message)
        self.method = method
        self.url = url


class TransportError(PlatformError):
    """No HTTP answer was received."""


class ConnectError(TransportError):
    """The connection could not be made or was broken (refused, reset, DNS, TLS)."""


class RequestTimeoutError(TransportError):
    """A connect or read timeout, or the check's whole time budget, ran out."""


class InvalidResponseError(PlatformError):
    """The platform answered, but the answer is malformed, too large or breaks the contract."""


class ProblemError(PlatformError):
    """The platform answered with an error status and (usually) an RFC 9457 problem document."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        title: str | None = None,
        detail: str | None = None,
        type: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ):
        super().__init__(message, method=method, url=url)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type


class BadRequestError(ProblemError):
    """400: the platform refused the input."""


class AuthenticationError(ProblemError):
    """401: bad or missing signature, clock skew over 300 s, or a replayed nonce.

    ``clock_skew`` is the platform's clock minus this machine's, in seconds, as the
    answer's ``Date`` header shows it (``None`` without one).
    """

    def __init__(
        self,
        message: str,
        *,
        clock_skew: float | None = None,
        status: int = 401,
        title: str | None = None,
        detail: str | None = None,
        type: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ):
        super().__init__(
            message, status=status, title=title, detail=detail, type=type, method=method, url=url
        )
        self.clock_skew = clock_skew


class PermissionDeniedError(ProblemError):
    """403: this app id may not do that."""


class NotFoundError(ProblemError):
    """404: unknown resource."""


class ConflictError(ProblemError):
    """409: the request conflicts with the platform's state."""


class CursorExpiredError(ProblemError):
    """410: the change-feed cursor is older than the retention window."""


class PayloadTooLargeError(ProblemError):
    """413: the request body is too large."""


class RateLimitedError(ProblemError):
    """429: too many requests; ``retry_after`` is the platform's ``Retry-After`` in seconds."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int = 429,
        title: str | None = None,
        detail: str | None = None,
        type: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ):
        super().__init__(
            message, status=status, title=title, detail=detail, type=type, method=method, url=url
        )
        self.retry_after = retry_after


class ServerError(ProblemError):
    """5xx: a platform fault."""


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: CursorExpiredError,
    413: PayloadTooLargeError,
    429: RateLimitedError,
}


def problem_class(status: int) -> type[ProblemError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ProblemError)
