"""Change notifications of the proxy configuration (targets and routes), over pub/sub.

Every write of a proxy target or a route announces itself on the namespace's channel (see
`_operations.announce_config_change`), so that a process caching them learns at once that
its copy is stale. A notification says only that something changed: a cache empties itself
and reads again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import Enum

from ._base import StorageBase
from ._errors import StorageClosedError


class ConfigChange(Enum):
    """What `awatch_config_changes()` reports."""

    SUBSCRIBED = "subscribed"
    """The subscription stands: every later change will be reported. Changes made before
    are not, so a cache starts empty from here."""
    CHANGED = "changed"
    """A proxy target or a route changed."""


class ConfigChangeRecords(StorageBase):
    """The change notifications of proxy targets and routes."""

    async def awatch_config_changes(self) -> AsyncIterator[ConfigChange]:
        """`SUBSCRIBED` once listening, then `CHANGED` for each change of a proxy target or
        a route made through any storage on this Redis and namespace, until the connection
        breaks (`StorageUnavailableError`; subscribe again to resume).

        Async only: a subscription holds a connection for as long as it is followed, which
        only an event loop can afford per process.
        """
        if self._closed:
            raise StorageClosedError(f"{self!r} is closed")
        async for message in self._async.subscribe(self._keys.config_channel()):
            yield ConfigChange.SUBSCRIBED if message is None else ConfigChange.CHANGED
