"""The assembled gateway: its applications' lifespans, routes and authentication."""

from __future__ import annotations

from typing import Any

import httpx
from asgiref.testing import ApplicationCommunicator
from fastapi import APIRouter
from starlette.requests import Request
from starlette.types import ASGIApp

from src.api.async_init import AsyncComponents
from src.integration import build_api_app, build_gateway
from src.storage import AUTH_EXCLUDED_PATHS, OAuthGrantType, ProxyTarget, UnifiedStorage


class Lifespan:
    """asgiref's `ApplicationCommunicator` on an app's lifespan, typed."""

    def __init__(self, app: ASGIApp) -> None:
        self._communicator = ApplicationCommunicator(  # type: ignore[no-untyped-call]
            app, {"type": "lifespan", "asgi": {"version": "3.0"}}
        )

    async def send(self, event: str) -> dict[str, Any]:
        """Send `lifespan.<event>`; the app's answer."""
        await self._communicator.send_input({"type": f"lifespan.{event}"})  # type: ignore[no-untyped-call]
        # A bound for a loaded machine, not a measurement (asgiref's default is 1 s).
        answer: dict[str, Any] = await self._communicator.receive_output(timeout=10)  # type: ignore[no-untyped-call]
        return answer

    async def finished(self) -> None:
        """Wait until the app's lifespan coroutine returned."""
        await self._communicator.wait(timeout=10)  # type: ignore[no-untyped-call]


async def test_gateway_lifespans(storage: UnifiedStorage, components: AsyncComponents) -> None:
    gateway = build_gateway(components)
    await storage.astore_proxy_target(
        ProxyTarget(hostname="localhost", target_url="http://127.0.0.1:9001", auth_enabled=True)
    )

    # The proxy's lifespan runs the API's, whose startup repairs the defaults.
    proxy = Lifespan(gateway.proxy)
    assert await proxy.send("startup") == {"type": "lifespan.startup.complete"}
    localhost = await storage.aget_proxy_target("localhost")
    assert localhost is not None
    assert localhost.auth_excluded_paths == list(AUTH_EXCLUDED_PATHS)
    assert localhost.target_url == "http://127.0.0.1:9001"
    assert await proxy.send("shutdown") == {"type": "lifespan.shutdown.complete"}
    await proxy.finished()
    # The storage belongs to the composition root: shutting the apps down leaves it open.
    assert await storage.ahealth_check()


async def test_api_serves_the_oauth_endpoints(components: AsyncComponents) -> None:
    gateway = build_gateway(components)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(gateway.api), base_url="http://api"
    ) as api:
        metadata = await api.get("/.well-known/oauth-authorization-server")
        token = await api.post("/token", data={"grant_type": "refresh_token"})
        status = await api.get("/oauth/status")
    assert metadata.json()["token_endpoint"] == "http://localhost/token"
    assert (token.status_code, token.json()["error"]) == (401, "invalid_client")
    assert status.status_code == 401


async def test_api_serves_the_mcp_endpoint(
    storage: UnifiedStorage, components: AsyncComponents
) -> None:
    gateway = build_gateway(components)
    registered = await storage.aregister_oauth_client("cli", [OAuthGrantType.REFRESH_TOKEN])
    issued = await storage.aissue_token_pair(registered.client.client_id, "alice", "", 60, 600)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test-client", "version": "1.0"},
        },
    }
    alice = {"Authorization": f"Bearer {issued.access_token}"}
    list_tools = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(gateway.api), base_url="http://api"
    ) as api:
        opened = await api.post("/mcp", json=initialize, headers=alice)
        session = {"Mcp-Session-Id": opened.headers["Mcp-Session-Id"]}
        listed = await api.post("/mcp", json=list_tools, headers={**alice, **session})
        anonymous = await api.post("/mcp", json=list_tools, headers=session)
    assert opened.status_code == 200, opened.text
    assert listed.status_code == 200, listed.text
    assert "list_proxies" in [tool["name"] for tool in listed.json()["result"]["tools"]]
    # The bearer token told the MCP endpoint whose session it is.
    sessions = await storage.alist_mcp_sessions("alice")
    assert [s.session_id for s in sessions] == [session["Mcp-Session-Id"]]
    assert anonymous.status_code == 401


def whoami_router() -> APIRouter:
    router = APIRouter()

    async def whoami(request: Request) -> dict[str, Any]:
        user = request.user
        return {
            "authenticated": user.is_authenticated,
            "user": user.display_name,
            "scopes": request.auth.scopes if request.auth else [],
        }

    router.add_api_route("/whoami", whoami, methods=["GET"])
    return router


async def test_routes_learn_who_a_token_belongs_to(storage: UnifiedStorage) -> None:
    app = build_api_app(storage, [whoami_router()])
    registered = await storage.aregister_oauth_client(
        "cli", [OAuthGrantType.REFRESH_TOKEN, OAuthGrantType.CLIENT_CREDENTIALS], scope="a b"
    )
    client_id = registered.client.client_id
    user_token = (await storage.aissue_token_pair(client_id, "alice", "a", 60, 600)).access_token
    client_token = (await storage.aissue_client_token(client_id, "a b", 60)).access_token
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as api:
        answers = [
            (await api.get("/whoami", headers=headers)).json()
            for headers in [
                {},
                {"Authorization": "Bearer expired-or-unknown"},
                {"Authorization": "Basic eDp5"},
                {"Authorization": f"Bearer {user_token}"},
                {"Authorization": f"Bearer {client_token}"},
            ]
        ]
    assert answers == [
        {"authenticated": False, "user": "", "scopes": []},
        {"authenticated": False, "user": "", "scopes": []},
        {"authenticated": False, "user": "", "scopes": []},
        {"authenticated": True, "user": "alice", "scopes": ["a"]},
        # A client acting for itself is authenticated as that client.
        {"authenticated": True, "user": client_id, "scopes": ["a", "b"]},
    ]
