"""The module-level :func:`must_check` and :func:`configure`, over one default checker.

The default checker is built on first use from :func:`configure`'s keywords,
else from the ``CREDIT_CHECK_*`` environment variables.
"""

from __future__ import annotations

import atexit
from typing import TYPE_CHECKING, Any

from ._checker import CreditChecker
from ._config import Settings
from ._fork import LongLock
from ._models import Decision, Matter, Subject

if TYPE_CHECKING:
    from .instrumentation import Instrumentation

__all__ = ["configure", "default_checker", "must_check"]

# A forked child gets a new one (a thread of the parent may have held it at the fork).
_lock = LongLock()
_options: dict[str, Any] = {}
_instrumentation: list[Instrumentation] = []  # the one given to configure(), if any
_checker: CreditChecker | None = None


def configure(*, instrumentation: Instrumentation | None = None, **settings: Any) -> None:
    """Set the default checker's settings (the same keywords as :class:`CreditChecker`).

    ``instrumentation``: an observer of its checks and uploads
    (:mod:`credit_check_sdk.instrumentation`, :mod:`credit_check_sdk.otel`).

    Replaces (and closes) a default checker already built. The keywords are
    checked now: an unknown one, or a value of the wrong type, raises
    :class:`~credit_check_sdk.ConfigurationError` naming it (settings not given
    may still come from the environment when the checker is built).

    >>> configure(base_url="https://credit.example/api", app_id="…", app_secret="…",
    ...           agency_id="zs-fgj", data_dir="/var/lib/credit-check")  # doctest: +SKIP
    """
    Settings.check_partial(settings)
    global _checker
    with _lock:
        old, _checker = _checker, None
        _options.clear()
        _options.update(settings)
        _instrumentation[:] = [instrumentation] if instrumentation is not None else []
    if old is not None:
        old.close()


def default_checker() -> CreditChecker:
    """The default checker, built on first use.

    Raises ``ConfigurationError`` naming the missing setting and its variable.
    """
    global _checker
    with _lock:
        if _checker is None:
            observer = _instrumentation[0] if _instrumentation else None
            _checker = CreditChecker(instrumentation=observer, **_options)
        return _checker


def must_check(
    subject: Subject | str,
    matter: Matter | str,
    *,
    operator: str | None = None,
    department: str | None = None,
) -> Decision:
    """Check ``subject`` for ``matter`` with the default checker.

    >>> decision = must_check("91442000MA4UJ2KQ57", "bidding")  # doctest: +SKIP
    >>> decision.outcome  # doctest: +SKIP
    <Outcome.RESTRICTION: 'restriction'>
    """
    return default_checker().must_check(subject, matter, operator=operator, department=department)


def _close_default() -> None:
    with _lock:
        checker = _checker
    if checker is not None:
        checker.close(timeout=2.0)


atexit.register(_close_default)
