"""The `WWW-Authenticate` challenge of the API's own 401 answers, as the proxy gives it:
`Bearer`, `error="invalid_token"` when a token was presented, and the URL of the
protected-resource metadata of the host the request addressed (RFC 9728 §5.1).

Shared by the routers (which must not know each other).
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from ..proxy.authorization import bearer_credentials, challenge
from ..proxy.hosts import BadHostError, request_host
from ..proxy.resource_metadata import metadata_url, public_origin


def authorization_headers(connection: HTTPConnection) -> list[bytes]:
    """The raw values of the request's `Authorization` headers."""
    return [value for name, value in connection.headers.raw if name == b"authorization"]


def bearer_challenge(connection: HTTPConnection) -> str:
    """The challenge for a request that lacks a valid bearer token. A `Host` the proxy
    would have refused (the API is reached through the proxy only) names no metadata."""
    credentials = bearer_credentials(authorization_headers(connection))
    hosts = [value for name, value in connection.headers.raw if name == b"host"]
    try:
        host = request_host(hosts)
    except BadHostError:
        return challenge(credentials, None)
    return challenge(
        credentials, metadata_url(public_origin(connection.scope["scheme"], host.authority))
    )
