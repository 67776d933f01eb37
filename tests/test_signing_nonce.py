"""The nonce of a signed request: 24 characters, each letter or digit equally likely,
read from the system's randomness once per nonce (not once per character: each read
lets go of the GIL, and a busy thread then held the request up to 5 ms a character)."""

from __future__ import annotations

import os
import string
from collections import Counter

import pytest

from credit_check_sdk import signing
from credit_check_sdk.signing import signed_headers, verify

ALPHABET = string.ascii_letters + string.digits


def _nonce() -> str:
    headers = signed_headers(app_id="a", app_secret="s", method="GET", path="/api/v1/health")
    return headers["X-Nonce"]


def test_nonces_are_24_letters_or_digits_and_all_different() -> None:
    nonces = [_nonce() for _ in range(2000)]
    assert all(len(n) == 24 and set(n) <= set(ALPHABET) for n in nonces)
    assert len(set(nonces)) == len(nonces)


def test_every_character_is_equally_likely() -> None:
    # 12,000 nonces: 288,000 characters, about 4,645 of each. Mapping raw bytes with
    # ``% 62`` alone would make the first eight characters 25% likelier (chi-square in
    # the thousands); an even draw stays near 61 (the 0.9999 quantile is about 115).
    counts = Counter("".join(_nonce() for _ in range(12_000)))
    expected = 12_000 * 24 / len(ALPHABET)
    chi2 = sum((counts[c] - expected) ** 2 / expected for c in ALPHABET)
    assert chi2 < 130, chi2


def test_one_read_of_the_system_randomness_per_nonce(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = os.urandom

    def counted(n: int) -> bytes:
        reads.append(n)
        return real(n)

    monkeypatch.setattr(os, "urandom", counted)
    nonce = signing._new_nonce()
    assert len(nonce) == 24
    assert len(reads) == 1


def test_a_signed_request_verifies() -> None:
    headers = signed_headers(
        app_id="a", app_secret="s", method="POST", path="/api/v1/profiles:batch", body=b"{}"
    )
    assert (
        verify(
            headers, secret="s", method="POST", path="/api/v1/profiles:batch", query=[], body=b"{}"
        )
        is None
    )
