"""`/mcp` against oversized and deeply nested bodies: the body limit and the nesting limit."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.middleware.authentication import AuthenticationMiddleware

from src.api.routers.mcp import McpLimits, McpToolServer, SessionManager, create_mcp_router
from src.api.routers.mcp.mcp import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_JSON_DEPTH
from src.storage import UnifiedStorage
from tests.integration.conftest import LoopbackServer

from .conftest import CLIENT_HEADER, TEST_CLIENT, HeaderAuthentication
from .test_mcp_endpoint import assert_error

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
OpenSession = Callable[..., Awaitable[str]]
Rpc = Callable[..., Awaitable[httpx.Response]]
Snapshot = Callable[[], dict[bytes, object]]
JSON = {"Content-Type": "application/json"}


def test_the_defaults() -> None:
    assert (DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_JSON_DEPTH) == (1024 * 1024, 64)
    assert McpLimits() == McpLimits(max_body_bytes=1024 * 1024, max_json_depth=64)


@pytest.mark.parametrize("field", ["max_body_bytes", "max_json_depth"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_limits_must_be_positive_integers(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{field} must be a positive integer"):
        McpLimits(**{field: value})  # type: ignore[arg-type]


def padded(message: dict[str, Any], size: int) -> bytes:
    """`message` as JSON of exactly `size` bytes (padding in its params)."""
    message = {**message, "params": {**message.get("params", {}), "_pad": ""}}
    unpadded = len(json.dumps(message).encode())
    message["params"]["_pad"] = "p" * (size - unpadded)
    body = json.dumps(message).encode()
    assert len(body) == size
    return body


async def test_a_body_at_the_limit_is_read_and_one_past_it_is_413(
    make_client: MakeClient, initialize_message: dict[str, Any], snapshot: Snapshot
) -> None:
    client = await make_client(limits=McpLimits(max_body_bytes=1000))
    accepted = await client.post("/mcp", content=padded(initialize_message, 1000), headers=JSON)
    assert accepted.status_code == 200, accepted.text
    before = snapshot()
    refused = await client.post("/mcp", content=padded(initialize_message, 1001), headers=JSON)
    message = assert_error(refused, 413, -32600, None)
    assert message == "Payload Too Large: the request body exceeds 1000 bytes"
    assert refused.headers["connection"] == "close"
    assert snapshot() == before


async def test_a_chunked_body_is_read_only_up_to_the_limit(
    make_client: MakeClient, initialize_message: dict[str, Any]
) -> None:
    client = await make_client(limits=McpLimits(max_body_bytes=10_000))
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(200_000):  # 200 MB at most, should the limit not hold
            sent += 1
            yield b" " * 1000

    response = await client.post("/mcp", content=endless(), headers=JSON)
    assert_error(response, 413, -32600, None)
    # The limit is passed by the 11th kilobyte; nothing after it was asked for.
    assert sent == 11


@pytest.fixture
def mcp_server(storage: UnifiedStorage) -> Iterator[LoopbackServer]:
    """`/mcp` with the default limits, served by uvicorn."""
    app = FastAPI()
    app.include_router(create_mcp_router(SessionManager(storage), McpToolServer(storage)))
    app.add_middleware(AuthenticationMiddleware, backend=HeaderAuthentication())
    with LoopbackServer(app).running() as server:
        yield server


def test_an_announced_length_past_the_default_limit_is_refused_before_the_body(
    mcp_server: LoopbackServer,
) -> None:
    # 200 MB announced (the size that grew the process by 127 MB), a few bytes sent.
    with socket.create_connection(("127.0.0.1", mcp_server.port), timeout=10) as connection:
        connection.sendall(
            b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"{CLIENT_HEADER}: {TEST_CLIENT}\r\n".encode()
            + b"Content-Length: 200000000\r\n\r\n{"
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 413 Request Entity Too Large", answer


def nested(depth: int) -> Any:
    """`depth` arrays inside each other, innermost empty."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


async def test_json_nested_100000_deep_is_a_parse_error(
    client: httpx.AsyncClient, open_session: OpenSession, snapshot: Snapshot
) -> None:
    session_id = await open_session(client)
    before = snapshot()
    for body in [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000]:
        response = await client.post(
            "/mcp", content=body, headers={**JSON, "Mcp-Session-Id": session_id}
        )
        message = assert_error(response, 400, -32700, None)
        assert message == "Parse error: the JSON nests more than 64 levels deep"
    assert snapshot() == before


async def test_the_nesting_limit(
    make_client: MakeClient, open_session: OpenSession, rpc: Rpc
) -> None:
    client = await make_client(limits=McpLimits(max_json_depth=10))
    session_id = await open_session(client)
    # The message object and its params are two levels; the value below them the rest.
    accepted = await rpc(client, session_id, "ping", {"deep": nested(8)})
    assert accepted.status_code == 200, accepted.text
    refused = await rpc(client, session_id, "ping", {"deep": nested(9)})
    assert_error(refused, 400, -32700, None)
    wide = await rpc(client, session_id, "ping", {f"k{i}": nested(8) for i in range(100)})
    assert wide.status_code == 200
