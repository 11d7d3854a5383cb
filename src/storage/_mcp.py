"""MCP sessions, their indexes and their event streams.

Key schema v2 (`<ns>` is the namespace, empty by default, which drops its `:`). A
session's record and stream share the hash tag of the session, so they change together in
one MULTI/EXEC or script, and sessions spread over a Redis Cluster's slots; each index has
a tag of its own:

    {<ns>:mcp:<session id>}:session    the `McpSession` as JSON; expires after its TTL
    {<ns>:mcp:<session id>}:events     the session's event stream (a Redis stream of
                                       `message` fields), capped, expiring with it
    {<ns>:mcp-sessions}:index          set of the ids of every session
    {<ns>:mcp-user:<user>}:sessions    set of the ids of the user's sessions

An index lives in another slot than the sessions it lists, so it changes in a step of its
own: a session is written before it is indexed, and unindexed after it is deleted. A
session expires on its own, but Redis cannot expire a set member, so the indexes keep the
ids of expired (or deleted, by a step that did not finish) sessions until a listing or
`prune_expired_mcp_sessions()` removes them. Session ids are 256 random bits and never
reused: an id found stale stays stale.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ._base import StorageBase
from ._codec import decode_record, encode_record, key_text
from ._errors import CorruptRecordError
from ._keys import KeySchema
from ._mcp_keys import (
    events_key,
    session_key,
    sessions_index_key,
    user_index_key,
    user_index_pattern,
)
from ._mcp_models import (
    McpClientInfo,
    McpEvent,
    McpSession,
    new_session_id,
    validate_event_id,
    validate_session_id,
)
from ._operations import Atomic, GetMany, Operation, scan, ttl_milliseconds

_MAX_READ = 1000

_APPEND_EVENT = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then
  return false
end
if ttl == -1 then
  return redis.error_reply('the session has no TTL')
end
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind ~= 'none' and kind ~= 'stream' then
  return redis.error_reply('the event stream of the session is not a Redis stream')
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], '*', 'message', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ttl)
return id
"""
"""KEYS: the session, its stream. ARGV: the cap, the message as JSON.

Appends only while the session exists, and gives the stream the session's remaining TTL so
that both expire together. The cap is exact (no `~`): readers resuming after an event rely
on the stream holding exactly the last `cap` events.
"""


def _index_keys(keys: KeySchema, user: str | None) -> list[str]:
    """The indexes that list a session of `user`."""
    indexes = [sessions_index_key(keys)]
    if user is not None:
        indexes.append(user_index_key(keys, user))
    return indexes


def _positive_count(value: int, name: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r:.40}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")
    return value


def _members(index: str, replies: list[bytes]) -> list[str]:
    """The session ids of an index; a member that is no session id makes the index corrupt."""
    try:
        return sorted(validate_session_id(member.decode("ascii")) for member in replies)
    except (UnicodeDecodeError, ValueError):
        raise CorruptRecordError(index, "a member is not a session id") from None


def _decode_session(key: str, session_id: str, raw: bytes | None) -> McpSession | None:
    session = decode_record(key, raw, McpSession)
    if session is not None and session.session_id != session_id:
        raise CorruptRecordError(key, "the record belongs to another session id")
    return session


def create_mcp_session(
    keys: KeySchema,
    user: str | None,
    client: McpClientInfo,
    protocol_version: str,
    ttl: float | timedelta,
    oauth_client_id: str | None,
) -> Operation[McpSession]:
    """Open a session under a fresh id, expiring after `ttl` unless touched."""
    milliseconds = ttl_milliseconds(ttl)
    indexes = _index_keys(keys, user)
    now = datetime.now(UTC)
    session = McpSession(
        session_id=new_session_id(),
        user=user,
        oauth_client_id=oauth_client_id,
        client=client,
        protocol_version=protocol_version,
        created_at=now,
        last_seen_at=now,
    )
    # Written, then indexed: an index never names a session that was not written yet.
    yield ("SET", session_key(keys, session.session_id), encode_record(session), "PX", milliseconds)
    for index in indexes:
        yield ("SADD", index, session.session_id)
    return session


def get_mcp_session(keys: KeySchema, session_id: str) -> Operation[McpSession | None]:
    """Read one session."""
    key = session_key(keys, session_id)
    raw = yield ("GET", key)
    return _decode_session(key, session_id, raw)


