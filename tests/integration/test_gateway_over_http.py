"""The proxy and the API both served by uvicorn, requests sent as raw bytes where an HTTP
client would tidy them: exclusion bypass attempts, bad input of every component."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from src.storage import OAuthGrantType, ProxyTarget, RegisteredClient, UnifiedStorage

from .conftest import LoopbackServer, proxy_app


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_request(port: int, request_line: bytes, *header_lines: bytes) -> RawResponse:
    """Send one request exactly as given (no normalisation), read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_line + b"\r\n" + b"".join(line + b"\r\n" for line in header_lines))
        writer.write(b"Connection: close\r\n\r\n")
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = (line.split(":", 1) for line in lines)
    headers = {name.lower(): value.strip() for name, value in fields}
    if headers.get("transfer-encoding") == "chunked":
        body = dechunked(body)
    return RawResponse(int(status_line.split(" ")[1]), headers, body)


def dechunked(body: bytes) -> bytes:
    """A chunked body's content (no trailers expected)."""
    content = b""
    while True:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return content
        content += rest[:size]
        body = rest[size + 2 :]


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """An upstream that answers with the headers it received."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body", False):
        pass
    headers = [[name.decode(), value.decode()] for name, value in scope["headers"]]
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"connection", b"x-upstream-hop"),
                (b"x-upstream-hop", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(headers).encode()})


@pytest.fixture
def proxy_server(storage: UnifiedStorage) -> Iterator[LoopbackServer]:
    """The proxy, served over HTTP; its lifespan closes its forwarding client."""
    app = proxy_app(storage)
    with LoopbackServer(app, proxy_headers=False).running() as server:
        yield server


@pytest.fixture
async def gateway(
    proxy_server: LoopbackServer,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the proxy server, for the `localhost` host (the API, in-process)."""
    async with httpx.AsyncClient(base_url=proxy_server.url, headers={"Host": "localhost"}) as c:
        yield c


@pytest.fixture
async def registered(storage: UnifiedStorage) -> RegisteredClient:
    return await storage.aregister_oauth_client("cli", [OAuthGrantType.REFRESH_TOKEN])


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (b"/tokens/x", 401),
        (b"//token", 401),
        (b"/healthz", 401),
        (b"/registered", 401),
        (b"/oauth/status", 401),
        # Refused outright: the proxy forwards no path it would have to rewrite.
        (b"/token/../oauth/status", 400),
        (b"/%2Ftoken", 400),
        (b"/%2e%2e/oauth/status", 400),
        (b"/token/%2e%2e/oauth/status", 400),
        (b"/./token", 400),
    ],
)
async def test_exclusion_bypass_attempts_stay_protected(
    gateway: httpx.AsyncClient, proxy_server: LoopbackServer, target: bytes, status: int
) -> None:
    response = await raw_request(
        proxy_server.port, b"GET " + target + b" HTTP/1.1", b"Host: localhost"
    )
    assert response.status == status
    if status == 401:
        assert response.headers["www-authenticate"] == (
            'Bearer resource_metadata="http://localhost/.well-known/oauth-protected-resource"'
        )


async def test_excluded_paths_reach_the_api(
    gateway: httpx.AsyncClient, proxy_server: LoopbackServer
) -> None:
    health = await raw_request(proxy_server.port, b"GET /health HTTP/1.1", b"Host: localhost")
    assert (health.status, json.loads(health.body)) == (
        200,
        {"status": "ok", "storage": True, "defaults": True},
    )
    # The API itself answers: only POST is routed at /token.
    token = await raw_request(proxy_server.port, b"GET /token HTTP/1.1", b"Host: localhost")
    assert token.status == 405


async def test_host_errors(
    storage: UnifiedStorage, gateway: httpx.AsyncClient, proxy_server: LoopbackServer
) -> None:
    unknown = await raw_request(proxy_server.port, b"GET / HTTP/1.1", b"Host: nobody.example")
    assert (unknown.status, unknown.body) == (404, b"no proxy target for this host\n")
    bad = await raw_request(proxy_server.port, b"GET / HTTP/1.1", b"Host: bad_host")
    assert (bad.status, bad.body) == (
        400,
        b"the Host header is not a hostname with an optional port\n",
    )
    await storage.astore_proxy_target(
        ProxyTarget(hostname="off.example", target_url="http://127.0.0.1:1", enabled=False)
    )
    disabled = await raw_request(proxy_server.port, b"GET / HTTP/1.1", b"Host: off.example")
    assert disabled.status == 503


