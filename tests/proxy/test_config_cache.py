"""The proxy's cache of targets and routes: no Redis round trip in steady state, coherent
through pub/sub, and never trusted while the subscription is down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from src.embedded_redis import EmbeddedRedis
from src.proxy.config_cache import ConfigCache
from src.storage import ProxyTarget, Route, RouteTargetType, UnifiedStorage

APP = "app.example.com"
COHERENCE_LIMIT = 0.1
"""Seconds within which a change must be seen (the issue's bound)."""
WAIT_LIMIT = 10.0
"""Seconds to wait for the subscription (a bound, not a measurement)."""


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test alone: its command counts are the cache's."""
    with EmbeddedRedis(tmp_path / "redis", persist=False) as server:
        yield server


@pytest.fixture
async def own_storage(
    own_redis: EmbeddedRedis, storage_registry: None
) -> AsyncIterator[UnifiedStorage]:
    storage = UnifiedStorage(own_redis.url, timeout=1, connect_timeout=1)
    await storage.ainitialize()
    await storage.astore_proxy_target(ProxyTarget(hostname=APP, target_url="http://127.0.0.1:9"))
    yield storage
    await storage.aclose()


@pytest.fixture
def counts(own_redis: EmbeddedRedis) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(own_redis.url) as client:
        yield client


def commands(client: redis.Redis) -> int:
    """Commands the server ran, but INFO and the subscription's own keep-alive PINGs."""
    stats = client.info("commandstats")
    return sum(
        int(value["calls"])
        for name, value in stats.items()
        if name not in ("cmdstat_info", "cmdstat_ping")
    )


async def until(condition: object, limit: float = WAIT_LIMIT) -> float:
    """Poll `condition()` (sync or async) until true; the seconds it took."""
    started = time.monotonic()
    while True:
        result = condition()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            pytest.fail(f"not within {limit} s")
        await asyncio.sleep(0.002)


@pytest.fixture
async def cache(own_storage: UnifiedStorage) -> AsyncIterator[ConfigCache]:
    cache = ConfigCache(own_storage)
    task = asyncio.create_task(cache.run())
    await until(lambda: cache.live)
    yield cache
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_steady_state_costs_no_round_trip(cache: ConfigCache, counts: redis.Redis) -> None:
    await cache.aget_proxy_target(APP)
    await cache.aget_proxy_target("nobody.example.com")
    await cache.alist_usable_routes()
    before = commands(counts)
    for _ in range(50):
        assert (await cache.aget_proxy_target(APP)) is not None
        assert (await cache.aget_proxy_target("nobody.example.com")) is None
        assert (await cache.alist_usable_routes()).routes
    assert commands(counts) == before


async def test_a_change_is_seen_at_once(cache: ConfigCache, own_storage: UnifiedStorage) -> None:
    await cache.aget_proxy_target(APP)
    await cache.alist_usable_routes()
    await own_storage.aupdate_proxy_target(APP, {"target_url": "http://127.0.0.1:10"})

    async def updated() -> bool:
        found = await cache.aget_proxy_target(APP)
        return found is not None and found.target_url == "http://127.0.0.1:10"

    assert await until(updated) < COHERENCE_LIMIT
    await own_storage.astore_route(
        Route(
            route_id="new",
            path_pattern="/new",
            target_type=RouteTargetType.URL,
            target_value="http://127.0.0.1:11",
        )
    )

    async def routed() -> bool:
        listing = await cache.alist_usable_routes()
        return any(route.route_id == "new" for route in listing.routes)

    assert await until(routed) < COHERENCE_LIMIT


async def test_a_deleted_target_is_not_served_once_announced(
    cache: ConfigCache, own_storage: UnifiedStorage, own_redis: EmbeddedRedis
) -> None:
    await cache.aget_proxy_target(APP)
    # Listening beside the cache: once this subscriber has the announcement, so has it.
    with redis.Redis.from_url(own_redis.url) as client, client.pubsub() as pubsub:
        pubsub.subscribe("config-changes")
        pubsub.get_message(timeout=WAIT_LIMIT)
        await own_storage.adelete_proxy_target(APP)
        assert pubsub.get_message(timeout=WAIT_LIMIT) is not None
    await asyncio.sleep(0.01)  # the cache's own subscription reads it on this loop
    assert await cache.aget_proxy_target(APP) is None


async def test_no_trust_while_the_subscription_is_down(
    cache: ConfigCache, counts: redis.Redis, own_storage: UnifiedStorage
) -> None:
    await cache.aget_proxy_target(APP)
    counts.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    await until(lambda: not cache.live)
    # Written behind the storage's back, so never announced: only Redis knows.
    changed = ProxyTarget(hostname=APP, target_url="http://127.0.0.1:12")
    counts.set("proxy:app.example.com", changed.model_dump_json())
    found = await cache.aget_proxy_target(APP)
    assert found is not None and found.target_url == "http://127.0.0.1:12"
    # Subscribed again, it starts from what Redis holds, and caches again.
    await until(lambda: cache.live)
    await cache.aget_proxy_target(APP)
    before = commands(counts)
    await cache.aget_proxy_target(APP)
    assert commands(counts) == before


async def test_random_hostnames_do_not_grow_it(
    own_storage: UnifiedStorage, counts: redis.Redis
) -> None:
    cache = ConfigCache(own_storage, max_targets=2)
    task = asyncio.create_task(cache.run())
    try:
        await until(lambda: cache.live)
        await cache.aget_proxy_target("a.example.com")
        await cache.aget_proxy_target("b.example.com")
        before = commands(counts)
        await cache.aget_proxy_target("a.example.com")
        assert commands(counts) == before
        # A third hostname empties the copy: `a` is read from Redis again.
        await cache.aget_proxy_target("c.example.com")
        await cache.aget_proxy_target("a.example.com")
        assert commands(counts) == before + 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_without_a_subscription_every_lookup_reads_redis(
    own_storage: UnifiedStorage, counts: redis.Redis
) -> None:
    cache = ConfigCache(own_storage)
    before = commands(counts)
    for _ in range(3):
        await cache.aget_proxy_target(APP)
        await cache.alist_usable_routes()
    assert commands(counts) == before + 3 * 3  # GET; SMEMBERS and MGET
