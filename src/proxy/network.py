"""The sockets of the upstream connections: an httpcore network backend on asyncio.

httpcore's own backend for asyncio goes through anyio, which gives every read and write a
cancel scope of its own and answers every check of an idle pooled connection by building
a table of socket attributes: 60-90 µs of each forwarded request on a quiet machine, for
nothing the proxy uses. Here each connection is an `asyncio.Protocol` on public asyncio
APIs only (`loop.create_connection`, `loop.start_tls`), with its own read buffer:

- reading pauses once a connection's buffer holds its limit of bytes not yet read
  (`ProxySettings.upstream_buffer_size`), so a fast upstream and a slow client never pile
  up more than that in the proxy;
- writing waits while the transport says its buffer is full;
- an idle connection counts as readable (httpcore then drops it) once the upstream sent
  anything, closed it, or it broke: bytes before a request are never a response to it.

Errors and timeouts are httpcore's (`ConnectError`, `ReadTimeout`, ...), as httpcore's own
backends raise them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable, Iterator

import httpcore

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


@contextlib.contextmanager
def _raising(timeout_error: type[Exception], error: type[Exception]) -> Iterator[None]:
    """Turn a timeout into `timeout_error` and an `OSError` (TLS errors included) into
    `error`."""
    try:
        yield
    except TimeoutError as exc:
        raise timeout_error(str(exc)) from exc
    except OSError as exc:
        raise error(str(exc)) from exc


class _Connection(asyncio.Protocol):
    """One upstream connection, TCP or TLS: what asyncio delivers, buffered for `read()`
    up to `buffer_limit` bytes."""

    def __init__(self, buffer_limit: int) -> None:
        self._buffer_limit = buffer_limit
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._eof = False
        self._lost = False
        self._failure: Exception | None = None
        self._reading_paused = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= self._buffer_limit and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> None:
        # Returns None: the transport closes itself; HTTP/1.1 has no use for a half-open one.
        self._eof = True
        self._wake_reader()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._failure = exc
        self._wake_reader()
        self._wake_writer()

    def pause_writing(self) -> None:
        if self._drain_waiter is None:
            self._drain_waiter = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake_writer()

    # What the stream needs

    @property
    def transport(self) -> asyncio.Transport:
        assert self._transport is not None, "not connected"
        return self._transport

    def replace_transport(self, transport: asyncio.Transport) -> None:
        """Use `transport` from now on (the TLS layer `loop.start_tls` put on top)."""
        self._transport = transport

    @property
    def readable(self) -> bool:
        """Whether a read would return at once: data, an end, or a failure is waiting."""
        return bool(self._buffer) or self._eof or self._lost

    async def read(self, max_bytes: int) -> bytes:
        while not self.readable:
            self._data_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._data_waiter
            finally:
                self._data_waiter = None
        if self._buffer:
            data = bytes(self._buffer[:max_bytes])
            del self._buffer[:max_bytes]
            if self._reading_paused and len(self._buffer) < self._buffer_limit:
                self._reading_paused = False
                self.transport.resume_reading()
            return data
        if self._failure is not None:
            raise httpcore.ReadError(str(self._failure))
        return b""

    async def write(self, data: bytes) -> None:
        if self._lost or self.transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self.transport.write(data)
        while self._drain_waiter is not None:
            # Shielded: a write that times out must not cancel the waiter the next one uses.
            await asyncio.shield(self._drain_waiter)
        if self._lost and self._failure is not None:
            raise httpcore.WriteError(str(self._failure))

    def _wake_reader(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)

    def _wake_writer(self) -> None:
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """An upstream connection as httpcore reads and writes it."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to `max_bytes` bytes, `b""` once the upstream closed the connection."""
        with _raising(httpcore.ReadTimeout, httpcore.ReadError):
            async with asyncio.timeout(timeout):
                return await self._connection.read(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send `buffer`; returns once the transport has room for more."""
        if not buffer:
            return
        with _raising(httpcore.WriteTimeout, httpcore.WriteError):
            async with asyncio.timeout(timeout):
                await self._connection.write(buffer)

    async def aclose(self) -> None:
        """Close the connection (what is written still goes out first)."""
        self._connection.transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Speak TLS from here on, verified as `ssl_context` says."""
        connection = self._connection
        loop = asyncio.get_running_loop()
        with _raising(httpcore.ConnectTimeout, httpcore.ConnectError):
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    connection.transport, connection, ssl_context, server_hostname=server_hostname
                )
        if transport is None:
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        connection.replace_transport(transport)
        return self

    def get_extra_info(self, info: str) -> object:
        """What httpcore asks of its streams: `is_readable`, `ssl_object`, `client_addr`,
        `server_addr`, `socket`."""
        if info == "is_readable":
            return self._connection.readable
        names = {"client_addr": "sockname", "server_addr": "peername"}
        return self._connection.transport.get_extra_info(names.get(info, info))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections on the running asyncio loop (`TCP_NODELAY` set, as asyncio
    does for every TCP transport).

    Args:
        buffer_limit: bytes a connection holds from its upstream, not yet read, before it
            stops reading.
    """

    def __init__(self, buffer_limit: int) -> None:
        self._buffer_limit = buffer_limit

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A connection to `host:port` within `timeout` seconds."""
        loop = asyncio.get_running_loop()
        with _raising(httpcore.ConnectTimeout, httpcore.ConnectError):
            async with asyncio.timeout(timeout):
                transport, connection = await loop.create_connection(
                    lambda: _Connection(self._buffer_limit),
                    host,
                    port,
                    local_addr=(local_address, 0) if local_address else None,
                )
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(connection)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the running loop."""
        await asyncio.sleep(seconds)
