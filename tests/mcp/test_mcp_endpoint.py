"""The `/mcp` endpoint over HTTP: session lifecycle, JSON-RPC errors, expiry, bad input."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis

from src.storage import McpClientInfo, UnifiedStorage
from tests.keys_v2 import session_key

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
OpenSession = Callable[..., Awaitable[str]]
Rpc = Callable[..., Awaitable[httpx.Response]]
Snapshot = Callable[[], dict[bytes, object]]

TOOL_NAMES = ["list_proxies", "list_routes", "list_certificates", "list_ports", "get_port_owner"]


def assert_error(response: httpx.Response, status: int, code: int, request_id: object) -> str:
    """Check a JSON-RPC error response; its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"jsonrpc", "id", "error"}
    assert (body["jsonrpc"], body["id"], body["error"]["code"]) == ("2.0", request_id, code)
    message: str = body["error"]["message"]
    return message


async def test_session_lifecycle(
    client: httpx.AsyncClient,
    storage: UnifiedStorage,
    initialize_message: dict[str, Any],
    rpc: Rpc,
) -> None:
    response = await client.post("/mcp", json=initialize_message)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    session_id = response.headers["Mcp-Session-Id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", session_id)
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "storage-gateway", "version": "0.1.0"},
        },
    }
    [session] = await storage.alist_mcp_sessions()
    assert session.session_id == session_id
    assert session.user is None
    assert session.client == McpClientInfo(name="test-client", version="1.0")
    assert session.protocol_version == "2025-06-18"

    initialized = await client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers={"Mcp-Session-Id": session_id},
    )
    assert (initialized.status_code, initialized.content) == (202, b"")

    ping = await rpc(client, session_id, "ping", request_id=2)
    assert ping.json() == {"jsonrpc": "2.0", "id": 2, "result": {}}
    tools = await rpc(client, session_id, "tools/list", request_id="three")
    assert tools.status_code == 200
    assert [tool["name"] for tool in tools.json()["result"]["tools"]] == TOOL_NAMES
    assert tools.json()["id"] == "three"

    ended = await client.delete("/mcp", headers={"Mcp-Session-Id": session_id})
    assert (ended.status_code, ended.content) == (204, b"")
    assert await storage.alist_mcp_sessions() == []
    assert_error(await rpc(client, session_id, "ping"), 404, -32001, 7)
    assert_error(
        await client.delete("/mcp", headers={"Mcp-Session-Id": session_id}), 404, -32001, None
    )


@pytest.mark.parametrize(
    ("requested", "negotiated"),
    [
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2025-06-18"),
        ("next-year", "2025-06-18"),
    ],
)
async def test_protocol_version_negotiation(
    client: httpx.AsyncClient,
    storage: UnifiedStorage,
    initialize_message: dict[str, Any],
    requested: str,
    negotiated: str,
) -> None:
    initialize_message["params"]["protocolVersion"] = requested
    response = await client.post("/mcp", json=initialize_message)
    assert response.json()["result"]["protocolVersion"] == negotiated
    session = await storage.aget_mcp_session(response.headers["Mcp-Session-Id"])
    assert session is not None
    assert session.protocol_version == negotiated


async def test_unsupported_protocol_version_header(
    client: httpx.AsyncClient, open_session: OpenSession, rpc: Rpc, snapshot: Snapshot
) -> None:
    session_id = await open_session(client)
    before = snapshot()
    response = await rpc(client, session_id, "ping", **{"MCP-Protocol-Version": "1999-01-01"})
    message = assert_error(response, 400, -32600, 7)
    assert message == (
        "Bad Request: unsupported MCP-Protocol-Version; supported: 2025-06-18, 2025-03-26"
    )
    assert snapshot() == before
    accepted = await rpc(client, session_id, "ping", **{"MCP-Protocol-Version": "2025-03-26"})
    assert accepted.json()["result"] == {}


async def test_get_is_not_allowed(client: httpx.AsyncClient, open_session: OpenSession) -> None:
    session_id = await open_session(client)
    response = await client.get("/mcp", headers={"Mcp-Session-Id": session_id})
    message = assert_error(response, 405, -32600, None)
    assert "no server-initiated stream" in message
    assert response.headers["allow"] == "POST, DELETE"


