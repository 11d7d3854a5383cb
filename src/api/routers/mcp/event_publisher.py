"""`EventPublisher`: JSON-RPC notifications queued on a session's event stream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ....storage import McpEvent, UnifiedStorage

DEFAULT_MAX_EVENTS = 1000


class EventPublisher:
    """Publishes notifications to MCP sessions and reads them back, resumably.

    Each session keeps its last `max_events` events; they expire with the session.
    """

    def __init__(self, storage: UnifiedStorage, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1:
            raise ValueError(f"max_events must be a positive integer, got {max_events!r:.40}")
        self._storage = storage
        self.max_events = max_events

    async def publish(
        self, session_id: str, method: str, params: Mapping[str, Any] | None = None
    ) -> str | None:
        """Queue the notification `method(params)` for the session; the event id, or `None`
        when the session does not exist (nothing is queued then)."""
        if not method:
            raise ValueError("a notification needs a method name")
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = dict(params)
        return await self._storage.aappend_mcp_event(session_id, message, self.max_events)

    async def read(
        self, session_id: str, after: str | None = None, limit: int = 100
    ) -> list[McpEvent]:
        """Up to `limit` events of the session, oldest first, after the event id `after`
        (a client's `Last-Event-ID`) when given."""
        return await self._storage.aread_mcp_events(session_id, after, limit)
