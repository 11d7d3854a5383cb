"""No side door: the gateway as `serve` assembles it (`build_gateway`) listens on the proxy's
socket only, its API answers on the `localhost` host only and under that host's
authentication, and no other host reaches it, by its target, a route, or the default
OAuth routes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from src.api.async_init import AsyncComponents
from src.integration import build_gateway
from src.proxy.settings import ProxySettings
from src.storage import (
    API_URL,
    OAuthGrantType,
    ProxyTarget,
    Route,
    RouteTargetType,
    UnifiedStorage,
)

from .conftest import LoopbackServer
from .peers import BOUND, RawBackend, serving

API_PATHS = [
    "/health",
    "/mcp",
    "/docs",
    "/openapi.json",
    "/token",
    "/register",
    "/introspect",
    "/.well-known/oauth-authorization-server",
]


def listening_ports() -> set[int]:
    """The TCP ports this process listens on (from its sockets' inodes in /proc)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture
def backend() -> Iterator[RawBackend]:
    with RawBackend().running() as server:
        yield server


@pytest.fixture
def gateway(components: AsyncComponents) -> Iterator[LoopbackServer]:
    with serving(build_gateway(components, ProxySettings()).proxy) as server:
        yield server


@pytest.fixture
async def token(storage: UnifiedStorage) -> str:
    registered = await storage.aregister_oauth_client("cli", [OAuthGrantType.REFRESH_TOKEN])
    issued = await storage.aissue_token_pair(registered.client.client_id, "alice", "", 60, 600)
    return issued.access_token


async def test_nothing_listens_but_the_proxy(components: AsyncComponents) -> None:
    before = listening_ports()
    with serving(build_gateway(components, ProxySettings()).proxy) as proxy:
        async with httpx.AsyncClient(base_url=proxy.url, timeout=BOUND) as client:
            health = await client.get("/health", headers={"Host": "localhost"})
        listening = listening_ports() - before
    assert health.status_code == 200
    assert listening == {proxy.port}


async def test_the_api_answers_on_localhost_under_its_authentication(
    gateway: LoopbackServer, token: str
) -> None:
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"Host": "localhost"}, timeout=BOUND
    ) as client:
        health = await client.get("/health")
        anonymous = [await client.get(path) for path in ("/docs", "/openapi.json")]
        mcp = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        bearer = {"Authorization": f"Bearer {token}"}
        schema = await client.get("/openapi.json", headers=bearer)
        host = f"localhost:{gateway.port}"
        slash = await client.get("/mcp/", headers={**bearer, "Host": host})
    assert (health.status_code, health.json()["status"]) == (200, "ok")
    assert [response.status_code for response in anonymous] == [401, 401]
    assert mcp.status_code == 401
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "gateway API"
    # The slash redirect names the host the client asked for, never the API's address.
    assert (slash.status_code, slash.headers["location"]) == (307, f"http://{host}/mcp")


async def test_other_hosts_get_their_own_target_on_the_api_paths(
    storage: UnifiedStorage, gateway: LoopbackServer, backend: RawBackend
) -> None:
    await storage.astore_proxy_target(ProxyTarget(hostname="app.example", target_url=backend.url))
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"Host": "app.example"}, timeout=BOUND
    ) as client:
        answers = [await client.get(path) for path in API_PATHS]
    assert [(r.status_code, r.text) for r in answers] == [(200, "ok\n")] * len(API_PATHS)
    assert [seen.target.decode() for seen in backend.seen] == API_PATHS


@pytest.mark.parametrize("url", [API_URL, f"{API_URL}/"])
async def test_a_target_naming_the_api_does_not_reach_it(
    storage: UnifiedStorage, gateway: LoopbackServer, url: str
) -> None:
    await storage.astore_proxy_target(ProxyTarget(hostname="copy.example", target_url=url))
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"Host": "copy.example"}, timeout=BOUND
    ) as client:
        answers = [await client.get(path) for path in API_PATHS]
    assert {(r.status_code, r.text) for r in answers} == {
        (502, "only the gateway's own host serves its API\n")
    }


async def test_routes_naming_the_api_do_not_reach_it_from_other_hosts(
    storage: UnifiedStorage, gateway: LoopbackServer, backend: RawBackend
) -> None:
    await storage.astore_proxy_target(ProxyTarget(hostname="app.example", target_url=backend.url))
    for route_id, pattern, kind, value in [
        ("to-api-url", "/via-url", RouteTargetType.URL, API_URL),
        ("to-api-port", "/via-port", RouteTargetType.PORT, "9000"),
        ("to-localhost", "/via-host", RouteTargetType.HOSTNAME, "localhost"),
    ]:
        await storage.astore_route(
            Route(
                route_id=route_id,
                path_pattern=pattern,
                target_type=kind,
                target_value=value,
                priority=100,
            )
        )
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"Host": "app.example"}, timeout=BOUND
    ) as client:
        by_url = await client.get("/via-url/health")
        by_port = await client.get("/via-port/health")
        by_host = await client.get("/via-host/health")
    # A URL route to the API applies to the gateway's host alone: here the target answers.
    assert (by_url.status_code, by_url.text) == (200, "ok\n")
    assert [seen.target for seen in backend.seen] == [b"/via-url/health"]
    for refused in (by_port, by_host):
        assert (refused.status_code, refused.text) == (
            502,
            "only the gateway's own host serves its API\n",
        )