async def test_missing_session_header(
    client: httpx.AsyncClient, open_session: OpenSession, snapshot: Snapshot
) -> None:
    await open_session(client)
    before = snapshot()
    for response, request_id in [
        (await client.post("/mcp", json={"jsonrpc": "2.0", "id": 5, "method": "ping"}), 5),
        (await client.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/x"}), None),
        (await client.delete("/mcp"), None),
    ]:
        message = assert_error(response, 400, -32600, request_id)
        assert message == "Bad Request: missing Mcp-Session-Id header"
    assert snapshot() == before


@pytest.mark.parametrize(
    "session_id",
    [
        "*",
        ":",
        "",
        "x" * 10_000,
        "proxy:localhost",
        "a" * 42 + "*",
        "a" * 44,
        "a" * 42 + ":",
        "../" * 14 + "a",
        secrets.token_urlsafe(32),
    ],
    ids=lambda value: repr(value)[:20],
)
async def test_unknown_and_hostile_session_ids(
    client: httpx.AsyncClient, open_session: OpenSession, snapshot: Snapshot, session_id: str
) -> None:
    await open_session(client)
    before = snapshot()
    headers = {"Mcp-Session-Id": session_id}
    for response, request_id in [
        (
            await client.post(
                "/mcp", json={"jsonrpc": "2.0", "id": 5, "method": "ping"}, headers=headers
            ),
            5,
        ),
        (
            await client.post(
                "/mcp",
                json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers=headers,
            ),
            None,
        ),
        (await client.delete("/mcp", headers=headers), None),
    ]:
        message = assert_error(response, 404, -32001, request_id)
        assert message.startswith("Session not found")
        if len(session_id) > 3:
            assert session_id not in response.text
    assert snapshot() == before


async def test_session_expires_after_its_ttl(
    make_client: MakeClient, open_session: OpenSession, rpc: Rpc, storage: UnifiedStorage
) -> None:
    client = await make_client(ttl=timedelta(milliseconds=150))
    session_id = await open_session(client)
    await asyncio.sleep(0.3)
    assert_error(await rpc(client, session_id, "ping"), 404, -32001, 7)
    assert await storage.alist_mcp_sessions() == []


async def test_each_use_renews_the_session(
    client: httpx.AsyncClient,
    open_session: OpenSession,
    rpc: Rpc,
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
) -> None:
    session_id = await open_session(client)
    before = await storage.aget_mcp_session(session_id)
    assert before is not None
    raw.pexpire(session_key(namespace, session_id), 2_000)
    assert (await rpc(client, session_id, "ping")).status_code == 200
    assert 50_000 < raw.pttl(session_key(namespace, session_id)) <= 60_000
    after = await storage.aget_mcp_session(session_id)
    assert after is not None
    assert after.last_seen_at > before.last_seen_at


@pytest.mark.parametrize("body", [b"", b"{not json", b'{"jsonrpc": "2.0",', b"\xff\xfe", b"nul"])
async def test_parse_error(client: httpx.AsyncClient, snapshot: Snapshot, body: bytes) -> None:
    before = snapshot()
    response = await client.post("/mcp", content=body, headers={"content-type": "application/json"})
    assert assert_error(response, 400, -32700, None) == "Parse error: the body is not JSON"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("message", "request_id", "reason"),
    [
        ([], None, "batches (JSON arrays) are not supported"),
        ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], None, "batches"),
        (42, None, "expected a JSON object"),
        ("ping", None, "expected a JSON object"),
        (None, None, "expected a JSON object"),
        ({"jsonrpc": "1.0", "id": 3, "method": "ping"}, 3, '"jsonrpc" must be "2.0"'),
        ({"id": 3, "method": "ping"}, 3, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "2.0", "id": 3}, 3, '"method" must be a non-empty string'),
        ({"jsonrpc": "2.0", "id": 3, "method": 12}, 3, '"method" must be a non-empty string'),
        ({"jsonrpc": "2.0", "id": 3, "method": ""}, 3, '"method" must be a non-empty string'),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, None, "the id must be a string"),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, None, "the id must be a string"),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, None, "the id must be a string"),
        ({"jsonrpc": "2.0", "id": [1], "method": "ping"}, None, "the id must be a string"),
        ({"jsonrpc": "2.0", "id": 3, "method": "ping", "params": "x"}, 3, '"params" must be'),
        ({"jsonrpc": "2.0", "id": 3, "method": "ping", "params": None}, 3, '"params" must be'),
        ({"jsonrpc": "2.0", "method": "initialize", "params": {}}, None, "initialize needs an id"),
    ],
)
async def test_invalid_request(
    client: httpx.AsyncClient,
    open_session: OpenSession,
    snapshot: Snapshot,
    message: object,
    request_id: object,
    reason: str,
) -> None:
    session_id = await open_session(client)
    before = snapshot()
    response = await client.post(
        "/mcp",
        content=json.dumps(message).encode(),
        headers={"Mcp-Session-Id": session_id, "content-type": "application/json"},
    )
    error = assert_error(response, 400, -32600, request_id)
    assert error.startswith("Invalid Request: ")
    assert reason in error
    assert snapshot() == before


