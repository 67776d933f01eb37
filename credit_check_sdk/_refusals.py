"""When the platform refuses this install's credentials, permissions or clock.

A 401 or 403 is not an outage: the platform is up and says this app id, its
secret or this machine's clock is wrong, and nothing gets better until a
person fixes the setting. So, unlike an outage, such a refusal

- is logged at ERROR, once a minute per kind (not once per check);
- is shown by ``health()["configuration"]`` until a signed request succeeds;
- gives each check a reason that names it (the check still decides as in an
  outage: from a recent cached profile or the snapshot, else ``review``;
  never a clean outcome the platform did not give);
- does not count towards the circuit breaker (the platform answers fast, and
  a corrected clock or secret is picked up by the very next check);
- makes the ``credit-check`` commands exit with status 3 (credentials or
  permission) or 4 (clock).

How a refusal is told apart: the contract answers 401 to a bad signature, a
replayed nonce and a timestamp more than 300 s off the platform's clock. The
answer's ``Date`` header shows the platform's clock; when it is that far from
ours, the clock is to blame (without a ``Date``, a problem detail that speaks
of the timestamp or clock says so). Otherwise a 401 is the credentials, a 403
the app's permissions.

>>> from credit_check_sdk._exceptions import AuthenticationError
>>> refusal_kind(AuthenticationError("401", status=401, clock_skew=-3600.0))
'clock'
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from ._exceptions import AuthenticationError, PermissionDeniedError, PlatformError
from ._ids import mask_ids_in
from .signing import MAX_SKEW_SECONDS

if TYPE_CHECKING:  # the models are imported when a refusal becomes a reason
    from ._models import Reason

__all__ = [
    "EXIT_CLOCK",
    "EXIT_CREDENTIALS",
    "RefusalKind",
    "Refusals",
    "clock_skew",
    "exit_status",
    "refusal_kind",
    "refusal_reason",
]

logger = logging.getLogger(__name__)

RefusalKind = Literal["credentials", "permission", "clock"]

#: ``credit-check`` exit status when the platform refused the app id, secret or permission.
EXIT_CREDENTIALS = 3
#: ``credit-check`` exit status when the platform refused this machine's clock.
EXIT_CLOCK = 4

_CLOCK_WORDS = ("timestamp", "clock")
# The Date header has whole seconds and the answer takes a moment to arrive: a clock
# this close to the limit is blamed too.
_SKEW_MARGIN = 10.0


def refusal_kind(exc: BaseException) -> RefusalKind | None:
    """``clock``, ``credentials`` or ``permission`` for a refusal; ``None`` for anything else."""
    if isinstance(exc, AuthenticationError):
        skew = exc.clock_skew
        if skew is not None and abs(skew) >= MAX_SKEW_SECONDS - _SKEW_MARGIN:
            return "clock"
        detail = (exc.detail or "").lower()
        if any(word in detail for word in _CLOCK_WORDS):
            return "clock"
        return "credentials"
    if isinstance(exc, PermissionDeniedError):
        return "permission"
    return None


def clock_skew(date: str | None) -> float | None:
    """The platform's clock minus this machine's, from an answer's ``Date``; None if unreadable."""
    if not date:
        return None
    import email.utils  # only a 401 is read for its Date: the email package is slow to import

    try:
        stamp = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    if stamp.tzinfo is None:
        return None
    return stamp.timestamp() - time.time()


def exit_status(kind: RefusalKind | None) -> int | None:
    """The ``credit-check`` exit status for a refusal of this kind."""
    if kind is None:
        return None
    return EXIT_CLOCK if kind == "clock" else EXIT_CREDENTIALS


def _skew_words(skew: float | None) -> tuple[str, str]:
    if skew is None:
        return "本机时钟与平台时钟相差超过 300 秒", "this machine's clock is more than 300 s off"
    ahead = skew < 0  # the platform's clock minus ours: negative when ours is ahead
    seconds = round(abs(skew))
    return (
        f"本机时钟比平台{'快' if ahead else '慢'}约 {seconds} 秒（允许 300 秒）",
        f"this machine's clock is about {seconds} s {'ahead of' if ahead else 'behind'} "
        "the platform's (300 s allowed)",
    )


