"""PlatformClient against a real HTTP server (pytest-httpserver).

Every request the server receives is checked against the contract's
signature algorithm, implemented again here from the contract text (and
deliberately not imported from ``credit_check_sdk.signing``), so that the
client's signing and this independent reading of the contract check each other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request as WRequest
from werkzeug import Response as WResponse

from credit_check_sdk import (
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    CursorExpiredError,
    InvalidResponseError,
    PlatformError,
    ProblemError,
    RateLimitedError,
    ServerError,
)
from credit_check_sdk._client import PlatformClient
from credit_check_sdk._exceptions import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
)

APP_ID = "zs-fgj-app"
SECRET = "s3cret-for-the-client-tests"
USCC = "91442000MA4UJ2KQ57"
NOW = "2026-11-29T08:00:00+08:00"
PROFILE: dict[str, Any] = {
    "subject": {"id": USCC, "kind": "legal_entity", "name": "中山市某某有限公司"},
    "as_of": NOW,
    "record_since": "2012-03-02",
    "last_adverse_on": None,
    "entries": [],
    "related": [],
}


# --- the contract's signature, implemented independently ------------------------------


def enc(s: str) -> str:
    """Percent-encode leaving only RFC 3986 unreserved characters bare."""
    return quote(s, safe="-_.~")


def query_line(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted((enc(k), enc(v)) for k, v in pairs))


def expected_signature(
    secret: str, method: str, path: str, raw_query: str, ts: str, nonce: str, body: bytes
) -> str:
    canonical = "\n".join(
        [
            method,
            path,
            query_line(parse_qsl(raw_query, keep_blank_values=True)),
            ts,
            nonce,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


class Verifier:
    """Checks each request's signature as the platform would; remembers what it saw."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.nonces: list[str] = []
        self.seen: list[WRequest] = []

    def why_not(self, request: WRequest) -> str | None:
        raw_uri = request.environ["RAW_URI"]
        path, _, raw_query = raw_uri.partition("?")
        h = request.headers
        ts, nonce, given = h.get("X-Timestamp"), h.get("X-Nonce"), h.get("X-Signature")
        if h.get("X-App-Id") != APP_ID or not ts or not nonce or not given:
            return "missing or wrong signature headers"
        if len(nonce) < 16:
            return "short nonce"
        if abs(time.time() - int(ts)) > 300:
            return "clock skew"
        if nonce in self.nonces:
            return "replayed nonce"
        self.nonces.append(nonce)
        want = expected_signature(
            SECRET, request.method, path, raw_query, ts, nonce, request.get_data()
        )
        if not hmac.compare_digest(want, given):
            return "signature does not match"
        return None

    def answer(
        self,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        raw: bytes | None = None,
    ) -> Callable[[WRequest], WResponse]:
        """A handler that verifies the signature, then answers as told."""

        def handler(request: WRequest) -> WResponse:
            self.seen.append(request)
            why = self.why_not(request)
            if why is not None:
                self.failures.append(why)
                return problem(401, why)
            data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
            ctype = "application/problem+json" if status >= 400 else "application/json"
            return WResponse(data, status=status, headers=headers, content_type=ctype)

        return handler


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> WResponse:
    doc = {"type": "about:blank", "title": f"status {status}", "status": status, "detail": detail}
    return WResponse(
        json.dumps(doc), status=status, headers=headers, content_type="application/problem+json"
    )


@pytest.fixture
def verifier() -> Verifier:
    return Verifier()


@pytest.fixture
def make_client(httpserver: HTTPServer) -> Iterator[Callable[..., PlatformClient]]:
    made: list[PlatformClient] = []

    def make(**kwargs: Any) -> PlatformClient:
        options: dict[str, Any] = {"timeout": 2.0}
        options.update(kwargs)
        secret = options.pop("secret", SECRET)
        client = PlatformClient(httpserver.url_for("/api"), APP_ID, secret, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., PlatformClient]) -> PlatformClient:
    return make_client()


# --- signatures -----------------------------------------------------------------------


def test_the_contract_example_query_line() -> None:
    assert query_line([("limit", "500"), ("cursor", "a/b")]) == "cursor=a%2Fb&limit=500"


