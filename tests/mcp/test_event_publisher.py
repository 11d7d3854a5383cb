"""`EventPublisher`: notifications queued on a session's capped, resumable stream."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from src.api.identity import TokenIdentity
from src.api.routers.mcp import EventPublisher, SessionManager
from src.storage import InvalidKeyError, McpClientInfo, McpSession, UnifiedStorage
from tests.keys_v2 import events_key

Snapshot = Callable[[], dict[bytes, object]]
CLIENT = McpClientInfo(name="test-client", version="1.0")
CLI = TokenIdentity("cli", None)


async def open_session(storage: UnifiedStorage) -> McpSession:
    return await SessionManager(storage).create(CLI, CLIENT, "2025-06-18")


@pytest.mark.parametrize("max_events", [0, -1, True, 1.5])
def test_max_events_must_be_a_positive_integer(storage: UnifiedStorage, max_events: int) -> None:
    with pytest.raises(ValueError, match="max_events must be a positive integer"):
        EventPublisher(storage, max_events)


async def test_publish_and_resume(storage: UnifiedStorage) -> None:
    session = await open_session(storage)
    events = EventPublisher(storage)
    first = await events.publish(session.session_id, "notifications/tools/list_changed")
    second = await events.publish(
        session.session_id, "notifications/message", {"level": "info", "data": "héllo"}
    )
    assert first is not None
    assert second is not None
    read = await events.read(session.session_id)
    assert [event.event_id for event in read] == [first, second]
    assert [event.message for event in read] == [
        {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"},
        {
            "jsonrpc": "2.0",
            "method": "notifications/message",
            "params": {"level": "info", "data": "héllo"},
        },
    ]
    assert await events.read(session.session_id, after=first) == read[1:]
    assert await events.read(session.session_id, after=second) == []
    assert await events.read(session.session_id, limit=1) == read[:1]


async def test_stream_keeps_the_last_events(storage: UnifiedStorage) -> None:
    session = await open_session(storage)
    events = EventPublisher(storage, max_events=2)
    ids = [await events.publish(session.session_id, f"n/{n}") for n in range(5)]
    kept = await events.read(session.session_id)
    assert [event.event_id for event in kept] == ids[3:]
    assert [event.message["method"] for event in kept] == ["n/3", "n/4"]


async def test_ending_the_session_drops_its_events(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    session = await open_session(storage)
    events = EventPublisher(storage)
    await events.publish(session.session_id, "n/1")
    assert await SessionManager(storage).end(session.session_id, CLI) is True
    assert raw.exists(events_key(namespace, session.session_id)) == 0
    assert await events.read(session.session_id) == []


async def test_unknown_session(storage: UnifiedStorage, snapshot: Snapshot) -> None:
    session = await open_session(storage)
    await SessionManager(storage).end(session.session_id, CLI)
    before = snapshot()
    assert await EventPublisher(storage).publish(session.session_id, "n/1") is None
    assert snapshot() == before


@pytest.mark.parametrize("session_id", ["*", ":", "\n", "", "x" * 10_000, "proxy:localhost"])
async def test_hostile_session_ids(
    storage: UnifiedStorage, snapshot: Snapshot, session_id: str
) -> None:
    await open_session(storage)
    events = EventPublisher(storage)
    before = snapshot()
    with pytest.raises(InvalidKeyError, match="invalid MCP session id"):
        await events.publish(session_id, "n/1")
    with pytest.raises(InvalidKeyError, match="invalid MCP session id"):
        await events.read(session_id)
    assert snapshot() == before


async def test_bad_notifications(storage: UnifiedStorage, snapshot: Snapshot) -> None:
    session = await open_session(storage)
    events = EventPublisher(storage)
    before = snapshot()
    with pytest.raises(ValueError, match="a notification needs a method name"):
        await events.publish(session.session_id, "")
    with pytest.raises(ValueError, match="must be JSON"):
        await events.publish(session.session_id, "n/1", {"data": object()})
    with pytest.raises(ValueError, match="invalid MCP event id"):
        await events.read(session.session_id, after="last")
    assert snapshot() == before
