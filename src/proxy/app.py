"""The proxy's ASGI application: `UnifiedHandler` for HTTP, and a lifespan that runs the
gateway API's lifespan, follows the configuration's change notifications (the cache of
targets and routes is used only while it does) and closes the upstream pools. It is built
on the storage it is given; it never creates a storage (the real migration left a fallback
constructor here)."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from ..storage import UnifiedStorage
from .config_cache import ConfigCache
from .settings import ProxySettings
from .unified_handler import UnifiedHandler
from .upstreams import UpstreamPools


class ProxyApp:
    """The reverse proxy as an ASGI application.

    WebSocket connections are refused (closed with code 1003): the proxy forwards HTTP only.

    Args:
        storage: the process's storage.
        api: the gateway's own API, served in-process on the gateway's host; its lifespan
            runs within the proxy's.
        settings: the bounds on clients and upstreams.
        issuer: the gateway's OAuth issuer (`OAuthSettings.issuer` of the API it serves),
            named as the authorization server in every auth-enabled target's
            protected-resource metadata.
    """

    def __init__(
        self,
        storage: UnifiedStorage,
        api: Starlette,
        settings: ProxySettings | None = None,
        *,
        issuer: str,
    ) -> None:
        settings = settings or ProxySettings()
        self._api = api
        self._config = ConfigCache(storage)
        self._pools = UpstreamPools(settings)
        self._handler = UnifiedHandler(storage, self._config, api, self._pools, settings, issuer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] == "http":
            await self._handler(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1003})

    async def aclose(self) -> None:
        """Close the upstream connections (the lifespan's shutdown does it too)."""
        await self._pools.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        watcher = asyncio.create_task(self._config.run())
        try:
            async with self._api.router.lifespan_context(self._api):
                await send({"type": "lifespan.startup.complete"})
                while (await receive())["type"] != "lifespan.shutdown":
                    pass
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await self.aclose()
        await send({"type": "lifespan.shutdown.complete"})
