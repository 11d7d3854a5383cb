"""Whether a request needs a bearer token, which token it presents, and the challenge a
refused request gets. No I/O: checking the token is the storage's job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..storage import AccessTokenRecord, ProxyTarget
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


def audience_matches(token: AccessTokenRecord, target: ProxyTarget) -> bool:
    """Whether the token is for this target (RFC 8707): its audience is the target's
    hostname, or it has none. Tokens without an audience (client credentials, tokens an
    administrator minted, grants that named no resource, records from before audiences)
    stay valid on every auth-enabled target, as every token was before: the operators'
    scripts that hold them keep working, and the replay such a token allows is bounded
    since the gateway no longer forwards the tokens it checked to any upstream."""
    return token.audience is None or token.audience == target.hostname


def admitted(token: AccessTokenRecord, target: ProxyTarget) -> bool:
    """Whether the target admits the token's user and scope (`allowed_users`,
    `required_scopes`); a token of a client acting for itself has no user, so a target
    that names its users does not admit it."""
    if target.allowed_users is not None and token.user not in target.allowed_users:
        return False
    return set(target.required_scopes) <= set(token.scope.split())


def insufficient_scope(target: ProxyTarget, resource_metadata_url: str) -> str:
    """The `WWW-Authenticate` value of a 403 answer (RFC 6750 §3.1): the token is valid,
    but this target does not admit it; the scope it needs, when it names one."""
    parameters = ['error="insufficient_scope"']
    if target.required_scopes:
        parameters.append(f'scope="{" ".join(target.required_scopes)}"')
    parameters.append(f'resource_metadata="{resource_metadata_url}"')
    return f"Bearer {', '.join(parameters)}"
