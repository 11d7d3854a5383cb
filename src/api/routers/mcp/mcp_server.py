"""`McpToolServer`: the MCP tools, read-only views of the gateway's storage.

A tool call either returns an MCP `CallToolResult` (with `isError: true` when the tool
failed, e.g. on a bad service name or a corrupt record) or raises `UnknownToolError` /
`InvalidToolArgumentsError`, which the endpoint answers as JSON-RPC "invalid params".
Results never carry secrets: a proxy target shows its custom header names, not their
values, since those often hold upstream credentials; a certificate shows neither its key
material nor its ACME directory URL (which may embed credentials).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ....storage import (
    Certificate,
    CorruptRecordError,
    InvalidKeyError,
    ProxyTarget,
    UnifiedStorage,
)
from .jsonrpc import validation_problems

ArgumentsT = TypeVar("ArgumentsT", bound=BaseModel)


class UnknownToolError(Exception):
    """No tool has the name a client called."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown tool: {name[:80]!r}")


class InvalidToolArgumentsError(Exception):
    """A tool was called with arguments its input schema rejects."""


class _NoArguments(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, title="No arguments")


class _ServiceArguments(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, title="Service")

    service: str = Field(description="The service name, as the port allocations record it.")


class _PortArguments(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, title="Port")

    port: int = Field(ge=1, le=65535, description="A TCP port number.")


@dataclass(frozen=True, slots=True)
class _Tool(Generic[ArgumentsT]):
    name: str
    description: str
    arguments: type[ArgumentsT]
    run: Callable[[ArgumentsT], Awaitable[dict[str, Any]]]

    def descriptor(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.arguments.model_json_schema(),
            "annotations": {"readOnlyHint": True, "openWorldHint": False},
        }


def _proxy_view(target: ProxyTarget) -> dict[str, Any]:
    view = target.model_dump(mode="json", exclude={"custom_headers"})
    view["custom_header_names"] = sorted(target.custom_headers)
    return view


def _certificate_view(certificate: Certificate) -> dict[str, Any]:
    return certificate.model_dump(
        mode="json", exclude={"private_key_pem", "fullchain_pem", "acme_directory_url"}
    )


class McpToolServer:
    """The tools an MCP client can list and call, on the shared storage."""

    def __init__(self, storage: UnifiedStorage) -> None:
        self._storage = storage
        tools: list[_Tool[Any]] = [
            _Tool(
                "list_proxies",
                "List the proxy targets: hostname, target URL, auth and routing settings.",
                _NoArguments,
                self._list_proxies,
            ),
            _Tool(
                "list_routes",
                "List the routes, highest priority first.",
                _NoArguments,
                self._list_routes,
            ),
            _Tool(
                "list_certificates",
                "List the TLS certificates: name, domains, status and validity period.",
                _NoArguments,
                self._list_certificates,
            ),
            _Tool(
                "list_ports",
                "List the ports allocated to a service.",
                _ServiceArguments,
                self._list_ports,
            ),
            _Tool(
                "get_port_owner",
                "Tell which service a port is allocated to (null when it is free).",
                _PortArguments,
                self._get_port_owner,
            ),
        ]
        self._tools = {tool.name: tool for tool in tools}

    def list_tools(self) -> list[dict[str, Any]]:
        """The MCP tool descriptors (`name`, `description`, `inputSchema`, `annotations`)."""
        return [tool.descriptor() for tool in self._tools.values()]

    async def call_tool(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Run the tool `name`; its MCP `CallToolResult`.

        Raises `UnknownToolError` or `InvalidToolArgumentsError`; other storage failures
        (Redis unavailable, say) propagate.
        """
        tool = self._tools.get(name)
        if tool is None:
            raise UnknownToolError(name)
        try:
            parsed = tool.arguments.model_validate(dict(arguments))
        except ValidationError as exc:
            raise InvalidToolArgumentsError(
                f"Invalid arguments for tool {name!r}: {validation_problems(exc)}"
            ) from None
        try:
            structured = await tool.run(parsed)
        except (InvalidKeyError, CorruptRecordError) as exc:
            # Storage messages never hold secrets or stored values, and tell what to fix.
            return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
        return {
            "content": [{"type": "text", "text": json.dumps(structured)}],
            "structuredContent": structured,
            "isError": False,
        }

    async def _list_proxies(self, _: _NoArguments) -> dict[str, Any]:
        targets = await self._storage.alist_proxy_targets()
        return {"proxies": [_proxy_view(target) for target in targets]}

    async def _list_routes(self, _: _NoArguments) -> dict[str, Any]:
        routes = await self._storage.alist_routes()
        return {"routes": [route.model_dump(mode="json") for route in routes]}

    async def _list_certificates(self, _: _NoArguments) -> dict[str, Any]:
        certificates = await self._storage.alist_certificates()
        return {"certificates": [_certificate_view(certificate) for certificate in certificates]}

    async def _list_ports(self, arguments: _ServiceArguments) -> dict[str, Any]:
        ports = await self._storage.alist_ports(arguments.service)
        return {"service": arguments.service, "ports": ports}

    async def _get_port_owner(self, arguments: _PortArguments) -> dict[str, Any]:
        owner = await self._storage.aget_port_owner(arguments.port)
        return {"port": arguments.port, "service": owner}
