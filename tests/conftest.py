"""Every test talks to a real Redis: `REDIS_URL` when set, else a redis-server this run starts.

The storage suite (`tests/storage`) also runs against a Redis Cluster and a Sentinel set-up
that the run starts itself (`tests/redis_topologies.py`); `--redis-topologies` picks which.

Tests are isolated by namespace: each gets its own key prefix and its keys are deleted
afterwards, so a shared `REDIS_URL` server is never flushed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from src.embedded_redis import EmbeddedRedis
from src.storage import UnifiedStorage
from tests.redis_topologies import TOPOLOGIES, Cluster, SentinelSet, SingleNode, Topology

pytest_plugins = ["src.storage.testing"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-topologies",
        default=",".join(TOPOLOGIES),
        help="comma-separated Redis deployments the storage suite runs against "
        f"(default: all of {', '.join(TOPOLOGIES)})",
    )


@pytest.fixture(scope="session")
def redis_single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """One Redis: `REDIS_URL` when set, else a server of the run's own."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield SingleNode(configured)
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False) as server:
        yield SingleNode(server.url)


@pytest.fixture(scope="session")
def redis_server(redis_single: Topology) -> Topology:
    """The Redis the tests use (`tests/storage` runs on every topology instead)."""
    return redis_single


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A three-primary Redis Cluster of the run's own."""
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSet]:
    """A primary, a replica and three sentinels of the run's own."""
    sentinels = SentinelSet(tmp_path_factory.mktemp("sentinel"))
    yield sentinels
    sentinels.stop()


@pytest.fixture
def redis_url(redis_server: Topology) -> str:
    """The URL of the Redis the tests use. Function-scoped: `tests/storage` overrides
    `redis_server` with a parametrized one, and a session-scoped URL cached by an earlier
    test elsewhere would keep naming the single node."""
    return redis_server.url


@pytest.fixture
def namespace(redis_server: Topology) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    with redis_server.client() as client:
        # Key schema v2 puts the namespace inside an entity's hash tag: `{<name>:...}...`.
        for pattern in (f"{name}:*", f"{{{name}:*"):
            # One key at a time: on a Cluster they live in different slots.
            for key in list(client.scan_iter(match=pattern, count=1000)):
                client.delete(key)


@pytest.fixture
def raw(redis_server: Topology) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test server, to look behind the storage's back."""
    with redis_server.client() as client:
        yield client


@pytest.fixture
def storage(redis_url: str, namespace: str, storage_registry: None) -> Iterator[UnifiedStorage]:
    """The test's one storage instance, in an isolated registry."""
    instance = UnifiedStorage(redis_url, namespace=namespace)
    yield instance
    instance.close()


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest, storage: UnifiedStorage) -> Iterator[Callable[..., Any]]:
    """`call("get", key)` runs `storage.get(key)`, or `storage.aget(key)` on the test's own
    event loop: one test body proves an operation through the blocking API and its async
    twin. (One loop per test, not per call: a new loop means a new async client, and a
    Cluster client's start reads the whole command table.)"""
    if request.param == "sync":
        yield lambda method, *args, **kwargs: getattr(storage, method)(*args, **kwargs)
        return
    with asyncio.Runner() as runner:
        yield lambda method, *args, **kwargs: runner.run(
            getattr(storage, f"a{method}")(*args, **kwargs)
        )


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]
