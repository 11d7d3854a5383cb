"""MCP sessions and event streams, through the blocking API and through its async twins."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from src.storage import (
    CorruptRecordError,
    InvalidKeyError,
    McpClientInfo,
    McpEvent,
    McpSession,
)
from tests.keys_v2 import events_key, session_key
from tests.keys_v2 import sessions_index_key as index_key
from tests.redis_topologies import namespace_keys

Call = Callable[..., Any]

CLIENT = McpClientInfo(name="test-client", version="1.0")
VERSION = "2025-06-18"
HOSTILE_SESSION_IDS: list[object] = [
    "*",
    ":",
    "\n",
    "",
    "x" * 10_000,
    "proxy:localhost",
    "a" * 42,
    "a" * 44,
    "a" * 42 + ":",
    "a" * 42 + "*",
    "a" * 43 + "\n",
    "a" * 21 + "\n" + "a" * 21,
    None,
]
HOSTILE_USERS = ["*", ":", "alice:bob", "alice\n", "", "x" * 10_000, "{mcp}", "ali*"]


def create(call: Call, user: str | None = None, ttl: float = 60) -> McpSession:
    session: McpSession = call(
        "create_mcp_session", user=user, client=CLIENT, protocol_version=VERSION, ttl=ttl
    )
    return session


def members(raw: redis.Redis, key: str) -> set[str]:
    return {m.decode() if isinstance(m, bytes) else m for m in raw.smembers(key)}


def snapshot(raw: redis.Redis, namespace: str) -> dict[bytes, object]:
    """Every key of the namespace with its value, to prove that nothing was written."""
    found: dict[bytes, object] = {}
    for key in namespace_keys(raw, namespace):
        kind = raw.type(key)
        if kind == b"set":
            found[key] = raw.smembers(key)
        elif kind == b"stream":
            found[key] = raw.xrange(key)
        else:
            found[key] = raw.get(key)
    return found


def test_session_lifecycle(call: Call, raw: redis.Redis, namespace: str) -> None:
    session = create(call, user="alice", ttl=30)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", session.session_id)
    assert (session.user, session.client, session.protocol_version) == ("alice", CLIENT, VERSION)
    assert session.created_at == session.last_seen_at
    assert call("get_mcp_session", session.session_id) == session
    assert 29_000 < raw.pttl(session_key(namespace, session.session_id)) <= 30_000
    assert members(raw, index_key(namespace)) == {session.session_id}
    assert members(raw, index_key(namespace, "alice")) == {session.session_id}

    assert call("delete_mcp_session", session.session_id) is True
    assert call("delete_mcp_session", session.session_id) is False
    assert call("get_mcp_session", session.session_id) is None
    assert not any(b"mcp" in key for key in snapshot(raw, namespace))


def test_a_session_records_the_oauth_client_that_opened_it(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    session: McpSession = call(
        "create_mcp_session",
        user=None,
        oauth_client_id="cli-1",
        client=CLIENT,
        protocol_version=VERSION,
        ttl=60,
    )
    assert (session.oauth_client_id, session.user) == ("cli-1", None)
    assert call("get_mcp_session", session.session_id) == session
    with pytest.raises(ValueError, match="invalid client id"):
        call(
            "create_mcp_session",
            user=None,
            oauth_client_id="a:b",
            client=CLIENT,
            protocol_version=VERSION,
            ttl=60,
        )
    # A record stored before the field existed reads as opened by no client.
    key = session_key(namespace, session.session_id)
    stored = json.loads(raw.get(key) or b"")
    del stored["oauth_client_id"]
    raw.set(key, json.dumps(stored), px=60_000)
    read = call("get_mcp_session", session.session_id)
    assert read is not None and read.oauth_client_id is None


def test_every_session_gets_a_new_id(call: Call) -> None:
    ids = {create(call).session_id for _ in range(5)}
    assert len(ids) == 5


def test_anonymous_sessions_are_only_in_the_main_index(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    session = create(call)
    assert session.user is None
    assert members(raw, index_key(namespace)) == {session.session_id}
    assert list(raw.scan_iter(match=f"{{{namespace}:mcp-user:*")) == []


def test_touch_renews_the_ttl_of_session_and_stream(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    session = create(call, ttl=5)
    call("append_mcp_event", session.session_id, {"method": "a"}, 10)
    assert raw.pttl(events_key(namespace, session.session_id)) <= 5_000
    touched = call("touch_mcp_session", session.session_id, timedelta(minutes=10))
    assert touched.last_seen_at >= session.last_seen_at
    assert touched.model_dump(exclude={"last_seen_at"}) == session.model_dump(
        exclude={"last_seen_at"}
    )
    assert call("get_mcp_session", session.session_id) == touched
    assert 590_000 < raw.pttl(session_key(namespace, session.session_id)) <= 600_000
    assert 590_000 < raw.pttl(events_key(namespace, session.session_id)) <= 600_000


def test_expired_session_is_gone_everywhere(call: Call, raw: redis.Redis, namespace: str) -> None:
    session = create(call, ttl=0.1)
    call("append_mcp_event", session.session_id, {"method": "a"}, 10)
    time.sleep(0.25)
    assert call("get_mcp_session", session.session_id) is None
    assert call("touch_mcp_session", session.session_id, 60) is None
    assert call("append_mcp_event", session.session_id, {"method": "b"}, 10) is None
    assert call("read_mcp_events", session.session_id) == []
    assert call("delete_mcp_session", session.session_id) is False
    assert (
        raw.exists(
            session_key(namespace, session.session_id), events_key(namespace, session.session_id)
        )
        == 0
    )


def test_listing_prunes_expired_sessions(call: Call, raw: redis.Redis, namespace: str) -> None:
    short = create(call, user="alice", ttl=0.1)
    alice = create(call, user="alice")
    bob = create(call, user="bob")
    anonymous = create(call)
    time.sleep(0.25)

    assert call("list_mcp_sessions") == [alice, bob, anonymous]
    assert members(raw, index_key(namespace)) == {
        alice.session_id,
        bob.session_id,
        anonymous.session_id,
    }
    # Only the index that was listed is pruned.
    assert short.session_id in members(raw, index_key(namespace, "alice"))

    assert call("list_mcp_sessions", "alice") == [alice]
    assert members(raw, index_key(namespace, "alice")) == {alice.session_id}
    assert call("list_mcp_sessions", "bob") == [bob]
    assert call("list_mcp_sessions", "carol") == []


def test_prune_expired_sessions(call: Call, raw: redis.Redis, namespace: str) -> None:
    expiring = [create(call, user="alice", ttl=0.1), create(call, ttl=0.1)]
    kept = create(call, user="alice")
    deleted_by_hand = create(call, user="bob")
    call("append_mcp_event", deleted_by_hand.session_id, {"method": "a"}, 10)
    raw.delete(session_key(namespace, deleted_by_hand.session_id))
    time.sleep(0.25)

    assert call("prune_expired_mcp_sessions") == 3
    assert members(raw, index_key(namespace)) == {kept.session_id}
    assert members(raw, index_key(namespace, "alice")) == {kept.session_id}
    assert raw.exists(index_key(namespace, "bob")) == 0
    assert raw.exists(events_key(namespace, deleted_by_hand.session_id)) == 0
    assert call("prune_expired_mcp_sessions") == 0
    assert call("list_mcp_sessions") == [kept]
    assert all(call("get_mcp_session", s.session_id) is None for s in expiring)


def test_delete_removes_stream_and_index_entries(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    session = create(call, user="alice")
    other = create(call, user="alice")
    call("append_mcp_event", session.session_id, {"method": "a"}, 10)
    assert call("delete_mcp_session", session.session_id) is True
    assert raw.exists(events_key(namespace, session.session_id)) == 0
    assert members(raw, index_key(namespace)) == {other.session_id}
    assert members(raw, index_key(namespace, "alice")) == {other.session_id}
    assert call("list_mcp_sessions", "alice") == [other]


def test_events_append_read_and_resume(call: Call) -> None:
    session = create(call)
    messages = [
        {"jsonrpc": "2.0", "method": "notifications/message", "params": {"n": n}} for n in range(5)
    ]
    ids = [call("append_mcp_event", session.session_id, message, 100) for message in messages]
    assert all(re.fullmatch(r"[0-9]+-[0-9]+", event_id) for event_id in ids)

    assert call("read_mcp_events", session.session_id) == [
        McpEvent(event_id=event_id, message=message)
        for event_id, message in zip(ids, messages, strict=True)
    ]
    resumed = call("read_mcp_events", session.session_id, ids[1])
    assert [event.event_id for event in resumed] == ids[2:]
    assert [event.message for event in resumed] == messages[2:]
    limited = call("read_mcp_events", session.session_id, ids[0], 2)
    assert [event.event_id for event in limited] == ids[1:3]
    assert call("read_mcp_events", session.session_id, ids[-1]) == []


def test_event_stream_is_capped(call: Call, raw: redis.Redis, namespace: str) -> None:
    session = create(call)
    ids = [call("append_mcp_event", session.session_id, {"n": n}, 3) for n in range(7)]
    assert raw.xlen(events_key(namespace, session.session_id)) == 3
    kept = call("read_mcp_events", session.session_id)
    assert [event.message for event in kept] == [{"n": 4}, {"n": 5}, {"n": 6}]
    # Resuming after a trimmed event yields what is left after it.
    assert [event.event_id for event in call("read_mcp_events", session.session_id, ids[1])] == ids[
        4:
    ]


def test_events_of_one_session_stay_there(call: Call) -> None:
    first, second = create(call), create(call)
    call("append_mcp_event", first.session_id, {"to": "first"}, 10)
    assert call("read_mcp_events", second.session_id) == []
    assert [event.message for event in call("read_mcp_events", first.session_id)] == [
        {"to": "first"}
    ]


def test_key_schema_v2_slots(call: Call, raw: redis.Redis, namespace: str) -> None:
    sessions = [create(call, user="alice") for _ in range(8)]
    for session in sessions:
        call("append_mcp_event", session.session_id, {"n": 1}, 10)
        record, stream = (
            session_key(namespace, session.session_id),
            events_key(namespace, session.session_id),
        )
        assert raw.exists(record) == raw.exists(stream) == 1
        assert raw.type(stream) == b"stream"
        # A session's record and stream share its slot ...
        assert key_slot(record.encode()) == key_slot(stream.encode())
    assert raw.exists(index_key(namespace)) == raw.exists(index_key(namespace, "alice")) == 1
    # ... and sessions spread over the slots (8 random ids in one of 16384: never).
    slots = {key_slot(session_key(namespace, s.session_id).encode()) for s in sessions}
    assert len(slots) > 1


@pytest.mark.parametrize("session_id", HOSTILE_SESSION_IDS, ids=lambda v: repr(v)[:20])
def test_hostile_session_ids_are_rejected(
    call: Call, raw: redis.Redis, namespace: str, session_id: object
) -> None:
    create(call, user="alice")
    before = snapshot(raw, namespace)
    for method, args in [
        ("get_mcp_session", (session_id,)),
        ("touch_mcp_session", (session_id, 60)),
        ("delete_mcp_session", (session_id,)),
        ("append_mcp_event", (session_id, {"n": 1}, 10)),
        ("read_mcp_events", (session_id,)),
    ]:
        with pytest.raises(InvalidKeyError, match="invalid MCP session id") as caught:
            call(method, *args)
        # A session id is a credential: errors never repeat it.
        if isinstance(session_id, str) and len(session_id) > 3:
            assert session_id not in str(caught.value)
    assert snapshot(raw, namespace) == before


@pytest.mark.parametrize("user", HOSTILE_USERS, ids=lambda v: repr(v)[:20])
def test_hostile_user_names_are_rejected(
    call: Call, raw: redis.Redis, namespace: str, user: str
) -> None:
    call("initialize")
    before = snapshot(raw, namespace)
    with pytest.raises(InvalidKeyError, match="invalid user name"):
        create(call, user=user)
    with pytest.raises(InvalidKeyError, match="invalid user name"):
        call("list_mcp_sessions", user)
    assert snapshot(raw, namespace) == before


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "error"),
    [
        ("create_mcp_session", (), {"ttl": 0}, "TTL"),
        ("create_mcp_session", (), {"ttl": -5}, "TTL"),
        ("create_mcp_session", (), {"protocol_version": "latest"}, "protocol_version"),
        ("touch_mcp_session", ("<id>", 0), {}, "TTL"),
        ("append_mcp_event", ("<id>", {"n": 1}, 0), {}, "max_events must be a positive"),
        ("append_mcp_event", ("<id>", {"n": 1}, True), {}, "max_events must be a positive"),
        ("append_mcp_event", ("<id>", {"n": 1}, 2.5), {}, "max_events must be a positive"),
        ("append_mcp_event", ("<id>", {"n": {1, 2}}, 10), {}, "must be JSON"),
        ("append_mcp_event", ("<id>", {"n": float("nan")}, 10), {}, "must be JSON"),
        ("read_mcp_events", ("<id>", None, 0), {}, "limit must be a positive"),
        ("read_mcp_events", ("<id>", None, 1001), {}, "limit must be at most 1000"),
        ("read_mcp_events", ("<id>", "latest"), {}, "invalid MCP event id"),
        ("read_mcp_events", ("<id>", "1-2-3"), {}, "invalid MCP event id"),
        ("read_mcp_events", ("<id>", "(1-0"), {}, "invalid MCP event id"),
        ("read_mcp_events", ("<id>", "1-0\n"), {}, "invalid MCP event id"),
    ],
)
def test_bad_arguments_are_rejected(
    call: Call,
    raw: redis.Redis,
    namespace: str,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: str,
) -> None:
    session = create(call)
    call("append_mcp_event", session.session_id, {"n": 0}, 10)
    before = snapshot(raw, namespace)
    if method == "create_mcp_session":
        arguments = {"user": None, "client": CLIENT, "protocol_version": VERSION, "ttl": 60}
        with pytest.raises(ValueError, match=error):
            call(method, **(arguments | kwargs))
    else:
        args = tuple(session.session_id if arg == "<id>" else arg for arg in args)
        with pytest.raises(ValueError, match=error):
            call(method, *args)
    assert snapshot(raw, namespace) == before


def test_corrupt_session_record(call: Call, raw: redis.Redis, namespace: str) -> None:
    session = create(call, user="alice")
    key = session_key(namespace, session.session_id)
    raw.set(key, b'{"session_id": "not json at all')
    before = snapshot(raw, namespace)
    for method, args in [
        ("get_mcp_session", (session.session_id,)),
        ("touch_mcp_session", (session.session_id, 60)),
        ("delete_mcp_session", (session.session_id,)),
        ("list_mcp_sessions", ()),
        ("list_mcp_sessions", ("alice",)),
    ]:
        with pytest.raises(CorruptRecordError, match="not a valid McpSession") as caught:
            call(method, *args)
        assert caught.value.key == key
    assert snapshot(raw, namespace) == before


def test_session_record_under_another_id(call: Call, raw: redis.Redis, namespace: str) -> None:
    session, other = create(call, user="alice"), create(call, user="alice")
    key = session_key(namespace, other.session_id)
    # GET and SET, not COPY: on a Cluster the two sessions live in different slots.
    raw.set(key, raw.get(session_key(namespace, session.session_id)) or b"")
    for method, args in [
        ("get_mcp_session", (other.session_id,)),
        ("touch_mcp_session", (other.session_id, 60)),
        ("list_mcp_sessions", ("alice",)),
    ]:
        with pytest.raises(CorruptRecordError, match="belongs to another session id") as caught:
            call(method, *args)
        assert caught.value.key == key
    assert call("get_mcp_session", session.session_id) == session


def test_session_record_of_the_wrong_type(call: Call, raw: redis.Redis, namespace: str) -> None:
    session = create(call)
    key = session_key(namespace, session.session_id)
    raw.delete(key)
    raw.sadd(key, "intruder")
    with pytest.raises(CorruptRecordError, match="WRONGTYPE") as caught:
        call("get_mcp_session", session.session_id)
    assert caught.value.key == key
    assert raw.smembers(key) == {b"intruder"}


@pytest.mark.parametrize("member", [b"proxy:localhost", b"*", b"\xff" * 43])
def test_corrupt_index_member(call: Call, raw: redis.Redis, namespace: str, member: bytes) -> None:
    session = create(call)
    raw.sadd(index_key(namespace), member)
    before = snapshot(raw, namespace)
    for method in ["list_mcp_sessions", "prune_expired_mcp_sessions"]:
        with pytest.raises(CorruptRecordError, match="a member is not a session id") as caught:
            call(method)
        assert caught.value.key == index_key(namespace)
    assert snapshot(raw, namespace) == before
    assert call("get_mcp_session", session.session_id) == session


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"other": "x"}, "an event has no JSON message"),
        ({"message": "not json"}, "an event has no JSON message"),
        ({"message": b"\xff\xfe"}, "an event has no JSON message"),
        ({"message": "[1, 2]"}, "not a JSON object"),
    ],
)
def test_corrupt_event(
    call: Call, raw: redis.Redis, namespace: str, fields: dict[Any, Any], error: str
) -> None:
    session = create(call)
    stream = events_key(namespace, session.session_id)
    call("append_mcp_event", session.session_id, {"n": 1}, 10)
    raw.xadd(stream, fields)
    with pytest.raises(CorruptRecordError, match=error) as caught:
        call("read_mcp_events", session.session_id)
    assert caught.value.key == stream
    assert raw.xlen(stream) == 2


def test_event_stream_of_the_wrong_type(call: Call, raw: redis.Redis, namespace: str) -> None:
    session = create(call)
    stream = events_key(namespace, session.session_id)
    raw.set(stream, b"intruder")
    before = snapshot(raw, namespace)
    with pytest.raises(CorruptRecordError, match="is not a Redis stream"):
        call("append_mcp_event", session.session_id, {"n": 1}, 10)
    with pytest.raises(CorruptRecordError, match="WRONGTYPE") as caught:
        call("read_mcp_events", session.session_id)
    assert caught.value.key == stream
    assert snapshot(raw, namespace) == before
