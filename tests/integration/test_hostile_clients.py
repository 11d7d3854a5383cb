"""Hostile clients against the proxy under uvicorn, over raw loopback sockets: bodies that
idle, bodies past the limit, clients that go away, and requests framed or addressed so
that servers would read them differently. Backends are raw sockets that record what
reaches them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from src.api.async_init import AsyncComponents
from src.integration import build_gateway
from src.proxy.settings import ProxySettings
from src.storage import OAuthGrantType, ProxyTarget, UnifiedStorage

from .conftest import LoopbackServer
from .peers import (
    BOUND,
    FLOOD_SIZE,
    Mode,
    RawBackend,
    assert_clean_log,
    eventually,
    exchange,
    gateway_log,
    get,
    proxy_serving,
    raw_connection,
    read_response,
    serving,
)

BODY_TIMEOUT = 0.5
LIMIT = 1000
SETTINGS = ProxySettings(body_timeout=BODY_TIMEOUT, max_body_size=LIMIT, upstream_timeout=3.0)
TOO_LARGE = f"the request body exceeds this host's limit of {LIMIT} bytes\n".encode()
PROMPT = 2.0
"""Seconds within which an answer that nothing should delay arrives (a generous bound)."""


@pytest.fixture
def backend() -> Iterator[RawBackend]:
    with RawBackend().running() as server:
        yield server


@pytest.fixture
async def app_host(storage: UnifiedStorage, backend: RawBackend) -> str:
    await storage.astore_proxy_target(
        ProxyTarget(hostname="app.example", target_url=f"{backend.url}/base/")
    )
    return "app.example"


@pytest.fixture
def proxy(storage: UnifiedStorage, app_host: str) -> Iterator[LoopbackServer]:
    with proxy_serving(storage, SETTINGS) as server:
        yield server


def post_head(host: str, path: str, *header_lines: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", *header_lines]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


# Bodies: idle and oversized.


@pytest.mark.parametrize(("host", "path"), [("app.example", "/upload"), ("localhost", "/token")])
@pytest.mark.parametrize(
    ("framing", "start"),
    [("Content-Length: 500", b"grant_type="), ("Transfer-Encoding: chunked", chunk(b"grant"))],
)
async def test_an_idle_body_gets_408(
    proxy: LoopbackServer,
    backend: RawBackend,
    host: str,
    path: str,
    framing: str,
    start: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with raw_connection(proxy.port) as (reader, writer):
        writer.write(post_head(host, path, framing) + start)
        started = time.monotonic()
        response = await read_response(reader)
        waited = time.monotonic() - started
    assert response.status == 408
    assert response.headers["connection"] == "close"
    assert BODY_TIMEOUT <= waited < BODY_TIMEOUT + PROMPT
    assert not any(seen.complete for seen in backend.seen)
    assert_clean_log(caplog)


async def test_slow_bodies_stall_nobody_else(
    proxy: LoopbackServer, backend: RawBackend, storage: UnifiedStorage
) -> None:
    # Each slow client holds its request open with a trickle, then idles past the timeout.
    async def slow_client(host: str, path: str) -> tuple[int, float]:
        async with raw_connection(proxy.port) as (reader, writer):
            started = time.monotonic()
            writer.write(post_head(host, path, "Content-Length: 900") + b"a")
            await writer.drain()
            response = await read_response(reader)
            return response.status, time.monotonic() - started

    slow = [
        asyncio.ensure_future(slow_client(host, path))
        for _ in range(20)
        for host, path in [("app.example", "/upload"), ("localhost", "/token")]
    ]
    await asyncio.sleep(0.1)
    with RawBackend().running() as other:
        await storage.astore_proxy_target(
            ProxyTarget(hostname="other.example", target_url=other.url)
        )
        async with httpx.AsyncClient(base_url=proxy.url, timeout=BOUND) as client:
            started = time.monotonic()
            health, answered = await asyncio.gather(
                client.get("/health", headers={"Host": "localhost"}),
                client.get("/x", headers={"Host": "other.example"}),
            )
            elapsed = time.monotonic() - started
    assert (health.status_code, answered.status_code) == (200, 200)
    assert elapsed < PROMPT
    outcomes = await asyncio.gather(*slow)
    assert {status for status, _ in outcomes} == {408}
    # Each ends by its timeout (generous: 40 connections open and close meanwhile).
    assert max(waited for _, waited in outcomes) < BODY_TIMEOUT + 2 * PROMPT


@pytest.mark.parametrize(("host", "path"), [("app.example", "/upload"), ("localhost", "/token")])
async def test_a_declared_oversized_body_is_refused_before_it_is_read(
    proxy: LoopbackServer, backend: RawBackend, host: str, path: str
) -> None:
    async with raw_connection(proxy.port) as (reader, writer):
        # Not one byte of the body is sent: a proxy that waited for it would answer 408.
        writer.write(post_head(host, path, f"Content-Length: {LIMIT + 1}"))
        started = time.monotonic()
        response = await read_response(reader)
        waited = time.monotonic() - started
    assert response.status == 413
    assert response.body == TOO_LARGE
    assert response.headers["connection"] == "close"
    assert waited < BODY_TIMEOUT
    assert backend.accepted == 0


@pytest.mark.parametrize(("host", "path"), [("app.example", "/upload"), ("localhost", "/token")])
async def test_a_chunked_body_is_cut_at_the_limit(
    proxy: LoopbackServer, backend: RawBackend, host: str, path: str
) -> None:
    async with raw_connection(proxy.port) as (reader, writer):
        writer.write(post_head(host, path, "Transfer-Encoding: chunked"))
        for _ in range(LIMIT // 100 + 1):
            writer.write(chunk(b"x" * 100))
        # Neither the last chunk nor more: the proxy answers once the limit is passed.
        response = await read_response(reader)
    assert response.status == 413
    assert response.headers["connection"] == "close"
    # Whatever part reached the backend, it never got a whole body past the limit.
    assert not any(seen.complete for seen in backend.seen)
    assert all(len(seen.body) <= LIMIT for seen in backend.seen)


async def test_a_targets_own_limit_overrides_the_default(
    proxy: LoopbackServer, backend: RawBackend, storage: UnifiedStorage
) -> None:
    await storage.astore_proxy_target(
        ProxyTarget(hostname="big.example", target_url=backend.url, max_body_size=3 * LIMIT)
    )
    await storage.astore_proxy_target(
        ProxyTarget(hostname="small.example", target_url=backend.url, max_body_size=10)
    )
    body = b"y" * (2 * LIMIT)
    async with httpx.AsyncClient(base_url=proxy.url, timeout=BOUND) as client:
        big = await client.post("/in", content=body, headers={"Host": "big.example"})
        default = await client.post("/in", content=body, headers={"Host": "app.example"})
        small = await client.post("/in", content=b"z" * 11, headers={"Host": "small.example"})
        fits = await client.post("/in", content=b"z" * 10, headers={"Host": "small.example"})
    assert (big.status_code, default.status_code) == (200, 413)
    assert (small.status_code, small.text) == (
        413,
        "the request body exceeds this host's limit of 10 bytes\n",
    )
    assert fits.status_code == 200
    assert [seen.body for seen in backend.seen] == [body, b"z" * 10]


# Clients that go away.


async def test_a_client_leaving_a_streamed_response_closes_the_upstream(
    storage: UnifiedStorage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with RawBackend(Mode.STREAM).running() as stream, proxy_serving(storage, SETTINGS) as proxy:
        await storage.astore_proxy_target(ProxyTarget(hostname="s.example", target_url=stream.url))
        async with raw_connection(proxy.port) as (reader, writer):
            writer.write(get(b"/feed", b"s.example"))
            async with asyncio.timeout(BOUND):
                await reader.readuntil(b"chunk\n")
        left = time.monotonic()
        assert await eventually(lambda: stream.seen[0].closed_at is not None)
        closed_at = stream.seen[0].closed_at
        assert closed_at is not None
        assert closed_at - left < PROMPT
    went_away = [r for r in gateway_log(caplog) if "went away" in r.getMessage()]
    assert len(went_away) <= 1
    assert_clean_log(caplog)


async def test_a_client_that_reads_nothing_holds_back_its_upstream(
    storage: UnifiedStorage,
) -> None:
    # The proxy takes from the upstream only what the client takes from it, plus buffers.
    with RawBackend(Mode.FLOOD).running() as flood, proxy_serving(storage, SETTINGS) as proxy:
        await storage.astore_proxy_target(ProxyTarget(hostname="f.example", target_url=flood.url))
        async with raw_connection(proxy.port) as (reader, writer):
            writer.write(get(b"/big", b"f.example"))
            async with asyncio.timeout(BOUND):
                await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(1)
            held_back = flood.seen[0].sent
            async with asyncio.timeout(BOUND * 4):
                received = len(await reader.readexactly(FLOOD_SIZE))
    assert held_back < FLOOD_SIZE / 2
    assert (received, flood.seen[0].sent) == (FLOOD_SIZE, FLOOD_SIZE)


async def test_a_client_leaving_mid_body_cancels_the_upstream_request(
    storage: UnifiedStorage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # A long idle timeout: only the disconnect itself can end the upstream request in time.
    settings = ProxySettings(body_timeout=30.0, upstream_timeout=30.0)
    with RawBackend().running() as backend, proxy_serving(storage, settings) as proxy:
        await storage.astore_proxy_target(
            ProxyTarget(hostname="up.example", target_url=backend.url)
        )
        async with raw_connection(proxy.port) as (_, writer):
            writer.write(post_head("up.example", "/in", "Content-Length: 10000") + b"q" * 100)
            await writer.drain()
            assert await eventually(lambda: len(backend.seen) == 1)
        left = time.monotonic()
        assert await eventually(lambda: backend.seen[0].closed_at is not None)
        closed_at = backend.seen[0].closed_at
        assert closed_at is not None
        assert closed_at - left < PROMPT
        assert not backend.seen[0].complete
    went_away = [r for r in gateway_log(caplog) if "went away" in r.getMessage()]
    assert len(went_away) == 1
    assert_clean_log(caplog)


async def test_a_client_leaving_before_the_upstream_answers_frees_the_connection(
    storage: UnifiedStorage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = ProxySettings(upstream_timeout=30.0)
    with RawBackend(Mode.HANG).running() as backend, proxy_serving(storage, settings) as proxy:
        await storage.astore_proxy_target(ProxyTarget(hostname="h.example", target_url=backend.url))
        async with raw_connection(proxy.port) as (_, writer):
            writer.write(get(b"/slow", b"h.example"))
            await writer.drain()
            assert await eventually(lambda: len(backend.seen) == 1)
        left = time.monotonic()
        assert await eventually(lambda: backend.seen[0].closed_at is not None)
        closed_at = backend.seen[0].closed_at
        assert closed_at is not None
        assert closed_at - left < PROMPT
    went_away = [r for r in gateway_log(caplog) if "went away" in r.getMessage()]
    assert len(went_away) == 1
    assert_clean_log(caplog)


# Strict HTTP.


async def test_content_length_with_transfer_encoding_is_refused(
    proxy: LoopbackServer, backend: RawBackend, caplog: pytest.LogCaptureFixture
) -> None:
    request = (
        post_head("app.example", "/in", "Content-Length: 4", "Transfer-Encoding: chunked")
        + chunk(b"smuggled")
        + b"0\r\n\r\n"
    )
    response = await exchange(proxy.port, request)
    assert response.status == 400
    assert response.body == b"a request must not have both Content-Length and Transfer-Encoding\n"
    assert backend.accepted == 0
    assert_clean_log(caplog)


@pytest.mark.parametrize(
    "target",
    [
        b"/../admin",
        b"/a/./b",
        b"/a/..",
        b"/a/%2e%2e/admin",
        b"/a/.%2E/admin",
        b"/%2e/x",
        b"/a/..;x=1/admin",
        b"/a%2Fb",
        b"/a%2fb",
        b"/a%5Cb",
        b"/a\\b",
        b"/a#frag",
        b"/a?x=1#frag",
        b"http://127.0.0.1:1/admin",
        b"*",
    ],
)
async def test_request_targets_that_would_be_rewritten_are_refused(
    proxy: LoopbackServer, backend: RawBackend, target: bytes
) -> None:
    response = await exchange(proxy.port, get(target, b"app.example"))
    assert response.status == 400
    assert backend.accepted == 0


@pytest.mark.parametrize(
    "target",
    [
        b"/a%20b;p=1/%7E~/x",
        b'/a%20b;p=1/%7E~/x?q=%zz&r="<>|^{}`&s=%2F/.%2e/?&t=%7e',
        b"/?x",
        b"/",
        b"/a//b/",
        b"/.well-known./x..y/.z",
    ],
)
async def test_a_valid_target_reaches_the_backend_byte_for_byte(
    proxy: LoopbackServer, backend: RawBackend, target: bytes
) -> None:
    response = await exchange(proxy.port, get(target, b"app.example"))
    assert response.status == 200
    assert [seen.target for seen in backend.seen] == [b"/base" + target]


@pytest.mark.parametrize("path", ["/token", "/mcp"])
async def test_a_client_leaving_mid_body_of_the_api_is_one_line(
    storage: UnifiedStorage,
    components: AsyncComponents,
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    caplog.set_level(logging.INFO)
    registered = await storage.aregister_oauth_client("cli", [OAuthGrantType.REFRESH_TOKEN])
    issued = await storage.aissue_token_pair(registered.client.client_id, "alice", "", 60, 600)
    gateway = build_gateway(components, ProxySettings(body_timeout=30.0))
    with serving(gateway.proxy) as proxy:
        async with raw_connection(proxy.port) as (_, writer):
            head = post_head(
                "localhost",
                path,
                "Content-Length: 900",
                "Content-Type: application/json",
                f"Authorization: Bearer {issued.access_token}",
            )
            writer.write(head + b'{"jsonrpc": ')
            await writer.drain()
            await asyncio.sleep(0.2)
        assert await eventually(lambda: any("went away" in r.getMessage() for r in caplog.records))
    went_away = [r.getMessage() for r in gateway_log(caplog) if "went away" in r.getMessage()]
    assert went_away == ["client 127.0.0.1 went away during its request"]
    assert_clean_log(caplog, issued.access_token)


async def test_the_log_names_no_secret(
    proxy: LoopbackServer,
    backend: RawBackend,
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await storage.astore_proxy_target(
        ProxyTarget(hostname="gone.example", target_url=f"http://127.0.0.1:{closed_port}/pr1vate")
    )
    await storage.astore_proxy_target(
        ProxyTarget(
            hostname="auth.example", target_url=f"http://127.0.0.1:{closed_port}", auth_enabled=True
        )
    )
    raw.set(f"{namespace}:proxy:bad.example", b"{not json")
    query = b"/p4th?access_token=qu3ry&password=pa55"
    cookie = b"Cookie: gateway_session=c00kie"
    requests = [
        get(query, b"gone.example", b"Authorization: Bearer t0ken", cookie),
        get(query, b"auth.example", b"Authorization: Bearer t0ken", cookie),
        get(query, b"bad.example", b"Authorization: Bearer t0ken"),
        get(query, b"nobody.example"),
        get(b"/p4th/../x?password=pa55", b"gone.example"),
        post_head("gone.example", query.decode(), f"Content-Length: {LIMIT + 1}"),
    ]
    for request in requests:
        assert (await exchange(proxy.port, request)).status in (400, 401, 404, 413, 502)
    async with raw_connection(proxy.port) as (reader, writer):
        writer.write(post_head("localhost", "/token?password=pa55", "Content-Length: 10") + b"x")
        assert (await read_response(reader)).status == 408
    async with raw_connection(proxy.port) as (_, writer):
        writer.write(post_head("app.example", query.decode(), "Content-Length: 10") + b"x")
    assert await eventually(lambda: any("went away" in r.getMessage() for r in caplog.records))
    logged = [record.getMessage() for record in gateway_log(caplog)]
    # The log says what happened, with hosts and addresses only.
    assert any("gone.example failed: ConnectError" in line for line in logged)
    assert any(f"{namespace}:proxy:bad.example" in line for line in logged)
    assert_clean_log(caplog, "t0ken", "qu3ry", "pa55", "c00kie", "p4th", "pr1vate")


@pytest.mark.parametrize(
    ("host", "path", "status"),
    [
        ("auth.example", "/x", 401),
        ("nobody.example", "/x", 404),
        ("gone.example", "/x", 502),
        ("bad.example", "/x", 502),
        ("localhost", "/health", 405),
    ],
)
async def test_an_answer_that_leaves_the_body_unread_closes_the_connection(
    proxy: LoopbackServer,
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    closed_port: int,
    host: str,
    path: str,
    status: int,
) -> None:
    # Else the server would read and discard the body at the client's pace, with no
    # timeout: a client could hold the connection for as long as it trickles bytes.
    await storage.astore_proxy_target(
        ProxyTarget(hostname="auth.example", target_url="http://127.0.0.1:1", auth_enabled=True)
    )
    await storage.astore_proxy_target(
        ProxyTarget(hostname="gone.example", target_url=f"http://127.0.0.1:{closed_port}")
    )
    raw.set(f"{namespace}:proxy:bad.example", b"{not json")
    async with raw_connection(proxy.port) as (reader, writer):
        writer.write(post_head(host, path, f"Content-Length: {LIMIT - 1}") + b"x")
        response = await read_response(reader)
        assert (response.status, response.headers.get("connection")) == (status, "close")
        async with asyncio.timeout(PROMPT):
            assert await reader.read() == b""
