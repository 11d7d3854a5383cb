"""What the proxy sends upstream and back: the upstream URL and the headers of both
directions. No I/O.

Headers are ASGI pairs of lower-case names and raw values (bytes).

The gateway's credentials stay in the gateway: on a target with authentication, the
`Authorization` header (the bearer token the gateway checked) and the gateway's own cookies
(`gateway_*`) are removed, unless the target opts in with `forward_credentials`. The
identity the gateway established goes upstream as `X-Auth-User`, `X-Auth-Client` and
`X-Auth-Scopes`, set by the gateway only: every client-sent `X-Auth-*` header is dropped.

`Forwarded`, `X-Forwarded-*` and `X-Real-IP` say who the client is. From a trusted proxy
they are kept and extended with the peer's address; from anyone else they are dropped and
set from what the gateway saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..storage import AccessTokenRecord
from .routing import UnroutableError, checked_base_url_parts

Header = tuple[bytes, bytes]

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded; so is every
# `Proxy-*` header (credentials and settings for this proxy, not for the upstream).
HOP_BY_HOP: frozenset[bytes] = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
)
GATEWAY_COOKIE_PREFIX = "gateway_"
"""The names of the cookies the gateway sets start with this; they never reach an upstream
that did not opt in."""
_PROXY_PREFIX = b"proxy-"
_IDENTITY_PREFIX = b"x-auth-"
_FORWARDED_PREFIX = b"x-forwarded-"
_CLIENT_HEADERS = frozenset({b"forwarded", b"x-real-ip"})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as the proxy saw it."""

    client_address: str | None
    """The peer's IP address, `None` when the server does not know it."""
    scheme: str
    host: bytes
    """The `Host` header as the client sent it (with its port)."""
    trusted: bool = False
    """Whether the peer is a trusted proxy, whose client headers are believed."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the gateway knows of the request's credentials."""

    strip: bool
    """Whether the gateway's credentials are removed before forwarding."""
    token: AccessTokenRecord | None = None
    """The access token the gateway checked, if it checked one."""


@dataclass(frozen=True, slots=True)
class UpstreamURL:
    """Where a request is forwarded: an absolute http(s) URL, taken apart once."""

    scheme: str
    authority: str
    """`host[:port]` as the target's URL writes it: the upstream request's `Host`."""
    host: str
    """The hostname or IP address to connect to (lower-cased, IPv6 without brackets)."""
    port: int | None
    """`None`: the scheme's default port."""
    target: bytes
    """The request target, path and query, exactly as the proxy checked them and never
    re-encoded (an HTTP client's URL model would percent-encode `"`, `<` or `>` in a query):
    the upstream must see it byte for byte."""

    @property
    def origin(self) -> str:
        """`scheme://authority`: what logs may name (a path or query may carry secrets)."""
        return f"{self.scheme}://{self.authority}"

    def __str__(self) -> str:
        return f"{self.origin}{self.target.decode('latin-1')}"


def upstream_url(base_url: str, raw_path: bytes, query_string: bytes) -> UpstreamURL:
    """The URL to forward to: `base_url`'s path followed by the request's raw path and query,
    unchanged. `raw_path` must have passed `framing.check_request_target`.

    Raises `UnroutableError` for a base URL the proxy cannot forward to.
    """
    parts = checked_base_url_parts(base_url)
    target = parts.path.rstrip("/").encode("ascii") + raw_path
    if query_string:
        target += b"?" + query_string
    return UpstreamURL(parts.scheme, parts.netloc, parts.hostname or "", parts.port, target)


def message_headers(
    headers: list[Header], url: UpstreamURL, method: str, *, streamed: bool
) -> list[Header]:
    """`headers` completed with what the request message itself needs, which the HTTP
    client leaves to its caller (as httpx would set them): `Host`, first, the authority of
    `url`; and the body's framing, `Transfer-Encoding: chunked` for a `streamed` body of no
    declared length (the client's own coding is hop-by-hop), or `Content-Length: 0` for a
    POST, PUT or PATCH without one."""
    framed = any(name.lower() == b"content-length" for name, _ in headers)
    framing: list[Header] = []
    if streamed and not framed:
        framing.append((b"transfer-encoding", b"chunked"))
    elif not streamed and not framed and method in ("POST", "PUT", "PATCH"):
        framing.append((b"content-length", b"0"))
    return [(b"host", url.authority.encode("ascii")), *headers, *framing]


