"""Health that tells the truth, and defaults that heal themselves: Redis restarted empty, or
the `localhost` target, its exclusions or the default routes deleted, while the gateway
runs. The proxy is served by uvicorn; it forwards to the API in-process (the healed
`localhost` target points at `API_URL`, where no test API listens)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from src.embedded_redis import EmbeddedRedis
from src.storage import (
    AUTH_EXCLUDED_PATHS,
    DefaultsReport,
    OAuthGrantType,
    ProxyTarget,
    RegisteredClient,
    UnifiedStorage,
)
from tests.keys_v2 import route_index_key, route_key

from .conftest import LoopbackServer, api_app, proxy_app

HEAL_LIMIT = 2.0
"""Seconds within which sign-in must work again (a bound, not a measurement)."""


def default_keys(namespace: str) -> list[str]:
    routes = [f"oauth-{path.strip('/.').replace('/', '-')}" for path in AUTH_EXCLUDED_PATHS]
    return [
        f"{namespace}:proxy:localhost",
        route_index_key(namespace),
        *(route_key(namespace, route) for route in routes),
    ]


@pytest.fixture
def gateway(storage: UnifiedStorage) -> Iterator[str]:
    """The proxy on uvicorn, serving the API in-process; its URL."""
    with LoopbackServer(proxy_app(storage), proxy_headers=False).running() as proxy:
        yield proxy.url


@pytest.fixture
async def localhost(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=gateway, headers={"Host": "localhost"}, trust_env=False, timeout=10
    ) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, registered: RegisteredClient) -> httpx.Response:
    return await client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": registered.client.client_id,
            "client_secret": registered.client_secret,
        },
    )


async def signed_in_within(
    client: httpx.AsyncClient, registered: RegisteredClient, limit: float
) -> httpx.Response:
    """The first 200 answer of `POST /token`, retried until `limit` seconds passed."""
    deadline = time.monotonic() + limit
    while True:
        response = await sign_in(client, registered)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.05)


# Health


async def test_health_when_all_is_well(localhost: httpx.AsyncClient) -> None:
    response = await localhost.get("/health")
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ok", "storage": True, "defaults": True},
    )


@pytest.mark.parametrize(
    ("damage", "missing"),
    [
        ("delete-localhost", ["proxy target localhost"]),
        ("clear-exclusions", ["auth exclusions of localhost"]),
        ("delete-route", ["route oauth-token"]),
        ("unindex-route", ["route oauth-jwks"]),
        (
            "delete-everything",
            ["proxy target localhost", *(f"route oauth-{p}" for p in ("token", "device"))],
        ),
    ],
)
async def test_health_says_which_defaults_were_missing_and_they_are_back(
    localhost: httpx.AsyncClient,
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    damage: str,
    missing: list[str],
) -> None:
    assert (await localhost.get("/health")).status_code == 200
    if damage == "delete-localhost":
        raw.delete(f"{namespace}:proxy:localhost")
    elif damage == "clear-exclusions":
        await storage.aupdate_proxy_target("localhost", {"auth_excluded_paths": []})
    elif damage == "delete-route":
        raw.delete(route_key(namespace, "oauth-token"))
    elif damage == "unindex-route":
        raw.srem(route_index_key(namespace), "oauth-jwks")
    else:
        raw.delete(*default_keys(namespace))

    # Asked of the API directly: the proxy's own lookup of `localhost` would heal first.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(api_app(storage)), base_url="http://api"
    ) as api:
        damaged = await api.get("/health")
        healed = await api.get("/health")

    assert damaged.status_code == 503
    body = damaged.json()
    assert (body["status"], body["storage"], body["defaults"], body["corrupt"]) == (
        "unavailable",
        True,
        False,
        [],
    )
    if damage == "delete-everything":
        assert len(body["missing"]) == 1 + len(AUTH_EXCLUDED_PATHS)
    assert set(missing) <= set(body["missing"])
    assert (healed.status_code, healed.json()["defaults"]) == (200, True)
    localhost_target = await storage.aget_proxy_target("localhost")
    assert localhost_target is not None
    assert localhost_target.auth_excluded_paths == list(AUTH_EXCLUDED_PATHS)
    assert {route.route_id for route in await storage.alist_routes()} >= {"oauth-token"}


async def test_health_reports_a_corrupt_localhost_record_and_leaves_it(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    await storage.ainitialize()
    key = f"{namespace}:proxy:localhost"
    raw.set(key, b"{broken")
    raw.delete(route_key(namespace, "oauth-token"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(api_app(storage)), base_url="http://api"
    ) as api:
        response = await api.get("/health")
    assert response.status_code == 503
    assert (response.json()["missing"], response.json()["corrupt"]) == (
        ["route oauth-token"],
        [key],
    )
    assert raw.get(key) == b"{broken"
    assert await storage.aget_route("oauth-token") is not None


# Self-healing


def test_ensure_defaults(storage: UnifiedStorage, raw: redis.Redis, namespace: str) -> None:
    storage.initialize()
    assert storage.ensure_defaults() == DefaultsReport()
    assert storage.ensure_defaults().ok
    raw.delete(f"{namespace}:proxy:localhost")
    report = storage.ensure_defaults()
    assert report == DefaultsReport(missing=("proxy target localhost",))
    assert not report.ok
    assert raw.exists(f"{namespace}:proxy:localhost")
    assert asyncio.run(storage.aensure_defaults()) == DefaultsReport()


def test_a_lookup_of_localhost_heals_it(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    storage.initialize()
    kept = ProxyTarget(hostname="localhost", target_url="http://127.0.0.1:9", auth_enabled=False)
    storage.store_proxy_target(kept)
    healed = storage.get_proxy_target("localhost")
    assert healed is not None and healed.auth_enabled
    assert (healed.target_url, healed.auth_excluded_paths) == (
        "http://127.0.0.1:9",
        list(AUTH_EXCLUDED_PATHS),
    )
    raw.delete(*default_keys(namespace))
    again = asyncio.run(storage.aget_proxy_target("LOCALHOST"))
    assert again is not None and again.auth_excluded_paths == list(AUTH_EXCLUDED_PATHS)
    assert storage.get_route("oauth-token") is not None
    # Other hosts are what they are: missing stays missing.
    assert storage.get_proxy_target("gone.example") is None


def commands_run(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(value["calls"]) for name, value in stats.items() if name != "cmdstat_info")


async def test_the_steady_state_lookup_costs_one_command(
    storage: UnifiedStorage, raw: redis.Redis
) -> None:
    await storage.ainitialize()
    await storage.aget_proxy_target("localhost")
    before = commands_run(raw)
    for _ in range(20):
        await storage.aget_proxy_target("localhost")
    # The tests' Redis serves this test alone meanwhile; a shared REDIS_URL could add some.
    assert commands_run(raw) - before == 20


async def test_sign_in_works_again_after_the_defaults_were_deleted(
    localhost: httpx.AsyncClient, storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    registered = await storage.aregister_oauth_client("cli", [OAuthGrantType.CLIENT_CREDENTIALS])
    assert (await sign_in(localhost, registered)).status_code == 200
    raw.delete(*default_keys(namespace))
    started = time.monotonic()
    response = await signed_in_within(localhost, registered, HEAL_LIMIT)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < HEAL_LIMIT


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test alone, to restart."""
    with EmbeddedRedis(tmp_path / "redis", persist=False) as server:
        yield server


