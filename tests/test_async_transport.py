"""The async client's transport (httpx) against real sockets: the default transport's duties.

The same servers as the sync network tests (``tests/netfaults.py``): a
forwarding proxy (absolute-form HTTP and ``CONNECT``), a TLS server with a
private CA, servers that drip, hang, or send a gzip bomb or a body without end.
The whole exchange stays within the deadline, bodies within their limit, and
proxies are chosen as the sync client chooses them.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme

from credit_check_sdk import (
    ConnectError,
    InvalidResponseError,
    RequestTimeoutError,
)
from credit_check_sdk._async_client import AsyncPlatformClient
from credit_check_sdk._client import PlatformClient
from credit_check_sdk._transports.httpx_async import AsyncHttpxTransport
from tests.netfaults import (
    ForwardProxy,
    drip_body,
    drip_head,
    endless,
    forward_proxy,
    gzip_bomb,
    hang,
    json_answer,
    raw_server,
)

pytestmark = pytest.mark.anyio

HEALTH = {"status": "ok", "time": "2026-11-29T08:00:00+08:00"}
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
LIMIT = 256 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with forward_proxy() as running:
        yield running


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    ca = trustme.CA(organization_name="Agency private CA")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    bundle = tmp_path_factory.mktemp("ca") / "agency-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return context, bundle


def client_for(
    url: str, *, timeout: float = 5.0, verify: bool | str = True, proxy: str | None = None
) -> AsyncPlatformClient:
    sync = PlatformClient(
        url, "app", "secret", timeout=timeout, max_response_bytes=LIMIT, allow_insecure_http=True
    )
    return AsyncPlatformClient(sync, AsyncHttpxTransport(verify=verify, proxy=proxy))


async def health(client: AsyncPlatformClient) -> Any:
    response = await client.request("GET", "/v1/health")
    return client.client._json(response, "health")


# --- proxies, as the sync client chooses them ----------------------------------------------


async def test_the_proxy_from_the_environment_and_no_proxy(
    proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    with raw_server({"/v1/health": json_answer(HEALTH)}) as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        client = client_for(server.url())
        assert await health(client) == HEALTH
        assert [s for s in proxy.seen if "/api/v1/health" in s[1]]
        seen = len(proxy.seen)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert await health(client) == HEALTH
        assert len(proxy.seen) == seen  # straight there now (read per request)
        await client.aclose()


async def test_direct_ignores_the_environment(
    proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    with raw_server({"/v1/health": json_answer(HEALTH)}) as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        client = client_for(server.url(), proxy="direct")
        assert await health(client) == HEALTH
        assert proxy.seen == []
        await client.aclose()


async def test_a_proxy_that_wants_credentials_gets_them() -> None:
    with (
        raw_server({"/v1/health": json_answer(HEALTH)}) as server,
        forward_proxy(credentials="agency:pa55w0rd") as guarded,
    ):
        client = client_for(server.url(), proxy=guarded.url("agency:pa55w0rd"))
        assert await health(client) == HEALTH
        assert guarded.refused == 0
        await client.aclose()


async def test_https_through_connect_with_the_private_ca(
    proxy: ForwardProxy, private_ca: tuple[ssl.SSLContext, Path]
) -> None:
    context, bundle = private_ca
    with raw_server({"/v1/health": json_answer(HEALTH)}, tls=context) as server:
        client = client_for(server.url(), verify=str(bundle), proxy=proxy.url())
        assert await health(client) == HEALTH
        await client.aclose()
        assert proxy.seen == [("CONNECT", f"127.0.0.1:{server.port}")]
        # Without the agency's CA the platform's certificate is not trusted, tunnel or not.
        untrusting = client_for(server.url(), proxy=proxy.url())
        with pytest.raises(ConnectError, match=r"(?i)certificate"):
            await health(untrusting)
        await untrusting.aclose()


# --- the deadline bounds the whole exchange --------------------------------------------


@pytest.mark.parametrize("behaviour", [drip_head(HEALTH, 0.2), drip_body(HEALTH, 0.2), hang()])
async def test_the_deadline_holds_whatever_the_server_does(behaviour: Any) -> None:
    with raw_server({"/v1/health": behaviour}) as server:
        client = client_for(server.url(), timeout=1.0)
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError):
            await health(client)
        elapsed = time.monotonic() - started
        await client.aclose()
    assert 0.9 <= elapsed <= 1.0 + 0.5


async def test_the_deadline_holds_through_a_tunnel(
    proxy: ForwardProxy, private_ca: tuple[ssl.SSLContext, Path]
) -> None:
    context, bundle = private_ca
    with raw_server({"/v1/health": drip_head(HEALTH)}, tls=context) as server:
        client = client_for(server.url(), timeout=1.5, verify=str(bundle), proxy=proxy.url())
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError):
            await health(client)
        elapsed = time.monotonic() - started
        await client.aclose()
    assert elapsed <= 1.5 + 0.5


async def test_end_requests_cuts_a_request_in_flight() -> None:
    with raw_server({"/v1/health": hang()}) as server:
        client = client_for(server.url(), timeout=30.0)
        started = time.monotonic()

        async def shut_down_soon() -> None:
            await anyio.sleep(0.3)
            client.end_requests(within=0.2)

        async with anyio.create_task_group() as group:
            group.start_soon(shut_down_soon)
            with pytest.raises(RequestTimeoutError):
                await health(client)
        assert time.monotonic() - started < 2
        await client.aclose()


# --- bodies within their limit ----------------------------------------------------------


async def test_a_gzip_bomb_and_an_endless_body_are_refused_at_the_limit() -> None:
    routes = {"/v1/bomb": gzip_bomb(64 * 1024 * 1024), "/v1/endless": endless(64 * 1024 * 1024)}
    with raw_server(routes) as server:
        client = client_for(server.url())
        with pytest.raises(InvalidResponseError, match="once inflated"):
            await client.request("GET", "/v1/bomb")
        with pytest.raises(InvalidResponseError, match="exceeds the limit"):
            await client.request("GET", "/v1/endless")
        await client.aclose()


async def test_an_answer_in_html_breaks_the_contract() -> None:
    page = json_answer(HEALTH, ctype="text/html")
    with raw_server({"/v1/health": page}) as server:
        client = client_for(server.url())
        with pytest.raises(InvalidResponseError, match="text/html"):
            await health(client)
        await client.aclose()
