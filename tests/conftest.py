"""Every test talks to a real Redis: `REDIS_URL` when set, else a redis-server this run starts.

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

pytest_plugins = ["src.storage.testing"]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the Redis the tests use."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False) as server:
        yield server.url


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test server, to look behind the storage's back."""
    with redis.Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
def storage(redis_url: str, namespace: str, storage_registry: None) -> Iterator[UnifiedStorage]:
    """The test's one storage instance, in an isolated registry."""
    instance = UnifiedStorage(redis_url, namespace=namespace)
    yield instance
    instance.close()


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest, storage: UnifiedStorage) -> Callable[..., Any]:
    """`call("get", key)` runs `storage.get(key)`, or `storage.aget(key)` on a fresh loop:
    one test body proves an operation through the blocking API and its async twin."""
    if request.param == "sync":
        return lambda method, *args, **kwargs: getattr(storage, method)(*args, **kwargs)
    return lambda method, *args, **kwargs: asyncio.run(
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
