"""The sync backend: drives operations on one `redis.Redis` connection pool."""

from __future__ import annotations

from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.retry import Retry

from ._config import StorageConfig
from ._errors import StorageError
from ._operations import Atomic, CheckAndSet, Operation, Step
from ._redis_errors import storage_error

T = TypeVar("T")


def retry_policy() -> Retry:
    """One immediate retry, on a dropped connection only.

    A pooled connection that died (Redis restarted) fails once and is replaced. Timeouts
    are not retried: the command may have been applied, and a retry would apply it twice.
    """
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


class RedisBackend:
    """Runs storage operations with blocking I/O; safe to share between threads."""

    def __init__(self, config: StorageConfig) -> None:
        self._redacted_url = config.redacted_url
        # Blocking: a thread beyond `max_connections` waits up to `timeout` for a connection.
        pool = redis.BlockingConnectionPool.from_url(
            config.url, retry=retry_policy(), timeout=config.timeout, **config.client_options()
        )
        self._client = redis.Redis.from_pool(pool)

    def run(self, operation: Operation[T]) -> T:
        """Drive `operation` to its result."""
        try:
            step = next(operation)
            while True:
                try:
                    reply = self._execute(step)
                except StorageError as exc:
                    # Into the operation, which may know better (a corrupt token is no token).
                    step = operation.throw(exc)
                else:
                    step = operation.send(reply)
        except StopIteration as done:
            result: T = done.value
            return result

    def _execute(self, step: Step) -> Any:
        try:
            if isinstance(step, Atomic):
                pipe = self._client.pipeline(transaction=True)
                for command in step.commands:
                    pipe.execute_command(*command)
                return pipe.execute()
            if isinstance(step, CheckAndSet):
                return self._check_and_set(step)
            return self._client.execute_command(*step)
        except RedisError as exc:
            raise storage_error(exc, step, self._redacted_url) from exc

    def _check_and_set(self, step: CheckAndSet) -> bytes | None:
        with self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(step.key)
                    new = step.compute(pipe.execute_command("GET", step.key))
                    if new is None:
                        return None
                    pipe.multi()
                    pipe.set(step.key, new)
                    pipe.execute()
                    return new
                except WatchError:
                    continue

    def close(self) -> None:
        """Close every pooled connection."""
        self._client.close()
