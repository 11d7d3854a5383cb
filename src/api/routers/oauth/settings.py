"""How the OAuth server is configured: its public identity and its token lifetimes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

DEFAULT_ACCESS_TOKEN_TTL = timedelta(hours=1)
DEFAULT_REFRESH_TOKEN_TTL = timedelta(days=30)
DEFAULT_MAX_FORM_BYTES = 16 * 1024
"""The largest body the token, revocation and introspection endpoints read: their forms
hold an id, a secret, a token and a scope, a few hundred bytes."""


@dataclass(frozen=True, slots=True)
class OAuthSettings:
    """The OAuth server's settings.

    Args:
        issuer: the public base URL of the gateway (RFC 8414 `issuer`), e.g.
            `https://gateway.example.com`; the endpoints' URLs in the metadata derive from it.
        access_token_ttl: how long an access token lives.
        refresh_token_ttl: how long a refresh token lives (each rotation starts it anew).
        max_form_bytes: the largest request body the endpoints read; a larger one (or a
            larger `Content-Length`) is answered 413 before it is read.
    """

    issuer: str
    access_token_ttl: timedelta = DEFAULT_ACCESS_TOKEN_TTL
    refresh_token_ttl: timedelta = DEFAULT_REFRESH_TOKEN_TTL
    max_form_bytes: int = DEFAULT_MAX_FORM_BYTES

    def __post_init__(self) -> None:
        parts = urlsplit(self.issuer)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.query
            or parts.fragment
            or self.issuer.endswith("/")
        ):
            raise ValueError(
                f"invalid issuer {self.issuer!r:.80}: expected an http(s) URL without query, "
                "fragment or trailing slash"
            )
        for name in ("access_token_ttl", "refresh_token_ttl"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if isinstance(self.max_form_bytes, bool) or self.max_form_bytes < 1:
            raise ValueError("max_form_bytes must be a positive number of bytes")

    def endpoint(self, path: str) -> str:
        """The public URL of the endpoint at `path`."""
        return f"{self.issuer}{path}"
