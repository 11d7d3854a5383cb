"""The MCP endpoint (streamable HTTP transport) as a FastAPI router: `/mcp`.

- `POST /mcp` takes one JSON-RPC message. `initialize` opens a session and returns its id
  in the `Mcp-Session-Id` response header; every later message must carry it (missing:
  400; unknown, expired or another identity's: 404, after which the client initialises
  again). Requests are answered with `application/json`, never an SSE stream, which the
  transport allows; notifications with 202 and no body.
- `DELETE /mcp` ends the session named by the header (204).
- `GET /mcp` answers 405: the server opens no server-initiated stream.

Every request needs a valid bearer access token: without one the answer is 401 with a
`WWW-Authenticate: Bearer` challenge naming the host's protected-resource metadata. A
session belongs to the identity that opened it, the pair of the token's OAuth client and
user (a client acting for itself has no user): any other pair presenting its id gets 404,
as for an unknown session.

Limits (`McpLimits`): a body past `max_body_bytes` (or a `Content-Length` past it) is
answered 413 (invalid request, -32600) without reading the rest; JSON nested deeper than
`max_json_depth` is a parse error (-32700).

Malformed messages get JSON-RPC error objects: parse error (-32700) and invalid request
(-32600, also for a batch: MCP 2025-06-18 dropped them) with HTTP 400, method not found
(-32601) and invalid params (-32602) with 200, and any failure of the server (a corrupt
record, Redis down) internal error (-32603) with 500 and no details; those are logged.

Since nothing is streamed, the events an `EventPublisher` queues on a session are not
served over HTTP; `GET /mcp` is where a resumable SSE stream would serve them.

The identity is the `TokenIdentity` that the app's `AuthenticationMiddleware` put in the
request scope.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ....storage import CorruptRecordError, McpClientInfo, StorageUnavailableError
from ...bearer_challenge import bearer_challenge
from ...identity import TokenIdentity
from ...request_body import CLOSE_CONNECTION, BodyTooLargeError, read_body
from .jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    SESSION_NOT_FOUND,
    JsonRpcError,
    JsonRpcMessage,
    RequestId,
    error_response,
    parse_message,
    result_response,
    validation_problems,
)
from .mcp_server import InvalidToolArgumentsError, McpToolServer, UnknownToolError
from .session_manager import SessionManager

logger = logging.getLogger(__name__)

SESSION_HEADER = "Mcp-Session-Id"
PROTOCOL_VERSION_HEADER = "MCP-Protocol-Version"
SUPPORTED_PROTOCOL_VERSIONS = ("2025-06-18", "2025-03-26")
"""Newest first; a client asking for another version is offered the newest."""
SERVER_INFO = {"name": "storage-gateway", "version": "0.1.0"}
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""1 MiB: a JSON-RPC message with a tool call's arguments is a few KiB."""
DEFAULT_MAX_JSON_DEPTH = 64
"""Far beyond any MCP message's nesting, and far below what Python's parser can take."""


