"""The proxy's ASGI application: `UnifiedHandler` for HTTP, and a lifespan that closes
the HTTP client. It is built on the storage and client it is given; it never creates a
storage (the real migration left a fallback constructor here)."""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from starlette.types import Receive, Scope, Send

from ..storage import UnifiedStorage
from .unified_handler import UnifiedHandler


def proxy_http_client(*, timeout: float) -> httpx.AsyncClient:
    """An HTTP client fit for forwarding: it ignores proxy settings of the environment,
    follows no redirect (the client gets them), and keeps no cookie (an upstream's cookies
    belong to the client, and a shared jar would grow without end). `timeout` (seconds)
    bounds connecting and each read and write."""
    return httpx.AsyncClient(
        timeout=timeout,
        trust_env=False,
        follow_redirects=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


class ProxyApp:
    """The reverse proxy as an ASGI application.

    WebSocket connections are refused (closed with code 1003): the proxy forwards HTTP only.

    Args:
        storage: the process's storage.
        client: the HTTP client that forwards (see `proxy_http_client()`); the app closes it
            when its lifespan ends.
    """

    def __init__(self, storage: UnifiedStorage, client: httpx.AsyncClient) -> None:
        self._client = client
        self._handler = UnifiedHandler(storage, client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] == "http":
            await self._handler(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
