"""What the proxy sends upstream and back: the upstream URL and the headers of both
directions. No I/O.

Headers are ASGI pairs of lower-case names and raw values (bytes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from .routing import UnroutableError, checked_base_url

Header = tuple[bytes, bytes]

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded; so is every
# `Proxy-*` header (credentials and settings for this proxy, not for the upstream).
HOP_BY_HOP: frozenset[bytes] = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
)
_PROXY_PREFIX = b"proxy-"
_FORWARDED = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


class BadRequestTargetError(ValueError):
    """The request target is not an origin-form path (`*`, an absolute URL, ...)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as the proxy saw it."""

    client_address: str | None
    """The peer's IP address, `None` when the server does not know it."""
    scheme: str
    host: bytes
    """The `Host` header as the client sent it (with its port)."""


def upstream_url(base_url: str, raw_path: bytes, query_string: bytes) -> str:
    """The URL to forward to: `base_url`'s path followed by the request's raw path and query.

    Raises `BadRequestTargetError` for a path that does not start with `/`, and
    `UnroutableError` for a base URL the proxy cannot forward to.
    """
    if not raw_path.startswith(b"/"):
        raise BadRequestTargetError("only origin-form request targets are forwarded")
    parts = urlsplit(checked_base_url(base_url))
    path = parts.path.rstrip("/") + raw_path.decode("latin-1")
    return urlunsplit((parts.scheme, parts.netloc, path, query_string.decode("latin-1"), ""))


def end_to_end_headers(headers: Iterable[Header]) -> list[Header]:
    """`headers` without the hop-by-hop ones: those of RFC 9110, every `Proxy-*` header, and
    those the `Connection` header names."""
    pairs = list(headers)
    named = {
        option.strip().lower().encode("latin-1")
        for name, value in pairs
        if name.lower() == b"connection"
        for option in value.decode("latin-1").split(",")
    }
    dropped = HOP_BY_HOP | named
    return [
        (name, value)
        for name, value in pairs
        if name.lower() not in dropped and not name.lower().startswith(_PROXY_PREFIX)
    ]


def upstream_request_headers(
    headers: Iterable[Header], origin: Origin, custom_headers: Mapping[str, str]
) -> list[Header]:
    """The headers to send upstream.

    Hop-by-hop headers and `Host` are dropped (the HTTP client sets the upstream's `Host`).
    `X-Forwarded-For` gets the client's address appended; `X-Forwarded-Proto` and
    `X-Forwarded-Host` are replaced by what this proxy saw, since a client could send
    anything there. The target's custom headers come last and replace same-named ones; one
    that is not a valid header raises `UnroutableError`.
    """
    custom = _custom_headers(custom_headers)
    pairs = end_to_end_headers(headers)
    forwarded_for = [value for name, value in pairs if name.lower() == b"x-forwarded-for"]
    if origin.client_address is not None:
        forwarded_for.append(origin.client_address.encode("latin-1"))
    kept = [
        (name, value)
        for name, value in pairs
        if name.lower() not in _FORWARDED and name.lower() != b"host" and name.lower() not in custom
    ]
    if forwarded_for:
        kept.append((b"x-forwarded-for", b", ".join(forwarded_for)))
    kept.append((b"x-forwarded-proto", origin.scheme.encode("latin-1")))
    kept.append((b"x-forwarded-host", origin.host))
    kept.extend(custom.items())
    return kept


def _custom_headers(custom_headers: Mapping[str, str]) -> dict[bytes, bytes]:
    custom: dict[bytes, bytes] = {}
    for name, value in custom_headers.items():
        if not _HEADER_NAME.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
            raise UnroutableError("a custom header of the proxy target is not a valid header")
        custom[name.lower().encode("ascii")] = value.encode("latin-1")
    return custom
