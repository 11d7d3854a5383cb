"""What is forwarded: the upstream URL and the headers of both directions."""

from __future__ import annotations

import pytest

from src.proxy.forwarding import (
    Credentials,
    Origin,
    UpstreamURL,
    end_to_end_headers,
    message_headers,
    upstream_request_headers,
    upstream_url,
)
from src.proxy.routing import UnroutableError
from src.storage import AccessTokenRecord

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
        ("http://up/b", b"/a%20b;p=1/%7E~", b"q=%2F&r", "http://up/b/a%20b;p=1/%7E~?q=%2F&r"),
    ],
)
def test_upstream_url(base: str, path: bytes, query: bytes, expected: str) -> None:
    assert str(upstream_url(base, path, query)) == expected


def test_the_upstream_url_is_taken_apart() -> None:
    assert upstream_url("https://Up.Example:8443/b/", b"/x", b"q") == UpstreamURL(
        "https", "Up.Example:8443", "up.example", 8443, b"/b/x?q"
    )
    assert upstream_url("http://[::1]/", b"/", b"").host == "::1"
    assert upstream_url("http://[::1]/", b"/", b"").origin == "http://[::1]"


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


def test_upstream_request_headers() -> None:
    headers = [
        (b"host", b"App.example.com:8443"),
        (b"authorization", b"Basic eDp5"),
        (b"x-forwarded-for", b"198.51.100.1"),
        (b"x-forwarded-proto", b"gopher"),
        (b"x-forwarded-host", b"evil.example"),
        (b"x-forwarded-port", b"1"),
        (b"forwarded", b"for=198.51.100.1"),
        (b"x-real-ip", b"198.51.100.1"),
        (b"x-auth-user", b"root"),
        (b"connection", b"close"),
        (b"x-env", b"from-client"),
        (b"accept", b"*/*"),
    ]
    assert upstream_request_headers(headers, ORIGIN, KEEP, {"X-Env": "prod", "X-Team": "a"}) == [
        # Without gateway authentication, `Authorization` is the upstream's business.
        (b"authorization", b"Basic eDp5"),
        (b"accept", b"*/*"),
        (b"forwarded", b'for=203.0.113.7;host="App.example.com:8443";proto=https'),
        (b"x-forwarded-for", b"203.0.113.7"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"App.example.com:8443"),
        (b"x-real-ip", b"203.0.113.7"),
        (b"x-env", b"prod"),
        (b"x-team", b"a"),
    ]


def test_a_trusted_proxys_client_headers_are_kept_and_extended() -> None:
    headers = [
        (b"X-Forwarded-For", b"198.51.100.1"),
        (b"x-forwarded-for", b"198.51.100.2"),
        (b"x-forwarded-proto", b"https"),
        (b"forwarded", b"for=198.51.100.1"),
        (b"x-real-ip", b"198.51.100.1"),
    ]
    origin = Origin("::1", "http", b"h", trusted=True)
    assert upstream_request_headers(headers, origin, KEEP, {}) == [
        (b"x-forwarded-proto", b"https"),
        (b"x-real-ip", b"198.51.100.1"),
        (b"forwarded", b'for=198.51.100.1, for="[::1]";host="h";proto=http'),
        (b"x-forwarded-for", b"198.51.100.1, 198.51.100.2, ::1"),
        (b"x-forwarded-host", b"h"),
    ]


def test_the_gateways_credentials_stay_in_the_gateway() -> None:
    token = AccessTokenRecord.model_validate(
        {
            "client_id": "cli-1",
            "user": "alice",
            "scope": "read write",
            "family_id": "f1",
            "issued_at": "2026-01-01T00:00:00Z",
            "expires_at": "2099-01-01T00:00:00Z",
        }
    )
    headers = [
        (b"authorization", b"Bearer secret"),
        (b"cookie", b"gateway_session=s; theme=dark;gateway_csrf=c"),
        (b"cookie", b"gateway_only=1"),
        (b"x-auth-scopes", b"admin"),
    ]
    stripped = upstream_request_headers(headers, ORIGIN, Credentials(strip=True, token=token), {})
    assert [
        pair for pair in stripped if not pair[0].startswith((b"x-forw", b"forw", b"x-real"))
    ] == [
        (b"cookie", b"theme=dark"),
        (b"x-auth-client", b"cli-1"),
        (b"x-auth-user", b"alice"),
        (b"x-auth-scopes", b"read write"),
    ]
    kept = upstream_request_headers(headers, ORIGIN, Credentials(strip=False, token=token), {})
    assert kept[:3] == headers[:3]


def test_without_a_client_address_nothing_is_invented() -> None:
    origin = Origin(client_address=None, scheme="http", host=b"h")
    assert upstream_request_headers([], origin, KEEP, {}) == [
        (b"forwarded", b'for=unknown;host="h";proto=http'),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-host", b"h"),
    ]


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


@pytest.mark.parametrize(
    ("base", "path", "query", "target"),
    [
        ("http://up/b", b"/a%20b;p=1/%7E~", b"", b"/b/a%20b;p=1/%7E~"),
        ("http://up", b"/x", b'q="<>"&r=%2F', b'/x?q="<>"&r=%2F'),
        ("http://up/", b"/", b"", b"/"),
    ],
)
def test_the_request_target_is_sent_as_written(
    base: str, path: bytes, query: bytes, target: bytes
) -> None:
    assert upstream_url(base, path, query).target == target


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://up:8080/a", b"up:8080"),
        ("https://Up.example/a", b"Up.example"),
        ("http://[::1]:9000/", b"[::1]:9000"),
    ],
)
def test_the_host_header_comes_first_and_names_the_upstream(url: str, host: bytes) -> None:
    headers = [(b"accept", b"*/*")]
    upstream = upstream_url(url, b"/", b"")
    assert message_headers(headers, upstream, "GET", streamed=False) == [
        (b"host", host),
        *headers,
    ]


@pytest.mark.parametrize(
    ("method", "headers", "streamed", "framing"),
    [
        ("GET", [], False, []),
        ("DELETE", [], False, []),
        ("POST", [], False, [(b"content-length", b"0")]),
        ("PUT", [], False, [(b"content-length", b"0")]),
        ("PATCH", [], False, [(b"content-length", b"0")]),
        ("POST", [], True, [(b"transfer-encoding", b"chunked")]),
        ("GET", [], True, [(b"transfer-encoding", b"chunked")]),
        ("POST", [(b"content-length", b"5")], True, []),
        ("POST", [(b"Content-Length", b"0")], False, []),
    ],
)
def test_the_body_is_framed_as_declared_or_chunked(
    method: str, headers: list[tuple[bytes, bytes]], streamed: bool, framing: list[object]
) -> None:
    upstream = upstream_url("http://up/", b"/", b"")
    assert message_headers(headers, upstream, method, streamed=streamed) == [
        (b"host", b"up"),
        *headers,
        *framing,
    ]