async def test_upstream_down(
    storage: UnifiedStorage, proxy_server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    await storage.astore_proxy_target(
        ProxyTarget(hostname="down.example", target_url=f"http://127.0.0.1:{closed}")
    )
    with caplog.at_level(logging.WARNING, logger="src.proxy"):
        response = await raw_request(
            proxy_server.port, b"GET /x?secret=s3cr3t HTTP/1.1", b"Host: down.example"
        )
    assert response.status == 502
    assert "s3cr3t" not in caplog.text


async def test_headers_over_http(storage: UnifiedStorage, proxy_server: LoopbackServer) -> None:
    with LoopbackServer(echo).running() as upstream:
        await storage.astore_proxy_target(
            ProxyTarget(
                hostname="echo.example",
                target_url=upstream.url,
                custom_headers={"X-Gateway": "yes"},
            )
        )
        response = await raw_request(
            proxy_server.port,
            b"GET /h HTTP/1.1",
            b"Host: Echo.Example:8080",
            b"Keep-Alive: timeout=5",
            b"X-Hop: 1",
            b"Connection: X-Hop",
            b"Proxy-Authorization: Basic eDp5",
            b"TE: trailers",
            b"X-Forwarded-For: 198.51.100.9",
            b"X-Forwarded-Host: evil.example",
            b"X-Kept: 1",
        )
    assert response.status == 200
    assert "x-upstream-hop" not in response.headers
    seen = dict(json.loads(response.body))
    for dropped in ["keep-alive", "x-hop", "proxy-authorization", "te"]:
        assert dropped not in seen
    assert "connection" not in seen
    # The client is no trusted proxy: what it said of itself is replaced.
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == "Echo.Example:8080"
    assert seen["x-real-ip"] == "127.0.0.1"
    assert seen["forwarded"] == 'for=127.0.0.1;host="Echo.Example:8080";proto=http'
    assert (seen["x-kept"], seen["x-gateway"]) == ("1", "yes")
    assert seen["host"] == upstream.url.removeprefix("http://")


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "x" * 8000}, 400, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "a\nb"}, 400, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "a b"}, 400, "invalid_grant"),
    ],
)
async def test_malformed_token_requests_through_the_proxy(
    gateway: httpx.AsyncClient,
    registered: RegisteredClient,
    data: dict[str, str],
    status: int,
    error: str,
) -> None:
    response = await gateway.post(
        "/token",
        data={
            **data,
            "client_id": registered.client.client_id,
            "client_secret": registered.client_secret,
        },
    )
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert registered.client_secret not in response.text


async def test_bad_client_secret_through_the_proxy(
    gateway: httpx.AsyncClient, registered: RegisteredClient, storage: UnifiedStorage
) -> None:
    issued = await storage.aissue_token_pair(registered.client.client_id, "alice", "", 60, 600)
    assert issued.refresh_token is not None
    wrong_secret = "W" * 43
    response = await gateway.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": issued.refresh_token,
            "client_id": registered.client.client_id,
            "client_secret": wrong_secret,
        },
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert response.headers["www-authenticate"] == 'Basic realm="oauth"'
    for secret in [wrong_secret, registered.client_secret, issued.refresh_token]:
        assert secret not in response.text


@pytest.mark.parametrize(
    "authorization", [b"Bearer ", b"Bearer " + b"x" * 7000, b"Bearer a b", b"Bearer \xff"]
)
async def test_hostile_bearer_tokens_through_the_proxy(
    gateway: httpx.AsyncClient, proxy_server: LoopbackServer, authorization: bytes
) -> None:
    response = await raw_request(
        proxy_server.port,
        b"GET /oauth/status HTTP/1.1",
        b"Host: localhost",
        b"Authorization: " + authorization,
    )
    assert response.status == 401
    assert response.headers["www-authenticate"] == (
        'Bearer error="invalid_token", '
        'resource_metadata="http://localhost/.well-known/oauth-protected-resource"'
    )
