"""What is forwarded: the upstream URL and the headers of both directions."""

from __future__ import annotations

import pytest

from src.proxy.forwarding import (
    Credentials,
    Origin,
    end_to_end_headers,
    upstream_request_headers,
    upstream_url,
)
from src.proxy.routing import UnroutableError

ORIGIN = Origin(client_address="203.0.113.7", scheme="https", host=b"App.example.com:8443")
KEEP = Credentials(strip=False)


@pytest.mark.parametrize(
    ("base", "path", "query", "expected"),
    [
        ("http://up:8080", b"/a/b", b"", "http://up:8080/a/b"),
        ("http://up:8080/", b"/a", b"x=1&y=%20", "http://up:8080/a?x=1&y=%20"),
        ("https://up/base/", b"/a", b"", "https://up/base/a"),
        ("https://up/base", b"/", b"", "https://up/base/"),
        ("http://up", b"//token", b"", "http://up//token"),
        ("http://up", b"/%2Ftoken", b"", "http://up/%2Ftoken"),
    ],
)
def test_upstream_url(base: str, path: bytes, query: bytes, expected: str) -> None:
    assert upstream_url(base, path, query) == expected


def test_upstream_url_needs_a_usable_base() -> None:
    with pytest.raises(UnroutableError):
        upstream_url("unix:///tmp/x", b"/a", b"")


def test_end_to_end_headers_drop_hop_by_hop_ones() -> None:
    headers = [
        (b"connection", b"keep-alive, X-Secret-Hop , upgrade"),
        (b"keep-alive", b"timeout=5"),
        (b"te", b"trailers"),
        (b"trailer", b"x"),
        (b"transfer-encoding", b"chunked"),
        (b"upgrade", b"websocket"),
        (b"proxy-authorization", b"Basic eDp5"),
        (b"proxy-authenticate", b"Basic"),
        (b"proxy-connection", b"keep-alive"),
        (b"x-secret-hop", b"1"),
        (b"content-type", b"text/plain"),
        (b"content-length", b"5"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]
    assert end_to_end_headers(headers) == [
        (b"content-type", b"text/plain"),
        (b"content-length", b"5"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]


CLIENT_HEADERS = [
    (b"host", b"App.example.com:8443"),
    (b"authorization", b"Bearer t"),
    (b"x-forwarded-for", b"198.51.100.1"),
    (b"x-forwarded-for", b"198.51.100.2"),
    (b"x-forwarded-proto", b"gopher"),
    (b"x-forwarded-host", b"evil.example"),
    (b"connection", b"close"),
    (b"x-env", b"from-client"),
    (b"accept", b"*/*"),
]


def test_upstream_request_headers_of_an_untrusted_client() -> None:
    custom = {"X-Env": "prod", "X-Team": "a"}
    assert upstream_request_headers(CLIENT_HEADERS, ORIGIN, KEEP, custom) == [
        (b"authorization", b"Bearer t"),
        (b"accept", b"*/*"),
        (b"forwarded", b'for=203.0.113.7;host="App.example.com:8443";proto=https'),
        (b"x-forwarded-for", b"203.0.113.7"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"App.example.com:8443"),
        (b"x-real-ip", b"203.0.113.7"),
        (b"x-env", b"prod"),
        (b"x-team", b"a"),
    ]


def test_upstream_request_headers_of_a_trusted_proxy() -> None:
    origin = Origin("203.0.113.7", "https", b"App.example.com:8443", trusted=True)
    assert upstream_request_headers(CLIENT_HEADERS, origin, KEEP, {}) == [
        (b"authorization", b"Bearer t"),
        (b"x-env", b"from-client"),
        (b"accept", b"*/*"),
        (b"x-forwarded-proto", b"gopher"),
        (b"x-forwarded-host", b"evil.example"),
        (b"forwarded", b'for=203.0.113.7;host="App.example.com:8443";proto=https'),
        (b"x-forwarded-for", b"198.51.100.1, 198.51.100.2, 203.0.113.7"),
        (b"x-real-ip", b"203.0.113.7"),
    ]


def test_without_a_client_address_nothing_is_invented() -> None:
    origin = Origin(client_address=None, scheme="http", host=b"h")
    assert upstream_request_headers([], origin, KEEP, {}) == [
        (b"forwarded", b'for=unknown;host="h";proto=http'),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-host", b"h"),
    ]


def test_an_ipv6_client_is_quoted_in_forwarded() -> None:
    origin = Origin(client_address="2001:db8::1", scheme="http", host=b"h")
    headers = dict(upstream_request_headers([], origin, KEEP, {}))
    assert headers[b"forwarded"] == b'for="[2001:db8::1]";host="h";proto=http'
    assert headers[b"x-forwarded-for"] == b"2001:db8::1"


@pytest.mark.parametrize(
    "custom",
    [
        {"X-A": "line\r\nX-Injected: 1"},
        {"X-A": "nul\x00"},
        {"Bad Name": "v"},
        {"": "v"},
        {"X": "€"},
    ],
    ids=ascii,
)
def test_invalid_custom_headers_are_refused(custom: dict[str, str]) -> None:
    with pytest.raises(UnroutableError, match="custom header"):
        upstream_request_headers([], ORIGIN, KEEP, custom)