async def test_initialize_with_a_session_header(
    client: httpx.AsyncClient,
    open_session: OpenSession,
    initialize_message: dict[str, Any],
    snapshot: Snapshot,
) -> None:
    session_id = await open_session(client)
    before = snapshot()
    response = await client.post(
        "/mcp", json=initialize_message, headers={"Mcp-Session-Id": session_id}
    )
    assert "initialize opens a new session" in assert_error(response, 400, -32600, 1)
    assert "Mcp-Session-Id" not in response.headers
    assert snapshot() == before


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}, "protocolVersion"),
        (
            {
                "protocolVersion": 20250618,
                "capabilities": {},
                "clientInfo": {"name": "c", "version": "1"},
            },
            "protocolVersion",
        ),
        (
            {"protocolVersion": "2025-06-18", "clientInfo": {"name": "c", "version": "1"}},
            "capabilities",
        ),
        ({"protocolVersion": "2025-06-18", "capabilities": {}}, "clientInfo"),
        (
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c"}},
            "clientInfo.version",
        ),
        (
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "x" * 257, "version": "1"},
            },
            "clientInfo.name",
        ),
        (
            {
                "protocolVersion": "2025-06-18",
                "capabilities": [],
                "clientInfo": {"name": "c", "version": "1"},
            },
            "capabilities",
        ),
    ],
)
async def test_initialize_with_invalid_params(
    client: httpx.AsyncClient,
    snapshot: Snapshot,
    initialize_message: dict[str, Any],
    params: dict[str, Any],
    problem: str,
) -> None:
    before = snapshot()
    response = await client.post("/mcp", json=initialize_message | {"params": params})
    message = assert_error(response, 200, -32602, 1)
    assert message.startswith(f"Invalid params: {problem}:")
    assert "x" * 257 not in message
    assert "Mcp-Session-Id" not in response.headers
    assert snapshot() == before


async def test_initialize_params_must_be_an_object(
    client: httpx.AsyncClient, initialize_message: dict[str, Any]
) -> None:
    response = await client.post("/mcp", json=initialize_message | {"params": ["2025-06-18"]})
    message = assert_error(response, 200, -32602, 1)
    assert message == "Invalid params: initialize takes an object"


async def test_initialize_ignores_extra_client_info(
    client: httpx.AsyncClient, storage: UnifiedStorage, initialize_message: dict[str, Any]
) -> None:
    initialize_message["params"]["clientInfo"] |= {"title": "Test", "websiteUrl": "https://x"}
    response = await client.post("/mcp", json=initialize_message)
    session = await storage.aget_mcp_session(response.headers["Mcp-Session-Id"])
    assert session is not None
    assert session.client == McpClientInfo(name="test-client", version="1.0")


async def test_method_not_found(
    client: httpx.AsyncClient, open_session: OpenSession, rpc: Rpc
) -> None:
    session_id = await open_session(client)
    for method in ["resources/list", "prompts/get", "tools/delete"]:
        message = assert_error(await rpc(client, session_id, method), 200, -32601, 7)
        assert message == f"Method not found: {method!r}"


async def test_unknown_notifications_are_accepted(
    client: httpx.AsyncClient, open_session: OpenSession
) -> None:
    session_id = await open_session(client)
    response = await client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
        headers={"Mcp-Session-Id": session_id},
    )
    assert (response.status_code, response.content) == (202, b"")


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("ping", [1], "Invalid params: ping takes an object"),
        ("tools/list", ["cursor"], "Invalid params: tools/list takes an object"),
        ("tools/call", None, 'Invalid params: "name" must be a string'),
        ("tools/call", {"name": 3}, 'Invalid params: "name" must be a string'),
        (
            "tools/call",
            {"name": "list_routes", "arguments": []},
            'Invalid params: "arguments" must be an object',
        ),
        ("tools/call", {"name": "drop_database"}, "Unknown tool: 'drop_database'"),
        (
            "tools/call",
            {"name": "list_ports"},
            "Invalid arguments for tool 'list_ports': service: Field required",
        ),
        (
            "tools/call",
            {"name": "list_routes", "arguments": {"extra": 1}},
            "Invalid arguments for tool 'list_routes': extra: Extra inputs are not permitted",
        ),
        (
            "tools/call",
            {"name": "get_port_owner", "arguments": {"port": "80"}},
            "Invalid arguments for tool 'get_port_owner': port: Input should be a valid integer",
        ),
        (
            "tools/call",
            {"name": "get_port_owner", "arguments": {"port": 0}},
            "Invalid arguments for tool 'get_port_owner': "
            "port: Input should be greater than or equal to 1",
        ),
    ],
)
async def test_invalid_params(
    client: httpx.AsyncClient,
    open_session: OpenSession,
    rpc: Rpc,
    method: str,
    params: Any,
    expected: str,
) -> None:
    session_id = await open_session(client)
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 9, "method": method}
    if params is not None:
        message["params"] = params
    response = await client.post("/mcp", json=message, headers={"Mcp-Session-Id": session_id})
    assert assert_error(response, 200, -32602, 9) == expected