def _advice(kind: RefusalKind, skew: float | None) -> tuple[str, str]:
    """What was refused and what to do, in Chinese and English."""
    if kind == "clock":
        zh, en = _skew_words(skew)
        return (
            f"平台拒绝了请求时间：{zh}。请校准本机时钟（NTP）。",
            f"The platform refused the request time: {en}. Set the clock right (NTP).",
        )
    if kind == "credentials":
        return (
            "平台拒绝了本系统的凭据（401，签名无效）：请核对 app_id 与 app_secret "
            "（CREDIT_CHECK_APP_ID、CREDIT_CHECK_APP_SECRET）。",
            "The platform refused this app's credentials (401, bad signature): check "
            "app_id and app_secret (CREDIT_CHECK_APP_ID, CREDIT_CHECK_APP_SECRET).",
        )
    return (
        "平台拒绝了本系统的访问权限（403）：请向平台确认此 app_id 的授权。",
        "The platform refused this app permission for the request (403): ask the "
        "platform's operators what this app id may do.",
    )


def refusal_reason(exc: BaseException) -> Reason | None:
    """The words a decision carries when the platform refused the request; else ``None``.

    >>> refusal_reason(PermissionDeniedError("403", status=403)).en[:40]
    'The platform refused this app permission'
    """
    from ._models import Reason  # with the checker, not to parse the command line

    kind = refusal_kind(exc)
    if kind is None:
        return None
    zh, en = _advice(kind, exc.clock_skew if isinstance(exc, AuthenticationError) else None)
    return Reason(
        zh=zh + "本次依据离线数据降级决定（无可用数据时须人工核查），修正后自动恢复实时核查。",
        en=en + " This check was decided as in an outage (degraded, or review without "
        "usable data); live checks resume once it is corrected.",
    )


@dataclass(frozen=True)
class Refusal:
    """The last refusal seen, for ``health()``."""

    kind: RefusalKind
    status: int
    route: str
    detail: str | None
    clock_skew: float | None
    at: datetime
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "refused": self.kind,
            "status": self.status,
            "request": self.route,
            "detail": self.detail,
            "clock_skew_seconds": self.clock_skew,
            "last_at": self.at.isoformat(),
            "count": self.count,
            "exit_status": exit_status(self.kind),
        }


class Refusals:
    """Refusals of one client: the last one, and when each kind was last logged.

    >>> r = Refusals()
    >>> r.health()["refused"] is None
    True
    """

    def __init__(self, *, log_every: float = 60.0) -> None:
        self.log_every = log_every
        self._lock = threading.Lock()
        self._last: Refusal | None = None
        self._logged: dict[RefusalKind, float] = {}

    def record(self, exc: PlatformError, route: str) -> None:
        """Note a refusal; log it at ERROR unless this kind was logged within ``log_every``."""
        kind = refusal_kind(exc)
        if kind is None:
            return
        status = int(getattr(exc, "status", 0))
        detail = getattr(exc, "detail", None)
        skew = exc.clock_skew if isinstance(exc, AuthenticationError) else None
        clock = time.monotonic()
        with self._lock:
            count = self._last.count + 1 if self._last is not None else 1
            self._last = Refusal(
                kind,
                status,
                mask_ids_in(route),
                mask_ids_in(detail) if detail else None,
                skew,
                datetime.now(timezone.utc),
                count,
            )
            last_logged = self._logged.get(kind)
            due = last_logged is None or clock - last_logged >= self.log_every
            if due:
                self._logged[kind] = clock
        if due:
            logger.error(
                "%s (%s -> %d%s) Until it is put right, checks decide without the platform "
                "(degraded, or review); this is logged once every %g s while it lasts.",
                _advice(kind, skew)[1],
                mask_ids_in(route),
                status,
                f" {mask_ids_in(detail)}" if detail else "",
                self.log_every,
            )

    def answered(self, route: str) -> None:
        """A signed request succeeded: credentials and clock are good, and this route allowed."""
        if self._last is None:
            return
        with self._lock:
            last = self._last
            if last is not None and (last.kind != "permission" or last.route == mask_ids_in(route)):
                self._last = None
                self._logged.clear()
                logger.warning("the platform accepts this app's requests again")

    @property
    def last(self) -> Refusal | None:
        """The refusal in force (none once a signed request succeeds)."""
        return self._last

    def health(self) -> dict[str, Any]:
        """``{"refused": None}``, or what was refused, when, how often, and the exit status."""
        last = self._last
        return {"refused": None} if last is None else last.as_dict()
