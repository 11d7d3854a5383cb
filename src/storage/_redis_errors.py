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
        # Our commands fail only because of what a key holds (wrong type, not an
        # integer): that record is corrupt.
        key = _first_key(step)
        if key is not None:
            return CorruptRecordError(key, str(exc))
    return StorageError(f"Redis at {redacted_url} failed: {exc}")


def _first_key(step: Step) -> str | None:
    if isinstance(step, CheckAndSet):
        return step.key
    if isinstance(step, Atomic) or len(step) < 2:
        return None
    if step[0] == "EVAL":  # EVAL script numkeys key ...
        return key_text(step[3]) if step[2] else None
    return key_text(step[1])