def test_the_contract_example_request_verifies(
    httpserver: HTTPServer, verifier: Verifier, client: PlatformClient
) -> None:
    page = {"changes": [], "next_cursor": "c", "has_more": False, "as_of": NOW}
    httpserver.expect_request("/api/v1/lists/changes").respond_with_handler(
        verifier.answer(200, page)
    )
    assert client.get("/v1/lists/changes", query=[("limit", "500"), ("cursor", "a/b")]) == page
    assert verifier.failures == []
    (request,) = verifier.seen
    assert request.environ["RAW_URI"] == "/api/v1/lists/changes?limit=500&cursor=a%2Fb"
    # Recompute by hand with the contract's own query line.
    h = request.headers
    canonical = "\n".join(
        [
            "GET",
            "/api/v1/lists/changes",
            "cursor=a%2Fb&limit=500",
            h["X-Timestamp"],
            h["X-Nonce"],
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    assert h["X-Signature"] == hmac.new(SECRET.encode(), canonical.encode(), "sha256").hexdigest()


def test_every_endpoint_is_signed(
    httpserver: HTTPServer, verifier: Verifier, client: PlatformClient
) -> None:
    httpserver.expect_request("/api/v1/health").respond_with_handler(
        verifier.answer(200, {"status": "ok", "time": NOW})
    )
    httpserver.expect_request(f"/api/v1/subjects/{USCC}/profile").respond_with_handler(
        verifier.answer(200, PROFILE)
    )
    httpserver.expect_request("/api/v1/profiles:batch", method="POST").respond_with_handler(
        verifier.answer(200, {"profiles": [PROFILE], "invalid": []})
    )
    httpserver.expect_request("/api/v1/records:batch", method="POST").respond_with_handler(
        verifier.answer(200, {"accepted": ["r1"], "duplicates": [], "rejected": []})
    )
    httpserver.expect_request("/api/v1/reports/zs-fgj/2026-11", method="PUT").respond_with_handler(
        verifier.answer(200, {"receipt_id": "R1", "version": 1})
    )
    httpserver.expect_request("/api/v1/objections", method="POST").respond_with_handler(
        verifier.answer(202, {"objection_id": "OBJ-1", "status": "verifying"})
    )
    httpserver.expect_request("/api/v1/catalog").respond_with_handler(verifier.answer(304, None))

    assert client.health()["status"] == "ok"
    assert client.get_profile(USCC).subject.id == USCC
    assert len(client.get_profiles([USCC]).profiles) == 1
    assert client.upload_records([{"id": "r1", "note": "中文 ok"}]).accepted == ("r1",)
    assert client.put("/v1/reports/zs-fgj/2026-11", {"period": "2026-11"})["version"] == 1
    assert client.post("/v1/objections", {"reason": "已履行"})["objection_id"] == "OBJ-1"
    assert client.get_catalog('"etag-1"') is None
    assert verifier.failures == []
    assert len(verifier.seen) == 7
    assert verifier.seen[-1].headers["If-None-Match"] == '"etag-1"'
    # Bodies go out exactly as signed: UTF-8 JSON.
    upload = verifier.seen[3]
    assert json.loads(upload.get_data()) == {"records": [{"id": "r1", "note": "中文 ok"}]}
    assert upload.headers["Content-Type"].startswith("application/json")


def test_awkward_query_values_are_signed_as_sent(
    httpserver: HTTPServer, verifier: Verifier, client: PlatformClient
) -> None:
    httpserver.expect_request("/api/v1/lists/changes").respond_with_handler(
        verifier.answer(200, {"ok": True})
    )
    query = [("q", "中山 a+b&c=d"), ("a", "~x-y_z."), ("a", "/"), ("empty", "")]
    client.get("/v1/lists/changes", query=query)
    assert verifier.failures == []
    (request,) = verifier.seen
    assert sorted(parse_qsl(request.query_string.decode(), keep_blank_values=True)) == sorted(query)


def test_a_wrong_secret_is_refused_by_the_verifier(
    httpserver: HTTPServer, verifier: Verifier, make_client: Callable[..., PlatformClient]
) -> None:
    httpserver.expect_request("/api/v1/health").respond_with_handler(
        verifier.answer(200, {"status": "ok", "time": NOW})
    )
    with pytest.raises(AuthenticationError) as caught:
        make_client(secret="not-the-secret").health()
    assert caught.value.status == 401
    assert verifier.failures == ["signature does not match"]
    assert len(verifier.seen) == 1  # 401 is not retried


def test_retries_are_signed_afresh(
    httpserver: HTTPServer, verifier: Verifier, client: PlatformClient
) -> None:
    state = {"calls": 0}
    ok = verifier.answer(200, {"status": "ok", "time": NOW})
    down = verifier.answer(503, {"title": "down", "status": 503})

    def flaky(request: WRequest) -> WResponse:
        state["calls"] += 1
        return down(request) if state["calls"] < 3 else ok(request)

    httpserver.expect_request("/api/v1/health").respond_with_handler(flaky)
    assert client.health()["status"] == "ok"
    assert state["calls"] == 3
    assert verifier.failures == []  # each retry had a new nonce (a replay would be refused)
    assert len(set(verifier.nonces)) == 3


# --- problem documents -----------------------------------------------------------------

NOT_RETRIED = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (410, CursorExpiredError),
    (413, PayloadTooLargeError),
]


@pytest.mark.parametrize(("status", "error"), NOT_RETRIED)
def test_4xx_problems_map_to_typed_errors_and_are_not_retried(
    httpserver: HTTPServer,
    verifier: Verifier,
    client: PlatformClient,
    status: int,
    error: type[ProblemError],
) -> None:
    doc = {"type": "https://credit.example/p", "title": "T", "status": status, "detail": "D"}
    httpserver.expect_request("/api/v1/health").respond_with_handler(verifier.answer(status, doc))
    with pytest.raises(error) as caught:
        client.health()
    exc = caught.value
    assert type(exc) is error
    assert (exc.status, exc.title, exc.detail, exc.type) == (status, "T", "D", doc["type"])
    assert exc.method == "GET"
    assert exc.url is not None
    assert exc.url.endswith("/api/v1/health")
    assert len(httpserver.log) == 1
    assert verifier.failures == []


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_5xx_and_429_are_retried_up_to_max_attempts(
    httpserver: HTTPServer,
    verifier: Verifier,
    make_client: Callable[..., PlatformClient],
    status: int,
) -> None:
    httpserver.expect_request("/api/v1/health").respond_with_handler(
        verifier.answer(status, {"title": "busy", "status": status})
    )
    client = make_client(max_attempts=3, timeout=5.0)
    with pytest.raises(RateLimitedError if status == 429 else ServerError) as caught:
        client.health()
    assert caught.value.status == status
    assert len(httpserver.log) == 3
    assert verifier.failures == []


def test_a_problem_without_a_json_body_still_maps(
    httpserver: HTTPServer, client: PlatformClient
) -> None:
    httpserver.expect_request("/api/v1/health").respond_with_data(
        "<html>forbidden</html>", status=403, content_type="text/html"
    )
    with pytest.raises(PermissionDeniedError) as caught:
        client.health()
    assert caught.value.title is None
    assert len(httpserver.log) == 1


def test_retry_after_is_honoured(httpserver: HTTPServer, verifier: Verifier) -> None:
    state = {"calls": 0}
    limited = verifier.answer(429, {"title": "slow down", "status": 429}, {"Retry-After": "0.6"})
    ok = verifier.answer(200, {"status": "ok", "time": NOW})

    def handler(request: WRequest) -> WResponse:
        state["calls"] += 1
        return limited(request) if state["calls"] == 1 else ok(request)

    httpserver.expect_request("/api/v1/health").respond_with_handler(handler)
    client = PlatformClient(httpserver.url_for("/api"), APP_ID, SECRET, timeout=3.0)
    started = time.monotonic()
    assert client.health()["status"] == "ok"
    elapsed = time.monotonic() - started
    client.close()
    assert state["calls"] == 2
    assert 0.6 <= elapsed < 2.0


def test_retry_after_beyond_the_budget_gives_up_at_once(
    httpserver: HTTPServer, verifier: Verifier, make_client: Callable[..., PlatformClient]
) -> None:
    httpserver.expect_request("/api/v1/health").respond_with_handler(
        verifier.answer(429, {"title": "later", "status": 429}, {"Retry-After": "30"})
    )
    client = make_client(timeout=1.0)
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as caught:
        client.health()
    assert time.monotonic() - started < 0.5
    assert caught.value.retry_after == 30
    assert len(httpserver.log) == 1


def test_retries_never_run_past_the_budget(
    httpserver: HTTPServer, verifier: Verifier, make_client: Callable[..., PlatformClient]
) -> None:
    def slow_503(request: WRequest) -> WResponse:
        time.sleep(0.15)
        return verifier.answer(503, {"title": "down", "status": 503})(request)

    httpserver.expect_request("/api/v1/health").respond_with_handler(slow_503)
    client = make_client(timeout=0.8, max_attempts=100)
    started = time.monotonic()
    with pytest.raises(PlatformError):
        client.health()
    elapsed = time.monotonic() - started
    assert elapsed <= 0.8 + 0.3
    assert 2 <= len(httpserver.log) <= 8


def test_a_slow_answer_times_out_within_the_budget(
    httpserver: HTTPServer, make_client: Callable[..., PlatformClient]
) -> None:
    release = threading.Event()

    def very_slow(request: WRequest) -> WResponse:
        release.wait(5)
        return WResponse("{}", content_type="application/json")

    httpserver.expect_request("/api/v1/health").respond_with_handler(very_slow)
    client = make_client(timeout=0.5)
    started = time.monotonic()
    with pytest.raises(PlatformError):
        client.health()
    assert time.monotonic() - started < 0.5 + 0.3
    release.set()  # let the (single-threaded) server finish before the next test
    _wait_until(lambda: len(httpserver.log) >= 1)


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_connection_refused_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = PlatformClient(f"http://127.0.0.1:{port}/api", APP_ID, SECRET, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ConnectError):
        client.health()
    assert time.monotonic() - started < 0.5 + 0.3
    client.close()


# --- response size ------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused(
    httpserver: HTTPServer, make_client: Callable[..., PlatformClient]
) -> None:
    big = json.dumps({"status": "ok", "time": NOW, "pad": "x" * 20_000})
    httpserver.expect_request("/api/v1/health").respond_with_data(
        big, content_type="application/json"
    )
    client = make_client(max_response_bytes=4096)
    with pytest.raises(InvalidResponseError, match="limit"):
        client.health()
    assert len(httpserver.log) == 1  # a too-large answer is not retried


