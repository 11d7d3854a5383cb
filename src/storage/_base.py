"""The engine under every record family: configuration, registration, lifecycle, and the
two drivers that run I/O-free operations with blocking or async I/O."""

from __future__ import annotations

import asyncio
import threading
import weakref
from types import TracebackType
from typing import Self, TypeVar

from . import _operations as ops
from ._async_redis_storage import AsyncRedisBackend
from ._config import StorageConfig
from ._defaults import DefaultsReport
from ._errors import StorageClosedError, StorageUnavailableError, SyncCallInAsyncContextError
from ._keys import KeySchema
from ._redis_storage import RedisBackend
from ._registry import StorageInstanceInfo, creation_site, registry
from ._schema_migration import startup

T = TypeVar("T")


class StorageBase:
    """Connection, registration and lifecycle; record families build their methods on
    `_run` (blocking) and `_arun` (async). See `UnifiedStorage` for the arguments."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        namespace: str = "",
        connect_timeout: float = 5.0,
        timeout: float = 5.0,
        max_connections: int = 50,
        wait_for_replicas: int | None = None,
        replica_wait_timeout: float = 0.1,
    ) -> None:
        config = StorageConfig.create(
            redis_url,
            connect_timeout=connect_timeout,
            timeout=timeout,
            max_connections=max_connections,
            wait_for_replicas=wait_for_replicas,
            replica_wait_timeout=replica_wait_timeout,
        )
        self._keys = KeySchema(namespace)
        self._sync = RedisBackend(config)
        self._async = AsyncRedisBackend(config)
        self._initialized = False
        self._closed = False
        self._lock = threading.Lock()
        self._initializing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
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
            await self._ainitialize_once()
        return await self._async.run(operation)

    async def _ainitialize_once(self) -> None:
        # The first task of a loop initialises; the loop's others wait for it rather than
        # all writing the defaults at once (hundreds of WATCHes on one key, on a Cluster).
        loop = asyncio.get_running_loop()
        with self._lock:
            initializing = self._initializing.setdefault(loop, asyncio.Lock())
        async with initializing:
            if not self._initialized:
                await self.ainitialize()

    # Lifecycle

    def initialize(self) -> None:
        """Verify the connection, migrate the data to the current key schema if it is older
        (once, whatever the processes starting; see `src/storage/README.md`), and write the
        defaults (the `localhost` proxy target with its auth exclusions, the OAuth routes),
        repairing them if they were changed. Idempotent."""
        self._run(startup(self._keys), "initialize", auto_initialize=False)
        self._initialized = True

    async def ainitialize(self) -> None:
        """Async twin of `initialize()`."""
        await self._arun(startup(self._keys), auto_initialize=False)
        self._initialized = True

    def ensure_defaults(self) -> DefaultsReport:
        """Check the defaults (the `localhost` target with its auth exclusions, the default
        routes) and write again, at once, those missing or changed; what was wrong.

        A corrupt default record is reported and left untouched. Raises
        `StorageUnavailableError` when Redis does not answer.
        """
        return self._run(ops.ensure_defaults(self._keys), "ensure_defaults")

    async def aensure_defaults(self) -> DefaultsReport:
        """Async twin of `ensure_defaults()`."""
        return await self._arun(ops.ensure_defaults(self._keys))

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
