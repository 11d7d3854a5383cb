"""`AsyncPortManager`: hands out the ports of one range to services, from async code."""

from __future__ import annotations

from ..storage import UnifiedStorage
from .manager import validate_port_range


class AsyncPortManager:
    """The async counterpart of `PortManager`: same range rules, same shared allocations."""

    def __init__(self, storage: UnifiedStorage, start: int, end: int) -> None:
        validate_port_range(start, end)
        self._storage = storage
        self.start = start
        self.end = end

    async def allocate(self, service: str) -> int:
        """Allocate the lowest free port of the range to `service`.

        Raises `NoFreePortError` when the range is exhausted.
        """
        return await self._storage.aallocate_port(service, self.start, self.end)

    async def release(self, port: int) -> bool:
        """Free `port`; `True` if it was allocated."""
        return await self._storage.arelease_port(port)

    async def ports_of(self, service: str) -> list[int]:
        """The ports allocated to `service`, ascending."""
        return await self._storage.alist_ports(service)

    async def release_service(self, service: str) -> list[int]:
        """Free every port allocated to `service`; the ports freed, ascending."""
        return await self._storage.arelease_service_ports(service)
