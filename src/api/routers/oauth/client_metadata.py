"""What a client asks to be registered with (RFC 7591 §2), checked against what the gateway
supports; and the registration response (§3.2.1). No I/O.

The policy, where RFC 7591 leaves it to the server:

- Redirect URIs are `https`, or `http` on a loopback host (`127.0.0.1`, `[::1]`,
  `localhost`: RFC 8252 §7.3, what native MCP clients listen on), absolute, without a
  fragment (RFC 6749 §3.1.2) or user information; anything else is `invalid_redirect_uri`.
- Grant types are those a client may register for itself: `authorization_code` (the RFC's
  default when `grant_types` is omitted; it needs at least one redirect URI),
  `refresh_token` and the device grant (RFC 8628; a user approves each sign-in).
  `client_credentials` gives a token without any user signing in, so
  anyone who could register such a client could reach every protected target: those
  clients are registered by an administrator (`python -m src oauth register-client`).
- Response types: `code` for a client of the authorization code grant, else none; what
  is asked for is replaced by that (§3.2.1 lets the server replace values), and the
  response says so.
- `token_endpoint_auth_method` is `client_secret_basic` (the default), `client_secret_post`
  or `none` (a public client: no secret is issued).
- The size of the whole request is bounded (`OAuthSettings.max_registration_bytes`), the
  client's name as every client's is (`OAuthClient.name`).
- Metadata the gateway does not use (`client_uri`, `logo_uri`, `contacts`, ...) is ignored,
  as §2 asks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ....storage import OAuthClient, OAuthGrantType, TokenEndpointAuthMethod

JSON_CONTENT_TYPE = "application/json"
REGISTRABLE_GRANT_TYPES = (
    OAuthGrantType.AUTHORIZATION_CODE,
    OAuthGrantType.REFRESH_TOKEN,
    OAuthGrantType.DEVICE_CODE,
)
DEFAULT_CLIENT_NAME = "unnamed client"
"""The name of a client that registered without `client_name`."""
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# Printable ASCII, no space: a URI with anything else is not one a client would redirect to.
_URI_CHARACTERS = re.compile(r"[\x21-\x7e]+")


class ClientMetadataError(ValueError):
    """The registration request is refused; `error` is the RFC 7591 §3.2.2 code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def _invalid(description: str) -> ClientMetadataError:
    return ClientMetadataError("invalid_client_metadata", description)


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """A registration request the gateway accepts."""

    name: str
    grant_types: tuple[OAuthGrantType, ...]
    redirect_uris: tuple[str, ...]
    scope: str
    auth_method: TokenEndpointAuthMethod


def check_redirect_uri(uri: object) -> str:
    """`uri` if a client may register it as a redirect URI, else `ClientMetadataError`
    (`invalid_redirect_uri`)."""
    if not isinstance(uri, str) or not _URI_CHARACTERS.fullmatch(uri):
        raise ClientMetadataError(
            "invalid_redirect_uri", "a redirect URI is a string of printable ASCII"
        )
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ClientMetadataError("invalid_redirect_uri", "a redirect URI is malformed") from None
    if "#" in uri or "@" in parts.netloc:
        raise ClientMetadataError(
            "invalid_redirect_uri", "a redirect URI has no fragment and no user information"
        )
    secure = parts.scheme == "https" and bool(parts.hostname)
    loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    if not (secure or loopback):
        raise ClientMetadataError(
            "invalid_redirect_uri",
            "a redirect URI must be https, or http on a loopback host "
            "(127.0.0.1, [::1], localhost)",
        )
    return uri


def _strings(document: dict[str, Any], name: str) -> list[str] | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid(f"{name} must be an array of strings")
    return value


def _grant_types(document: dict[str, Any]) -> tuple[OAuthGrantType, ...]:
    requested = _strings(document, "grant_types")
    if requested is None:
        requested = [OAuthGrantType.AUTHORIZATION_CODE.value]  # RFC 7591 §2
    if not requested:
        raise _invalid("grant_types must name at least one grant type")
    if OAuthGrantType.CLIENT_CREDENTIALS.value in requested:
        raise _invalid(
            "client_credentials clients are registered by an administrator, not dynamically"
        )
    registrable = {grant.value: grant for grant in REGISTRABLE_GRANT_TYPES}
    unsupported = sorted(set(requested) - set(registrable))
    if unsupported:
        raise _invalid(
            f"unsupported grant type {unsupported[0]!r:.60}; supported: " + ", ".join(registrable)
        )
    return tuple(dict.fromkeys(registrable[grant] for grant in requested))


def _auth_method(document: dict[str, Any]) -> TokenEndpointAuthMethod:
    value = document.get("token_endpoint_auth_method", "client_secret_basic")
    try:
        return TokenEndpointAuthMethod(value)
    except ValueError:
        supported = ", ".join(method.value for method in TokenEndpointAuthMethod)
        raise _invalid(f"unsupported token_endpoint_auth_method; supported: {supported}") from None


def _name(document: dict[str, Any]) -> str:
    # Its length is the client record's to bound (`OAuthClient.name`).
    name = document.get("client_name", DEFAULT_CLIENT_NAME)
    if not isinstance(name, str) or not name.isprintable():
        raise _invalid("client_name must be a string of printable characters")
    return name


def parse_client_metadata(content_type: str | None, body: bytes) -> ClientRequest:
    """The registration the JSON `body` asks for, or `ClientMetadataError`. The body's size
    is the endpoint's to limit; errors never quote it."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != JSON_CONTENT_TYPE:
        raise _invalid(f"the request body must be {JSON_CONTENT_TYPE}")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise _invalid("the request body is not well-formed JSON") from None
    if not isinstance(document, dict):
        raise _invalid("the request body must be a JSON object")
    scope = document.get("scope", "")
    if not isinstance(scope, str):
        raise _invalid("scope must be a string")
    redirect_uris = _strings(document, "redirect_uris") or []
    auth_method = _auth_method(document)
    grant_types = _grant_types(document)
    if OAuthGrantType.AUTHORIZATION_CODE in grant_types and not redirect_uris:
        raise ClientMetadataError(
            "invalid_redirect_uri", "the authorization_code grant needs a redirect URI"
        )
    return ClientRequest(
        name=_name(document),
        grant_types=grant_types,
        redirect_uris=tuple(dict.fromkeys(check_redirect_uri(uri) for uri in redirect_uris)),
        scope=scope,
        auth_method=auth_method,
    )


def registration_response(client: OAuthClient, client_secret: str | None) -> dict[str, Any]:
    """The body of the 201 answer (RFC 7591 §3.2.1): the client's id, its secret (shown only
    now) for a confidential client, and the metadata as registered."""
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
    }
    if client_secret is not None:
        body["client_secret"] = client_secret
        body["client_secret_expires_at"] = 0  # never
    body.update(
        {
            "client_name": client.name,
            "redirect_uris": client.redirect_uris,
            "grant_types": [grant.value for grant in client.grant_types],
            "response_types": (
                ["code"] if client.allows(OAuthGrantType.AUTHORIZATION_CODE) else []
            ),
            "token_endpoint_auth_method": client.token_endpoint_auth_method.value,
        }
    )
    if client.scope:
        body["scope"] = client.scope
    return body
