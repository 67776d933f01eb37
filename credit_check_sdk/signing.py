"""Request signatures, exactly as the platform contract (v1, "Transport") fixes them.

The canonical string is six lines joined by ``\\n``: the method; the path
without query; the query (each name and value percent-encoded with only RFC
3986 unreserved characters bare, sorted by name then value, joined as
``name=value`` with ``&``); ``X-Timestamp``; ``X-Nonce``; the lowercase hex
SHA-256 of the body bytes. ``X-Signature`` is the lowercase hex
HMAC-SHA256 of it under the app secret.

The same functions serve the client (signing), the sandbox platform and test
doubles (verifying), so the three cannot drift apart.

>>> canonical_query([("limit", "500"), ("cursor", "a/b")])
'cursor=a%2Fb&limit=500'
"""

from __future__ import annotations

import hashlib
import hmac
import os
import string
import time
from collections.abc import Iterable, Mapping
from urllib.parse import quote

__all__ = [
    "MAX_SKEW_SECONDS",
    "NONCE_TTL_SECONDS",
    "canonical_query",
    "canonical_string",
    "sign",
    "signed_headers",
    "verify",
]

#: The platform refuses a timestamp further than this from its clock.
MAX_SKEW_SECONDS = 300
#: The platform refuses a nonce it has seen within this many seconds.
NONCE_TTL_SECONDS = 600

_NONCE_ALPHABET = string.ascii_letters + string.digits
_NONCE_LENGTH = 24
#: Random bytes below this (a multiple of the alphabet's 62) map onto it evenly.
_NONCE_BYTE_LIMIT = 256 - 256 % len(_NONCE_ALPHABET)


def _new_nonce() -> str:
    """24 characters drawn evenly from the alphabet, from one read of the system's randomness.

    ``secrets.choice`` reads ``os.urandom`` once a character, and each read lets go of
    the GIL: with another thread busy (a batch of checks prepared alongside its
    request), each took back up to a switch interval (5 ms) to resume. Bytes at or
    above a multiple of 62 are skipped, so that every character is equally likely.

    >>> n = _new_nonce()
    >>> len(n), n.isalnum(), n != _new_nonce()
    (24, True, True)
    """
    chars: list[str] = []
    while len(chars) < _NONCE_LENGTH:
        # 48 bytes hold fewer than 24 usable ones practically never (1 in 10**25).
        for byte in os.urandom(2 * _NONCE_LENGTH):
            if byte < _NONCE_BYTE_LIMIT:
                chars.append(_NONCE_ALPHABET[byte % len(_NONCE_ALPHABET)])
                if len(chars) == _NONCE_LENGTH:
                    break
    return "".join(chars)


def _enc(s: str) -> str:
    return quote(s, safe="-_.~")


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The query line: encoded pairs sorted by name then value, joined with ``&``."""
    encoded = sorted((_enc(k), _enc(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_string(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    timestamp: str,
    nonce: str,
    body: bytes,
) -> str:
    """The six-line string that is signed."""
    return "\n".join(
        [
            method.upper(),
            path,
            canonical_query(query),
            timestamp,
            nonce,
            hashlib.sha256(body).hexdigest(),
        ]
    )


def sign(secret: str, canonical: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``canonical`` under ``secret``."""
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def signed_headers(
    *,
    app_id: str,
    app_secret: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four signature headers for one request.

    >>> h = signed_headers(app_id="a", app_secret="s", method="GET", path="/api/v1/health")
    >>> sorted(h)
    ['X-App-Id', 'X-Nonce', 'X-Signature', 'X-Timestamp']
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nc = nonce or _new_nonce()
    signature = sign(app_secret, canonical_string(method, path, query, ts, nc, body))
    return {"X-App-Id": app_id, "X-Timestamp": ts, "X-Nonce": nc, "X-Signature": signature}


def verify(
    headers: Mapping[str, str],
    *,
    secret: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    body: bytes,
    now: float | None = None,
) -> str | None:
    """Check a request's signature headers; ``None`` when good, else why not.

    Nonce replay is the verifier's own state and is not checked here.
    ``headers`` must look names up case-insensitively (as HTTP servers'
    header objects do).
    """
    ts = headers.get("X-Timestamp")
    nonce = headers.get("X-Nonce")
    given = headers.get("X-Signature")
    if not ts or not nonce or not given or not headers.get("X-App-Id"):
        return "missing signature headers"
    if len(nonce) < 16:
        return "nonce shorter than 16 characters"
    try:
        stamp = int(ts)
    except ValueError:
        return "X-Timestamp is not Unix seconds"
    clock = time.time() if now is None else now
    if abs(clock - stamp) > MAX_SKEW_SECONDS:
        return f"timestamp is more than {MAX_SKEW_SECONDS} s off the platform clock"
    expected = sign(secret, canonical_string(method, path, query, ts, nonce, body))
    if not hmac.compare_digest(expected, given.lower()):
        return "signature does not match"
    return None
