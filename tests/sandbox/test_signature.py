"""Request signatures: good ones pass, bad ones get 401 problem documents."""

from __future__ import annotations

import time

import requests
from credit_check_sandbox.process import SandboxProcess

from credit_check_sdk.signing import signed_headers


def _get(sandbox: SandboxProcess, path: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(sandbox.base_url + path, headers=headers, timeout=10)


def _headers(
    sandbox: SandboxProcess,
    path: str,
    *,
    secret: str | None = None,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    return signed_headers(
        app_id=sandbox.app_id,
        app_secret=secret or sandbox.app_secret,
        method="GET",
        path="/api" + path,
        timestamp=timestamp,
        nonce=nonce,
    )


def _assert_problem(r: requests.Response, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    body = r.json()
    assert set(body) >= {"type", "title", "status", "detail"}
    assert body["status"] == status
    return body


def test_good_signature(sandbox: SandboxProcess) -> None:
    r = _get(sandbox, "/v1/health", _headers(sandbox, "/v1/health"))
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["time"].endswith("+08:00")


def test_missing_headers(sandbox: SandboxProcess) -> None:
    body = _assert_problem(_get(sandbox, "/v1/health", {}), 401)
    assert "missing" in str(body["detail"])


def test_wrong_secret(sandbox: SandboxProcess) -> None:
    body = _assert_problem(
        _get(sandbox, "/v1/health", _headers(sandbox, "/v1/health", secret="not-it")), 401
    )
    assert "signature" in str(body["detail"])


def test_unknown_app_id(sandbox: SandboxProcess) -> None:
    h = signed_headers(
        app_id="someone-else", app_secret=sandbox.app_secret, method="GET", path="/api/v1/health"
    )
    _assert_problem(_get(sandbox, "/v1/health", h), 401)


def test_clock_skew(sandbox: SandboxProcess) -> None:
    h = _headers(sandbox, "/v1/health", timestamp=int(time.time()) - 400)
    body = _assert_problem(_get(sandbox, "/v1/health", h), 401)
    assert "300" in str(body["detail"])
    ok = _headers(sandbox, "/v1/health", timestamp=int(time.time()) - 200)
    assert _get(sandbox, "/v1/health", ok).status_code == 200


def test_replayed_nonce(sandbox: SandboxProcess) -> None:
    h = _headers(sandbox, "/v1/health")
    assert _get(sandbox, "/v1/health", h).status_code == 200
    body = _assert_problem(_get(sandbox, "/v1/health", h), 401)
    assert "nonce" in str(body["detail"])


def test_short_nonce(sandbox: SandboxProcess) -> None:
    h = _headers(sandbox, "/v1/health", nonce="short")
    _assert_problem(_get(sandbox, "/v1/health", h), 401)


def test_query_and_body_are_signed(sandbox: SandboxProcess) -> None:
    # Signed for limit=5 but sent with limit=6: refused.
    h = signed_headers(
        app_id=sandbox.app_id,
        app_secret=sandbox.app_secret,
        method="GET",
        path="/api/v1/lists/changes",
        query=[("limit", "5")],
    )
    r = requests.get(
        sandbox.base_url + "/v1/lists/changes", params={"limit": "6"}, headers=h, timeout=10
    )
    _assert_problem(r, 401)
    # Query encoded as the contract's example: cursor=a%2Fb&limit=500 — signature holds, the
    # cursor itself is malformed (400, not 401).
    h = signed_headers(
        app_id=sandbox.app_id,
        app_secret=sandbox.app_secret,
        method="GET",
        path="/api/v1/lists/changes",
        query=[("limit", "500"), ("cursor", "a/b")],
    )
    r = requests.get(
        sandbox.base_url + "/v1/lists/changes?limit=500&cursor=a%2Fb", headers=h, timeout=10
    )
    _assert_problem(r, 400)
    body = b'{"subject_ids": ["91442000MA4UC00019"]}'
    h = signed_headers(
        app_id=sandbox.app_id,
        app_secret=sandbox.app_secret,
        method="POST",
        path="/api/v1/profiles:batch",
        body=body,
    )
    r = requests.post(
        sandbox.base_url + "/v1/profiles:batch", data=body + b" ", headers=h, timeout=10
    )
    _assert_problem(r, 401)


def test_unknown_route_is_a_problem(sandbox: SandboxProcess) -> None:
    _assert_problem(requests.get(sandbox.base_url + "/v1/nothing-here", timeout=10), 404)
    r = sandbox.request("DELETE", "/v1/health")
    assert r.status_code == 405
    assert r.headers["Content-Type"].startswith("application/problem+json")
