"""The proxy's client bounds over real TCP: a uvicorn server on loopback, raw sockets as
clients, and source addresses of 127.0.0.0/8 as different clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from src.proxy.connections import (
    HEAD_TIMEOUT_TEXT,
    TOO_MANY_CONNECTIONS_TEXT,
    bounded_h11_protocol,
)
from src.proxy.settings import ProxySettings
from tests.integration.conftest import LoopbackServer

HEAD_TIMEOUT = 0.5
WAIT = 5.0
"""Seconds a client waits for an answer before the test fails: generous, not a measurement."""
SECRET = "hunter2"
PARTIAL_HEAD = f"GET /private?token={SECRET} HTTP/1.1\r\nAuthorization: Bearer {SECRET}\r\n"


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body and answers `METHOD PATH BODY-LENGTH`; on `/slow`, after twice
    the head timeout; on `/early`, at once, without reading the body (as a 413 would)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    length = 0
    more_body = scope["path"] != "/early"
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        length += len(message.get("body", b""))
        more_body = message.get("more_body", False)
    if scope["path"] == "/slow":
        await asyncio.sleep(2 * HEAD_TIMEOUT)
    text = f"{scope['method']} {scope['path']} {length}".encode()
    headers = [(b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": text})


def request(path: str = "/", *, body: bytes = b"") -> bytes:
    method = "POST" if body else "GET"
    head = f"{method} {path} HTTP/1.1\r\nHost: gateway\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """One raw TCP connection to the server from `source`, reading responses off it."""

    def __init__(self, server: LoopbackServer, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(
            ("127.0.0.1", server.port), timeout=WAIT, source_address=(source, 0)
        )
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> Response:
        while b"\r\n\r\n" not in self._buffer:
            self._receive()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        length = int(headers["content-length"])
        while len(self._buffer) < length:
            self._receive()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return Response(int(status_line.split()[1]), headers, body)

    def get(self, path: str = "/") -> Response:
        self.send(request(path))
        return self.response()

    def closed_by_server(self) -> bool:
        """Whether the server closed the connection with nothing more to read."""
        return not self._buffer and self.sock.recv(1) == b""

    def close(self) -> None:
        """Close, and wait until the server has closed its side too (so its count is down)."""
        self.sock.shutdown(socket.SHUT_WR)
        assert self.closed_by_server()
        self.sock.close()

    def reset(self) -> None:
        """Abort the connection with a TCP reset."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def _receive(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self._buffer += data


Connect = Callable[..., Client]


@pytest.fixture
def connect() -> Iterator[Connect]:
    """`connect(server, source="127.0.0.1")`: a `Client`, closed at the end of the test."""
    opened: list[Client] = []

    def open_client(server: LoopbackServer, source: str = "127.0.0.1") -> Client:
        client = Client(server, source)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.sock.close()


@contextlib.contextmanager
def serving(**settings: Any) -> Iterator[LoopbackServer]:
    """The echo application behind the bounded protocol of `ProxySettings(**settings)`."""
    protocol = bounded_h11_protocol(ProxySettings(**settings))
    with LoopbackServer(echo, proxy_headers=False, http=protocol).running() as server:
        yield server


def assert_timed_out(client: Client) -> None:
    response = client.response()
    assert (response.status, response.body) == (408, HEAD_TIMEOUT_TEXT)
    assert response.headers["connection"] == "close"
    assert client.closed_by_server()


def assert_refused(client: Client) -> None:
    response = client.response()
    assert (response.status, response.body) == (503, TOO_MANY_CONNECTIONS_TEXT)
    assert response.headers["connection"] == "close"
    assert client.closed_by_server()


def connection_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "src.proxy.connections"]


