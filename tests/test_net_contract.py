"""Answers that break the contract's media types or encodings are refused, never decided on.

A platform (or a captive portal, or a gateway) that answers a profile request
with ``text/html`` is not speaking the contract, even when the page parses as
JSON: :class:`InvalidResponseError`, and the check degrades like any platform
fault. Real loopback servers (``tests/netfaults.py``).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk import CreditChecker, InvalidResponseError, Outcome
from credit_check_sdk._client import PlatformClient
from credit_check_sdk._exceptions import PermissionDeniedError
from tests.netfaults import (
    NOW,
    ORG,
    Behaviour,
    Conn,
    RawRequest,
    catalogue,
    empty_feed,
    export_of,
    head,
    json_answer,
    profile,
    raw_server,
    send_all,
)

HEALTH = {"status": "ok", "time": NOW}


def answer_with(
    body: bytes, headers: dict[str, str], status: int = 200, *, length: bool = True
) -> Behaviour:
    def answer(conn: Conn, _request: RawRequest) -> None:
        send_all(conn, head(status, headers, length=len(body) if length else None) + body)

    return answer


@pytest.fixture
def make_checker(tmp_path: Path) -> Iterator[Callable[..., CreditChecker]]:
    made: list[CreditChecker] = []

    def make(url: str, **settings: Any) -> CreditChecker:
        options: dict[str, Any] = {
            "base_url": url,
            "app_id": "app",
            "app_secret": "secret",
            "agency_id": "zs-fgj",
            "data_dir": tmp_path / f"cc{len(made)}",
            "timeout": 2.0,
            "offline": False,
        }
        options.update(settings)
        checker = CreditChecker(**options)
        made.append(checker)
        return checker

    yield make
    for checker in made:
        checker.close(timeout=1)


@pytest.mark.parametrize(
    "ctype", ["text/html", "text/plain", "application/octet-stream", "application/xml"]
)
def test_a_json_profile_with_another_media_type_is_refused(ctype: str) -> None:
    with raw_server({"/v1/subjects/": json_answer(profile(), ctype=ctype)}) as server:
        client = PlatformClient(server.url(), "app", "secret", timeout=2.0)
        with pytest.raises(InvalidResponseError, match=ctype):
            client.get_profile(ORG)
        client.close()


@pytest.mark.parametrize(
    "ctype",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
def test_json_with_or_without_its_charset_is_taken(ctype: str) -> None:
    with raw_server({"/v1/subjects/": json_answer(profile(), ctype=ctype)}) as server:
        client = PlatformClient(server.url(), "app", "secret", timeout=2.0)
        assert client.get_profile(ORG).subject.id == ORG
        client.close()


def test_no_content_type_and_a_foreign_charset_are_refused() -> None:
    body = json.dumps(HEALTH).encode()
    for headers, words in (
        ({}, "without a Content-Type"),
        ({"Content-Type": "application/json; charset=gbk"}, "gbk"),
    ):
        with raw_server({"/v1/health": answer_with(body, headers)}) as server:
            client = PlatformClient(server.url(), "app", "secret", timeout=2.0)
            with pytest.raises(InvalidResponseError, match=words):
                client.health()
            client.close()


def test_a_check_answered_in_html_is_review_not_a_clean_outcome(
    make_checker: Callable[..., CreditChecker],
) -> None:
    routes = {
        "/v1/catalog": catalogue(),
        "/v1/subjects/": json_answer(profile(), ctype="text/html"),
    }
    with raw_server(routes) as server:
        checker = make_checker(server.url())
        decision = checker.must_check(ORG, "bidding")
    assert decision.outcome is Outcome.REVIEW
    assert decision.source == "none"
    assert decision.degraded


def test_a_check_answered_in_html_decides_from_the_snapshot_degraded(
    make_checker: Callable[..., CreditChecker],
) -> None:
    black = {
        "entry_id": "BL-2026-000001",
        "subject_id": ORG,
        "list": "black",
        "category": "court_judgment_defaulter",
        "authority": "中山市中级人民法院",
        "basis": "（2025）粤20执123号",
        "listed_on": "2025-01-10",
        "expires_on": None,
        "status": "active",
        "updated_at": NOW,
    }
    routes = {
        "/v1/catalog": catalogue(),
        "/v1/lists/export": export_of([black]),
        "/v1/lists/changes": empty_feed(),
        "/v1/subjects/": json_answer(profile(), ctype="text/html"),  # a clean profile, as HTML
    }
    with raw_server(routes) as server:
        checker = make_checker(server.url(), offline=True)
        assert checker.sync_snapshot(timeout=5).applied == 1
        decision = checker.must_check(ORG, "bidding")
    assert decision.source == "snapshot"
    assert decision.degraded
    assert decision.outcome is Outcome.RESTRICTION  # what the lists say, not the HTML's "clean"


def test_the_export_in_html_is_refused_before_a_byte_reaches_the_sink() -> None:
    page = b"<html><body>Please log in to the proxy</body></html>"
    with raw_server({"/v1/lists/export": answer_with(page, {"Content-Type": "text/html"})}) as s:
        client = PlatformClient(s.url(), "app", "secret", timeout=2.0)
        sink = io.BytesIO()
        with pytest.raises(InvalidResponseError, match="text/html"):
            client.export_lists(sink, timeout=5)
        client.close()
    assert sink.getvalue() == b""


@pytest.mark.parametrize(
    "ctype", ["application/x-ndjson", "application/gzip", "application/x-gzip"]
)
def test_the_export_types_the_contract_allows_are_taken(ctype: str) -> None:
    data = gzip.compress(b'{"cursor":"s0","as_of":"2026-11-29T08:00:00+08:00","count":0}\n')
    with raw_server({"/v1/lists/export": answer_with(data, {"Content-Type": ctype})}) as s:
        client = PlatformClient(s.url(), "app", "secret", timeout=2.0)
        sink = io.BytesIO()
        client.export_lists(sink, timeout=5)
        client.close()
    assert sink.getvalue() == data


def test_a_problem_as_plain_json_is_read_and_html_only_by_its_status() -> None:
    doc = json.dumps({"title": "Forbidden", "status": 403, "detail": "agency mismatch"}).encode()
    with raw_server(
        {"/v1/health": answer_with(doc, {"Content-Type": "application/json"}, 403)}
    ) as server:
        client = PlatformClient(server.url(), "app", "secret", timeout=2.0)
        with pytest.raises(PermissionDeniedError) as caught:
            client.health()
        client.close()
    assert caught.value.detail == "agency mismatch"
    with raw_server({"/v1/health": answer_with(doc, {"Content-Type": "text/html"}, 403)}) as server:
        client = PlatformClient(server.url(), "app", "secret", timeout=2.0)
        with pytest.raises(PermissionDeniedError) as caught:
            client.health()
        client.close()
    assert caught.value.detail is None  # an HTML page is not read as a problem document


# --- Content-Encoding ------------------------------------------------------------------


def test_a_gzip_encoded_answer_is_inflated() -> None:
    body = gzip.compress(json.dumps(HEALTH).encode())
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    with raw_server({"/v1/health": answer_with(body, headers)}) as server:
        client = PlatformClient(server.url(), "app", "secret", timeout=2.0)
        assert client.health() == HEALTH
        client.close()
    assert server.conns[0].requests[0].headers["accept-encoding"] == "gzip"


@pytest.mark.parametrize(
    ("body", "encoding", "words"),
    [
        (gzip.compress(json.dumps(HEALTH).encode())[:-12], "gzip", "ends early"),
        (b"\x1f\x8b\x08\x00garbage-not-deflate", "gzip", "corrupt"),
        (b"...", "br", "not asked for"),
    ],
)
def test_a_broken_or_unasked_encoding_is_refused(body: bytes, encoding: str, words: str) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    with raw_server({"/v1/health": answer_with(body, headers, length=False)}) as server:
        client = PlatformClient(server.url(), "app", "secret", timeout=2.0)
        with pytest.raises(InvalidResponseError, match=words):
            client.health()
        client.close()
