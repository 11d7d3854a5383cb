"""The MCP tools, listed and called over HTTP: read-only views of the storage."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis
from pydantic import SecretStr

from src.storage import (
    Certificate,
    CertificateStatus,
    ProxyTarget,
    Route,
    RouteTargetType,
    UnifiedStorage,
)

OpenSession = Callable[..., Awaitable[str]]
Rpc = Callable[..., Awaitable[httpx.Response]]
Snapshot = Callable[[], dict[bytes, object]]
CallTool = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def call_tool(client: httpx.AsyncClient, open_session: OpenSession, rpc: Rpc) -> CallTool:
    """`await call_tool(name, **arguments)`: the `CallToolResult` of one call in a session."""
    session_id = await open_session(client)

    async def call(name: str, **arguments: Any) -> dict[str, Any]:
        response = await rpc(
            client, session_id, "tools/call", {"name": name, "arguments": arguments}
        )
        assert response.status_code == 200, response.text
        assert "error" not in response.json()
        result: dict[str, Any] = response.json()["result"]
        return result

    return call


def without_sessions(keys: dict[bytes, object]) -> dict[bytes, object]:
    return {key: value for key, value in keys.items() if not key.endswith(b"}:session")}


def structured(result: dict[str, Any]) -> Any:
    """The structured content of a successful result, checked against its text twin."""
    assert result["isError"] is False
    assert result["content"] == [{"type": "text", "text": json.dumps(result["structuredContent"])}]
    return result["structuredContent"]


async def test_tools_list(client: httpx.AsyncClient, open_session: OpenSession, rpc: Rpc) -> None:
    session_id = await open_session(client)
    tools = {
        t["name"]: t
        for t in (await rpc(client, session_id, "tools/list")).json()["result"]["tools"]
    }
    assert list(tools) == [
        "list_proxies",
        "list_routes",
        "list_certificates",
        "list_ports",
        "get_port_owner",
    ]
    assert all(
        t["annotations"] == {"readOnlyHint": True, "openWorldHint": False} for t in tools.values()
    )
    assert tools["list_proxies"]["inputSchema"] == {
        "additionalProperties": False,
        "properties": {},
        "title": "No arguments",
        "type": "object",
    }
    assert tools["list_ports"]["inputSchema"] == {
        "additionalProperties": False,
        "properties": {
            "service": {
                "description": "The service name, as the port allocations record it.",
                "title": "Service",
                "type": "string",
            }
        },
        "required": ["service"],
        "title": "Service",
        "type": "object",
    }
    port = tools["get_port_owner"]["inputSchema"]["properties"]["port"]
    assert (port["type"], port["minimum"], port["maximum"]) == ("integer", 1, 65535)


async def test_list_proxies_hides_header_values(
    call_tool: CallTool, storage: UnifiedStorage
) -> None:
    await storage.astore_proxy_target(
        ProxyTarget(
            hostname="app.example.com",
            target_url="http://app.internal:8080",
            custom_headers={"X-Env": "test", "Authorization": "Bearer s3cret-upstream-token"},
        )
    )
    result = await call_tool("list_proxies")
    assert "s3cret-upstream-token" not in json.dumps(result)
    proxies = structured(result)["proxies"]
    assert [proxy["hostname"] for proxy in proxies] == ["app.example.com", "localhost"]
    app = proxies[0]
    assert "custom_headers" not in app
    assert app["custom_header_names"] == ["Authorization", "X-Env"]
    assert (app["target_url"], app["enabled"], app["auth_enabled"]) == (
        "http://app.internal:8080",
        True,
        False,
    )
    assert proxies[1]["auth_excluded_paths"][0] == "/token"


async def test_list_routes(call_tool: CallTool, storage: UnifiedStorage) -> None:
    await storage.astore_route(
        Route(
            route_id="api",
            path_pattern="/api",
            target_type=RouteTargetType.PORT,
            target_value="9000",
            priority=999,
        )
    )
    routes = structured(await call_tool("list_routes"))["routes"]
    expected = [route.model_dump(mode="json") for route in await storage.alist_routes()]
    assert routes == expected
    assert routes[0]["route_id"] == "api"


async def test_list_certificates_hides_key_material(
    call_tool: CallTool, storage: UnifiedStorage
) -> None:
    key_material = "SECRET-KEY-MATERIAL-91c2"
    await storage.astore_certificate(
        Certificate(
            cert_name="site",
            domains=["a.example.com", "*.b.example.com"],
            email="ops@example.com",
            acme_directory_url="https://acme.example.com/directory",
            status=CertificateStatus.ACTIVE,
            fullchain_pem="-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n",
            private_key_pem=SecretStr(
                f"-----BEGIN PRIVATE KEY-----\n{key_material}\n-----END PRIVATE KEY-----\n"
            ),
            issued_at=datetime(2025, 3, 1, tzinfo=UTC),
            expires_at=datetime(2025, 5, 30, tzinfo=UTC),
        )
    )
    result = await call_tool("list_certificates")
    assert key_material not in json.dumps(result)
    assert structured(result) == {
        "certificates": [
            {
                "cert_name": "site",
                "domains": ["a.example.com", "*.b.example.com"],
                "email": "ops@example.com",
                "status": "active",
                "issued_at": "2025-03-01T00:00:00Z",
                "expires_at": "2025-05-30T00:00:00Z",
            }
        ]
    }


async def test_ports(call_tool: CallTool, storage: UnifiedStorage) -> None:
    web = [await storage.aallocate_port("web", 31000, 31009) for _ in range(2)]
    assert structured(await call_tool("list_ports", service="web")) == {
        "service": "web",
        "ports": web,
    }
    assert structured(await call_tool("list_ports", service="nobody")) == {
        "service": "nobody",
        "ports": [],
    }
    assert structured(await call_tool("get_port_owner", port=web[1])) == {
        "port": web[1],
        "service": "web",
    }
    assert structured(await call_tool("get_port_owner", port=31009)) == {
        "port": 31009,
        "service": None,
    }


@pytest.mark.parametrize("service", ["web:1", "*", "", "x" * 10_000, "{ports}"])
async def test_bad_service_name_is_a_tool_error(
    call_tool: CallTool, snapshot: Snapshot, service: str
) -> None:
    # The call renews the session; nothing else may change.
    before = without_sessions(snapshot())
    result = await call_tool("list_ports", service=service)
    assert result["isError"] is True
    assert "structuredContent" not in result
    [content] = result["content"]
    assert content["type"] == "text"
    assert content["text"].startswith("invalid service name ")
    assert len(content["text"]) < 250
    assert without_sessions(snapshot()) == before


async def test_corrupt_record_is_a_tool_error(
    call_tool: CallTool, raw: redis.Redis, namespace: str
) -> None:
    raw.set(f"{namespace}:proxy:broken.example.com", b'{"hostname": "broken.example.com"')
    result = await call_tool("list_proxies")
    assert result == {
        "content": [
            {
                "type": "text",
                "text": f"record '{namespace}:proxy:broken.example.com' is corrupt: "
                "not a valid ProxyTarget (<record>: Invalid JSON: EOF while parsing an object "
                "at line 1 column 33)",
            }
        ],
        "isError": True,
    }