def test_a_body_over_the_limit_without_content_length_is_refused(
    httpserver: HTTPServer, make_client: Callable[..., PlatformClient]
) -> None:
    def streamed(request: WRequest) -> WResponse:
        chunks = (b"x" * 1024 for _ in range(64))
        return WResponse(chunks, content_type="application/json")  # no Content-Length

    httpserver.expect_request("/api/v1/health").respond_with_handler(streamed)
    client = make_client(max_response_bytes=4096)
    with pytest.raises(InvalidResponseError, match="limit"):
        client.health()


def test_a_body_under_the_limit_is_read(
    httpserver: HTTPServer, make_client: Callable[..., PlatformClient]
) -> None:
    body = json.dumps({"status": "ok", "time": NOW, "pad": "x" * 2000})
    httpserver.expect_request("/api/v1/health").respond_with_data(
        body, content_type="application/json"
    )
    assert make_client(max_response_bytes=4096).health()["pad"] == "x" * 2000


# --- base URL -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://credit.example/api",
        "http://10.0.0.5:8700/api",
        "ftp://credit.example/api",
        "credit.example/api",
        "https://credit.example/api?x=1",
        "https://credit.example/api#frag",
    ],
)
def test_unsafe_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        PlatformClient(url, APP_ID, SECRET)
    assert caught.value.variable == "CREDIT_CHECK_BASE_URL"


