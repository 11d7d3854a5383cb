"""The sync backend: drives operations on one blocking redis-py client.

Which client is decided at the first connection (see `_config` for the URLs): a
`redis.Redis` on a `BlockingConnectionPool` for a single server, a `RedisCluster` when that
server says it is a cluster node (`INFO cluster`), or the primary a `Sentinel` names.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any, TypeVar

import redis
import redis.cluster
import redis.sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError, WatchError
from redis.retry import Retry

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


def retry_policy() -> Retry:
    """One immediate retry, on a dropped connection only.

    A pooled connection that died (Redis restarted, a Sentinel primary demoted) fails once
    and is replaced. Timeouts are not retried: the command may have been applied, and a
    retry would apply it twice.
    """
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


class _Cluster(redis.cluster.RedisCluster):
    # redis-py retries timeouts on a cluster too; the storage's policy is the same
    # everywhere (see `retry_policy`).
    ERRORS_ALLOW_RETRY = CLUSTER_RETRIED_ERRORS  # type: ignore[assignment]

    def close(self) -> None:
        # `RedisCluster.close` leaves the nodes' pools (which it did not create through
        # `from_url` of their own) connected, their sockets to the garbage collector.
        self.disconnect_connection_pools()  # type: ignore[no-untyped-call]
        super().close()


class _BlockingSentinelPool(redis.sentinel.SentinelConnectionPool, redis.BlockingConnectionPool):
    """A Sentinel pool that makes a thread beyond `max_connections` wait, as on one node."""


class RedisBackend:
    """Runs storage operations with blocking I/O; safe to share between threads."""

    def __init__(self, config: StorageConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._cluster = False
        self._sentinel: redis.sentinel.Sentinel | None = None

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

    def _connected(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                try:
                    self._client = self._connect()
                except (RedisError, RedisClusterException) as exc:
                    raise unavailable(exc, self._config.redacted_url) from exc
            return self._client

    def _connect(self) -> redis.Redis:
        config = self._config
        if config.sentinel is not None:
            settings = config.sentinel
            self._sentinel = redis.sentinel.Sentinel(
                list(settings.sentinels),
                sentinel_kwargs=config.sentinel_options(),
                **config.sentinel_data_options(),
            )
            client: redis.Redis = self._sentinel.master_for(
                settings.service_name,
                redis_class=redis.Redis,
                connection_pool_class=_BlockingSentinelPool,
                retry=retry_policy(),
                timeout=config.timeout,
            )
            return client
        # Blocking: a thread beyond `max_connections` waits up to `timeout` for a connection.
        pool = redis.BlockingConnectionPool.from_url(
            config.url, retry=retry_policy(), timeout=config.timeout, **config.client_options()
        )
        single = redis.Redis.from_pool(pool)
        try:
            cluster_enabled = single.info("cluster").get("cluster_enabled")
        except RedisError as exc:
            single.close()
            if isinstance(exc, ResponseError) and refused_select(exc):
                config.check_cluster_database()
            raise
        if not cluster_enabled:
            return single
        single.close()
        self._cluster = True
        cluster: Any = _Cluster.from_url(
            config.url,
            retry=Retry(NoBackoff(), 1),
            connection_pool_class=functools.partial(
                redis.BlockingConnectionPool, timeout=config.timeout
            ),
            **config.client_options(),
        )
        # A `RedisCluster` answers every command the storage sends as a `redis.Redis` does.
        return cluster  # type: ignore[no-any-return]

    def _execute(self, step: Step) -> Any:
        if isinstance(step, Pause):
            time.sleep(step.seconds)
            return None
        client = self._connected()
        try:
            if isinstance(step, Atomic):
                pipe = client.pipeline(transaction=True)
                for command in step.commands:
                    pipe.execute_command(*command)
                return pipe.execute()
            if isinstance(step, CheckAndSet):
                return self._check_and_set(client, step)
            if isinstance(step, Scan):
                return sorted(set(client.scan_iter(match=step.pattern, count=SCAN_BATCH)))
            if isinstance(step, GetMany):
                if self._cluster:
                    return client.mget_nonatomic(step.keys)  # type: ignore[attr-defined]
                return client.mget(step.keys)
            if isinstance(step, Replicated):
                return self._replicated(client, step)
            return client.execute_command(*step)
        except (RedisError, RedisClusterException) as exc:
            raise storage_error(exc, step, self._config.redacted_url) from exc

    def _replicated(self, client: redis.Redis, step: Replicated) -> Any:
        config = self._config
        if not config.wait_for_replicas:
            return client.execute_command(*step.command)
        if self._cluster:
            raise config.no_replica_wait_on_cluster()
        # WAIT counts the replicas that have this connection's writes: one pipeline is one
        # connection. Not a transaction: WAIT does not wait inside MULTI.
        pipe = client.pipeline(transaction=False)
        pipe.execute_command(*step.command)
        pipe.execute_command("WAIT", config.wait_for_replicas, config.replica_wait_ms)
        reply, acknowledged = pipe.execute()
        if acknowledged < config.wait_for_replicas:
            unacknowledged(
                step.command, acknowledged, config.wait_for_replicas, config.replica_wait_timeout
            )
        return reply

    @staticmethod
    def _check_and_set(client: redis.Redis, step: CheckAndSet) -> bytes | None:
        with client.pipeline(transaction=True) as pipe:
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
        """Close every pooled connection (and the sentinels')."""
        with self._lock:
            client, self._client = self._client, None
            sentinel, self._sentinel = self._sentinel, None
        if client is not None:
            client.close()
        if sentinel is not None:
            for sentinel_client in sentinel.sentinels:
                sentinel_client.close()
