"""How redis-py's exceptions become storage errors, and what a write the replicas did not
acknowledge logs; shared by both backends."""

from __future__ import annotations

import logging

from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._codec import key_text
from ._errors import CorruptRecordError, StorageError, StorageUnavailableError
from ._operations import Atomic, CheckAndSet, Command, GetMany, Pause, Replicated, Scan, Step

logger = logging.getLogger(__name__)

CLUSTER_RETRIED_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    ClusterDownError,
    SlotNotCoveredError,
)
"""What a cluster client retries (once, at once): a dropped connection and a cluster that
is reconfiguring, never a timeout."""

_UNAVAILABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    # A cluster without a primary for the slot, or moving it.
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
    # A Sentinel primary demoted while a connection to it was in use.
    ReadOnlyError,
)


def refused_select(exc: ResponseError) -> bool:
    """Whether a cluster node refused the SELECT of a database other than 0."""
    return "not allowed in cluster mode" in str(exc)


def unacknowledged(command: Command, acknowledged: int, wanted: int, timeout: float) -> None:
    """Log a grant-critical write fewer replicas acknowledged than wanted (it stays applied
    on the primary: nothing can withdraw it)."""
    key = _first_key(command)
    logger.warning(
        "a write of %s was acknowledged by %d of %d replicas within %.0f ms: a failover now "
        "could lose it",
        key,
        acknowledged,
        wanted,
        timeout * 1000,
    )


def unavailable(exc: Exception, redacted_url: str) -> StorageUnavailableError:
    """The error for a Redis that cannot be reached or used right now."""
    return StorageUnavailableError(f"Redis at {redacted_url} is unavailable: {exc}")


def storage_error(
    exc: RedisError | RedisClusterException, step: Step, redacted_url: str
) -> StorageError:
    """The storage error to raise for `exc`, which redis-py raised while running `step`."""
    if isinstance(exc, _UNAVAILABLE) or str(exc).startswith("NOREPLICAS"):
        # NOREPLICAS: a primary configured with `min-replicas-to-write` that lost its
        # replicas (it may be the old primary of a failover) refuses writes.
        return unavailable(exc, redacted_url)
    if isinstance(exc, ResponseError) and not isinstance(exc, AskError | ClusterCrossSlotError):
        # Our commands fail only because of what a key holds (wrong type, not an
        # integer): that record is corrupt.
        key = _first_key(step)
        if key is not None:
            return CorruptRecordError(key, str(exc))
    return StorageError(f"Redis at {redacted_url} failed: {exc}")


def _first_key(step: Step) -> str | None:
    if isinstance(step, Replicated):
        return _first_key(step.command)
    if isinstance(step, CheckAndSet):
        return step.key
    if isinstance(step, GetMany):
        return None
    if isinstance(step, Atomic | Scan | Pause) or len(step) < 2:
        return None
    if step[0] == "EVAL":  # EVAL script numkeys key ...
        return key_text(step[3]) if step[2] else None
    return key_text(step[1])
