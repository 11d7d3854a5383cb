"""Deprecated: the old async storage module. Use `from src.storage import UnifiedStorage`.

Old call sites keep working unchanged (`await storage.get_proxy_target(host)`): every old
method is a coroutine that delegates to the async twin of the process's one storage.
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

from ._models import ProxyTarget, Route
from .unified_storage import UnifiedStorage

__all__ = ["AsyncRedisStorage"]


class AsyncRedisStorage:
    """Deprecated async facade over `UnifiedStorage`; constructing it creates the one storage."""

    def __init__(self, redis_url: str | None = None, **options: Any) -> None:
        warnings.warn(
            "AsyncRedisStorage is deprecated: use `from src.storage import UnifiedStorage`, take "
            "the instance the composition root passes in, and await its `a`-prefixed methods",
            DeprecationWarning,
            stacklevel=2,
        )
        self.unified = UnifiedStorage(redis_url, **options)

    async def initialize(self) -> None:
        await self.unified.ainitialize()

    async def close(self) -> None:
        await self.unified.aclose()

    async def health_check(self) -> bool:
        return await self.unified.ahealth_check()

    async def get(self, key: str) -> str | None:
        return await self.unified.aget(key)

    async def set(self, key: str, value: str, ttl: float | timedelta | None = None) -> None:
        await self.unified.aset(key, value, ttl)

    async def delete(self, key: str) -> bool:
        return await self.unified.adelete(key)

    async def incr(self, key: str, amount: int = 1) -> int:
        return await self.unified.aincr(key, amount)

    async def store_proxy_target(self, target: ProxyTarget) -> None:
        await self.unified.astore_proxy_target(target)

    async def get_proxy_target(self, hostname: str) -> ProxyTarget | None:
        return await self.unified.aget_proxy_target(hostname)

    async def list_proxy_targets(self) -> list[ProxyTarget]:
        return await self.unified.alist_proxy_targets()

    async def update_proxy_target(
        self, hostname: str, changes: dict[str, Any]
    ) -> ProxyTarget | None:
        return await self.unified.aupdate_proxy_target(hostname, changes)

    async def delete_proxy_target(self, hostname: str) -> bool:
        return await self.unified.adelete_proxy_target(hostname)

    async def store_route(self, route: Route) -> None:
        await self.unified.astore_route(route)

    async def get_route(self, route_id: str) -> Route | None:
        return await self.unified.aget_route(route_id)

    async def list_routes(self) -> list[Route]:
        return await self.unified.alist_routes()

    async def delete_route(self, route_id: str) -> bool:
        return await self.unified.adelete_route(route_id)

    async def allocate_port(self, service: str, start: int, end: int) -> int:
        return await self.unified.aallocate_port(service, start, end)

    async def release_port(self, port: int) -> bool:
        return await self.unified.arelease_port(port)

    async def get_port_owner(self, port: int) -> str | None:
        return await self.unified.aget_port_owner(port)

    async def list_ports(self, service: str) -> list[int]:
        return await self.unified.alist_ports(service)

    async def release_service_ports(self, service: str) -> list[int]:
        return await self.unified.arelease_service_ports(service)