async def test_corrupt_session_record(
    client: httpx.AsyncClient,
    open_session: OpenSession,
    rpc: Rpc,
    raw: redis.Redis,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session_id = await open_session(client)
    key = session_key(namespace, session_id)
    raw.set(key, b'{"session_id": 12')
    responses = [
        (await rpc(client, session_id, "ping"), 7),
        (await client.delete("/mcp", headers={"Mcp-Session-Id": session_id}), None),
    ]
    for response, request_id in responses:
        message = assert_error(response, 500, -32603, request_id)
        assert message == "Internal error: a stored record is corrupt"
        assert "Traceback" not in response.text
        assert session_id not in response.text
    assert raw.get(key) == b'{"session_id": 12'
    failures = [r for r in caplog.records if r.name == "src.api.routers.mcp.mcp"]
    assert [r.getMessage() for r in failures] == ["MCP request failed: CorruptRecordError"] * 2


async def test_session_record_of_the_wrong_type(
    client: httpx.AsyncClient, open_session: OpenSession, rpc: Rpc, raw: redis.Redis, namespace: str
) -> None:
    session_id = await open_session(client)
    key = session_key(namespace, session_id)
    raw.delete(key)
    raw.rpush(key, "intruder")
    message = assert_error(await rpc(client, session_id, "tools/list"), 500, -32603, 7)
    assert message == "Internal error: a stored record is corrupt"
    assert raw.lrange(key, 0, -1) == [b"intruder"]


async def test_sessions_belong_to_their_client_and_user(
    make_client: MakeClient, open_session: OpenSession, rpc: Rpc, storage: UnifiedStorage
) -> None:
    client = await make_client()
    session_id = await open_session(client, **{"X-Test-User": "alice"})
    [session] = await storage.alist_mcp_sessions("alice")
    assert (session.session_id, session.oauth_client_id, session.user) == (
        session_id,
        "test-oauth-client",
        "alice",
    )

    others = [
        {"X-Test-User": "bob"},
        {},  # the same client, acting for itself
        {"X-Test-Client": "other-client", "X-Test-User": "alice"},
    ]
    for headers in others:
        assert_error(await rpc(client, session_id, "ping", **headers), 404, -32001, 7)
        response = await client.delete("/mcp", headers={"Mcp-Session-Id": session_id, **headers})
        assert_error(response, 404, -32001, None)
    assert await storage.alist_mcp_sessions() == [session]

    alice = {"X-Test-User": "alice"}
    assert (await rpc(client, session_id, "ping", **alice)).json()["result"] == {}
    response = await client.delete("/mcp", headers={"Mcp-Session-Id": session_id, **alice})
    assert response.status_code == 204
    assert await storage.alist_mcp_sessions() == []


async def test_a_session_without_a_user_is_only_its_clients(
    client: httpx.AsyncClient, open_session: OpenSession, rpc: Rpc, storage: UnifiedStorage
) -> None:
    # A client_credentials token: the client acts for itself.
    session_id = await open_session(client)
    [session] = await storage.alist_mcp_sessions()
    assert (session.oauth_client_id, session.user) == ("test-oauth-client", None)
    for headers in [{"X-Test-User": "alice"}, {"X-Test-Client": "other-client"}]:
        assert_error(await rpc(client, session_id, "ping", **headers), 404, -32001, 7)
        response = await client.delete("/mcp", headers={"Mcp-Session-Id": session_id, **headers})
        assert_error(response, 404, -32001, None)
    assert (await rpc(client, session_id, "ping")).status_code == 200


async def test_an_anonymous_caller_is_refused(
    client: httpx.AsyncClient,
    make_client: MakeClient,
    open_session: OpenSession,
    initialize_message: dict[str, Any],
    rpc: Rpc,
    snapshot: Snapshot,
    storage: UnifiedStorage,
) -> None:
    session_id = await open_session(client)
    anonymous = await make_client(authenticated=False)
    before = snapshot()
    answers = [
        await anonymous.post("/mcp", json=initialize_message),
        await rpc(anonymous, session_id, "tools/call", {"name": "list_proxies"}),
        await anonymous.delete("/mcp", headers={"Mcp-Session-Id": session_id}),
    ]
    for response in answers:
        message = assert_error(response, 401, -32600, None)
        assert message == "Unauthorized: a valid bearer access token is required"
        assert response.headers["www-authenticate"] == (
            'Bearer resource_metadata="http://gateway/.well-known/oauth-protected-resource"'
        )
    assert snapshot() == before
    assert await storage.aget_mcp_session(session_id) is not None
