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

from ._codec import ModelT, decode_record, decode_text, encode_record
from ._defaults import LOCALHOST, default_routes, repaired_localhost
from ._errors import InvalidKeyError
from ._keys import KeySchema, validate_hostname
from ._models import ProxyTarget, Route

T = TypeVar("T")

Command: TypeAlias = tuple[Any, ...]
"""One Redis command, e.g. `("GET", "proxy:localhost")`; its reply is sent back."""


@dataclass(frozen=True, slots=True)
class Atomic:
    """Commands run as one MULTI/EXEC transaction; the list of their replies is sent back."""

    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class CheckAndSet:
    """An optimistic read-modify-write of one key (WATCH, GET, MULTI, SET, EXEC, retried).

    `compute` gets the current value and returns the value to write, or `None` to write
    nothing. What was written (or `None`) is sent back.
    """

    key: str
    compute: Callable[[bytes | None], bytes | None]


Step: TypeAlias = Command | Atomic | CheckAndSet
Operation: TypeAlias = Generator[Step, Any, T]

_SCAN_BATCH = 1000


def ttl_milliseconds(ttl: float | timedelta) -> int:
    """A TTL as whole milliseconds; it must be positive."""
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    milliseconds = round(seconds * 1000)
    if milliseconds < 1:
        raise ValueError(f"a TTL must be at least 1 ms, got {seconds!r} s")
    return milliseconds


def _scan(pattern: str) -> Operation[list[bytes]]:
    cursor = 0
    found: set[bytes] = set()
    while True:
        cursor, batch = yield ("SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_BATCH)
        found.update(batch)
        if cursor == 0:
            return sorted(found)


def _load_all(pattern: str, model: type[ModelT]) -> Operation[list[ModelT]]:
    keys = yield from _scan(pattern)
    if not keys:
        return []
    raws = yield ("MGET", *keys)
    records = (decode_record(key, raw, model) for key, raw in zip(keys, raws, strict=True))
    # A record deleted between SCAN and MGET is simply gone.
    return [record for record in records if record is not None]


def ping() -> Operation[bool]:
    """Ask Redis for a PONG."""
    reply = yield ("PING",)
    return bool(reply)


def initialize(keys: KeySchema) -> Operation[None]:
    """Verify the connection and write the defaults every process must see."""
    yield ("PING",)
    yield CheckAndSet(
        keys.proxy(LOCALHOST), lambda raw: repaired_localhost(keys.proxy(LOCALHOST), raw)
    )
    # NX: a route an operator changed is theirs; only missing defaults are written.
    yield Atomic(
        tuple(
            ("SET", keys.route(route.route_id), encode_record(route), "NX")
            for route in default_routes()
        )
    )


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


def store_proxy_target(keys: KeySchema, target: ProxyTarget) -> Operation[None]:
    """Create or replace a proxy target."""
    yield ("SET", keys.proxy(target.hostname), encode_record(target))


def get_proxy_target(keys: KeySchema, hostname: str) -> Operation[ProxyTarget | None]:
    """Read one proxy target."""
    key = keys.proxy(hostname)
    raw = yield ("GET", key)
    return decode_record(key, raw, ProxyTarget)


def list_proxy_targets(keys: KeySchema) -> Operation[list[ProxyTarget]]:
    """Every proxy target, by hostname."""
    targets = yield from _load_all(keys.proxy_pattern(), ProxyTarget)
    return sorted(targets, key=lambda target: target.hostname)


def _updated(
    key: str, raw: bytes | None, model: type[ModelT], changes: Mapping[str, Any]
) -> bytes | None:
    current = decode_record(key, raw, model)
    if current is None:
        return None
    merged = {**current.model_dump(), **changes}
    return encode_record(model.model_validate(merged))


def update_proxy_target(
    keys: KeySchema, hostname: str, changes: Mapping[str, Any]
) -> Operation[ProxyTarget | None]:
    """Apply `changes` to a proxy target atomically; `None` when it does not exist."""
    key = keys.proxy(hostname)
    if "hostname" in changes and validate_hostname(changes["hostname"]) != validate_hostname(
        hostname
    ):
        raise InvalidKeyError("a proxy target's hostname is its key and cannot change")
    written = yield CheckAndSet(key, lambda raw: _updated(key, raw, ProxyTarget, changes))
    return decode_record(key, written, ProxyTarget)


def delete_proxy_target(keys: KeySchema, hostname: str) -> Operation[bool]:
    """Delete a proxy target; tell whether it existed."""
    deleted = yield ("DEL", keys.proxy(hostname))
    return bool(deleted)


def store_route(keys: KeySchema, route: Route) -> Operation[None]:
    """Create or replace a route."""
    yield ("SET", keys.route(route.route_id), encode_record(route))


def get_route(keys: KeySchema, route_id: str) -> Operation[Route | None]:
    """Read one route."""
    key = keys.route(route_id)
    raw = yield ("GET", key)
    return decode_record(key, raw, Route)


def list_routes(keys: KeySchema) -> Operation[list[Route]]:
    """Every route, highest priority first (ties by id)."""
    routes = yield from _load_all(keys.route_pattern(), Route)
    return sorted(routes, key=lambda route: (-route.priority, route.route_id))


def delete_route(keys: KeySchema, route_id: str) -> Operation[bool]:
    """Delete a route; tell whether it existed."""
    deleted = yield ("DEL", keys.route(route_id))
    return bool(deleted)
