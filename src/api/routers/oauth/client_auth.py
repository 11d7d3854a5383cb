"""Which credentials a client authenticates with (RFC 6749 §2.3.1). No I/O.

A client sends its id and secret either in an `Authorization: Basic` header (each
form-urlencoded, then joined by ':' and base64-encoded) or as the `client_id` and
`client_secret` form parameters, never both. An `Authorization: Bearer` header is not a
client authentication method and is ignored here: a client refreshing an expired access
token may well still send it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote_plus


class ClientAuthError(ValueError):
    """The request's client authentication is malformed or ambiguous (`invalid_request`)."""


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """A client id and the secret offered for it."""

    client_id: str
    client_secret: str = field(repr=False)
    via_header: bool
    """Whether they came in an `Authorization: Basic` header."""


def _basic(header: str) -> ClientCredentials:
    try:
        decoded = base64.b64decode(header.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error):
        raise ClientAuthError("the Basic credentials are not valid base64 of UTF-8") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise ClientAuthError("the Basic credentials lack the ':' between id and secret")
    return ClientCredentials(unquote_plus(client_id), unquote_plus(secret), via_header=True)


def client_credentials(
    authorization_headers: Sequence[str], form: Mapping[str, str]
) -> ClientCredentials | None:
    """The credentials the client offers, or `None` when it offers none.

    Raises `ClientAuthError` for several `Authorization` headers, malformed Basic
    credentials, Basic credentials together with a `client_secret` parameter, or a
    `client_id` parameter that contradicts the Basic credentials.
    """
    if len(authorization_headers) > 1:
        raise ClientAuthError("the request has several Authorization headers")
    basic = None
    if authorization_headers:
        scheme, _, rest = authorization_headers[0].partition(" ")
        if scheme.lower() == "basic":
            basic = _basic(rest.strip(" "))
    if basic is not None:
        if "client_secret" in form:
            raise ClientAuthError("the client authenticated with more than one method")
        if form.get("client_id", basic.client_id) != basic.client_id:
            raise ClientAuthError("client_id differs from the Basic credentials")
        return basic
    if "client_id" in form and "client_secret" in form:
        return ClientCredentials(form["client_id"], form["client_secret"], via_header=False)
    return None
