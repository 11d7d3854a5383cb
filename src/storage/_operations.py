"""Every storage operation, written once, without I/O.

An operation is a generator: it yields the Redis work it needs (a `Command`, an `Atomic`
block or a `CheckAndSet`), receives each reply, and returns the result. The sync backend
(`_redis_storage`) and the async backend (`_async_redis_storage`) only drive these
generators, so keys, validation, serialisation and TTL rules exist once, for both.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeAlias, TypeVar

from ._codec import ModelT, decode_record, encode_record, key_text
from ._defaults import (
    LOCALHOST,
    DefaultsReport,
    default_routes,
    defaults_report,
    repaired_localhost,
)
from ._keys import KeySchema

T = TypeVar("T")

Command: TypeAlias = tuple[Any, ...]
"""One Redis command, e.g. `("GET", "proxy:localhost")`; its reply is sent back."""


@dataclass(frozen=True, slots=True)
class Atomic:
    """Commands run as one MULTI/EXEC transaction, on keys of one Cluster slot; the list of
    their replies is sent back."""

    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class CheckAndSet:
    """An optimistic read-modify-write of one key (WATCH, GET, MULTI, SET, EXEC, retried).

    `compute` gets the current value and returns the value to write, or `None` to write
    nothing. What was written (or `None`) is sent back.
    """

    key: str
    compute: Callable[[bytes | None], bytes | None]


@dataclass(frozen=True, slots=True)
class Scan:
    """Every key matching `pattern`, sorted, found with SCAN (never KEYS): on a Redis
    Cluster, on every primary. The list of keys is sent back."""

    pattern: str


@dataclass(frozen=True, slots=True)
class GetMany:
    """The values of `keys`, which may live in different Cluster slots (MGET on one node;
    one MGET per slot on a Cluster, so not atomic there). The list of values is sent back,
    `None` for a missing key or one of another type."""

    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Replicated:
    """A grant-critical write (one command): when the storage is configured to wait for
    replicas, it is followed by `WAIT <replicas> <timeout>` on the same connection, so it
    returns once that many replicas have it (or the timeout passed: logged). The command's
    reply is sent back."""

    command: Command


@dataclass(frozen=True, slots=True)
class Pause:
    """No Redis work: wait `seconds` (a process waiting for another's migration), with
    `time.sleep` or `asyncio.sleep`. `None` is sent back."""

    seconds: float


Step: TypeAlias = Command | Atomic | CheckAndSet | Scan | GetMany | Replicated | Pause
Operation: TypeAlias = Generator[Step, Any, T]

SCAN_BATCH = 1000
"""The COUNT hint of each SCAN call."""


def ttl_milliseconds(ttl: float | timedelta) -> int:
    """A TTL as whole milliseconds; it must be positive."""
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    milliseconds = round(seconds * 1000)
    if milliseconds < 1:
        raise ValueError(f"a TTL must be at least 1 ms, got {seconds!r} s")
    return milliseconds


_COUNT_ATTEMPT = """
local count = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {count, redis.call('PTTL', KEYS[1])}
"""
"""KEYS[1]: a counter. Counts one attempt; the first of a window starts the window (ARGV[1]
ms). Returns the count and the ms left in the window."""


def count_attempt(key: str, window: float | timedelta) -> Operation[tuple[int, int]]:
    """Count one attempt in the fixed window of the counter `key` (started by its first
    attempt, `window` long); the count so far, this one included, and the ms left in the
    window. One script: a single command, never retried, so an attempt counts once."""
    count, left_ms = yield ("EVAL", _COUNT_ATTEMPT, 1, key, ttl_milliseconds(window))
    return int(count), int(left_ms)


def scan(pattern: str) -> Operation[list[bytes]]:
    """Every key matching `pattern`, sorted (SCAN, so Redis is never blocked)."""
    found: list[bytes] = yield Scan(pattern)
    return found


def load_all(pattern: str, model: type[ModelT]) -> Operation[list[ModelT]]:
    """Every record whose key matches `pattern`."""
    keys = yield from scan(pattern)
    if not keys:
        return []
    raws = yield GetMany(tuple(key_text(key) for key in keys))
    records = (decode_record(key, raw, model) for key, raw in zip(keys, raws, strict=True))
    # A record deleted between SCAN and MGET is simply gone.
    return [record for record in records if record is not None]


def announce_config_change(keys: KeySchema) -> Operation[None]:
    """Tell every process that a proxy target or a route changed (see
    `UnifiedStorage.awatch_config_changes`). Its own step, after the write: PUBLISH names no
    key, so it belongs to no Cluster slot of a transaction."""
    yield ("PUBLISH", keys.config_channel(), b"changed")


def ping() -> Operation[bool]:
    """Ask Redis for a PONG."""
    reply = yield ("PING",)
    return bool(reply)


def write_localhost(keys: KeySchema) -> Operation[bytes | None]:
    """Create or repair the `localhost` target (see `repaired_localhost`); what was written,
    or `None` when it was right already."""
    key = keys.proxy(LOCALHOST)
    written: bytes | None = yield CheckAndSet(key, lambda raw: repaired_localhost(key, raw))
    if written is not None:
        yield from announce_config_change(keys)
    return written


def write_default_routes(keys: KeySchema) -> Operation[None]:
    """Write the default routes that are missing, and index them all."""
    # NX: a route an operator changed is theirs; only missing defaults are written.
    routes = default_routes()
    *written, indexed = yield Atomic(
        (
            *(("SET", keys.route(route.route_id), encode_record(route), "NX") for route in routes),
            ("SADD", keys.route_index(), *(route.route_id for route in routes)),
        )
    )
    if any(written) or indexed:
        yield from announce_config_change(keys)


def initialize(keys: KeySchema) -> Operation[None]:
    """Verify the connection and write the defaults every process must see."""
    yield ("PING",)
    yield from write_localhost(keys)
    yield from write_default_routes(keys)


def ensure_defaults(keys: KeySchema) -> Operation[DefaultsReport]:
    """Check the defaults, and write again those that are missing or changed."""
    localhost_key = keys.proxy(LOCALHOST)
    raw_localhost = yield ("GET", localhost_key)
    route_ids = [route.route_id for route in default_routes()]
    *stored, indexed = yield Atomic(
        (
            *(("EXISTS", keys.route(route_id)) for route_id in route_ids),
            ("SMEMBERS", keys.route_index()),
        )
    )
    report = defaults_report(
        localhost_key,
        raw_localhost,
        route_ids,
        [bool(exists) for exists in stored],
        {key_text(member) for member in indexed},
    )
    if report.missing:
        # A corrupt `localhost` record stays as it is, for an operator to look at.
        if not report.corrupt:
            yield from write_localhost(keys)
        yield from write_default_routes(keys)
    return report


def updated_record(
    key: str, raw: bytes | None, model: type[ModelT], changes: Mapping[str, Any]
) -> bytes | None:
    """`changes` applied to the stored record, validated; `None` when there is no record."""
    current = decode_record(key, raw, model)
    if current is None:
        return None
    merged = {**current.model_dump(), **changes}
    return encode_record(model.model_validate(merged))
