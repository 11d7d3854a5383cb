"""Every storage operation, through the blocking API and through its async twin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from src.storage import ProxyTarget, Route, RouteMode, RouteTargetType, UnifiedStorage

Call = Callable[..., Any]


def target(hostname: str, **fields: Any) -> ProxyTarget:
    return ProxyTarget(hostname=hostname, target_url=f"http://{hostname}.internal:8080", **fields)


def route(route_id: str, priority: int) -> Route:
    return Route(
        route_id=route_id,
        path_pattern=f"/{route_id}",
        target_type=RouteTargetType.PORT,
        target_value="9000",
        priority=priority,
    )


def test_plain_values(call: Call) -> None:
    assert call("get", "greeting") is None
    call("set", "greeting", "héllo")
    assert call("get", "greeting") == "héllo"
    assert call("delete", "greeting") is True
    assert call("delete", "greeting") is False
    assert call("get", "greeting") is None


def test_value_ttl_expires(call: Call, raw: redis.Redis, namespace: str) -> None:
    call("set", "short-lived", "x", 0.2)
    remaining = raw.pttl(f"{namespace}:kv:short-lived")
    assert 0 < remaining <= 200
    time.sleep(0.3)
    assert call("get", "short-lived") is None


@pytest.mark.parametrize("ttl", [0, -1, 0.0001])
def test_ttl_must_be_positive(call: Call, ttl: float) -> None:
    with pytest.raises(ValueError, match="TTL"):
        call("set", "k", "v", ttl)


def test_counter(call: Call) -> None:
    assert call("incr", "hits") == 1
    assert call("incr", "hits", 41) == 42
    assert call("incr", "hits", -2) == 40
    assert call("get", "hits") == "40"


def test_proxy_targets(call: Call) -> None:
    stored = target("App.Example.com", custom_headers={"X-Env": "test"}, route_mode="selective")
    call("store_proxy_target", stored)
    found = call("get_proxy_target", "app.example.COM")
    assert found == stored
    assert found.hostname == "app.example.com"
    assert found.route_mode is RouteMode.SELECTIVE

    call("store_proxy_target", target("b.example.com"))
    hostnames = [t.hostname for t in call("list_proxy_targets")]
    assert hostnames == ["app.example.com", "b.example.com", "localhost"]

    updated = call("update_proxy_target", "app.example.com", {"enabled": False, "cert_name": "c1"})
    assert (updated.enabled, updated.cert_name) == (False, "c1")
    assert call("get_proxy_target", "app.example.com") == updated
    assert call("update_proxy_target", "missing.example.com", {"enabled": False}) is None

    assert call("delete_proxy_target", "app.example.com") is True
    assert call("delete_proxy_target", "app.example.com") is False
    assert call("get_proxy_target", "app.example.com") is None


def test_update_is_validated(call: Call) -> None:
    call("store_proxy_target", target("a.example.com"))
    with pytest.raises(ValueError, match="auth_excluded_paths"):
        call("update_proxy_target", "a.example.com", {"auth_excluded_paths": ["no-slash"]})
    with pytest.raises(ValueError, match="hostname is its key"):
        call("update_proxy_target", "a.example.com", {"hostname": "b.example.com"})
    assert call("get_proxy_target", "a.example.com") == target(
        "a.example.com", created_at=call("get_proxy_target", "a.example.com").created_at
    )


def test_routes_by_priority(call: Call) -> None:
    defaults = {r.route_id for r in call("list_routes")}
    call("store_route", route("low", 10))
    call("store_route", route("high", 900))
    call("store_route", route("mid", 50))
    assert call("get_route", "mid") == route("mid", 50).model_copy(
        update={"created_at": call("get_route", "mid").created_at}
    )
    ours = [r.route_id for r in call("list_routes") if r.route_id not in defaults]
    assert ours == ["high", "mid", "low"]
    priorities = [r.priority for r in call("list_routes")]
    assert priorities == sorted(priorities, reverse=True)
    assert call("delete_route", "mid") is True
    assert call("delete_route", "mid") is False
    assert call("get_route", "mid") is None


def test_health_check(call: Call) -> None:
    assert call("health_check") is True


def test_context_managers(redis_url: str, namespace: str, storage_registry: None) -> None:
    with UnifiedStorage(redis_url, namespace=namespace) as storage:
        assert storage.get_proxy_target("localhost") is not None
    with pytest.raises(Exception, match="closed"):
        storage.get("k")

    async def use_async() -> None:
        async with UnifiedStorage(redis_url, namespace=namespace) as again:
            await again.aset("k", "v")
            assert await again.aget("k") == "v"

    asyncio.run(use_async())


def test_namespaces_do_not_see_each_other(
    redis_url: str, storage: UnifiedStorage, storage_registry: None, raw: redis.Redis
) -> None:
    storage.set("shared-name", "mine")
    assert raw.get("kv:shared-name") is None
    assert any(key.endswith(b":kv:shared-name") for key in raw.scan_iter(match="test-*"))
