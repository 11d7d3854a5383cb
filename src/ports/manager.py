"""`PortManager`: hands out the ports of one range to services, from blocking code."""

from __future__ import annotations

from ..storage import UnifiedStorage

_MAX_PORT = 65535


def validate_port_range(start: int, end: int) -> None:
    """Raise `ValueError` unless `start`..`end` is a non-empty range of TCP ports."""
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_PORT:
            raise ValueError(
                f"{name} must be a port number from 1 to {_MAX_PORT}, got {value!r:.40}"
            )
    if start > end:
        raise ValueError(f"the port range {start}-{end} is empty: start must not exceed end")


class PortManager:
    """Allocates ports of `start`..`end` (inclusive) to services, lowest free port first.

    The allocations live in the storage, so every manager on the same Redis, in any thread
    or process, shares them and no port is handed out twice.
    """

    def __init__(self, storage: UnifiedStorage, start: int, end: int) -> None:
        validate_port_range(start, end)
        self._storage = storage
        self.start = start
        self.end = end

    def allocate(self, service: str) -> int:
        """Allocate the lowest free port of the range to `service`.

        Raises `NoFreePortError` when the range is exhausted.
        """
        return self._storage.allocate_port(service, self.start, self.end)

    def release(self, port: int) -> bool:
        """Free `port`; `True` if it was allocated."""
        return self._storage.release_port(port)

    def ports_of(self, service: str) -> list[int]:
        """The ports allocated to `service`, ascending."""
        return self._storage.list_ports(service)

    def release_service(self, service: str) -> list[int]:
        """Free every port allocated to `service`; the ports freed, ascending."""
        return self._storage.release_service_ports(service)
