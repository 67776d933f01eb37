"""Reaching the platform through a proxy, as government networks do.

A real forwarding proxy (absolute-form HTTP and ``CONNECT`` tunnels, in
``tests/netfaults.py``) runs on a loopback port; the platform is the
FakePlatform over HTTP, or a TLS server with a private CA (``trustme``) behind
a ``CONNECT`` tunnel. ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` from the
environment are honoured; the ``proxy`` setting (``CREDIT_CHECK_PROXY``) wins
over them; ``proxy="direct"`` ignores them.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from credit_check_sdk import (
    ConfigurationError,
    ConnectError,
    CreditChecker,
    RequestTimeoutError,
    Settings,
)
from credit_check_sdk._client import PlatformClient
from credit_check_sdk._transports.default import proxy_for
from credit_check_sdk.testing import FakePlatform
from tests.netfaults import ORG, ForwardProxy, drip_head, forward_proxy, json_answer, raw_server

HEALTH = {"status": "ok", "time": "2026-11-29T08:00:00+08:00"}
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.serve()
        yield platform


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with forward_proxy() as running:
        yield running


@pytest.fixture
def make_checker(tmp_path: Path) -> Iterator[Callable[..., CreditChecker]]:
    made: list[CreditChecker] = []

    def make(fake: FakePlatform, **settings: Any) -> CreditChecker:
        checker = fake.checker(
            tmp_path / f"cc{len(made)}", http=True, timeout=5.0, offline=False, **settings
        )
        made.append(checker)
        return checker

    yield make
    for checker in made:
        checker.close(timeout=1)


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def through(proxy: ForwardProxy, what: str) -> list[tuple[str, str]]:
    return [seen for seen in proxy.seen if what in seen[1]]


def test_http_proxy_from_the_environment(
    fake: FakePlatform,
    proxy: ForwardProxy,
    make_checker: Callable[..., CreditChecker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    checker = make_checker(fake)
    decision = checker.must_check(ORG, "bidding")
    assert decision.source == "live"
    assert through(proxy, f"/api/v1/subjects/{ORG}/profile")
    assert checker.health()["configuration"]["proxy"] == proxy.url()


def test_no_proxy_is_respected(
    fake: FakePlatform,
    proxy: ForwardProxy,
    make_checker: Callable[..., CreditChecker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    checker = make_checker(fake)
    assert checker.must_check(ORG, "bidding").source == "live"
    assert proxy.seen == []
    assert checker.health()["configuration"]["proxy"] is None


def test_a_change_of_the_environment_counts_from_the_next_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The environment's proxy is kept between requests only while the variables it
    # was worked out from stay the same (any case: urllib reads them so).
    url = "http://127.0.0.1:8700/api/v1/health"
    assert proxy_for(None, url) is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy-a.example:3128")
    assert proxy_for(None, url) == "http://proxy-a.example:3128"
    monkeypatch.setenv("HTTP_PROXY", "http://proxy-b.example:3128")
    assert proxy_for(None, url) == "http://proxy-b.example:3128"
    assert proxy_for(None, "https://127.0.0.1:8700/api") is None  # no HTTPS_PROXY
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert proxy_for(None, url) is None
    assert proxy_for(None, "http://credit.example/api") == "http://proxy-b.example:3128"
    monkeypatch.delenv("no_proxy")
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setenv("Http_Proxy", "http://proxy-c.example:3128")
    assert proxy_for(None, url) == "http://proxy-c.example:3128"
    monkeypatch.setenv("REQUEST_METHOD", "GET")  # a CGI script: HTTP_PROXY is not trusted
    assert proxy_for(None, url) is None
    monkeypatch.delenv("REQUEST_METHOD")
    monkeypatch.delenv("Http_Proxy")
    assert proxy_for(None, url) is None


def test_the_setting_wins_over_the_environment(
    fake: FakePlatform,
    proxy: ForwardProxy,
    make_checker: Callable[..., CreditChecker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The environment names a proxy that is not there, and NO_PROXY would bypass any.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    checker = make_checker(fake, proxy=proxy.url())
    assert checker.must_check(ORG, "bidding").source == "live"
    assert through(proxy, "/profile")


def test_the_setting_from_credit_check_proxy(
    fake: FakePlatform, proxy: ForwardProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDIT_CHECK_PROXY", proxy.url())
    settings = Settings.build(
        base_url=fake.serve(),
        app_id=fake.app_id,
        app_secret=fake.app_secret,
        agency_id=fake.agency_id,
        data_dir=tmp_path / "cc",
        offline=False,
    )
    assert settings.proxy == proxy.url()
    with CreditChecker(settings) as checker:
        assert checker.must_check(ORG, "bidding").source == "live"
    assert through(proxy, "/profile")


def test_direct_ignores_the_environment(
    fake: FakePlatform,
    proxy: ForwardProxy,
    make_checker: Callable[..., CreditChecker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    checker = make_checker(fake, proxy="direct")
    assert checker.must_check(ORG, "bidding").source == "live"
    assert proxy.seen == []


def test_a_proxy_that_wants_credentials_gets_them_and_health_hides_the_password(
    fake: FakePlatform, make_checker: Callable[..., CreditChecker]
) -> None:
    with forward_proxy(credentials="agency:pa55w0rd") as guarded:
        checker = make_checker(fake, proxy=guarded.url("agency:pa55w0rd"))
        assert checker.must_check(ORG, "bidding").source == "live"
        assert guarded.refused == 0
        assert through(guarded, "/profile")
        shown = checker.health()["configuration"]["proxy"]
    assert shown == f"http://agency:***@127.0.0.1:{guarded.port}"


@pytest.mark.parametrize("bad", ["ftp://proxy.example:21", "proxy.example:3128", "http://"])
def test_a_malformed_proxy_setting_is_refused_at_start(bad: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.build(
            {"CREDIT_CHECK_PROXY": bad},
            base_url="https://credit.example/api",
            app_id="app",
            app_secret="secret",
            agency_id="zs-fgj",
        )
    assert caught.value.variable == "CREDIT_CHECK_PROXY"


def test_a_missing_ca_bundle_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.build(
            base_url="https://credit.example/api",
            app_id="app",
            app_secret="secret",
            agency_id="zs-fgj",
            verify_tls=str(tmp_path / "missing-ca.pem"),
        )
    assert caught.value.variable == "CREDIT_CHECK_CA_BUNDLE"


# --- HTTPS through a CONNECT tunnel, with the agency's private CA ------------------------


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    ca = trustme.CA(organization_name="Agency private CA")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    bundle = tmp_path_factory.mktemp("ca") / "agency-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return context, bundle


def test_https_through_connect_with_the_private_ca(
    proxy: ForwardProxy, private_ca: tuple[ssl.SSLContext, Path]
) -> None:
    context, bundle = private_ca
    with raw_server({"/v1/health": json_answer(HEALTH)}, tls=context) as server:
        client = PlatformClient(
            server.url(), "app", "secret", timeout=5.0, verify_tls=str(bundle), proxy=proxy.url()
        )
        assert client.health() == HEALTH
        client.close()
        assert proxy.seen == [("CONNECT", f"127.0.0.1:{server.port}")]
        # Without the agency's CA the platform's certificate is not trusted, tunnel or not.
        untrusting = PlatformClient(server.url(), "app", "secret", timeout=5.0, proxy=proxy.url())
        with pytest.raises(ConnectError, match="certificate"):
            untrusting.health()
        untrusting.close()


def test_the_deadline_holds_through_a_tunnel(
    proxy: ForwardProxy, private_ca: tuple[ssl.SSLContext, Path]
) -> None:
    context, bundle = private_ca
    with raw_server({"/v1/health": drip_head(HEALTH)}, tls=context) as server:
        client = PlatformClient(
            server.url(), "app", "secret", timeout=1.5, verify_tls=str(bundle), proxy=proxy.url()
        )
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError):
            client.health()
        elapsed = time.monotonic() - started
        client.close()
    assert elapsed <= 1.5 + 0.5
