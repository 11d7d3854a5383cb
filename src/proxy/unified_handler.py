"""`UnifiedHandler`: the proxy's request handling, at the ASGI level.

For each HTTP request: strict framing, the proxy target of its `Host` header, the
authentication the target demands, the route that applies, and the forwarding itself
(streamed both ways, bounded). The decisions are the pure functions of `framing`, `hosts`,
`authorization`, `routing` and `forwarding`; this module does the I/O around them.

The gateway's own API is served in-process, on the gateway's host only (see `routing`):
nothing listens on `API_URL`, so there is no way to the API around the proxy's rules.

Answers of its own:

- 400: ambiguous framing, a request target the proxy would not forward unchanged, a bad
  `Host` header;
- 200, the RFC 9728 protected-resource metadata of an auth-enabled target, at
  `/.well-known/oauth-protected-resource` (and its path-suffixed form) on the target's
  host, without authentication: see `resource_metadata`; 404 for a suffix that is not a
  plain path, 405 for a method other than GET;
- 401 with a `WWW-Authenticate: Bearer` challenge pointing to that metadata: a needed
  access token is missing or invalid, or is for another target (its audience, RFC 8707);
- 403 `insufficient_scope`: a valid token whose user or scope the target does not admit
  (`ProxyTarget.allowed_users`, `required_scopes`);
- 404: a host without a proxy target;
- 408: the request body sat idle past `body_timeout`;
- 413: the request body is larger than the target accepts;
- 502: a corrupt record of the host's configuration, or an upstream that is misconfigured,
  unknown (a `service` route: services are not resolved yet) or unreachable;
- 503: a disabled target (or one a route borrows), a full upstream pool, an unavailable
  storage;
- 504: an upstream that did not answer within `upstream_timeout`.

A client that goes away is one log line, never a traceback; its upstream request is
cancelled and the connection freed at once. Logs name hosts and addresses, never a path, a
query string or a header value.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import formatdate
from types import TracebackType

import httpcore
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..storage import (
    LOCALHOST,
    AccessTokenRecord,
    CorruptRecordError,
    InvalidKeyError,
    ProxyTarget,
    RouteMode,
    StorageError,
    UnifiedStorage,
)
from .authorization import (
    CHECKED_TOKEN,
    admitted,
    audience_matches,
    bearer_credentials,
    challenge,
    insufficient_scope,
    requires_token,
)
from .config_cache import ConfigCache
from .forwarding import (
    Credentials,
    Header,
    Origin,
    UpstreamURL,
    end_to_end_headers,
    message_headers,
    upstream_request_headers,
    upstream_url,
)
from .framing import (
    BadRequestError,
    RequestHead,
    check_framing,
    check_request_target,
    request_head,
)
from .hosts import BadHostError, request_host
from .resource_metadata import (
    UnknownResourceError,
    metadata_resource_path,
    metadata_url,
    public_origin,
    resource_metadata,
)
from .routing import (
    UnroutableError,
    ViaHostname,
    applicable_routes,
    choose_route,
    is_gateway_api,
    route_destination,
)
from .settings import ProxySettings
from .upstreams import UPSTREAM_ERRORS, UpstreamPools

logger = logging.getLogger(__name__)

_CLOSE: Header = (b"connection", b"close")


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer the proxy gives itself, as plain text (or, with `content_type`, another
    text format)."""

    status: int
    text: str
    headers: tuple[Header, ...] = ()
    content_type: bytes = b"text/plain; charset=utf-8"

    async def send(self, send: Send) -> None:
        """Send the whole answer."""
        body = f"{self.text}\n".encode()
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", self.content_type),
                    (b"content-length", str(len(body)).encode()),
                    *self.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def closing(self) -> Reply:
        """This answer with `Connection: close`."""
        if _CLOSE in self.headers:
            return self
        return Reply(self.status, self.text, (*self.headers, _CLOSE))


_STORAGE_UNAVAILABLE = Reply(503, "the gateway's storage is unavailable")
_CORRUPT_CONFIGURATION = Reply(502, "corrupt configuration for this host")


@dataclass(frozen=True, slots=True)
class Forward:
    """A request to pass upstream."""

    hostname: str
    """The proxy target's: whose upstream pool carries it."""
    method: str
    url: UpstreamURL
    headers: list[Header]
    body_limit: int


@dataclass(frozen=True, slots=True)
class ServeApi:
    """A request for the gateway's own API, served in-process."""

    token: AccessTokenRecord | None
    """The access token the proxy checked, if it checked one."""
    body_limit: int


