"""How redis-py's exceptions become storage errors; shared by both backends."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._codec import key_text
from ._errors import CorruptRecordError, StorageError, StorageUnavailableError
from ._operations import Atomic, CheckAndSet, Step


def storage_error(exc: RedisError, step: Step, redacted_url: str) -> StorageError:
    """The storage error to raise for `exc`, which redis-py raised while running `step`."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return StorageUnavailableError(f"Redis at {redacted_url} is unavailable: {exc}")
    if isinstance(exc, ResponseError):
        # A single-key command fails only because of what the key holds (wrong type,
        # not an integer): that record is corrupt.
        if isinstance(step, CheckAndSet):
            return CorruptRecordError(step.key, str(exc))
        if not isinstance(step, Atomic) and len(step) > 1:
            return CorruptRecordError(key_text(step[1]), str(exc))
    return StorageError(f"Redis at {redacted_url} failed: {exc}")
