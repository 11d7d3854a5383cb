"""Whether a request needs a bearer token, which token it presents, and the challenge a
refused request gets. No I/O: checking the token is the storage's job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..storage import ProxyTarget
from .auth_paths import is_auth_excluded

CHECKED_TOKEN = "gateway.checked_token"
"""The ASGI scope key under which the proxy hands the gateway's in-process API the
`AccessTokenRecord` it checked (`None`: it checked none), sparing the API a second lookup.
Only the proxy writes scope keys: no client can set it."""


@dataclass(frozen=True, slots=True)
class BearerCredentials:
    """What a request's `Authorization` header offers."""

    token: str | None
    """The bearer token, or `None` when the request carries none usable."""
    presented: bool
    """Whether the request carried an `Authorization` header at all."""


def requires_token(target: ProxyTarget, raw_path: str) -> bool:
    """Whether a request for `raw_path` (undecoded, no query) needs a valid access token."""
    return target.auth_enabled and not is_auth_excluded(raw_path, target.auth_excluded_paths)


def bearer_credentials(authorization_headers: Sequence[bytes]) -> BearerCredentials:
    """The bearer token of the request's one `Authorization: Bearer <token>` header.

    Several `Authorization` headers, another scheme, or an empty token give no token, but
    count as presented (the challenge then says `invalid_token`).
    """
    if not authorization_headers:
        return BearerCredentials(token=None, presented=False)
    if len(authorization_headers) > 1:
        return BearerCredentials(token=None, presented=True)
    scheme, _, token = authorization_headers[0].decode("latin-1").partition(" ")
    token = token.strip(" ")
    if scheme.lower() != "bearer" or not token:
        return BearerCredentials(token=None, presented=True)
    return BearerCredentials(token=token, presented=True)


def challenge(credentials: BearerCredentials, resource_metadata_url: str | None) -> str:
    """The `WWW-Authenticate` value of a 401 answer: no error code when the request offered
    no credentials, `invalid_token` when it offered unusable ones (RFC 6750 §3); and the
    URL of the resource's metadata (RFC 9728 §5.1), which tells the client where to sign in.

    `resource_metadata_url` must hold no `"` or `\\` (`resource_metadata.metadata_url` of a
    validated host has none); `None` leaves the parameter out.
    """
    parameters = ['error="invalid_token"'] if credentials.presented else []
    if resource_metadata_url is not None:
        parameters.append(f'resource_metadata="{resource_metadata_url}"')
    return f"Bearer {', '.join(parameters)}" if parameters else "Bearer"