@pytest.mark.parametrize(
    "url",
    [
        "https://credit.example/api",
        "http://127.0.0.1:8700/api",
        "http://localhost:8700/api/",
        "http://[::1]:8700/api",
        "http://127.5.6.7/api",
    ],
)
def test_safe_base_urls_are_taken(url: str) -> None:
    client = PlatformClient(url, APP_ID, SECRET)
    assert client.base_url == url.rstrip("/")
    client.close()


def test_plain_http_to_another_host_only_when_allowed() -> None:
    client = PlatformClient(
        "http://credit.intranet.example/api", APP_ID, SECRET, allow_insecure_http=True
    )
    assert client.base_url == "http://credit.intranet.example/api"
    client.close()


# --- response validation ----------------------------------------------------------------


def _without(doc: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != key}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_without(PROFILE, "entries"), id="missing-entries"),
        pytest.param(_without(PROFILE, "as_of"), id="missing-as_of"),
        pytest.param(_without(PROFILE, "record_since"), id="missing-record_since"),
        pytest.param({**PROFILE, "entries": "none"}, id="entries-not-a-list"),
        pytest.param({**PROFILE, "subject": {"id": USCC, "kind": "robot"}}, id="bad-kind"),
        pytest.param(
            {**PROFILE, "subject": {"id": "91442000MA4UC00019", "kind": "legal_entity"}},
            id="another-subject",
        ),
        pytest.param(
            {
                **PROFILE,
                "entries": [
                    {
                        "entry_id": "BL-1",
                        "subject_id": USCC,
                        "list": "grey",
                        "category": "x",
                        "authority": "a",
                        "listed_on": "2025-01-10",
                        "status": "active",
                        "updated_at": NOW,
                    }
                ],
            },
            id="entry-on-an-unknown-list",
        ),
        pytest.param([PROFILE], id="an-array"),
    ],
)
def test_a_profile_that_breaks_the_contract_is_refused(
    httpserver: HTTPServer, verifier: Verifier, client: PlatformClient, body: Any
) -> None:
    httpserver.expect_request(f"/api/v1/subjects/{USCC}/profile").respond_with_handler(
        verifier.answer(200, body)
    )
    with pytest.raises(InvalidResponseError):
        client.get_profile(USCC)
    assert len(httpserver.log) == 1  # a malformed answer is not retried


