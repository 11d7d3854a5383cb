"""Change notifications of proxy targets and routes: every write announces itself, reads
never do, and a subscription that loses Redis says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from src.embedded_redis import EmbeddedRedis
from src.storage import (
    Certificate,
    ConfigChange,
    ProxyTarget,
    Route,
    RouteTargetType,
    StorageClosedError,
    StorageUnavailableError,
    UnifiedStorage,
)

QUIET = 0.3
"""Seconds without a notification that count as "none came" (a bound, not a measurement)."""


class Watcher:
    """A subscription followed in the background; what it reported so far."""

    def __init__(self, storage: UnifiedStorage) -> None:
        self.changes: asyncio.Queue[ConfigChange] = asyncio.Queue()
        self._storage = storage
        self.error: BaseException | None = None

    async def follow(self) -> None:
        try:
            async for change in self._storage.awatch_config_changes():
                await self.changes.put(change)
        except Exception as exc:
            self.error = exc

    async def next(self, timeout: float = 5.0) -> ConfigChange:
        return await asyncio.wait_for(self.changes.get(), timeout)

    async def none_within(self, seconds: float = QUIET) -> bool:
        try:
            await asyncio.wait_for(self.changes.get(), seconds)
        except TimeoutError:
            return True
        return False


@asynccontextmanager
async def watching(storage: UnifiedStorage) -> AsyncIterator[Watcher]:
    watcher = Watcher(storage)
    task = asyncio.create_task(watcher.follow())
    try:
        assert await watcher.next() is ConfigChange.SUBSCRIBED
        yield watcher
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def target(hostname: str = "app.example.com", **fields: Any) -> ProxyTarget:
    return ProxyTarget(hostname=hostname, target_url="http://127.0.0.1:9", **fields)


def route(route_id: str = "r") -> Route:
    return Route(
        route_id=route_id,
        path_pattern="/r",
        target_type=RouteTargetType.URL,
        target_value="http://127.0.0.1:9",
    )


async def store_certificate_used_by_a_target(storage: UnifiedStorage) -> None:
    await storage.astore_certificate(
        Certificate(
            cert_name="c1",
            domains=["app.example.com"],
            email="ops@example.com",
            acme_directory_url="https://acme.example/directory",
        )
    )
    await storage.astore_proxy_target(target(cert_name="c1"))


WRITES: dict[str, tuple[Callable[[UnifiedStorage], Awaitable[Any]], ...]] = {
    "store target": (lambda s: s.astore_proxy_target(target()),),
    "update target": (
        lambda s: s.astore_proxy_target(target()),
        lambda s: s.aupdate_proxy_target("app.example.com", {"enabled": False}),
    ),
    "delete target": (
        lambda s: s.astore_proxy_target(target()),
        lambda s: s.adelete_proxy_target("app.example.com"),
    ),
    "store route": (lambda s: s.astore_route(route()),),
    "delete route": (lambda s: s.astore_route(route()), lambda s: s.adelete_route("r")),
    "repair localhost": (
        lambda s: s.adelete_proxy_target("localhost"),
        lambda s: s.aget_proxy_target("localhost"),
    ),
    "detach a deleted certificate": (
        store_certificate_used_by_a_target,
        lambda s: s.adelete_certificate("c1"),
    ),
}


@pytest.mark.parametrize("steps", WRITES.values(), ids=WRITES.keys())
async def test_every_write_is_announced(
    storage: UnifiedStorage, steps: tuple[Callable[[UnifiedStorage], Awaitable[Any]], ...]
) -> None:
    await storage.ainitialize()
    *preparations, write = steps
    for step in preparations:
        await step(storage)
    async with watching(storage) as watcher:
        await write(storage)
        assert await watcher.next() is ConfigChange.CHANGED


async def test_reads_and_no_op_writes_are_not_announced(storage: UnifiedStorage) -> None:
    await storage.ainitialize()
    await storage.astore_proxy_target(target())
    await storage.astore_route(route())
    async with watching(storage) as watcher:
        # On a Cluster a PUBLISH reaches the subscribed node over the cluster bus, later:
        # the preparations' own notifications may still arrive. Let them.
        while not await watcher.none_within():
            pass
        await storage.aget_proxy_target("app.example.com")
        await storage.aget_proxy_target("localhost")
        await storage.alist_routes()
        await storage.alist_usable_routes()
        await storage.alist_proxy_targets()
        # Nothing to do: the defaults are in place, the target and route are not there.
        await storage.ainitialize()
        await storage.aensure_defaults()
        await storage.aupdate_proxy_target("nobody.example.com", {"enabled": False})
        await storage.adelete_proxy_target("nobody.example.com")
        await storage.adelete_route("nothing")
        assert await watcher.none_within()


async def test_namespaces_do_not_hear_each_other(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    async with watching(storage) as watcher:
        # What another gateway on the same Redis, in another namespace, announces.
        raw.publish("other:config-changes", b"changed")
        assert await watcher.none_within()
        raw.publish(f"{namespace}:config-changes", b"changed")
        assert await watcher.next() is ConfigChange.CHANGED


async def test_a_closed_storage_does_not_subscribe(storage: UnifiedStorage) -> None:
    await storage.aclose()
    with pytest.raises(StorageClosedError):
        await anext(aiter(storage.awatch_config_changes()))


async def test_a_subscription_that_loses_redis_says_so(
    tmp_path: Path, storage_registry: None
) -> None:
    with EmbeddedRedis(tmp_path, persist=False) as server:
        storage = UnifiedStorage(server.url, timeout=0.5, connect_timeout=0.5)
        try:
            watcher = Watcher(storage)
            task = asyncio.create_task(watcher.follow())
            assert await watcher.next() is ConfigChange.SUBSCRIBED
            server.stop()
            await asyncio.wait_for(task, 10)
            assert isinstance(watcher.error, StorageUnavailableError)
        finally:
            await storage.aclose()
