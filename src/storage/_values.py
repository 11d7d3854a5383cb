"""Plain values with optional TTLs, and atomic counters."""

from __future__ import annotations

from datetime import timedelta

from ._base import StorageBase
from ._codec import decode_text
from ._keys import KeySchema
from ._operations import Operation, ttl_milliseconds


def get_value(keys: KeySchema, key: str) -> Operation[str | None]:
    """Read a plain value."""
    name = keys.value(key)
    raw = yield ("GET", name)
    return decode_text(name, raw)


def set_value(
    keys: KeySchema, key: str, value: str, ttl: float | timedelta | None
) -> Operation[None]:
    """Write a plain value, expiring after `ttl` when given."""
    name = keys.value(key)
    if ttl is None:
        yield ("SET", name, value.encode())
    else:
        yield ("SET", name, value.encode(), "PX", ttl_milliseconds(ttl))


def delete_value(keys: KeySchema, key: str) -> Operation[bool]:
    """Delete a plain value; tell whether it existed."""
    deleted = yield ("DEL", keys.value(key))
    return bool(deleted)


def increment(keys: KeySchema, key: str, amount: int) -> Operation[int]:
    """Add `amount` to the integer stored at a plain key, atomically."""
    value = yield ("INCRBY", keys.value(key), amount)
    return int(value)


class ValueRecords(StorageBase):
    """Plain text values under `kv:<key>`."""

    def get(self, key: str) -> str | None:
        """The text stored at `key`, or `None`."""
        return self._run(get_value(self._keys, key), "get")

    async def aget(self, key: str) -> str | None:
        """Async twin of `get()`."""
        return await self._arun(get_value(self._keys, key))

    def set(self, key: str, value: str, ttl: float | timedelta | None = None) -> None:
        """Store `value` at `key`, expiring after `ttl` (seconds or timedelta) when given."""
        self._run(set_value(self._keys, key, value, ttl), "set")

    async def aset(self, key: str, value: str, ttl: float | timedelta | None = None) -> None:
        """Async twin of `set()`."""
        await self._arun(set_value(self._keys, key, value, ttl))

    def delete(self, key: str) -> bool:
        """Delete `key`; `True` if it existed."""
        return self._run(delete_value(self._keys, key), "delete")

    async def adelete(self, key: str) -> bool:
        """Async twin of `delete()`."""
        return await self._arun(delete_value(self._keys, key))

    def incr(self, key: str, amount: int = 1) -> int:
        """Add `amount` to the integer at `key` (0 when absent), atomically; the new value."""
        return self._run(increment(self._keys, key, amount), "incr")

    async def aincr(self, key: str, amount: int = 1) -> int:
        """Async twin of `incr()`."""
        return await self._arun(increment(self._keys, key, amount))