def touch_mcp_session(
    keys: KeySchema, session_id: str, ttl: float | timedelta
) -> Operation[McpSession | None]:
    """Record a use of the session and restart its TTL (and its stream's)."""
    milliseconds = ttl_milliseconds(ttl)
    session = yield from get_mcp_session(keys, session_id)
    if session is None:
        return None
    touched = session.model_copy(update={"last_seen_at": datetime.now(UTC)})
    # XX: a session deleted or expired since the read stays gone. Only `last_seen_at`
    # ever changes, so a concurrent touch can only differ from this one by milliseconds.
    written, _ = yield Atomic(
        (
            (
                "SET",
                session_key(keys, session_id),
                encode_record(touched),
                "PX",
                milliseconds,
                "XX",
            ),
            ("PEXPIRE", events_key(keys, session_id), milliseconds),
        )
    )
    return touched if written else None


def delete_mcp_session(keys: KeySchema, session_id: str) -> Operation[bool]:
    """Delete a session with its event stream and index entries; tell whether it existed."""
    session = yield from get_mcp_session(keys, session_id)
    if session is None:
        return False
    deleted, _ = yield Atomic(
        (("DEL", session_key(keys, session_id)), ("DEL", events_key(keys, session_id)))
    )
    # Then unindexed (the indexes live in other slots); should this step not run, the
    # listings prune the id.
    for index in _index_keys(keys, session.user):
        yield ("SREM", index, session_id)
    return bool(deleted)


def list_mcp_sessions(keys: KeySchema, user: str | None) -> Operation[list[McpSession]]:
    """The live sessions of the index (every session, or the user's), oldest first; the
    index forgets the sessions that expired."""
    index = sessions_index_key(keys) if user is None else user_index_key(keys, user)
    members = _members(index, (yield ("SMEMBERS", index)))
    if not members:
        return []
    session_keys = [session_key(keys, member) for member in members]
    raws = yield GetMany(tuple(session_keys))
    sessions: list[McpSession] = []
    stale: list[str] = []
    for member, key, raw in zip(members, session_keys, raws, strict=True):
        session = _decode_session(key, member, raw)
        if session is None:
            stale.append(member)
        else:
            sessions.append(session)
    if stale:
        yield ("SREM", index, *stale)
    return sorted(sessions, key=lambda session: (session.created_at, session.session_id))


def _prune_index(keys: KeySchema, index: str) -> Operation[set[str]]:
    members = _members(index, (yield ("SMEMBERS", index)))
    if not members:
        return set()
    # The sessions live in slots of their own: their values, not one EXISTS transaction.
    alive = yield GetMany(tuple(session_key(keys, member) for member in members))
    stale = [member for member, raw in zip(members, alive, strict=True) if raw is None]
    if stale:
        yield ("SREM", index, *stale)
        for member in stale:
            # A stream expires with its session; this only tidies one whose session was
            # deleted by hand.
            yield ("DEL", events_key(keys, member))
    return set(stale)


def prune_expired_mcp_sessions(keys: KeySchema) -> Operation[int]:
    """Remove the expired sessions from every index; how many distinct sessions that was."""
    pruned = yield from _prune_index(keys, sessions_index_key(keys))
    for user_index in (yield from scan(user_index_pattern(keys))):
        pruned |= yield from _prune_index(keys, key_text(user_index))
    return len(pruned)


def append_mcp_event(
    keys: KeySchema, session_id: str, message: Mapping[str, Any], max_events: int
) -> Operation[str | None]:
    """Append `message` to the session's stream, keeping the last `max_events`; the new
    event's id, or `None` when the session does not exist."""
    stream = events_key(keys, session_id)
    cap = _positive_count(max_events, "max_events")
    try:
        encoded = json.dumps(dict(message), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"an MCP event message must be JSON: {exc}") from None
    event_id = yield (
        "EVAL",
        _APPEND_EVENT,
        2,
        session_key(keys, session_id),
        stream,
        cap,
        encoded.encode(),
    )
    return None if event_id is None else key_text(event_id)


def _decode_event(stream: str, entry: tuple[bytes, Mapping[bytes, bytes]]) -> McpEvent:
    # redis-py parses each stream entry into (id, {field: value}).
    event_id, fields = entry
    try:
        message = json.loads(fields[b"message"])
    except (KeyError, UnicodeDecodeError, ValueError):
        raise CorruptRecordError(stream, "an event has no JSON message") from None
    if not isinstance(message, dict):
        raise CorruptRecordError(stream, "an event's message is not a JSON object")
    return McpEvent(event_id=key_text(event_id), message=message)


def read_mcp_events(
    keys: KeySchema, session_id: str, after: str | None, limit: int
) -> Operation[list[McpEvent]]:
    """Up to `limit` events of the session's stream, oldest first, after the event `after`
    (exclusive) or from the start."""
    stream = events_key(keys, session_id)
    start = "-" if after is None else f"({validate_event_id(after)}"
    count = _positive_count(limit, "limit", _MAX_READ)
    entries = yield ("XRANGE", stream, start, "+", "COUNT", count)
    return [_decode_event(stream, entry) for entry in entries]


