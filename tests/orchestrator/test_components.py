"""`init_async_components()`: every component on the one storage, built without I/O; bad
settings refused."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from src.api.async_init import DEFAULT_OAUTH_ISSUER, DEFAULT_PORT_RANGE, init_async_components
from src.storage import UnifiedStorage, redact_url
from tests.redis_topologies import namespace_keys


async def test_components_are_built_without_io(
    redis_url: str, storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    components = await init_async_components(redis_url, storage)
    assert components.storage is storage
    assert components.redis_url == redact_url(redis_url)
    assert (components.ports.start, components.ports.end) == DEFAULT_PORT_RANGE
    assert components.oauth.issuer == DEFAULT_OAUTH_ISSUER
    # Not even the defaults: the orchestrator's startup initialises the storage.
    assert list(namespace_keys(raw, namespace)) == []


async def test_settings_reach_their_components(redis_url: str, storage: UnifiedStorage) -> None:
    components = await init_async_components(
        redis_url, storage, port_range=(30000, 30001), oauth_issuer="https://gw.example.com"
    )
    assert (components.ports.start, components.ports.end) == (30000, 30001)
    assert components.oauth.endpoint("/token") == "https://gw.example.com/token"
    service = await components.docker.create_service("web", "nginx:1.27", container_ports=[80])
    assert [mapping.host_port for mapping in service.ports] == [30000]


async def test_the_redis_password_is_redacted(storage: UnifiedStorage) -> None:
    components = await init_async_components("redis://:hunter2@127.0.0.1:1/0", storage)
    assert components.redis_url == "redis://:***@127.0.0.1:1/0"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"port_range": (30001, 30000)}, "start must not exceed end"),
        ({"port_range": (0, 10)}, "start must be a port number"),
        ({"port_range": (30000, 65536)}, "end must be a port number"),
        ({"oauth_issuer": "gw.example.com"}, "invalid issuer"),
        ({"oauth_issuer": "https://gw.example.com/"}, "invalid issuer"),
        ({"oauth_issuer": "https://gw.example.com?x=1"}, "invalid issuer"),
    ],
)
async def test_bad_settings_are_refused(
    redis_url: str,
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    settings: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        await init_async_components(redis_url, storage, **settings)
    assert list(namespace_keys(raw, namespace)) == []
