"""Which proxy target a request is for: the hostname of its `Host` header. No I/O."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"(?P<name>{_LABEL}(?:\.{_LABEL})*)(?::(?P<port>[0-9]{{1,5}}))?")
_MAX_HOSTNAME_LENGTH = 253
_MAX_PORT = 65535


class BadHostError(ValueError):
    """The request has no usable `Host` header."""


@dataclass(frozen=True, slots=True)
class RequestHost:
    """What a request's `Host` header names."""

    hostname: str
    """Lower-cased, without the port: the proxy target's key."""
    authority: str
    """Lower-cased `hostname[:port]`, as the client addressed it: the request's public
    origin is `<scheme>://<authority>`."""


def request_host(host_headers: Sequence[bytes]) -> RequestHost:
    """The hostname and authority of the request's one `Host` header.

    Raises `BadHostError` when there is no `Host` header or several (RFC 9112 §3.2), or when
    it is not `hostname[:port]` with a hostname of dot-separated letters, digits and '-'.
    IP literals in brackets name no proxy target and are refused the same way.
    """
    if len(host_headers) != 1:
        raise BadHostError("expected exactly one Host header")
    try:
        host = host_headers[0].decode("ascii").lower()
    except UnicodeDecodeError:
        raise BadHostError("the Host header is not ASCII") from None
    match = _HOST.fullmatch(host)
    if (
        match is None
        or len(match["name"]) > _MAX_HOSTNAME_LENGTH
        or (match["port"] is not None and not 0 < int(match["port"]) <= _MAX_PORT)
    ):
        raise BadHostError("the Host header is not a hostname with an optional port")
    return RequestHost(hostname=match["name"], authority=host)
