"""The deprecated shims still work, warn at the caller's line, and are the one instance."""

from __future__ import annotations

import os

import pytest

from src.storage import StorageAlreadyCreatedError, UnifiedStorage, live_instance
from src.storage.async_redis_storage import AsyncRedisStorage  # noqa: STG002 - under test
from src.storage.redis_storage import RedisStorage  # noqa: STG002 - under test


def test_async_shim_warns_at_the_caller(redis_url: str, storage_registry: None) -> None:
    with pytest.warns(DeprecationWarning, match="AsyncRedisStorage is deprecated") as warned:
        shim = AsyncRedisStorage(redis_url)  # site: async shim
    assert (warned[0].filename, warned[0].lineno) == (__file__, line_of("# site: async shim"))
    shim.unified.close()


def line_of(marker: str) -> int:
    """The number of the one line of this file that ends with `marker`."""
    with open(__file__) as source:
        (number,) = (n for n, line in enumerate(source, 1) if line.rstrip().endswith(marker))
    return number


async def test_old_async_call_sites_keep_working(
    redis_url: str, namespace: str, storage_registry: None
) -> None:
    with pytest.warns(DeprecationWarning):
        storage = AsyncRedisStorage(redis_url, namespace=namespace)
    await storage.initialize()
    localhost = await storage.get_proxy_target("localhost")
    assert localhost is not None and "/token" in localhost.auth_excluded_paths
    await storage.set("k", "v")
    assert await storage.get("k") == "v"
    assert await storage.incr("n", 2) == 2
    await storage.close()
    assert live_instance() is None


def test_a_shim_is_the_process_storage(redis_url: str, storage_registry: None) -> None:
    with pytest.warns(DeprecationWarning):
        shim = RedisStorage(redis_url)
    with pytest.raises(StorageAlreadyCreatedError, match=os.path.relpath(__file__)):
        UnifiedStorage(redis_url)
    with pytest.warns(DeprecationWarning), pytest.raises(StorageAlreadyCreatedError):
        AsyncRedisStorage(redis_url)
    shim.close()


def test_sync_shim_has_the_unified_methods(
    redis_url: str, namespace: str, storage_registry: None
) -> None:
    with pytest.warns(DeprecationWarning) as warned:
        storage = RedisStorage(redis_url, namespace=namespace)  # site: sync shim
    assert (warned[0].filename, warned[0].lineno) == (__file__, line_of("# site: sync shim"))
    storage.set("k", "v")
    assert storage.get("k") == "v"
    storage.close()
