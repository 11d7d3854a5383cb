"""Bounded client connections for the proxy's uvicorn server (h11).

Two bounds of `ProxySettings`, enforced on each connection before the ASGI application
sees a request:

- `head_timeout`: a client gets that many seconds to send a whole request head, counted
  from the moment the connection opens and again from the end of each response on a
  kept-alive connection. Past it, the client gets `408` with `connection: close` and the
  connection is closed. The timer stops once the head is parsed: a slow body is the body
  timeout's business, and a slow application is nobody's here. A body still arriving
  after its response (one answered early, as a 413 is) counts against the next head: past
  the timeout, that connection is closed without an answer. uvicorn's own keep-alive
  timeout (`timeout_keep_alive`) keeps running beside it; whichever ends first closes an
  idle kept-alive connection (uvicorn's quietly, this one with a 408).
- `max_connections_per_client`: open connections per client address. One connection past
  it is answered at once with `503` and closed without reading a request; it does not
  count. The address is the TCP peer's: behind a proxy, all of its clients are one address
  (a connection without one, over a Unix socket, is not counted).

Plug it in where the proxy's server is configured, one class per server (the count lives
in the class, shared by every connection of that server and of that process only):

    uvicorn.Config(
        proxy_app,
        http=bounded_h11_protocol(settings),
        ws="none",
        ...
    )

`ws="none"`: a WebSocket upgrade hands the connection to another protocol class, so this
one would never see it close and its slot would stay taken; the proxy forwards no
WebSocket, so it accepts none.
"""

from __future__ import annotations

import asyncio
import http
import logging
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from src.proxy.settings import ProxySettings

logger = logging.getLogger(__name__)

HEAD_TIMEOUT_TEXT = b"The request head did not arrive in time.\n"
TOO_MANY_CONNECTIONS_TEXT = b"Too many connections from this address.\n"


def bounded_h11_protocol(settings: ProxySettings) -> type[H11Protocol]:
    """An `H11Protocol` subclass enforcing `settings.head_timeout` and
    `settings.max_connections_per_client`; pass it as `uvicorn.Config(http=...)`.

    Each call returns a class with a connection count of its own: call it once per server.
    """
    open_connections: dict[str, int] = {}
    """Client address -> its open connections; an address leaves when its last one closes."""

    class BoundedH11Protocol(H11Protocol):
        def __init__(
            self,
            config: Config,
            server_state: ServerState,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self._head_timer: asyncio.TimerHandle | None = None
            self._counted_address: str | None = None

        def connection_made(  # type: ignore[override]
            self, transport: asyncio.Transport
        ) -> None:
            super().connection_made(transport)
            address = self.client[0] if self.client else None
            if address is not None:
                held = open_connections.get(address, 0)
                if held >= settings.max_connections_per_client:
                    logger.warning(
                        "refused a connection from %s: it holds %d already"
                        " (max_connections_per_client)",
                        address,
                        held,
                    )
                    self._answer_and_close(503, TOO_MANY_CONNECTIONS_TEXT)
                    return
                open_connections[address] = held + 1
                self._counted_address = address
            self._start_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            # asyncio calls this exactly once per transport, whichever way it closed.
            self._stop_head_timer()
            address, self._counted_address = self._counted_address, None
            if address is not None:
                remaining = open_connections[address] - 1
                if remaining:
                    open_connections[address] = remaining
                else:
                    del open_connections[address]
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            # h11 puts the server in SEND_RESPONSE when it has parsed a request head; the
            # application runs in a task, so it cannot have answered within this call.
            if self.conn.our_state is h11.SEND_RESPONSE:
                self._stop_head_timer()

        def on_response_complete(self) -> None:
            # Started before uvicorn handles pipelined requests, so that a complete head
            # waiting in the buffer stops it again at once.
            if not self.transport.is_closing():
                self._start_head_timer()
            super().on_response_complete()

        def _start_head_timer(self) -> None:
            self._stop_head_timer()
            self._head_timer = self.loop.call_later(settings.head_timeout, self._head_timed_out)

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport.is_closing():
                return
            logger.warning(
                "%s sent no complete request head within %g s (head_timeout): closed",
                self.client[0] if self.client else "a client",
                settings.head_timeout,
            )
            self._answer_and_close(408, HEAD_TIMEOUT_TEXT)

        def _answer_and_close(self, status: int, text: bytes) -> None:
            # Past a response whose request body is still arriving (our side DONE), there
            # is no request to answer: the connection is only closed.
            if self.conn.our_state is h11.IDLE:
                headers = [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(text)).encode("ascii")),
                    (b"connection", b"close"),
                ]
                reason = http.HTTPStatus(status).phrase.encode("ascii")
                self.transport.write(
                    self.conn.send(h11.Response(status_code=status, headers=headers, reason=reason))
                    + self.conn.send(h11.Data(data=text))
                    + self.conn.send(h11.EndOfMessage())
                )
            self.transport.close()

    return BoundedH11Protocol