@pytest.mark.parametrize(
    "raw",
    [b"<html>502</html>", json.dumps(PROFILE).encode()[:40], b""],
    ids=["html", "truncated", "empty"],
)
def test_an_answer_that_is_not_json_is_refused(
    httpserver: HTTPServer, verifier: Verifier, client: PlatformClient, raw: bytes
) -> None:
    httpserver.expect_request(f"/api/v1/subjects/{USCC}/profile").respond_with_handler(
        verifier.answer(200, raw=raw)
    )
    with pytest.raises(InvalidResponseError):
        client.get_profile(USCC)


def test_unknown_fields_are_ignored(
    httpserver: HTTPServer, verifier: Verifier, client: PlatformClient
) -> None:
    body = {**PROFILE, "risk_score": 3, "subject": {**PROFILE["subject"], "extra": 1}}
    httpserver.expect_request(f"/api/v1/subjects/{USCC}/profile").respond_with_handler(
        verifier.answer(200, body)
    )
    assert client.get_profile(USCC).record_since is not None


@pytest.mark.parametrize(
    ("path", "call", "body"),
    [
        ("/api/v1/records:batch", "upload", {"accepted": [], "duplicates": []}),
        ("/api/v1/profiles:batch", "batch", {"profiles": []}),
        ("/api/v1/catalog", "catalog", {"version": "1", "published_at": NOW}),
        ("/api/v1/health", "health", ["ok"]),
    ],
)
def test_other_answers_missing_fields_are_refused(
    httpserver: HTTPServer,
    verifier: Verifier,
    client: PlatformClient,
    path: str,
    call: str,
    body: Any,
) -> None:
    httpserver.expect_request(path).respond_with_handler(verifier.answer(200, body))
    calls: dict[str, Callable[[], object]] = {
        "upload": lambda: client.upload_records([{"id": "r1"}]),
        "batch": lambda: client.get_profiles([USCC]),
        "catalog": lambda: client.get_catalog(),
        "health": client.health,
    }
    with pytest.raises(InvalidResponseError):
        calls[call]()


# --- personal ids -----------------------------------------------------------------------

PERSON = "440101199203040016"


def test_a_personal_id_never_stands_in_a_url(
    httpserver: HTTPServer, verifier: Verifier, client: PlatformClient
) -> None:
    person = {**PROFILE, "subject": {"id": PERSON, "kind": "natural_person", "name": None}}
    httpserver.expect_request("/api/v1/profiles:batch", method="POST").respond_with_handler(
        verifier.answer(200, {"profiles": [person], "invalid": []})
    )
    assert client.get_profile(PERSON).subject.kind == "natural_person"
    (request,) = verifier.seen
    assert PERSON not in request.environ["RAW_URI"]
    assert json.loads(request.get_data()) == {"subject_ids": [PERSON]}
    assert verifier.failures == []


def test_a_batch_answer_without_the_person_is_refused(
    httpserver: HTTPServer, verifier: Verifier, client: PlatformClient
) -> None:
    httpserver.expect_request("/api/v1/profiles:batch", method="POST").respond_with_handler(
        verifier.answer(200, {"profiles": [PROFILE], "invalid": []})
    )
    with pytest.raises(InvalidResponseError):
        client.get_profile(PERSON)


def test_a_client_from_settings_takes_the_budget_limits_and_tls_of_the_settings(
    tmp_path: Path,
) -> None:
    from credit_check_sdk import Settings
    from credit_check_sdk._transports import RequestsTransport

    ca = tmp_path / "agency-ca.pem"  # a private CA, as government networks use
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = Settings.build(
        base_url="https://credit.example/api",
        app_id="app",
        app_secret="secret",
        agency_id="zs-fgj",
        timeout=3.5,
        connect_timeout=0.5,
        max_response_bytes=65_536,
        verify_tls=str(ca),
        proxy="http://proxy.gov.example:3128",
        max_export_line_bytes=65_536,
    )
    client = PlatformClient.from_settings(settings)
    assert client.base_url == "https://credit.example/api"
    assert (client.timeout, client.connect_timeout, client.max_response_bytes) == (3.5, 0.5, 65_536)
    assert isinstance(client._transport, RequestsTransport)
    assert client._transport._verify == str(ca)
    assert client._transport.proxy_for(client.base_url) == "http://proxy.gov.example:3128"
    assert client.max_export_line_bytes == 65_536
    client.close()
