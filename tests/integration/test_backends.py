"""Slow, hanging and missing backends behind the proxy under uvicorn: each proxy target has
its own upstream pool, so a hanging one fills its pool and nobody else's."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest

from src.proxy.settings import ProxySettings
from src.storage import ProxyTarget, UnifiedStorage

from .peers import (
    BOUND,
    Mode,
    RawBackend,
    assert_clean_log,
    eventually,
    get,
    proxy_serving,
    raw_connection,
)

POOL = 2
POOL_TIMEOUT = 0.3
UPSTREAM_TIMEOUT = 2.0
SETTINGS = ProxySettings(
    upstream_connections=POOL,
    upstream_pool_timeout=POOL_TIMEOUT,
    upstream_timeout=UPSTREAM_TIMEOUT,
)
PROMPT = 1.5
"""Seconds within which an answer nothing should delay arrives: generous, yet below the
time the hanging backend holds its requests."""


async def timed(client: httpx.AsyncClient, host: str, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.get(path, headers={"Host": host})
    return response, time.monotonic() - started


async def test_a_hanging_target_fills_its_own_pool_only(
    storage: UnifiedStorage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with (
        RawBackend(Mode.HANG).running() as hanging,
        RawBackend().running() as healthy,
        proxy_serving(storage, SETTINGS) as proxy,
    ):
        await storage.astore_proxy_target(
            ProxyTarget(hostname="hang.example", target_url=hanging.url)
        )
        await storage.astore_proxy_target(
            ProxyTarget(hostname="fine.example", target_url=healthy.url)
        )
        async with httpx.AsyncClient(base_url=proxy.url, timeout=BOUND) as client:
            held = [
                asyncio.ensure_future(timed(client, "hang.example", f"/slow?token=s3cr3t{i}"))
                for i in range(POOL)
            ]
            assert await eventually(lambda: hanging.accepted == POOL)
            busy = [
                asyncio.ensure_future(timed(client, "hang.example", "/slow?token=s3cr3t"))
                for _ in range(3)
            ]
            others = await asyncio.gather(
                timed(client, "fine.example", "/x"),
                timed(client, "localhost", "/health"),
                timed(client, "fine.example", "/y"),
            )
            refused = await asyncio.gather(*busy)
            late = await asyncio.gather(*held)
        # The proxy closed the connections it gave up on (the backend sees each close a
        # moment after the client got its 504).
        assert await eventually(lambda: all(seen.closed_at is not None for seen in hanging.seen))
    # Another target and the gateway's own endpoints answer while the pool is full.
    assert [response.status_code for response, _ in others] == [200, 200, 200]
    assert max(elapsed for _, elapsed in others) < PROMPT
    # Past the pool: 503 once the pool timeout passed.
    for response, elapsed in refused:
        assert (response.status_code, response.text) == (503, "the upstream of this host is busy\n")
        assert response.headers["retry-after"] == "1"
        assert POOL_TIMEOUT <= elapsed < UPSTREAM_TIMEOUT
    # In the pool: 504 once the upstream timeout passed.
    for response, elapsed in late:
        assert (response.status_code, response.text) == (
            504,
            "the upstream did not answer in time\n",
        )
        assert UPSTREAM_TIMEOUT <= elapsed < UPSTREAM_TIMEOUT + PROMPT
    # The hanging backend never held more connections than the pool allows.
    assert hanging.accepted == POOL
    assert_clean_log(caplog, "s3cr3t", "/slow")


async def test_an_unreachable_upstream_gets_502(
    storage: UnifiedStorage, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await storage.astore_proxy_target(
        ProxyTarget(hostname="gone.example", target_url=f"http://127.0.0.1:{closed_port}/b")
    )
    with proxy_serving(storage, SETTINGS) as proxy:
        async with httpx.AsyncClient(base_url=proxy.url, timeout=BOUND) as client:
            response = await client.get(
                "/a?password=s3cr3t", headers={"Host": "gone.example", "Cookie": "sid=c00kie"}
            )
    assert (response.status_code, response.text) == (502, "the upstream is unreachable\n")
    failures = [r.getMessage() for r in caplog.records if r.name.startswith("src.")]
    assert failures == [
        f"upstream http://127.0.0.1:{closed_port} of gone.example failed: ConnectError"
    ]
    assert_clean_log(caplog, "s3cr3t", "c00kie", "/a", "/b")


async def test_an_upstream_breaking_off_its_response_closes_the_clients_connection(
    storage: UnifiedStorage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with RawBackend(Mode.BREAK).running() as breaking, proxy_serving(storage, SETTINGS) as proxy:
        await storage.astore_proxy_target(
            ProxyTarget(hostname="break.example", target_url=breaking.url)
        )
        async with raw_connection(proxy.port) as (reader, writer):
            writer.write(get(b"/x?k=s3cr3t", b"break.example"))
            async with asyncio.timeout(BOUND):
                received = await reader.read()
    head, _, body = received.partition(b"\r\n\r\n")
    # What the client got is visibly short of its Content-Length, and the connection ended.
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"content-length: 100" in head.lower()
    assert body == b"0123456789"
    broke = [r.getMessage() for r in caplog.records if r.name.startswith("src.")]
    assert broke == ["upstream of break.example broke off its response: RemoteProtocolError"]
    assert_clean_log(caplog, "s3cr3t")
