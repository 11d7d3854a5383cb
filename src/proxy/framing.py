"""Strict HTTP for what the proxy forwards (RFC 9112, RFC 3986). No I/O.

The proxy forwards the request target exactly as received, so it must refuse what servers
behind it would read differently from the proxy, rather than rewrite it:

- both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.1: the classic request
  smuggling set-up);
- a request target that is not origin-form (`*`, an absolute URL);
- a fragment (`#`): it never belongs in a request target, and a client library would drop
  what follows it;
- dot segments (`.`, `..`, also percent-encoded or before `;` parameters): resolved by some
  servers and not others, they could climb out of the target's base path;
- encoded slashes or backslashes (`%2F`, `%5C`) and raw backslashes: one server's
  separator is another's file-name character.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_SEPARATOR_ESCAPES = ("%2f", "%5c")


class BadRequestError(ValueError):
    """The request is refused with 400; the message says why, without the request's
    details."""


@dataclass(frozen=True, slots=True)
class RequestHead:
    """The header fields the proxy reads of a request, each with every value it came with
    (in order)."""

    host: tuple[bytes, ...] = ()
    authorization: tuple[bytes, ...] = ()
    content_length: tuple[bytes, ...] = ()
    transfer_encoding: tuple[bytes, ...] = ()

    @property
    def has_body(self) -> bool:
        """Whether the request declares a body: a length or a transfer coding."""
        return bool(self.content_length or self.transfer_encoding)


_READ_FIELDS = {
    b"host": "host",
    b"authorization": "authorization",
    b"content-length": "content_length",
    b"transfer-encoding": "transfer_encoding",
}


def request_head(headers: Iterable[tuple[bytes, bytes]]) -> RequestHead:
    """The `RequestHead` of ASGI header pairs, in one pass (names of any case)."""
    fields: dict[str, list[bytes]] = {}
    for name, value in headers:
        field = _READ_FIELDS.get(name.lower())
        if field is not None:
            fields.setdefault(field, []).append(value)
    return RequestHead(**{field: tuple(values) for field, values in fields.items()})


def check_framing(head: RequestHead) -> None:
    """Raise `BadRequestError` for a request whose body length is ambiguous."""
    if head.content_length and head.transfer_encoding:
        raise BadRequestError("a request must not have both Content-Length and Transfer-Encoding")


def check_request_target(raw_path: bytes, query_string: bytes) -> None:
    """Raise `BadRequestError` unless the request target, as received (`raw_path` and the
    `query_string` after its `?`), is an origin-form path the proxy forwards unchanged."""
    if not raw_path.startswith(b"/"):
        raise BadRequestError("only origin-form request targets are forwarded")
    path = raw_path.decode("latin-1")
    if "#" in path or b"#" in query_string:
        raise BadRequestError("a request target must not have a fragment")
    lowered = path.lower()
    if "\\" in path or any(escape in lowered for escape in _SEPARATOR_ESCAPES):
        raise BadRequestError("a request path must not hold encoded slashes or backslashes")
    for segment in lowered.split("/"):
        name = segment.split(";", 1)[0].replace("%2e", ".")
        if name in (".", ".."):
            raise BadRequestError("a request path must not hold dot segments")
