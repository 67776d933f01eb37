"""Conformance: schemathesis runs ``docs/platform-api.yaml`` against the sandbox process.

Every request schemathesis generates is signed as the contract says, from
the final prepared request (method, path, query, body bytes), by a
``requests`` session; the auth provider only marks the request for signing,
so schemathesis's own probes without (or with wrong) credentials reach the
sandbox unsigned and must get 401.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import hypothesis
import pytest
import requests

schemathesis = pytest.importorskip("schemathesis")

from credit_check_sandbox.process import SandboxProcess  # noqa: E402 - after the skip guard
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402 - after the skip guard

from credit_check_sdk.signing import signed_headers  # noqa: E402 - after the skip guard

SPEC = Path(__file__).resolve().parents[2] / "docs" / "platform-api.yaml"
_PLACEHOLDER = "sign-me"

#: Operations where the contract refuses, with 400, input that the schema cannot
#: describe: subject-id checksums, opaque cursors, a report whose agency_id and
#: period must match its URL, a disclosure decided after today. There a
#: schema-valid request may rightly get 400.
_SEMANTIC_400 = frozenset(
    {
        "getProfile",
        "listChanges",
        "putReport",
        "fileObjection",
        "recordCommitment",
        "discloseDecision",
    }
)

_CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            # The contract answers 413 to a batch over its size limit (maxItems).
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "415",
                    "422",
                ]
            },
        },
    }
)
schema = schemathesis.openapi.from_path(SPEC, config=_CONFIG)


@schema.auth()
class MarkForSigning:
    """Declares the signature as present; :class:`SigningSession` computes it."""

    def get(self, case: Any, ctx: Any) -> str:
        return _PLACEHOLDER

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "X-Signature": data}


class SigningSession(requests.Session):
    """Signs every prepared request that carries the placeholder signature."""

    def __init__(self, app_id: str, app_secret: str) -> None:
        super().__init__()
        self.app_id = app_id
        self.app_secret = app_secret
        self.signed_statuses: list[int] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if request.headers.get("X-Signature") == _PLACEHOLDER:
            url = urlsplit(request.url or "")
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode()
            request.headers.update(
                signed_headers(
                    app_id=self.app_id,
                    app_secret=self.app_secret,
                    method=request.method or "GET",
                    path=url.path,
                    query=parse_qsl(url.query, keep_blank_values=True),
                    body=body,
                )
            )
            response = super().send(request, **kwargs)
            self.signed_statuses.append(response.status_code)
            return response
        return super().send(request, **kwargs)


@pytest.fixture(scope="module")
def signing_session(sandbox: SandboxProcess) -> SigningSession:
    return SigningSession(sandbox.app_id, sandbox.app_secret)


@schema.parametrize()
@hypothesis.settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)
def test_platform_api(case: Any, sandbox: SandboxProcess, signing_session: SigningSession) -> None:
    excluded = []
    if case.operation.definition.raw.get("operationId") in _SEMANTIC_400:
        excluded.append(positive_data_acceptance)
    case.call_and_validate(
        base_url=sandbox.base_url, session=signing_session, excluded_checks=excluded
    )


def test_signed_requests_got_through(signing_session: SigningSession) -> None:
    """Guards the run above: signed requests must mostly pass authentication."""
    statuses = signing_session.signed_statuses
    assert len(statuses) > 100
    assert statuses.count(401) == 0, "signed requests were refused: signing is broken"
    # Negative cases (400) and unsupported-method probes (405) are most of the rest.
    assert sum(200 <= s < 300 for s in statuses) >= 50
