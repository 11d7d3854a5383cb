"""JSON-RPC 2.0 as MCP uses it: parsing one message, building responses. No I/O.

MCP 2025-06-18 dropped JSON-RPC batches, so a JSON array is refused as an invalid
request rather than half-supported. A message nested deeper than the caller's limit is a
parse error, as is one too deep for Python's parser at all (which would otherwise raise
`RecursionError`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeAlias

from pydantic import ValidationError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SESSION_NOT_FOUND = -32001
"""Server-defined: the `Mcp-Session-Id` names no live session (as the MCP SDKs answer)."""

RequestId: TypeAlias = str | int


class JsonRpcError(Exception):
    """A request the server answers with a JSON-RPC error object and `http_status`."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        http_status: int = 200,
        request_id: RequestId | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.request_id = request_id
        """The id of the offending request, when it could be read."""
        self.headers = headers or {}
        """HTTP headers of the answer."""


@dataclass(frozen=True, slots=True)
class JsonRpcMessage:
    """One JSON-RPC request (with an `id`) or notification (`id` is `None`)."""

    method: str
    id: RequestId | None
    params: dict[str, Any] | list[Any] | None

    def named_params(self) -> dict[str, Any]:
        """The params as an object (MCP passes every parameter by name)."""
        if self.params is None:
            return {}
        if isinstance(self.params, list):
            raise JsonRpcError(INVALID_PARAMS, f"Invalid params: {self.method} takes an object")
        return self.params


def _invalid(message: str, request_id: RequestId | None = None) -> JsonRpcError:
    return JsonRpcError(
        INVALID_REQUEST, f"Invalid Request: {message}", http_status=400, request_id=request_id
    )


def _request_id(message: dict[str, Any]) -> RequestId | None:
    """The id of `message`; `None` for a notification."""
    if "id" not in message:
        return None
    value = message["id"]
    # MCP forbids a null id; JSON-RPC discourages fractions; a bool is no number here.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _invalid("the id must be a string or an integer")
    return value


def _nested_deeper_than(value: object, limit: int) -> bool:
    """Whether arrays and objects in `value` nest more than `limit` levels (`[]` is one)."""
    # A stack, not recursion: the value may be nested as deep as the parser allowed.
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def parse_message(body: bytes, max_depth: int) -> JsonRpcMessage:
    """The JSON-RPC message in a request body, or `JsonRpcError` (HTTP 400) saying why not.

    Arrays and objects nested more than `max_depth` levels are a parse error (-32700).
    """
    try:
        message = json.loads(body)
        too_deep = _nested_deeper_than(message, max_depth)
    except ValueError:
        raise JsonRpcError(
            PARSE_ERROR, "Parse error: the body is not JSON", http_status=400
        ) from None
    except RecursionError:
        too_deep = True
    if too_deep:
        raise JsonRpcError(
            PARSE_ERROR,
            f"Parse error: the JSON nests more than {max_depth} levels deep",
            http_status=400,
        )
    if isinstance(message, list):
        raise _invalid("batches (JSON arrays) are not supported; send one message per request")
    if not isinstance(message, dict):
        raise _invalid("expected a JSON object")
    request_id = _request_id(message)
    if message.get("jsonrpc") != "2.0":
        raise _invalid('"jsonrpc" must be "2.0"', request_id)
    method = message.get("method")
    if not isinstance(method, str) or not method:
        raise _invalid('"method" must be a non-empty string', request_id)
    params = message.get("params")
    if "params" in message and not isinstance(params, dict | list):
        raise _invalid('"params" must be an object or an array', request_id)
    return JsonRpcMessage(method, request_id, params)


def result_response(request_id: RequestId, result: dict[str, Any]) -> dict[str, Any]:
    """The success response to the request `request_id`."""
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_response(request_id: RequestId | None, code: int, message: str) -> dict[str, Any]:
    """An error response; `request_id` is `None` when the request's id is unknown."""
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def validation_problems(exc: ValidationError) -> str:
    """What was wrong with some params, for an error message: locations and messages only,
    never the values the client sent."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '<params>'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)[:5]
    )
