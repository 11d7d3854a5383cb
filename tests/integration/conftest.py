"""Serving ASGI applications with uvicorn on loopback, for tests that go over real HTTP."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from src.api.async_init import AsyncComponents, init_async_components
from src.api.routers.oauth import OAuthSettings, oauth_router
from src.integration import build_api_app, build_gateway
from src.proxy.app import ProxyApp
from src.proxy.settings import ProxySettings
from src.storage import UnifiedStorage

SETTINGS = OAuthSettings(
    issuer="http://localhost",
    access_token_ttl=timedelta(minutes=5),
    refresh_token_ttl=timedelta(hours=1),
)


class LoopbackServer:
    """An ASGI application served by uvicorn on a free loopback port, in a thread.

    The port is bound at construction, so `url` is known before the server starts. The
    proxy is the edge: serve it with `proxy_headers=False`, or uvicorn would take a
    loopback client's `X-Forwarded-For` for its address. Further keyword arguments go to
    `uvicorn.Config` (`http=...`, `timeout_keep_alive=...`).
    """

    def __init__(self, app: ASGIApp, *, proxy_headers: bool = True, **config: Any) -> None:
        # IPPROTO_TCP spelled out: asyncio turns Nagle's algorithm off only on sockets whose
        # protocol says TCP (else each response waits ~40 ms for a delayed ACK).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # No log configuration of uvicorn's own: its records reach pytest's capture.
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_config=None,
                lifespan="on",
                proxy_headers=proxy_headers,
                timeout_graceful_shutdown=5,
                **config,
            )
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @contextmanager
    def running(self) -> Iterator[LoopbackServer]:
        """Serve until the block ends."""
        self._thread.start()
        try:
            while not self._server.started:
                if not self._thread.is_alive():
                    raise RuntimeError("the server did not start")
                time.sleep(0.01)
            yield self
        finally:
            self._server.should_exit = True
            self._thread.join()
            self._socket.close()


class _Deferred:
    """An ASGI application given once the server's port (and so the issuer) is known."""

    app: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@dataclass(frozen=True, slots=True)
class Served:
    """A gateway served on loopback."""

    issuer: str
    """`http://localhost:<port>`: the gateway's own host, as a client addresses it."""


async def served_gateway(
    redis_url: str, storage: UnifiedStorage, settings: dict[str, object]
) -> tuple[LoopbackServer, str, AsyncComponents]:
    """The gateway as `serve` assembles it, on a loopback server (not started yet) whose
    issuer is `http://localhost:<port>`, with the OAuth `settings` given."""
    deferred = _Deferred()
    server = LoopbackServer(deferred, proxy_headers=False)
    issuer = f"http://localhost:{server.port}"
    components = await init_async_components(redis_url, storage, oauth_issuer=issuer)
    oauth = OAuthSettings(issuer=issuer, **settings)  # type: ignore[arg-type]
    components = dataclasses.replace(components, oauth=oauth)
    deferred.app = build_gateway(components).proxy
    return server, issuer, components


def api_app(storage: UnifiedStorage) -> FastAPI:
    """The gateway's API as the integration assembles it."""
    return build_api_app(storage, [oauth_router(storage, SETTINGS)])


def proxy_app(storage: UnifiedStorage, settings: ProxySettings | None = None) -> ProxyApp:
    """The proxy serving `api_app(storage)`, with the tests' OAuth issuer."""
    return ProxyApp(storage, api_app(storage), settings, issuer=SETTINGS.issuer)


@pytest.fixture
async def components(redis_url: str, storage: UnifiedStorage) -> AsyncComponents:
    """The gateway's components on the test's storage, with the tests' OAuth issuer."""
    return await init_async_components(redis_url, storage, oauth_issuer=SETTINGS.issuer)


@pytest.fixture
async def proxy(storage: UnifiedStorage) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the proxy (driven through ASGI), for requests to `localhost`, whose API
    the proxy serves in-process."""
    app = proxy_app(storage)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://localhost"
    ) as client:
        yield client
    await app.aclose()
