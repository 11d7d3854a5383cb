"""Routes: path-based forwarding rules, applied by priority.

Every route key and the index share the hash tag `{<ns>:routes}` (key schema v2): a route
and its index entry change in one MULTI/EXEC, and routing reads the whole family at once
(SMEMBERS, then one MGET), which on a Cluster needs one slot. Routes are few and cached in
each process (see `watch_config_changes`), so the one slot carries no load.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._base import StorageBase
from ._codec import decode_record, encode_record, key_text
from ._errors import CorruptRecordError, InvalidKeyError
from ._keys import KeySchema
from ._models import Route
from ._operations import Atomic, Operation, announce_config_change


def store_route(keys: KeySchema, route: Route) -> Operation[None]:
    """Create or replace a route."""
    yield Atomic(
        (
            ("SET", keys.route(route.route_id), encode_record(route)),
            ("SADD", keys.route_index(), route.route_id),
        )
    )
    yield from announce_config_change(keys)


def get_route(keys: KeySchema, route_id: str) -> Operation[Route | None]:
    """Read one route."""
    key = keys.route(route_id)
    raw = yield ("GET", key)
    return decode_record(key, raw, Route)


@dataclass(frozen=True, slots=True)
class RouteListing:
    """The readable routes, and why the others are not."""

    routes: list[Route]
    """Highest priority first (ties by id)."""
    corrupt: list[CorruptRecordError]
    """One error per route record that exists but cannot be read (its key, and why)."""


def list_usable_routes(keys: KeySchema) -> Operation[RouteListing]:
    """Every readable route, and an error for each corrupt one."""
    # An index instead of a SCAN: the proxy lists routes on every request, and a SCAN
    # walks the whole keyspace (live tokens included).
    index = keys.route_index()
    members = yield ("SMEMBERS", index)
    try:
        route_keys = [keys.route(key_text(member)) for member in sorted(members)]
    except InvalidKeyError:
        raise CorruptRecordError(index, "a member is not a valid route id") from None
    if not route_keys:
        return RouteListing([], [])
    raws = yield ("MGET", *route_keys)
    routes: list[Route] = []
    corrupt: list[CorruptRecordError] = []
    for key, raw in zip(route_keys, raws, strict=True):
        try:
            route = decode_record(key, raw, Route)
        except CorruptRecordError as exc:
            corrupt.append(exc)
            continue
        if route is not None:
            routes.append(route)
    routes.sort(key=lambda route: (-route.priority, route.route_id))
    return RouteListing(routes, corrupt)


def list_routes(keys: KeySchema) -> Operation[list[Route]]:
    """Every route, highest priority first (ties by id); `CorruptRecordError` if one
    cannot be read."""
    listing = yield from list_usable_routes(keys)
    if listing.corrupt:
        raise listing.corrupt[0]
    return listing.routes


def delete_route(keys: KeySchema, route_id: str) -> Operation[bool]:
    """Delete a route; tell whether it existed."""
    deleted, _ = yield Atomic(
        (("DEL", keys.route(route_id)), ("SREM", keys.route_index(), route_id))
    )
    if deleted:
        yield from announce_config_change(keys)
    return bool(deleted)


class RouteRecords(StorageBase):
    """Routes under `{<ns>:routes}:route:<id>`, indexed by `{<ns>:routes}:index`."""

    def store_route(self, route: Route) -> None:
        """Create or replace the route `route.route_id`."""
        self._run(store_route(self._keys, route), "store_route")

    async def astore_route(self, route: Route) -> None:
        """Async twin of `store_route()`."""
        await self._arun(store_route(self._keys, route))

    def get_route(self, route_id: str) -> Route | None:
        """The route `route_id`, or `None`."""
        return self._run(get_route(self._keys, route_id), "get_route")

    async def aget_route(self, route_id: str) -> Route | None:
        """Async twin of `get_route()`."""
        return await self._arun(get_route(self._keys, route_id))

    def list_routes(self) -> list[Route]:
        """Every route, highest priority first."""
        return self._run(list_routes(self._keys), "list_routes")

    async def alist_routes(self) -> list[Route]:
        """Async twin of `list_routes()`."""
        return await self._arun(list_routes(self._keys))

    def list_usable_routes(self) -> RouteListing:
        """Every readable route, and an error for each corrupt one: what routing uses, so
        that one corrupt route takes no other down."""
        return self._run(list_usable_routes(self._keys), "list_usable_routes")

    async def alist_usable_routes(self) -> RouteListing:
        """Async twin of `list_usable_routes()`."""
        return await self._arun(list_usable_routes(self._keys))

    def delete_route(self, route_id: str) -> bool:
        """Delete the route `route_id`; `True` if it existed."""
        return self._run(delete_route(self._keys, route_id), "delete_route")

    async def adelete_route(self, route_id: str) -> bool:
        """Async twin of `delete_route()`."""
        return await self._arun(delete_route(self._keys, route_id))
