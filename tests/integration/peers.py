"""The proxy's peers for end-to-end tests over real loopback sockets: a raw HTTP/1.1
backend that records exactly what reaches it, a raw client that sends exactly what it is
given, and the check that the gateway's log stayed clean.

The backend runs its own event loop in a thread, so it keeps answering (or hanging, or
streaming) whatever the test's own loop is doing, and it sees the bytes on the wire, not
what a framework made of them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from enum import Enum

import pytest
from starlette.types import ASGIApp

from src.proxy.app import ProxyApp
from src.proxy.settings import ProxySettings
from src.storage import UnifiedStorage

from .conftest import SETTINGS, LoopbackServer, api_app

BOUND = 5.0
"""Seconds after which a test gives up waiting for a peer: a guard against hangs, far
above every timeout the tests configure."""


class Mode(Enum):
    """How a `RawBackend` treats a request once it has read it."""

    ANSWER = "answer"
    """Answer 200 `ok` and close the connection."""
    HANG = "hang"
    """Never answer; wait until the proxy closes the connection."""
    STREAM = "stream"
    """Answer 200 with a chunked body that never ends."""
    BREAK = "break"
    """Answer 200 with a `Content-Length` of 100, send 10 bytes, and close."""
    FLOOD = "flood"
    """Answer 200 with a body of `FLOOD_SIZE` bytes, sent as fast as the proxy takes it."""


FLOOD_SIZE = 64 * 1024 * 1024
"""More than the kernel's loopback socket buffers of two connections hold."""


@dataclass
class Seen:
    """One request as it reached the backend."""

    head: bytes
    """The request line and header lines, as sent."""
    body: bytes = b""
    complete: bool = False
    """Whether the whole body (as framed by its head) arrived."""
    closed_at: float | None = None
    """`time.monotonic()` when the proxy closed the connection, if it did."""
    sent: int = 0
    """Bytes of response body the proxy took (`Mode.FLOOD`)."""

    @property
    def request_line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]

    @property
    def target(self) -> bytes:
        return self.request_line.split(b" ")[1]

    def headers(self) -> list[tuple[str, str]]:
        """The header fields in order, names lower-cased."""
        fields = []
        for line in self.head.split(b"\r\n")[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            fields.append((name.strip().lower(), value.strip()))
        return fields

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers() if key == name]


@dataclass
class RawBackend:
    """An HTTP/1.1 upstream on a free loopback port, in a thread of its own."""

    mode: Mode = Mode.ANSWER
    seen: list[Seen] = field(default_factory=list)
    accepted: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def running(self) -> Iterator[RawBackend]:
        """Serve until the block ends; then close every connection."""
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(BOUND)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self._stop(server), self._loop).result(BOUND)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(BOUND)
            self._loop.close()

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def _stop(self, server: asyncio.Server) -> None:
        server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen = Seen(head[:-4])
        self.seen.append(seen)
        try:
            await _read_body(seen, reader)
        finally:
            if not seen.complete:
                seen.closed_at = time.monotonic()
        if self.mode is Mode.ANSWER:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
            await writer.drain()
            return
        if self.mode is Mode.BREAK:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            await writer.drain()
            return
        if self.mode is Mode.FLOOD:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % FLOOD_SIZE)
            piece = b"x" * 65536
            while seen.sent < FLOOD_SIZE:
                writer.write(piece)
                await writer.drain()
                seen.sent += len(piece)
            return
        if self.mode is Mode.STREAM:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            streaming = asyncio.ensure_future(_stream_forever(writer))
            try:
                await reader.read()
            finally:
                streaming.cancel()
        else:
            await reader.read()
        seen.closed_at = time.monotonic()


async def _stream_forever(writer: asyncio.StreamWriter) -> None:
    while True:
        writer.write(b"6\r\nchunk\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.02)


async def _read_body(seen: Seen, reader: asyncio.StreamReader) -> None:
    length = seen.header("content-length")
    if "chunked" in ",".join(seen.header("transfer-encoding")).lower():
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            seen.body += chunk[:-2]
            if size == 0:
                break
    elif length:
        seen.body = await reader.readexactly(int(length[0]))
    seen.complete = True


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A response as the client read it."""

    status: int
    headers: dict[str, str]
    body: bytes


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    """Read one response whose body has a `Content-Length` (the proxy's own answers) or
    is chunked."""
    async with asyncio.timeout(BOUND):
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        fields = (line.split(":", 1) for line in lines)
        headers = {name.strip().lower(): value.strip() for name, value in fields}
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()
    return RawResponse(int(status_line.split(" ")[1]), headers, body)


@asynccontextmanager
async def raw_connection(
    port: int, source: str = "127.0.0.1"
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A TCP connection to the proxy from the loopback address `source`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        yield reader, writer
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()


async def exchange(port: int, request: bytes, source: str = "127.0.0.1") -> RawResponse:
    """Send `request` exactly as given on a fresh connection; read the answer."""
    async with raw_connection(port, source) as (reader, writer):
        writer.write(request)
        await writer.drain()
        return await read_response(reader)


def get(target: bytes, host: bytes, *header_lines: bytes) -> bytes:
    """A bodiless request, exactly as given, that closes its connection after."""
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: " + host, *header_lines]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


async def eventually(condition: Callable[[], bool], within: float = BOUND) -> bool:
    """Whether `condition` holds within `within` seconds (polled)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@contextmanager
def serving(app: ASGIApp) -> Iterator[LoopbackServer]:
    """`app` served by uvicorn on loopback as the edge (no proxy headers believed)."""
    with LoopbackServer(app, proxy_headers=False).running() as server:
        yield server


@contextmanager
def proxy_serving(storage: UnifiedStorage, settings: ProxySettings) -> Iterator[LoopbackServer]:
    """The proxy with the gateway's API in-process, bounded by `settings`, on loopback."""
    app = ProxyApp(storage, api_app(storage), settings, issuer=SETTINGS.issuer)
    with serving(app) as server:
        yield server


def gateway_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The records `python -m src serve` shows: the gateway's own from INFO, uvicorn's
    (without its access log, which serve turns off), and any other from WARNING."""
    return [
        record
        for record in caplog.records
        if record.name != "uvicorn.access"
        and (record.name.startswith(("src.", "uvicorn")) or record.levelno >= logging.WARNING)
    ]


def assert_clean_log(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """No traceback in the gateway's log, and none of `secrets` in it."""
    for record in gateway_log(caplog):
        text = record.getMessage()
        assert record.exc_info is None, f"a traceback was logged: {text}"
        assert "Traceback" not in text and "Exception in ASGI application" not in text
        for secret in secrets:
            assert secret not in text, f"{secret!r} was logged: {text}"
