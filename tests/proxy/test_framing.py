"""Strict HTTP for what the proxy forwards: framing and request targets (no I/O)."""

from __future__ import annotations

import pytest

from src.proxy.forwarding import upstream_url
from src.proxy.framing import (
    BadRequestError,
    RequestHead,
    check_framing,
    check_request_target,
    request_head,
)


def test_the_head_holds_every_value_of_the_fields_the_proxy_reads() -> None:
    headers = [
        (b"Host", b"a.example"),
        (b"accept", b"*/*"),
        (b"authorization", b"Bearer x"),
        (b"HOST", b"b.example"),
        (b"Content-Length", b"5"),
        (b"transfer-encoding", b"chunked"),
    ]
    assert request_head(headers) == RequestHead(
        host=(b"a.example", b"b.example"),
        authorization=(b"Bearer x",),
        content_length=(b"5",),
        transfer_encoding=(b"chunked",),
    )
    assert request_head([(b"accept", b"*/*")]) == RequestHead()


@pytest.mark.parametrize(
    ("head", "has_body"),
    [
        (RequestHead(), False),
        (RequestHead(host=(b"a",)), False),
        (RequestHead(content_length=(b"0",)), True),
        (RequestHead(transfer_encoding=(b"chunked",)), True),
    ],
)
def test_a_body_is_declared_by_a_length_or_a_coding(head: RequestHead, has_body: bool) -> None:
    assert head.has_body is has_body


@pytest.mark.parametrize(
    "names",
    [
        [b"content-length", b"transfer-encoding"],
        [b"Transfer-Encoding", b"host", b"Content-Length"],
        [b"CONTENT-LENGTH", b"content-length", b"TRANSFER-ENCODING"],
    ],
)
def test_both_body_lengths_are_refused(names: list[bytes]) -> None:
    with pytest.raises(BadRequestError, match="both Content-Length and Transfer-Encoding"):
        check_framing(request_head((name, b"1") for name in names))


@pytest.mark.parametrize(
    "names", [[], [b"content-length"], [b"transfer-encoding"], [b"content-type", b"host"]]
)
def test_one_body_length_is_fine(names: list[bytes]) -> None:
    check_framing(request_head((name, b"1") for name in names))


@pytest.mark.parametrize(
    ("path", "query", "reason"),
    [
        (b"*", b"", "origin-form"),
        (b"http://evil.example/x", b"", "origin-form"),
        (b"", b"", "origin-form"),
        (b"a/b", b"", "origin-form"),
        (b"/a#b", b"", "fragment"),
        (b"/a", b"x=1#b", "fragment"),
        (b"/a%2Fb", b"", "encoded slashes"),
        (b"/a%2fb", b"", "encoded slashes"),
        (b"/a%5cb", b"", "encoded slashes"),
        (b"/a%5Cb", b"", "encoded slashes"),
        (b"/a\\b", b"", "encoded slashes"),
        (b"/..", b"", "dot segments"),
        (b"/.", b"", "dot segments"),
        (b"/a/../b", b"", "dot segments"),
        (b"/a/./b", b"", "dot segments"),
        (b"/a/%2e%2e/b", b"", "dot segments"),
        (b"/a/%2E./b", b"", "dot segments"),
        (b"/a/.%2E", b"", "dot segments"),
        (b"/a/%2e/b", b"", "dot segments"),
        (b"/a/..;p=1/b", b"", "dot segments"),
        (b"/a/%2e;x/b", b"", "dot segments"),
    ],
)
def test_targets_that_servers_read_differently_are_refused(
    path: bytes, query: bytes, reason: str
) -> None:
    with pytest.raises(BadRequestError, match=reason):
        check_request_target(path, query)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (b"/", b""),
        (b"/a%20b;p=1/%7E~/x", b'q=%zz&r="<>|^{}`&s=%2F/../'),
        (b"//a//b/", b""),
        (b"/...", b""),
        (b"/a.b/.c/d./..e", b""),
        (b"/%2e%2e%2e", b""),
        (b"/a;..", b""),
    ],
)
def test_unusual_but_unambiguous_targets_pass(path: bytes, query: bytes) -> None:
    check_request_target(path, query)


@pytest.mark.parametrize(
    ("base", "path", "query", "target"),
    [
        ("http://up:8080", b"/a/b", b"", b"/a/b"),
        ("http://up/base/", b"/a%20b;p=1/%7E~/x", b"", b"/base/a%20b;p=1/%7E~/x"),
        ("https://up/base", b"/", b'q="<>`{}|^&r=%2F', b'/base/?q="<>`{}|^&r=%2F'),
        ("http://up/%7Ebase/", b"/x", b"a", b"/%7Ebase/x?a"),
    ],
)
def test_the_upstream_request_target_is_the_checked_one_below_the_base_path(
    base: str, path: bytes, query: bytes, target: bytes
) -> None:
    check_request_target(path, query)
    assert upstream_url(base, path, query).target == target
