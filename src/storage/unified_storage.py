"""`UnifiedStorage`: the one storage of the gateway, for sync and async code alike."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from . import _operations as ops
from ._async_redis_storage import AsyncRedisBackend
from ._config import StorageConfig
from ._errors import StorageClosedError, StorageUnavailableError, SyncCallInAsyncContextError
from ._keys import KeySchema
from ._models import ProxyTarget, Route
from ._redis_storage import RedisBackend
from ._registry import StorageInstanceInfo, creation_site, registry

T = TypeVar("T")


class UnifiedStorage:
    """The gateway's storage on Redis: one instance per process, created by the composition root.

    Every operation has a blocking method and an async twin with an `a` prefix
    (`get_proxy_target()` / `await aget_proxy_target()`). Blocking methods raise
    `SyncCallInAsyncContextError` on a thread that runs an event loop. The first operation
    initialises the storage (see `initialize()`) if nobody did.

    Args:
        redis_url: `redis://`, `rediss://` or `unix://` URL; defaults to `REDIS_URL`.
        namespace: prefix of every key, for several gateways (or tests) on one Redis.
        connect_timeout: seconds to wait for a connection before `StorageUnavailableError`.
        timeout: seconds to wait for a reply before `StorageUnavailableError`.
        max_connections: size of each connection pool; callers beyond it wait up to
            `timeout` for a free connection.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        namespace: str = "",
        connect_timeout: float = 5.0,
        timeout: float = 5.0,
        max_connections: int = 50,
    ) -> None:
        config = StorageConfig.create(
            redis_url,
            connect_timeout=connect_timeout,
            timeout=timeout,
            max_connections=max_connections,
        )
        self._keys = KeySchema(namespace)
        self._sync = RedisBackend(config)
        self._async = AsyncRedisBackend(config)
        self._initialized = False
        self._closed = False
        self.info = StorageInstanceInfo(type(self).__name__, config.redacted_url, creation_site())
        registry.register(self, self.info)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.info.redis_url}>"

    # Driving operations

    def _run(self, operation: ops.Operation[T], method: str, *, auto_initialize: bool = True) -> T:
        if asyncio._get_running_loop() is not None:
            raise SyncCallInAsyncContextError(method)
        if self._closed:
            raise StorageClosedError(f"{self!r} is closed")
        if auto_initialize and not self._initialized:
            self.initialize()
        return self._sync.run(operation)

    async def _arun(self, operation: ops.Operation[T], *, auto_initialize: bool = True) -> T:
        if self._closed:
            raise StorageClosedError(f"{self!r} is closed")
        if auto_initialize and not self._initialized:
            await self.ainitialize()
        return await self._async.run(operation)

    # Lifecycle

    def initialize(self) -> None:
        """Verify the connection and write the defaults (the `localhost` proxy target with its
        auth exclusions, the OAuth routes), repairing them if they were changed. Idempotent."""
        self._run(ops.initialize(self._keys), "initialize", auto_initialize=False)
        self._initialized = True

    async def ainitialize(self) -> None:
        """Async twin of `initialize()`."""
        await self._arun(ops.initialize(self._keys), auto_initialize=False)
        self._initialized = True

    def health_check(self) -> bool:
        """Whether Redis answers a PING within the timeouts."""
        try:
            return self._run(ops.ping(), "health_check", auto_initialize=False)
        except StorageUnavailableError:
            return False

    async def ahealth_check(self) -> bool:
        """Async twin of `health_check()`."""
        try:
            return await self._arun(ops.ping(), auto_initialize=False)
        except StorageUnavailableError:
            return False

    def close(self) -> None:
        """Close the connections and free the process's storage slot. Idempotent.

        Async clients of loops that are still running close when their loop shuts down.
        """
        if asyncio._get_running_loop() is not None:
            raise SyncCallInAsyncContextError("close")
        self._release()

    async def aclose(self) -> None:
        """Async twin of `close()`; also closes the running loop's client at once."""
        await self._async.aclose()
        self._release()

    def _release(self) -> None:
        self._closed = True
        self._sync.close()
        registry.release(self)

    def __enter__(self) -> Self:
        self.initialize()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        await self.ainitialize()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Plain values and counters

    def get(self, key: str) -> str | None:
        """The text stored at `key`, or `None`."""
        return self._run(ops.get_value(self._keys, key), "get")

    async def aget(self, key: str) -> str | None:
        """Async twin of `get()`."""
        return await self._arun(ops.get_value(self._keys, key))

    def set(self, key: str, value: str, ttl: float | timedelta | None = None) -> None:
        """Store `value` at `key`, expiring after `ttl` (seconds or timedelta) when given."""
        self._run(ops.set_value(self._keys, key, value, ttl), "set")

    async def aset(self, key: str, value: str, ttl: float | timedelta | None = None) -> None:
        """Async twin of `set()`."""
        await self._arun(ops.set_value(self._keys, key, value, ttl))

    def delete(self, key: str) -> bool:
        """Delete `key`; `True` if it existed."""
        return self._run(ops.delete_value(self._keys, key), "delete")

    async def adelete(self, key: str) -> bool:
        """Async twin of `delete()`."""
        return await self._arun(ops.delete_value(self._keys, key))

    def incr(self, key: str, amount: int = 1) -> int:
        """Add `amount` to the integer at `key` (0 when absent), atomically; the new value."""
        return self._run(ops.increment(self._keys, key, amount), "incr")

    async def aincr(self, key: str, amount: int = 1) -> int:
        """Async twin of `incr()`."""
        return await self._arun(ops.increment(self._keys, key, amount))

    # Proxy targets

    def store_proxy_target(self, target: ProxyTarget) -> None:
        """Create or replace the proxy target of `target.hostname`."""
        self._run(ops.store_proxy_target(self._keys, target), "store_proxy_target")

    async def astore_proxy_target(self, target: ProxyTarget) -> None:
        """Async twin of `store_proxy_target()`."""
        await self._arun(ops.store_proxy_target(self._keys, target))

    def get_proxy_target(self, hostname: str) -> ProxyTarget | None:
        """The proxy target of `hostname` (case-insensitive), or `None`."""
        return self._run(ops.get_proxy_target(self._keys, hostname), "get_proxy_target")

    async def aget_proxy_target(self, hostname: str) -> ProxyTarget | None:
        """Async twin of `get_proxy_target()`."""
        return await self._arun(ops.get_proxy_target(self._keys, hostname))

    def list_proxy_targets(self) -> list[ProxyTarget]:
        """Every proxy target, sorted by hostname."""
        return self._run(ops.list_proxy_targets(self._keys), "list_proxy_targets")

    async def alist_proxy_targets(self) -> list[ProxyTarget]:
        """Async twin of `list_proxy_targets()`."""
        return await self._arun(ops.list_proxy_targets(self._keys))

    def update_proxy_target(self, hostname: str, changes: Mapping[str, Any]) -> ProxyTarget | None:
        """Apply `changes` (field: value) atomically and validated; `None` if there is no target."""
        return self._run(
            ops.update_proxy_target(self._keys, hostname, changes), "update_proxy_target"
        )

    async def aupdate_proxy_target(
        self, hostname: str, changes: Mapping[str, Any]
    ) -> ProxyTarget | None:
        """Async twin of `update_proxy_target()`."""
        return await self._arun(ops.update_proxy_target(self._keys, hostname, changes))

    def delete_proxy_target(self, hostname: str) -> bool:
        """Delete the proxy target of `hostname`; `True` if it existed."""
        return self._run(ops.delete_proxy_target(self._keys, hostname), "delete_proxy_target")

    async def adelete_proxy_target(self, hostname: str) -> bool:
        """Async twin of `delete_proxy_target()`."""
        return await self._arun(ops.delete_proxy_target(self._keys, hostname))

    # Routes

    def store_route(self, route: Route) -> None:
        """Create or replace the route `route.route_id`."""
        self._run(ops.store_route(self._keys, route), "store_route")

    async def astore_route(self, route: Route) -> None:
        """Async twin of `store_route()`."""
        await self._arun(ops.store_route(self._keys, route))

    def get_route(self, route_id: str) -> Route | None:
        """The route `route_id`, or `None`."""
        return self._run(ops.get_route(self._keys, route_id), "get_route")

    async def aget_route(self, route_id: str) -> Route | None:
        """Async twin of `get_route()`."""
        return await self._arun(ops.get_route(self._keys, route_id))

    def list_routes(self) -> list[Route]:
        """Every route, highest priority first."""
        return self._run(ops.list_routes(self._keys), "list_routes")

    async def alist_routes(self) -> list[Route]:
        """Async twin of `list_routes()`."""
        return await self._arun(ops.list_routes(self._keys))

    def delete_route(self, route_id: str) -> bool:
        """Delete the route `route_id`; `True` if it existed."""
        return self._run(ops.delete_route(self._keys, route_id), "delete_route")

    async def adelete_route(self, route_id: str) -> bool:
        """Async twin of `delete_route()`."""
        return await self._arun(ops.delete_route(self._keys, route_id))
