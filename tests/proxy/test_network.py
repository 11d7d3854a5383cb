"""The upstream connections' asyncio network backend, on real loopback sockets: reads and
writes, the end of a connection, timeouts, flow control, idle-connection checks, TLS."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpcore
import pytest

from src.proxy.network import AsyncioBackend
from tests.integration.peers import BOUND, eventually

LIMIT = 64 * 1024
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A loopback server running `handler` per connection; yields its port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def connect(port: int) -> httpcore.AsyncNetworkStream:
    return await AsyncioBackend(LIMIT).connect_tcp("127.0.0.1", port, timeout=5)


async def test_it_reads_what_was_sent_then_the_end() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"you said " + await reader.readexactly(5))
        await writer.drain()
        writer.close()

    async with serving(answer) as port:
        stream = await connect(port)
        await stream.write(b"hello", timeout=5)
        received = b""
        while chunk := await stream.read(4, timeout=5):
            assert len(chunk) <= 4
            received += chunk
        assert received == b"you said hello"
        assert await stream.read(4, timeout=5) == b""
        await stream.aclose()


async def test_a_silent_upstream_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with serving(silent) as port:
        stream = await connect(port)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(100, timeout=0.1)
        await stream.aclose()


async def test_a_closed_port_is_a_connect_error(closed_port: int) -> None:
    with pytest.raises(httpcore.ConnectError):
        await connect(closed_port)


async def test_a_full_accept_queue_is_a_connect_timeout() -> None:
    # Linux drops a SYN to a listener whose accept queue is full: the connect never ends.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        queued = []
        with pytest.raises(httpcore.ConnectTimeout):
            for _ in range(8):
                queued.append(
                    await AsyncioBackend(LIMIT).connect_tcp("127.0.0.1", port, timeout=0.2)
                )
        for stream in queued:
            await stream.aclose()


async def test_writing_to_a_closed_connection_fails() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pass  # `serving` closes the connection

    async with serving(hang_up) as port:
        stream = await connect(port)
        assert await stream.read(100, timeout=5) == b""
        with pytest.raises(httpcore.WriteError):
            await stream.write(b"anyone?", timeout=5)


async def test_writing_to_an_upstream_that_reads_nothing_times_out() -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(BOUND)

    async with serving(deaf) as port:
        stream = await connect(port)
        for _ in range(2):  # a timed-out write leaves the next one a working wait
            with pytest.raises(httpcore.WriteTimeout):
                await stream.write(b"x" * 64 * 1024 * 1024, timeout=0.2)
        await stream.aclose()


async def test_a_fast_upstream_waits_for_a_slow_reader() -> None:
    # More than the kernel's socket buffers hold on both sides: while nothing is read, the
    # server can only get it all out if the proxy's side buffers it all.
    size = 64 * 1024 * 1024
    sent = asyncio.Event()

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"x" * size)
        await writer.drain()
        sent.set()
        writer.close()

    async with serving(flood) as port:
        stream = await connect(port)
        await asyncio.sleep(0.5)
        assert not sent.is_set()
        received = 0
        while chunk := await stream.read(LIMIT, timeout=5):
            received += len(chunk)
        assert (received, sent.is_set()) == (size, True)
        await stream.aclose()


@pytest.mark.parametrize(
    ("upstream_does", "readable"),
    [("nothing", False), ("close", True), ("send", True)],
)
async def test_an_idle_connection_is_readable_once_the_upstream_did_anything(
    upstream_does: str, readable: bool
) -> None:
    async def idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if upstream_does == "send":
            writer.write(b"HTTP/1.1 200 OK\r\n")
        if upstream_does != "close":
            await reader.read()

    async with serving(idle) as port:
        stream = await connect(port)
        if readable:
            assert await eventually(lambda: bool(stream.get_extra_info("is_readable")))
        else:
            await asyncio.sleep(0.2)
            assert stream.get_extra_info("is_readable") is False
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
        await stream.aclose()


async def test_tls_is_verified_then_spoken(certificate: tuple[Path, Path]) -> None:
    chain, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(chain, key)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(4))
        await writer.drain()
        writer.close()

    async with serving(echo, tls=server_side) as port:
        untrusting = await connect(port)
        with pytest.raises(httpcore.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusting.start_tls(ssl.create_default_context(), "localhost", timeout=5)
        await untrusting.aclose()

        trusting = ssl.create_default_context(cadata=chain.read_text())
        plain = await connect(port)
        secure = await plain.start_tls(trusting, "localhost", timeout=5)
        assert isinstance(secure.get_extra_info("ssl_object"), ssl.SSLObject)
        await secure.write(b"ping", timeout=5)
        assert await secure.read(100, timeout=5) == b"ping"
        await secure.aclose()
