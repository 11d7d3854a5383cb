"""An app serving the MCP router on the test's storage, and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from starlette.authentication import AuthCredentials, AuthenticationBackend
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection

from src.api.identity import TokenIdentity
from src.api.routers.mcp import McpLimits, McpToolServer, SessionManager, create_mcp_router
from src.storage import UnifiedStorage
from tests.redis_topologies import namespace_keys

CLIENT_HEADER = "X-Test-Client"
USER_HEADER = "X-Test-User"
TEST_CLIENT = "test-oauth-client"
MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


class HeaderAuthentication(AuthenticationBackend):
    """Authenticates as the OAuth client in `X-Test-Client`, for the user in `X-Test-User`
    (none without it): a stand-in for the gateway's bearer tokens. A request with neither
    header is anonymous."""

    async def authenticate(
        self, conn: HTTPConnection
    ) -> tuple[AuthCredentials, TokenIdentity] | None:
        client_id = conn.headers.get(CLIENT_HEADER)
        if client_id is None:
            return None
        return AuthCredentials([]), TokenIdentity(client_id, conn.headers.get(USER_HEADER))


@pytest.fixture
async def make_client(storage: UnifiedStorage) -> AsyncIterator[MakeClient]:
    """`await make_client(ttl=..., authenticated=..., limits=...)`: a client of a fresh app
    on `storage`; an authenticated one sends `X-Test-Client: test-oauth-client` unless a
    request says otherwise."""
    clients: list[httpx.AsyncClient] = []

    async def make(
        ttl: timedelta = timedelta(minutes=1),
        authenticated: bool = True,
        limits: McpLimits | None = None,
    ) -> httpx.AsyncClient:
        app = FastAPI()
        app.include_router(
            create_mcp_router(SessionManager(storage, ttl), McpToolServer(storage), limits)
        )
        app.add_middleware(AuthenticationMiddleware, backend=HeaderAuthentication())
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://gateway",
            headers={CLIENT_HEADER: TEST_CLIENT} if authenticated else {},
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: MakeClient) -> httpx.AsyncClient:
    """A client of the app with a one-minute session TTL, authenticated as the OAuth client
    `test-oauth-client` acting for itself (no user)."""
    return await make_client()


Snapshot = Callable[[], dict[bytes, object]]
OpenSession = Callable[..., Awaitable[str]]
Rpc = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def initialize_message() -> dict[str, Any]:
    """A valid `initialize` request, fresh for each test to alter."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test-client", "version": "1.0"},
        },
    }


@pytest.fixture
def open_session(initialize_message: dict[str, Any]) -> OpenSession:
    """`await open_session(client, **headers)`: initialise a session; its id."""

    async def open_(client: httpx.AsyncClient, **headers: str) -> str:
        response = await client.post("/mcp", json=initialize_message, headers=headers)
        assert response.status_code == 200, response.text
        return response.headers["Mcp-Session-Id"]

    return open_


@pytest.fixture
def rpc() -> Rpc:
    """`await rpc(client, session_id, method, params=None, request_id=7, **headers)`: POST
    one request in the session."""

    async def rpc_(
        client: httpx.AsyncClient,
        session_id: str,
        method: str,
        params: dict[str, Any] | None = None,
        request_id: int | str = 7,
        **headers: str,
    ) -> httpx.Response:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        return await client.post(
            "/mcp", json=message, headers={"Mcp-Session-Id": session_id, **headers}
        )

    return rpc_


@pytest.fixture
def snapshot(raw: redis.Redis, namespace: str) -> Snapshot:
    """`snapshot()`: every key of the test's namespace with its value, to prove that
    nothing was written."""

    def take() -> dict[bytes, object]:
        found: dict[bytes, object] = {}
        for key in namespace_keys(raw, namespace):
            kind = raw.type(key)
            if kind == b"set":
                found[key] = raw.smembers(key)
            elif kind == b"stream":
                found[key] = raw.xrange(key)
            else:
                found[key] = raw.get(key)
        return found

    return take