class _BodyAbortedError(Exception):
    """The request body stopped: the client went away, idled or sent too much."""


@dataclass(slots=True)
class _RequestBody:
    """The request body as the client sends it, bounded by an idle timeout and a size
    limit. Once it fails, `failure` says how to answer (`None` with `gone`: the client went
    away), and every later `receive()` says the client disconnected."""

    receive_from_client: Receive
    expected: bool
    """Whether the request has a body (its head declares a length or a transfer coding)."""
    limit: int
    idle_timeout: float
    received: int = 0
    complete: bool = False
    gone: bool = False
    failure: Reply | None = field(default=None)
    read: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once `chunks()` has ended, whether the body completed or failed."""

    @property
    def failed(self) -> bool:
        return self.gone or self.failure is not None

    @property
    def unread(self) -> bool:
        """Whether some of the body may still be on its way. An answer sent then closes the
        connection: the server would otherwise read and discard the rest at the client's
        pace, with no timeout, and a client could hold the connection with a trickle."""
        return self.expected and not self.complete

    async def receive(self) -> Message:
        """The next ASGI message, as an application reads it."""
        if self.failed:
            return {"type": "http.disconnect"}
        if self.complete:
            # The body is done: what remains is waiting for a disconnect, with no timeout.
            return await self.receive_from_client()
        try:
            async with asyncio.timeout(self.idle_timeout):
                message = await self.receive_from_client()
        except TimeoutError:
            self.failure = Reply(408, "the request body was idle for too long", (_CLOSE,))
            return {"type": "http.disconnect"}
        if message["type"] == "http.disconnect":
            self.gone = True
            return message
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            self.failure = _body_too_large(self.limit)
            return {"type": "http.disconnect"}
        self.complete = not message.get("more_body", False)
        return message

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes, for the HTTP client; `_BodyAbortedError` when it fails."""
        try:
            while not self.complete:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    raise _BodyAbortedError
                body: bytes = message.get("body", b"")
                if body:
                    yield body
        finally:
            self.read.set()


def _body_too_large(limit: int) -> Reply:
    return Reply(413, f"the request body exceeds this host's limit of {limit} bytes", (_CLOSE,))


def _with_date(start: Message, *, close: bool) -> Message:
    """An API response start with a `Date` header (RFC 9110 §6.6.1: the proxy's server adds
    none, since forwarded answers carry the upstream's), and `Connection: close` if
    `close`."""
    headers = list(start.get("headers", []))
    if not any(name.lower() == b"date" for name, _ in headers):
        headers.append((b"date", formatdate(usegmt=True).encode("ascii")))
    if close:
        headers.append(_CLOSE)
    return {**start, "headers": headers}


