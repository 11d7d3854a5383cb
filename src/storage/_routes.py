"""Routes: path-based forwarding rules, applied by priority."""

from __future__ import annotations

from ._base import StorageBase
from ._codec import decode_record, encode_record
from ._keys import KeySchema
from ._models import Route
from ._operations import Operation, load_all


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
    routes = yield from load_all(keys.route_pattern(), Route)
    return sorted(routes, key=lambda route: (-route.priority, route.route_id))


def delete_route(keys: KeySchema, route_id: str) -> Operation[bool]:
    """Delete a route; tell whether it existed."""
    deleted = yield ("DEL", keys.route(route_id))
    return bool(deleted)


class RouteRecords(StorageBase):
    """Routes under `route:<id>`."""

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

    def delete_route(self, route_id: str) -> bool:
        """Delete the route `route_id`; `True` if it existed."""
        return self._run(delete_route(self._keys, route_id), "delete_route")

    async def adelete_route(self, route_id: str) -> bool:
        """Async twin of `delete_route()`."""
        return await self._arun(delete_route(self._keys, route_id))
