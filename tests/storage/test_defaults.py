"""The defaults every process sees: written, repaired, never lost."""

from __future__ import annotations

import asyncio

import pytest
import redis

from src.storage import AUTH_EXCLUDED_PATHS, CorruptRecordError, ProxyTarget, UnifiedStorage
from tests.redis_topologies import namespace_keys


def test_first_use_initialises(storage: UnifiedStorage, raw: redis.Redis, namespace: str) -> None:
    assert raw.exists(f"{namespace}:proxy:localhost") == 0
    localhost = storage.get_proxy_target("localhost")
    assert localhost is not None
    assert localhost.auth_enabled
    assert localhost.auth_excluded_paths == list(AUTH_EXCLUDED_PATHS)
    assert "/token" in localhost.auth_excluded_paths
    assert {route.path_pattern for route in storage.list_routes()} == set(AUTH_EXCLUDED_PATHS)


def test_first_async_use_initialises(storage: UnifiedStorage) -> None:
    localhost = asyncio.run(storage.aget_proxy_target("localhost"))
    assert localhost is not None and localhost.auth_excluded_paths == list(AUTH_EXCLUDED_PATHS)


def test_initialize_repairs_a_localhost_record_without_exclusions(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    # What the second storage instance of the original bug left behind.
    broken = ProxyTarget(
        hostname="localhost",
        target_url="http://api:9000",
        auth_enabled=True,
        custom_headers={"X-Kept": "yes"},
    )
    raw.set(f"{namespace}:proxy:localhost", broken.model_dump_json())
    storage.initialize()
    repaired = storage.get_proxy_target("localhost")
    assert repaired is not None
    assert repaired.auth_excluded_paths == list(AUTH_EXCLUDED_PATHS)
    assert (repaired.target_url, repaired.custom_headers) == ("http://api:9000", {"X-Kept": "yes"})


@pytest.mark.parametrize(
    "changes",
    [{"auth_excluded_paths": ["/token"]}, {"auth_enabled": False}, {"auth_excluded_paths": []}],
)
def test_initialize_repairs_differing_auth_settings(
    storage: UnifiedStorage, changes: dict[str, object]
) -> None:
    storage.initialize()
    storage.update_proxy_target("localhost", changes)
    asyncio.run(storage.ainitialize())
    localhost = storage.get_proxy_target("localhost")
    assert localhost is not None and localhost.auth_enabled
    assert localhost.auth_excluded_paths == list(AUTH_EXCLUDED_PATHS)


def test_initialize_keeps_routes_an_operator_changed(storage: UnifiedStorage) -> None:
    storage.initialize()
    token_route = storage.get_route("oauth-token")
    assert token_route is not None
    storage.store_route(token_route.model_copy(update={"priority": 7}))
    storage.initialize()
    kept = storage.get_route("oauth-token")
    assert kept is not None and kept.priority == 7


def test_a_corrupt_localhost_record_is_reported_not_overwritten(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    key = f"{namespace}:proxy:localhost"
    raw.set(key, b'{"hostname": "localhost", "target_url": 5')
    with pytest.raises(CorruptRecordError, match=key):
        storage.initialize()
    assert raw.get(key) == b'{"hostname": "localhost", "target_url": 5'


def test_initialize_is_idempotent(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    storage.initialize()
    before = snapshot(raw, namespace)
    storage.initialize()
    asyncio.run(storage.ainitialize())
    after = snapshot(raw, namespace)
    assert after == before
    assert f"{namespace}:proxy:localhost".encode() in before


def snapshot(raw: redis.Redis, namespace: str) -> dict[bytes, object]:
    """Every key of the namespace with its value (a set's members as a set)."""
    return {
        key: raw.smembers(key) if raw.type(key) == b"set" else raw.get(key)
        for key in namespace_keys(raw, namespace)
    }
