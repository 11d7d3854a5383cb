"""What only a Redis Cluster or a Sentinel set-up has: finding out that a node is a cluster
member, database numbers, unknown services, and a failover while the storage runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from src.storage import StorageConfigurationError, StorageUnavailableError, UnifiedStorage
from tests.redis_topologies import SERVICE, Cluster, SentinelSet

FAILOVER_BUDGET = 10.0
"""Seconds within which the storage must work again after the primary changed."""


def both_apis(storage: UnifiedStorage) -> list[Callable[[], object]]:
    """A read through the blocking API, and one through the async API."""
    return [lambda: storage.get("k"), lambda: asyncio.run(storage.aget("k"))]


def test_any_cluster_node_names_the_cluster(redis_cluster: Cluster, storage_registry: None) -> None:
    written = {f"key-{number}": str(number) for number in range(30)}
    for port in redis_cluster.primary_ports():
        storage = UnifiedStorage(f"redis://127.0.0.1:{port}/0", namespace=f"node-{port}")
        try:
            for key, value in written.items():
                storage.set(key, value)
            assert {key: storage.get(key) for key in written} == written
            assert asyncio.run(storage.aget("key-7")) == "7"
        finally:
            for key in written:
                storage.delete(key)
            storage.close()


def test_a_cluster_has_only_database_0(redis_cluster: Cluster, storage_registry: None) -> None:
    port = redis_cluster.primary_ports()[1]
    storage = UnifiedStorage(f"redis://:s3cr3t@127.0.0.1:{port}/2")
    try:
        for attempt in both_apis(storage):
            with pytest.raises(StorageConfigurationError, match="only database 0") as raised:
                attempt()
            assert "s3cr3t" not in str(raised.value)
    finally:
        storage.close()


def test_an_unknown_sentinel_service_is_unavailable(
    redis_sentinel: SentinelSet, storage_registry: None
) -> None:
    url = redis_sentinel.url.replace(f"/{SERVICE}/", "/no-such-service/")
    storage = UnifiedStorage(url.replace("redis+sentinel://", "redis+sentinel://:s3cr3t@"))
    try:
        for attempt in both_apis(storage):
            with pytest.raises(StorageUnavailableError, match="no-such-service") as raised:
                attempt()
            assert "s3cr3t" not in str(raised.value)
        assert storage.health_check() is False
    finally:
        storage.close()


@pytest.mark.parametrize("api", ["sync", "async"])
def test_the_storage_survives_a_sentinel_failover(
    redis_sentinel: SentinelSet, api: str, storage_registry: None
) -> None:
    storage = UnifiedStorage(redis_sentinel.url, namespace=f"failover-{api}", timeout=1)
    with asyncio.Runner() as runner:

        def write(key: str, value: str) -> None:
            if api == "sync":
                storage.set(key, value)
            else:
                runner.run(storage.aset(key, value))

        def read(key: str) -> str | None:
            return storage.get(key) if api == "sync" else runner.run(storage.aget(key))

        write("before", "1")
        # A write the replica does not have yet is lost in a failover.
        redis_sentinel.replicate()
        killed = redis_sentinel.kill_primary()
        try:
            failed_at = time.monotonic()
            failures = 0
            while True:
                try:
                    write("after", "2")
                    break
                except StorageUnavailableError:
                    failures += 1
                    assert time.monotonic() - failed_at < FAILOVER_BUDGET
                    time.sleep(0.1)
            new_primary = redis_sentinel.wait_for_new_primary(killed)
            assert new_primary != killed.port
            assert failures > 0  # the storage did see its primary go
            assert read("before") == "1"
            assert read("after") == "2"
            with redis_sentinel.client() as primary:
                assert primary.get(f"failover-{api}:kv:after") == b"2"
            storage.delete("before")
            storage.delete("after")
        finally:
            redis_sentinel.restore(killed)
    storage.close()