def _client_address(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


class UnifiedHandler:
    """Handles the proxy's HTTP requests; an ASGI application for `http` scopes.

    Args:
        storage: the process's storage (access tokens).
        config: the proxy targets and routes, cached.
        api: the gateway's own API, served in-process on the gateway's host.
        pools: the upstream connection pools, one per proxy target.
        settings: the bounds on clients and upstreams.
        issuer: the gateway's OAuth issuer, which the auth-enabled targets' metadata names
            as their authorization server.
    """

    def __init__(
        self,
        storage: UnifiedStorage,
        config: ConfigCache,
        api: ASGIApp,
        pools: UpstreamPools,
        settings: ProxySettings,
        issuer: str,
    ) -> None:
        self._storage = storage
        self._config = config
        self._api = api
        self._pools = pools
        self._settings = settings
        self._issuer = issuer
        self._reported_corrupt: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request."""
        head = request_head(scope["headers"])
        try:
            decision = await self._decide(scope, head)
        except CorruptRecordError as exc:
            self._report_corrupt(exc)
            decision = _CORRUPT_CONFIGURATION
        except StorageError as exc:
            logger.warning("proxy storage error: %s", exc)
            decision = _STORAGE_UNAVAILABLE
        if isinstance(decision, Reply):
            # Decided on the head alone: the body, if any, is left unread.
            await (decision.closing() if head.has_body else decision).send(send)
            return
        body = _RequestBody(
            receive, head.has_body, decision.body_limit, self._settings.body_timeout
        )
        if isinstance(decision, ServeApi):
            await self._serve_api(decision, scope, body, send)
        else:
            await self._forward(decision, body, receive, send)
        if body.gone:
            logger.info("client %s went away during its request", _client_address(scope))

    def _report_corrupt(self, error: CorruptRecordError) -> None:
        """Log a corrupt record once per key (the message names the key and the problem,
        never the stored value)."""
        if error.key not in self._reported_corrupt:
            self._reported_corrupt.add(error.key)
            logger.error("%s; requests that need it are refused", error)

    async def _decide(self, scope: Scope, head: RequestHead) -> Reply | Forward | ServeApi:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query_string: bytes = scope.get("query_string", b"")
        try:
            check_framing(head)
            check_request_target(raw_path, query_string)
        except BadRequestError as exc:
            return Reply(400, str(exc), (_CLOSE,))
        try:
            host = request_host(head.host)
        except BadHostError as exc:
            return Reply(400, str(exc))
        hostname = host.hostname
        target = await self._config.aget_proxy_target(hostname)
        if target is None:
            return Reply(404, "no proxy target for this host")
        if not target.enabled:
            return Reply(503, "the proxy target of this host is disabled")

        path = raw_path.decode("latin-1")
        origin = public_origin(scope["scheme"], host.authority)
        if target.auth_enabled:
            metadata = self._resource_metadata(scope["method"], path, origin)
            if metadata is not None:
                return metadata
        token = await self._authenticate(target, head, path, origin)
        if isinstance(token, Reply):
            return token

        body_limit = target.max_body_size or self._settings.max_body_size
        declared = head.content_length
        if declared and declared[0].isdigit() and int(declared[0]) > body_limit:
            return _body_too_large(body_limit)

        try:
            base_url = await self._upstream_base_url(target, path, scope["method"])
            if isinstance(base_url, Reply):
                return base_url
            if is_gateway_api(base_url):
                if target.hostname != LOCALHOST:
                    raise UnroutableError("only the gateway's own host serves its API")
                return ServeApi(token, body_limit)
            url = upstream_url(base_url, raw_path, query_string)
            peer = _client_address(scope)
            client_origin = Origin(
                peer, scope["scheme"], head.host[0], self._settings.is_trusted_proxy(peer)
            )
            credentials = Credentials(
                strip=target.auth_enabled and not target.forward_credentials, token=token
            )
            headers = message_headers(
                upstream_request_headers(
                    scope["headers"], client_origin, credentials, target.custom_headers
                ),
                url,
                scope["method"],
                streamed=head.has_body,
            )
        except UnroutableError as exc:
            return Reply(502, str(exc))
        return Forward(hostname, scope["method"], url, headers, body_limit)

    def _resource_metadata(self, method: str, path: str, origin: str) -> Reply | None:
        """The answer to a request for the target's protected-resource metadata; `None` when
        `path` is not a metadata URL."""
        try:
            resource_path = metadata_resource_path(path)
        except UnknownResourceError as exc:
            return Reply(404, str(exc))
        if resource_path is None:
            return None
        if method != "GET":
            return Reply(405, "only GET is allowed here", ((b"allow", b"GET"),))
        document = resource_metadata(origin, resource_path, self._issuer)
        return Reply(200, json.dumps(document), content_type=b"application/json")

    async def _authenticate(
        self, target: ProxyTarget, head: RequestHead, path: str, origin: str
    ) -> AccessTokenRecord | Reply | None:
        """The access token the request needs and presents, `None` when it needs none, or
        the 401 challenge."""
        if not requires_token(target, path):
            return None
        credentials = bearer_credentials(head.authorization)
        token = None
        if credentials.token is not None:
            token = await self._storage.aget_access_token(credentials.token)
        # The audience and the admission are in the record fetched: no other round trip.
        if token is None or not audience_matches(token, target):
            refusal = challenge(credentials, metadata_url(origin))
            return Reply(
                401,
                "a valid bearer access token is required",
                ((b"www-authenticate", refusal.encode()),),
            )
        if not admitted(token, target):
            return Reply(
                403,
                "this host does not admit this token's user or scope",
                ((b"www-authenticate", insufficient_scope(target, metadata_url(origin)).encode()),),
            )
        return token

    async def _upstream_base_url(self, target: ProxyTarget, path: str, method: str) -> str | Reply:
        """The URL of the route that applies to the request, else the target's own."""
        if target.route_mode is RouteMode.NONE:
            return target.target_url
        try:
            listing = await self._config.alist_usable_routes()
        except CorruptRecordError as exc:
            # The route index itself: no route can be read, so none applies, as a corrupt
            # route applies nowhere; every host keeps its own target (`localhost` its API).
            self._report_corrupt(exc)
            return target.target_url
        for error in listing.corrupt:
            self._report_corrupt(error)
        route = choose_route(applicable_routes(target, listing.routes), path, method)
        if route is None:
            return target.target_url
        destination = route_destination(route)
        if isinstance(destination, ViaHostname):
            return await self._borrowed_target_url(destination)
        return destination

    async def _borrowed_target_url(self, destination: ViaHostname) -> str | Reply:
        try:
            borrowed = await self._config.aget_proxy_target(destination.hostname)
        except InvalidKeyError:
            raise UnroutableError("a route names an invalid proxy target hostname") from None
        if borrowed is None:
            raise UnroutableError("a route names a host without a proxy target")
        if not borrowed.enabled:
            return Reply(503, "the proxy target a route forwards to is disabled")
        return borrowed.target_url

    async def _serve_api(
        self, decision: ServeApi, scope: Scope, body: _RequestBody, send: Send
    ) -> None:
        started = False

        async def send_to_client(message: Message) -> None:
            nonlocal started
            # Once the body failed, the API only sees a disconnect: what it answers to that
            # is not for the client, who gets the proxy's own answer below.
            if not body.failed:
                if message["type"] == "http.response.start":
                    message = _with_date(message, close=body.unread)
                started = True
                await send(message)

        api_scope = {**scope, CHECKED_TOKEN: decision.token}
        try:
            await self._api(api_scope, body.receive, send_to_client)
        except ClientDisconnect:
            body.gone = body.gone or body.failure is None
        if body.failure is not None and not started:
            await body.failure.send(send)

    async def _forward(
        self, forward: Forward, body: _RequestBody, receive: Receive, send: Send
    ) -> None:
        # A client that leaves before its response is complete cancels the upstream request:
        # its connection is closed and its pool slot freed at once.
        async with _Departure(receive, body) as departure:
            try:
                response = await self._pools.send(
                    forward.hostname,
                    forward.method,
                    forward.url,
                    forward.headers,
                    body.chunks() if body.expected else None,
                )
            except _BodyAbortedError:
                if body.failure is not None:
                    await body.failure.send(send)
                return
            except UPSTREAM_ERRORS as exc:
                failed = self._upstream_failed(forward, exc)
                await (failed.closing() if body.unread else failed).send(send)
                return
            try:
                await _relay(response, send, departure)
            except UPSTREAM_ERRORS as exc:
                logger.warning(
                    "upstream of %s broke off its response: %s",
                    forward.hostname,
                    type(exc).__name__,
                )
            finally:
                departure.end()
                await response.aclose()
        body.gone = body.gone or departure.gone

    def _upstream_failed(self, forward: Forward, error: Exception) -> Reply:
        logger.warning(
            "upstream %s of %s failed: %s",
            forward.url.origin,
            forward.hostname,
            type(error).__name__,
        )
        if isinstance(error, httpcore.PoolTimeout):
            return Reply(503, "the upstream of this host is busy", ((b"retry-after", b"1"),))
        if isinstance(error, httpcore.TimeoutException):
            return Reply(504, "the upstream did not answer in time")
        return Reply(502, "the upstream is unreachable")


class _Departure:
    """While active, cancels the request's task when its client goes away; the block of
    `async with` then ends quietly, with `gone` set.

    It waits for the disconnect only once the request body has been read: until then, the
    HTTP client reading the body is the only one to receive (a disconnect ends the body
    with `_BodyAbortedError`).
    """

    def __init__(self, receive: Receive, body: _RequestBody) -> None:
        self._receive = receive
        self._body = body
        self.gone = False
        self._active = True

    async def __aenter__(self) -> _Departure:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._watcher = asyncio.create_task(self._watch())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        self.end()
        # Cancelled by the watcher alone: swallowed. By anyone else too: passed on.
        return kind is asyncio.CancelledError and self.gone and self._task.uncancel() == 0

    def end(self) -> None:
        """Stop watching: what happens from here on is not the client's going away (the
        last part of the response is being sent, or the response is being closed)."""
        self._active = False
        self._watcher.cancel()

    async def _watch(self) -> None:
        if self._body.expected:
            await self._body.read.wait()
            if self._body.failed:
                return  # the HTTP client has the body's failure, and cleans up after it
        while (await self._receive())["type"] != "http.disconnect":
            pass
        if self._active:
            self.gone = True
            self._task.cancel()


async def _relay(response: httpcore.Response, send: Send, departure: _Departure) -> None:
    """Stream `response` to the client (`departure` ends before its last part)."""
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": end_to_end_headers(response.headers),
        }
    )
    # Raw bytes: the body keeps its Content-Encoding, so Content-Length stays true.
    async for chunk in response.aiter_stream():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    departure.end()
    await send({"type": "http.response.body", "body": b""})