def end_to_end_headers(headers: Iterable[Header]) -> list[Header]:
    """`headers` without the hop-by-hop ones: those of RFC 9110, every `Proxy-*` header, and
    those the `Connection` header names."""
    pairs = [(name.lower(), name, value) for name, value in headers]
    named = {
        option.strip().lower().encode("latin-1")
        for lowered, _, value in pairs
        if lowered == b"connection"
        for option in value.decode("latin-1").split(",")
    }
    return [
        (name, value)
        for lowered, name, value in pairs
        if lowered not in HOP_BY_HOP
        and lowered not in named
        and not lowered.startswith(_PROXY_PREFIX)
    ]


def upstream_request_headers(
    headers: Iterable[Header],
    origin: Origin,
    credentials: Credentials,
    custom_headers: Mapping[str, str],
) -> list[Header]:
    """The headers to send upstream.

    Hop-by-hop headers and `Host` are dropped (`message_headers` sets the upstream's),
    and so are the gateway's credentials when `credentials.strip`, and every client-sent
    `X-Auth-*` header. Then come the client headers of `origin` and the identity of
    `credentials.token`. The target's custom headers come last and replace same-named ones;
    one that is not a valid header raises `UnroutableError`.
    """
    custom = _custom_headers(custom_headers)
    kept: list[Header] = []
    forwarded: list[Header] = []
    for name, value in end_to_end_headers(headers):
        lowered = name.lower()
        if lowered == b"host" or lowered in custom or lowered.startswith(_IDENTITY_PREFIX):
            continue
        if lowered in _CLIENT_HEADERS or lowered.startswith(_FORWARDED_PREFIX):
            if origin.trusted:
                forwarded.append((lowered, value))
            continue
        if credentials.strip and lowered == b"authorization":
            continue
        if credentials.strip and lowered == b"cookie":
            value = _without_gateway_cookies(value)
            if not value:
                continue
        kept.append((name, value))
    kept.extend(_client_headers(forwarded, origin))
    if credentials.token is not None:
        kept.extend(_identity_headers(credentials.token))
    kept.extend(custom.items())
    return kept


def _client_headers(received: list[Header], origin: Origin) -> list[Header]:
    """`Forwarded`, `X-Forwarded-*` and `X-Real-IP`: those `received` (from a trusted proxy
    only), extended with the peer, and set where missing."""
    peer = origin.client_address
    values: dict[bytes, list[bytes]] = {}
    for name, value in received:
        values.setdefault(name, []).append(value)
    headers: list[Header] = [
        (name, value) for name, value in received if name not in (b"forwarded", b"x-forwarded-for")
    ]
    forwarded_for = values.get(b"x-forwarded-for", [])
    forwarded = values.get(b"forwarded", [])
    if peer is not None:
        forwarded_for = [*forwarded_for, peer.encode("latin-1")]
    element = _forwarded_element(origin)
    headers.append((b"forwarded", b", ".join([*forwarded, element])))
    if forwarded_for:
        headers.append((b"x-forwarded-for", b", ".join(forwarded_for)))
    for name, own in (
        (b"x-forwarded-proto", origin.scheme.encode("latin-1")),
        (b"x-forwarded-host", origin.host),
        (b"x-real-ip", peer.encode("latin-1") if peer is not None else None),
    ):
        if name not in values and own is not None:
            headers.append((name, own))
    return headers


def _forwarded_element(origin: Origin) -> bytes:
    """This hop's element of RFC 7239 `Forwarded`."""
    if origin.client_address is None:
        node = "unknown"
    elif ":" in origin.client_address:  # IPv6: quoted and bracketed (RFC 7239 §6)
        node = f'"[{origin.client_address}]"'
    else:
        node = origin.client_address
    host = origin.host.decode("latin-1").replace("\\", "\\\\").replace('"', '\\"')
    return f'for={node};host="{host}";proto={origin.scheme}'.encode("latin-1")


def _identity_headers(token: AccessTokenRecord) -> list[Header]:
    headers = [(b"x-auth-client", token.client_id.encode())]
    if token.user is not None:
        # Users are printable and without whitespace; UTF-8 bytes are valid field bytes.
        headers.append((b"x-auth-user", token.user.encode()))
    headers.append((b"x-auth-scopes", token.scope.encode()))
    return headers


def _without_gateway_cookies(value: bytes) -> bytes:
    pairs = [pair.strip() for pair in value.split(b";")]
    prefix = GATEWAY_COOKIE_PREFIX.encode("ascii")
    return b"; ".join(pair for pair in pairs if pair and not pair.startswith(prefix))


def _custom_headers(custom_headers: Mapping[str, str]) -> dict[bytes, bytes]:
    custom: dict[bytes, bytes] = {}
    for name, value in custom_headers.items():
        if not _HEADER_NAME.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
            raise UnroutableError("a custom header of the proxy target is not a valid header")
        custom[name.lower().encode("ascii")] = value.encode("latin-1")
    return custom