class McpRecords(StorageBase):
    """MCP sessions under `{<ns>:mcp:<id>}:session`, their indexes and their event
    streams."""

    def create_mcp_session(
        self,
        *,
        user: str | None,
        client: McpClientInfo,
        protocol_version: str,
        ttl: float | timedelta,
        oauth_client_id: str | None = None,
    ) -> McpSession:
        """Open a session under a fresh random id for `user` (`None`: no user) of the OAuth
        client `oauth_client_id` (`None`: anonymous); it expires after `ttl` (seconds or
        timedelta) unless `touch_mcp_session()` renews it."""
        return self._run(
            create_mcp_session(self._keys, user, client, protocol_version, ttl, oauth_client_id),
            "create_mcp_session",
        )

    async def acreate_mcp_session(
        self,
        *,
        user: str | None,
        client: McpClientInfo,
        protocol_version: str,
        ttl: float | timedelta,
        oauth_client_id: str | None = None,
    ) -> McpSession:
        """Async twin of `create_mcp_session()`."""
        return await self._arun(
            create_mcp_session(self._keys, user, client, protocol_version, ttl, oauth_client_id)
        )

    def get_mcp_session(self, session_id: str) -> McpSession | None:
        """The live session `session_id`, or `None`; `InvalidKeyError` for an id that no
        session can have."""
        return self._run(get_mcp_session(self._keys, session_id), "get_mcp_session")

    async def aget_mcp_session(self, session_id: str) -> McpSession | None:
        """Async twin of `get_mcp_session()`."""
        return await self._arun(get_mcp_session(self._keys, session_id))

    def touch_mcp_session(self, session_id: str, ttl: float | timedelta) -> McpSession | None:
        """Record a use of the session now and restart its TTL (and its stream's) at `ttl`;
        the updated session, or `None` if it does not exist."""
        return self._run(touch_mcp_session(self._keys, session_id, ttl), "touch_mcp_session")

    async def atouch_mcp_session(
        self, session_id: str, ttl: float | timedelta
    ) -> McpSession | None:
        """Async twin of `touch_mcp_session()`."""
        return await self._arun(touch_mcp_session(self._keys, session_id, ttl))

    def delete_mcp_session(self, session_id: str) -> bool:
        """Delete the session, its event stream and its index entries at once; `True` if it
        existed."""
        return self._run(delete_mcp_session(self._keys, session_id), "delete_mcp_session")

    async def adelete_mcp_session(self, session_id: str) -> bool:
        """Async twin of `delete_mcp_session()`."""
        return await self._arun(delete_mcp_session(self._keys, session_id))

    def list_mcp_sessions(self, user: str | None = None) -> list[McpSession]:
        """The live sessions (of `user`, when given), oldest first; the index listed forgets
        the sessions that expired."""
        return self._run(list_mcp_sessions(self._keys, user), "list_mcp_sessions")

    async def alist_mcp_sessions(self, user: str | None = None) -> list[McpSession]:
        """Async twin of `list_mcp_sessions()`."""
        return await self._arun(list_mcp_sessions(self._keys, user))

    def prune_expired_mcp_sessions(self) -> int:
        """Remove expired sessions from every index; the number of sessions removed."""
        return self._run(prune_expired_mcp_sessions(self._keys), "prune_expired_mcp_sessions")

    async def aprune_expired_mcp_sessions(self) -> int:
        """Async twin of `prune_expired_mcp_sessions()`."""
        return await self._arun(prune_expired_mcp_sessions(self._keys))

    def append_mcp_event(
        self, session_id: str, message: Mapping[str, Any], max_events: int
    ) -> str | None:
        """Append the JSON object `message` to the session's event stream, which keeps its
        last `max_events` events and expires with the session; the event id, or `None` when
        the session does not exist (nothing is written then)."""
        return self._run(
            append_mcp_event(self._keys, session_id, message, max_events), "append_mcp_event"
        )

    async def aappend_mcp_event(
        self, session_id: str, message: Mapping[str, Any], max_events: int
    ) -> str | None:
        """Async twin of `append_mcp_event()`."""
        return await self._arun(append_mcp_event(self._keys, session_id, message, max_events))

    def read_mcp_events(
        self, session_id: str, after: str | None = None, limit: int = 100
    ) -> list[McpEvent]:
        """Up to `limit` (at most 1000) events of the session, oldest first: those after the
        event id `after` when given (to resume a stream), else from the oldest kept."""
        return self._run(read_mcp_events(self._keys, session_id, after, limit), "read_mcp_events")

    async def aread_mcp_events(
        self, session_id: str, after: str | None = None, limit: int = 100
    ) -> list[McpEvent]:
        """Async twin of `read_mcp_events()`."""
        return await self._arun(read_mcp_events(self._keys, session_id, after, limit))
