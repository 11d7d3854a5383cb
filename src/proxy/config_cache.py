"""The proxy's in-process copy of the proxy targets and routes, kept coherent through the
storage's change notifications (Redis pub/sub).

Every write of a target or a route through the storage publishes a change; every gateway
process listens, and empties its copy when one arrives. So a request costs no Redis round
trip for its target and routes in steady state, a change made in any process is seen by
every other within the time a notification takes, and once the notification of a deleted
or disabled target has arrived, no request is served from the old copy.

The copy is trusted only while the subscription stands. Until it is established, and from
the moment it drops (Redis restarting, a failover, a network cut) until it is back, every
lookup goes to Redis, and the copy is emptied again when the subscription resumes: changes
made meanwhile were never announced to this process.

Access tokens are never cached: a revocation must hold at once, in every process.
"""

from __future__ import annotations

import asyncio
import logging

from ..storage import ConfigChange, ProxyTarget, RouteListing, StorageError, UnifiedStorage

logger = logging.getLogger(__name__)

MAX_CACHED_TARGETS = 10_000
"""Hostnames remembered (with or without a target) before the copy is emptied: requests
for random hostnames must not grow the process without bound."""
RESUBSCRIBE_DELAY = 0.5
"""Seconds between attempts to re-establish a dropped subscription."""


class ConfigCache:
    """Proxy targets and routes as the proxy reads them, cached while the storage's change
    notifications are being received.

    Args:
        storage: the process's storage.
        max_targets: hostnames remembered before the copy is emptied.
    """

    def __init__(self, storage: UnifiedStorage, max_targets: int = MAX_CACHED_TARGETS) -> None:
        self._storage = storage
        self._max_targets = max_targets
        self._live = False
        self._paused = False
        # Bumped by every change: a read that started before it must not be remembered.
        self._generation = 0
        self._targets: dict[str, ProxyTarget | None] = {}
        self._routes: RouteListing | None = None

    @property
    def live(self) -> bool:
        """Whether lookups are answered from the copy: the subscription stands."""
        return self._live

    async def aget_proxy_target(self, hostname: str) -> ProxyTarget | None:
        """`storage.aget_proxy_target(hostname)`, from the copy when it can be trusted."""
        if self._live and hostname in self._targets:
            return self._targets[hostname]
        generation = self._generation
        target = await self._storage.aget_proxy_target(hostname)
        if self._live and generation == self._generation:
            if len(self._targets) >= self._max_targets:
                self._targets.clear()
            self._targets[hostname] = target
        return target

    async def alist_usable_routes(self) -> RouteListing:
        """`storage.alist_usable_routes()`, from the copy when it can be trusted. A listing
        with corrupt routes is not remembered, so that each is read (and reported) again."""
        if self._live and self._routes is not None:
            return self._routes
        generation = self._generation
        listing = await self._storage.alist_usable_routes()
        if self._live and generation == self._generation and not listing.corrupt:
            self._routes = listing
        return listing

    async def run(self) -> None:
        """Follow the storage's change notifications until cancelled, re-subscribing after
        a drop."""
        while True:
            try:
                async for change in self._storage.awatch_config_changes():
                    self._forget()
                    if change is ConfigChange.SUBSCRIBED:
                        self._live = True
                        self._paused = False
            except StorageError as exc:
                if not self._paused:  # once per outage, not once per attempt
                    logger.warning("proxy configuration cache paused: %s", exc)
                    self._paused = True
            finally:
                self._live = False
                self._forget()
            await asyncio.sleep(RESUBSCRIBE_DELAY)

    def _forget(self) -> None:
        self._generation += 1
        self._targets.clear()
        self._routes = None
