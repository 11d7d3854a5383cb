"""`MainOrchestrator`: starts and stops the gateway's components, and reconciles the records
that outlived what they belonged to."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..api.async_init import AsyncComponents
from ..storage import CorruptRecordError, InvalidKeyError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What one `MainOrchestrator.reconcile()` did, and what it could not do."""

    expired_mcp_sessions: int = 0
    """How many expired MCP sessions were dropped from the session indexes."""
    released_ports: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """The ports freed, by the name of the deleted Docker service that held them."""
    problems: tuple[str, ...] = ()
    """One line per corrupt record met; each was left as it is."""

    def __str__(self) -> str:
        ports = sum(len(freed) for freed in self.released_ports.values())
        return (
            f"{self.expired_mcp_sessions} expired MCP session(s) dropped, {ports} port(s) of "
            f"{len(self.released_ports)} deleted Docker service(s) released, "
            f"{len(self.problems)} problem(s)"
        )


class MainOrchestrator:
    """The gateway's lifecycle on its components, which share the one storage.

    `startup()` before serving, `shutdown()` once every server has stopped: it closes the
    storage, so nothing may use it afterwards.
    """

    def __init__(self, components: AsyncComponents) -> None:
        self.components = components

    async def startup(self) -> ReconcileReport:
        """Initialise the storage (verify Redis, write the defaults), then reconcile."""
        await self.components.storage.ainitialize()
        return await self.reconcile()

    async def shutdown(self) -> None:
        """Close the storage and free the process's storage slot."""
        await self.components.storage.aclose()
        logger.info("closed the storage")

    async def reconcile(self) -> ReconcileReport:
        """Drop expired MCP sessions from their indexes, and free the ports of Docker
        services that no longer exist.

        Port owners are Docker service names in this gateway, so an owner without a Docker
        service record (or whose name no Docker service can have) gets its ports released.
        A corrupt record is reported in `problems` and left alone, along with everything it
        guards: a service whose record is corrupt keeps its ports. Redis being unavailable
        is not a record problem: `StorageUnavailableError` propagates.

        The Docker manager allocates a new service's ports before it writes its record, so
        the ports of a service that another process sharing this Redis is creating at that
        very moment would be released. Within one process this cannot happen: startup
        reconciles before anything is served.
        """
        problems: list[str] = []
        expired = 0
        try:
            expired = await self.components.mcp_sessions.prune_expired()
        except CorruptRecordError as exc:
            problems.append(f"expired MCP sessions not dropped: {exc}")
        released: dict[str, tuple[int, ...]] = {}
        try:
            owners = await self.components.storage.alist_port_services()
        except CorruptRecordError as exc:
            problems.append(f"ports not reconciled: {exc}")
            owners = []
        for owner in owners:
            try:
                if await self._docker_service_exists(owner):
                    continue
                freed = await self.components.ports.release_service(owner)
            except CorruptRecordError as exc:
                problems.append(f"ports of {owner!r} kept: {exc}")
                continue
            # Empty when someone else released them since the listing.
            if freed:
                released[owner] = tuple(freed)
        report = ReconcileReport(
            expired_mcp_sessions=expired, released_ports=released, problems=tuple(problems)
        )
        logger.info("reconciled the storage: %s", report)
        for problem in report.problems:
            logger.warning("reconcile: %s", problem)
        return report

    async def _docker_service_exists(self, name: str) -> bool:
        try:
            return await self.components.docker.get_service(name) is not None
        except InvalidKeyError:
            return False
