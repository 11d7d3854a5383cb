"""The gateway's two ASGI applications, assembled from the components on one storage.

- The API (`build_api_app`): the routers given, behind bearer authentication that tells
  routes who a token belongs to. It is what the `localhost` proxy target's URL serves;
  `build_gateway` gives it the OAuth server and the MCP endpoint.
- The proxy (`ProxyApp`): every host's traffic, authenticated per target, forwarded; it
  serves the API in-process on the gateway's host, which is the only way to reach it.

Nothing here creates a storage: `src/main.py` creates it and passes it in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware

from ..api.async_init import AsyncComponents
from ..api.routers.mcp import create_mcp_router
from ..api.routers.oauth import BearerAuthBackend, oauth_router
from ..proxy.app import ProxyApp
from ..proxy.settings import ProxySettings
from ..storage import UnifiedStorage


@dataclass(frozen=True, slots=True)
class Gateway:
    """The gateway's ASGI applications."""

    api: FastAPI
    proxy: ProxyApp


def build_api_app(storage: UnifiedStorage, routers: Sequence[APIRouter]) -> FastAPI:
    """The API application serving `routers`.

    Its startup runs `storage.ainitialize()`, which writes (and repairs) the defaults every
    process must see, such as the `localhost` target's auth exclusions. Requests with a
    valid bearer token get its client and user in `request.user` (a `TokenIdentity`);
    requests without pass unauthenticated (each route decides what it demands).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await storage.ainitialize()
        yield

    app = FastAPI(
        title="gateway API",
        lifespan=lifespan,
        middleware=[Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(storage))],
    )
    for router in routers:
        app.include_router(router)
    return app


def build_gateway(components: AsyncComponents, settings: ProxySettings | None = None) -> Gateway:
    """The API (the OAuth server and `/mcp`) and the proxy serving it, on the components'
    storage; the proxy bounded by `settings` (default: `ProxySettings()`)."""
    storage = components.storage
    routers = [
        oauth_router(storage, components.oauth),
        create_mcp_router(components.mcp_sessions, components.mcp_tools),
    ]
    api = build_api_app(storage, routers)
    return Gateway(api=api, proxy=ProxyApp(storage, api, settings, issuer=components.oauth.issuer))