@dataclass(frozen=True, slots=True)
class McpLimits:
    """What `/mcp` accepts from a client.

    Args:
        max_body_bytes: the largest request body read; past it, 413.
        max_json_depth: how deep arrays and objects may nest; deeper, a parse error.
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_json_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r:.40}")


class _InitializeParams(BaseModel):
    protocol_version: str = Field(alias="protocolVersion", max_length=64)
    capabilities: dict[str, Any]
    client_info: McpClientInfo = Field(alias="clientInfo")

    model_config = ConfigDict(strict=True)


def _json(
    body: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=headers)


def _error(exc: JsonRpcError, request_id: RequestId | None) -> JSONResponse:
    return _json(error_response(request_id, exc.code, exc.message), exc.http_status, exc.headers)


def _internal_error(request_id: RequestId | None, exc: Exception) -> JSONResponse:
    logger.error("MCP request failed: %s", type(exc).__name__, exc_info=exc)
    if isinstance(exc, CorruptRecordError):
        message = "Internal error: a stored record is corrupt"
    elif isinstance(exc, StorageUnavailableError):
        message = "Internal error: the storage is unavailable"
    else:
        message = "Internal error"
    return _json(error_response(request_id, INTERNAL_ERROR, message), 500)


def _caller(request: Request) -> TokenIdentity:
    """Who sends the request; `JsonRpcError` (401) for an anonymous request."""
    identity = request.scope.get("user")
    if not isinstance(identity, TokenIdentity):
        raise JsonRpcError(
            INVALID_REQUEST,
            "Unauthorized: a valid bearer access token is required",
            http_status=401,
            headers={"WWW-Authenticate": bearer_challenge(request)},
        )
    return identity


def _session_header(request: Request) -> str:
    session_id = request.headers.get(SESSION_HEADER)
    if session_id is None:
        raise JsonRpcError(
            INVALID_REQUEST, f"Bad Request: missing {SESSION_HEADER} header", http_status=400
        )
    return session_id


def _session_not_found() -> JsonRpcError:
    return JsonRpcError(
        SESSION_NOT_FOUND,
        "Session not found: it expired or was ended; send a new initialize request",
        http_status=404,
    )


class _McpEndpoint:
    def __init__(self, sessions: SessionManager, tools: McpToolServer, limits: McpLimits) -> None:
        self._sessions = sessions
        self._tools = tools
        self._limits = limits

    async def _message(self, request: Request) -> JsonRpcMessage:
        try:
            body = await read_body(request, self._limits.max_body_bytes)
        except BodyTooLargeError as exc:
            raise JsonRpcError(
                INVALID_REQUEST,
                f"Payload Too Large: {exc}",
                http_status=413,
                headers=CLOSE_CONNECTION,
            ) from None
        return parse_message(body, self._limits.max_json_depth)

    async def post(self, request: Request) -> Response:
        try:
            # Before the body: an anonymous caller's body is never read.
            _caller(request)
            message = await self._message(request)
        except JsonRpcError as exc:
            return _error(exc, exc.request_id)
        try:
            return await self._handle(request, message)
        except JsonRpcError as exc:
            return _error(exc, message.id)
        except Exception as exc:
            return _internal_error(message.id, exc)

    async def delete(self, request: Request) -> Response:
        try:
            owner = _caller(request)
            session_id = _session_header(request)
            if not await self._sessions.end(session_id, owner):
                raise _session_not_found()
        except JsonRpcError as exc:
            return _error(exc, None)
        except Exception as exc:
            return _internal_error(None, exc)
        return Response(status_code=204)

    async def get(self) -> Response:
        return _json(
            error_response(
                None,
                INVALID_REQUEST,
                "Method Not Allowed: this server opens no server-initiated stream; "
                "send messages with POST",
            ),
            405,
            {"Allow": "POST, DELETE"},
        )

    async def _handle(self, request: Request, message: JsonRpcMessage) -> Response:
        if message.method == "initialize":
            return await self._initialize(request, message)
        session_id = _session_header(request)
        version = request.headers.get(PROTOCOL_VERSION_HEADER)
        if version is not None and version not in SUPPORTED_PROTOCOL_VERSIONS:
            raise JsonRpcError(
                INVALID_REQUEST,
                f"Bad Request: unsupported {PROTOCOL_VERSION_HEADER}; supported: "
                + ", ".join(SUPPORTED_PROTOCOL_VERSIONS),
                http_status=400,
            )
        if await self._sessions.validate(session_id, _caller(request)) is None:
            raise _session_not_found()
        if message.id is None:
            return Response(status_code=202)
        return _json(result_response(message.id, await self._dispatch(message)))

    async def _initialize(self, request: Request, message: JsonRpcMessage) -> Response:
        if message.id is None:
            raise JsonRpcError(
                INVALID_REQUEST, "Invalid Request: initialize needs an id", http_status=400
            )
        if SESSION_HEADER in request.headers:
            raise JsonRpcError(
                INVALID_REQUEST,
                f"Bad Request: initialize opens a new session; send it without {SESSION_HEADER}",
                http_status=400,
            )
        try:
            params = _InitializeParams.model_validate(message.named_params())
        except ValidationError as exc:
            raise JsonRpcError(
                INVALID_PARAMS, f"Invalid params: {validation_problems(exc)}"
            ) from None
        version = (
            params.protocol_version
            if params.protocol_version in SUPPORTED_PROTOCOL_VERSIONS
            else SUPPORTED_PROTOCOL_VERSIONS[0]
        )
        session = await self._sessions.create(_caller(request), params.client_info, version)
        result = {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": SERVER_INFO,
        }
        return _json(
            result_response(message.id, result), headers={SESSION_HEADER: session.session_id}
        )

    async def _dispatch(self, message: JsonRpcMessage) -> dict[str, Any]:
        handlers = {
            "ping": self._ping,
            "tools/list": self._list_tools,
            "tools/call": self._call_tool,
        }
        handler = handlers.get(message.method)
        if handler is None:
            raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {message.method[:80]!r}")
        return await handler(message.named_params())

    async def _ping(self, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    async def _list_tools(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"tools": self._tools.list_tools()}

    async def _call_tool(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        arguments = params.get("arguments", {})
        if not isinstance(name, str):
            raise JsonRpcError(INVALID_PARAMS, 'Invalid params: "name" must be a string')
        if not isinstance(arguments, dict):
            raise JsonRpcError(INVALID_PARAMS, 'Invalid params: "arguments" must be an object')
        try:
            return await self._tools.call_tool(name, arguments)
        except (UnknownToolError, InvalidToolArgumentsError) as exc:
            raise JsonRpcError(INVALID_PARAMS, str(exc)) from None


def create_mcp_router(
    sessions: SessionManager, tools: McpToolServer, limits: McpLimits | None = None
) -> APIRouter:
    """The router serving `/mcp`, for the app assembly to include; `limits` default to
    `McpLimits()`."""
    endpoint = _McpEndpoint(sessions, tools, limits or McpLimits())
    router = APIRouter()
    router.add_api_route("/mcp", endpoint.post, methods=["POST"])
    router.add_api_route("/mcp", endpoint.delete, methods=["DELETE"])
    router.add_api_route("/mcp", endpoint.get, methods=["GET"])
    return router
