"""The async backend: drives operations on one redis-py asyncio client per event loop.

The client is of the same kind as the sync backend's (see `_redis_storage`): a
`redis.asyncio.Redis` on one server or on the primary a Sentinel names, a
`redis.asyncio.cluster.RedisCluster` on a cluster node.

An asyncio client is bound to the loop it first ran on, so each running loop gets its own
client, created on first use. It is closed with its loop: a started async generator holds
it, and every standard runner (`asyncio.run`, `asyncio.Runner`, uvicorn) finalises async
generators in `loop.shutdown_asyncgens()` before closing the loop. A loop closed without
that must call `aclose()` first.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError, WatchError

from ._config import StorageConfig
from ._errors import StorageError
from ._operations import (
    SCAN_BATCH,
    Atomic,
    CheckAndSet,
    GetMany,
    Operation,
    Pause,
    Replicated,
    Scan,
    Step,
)
from ._redis_errors import (
    CLUSTER_RETRIED_ERRORS,
    refused_select,
    storage_error,
    unacknowledged,
    unavailable,
)

T = TypeVar("T")


def _retry_policy() -> Retry:
    # Same policy as the sync backend: see `_redis_storage.retry_policy`.
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


class _Cluster(redis.asyncio.cluster.RedisCluster):
    # As in the sync backend: timeouts are never retried.
    ERRORS_ALLOW_RETRY = CLUSTER_RETRIED_ERRORS  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class _LoopClient:
    client: redis.asyncio.Redis
    cluster: bool
    sentinel: redis.asyncio.sentinel.Sentinel | None
    closer: AsyncGenerator[None, None]
    # redis.asyncio's pool fails at once when exhausted, and its blocking pool costs ~15%
    # per call; a semaphore makes the tasks beyond the pool's size wait their turn instead.
    slots: asyncio.Semaphore


class AsyncRedisBackend:
    """Runs storage operations on the running event loop; any number of loops and threads."""

    def __init__(self, config: StorageConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._clients: dict[asyncio.AbstractEventLoop, _LoopClient] = {}
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    async def run(self, operation: Operation[T]) -> T:
        """Drive `operation` to its result on the running loop."""
        entry = self._clients.get(asyncio.get_running_loop()) or await self._open_once()
        async with entry.slots:
            try:
                step = next(operation)
                while True:
                    try:
                        reply = await self._execute(entry, step)
                    except StorageError as exc:
                        # As in the sync backend: the operation may handle it.
                        step = operation.throw(exc)
                    else:
                        step = operation.send(reply)
            except StopIteration as done:
                result: T = done.value
                return result

    async def subscribe(self, channel: str) -> AsyncIterator[bytes | None]:
        """`None` once subscribed to `channel`, then the data of each message published
        on it; a `StorageError` when the connection breaks or stops answering.

        The subscription has a client of its own, which never reconnects by itself:
        redis-py's would subscribe again silently, and what was published meanwhile would
        be lost without anyone knowing. It is pinged when quiet: a connection cut without a
        reset would otherwise wait forever.

        Under Sentinel it listens on the primary (a failover breaks it: subscribe again). On
        a Cluster it listens on the node the URL names: a Cluster passes every PUBLISH to
        all its nodes.
        """
        config = self._config
        never_again = Retry(NoBackoff(), 0)
        sentinel: redis.asyncio.sentinel.Sentinel | None = None
        if config.sentinel is not None:
            sentinel = redis.asyncio.sentinel.Sentinel(
                list(config.sentinel.sentinels),
                sentinel_kwargs=config.sentinel_options(),
                **config.sentinel_data_options(),
            )
            client: redis.asyncio.Redis = sentinel.master_for(
                config.sentinel.service_name, redis_class=redis.asyncio.Redis, retry=never_again
            )
        else:
            client = redis.asyncio.Redis.from_url(
                config.url, retry=never_again, **config.client_options()
            )
        pubsub = client.pubsub()
        step = ("SUBSCRIBE", channel)
        try:
            await pubsub.subscribe(channel)
            yield None
            quiet = 0.0
            while True:
                message = await pubsub.get_message(timeout=config.timeout)
                if message is None:
                    if quiet:
                        raise RedisConnectionError("the subscription stopped answering")
                    quiet = config.timeout
                    await pubsub.ping()
                    continue
                quiet = 0.0
                if message["type"] == "message":
                    yield message["data"]
        except RedisError as exc:
            raise storage_error(exc, step, config.redacted_url) from exc
        finally:
            await pubsub.aclose()
            await client.aclose()
            if sentinel is not None:
                for connection in sentinel.sentinels:
                    await connection.aclose()

    async def aclose(self) -> None:
        """Close the running loop's client (other loops close theirs when they shut down)."""
        entry = self._clients.get(asyncio.get_running_loop())
        if entry is not None:
            await entry.closer.aclose()

    async def _open_once(self) -> _LoopClient:
        """The running loop's client; the first task to need it connects, the others of
        the loop wait for it (connecting awaits: it asks the server what it is)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            opening = self._opening.setdefault(loop, asyncio.Lock())
        async with opening:
            try:
                return self._clients.get(loop) or await self._open(loop)
            finally:
                with self._lock:
                    if self._opening.get(loop) is opening:
                        del self._opening[loop]

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _LoopClient:
        try:
            client, cluster, sentinel = await self._connect()
        except (RedisError, RedisClusterException) as exc:
            raise unavailable(exc, self._config.redacted_url) from exc
        entry = _LoopClient(
            client,
            cluster,
            sentinel,
            self._close_with_loop(loop, client, sentinel),
            asyncio.Semaphore(self._config.max_connections),
        )
        with self._lock:
            self._clients[loop] = entry
        await entry.closer.asend(None)
        return entry

    async def _connect(
        self,
    ) -> tuple[redis.asyncio.Redis, bool, redis.asyncio.sentinel.Sentinel | None]:
        config = self._config
        if config.sentinel is not None:
            settings = config.sentinel
            sentinel = redis.asyncio.sentinel.Sentinel(
                list(settings.sentinels),
                sentinel_kwargs=config.sentinel_options(),
                **config.sentinel_data_options(),
            )
            primary: redis.asyncio.Redis = sentinel.master_for(
                settings.service_name, redis_class=redis.asyncio.Redis, retry=_retry_policy()
            )
            return primary, False, sentinel
        pool = redis.asyncio.ConnectionPool.from_url(
            config.url, retry=_retry_policy(), **config.client_options()
        )
        single = redis.asyncio.Redis.from_pool(pool)
        try:
            info = await single.info("cluster")
        except BaseException as exc:
            await single.aclose()
            if isinstance(exc, ResponseError) and refused_select(exc):
                config.check_cluster_database()
            raise
        if not info.get("cluster_enabled"):
            return single, False, None
        await single.aclose()
        cluster: Any = _Cluster.from_url(
            config.url, retry=Retry(NoBackoff(), 1), **config.client_options()
        )
        await cluster.initialize()
        # A `RedisCluster` answers every command the storage sends as a `redis.Redis` does.
        return cluster, True, None

    async def _close_with_loop(
        self,
        loop: asyncio.AbstractEventLoop,
        client: redis.asyncio.Redis,
        sentinel: redis.asyncio.sentinel.Sentinel | None,
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                self._clients.pop(loop, None)
            await _close(client, sentinel)

    async def _execute(self, entry: _LoopClient, step: Step) -> Any:
        if isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
            return None
        client = entry.client
        try:
            if isinstance(step, Atomic):
                async with client.pipeline(transaction=True) as pipe:
                    for command in step.commands:
                        pipe.execute_command(*command)
                    return await pipe.execute()
            if isinstance(step, CheckAndSet):
                return await self._check_and_set(client, step)
            if isinstance(step, Scan):
                keys = client.scan_iter(match=step.pattern, count=SCAN_BATCH)
                return sorted({key async for key in keys})
            if isinstance(step, GetMany):
                if entry.cluster:
                    return await client.mget_nonatomic(step.keys)  # type: ignore[attr-defined]
                return await client.mget(step.keys)
            if isinstance(step, Replicated):
                return await self._replicated(entry, step)
            return await client.execute_command(*step)
        except (RedisError, RedisClusterException) as exc:
            raise storage_error(exc, step, self._config.redacted_url) from exc

    async def _replicated(self, entry: _LoopClient, step: Replicated) -> Any:
        config = self._config
        if not config.wait_for_replicas:
            return await entry.client.execute_command(*step.command)
        if entry.cluster:
            raise config.no_replica_wait_on_cluster()
        # As in the sync backend: the write and WAIT on one connection, no transaction.
        async with entry.client.pipeline(transaction=False) as pipe:
            pipe.execute_command(*step.command)
            pipe.execute_command("WAIT", config.wait_for_replicas, config.replica_wait_ms)
            reply, acknowledged = await pipe.execute()
        if acknowledged < config.wait_for_replicas:
            unacknowledged(
                step.command, acknowledged, config.wait_for_replicas, config.replica_wait_timeout
            )
        return reply

    @staticmethod
    async def _check_and_set(client: redis.asyncio.Redis, step: CheckAndSet) -> bytes | None:
        async with client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(step.key)
                    # In WATCH mode the pipeline runs commands at once and returns the reply.
                    current = cast("bytes | None", await pipe.execute_command("GET", step.key))
                    new = step.compute(current)
                    if new is None:
                        return None
                    pipe.multi()
                    pipe.set(step.key, new)
                    await pipe.execute()
                    return new
                except WatchError:
                    continue


async def _close(
    client: redis.asyncio.Redis, sentinel: redis.asyncio.sentinel.Sentinel | None
) -> None:
    await client.aclose()
    if sentinel is not None:
        for sentinel_client in sentinel.sentinels:
            await sentinel_client.aclose()
