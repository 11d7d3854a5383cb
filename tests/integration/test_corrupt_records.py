"""Corrupt records behind the proxy under uvicorn, written with a raw Redis client: each
is isolated to what needs it, answered plainly, and logged once with its key."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
import redis

from src.proxy.settings import ProxySettings
from src.storage import (
    OAuthGrantType,
    ProxyTarget,
    RegisteredClient,
    Route,
    RouteTargetType,
    UnifiedStorage,
)
from tests.keys_v2 import route_index_key, route_key, token_key

from .conftest import LoopbackServer
from .peers import BOUND, RawBackend, assert_clean_log, gateway_log, proxy_serving

GARBAGE = b"{not json"


@pytest.fixture
def backends() -> Iterator[tuple[RawBackend, RawBackend]]:
    with RawBackend().running() as first, RawBackend().running() as second:
        yield first, second


@pytest.fixture
def proxy(storage: UnifiedStorage) -> Iterator[LoopbackServer]:
    with proxy_serving(storage, ProxySettings()) as server:
        yield server


@pytest.fixture
async def registered(storage: UnifiedStorage) -> RegisteredClient:
    return await storage.aregister_oauth_client(
        "cli", [OAuthGrantType.REFRESH_TOKEN, OAuthGrantType.CLIENT_CREDENTIALS]
    )


def records_naming(caplog: pytest.LogCaptureFixture, key: str) -> list[str]:
    return [r.getMessage() for r in gateway_log(caplog) if key in r.getMessage()]


async def test_a_corrupt_route_is_skipped_and_logged_once(
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    proxy: LoopbackServer,
    backends: tuple[RawBackend, RawBackend],
    registered: RegisteredClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    target, routed = backends
    await storage.astore_proxy_target(ProxyTarget(hostname="app.example", target_url=target.url))
    for route_id, pattern in [("good", "/good"), ("bad", "/bad")]:
        await storage.astore_route(
            Route(
                route_id=route_id,
                path_pattern=pattern,
                target_type=RouteTargetType.URL,
                target_value=routed.url,
            )
        )
    key = route_key(namespace, "bad")
    raw.set(key, GARBAGE)
    async with httpx.AsyncClient(base_url=proxy.url, timeout=BOUND) as client:
        app = {"Host": "app.example"}
        good = [await client.get("/good/x", headers=app) for _ in range(3)]
        bad = await client.get("/bad/x", headers=app)
        health = await client.get("/health", headers={"Host": "localhost"})
        token = await client.post(
            "/token",
            headers={"Host": "localhost"},
            data={"grant_type": "client_credentials"},
            auth=(registered.client.client_id, registered.client_secret),
        )
    assert [r.status_code for r in good] == [200, 200, 200]
    assert [seen.target for seen in routed.seen] == [b"/good/x"] * 3
    # The corrupt route matches nothing: its path goes to the target.
    assert bad.status_code == 200
    assert [seen.target for seen in target.seen] == [b"/bad/x"]
    # The gateway's own host still works; its /health reports what is wrong with the
    # defaults only (a custom route is no default).
    assert (health.status_code, health.json()["status"]) == (200, "ok")
    assert token.status_code == 200
    assert token.json()["token_type"] == "Bearer"
    assert len(records_naming(caplog, key)) == 1
    assert_clean_log(caplog, registered.client_secret, token.json()["access_token"])


@pytest.mark.parametrize("stored", [GARBAGE, b'{"hostname": "bad.example"}', b"\xff\xfe"])
async def test_a_corrupt_target_is_502_for_its_host_only(
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    proxy: LoopbackServer,
    backends: tuple[RawBackend, RawBackend],
    caplog: pytest.LogCaptureFixture,
    stored: bytes,
) -> None:
    caplog.set_level(logging.INFO)
    backend, _ = backends
    await storage.astore_proxy_target(ProxyTarget(hostname="app.example", target_url=backend.url))
    key = f"{namespace}:proxy:bad.example"
    raw.set(key, stored)
    async with httpx.AsyncClient(base_url=proxy.url, timeout=BOUND) as client:
        corrupt = [await client.get("/x", headers={"Host": "bad.example"}) for _ in range(3)]
        fine = await client.get("/x", headers={"Host": "app.example"})
        health = await client.get("/health", headers={"Host": "localhost"})
    assert {(r.status_code, r.text) for r in corrupt} == {
        (502, "corrupt configuration for this host\n")
    }
    assert (fine.status_code, health.status_code) == (200, 200)
    assert len(records_naming(caplog, key)) == 1
    assert_clean_log(caplog)


async def test_a_route_borrowing_a_corrupt_target_is_502(
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    proxy: LoopbackServer,
    backends: tuple[RawBackend, RawBackend],
) -> None:
    backend, _ = backends
    await storage.astore_proxy_target(ProxyTarget(hostname="app.example", target_url=backend.url))
    await storage.astore_route(
        Route(
            route_id="borrow",
            path_pattern="/borrowed",
            target_type=RouteTargetType.HOSTNAME,
            target_value="bad.example",
        )
    )
    raw.set(f"{namespace}:proxy:bad.example", GARBAGE)
    async with httpx.AsyncClient(base_url=proxy.url, timeout=BOUND) as client:
        borrowed = await client.get("/borrowed", headers={"Host": "app.example"})
        own = await client.get("/own", headers={"Host": "app.example"})
    assert (borrowed.status_code, borrowed.text) == (502, "corrupt configuration for this host\n")
    assert own.status_code == 200


@pytest.mark.parametrize("corrupt", ["garbage", "wrong type"])
async def test_a_corrupt_token_is_an_invalid_token(
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    proxy: LoopbackServer,
    backends: tuple[RawBackend, RawBackend],
    registered: RegisteredClient,
    caplog: pytest.LogCaptureFixture,
    corrupt: str,
) -> None:
    caplog.set_level(logging.INFO)
    backend, _ = backends
    client_id, secret = registered.client.client_id, registered.client_secret
    issued = await storage.aissue_token_pair(client_id, "alice", "", 60, 600)
    key = token_key(namespace, "access", issued.access_token)
    if corrupt == "garbage":
        raw.set(key, GARBAGE)
    else:
        raw.delete(key)
        raw.sadd(key, "x")
    await storage.astore_proxy_target(
        ProxyTarget(hostname="auth.example", target_url=backend.url, auth_enabled=True)
    )
    bearer = {"Authorization": f"Bearer {issued.access_token}"}
    async with httpx.AsyncClient(base_url=proxy.url, timeout=BOUND) as client:
        protected = await client.get("/x", headers={"Host": "auth.example", **bearer})
        status = await client.get("/oauth/status", headers={"Host": "localhost", **bearer})
        form = {"token": issued.access_token}
        introspected = await client.post(
            "/introspect", headers={"Host": "localhost"}, data=form, auth=(client_id, secret)
        )
        revoked = await client.post(
            "/revoke", headers={"Host": "localhost"}, data=form, auth=(client_id, secret)
        )
    assert protected.status_code == 401
    assert protected.headers["www-authenticate"] == (
        'Bearer error="invalid_token", '
        'resource_metadata="http://auth.example/.well-known/oauth-protected-resource"'
    )
    assert status.status_code == 401
    assert (introspected.status_code, introspected.json()) == (200, {"active": False})
    assert revoked.status_code == 200
    assert backend.seen == []
    assert_clean_log(caplog, issued.access_token, secret)


@pytest.mark.parametrize("stored", ["not a set", "bad member"])
async def test_a_corrupt_route_index_skips_routing_only(
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    proxy: LoopbackServer,
    backends: tuple[RawBackend, RawBackend],
    registered: RegisteredClient,
    caplog: pytest.LogCaptureFixture,
    stored: str,
) -> None:
    caplog.set_level(logging.INFO)
    target, routed = backends
    await storage.astore_proxy_target(ProxyTarget(hostname="app.example", target_url=target.url))
    await storage.astore_route(
        Route(
            route_id="good",
            path_pattern="/good",
            target_type=RouteTargetType.URL,
            target_value=routed.url,
        )
    )
    key = route_index_key(namespace)
    if stored == "not a set":
        raw.delete(key)
        raw.set(key, GARBAGE)
    else:
        raw.sadd(key, "no:such id")
    async with httpx.AsyncClient(base_url=proxy.url, timeout=BOUND) as client:
        app = [await client.get("/good/x", headers={"Host": "app.example"}) for _ in range(2)]
        token = await client.post(
            "/token",
            headers={"Host": "localhost"},
            data={"grant_type": "client_credentials"},
            auth=(registered.client.client_id, registered.client_secret),
        )
    # No route can be read, so none applies: every host is served by its own target.
    assert [r.status_code for r in app] == [200, 200]
    assert len(target.seen) == 2
    assert token.status_code == 200
    assert len(records_naming(caplog, key)) == 1
    assert_clean_log(caplog, registered.client_secret, token.json()["access_token"])