def test_a_head_that_never_ends_gets_408_and_the_connection_closes(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(head_timeout=HEAD_TIMEOUT) as server:
        client = connect(server)
        client.send(PARTIAL_HEAD.encode())
        started = time.monotonic()
        assert_timed_out(client)
        assert time.monotonic() - started >= HEAD_TIMEOUT * 0.9
    [record] = connection_records(caplog)
    assert "127.0.0.1" in record.getMessage()
    assert "/private" not in caplog.text
    assert SECRET not in caplog.text
    assert record.exc_info is None


def test_a_connection_that_sends_nothing_gets_408(connect: Connect) -> None:
    with serving(head_timeout=HEAD_TIMEOUT) as server:
        assert_timed_out(connect(server))


def test_a_head_trickled_byte_by_byte_gets_408_though_bytes_keep_arriving(connect: Connect) -> None:
    head = request("/" + "a" * 60)
    with serving(head_timeout=HEAD_TIMEOUT) as server:
        client = connect(server)
        sent = 0
        # A byte every 50 ms: never idle for the head timeout, but slower than it overall.
        while sent < len(head):
            client.send(head[sent : sent + 1])
            sent += 1
            if select.select([client.sock], [], [], 0.05)[0]:
                break
        assert_timed_out(client)
        assert sent < len(head)


def test_a_head_completed_within_the_timeout_is_served(connect: Connect) -> None:
    head = request("/slowly")
    with serving(head_timeout=WAIT) as server:
        client = connect(server)
        for offset in range(0, len(head), 8):
            client.send(head[offset : offset + 8])
            time.sleep(0.02)
        assert client.response().body == b"GET /slowly 0"


def test_kept_alive_requests_are_served_and_the_timer_restarts_after_each_response(
    connect: Connect,
) -> None:
    with serving(head_timeout=HEAD_TIMEOUT) as server:
        client = connect(server)
        # The connection outlives the head timeout; each head arrives in time after the
        # previous response.
        for path in ("/one", "/two", "/three"):
            assert client.get(path).body == f"GET {path} 0".encode()
            time.sleep(HEAD_TIMEOUT * 0.6)
        client.send(PARTIAL_HEAD.encode())
        assert_timed_out(client)


def test_pipelined_requests_are_served_and_a_pipelined_partial_head_times_out(
    connect: Connect,
) -> None:
    with serving(head_timeout=HEAD_TIMEOUT) as server:
        client = connect(server)
        client.send(request("/a") + request("/slow", body=b"xyz") + PARTIAL_HEAD.encode())
        assert client.response().body == b"GET /a 0"
        assert client.response().body == b"POST /slow 3"
        assert_timed_out(client)


def test_a_slow_body_is_not_cut_by_the_head_timeout(connect: Connect) -> None:
    body = b"abcdef"
    with serving(head_timeout=HEAD_TIMEOUT) as server:
        client = connect(server)
        client.send(request("/upload", body=body)[: -len(body)])
        # 1.2 s of body, more than twice the head timeout.
        for byte in body:
            time.sleep(0.2)
            client.send(bytes([byte]))
        response = client.response()
        assert (response.status, response.body) == (200, b"POST /upload 6")


def test_a_body_still_arriving_after_its_response_counts_against_the_next_head(
    connect: Connect,
) -> None:
    with serving(head_timeout=HEAD_TIMEOUT) as server:
        client = connect(server)
        client.send(request("/early", body=b"x" * 100)[:-90])
        assert client.response().body == b"POST /early 0"
        # Ten bytes of body every 0.2 s: the rest would take 1.8 s.
        sent = 0
        while sent < 9 and not select.select([client.sock], [], [], 0.2)[0]:
            client.send(b"x" * 10)
            sent += 1
        assert sent < 9
        # No request to answer: closed without a response.
        assert client.closed_by_server()


def test_uvicorns_keep_alive_timeout_still_closes_an_idle_connection_quietly(
    connect: Connect,
) -> None:
    protocol = bounded_h11_protocol(ProxySettings(head_timeout=30))
    with LoopbackServer(
        echo, proxy_headers=False, http=protocol, timeout_keep_alive=1
    ).running() as server:
        client = connect(server)
        assert client.get().status == 200
        assert client.closed_by_server()


def test_shutdown_does_not_wait_for_a_client_sending_its_head(connect: Connect) -> None:
    with serving(head_timeout=30) as server:
        client = connect(server)
        assert client.get().status == 200
        client.send(PARTIAL_HEAD.encode())
        stopping = time.monotonic()
    assert time.monotonic() - stopping < WAIT
    assert client.closed_by_server()


def test_a_connection_past_the_cap_gets_503_at_once_and_others_are_served(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(max_connections_per_client=3) as server:
        held = [connect(server, "127.0.0.2") for _ in range(3)]
        for client in held:
            assert client.get().status == 200
        caplog.clear()
        # Nothing sent: the 503 comes without a request.
        assert_refused(connect(server, "127.0.0.2"))
        [record] = connection_records(caplog)
        assert "127.0.0.2" in record.getMessage()
        assert record.exc_info is None
        # A request sent at once is not read: the application never answers it.
        eager = connect(server, "127.0.0.2")
        eager.send(request("/eager"))
        response = eager.response()
        assert (response.status, response.body) == (503, TOO_MANY_CONNECTIONS_TEXT)
        # Closed with the request unread, the server's socket may end with a reset.
        with contextlib.suppress(ConnectionResetError):
            assert eager.closed_by_server()
        assert connect(server, "127.0.0.3").get().status == 200
        for client in held:
            assert client.get().status == 200
        held.pop().close()
        assert connect(server, "127.0.0.2").get().status == 200


def test_every_close_frees_exactly_one_slot_and_a_refusal_none(connect: Connect) -> None:
    def fill(server: LoopbackServer, count: int) -> list[Client]:
        clients = [connect(server, "127.0.0.4") for _ in range(count)]
        for client in clients:
            assert client.get().status == 200
        return clients

    def assert_full(server: LoopbackServer) -> None:
        for _ in range(2):
            assert_refused(connect(server, "127.0.0.4"))

    with serving(max_connections_per_client=3) as server:
        first, second, third = fill(server, 3)
        assert_full(server)
        first.close()
        [first] = fill(server, 1)
        assert_full(server)
        # A reset is seen by the server some time after the client's close returns.
        second.reset()
        deadline = time.monotonic() + WAIT
        while (replacement := connect(server, "127.0.0.4")).get().status != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for client in (first, third, replacement):
            client.close()
        # Every slot is free again, none twice: exactly three fit.
        fill(server, 3)
        assert_full(server)


def test_a_connection_closed_for_its_head_timeout_frees_its_slot(connect: Connect) -> None:
    with serving(max_connections_per_client=1, head_timeout=HEAD_TIMEOUT) as server:
        slow = connect(server, "127.0.0.6")
        assert_refused(connect(server, "127.0.0.6"))
        slow.send(PARTIAL_HEAD.encode())
        assert_timed_out(slow)
        assert connect(server, "127.0.0.6").get().status == 200


def test_connections_closed_by_a_shutdown_free_their_slots(connect: Connect) -> None:
    protocol = bounded_h11_protocol(ProxySettings(max_connections_per_client=2))
    with LoopbackServer(echo, proxy_headers=False, http=protocol).running() as server:
        held = [connect(server, "127.0.0.5") for _ in range(2)]
        for client in held:
            assert client.get().status == 200
    for client in held:
        assert client.closed_by_server()
    # The same class, so the same count, behind a second server.
    with LoopbackServer(echo, proxy_headers=False, http=protocol).running() as server:
        for _ in range(2):
            assert connect(server, "127.0.0.5").get().status == 200
        assert_refused(connect(server, "127.0.0.5"))


def test_slow_clients_do_not_stall_others(connect: Connect) -> None:
    """150 connections sit on partial heads (three from each of 50 addresses, their cap)
    while 150 clients from other addresses each get an answer."""

    def served(index: int) -> int:
        return connect(server, f"127.0.2.{index + 1}").get(f"/{index}").status

    with serving(head_timeout=30, max_connections_per_client=3) as server:
        slow = []
        for index in range(150):
            client = connect(server, f"127.0.1.{index // 3 + 1}")
            client.send(PARTIAL_HEAD.encode())
            slow.append(client.sock)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(served, range(150)))
        assert statuses == [200] * 150
        assert time.monotonic() - started < 2 * WAIT
        # The slow ones were held open, unanswered, all along, and each address is full.
        assert select.select(slow, [], [], 0)[0] == []
        assert_refused(connect(server, "127.0.1.1"))
