"""`SessionManager`: sessions opened, checked, renewed, ended and pruned on the storage."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis

from src.api.identity import TokenIdentity
from src.api.routers.mcp import SessionManager
from src.storage import McpClientInfo, UnifiedStorage
from tests.keys_v2 import session_key, sessions_index_key

Snapshot = Callable[[], dict[bytes, object]]
CLIENT = McpClientInfo(name="test-client", version="1.0")
ALICE = TokenIdentity("cli", "alice")
CLI = TokenIdentity("cli", None)


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1)])
def test_ttl_must_be_positive(storage: UnifiedStorage, ttl: timedelta) -> None:
    with pytest.raises(ValueError, match="the session TTL must be positive"):
        SessionManager(storage, ttl)


async def test_create_validate_end(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    sessions = SessionManager(storage, timedelta(seconds=30))
    session = await sessions.create(ALICE, CLIENT, "2025-03-26")
    assert (session.oauth_client_id, session.user, session.client, session.protocol_version) == (
        "cli",
        "alice",
        CLIENT,
        "2025-03-26",
    )
    assert 29_000 < raw.pttl(session_key(namespace, session.session_id)) <= 30_000

    raw.pexpire(session_key(namespace, session.session_id), 1_000)
    validated = await sessions.validate(session.session_id, ALICE)
    assert validated is not None
    assert validated.session_id == session.session_id
    assert validated.last_seen_at > session.last_seen_at
    assert 29_000 < raw.pttl(session_key(namespace, session.session_id)) <= 30_000

    assert await sessions.list() == [validated]
    assert await sessions.list("alice") == [validated]
    assert await sessions.end(session.session_id, ALICE) is True
    assert await sessions.end(session.session_id, ALICE) is False
    assert await sessions.validate(session.session_id, ALICE) is None
    assert await sessions.list() == []


@pytest.mark.parametrize(
    "presented_by",
    [TokenIdentity("cli", "bob"), TokenIdentity("cli", None), TokenIdentity("other", "alice")],
    ids=repr,
)
async def test_another_identitys_session_is_unknown(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str, presented_by: TokenIdentity
) -> None:
    sessions = SessionManager(storage)
    session = await sessions.create(ALICE, CLIENT, "2025-06-18")
    raw.pexpire(session_key(namespace, session.session_id), 5_000)
    assert await sessions.validate(session.session_id, presented_by) is None
    assert await sessions.end(session.session_id, presented_by) is False
    # Neither renewed nor touched nor deleted.
    assert raw.pttl(session_key(namespace, session.session_id)) <= 5_000
    assert await storage.aget_mcp_session(session.session_id) == session


@pytest.mark.parametrize(
    "session_id",
    [
        "*",
        ":",
        "\n",
        "",
        "x" * 10_000,
        "proxy:localhost",
        "a" * 43 + "\n",
        "a" * 21 + "\r\n" + "a" * 20,
    ],
    ids=lambda value: repr(value)[:20],
)
async def test_hostile_session_ids_are_unknown(
    storage: UnifiedStorage, snapshot: Snapshot, session_id: str
) -> None:
    sessions = SessionManager(storage)
    await sessions.create(CLI, CLIENT, "2025-06-18")
    before = snapshot()
    assert await sessions.validate(session_id, CLI) is None
    assert await sessions.end(session_id, CLI) is False
    assert snapshot() == before


async def test_prune_expired(storage: UnifiedStorage, raw: redis.Redis, namespace: str) -> None:
    short = SessionManager(storage, timedelta(milliseconds=100))
    long = SessionManager(storage)
    await short.create(ALICE, CLIENT, "2025-06-18")
    await short.create(CLI, CLIENT, "2025-06-18")
    kept = await long.create(ALICE, CLIENT, "2025-06-18")
    await asyncio.sleep(0.25)
    assert await long.prune_expired() == 2
    assert raw.smembers(sessions_index_key(namespace, "alice")) == {kept.session_id.encode()}
    assert await long.prune_expired() == 0
    assert await long.list() == [kept]
