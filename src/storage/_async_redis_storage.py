"""The async backend: drives operations on one `redis.asyncio.Redis` per event loop.

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
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError

from ._config import StorageConfig
from ._errors import StorageError
from ._operations import Atomic, CheckAndSet, Operation, Step
from ._redis_errors import storage_error

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _LoopClient:
    client: redis.asyncio.Redis
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

    async def run(self, operation: Operation[T]) -> T:
        """Drive `operation` to its result on the running loop."""
        entry = self._clients.get(asyncio.get_running_loop()) or await self._open()
        async with entry.slots:
            try:
                step = next(operation)
                while True:
                    try:
                        reply = await self._execute(entry.client, step)
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
        """
        client = redis.asyncio.Redis.from_url(
            self._config.url, retry=Retry(NoBackoff(), 0), **self._config.client_options()
        )
        pubsub = client.pubsub()
        step = ("SUBSCRIBE", channel)
        try:
            await pubsub.subscribe(channel)
            yield None
            quiet = 0.0
            while True:
                message = await pubsub.get_message(timeout=self._config.timeout)
                if message is None:
                    if quiet:
                        raise RedisConnectionError("the subscription stopped answering")
                    quiet = self._config.timeout
                    await pubsub.ping()
                    continue
                quiet = 0.0
                if message["type"] == "message":
                    yield message["data"]
        except RedisError as exc:
            raise storage_error(exc, step, self._config.redacted_url) from exc
        finally:
            await pubsub.aclose()
            await client.aclose()

    async def aclose(self) -> None:
        """Close the running loop's client (other loops close theirs when they shut down)."""
        entry = self._clients.get(asyncio.get_running_loop())
        if entry is not None:
            await entry.closer.aclose()

    async def _open(self) -> _LoopClient:
        loop = asyncio.get_running_loop()
        # Same policy as the sync backend: see `_redis_storage.retry_policy`.
        pool = redis.asyncio.ConnectionPool.from_url(
            self._config.url,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            **self._config.client_options(),
        )
        client = redis.asyncio.Redis.from_pool(pool)
        entry = _LoopClient(
            client,
            self._close_with_loop(loop, client),
            asyncio.Semaphore(self._config.max_connections),
        )
        with self._lock:
            self._clients[loop] = entry
        # Nothing above awaited, so no other task on this loop can have opened a client too.
        await entry.closer.asend(None)
        return entry

    async def _close_with_loop(
        self, loop: asyncio.AbstractEventLoop, client: redis.asyncio.Redis
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                self._clients.pop(loop, None)
            await client.aclose()

    async def _execute(self, client: redis.asyncio.Redis, step: Step) -> Any:
        try:
            if isinstance(step, Atomic):
                async with client.pipeline(transaction=True) as pipe:
                    for command in step.commands:
                        pipe.execute_command(*command)
                    return await pipe.execute()
            if isinstance(step, CheckAndSet):
                return await self._check_and_set(client, step)
            return await client.execute_command(*step)
        except RedisError as exc:
            raise storage_error(exc, step, self._config.redacted_url) from exc

    async def _check_and_set(self, client: redis.asyncio.Redis, step: CheckAndSet) -> bytes | None:
        async with client.pipeline() as pipe:
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
