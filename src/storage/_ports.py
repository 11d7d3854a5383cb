"""Port allocations: the I/O-free operations, and the storage methods that run them.

A port is claimed with SET NX on its key, so two claims of one port cannot both succeed.
The claim and the owner's port set must change together, and a MULTI block cannot make its
second write depend on the outcome of the first, so both changes happen in one Lua script.
Each script gets every key it touches in KEYS, and those keys share the `{<ns>:ports}` hash
tag, which keeps the scripts valid on Redis Cluster. One tag for the family, not per port:
allocating the lowest free port tries a whole range of port keys in one script.

In this gateway the services that own ports are Docker services: a port owner's name is
the name of the Docker service its ports were allocated for, which is how the orchestrator
finds the ports of deleted services.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._base import StorageBase
from ._codec import decode_text, key_text
from ._errors import CorruptRecordError, InvalidKeyError, NoFreePortError
from ._keys import KeySchema, validate_identifier, validate_port
from ._operations import Command, Operation, scan

# Candidates per script call: small enough to keep a call short, large enough that a
# crowded range needs few round trips.
_CLAIM_BATCH = 256

_CLAIM_LOWEST_FREE = """
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX') then
    redis.call('SADD', KEYS[1], ARGV[i])
    return ARGV[i]
  end
end
return false
"""
"""KEYS: the service's port set, then the candidate port keys, lowest first.
ARGV: the service, then the candidate port numbers. Returns the port claimed, or nil."""

_RELEASE_OWNED = """
local released = {}
for i = 2, #KEYS do
  redis.call('SREM', KEYS[1], ARGV[i])
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    released[#released + 1] = ARGV[i]
  end
end
return released
"""
"""KEYS: the owner's port set, then port keys. ARGV: the owner, then the port numbers.

Deletes each port key that the owner still holds; returns the ports released. A port
leaves the owner's set either way: one held by someone else is not the owner's.
"""


def _eval(script: str, keys: list[str], args: Iterable[object]) -> Command:
    return ("EVAL", script, len(keys), *keys, *args)


def _service_ports_prefix(keys: KeySchema) -> str:
    # Derived from the key builder, so the listing cannot drift from the keys it lists.
    return keys.service_ports("x").removesuffix("x")


def _port_numbers(key: str, replies: Iterable[bytes]) -> list[int]:
    try:
        return sorted(int(reply) for reply in replies)
    except ValueError:
        raise CorruptRecordError(key, "a member is not a port number") from None


def allocate_port(keys: KeySchema, service: str, start: int, end: int) -> Operation[int]:
    """Claim the lowest free port of `start`..`end` (inclusive) for `service`.

    Batches are claimed in ascending order, each atomically, so the port returned is the
    lowest one that was free when its batch was tried.
    """
    owned = keys.service_ports(service)
    first, last = validate_port(start), validate_port(end)
    if first > last:
        raise ValueError(f"the port range {first}-{last} is empty: start must not exceed end")
    for batch_start in range(first, last + 1, _CLAIM_BATCH):
        candidates = range(batch_start, min(batch_start + _CLAIM_BATCH, last + 1))
        claimed = yield _eval(
            _CLAIM_LOWEST_FREE,
            [owned, *(keys.port(port) for port in candidates)],
            [service, *candidates],
        )
        if claimed is not None:
            return int(claimed)
    raise NoFreePortError(service, first, last)


def get_port_owner(keys: KeySchema, port: int) -> Operation[str | None]:
    """The service `port` is allocated to, or `None`."""
    key = keys.port(port)
    raw = yield ("GET", key)
    return decode_text(key, raw)


def release_port(keys: KeySchema, port: int) -> Operation[bool]:
    """Free `port`; tell whether it was allocated.

    Should the port pass to another service between reading its owner and the script, the
    script frees nothing: someone else released it meanwhile, and this release counts as
    taking effect while the port was free.
    """
    key = keys.port(port)
    owner = yield from get_port_owner(keys, port)
    if owner is None:
        return False
    try:
        owned = keys.service_ports(owner)
    except InvalidKeyError:
        raise CorruptRecordError(key, "the owner is not a valid service name") from None
    released = yield _eval(_RELEASE_OWNED, [owned, key], [owner, port])
    return bool(released)


def list_ports(keys: KeySchema, service: str) -> Operation[list[int]]:
    """The ports allocated to `service`, ascending."""
    owned = keys.service_ports(service)
    members = yield ("SMEMBERS", owned)
    return _port_numbers(owned, members)


def list_port_services(keys: KeySchema) -> Operation[list[str]]:
    """The services that hold at least one port, sorted.

    A service's port set disappears with its last port, so its key exists exactly while the
    service holds ports.
    """
    prefix = _service_ports_prefix(keys)
    found = yield from scan(f"{prefix}*")
    services: list[str] = []
    for key in found:
        text = key_text(key)
        try:
            services.append(validate_identifier(text.removeprefix(prefix), "service name"))
        except InvalidKeyError:
            raise CorruptRecordError(text, "the key does not end in a valid service name") from None
    return sorted(services)


def release_service_ports(keys: KeySchema, service: str) -> Operation[list[int]]:
    """Free the ports allocated to `service`, all in one script; the ports freed, ascending.

    A port allocated to the service while this runs may stay allocated.
    """
    owned = keys.service_ports(service)
    ports = yield from list_ports(keys, service)
    if not ports:
        return []
    released = yield _eval(
        _RELEASE_OWNED,
        [owned, *(keys.port(port) for port in ports)],
        [service, *ports],
    )
    return _port_numbers(owned, released)


class PortRecords(StorageBase):
    """Port allocations under `{<ns>:ports}:port:<n>`, indexed by `{<ns>:ports}:service:<s>`."""

    def allocate_port(self, service: str, start: int, end: int) -> int:
        """Allocate the lowest free port of `start`..`end` (inclusive) to `service`.

        No port is handed out twice, whatever the threads and processes allocating. Raises
        `NoFreePortError` when every port of the range is taken, `InvalidKeyError` for an
        invalid service name or port, and `ValueError` when `start` exceeds `end`.
        """
        return self._run(allocate_port(self._keys, service, start, end), "allocate_port")

    async def aallocate_port(self, service: str, start: int, end: int) -> int:
        """Async twin of `allocate_port()`."""
        return await self._arun(allocate_port(self._keys, service, start, end))

    def release_port(self, port: int) -> bool:
        """Free `port`; `True` if it was allocated."""
        return self._run(release_port(self._keys, port), "release_port")

    async def arelease_port(self, port: int) -> bool:
        """Async twin of `release_port()`."""
        return await self._arun(release_port(self._keys, port))

    def get_port_owner(self, port: int) -> str | None:
        """The service `port` is allocated to, or `None`."""
        return self._run(get_port_owner(self._keys, port), "get_port_owner")

    async def aget_port_owner(self, port: int) -> str | None:
        """Async twin of `get_port_owner()`."""
        return await self._arun(get_port_owner(self._keys, port))

    def list_ports(self, service: str) -> list[int]:
        """The ports allocated to `service`, ascending."""
        return self._run(list_ports(self._keys, service), "list_ports")

    async def alist_ports(self, service: str) -> list[int]:
        """Async twin of `list_ports()`."""
        return await self._arun(list_ports(self._keys, service))

    def list_port_services(self) -> list[str]:
        """The services that hold at least one port, sorted (in this gateway, the names of
        Docker services). `CorruptRecordError` for a port set whose key names no valid
        service."""
        return self._run(list_port_services(self._keys), "list_port_services")

    async def alist_port_services(self) -> list[str]:
        """Async twin of `list_port_services()`."""
        return await self._arun(list_port_services(self._keys))

    def release_service_ports(self, service: str) -> list[int]:
        """Free every port allocated to `service`; the ports freed, ascending."""
        return self._run(release_service_ports(self._keys, service), "release_service_ports")

    async def arelease_service_ports(self, service: str) -> list[int]:
        """Async twin of `release_service_ports()`."""
        return await self._arun(release_service_ports(self._keys, service))
