"""`request_host`: the proxy target a `Host` header names, and the authority it addressed."""

from __future__ import annotations

import pytest

from src.proxy.hosts import BadHostError, request_host


@pytest.mark.parametrize(
    ("header", "hostname"),
    [
        (b"localhost", "localhost"),
        (b"LocalHost:8080", "localhost"),
        (b"App.Example.COM", "app.example.com"),
        (b"app.example.com:443", "app.example.com"),
        (b"127.0.0.1:9000", "127.0.0.1"),
        (b"a-b.c", "a-b.c"),
        (b"x:65535", "x"),
    ],
)
def test_valid_hosts(header: bytes, hostname: str) -> None:
    assert request_host([header]).hostname == hostname


@pytest.mark.parametrize(
    "header",
    [
        b"",
        b":80",
        b"example.com:",
        b"example.com:0",
        b"example.com:65536",
        b"example.com:99999",
        b"example.com:8o",
        b"example.com:80:80",
        b"[::1]:8080",
        b"[::1]",
        b"exa mple.com",
        b"example.com/path",
        b"user@example.com",
        b"-example.com",
        b"example-.com",
        b"example..com",
        b"example.com.",
        b".example.com",
        b"ex_ample.com",
        b"exampl\xc3\xa9.com",
        b"\xff",
        b"example.com\r\nX-Injected: 1",
        b"a" * 64 + b".com",
        b".".join([b"a" * 63] * 4 + [b"b"]),
        b"*",
    ],
    ids=ascii,
)
def test_invalid_hosts(header: bytes) -> None:
    with pytest.raises(BadHostError):
        request_host([header])


@pytest.mark.parametrize("headers", [[], [b"a.com", b"a.com"], [b"a.com", b"b.com"]])
def test_exactly_one_host_header(headers: list[bytes]) -> None:
    with pytest.raises(BadHostError, match="exactly one Host header"):
        request_host(headers)


def test_longest_valid_hostname() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(name) == 253
    assert request_host([name.encode()]).hostname == name


@pytest.mark.parametrize(
    ("header", "authority"),
    [(b"LocalHost:8080", "localhost:8080"), (b"App.Example.COM", "app.example.com")],
)
def test_authority_keeps_the_port(header: bytes, authority: str) -> None:
    assert request_host([header]).authority == authority