async def test_sign_in_works_again_after_redis_restarted_empty(
    own_redis: EmbeddedRedis, storage_registry: None, tmp_path: Path
) -> None:
    storage = UnifiedStorage(own_redis.url, connect_timeout=1, timeout=1)
    try:
        proxy = LoopbackServer(proxy_app(storage), proxy_headers=False)
        with proxy.running():
            async with httpx.AsyncClient(
                base_url=proxy.url, headers={"Host": "localhost"}, trust_env=False, timeout=10
            ) as client:
                registered = await storage.aregister_oauth_client(
                    "cli", [OAuthGrantType.CLIENT_CREDENTIALS]
                )
                assert (await sign_in(client, registered)).status_code == 200

                port = own_redis.port
                own_redis.stop()
                restarted = EmbeddedRedis(tmp_path / "redis", persist=False, port=port)
                restarted.start()
                try:
                    # Everything is gone, the client too: the operator registers it again.
                    registered = await storage.aregister_oauth_client(
                        "cli", [OAuthGrantType.CLIENT_CREDENTIALS]
                    )
                    started = time.monotonic()
                    response = await signed_in_within(client, registered, HEAL_LIMIT)
                    elapsed = time.monotonic() - started
                    health = await client.get("/health")
                finally:
                    restarted.stop()
    finally:
        await storage.aclose()
    assert response.status_code == 200, response.text
    assert elapsed < HEAL_LIMIT
    assert (health.status_code, health.json()["defaults"]) == (200, True)
