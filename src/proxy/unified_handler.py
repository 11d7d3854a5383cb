"""`UnifiedHandler`: the proxy's request handling, at the ASGI level.

For each HTTP request: the proxy target of its `Host` header, the authentication the target
demands, the route that applies, and the forwarding itself (streamed both ways). The
decisions are the pure functions of `hosts`, `authorization`, `routing` and `forwarding`;
this module does the I/O around them.

Answers of its own: 400 for a bad `Host` header or request target, 404 for a host without
a proxy target, 503 for a disabled target (or one a route borrows) or an unavailable
storage, 401 with a `WWW-Authenticate: Bearer` challenge when a needed access token is
missing or invalid, and 502 when the upstream is misconfigured, unknown (a `service` route:
services are not resolved yet), unreachable or times out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from starlette.types import Receive, Scope, Send

from ..storage import InvalidKeyError, ProxyTarget, RouteMode, StorageError, UnifiedStorage
from .authorization import bearer_credentials, challenge, requires_token
from .forwarding import (
    BadRequestTargetError,
    Header,
    Origin,
    end_to_end_headers,
    upstream_request_headers,
    upstream_url,
)
from .hosts import BadHostError, target_hostname
from .routing import (
    UnroutableError,
    ViaHostname,
    applicable_routes,
    choose_route,
    route_destination,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer the proxy gives itself, as plain text."""

    status: int
    text: str
    headers: tuple[Header, ...] = ()

    async def send(self, send: Send) -> None:
        """Send the whole answer."""
        body = f"{self.text}\n".encode()
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    *self.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True, slots=True)
class Forward:
    """A request to pass upstream."""

    method: str
    url: str
    headers: list[Header]
    has_body: bool


class _ClientDisconnectedError(Exception):
    """The client went away while its request body was being forwarded."""


def _headers_named(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope["headers"] if key.lower() == name]


class UnifiedHandler:
    """Handles the proxy's HTTP requests; an ASGI application for `http` scopes.

    Args:
        storage: the process's storage (proxy targets, routes, access tokens).
        client: the HTTP client that forwards (see `proxy_http_client()`); its timeouts are
            the upstream timeouts.
    """

    def __init__(self, storage: UnifiedStorage, client: httpx.AsyncClient) -> None:
        self._storage = storage
        self._client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request."""
        try:
            decision = await self._decide(scope)
        except StorageError as exc:
            logger.warning("proxy storage error: %s", exc)
            decision = Reply(503, "the gateway's storage is unavailable")
        if isinstance(decision, Reply):
            await decision.send(send)
            return
        await self._forward(decision, receive, send)

    async def _decide(self, scope: Scope) -> Reply | Forward:
        host_headers = _headers_named(scope, b"host")
        try:
            hostname = target_hostname(host_headers)
        except BadHostError as exc:
            return Reply(400, str(exc))
        target = await self._storage.aget_proxy_target(hostname)
        if target is None:
            return Reply(404, "no proxy target for this host")
        if not target.enabled:
            return Reply(503, "the proxy target of this host is disabled")

        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        if requires_token(target, path):
            credentials = bearer_credentials(_headers_named(scope, b"authorization"))
            token = credentials.token
            if token is None or await self._storage.aget_access_token(token) is None:
                return Reply(
                    401,
                    "a valid bearer access token is required",
                    ((b"www-authenticate", challenge(credentials).encode()),),
                )

        try:
            base_url = await self._upstream_base_url(target, path, scope["method"])
            if isinstance(base_url, Reply):
                return base_url
            url = upstream_url(base_url, raw_path, scope.get("query_string", b""))
            client = scope.get("client")
            origin = Origin(client[0] if client else None, scope["scheme"], host_headers[0])
            headers = upstream_request_headers(scope["headers"], origin, target.custom_headers)
        except BadRequestTargetError as exc:
            return Reply(400, str(exc))
        except UnroutableError as exc:
            return Reply(502, str(exc))
        has_body = bool(_headers_named(scope, b"content-length")) or bool(
            _headers_named(scope, b"transfer-encoding")
        )
        return Forward(scope["method"], url, headers, has_body)

    async def _upstream_base_url(self, target: ProxyTarget, path: str, method: str) -> str | Reply:
        """The URL of the route that applies to the request, else the target's own."""
        if target.route_mode is RouteMode.NONE:
            return target.target_url
        routes = applicable_routes(target, await self._storage.alist_routes())
        route = choose_route(routes, path, method)
        if route is None:
            return target.target_url
        destination = route_destination(route)
        if isinstance(destination, ViaHostname):
            return await self._borrowed_target_url(destination)
        return destination

    async def _borrowed_target_url(self, destination: ViaHostname) -> str | Reply:
        try:
            borrowed = await self._storage.aget_proxy_target(destination.hostname)
        except InvalidKeyError:
            raise UnroutableError("a route names an invalid proxy target hostname") from None
        if borrowed is None:
            raise UnroutableError("a route names a host without a proxy target")
        if not borrowed.enabled:
            return Reply(503, "the proxy target a route forwards to is disabled")
        return borrowed.target_url

    async def _forward(self, forward: Forward, receive: Receive, send: Send) -> None:
        # Not `client.build_request`: that would add the client's default headers (its
        # User-Agent, Accept, ...) to what the client sent.
        request = httpx.Request(
            forward.method,
            forward.url,
            headers=forward.headers,
            content=_request_body(receive) if forward.has_body else None,
        )
        try:
            response = await self._client.send(request, stream=True)
        except _ClientDisconnectedError:
            return
        except httpx.RequestError as exc:
            # The URL's path and query may carry secrets: name the upstream's origin only.
            parts = urlsplit(forward.url)
            logger.warning(
                "upstream %s://%s failed: %s", parts.scheme, parts.netloc, type(exc).__name__
            )
            await Reply(502, "the upstream is unreachable or did not answer in time").send(send)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": end_to_end_headers(response.headers.raw),
                }
            )
            # Raw bytes: the body keeps its Content-Encoding, so Content-Length stays true.
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientDisconnectedError
        body: bytes = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return
