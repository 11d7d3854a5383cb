"""How the OAuth server is configured: its public identity, its token lifetimes, and the
bounds of its endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

DEFAULT_ACCESS_TOKEN_TTL = timedelta(hours=1)
DEFAULT_REFRESH_TOKEN_TTL = timedelta(days=30)
DEFAULT_MAX_FORM_BYTES = 16 * 1024
"""The largest body the token, revocation and introspection endpoints read: their forms
hold an id, a secret, a token and a scope, a few hundred bytes."""
DEFAULT_MAX_REGISTRATION_BYTES = 16 * 1024
"""The largest body `/register` reads: a client's metadata (a name, a few redirect URIs, a
scope, the odd logo URL) is well under a kilobyte."""
DEFAULT_REGISTRATIONS_PER_ADDRESS = 20
"""Registration attempts one client address may make per `DEFAULT_REGISTRATION_WINDOW`:
an MCP client registers once per installation; a loop that registers again on every start
still fits."""
DEFAULT_REGISTRATION_WINDOW = timedelta(hours=1)
DEFAULT_AUTHORIZATION_CODE_TTL = timedelta(seconds=60)
"""How long an authorization code lives: the client exchanges it at once (OAuth 2.1
§4.1.2 recommends at most 10 minutes; a code is a bearer secret in a URL, so short)."""
DEFAULT_AUTHORIZATION_REQUEST_TTL = timedelta(minutes=10)
"""How long the sign-in page stays usable: time for a person to type a password."""
DEFAULT_SIGN_IN_FAILURES_PER_USER = 5
"""Failed sign-ins of one user per `DEFAULT_SIGN_IN_FAILURE_WINDOW`, from any address,
before the page refuses further attempts for that user (429): 5 wrong passwords in 15
minutes is no typing slip, and an online guesser gets 480 guesses a day at most."""
DEFAULT_SIGN_IN_FAILURES_PER_ADDRESS = 20
"""Failed sign-ins from one client address per window, for any users: spraying one
password over many names is bounded too, while a shared office address still has room."""
DEFAULT_SIGN_IN_FAILURE_WINDOW = timedelta(minutes=15)
DEFAULT_DEVICE_CODE_TTL = timedelta(minutes=10)
"""How long a device code (and its user code) waits for the user: RFC 8628 §3.2's
example, time to find another device and sign in."""
DEFAULT_DEVICE_POLL_INTERVAL = timedelta(seconds=5)
"""How often a device may poll the token endpoint (RFC 8628 §3.2's default); sooner is
`slow_down`."""


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
        max_registration_bytes: the same bound for the JSON body of `/register`.
        registrations_per_address: how many `/register` requests one client address may
            send per `registration_window`; past it, 429 with `Retry-After`.
        registration_window: the fixed window of that count, started by an address's first
            request.
        authorization_code_ttl: how long an authorization code lives.
        authorization_request_ttl: how long a sign-in page (its form token) stays usable.
        sign_in_failures_per_user: failed sign-ins of one user per `sign_in_failure_window`
            after which the sign-in page answers 429 "too many attempts" for that user.
        sign_in_failures_per_address: the same bound per client address.
        sign_in_failure_window: the fixed window of both counts, started by the first
            failure.
        device_code_ttl: how long a device authorization waits for its user.
        device_poll_interval: how often a device may poll for its tokens.
    """

    issuer: str
    access_token_ttl: timedelta = DEFAULT_ACCESS_TOKEN_TTL
    refresh_token_ttl: timedelta = DEFAULT_REFRESH_TOKEN_TTL
    max_form_bytes: int = DEFAULT_MAX_FORM_BYTES
    max_registration_bytes: int = DEFAULT_MAX_REGISTRATION_BYTES
    registrations_per_address: int = DEFAULT_REGISTRATIONS_PER_ADDRESS
    registration_window: timedelta = DEFAULT_REGISTRATION_WINDOW
    authorization_code_ttl: timedelta = DEFAULT_AUTHORIZATION_CODE_TTL
    authorization_request_ttl: timedelta = DEFAULT_AUTHORIZATION_REQUEST_TTL
    sign_in_failures_per_user: int = DEFAULT_SIGN_IN_FAILURES_PER_USER
    sign_in_failures_per_address: int = DEFAULT_SIGN_IN_FAILURES_PER_ADDRESS
    sign_in_failure_window: timedelta = DEFAULT_SIGN_IN_FAILURE_WINDOW
    device_code_ttl: timedelta = DEFAULT_DEVICE_CODE_TTL
    device_poll_interval: timedelta = DEFAULT_DEVICE_POLL_INTERVAL

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
        for name in (
            "access_token_ttl",
            "refresh_token_ttl",
            "registration_window",
            "authorization_code_ttl",
            "authorization_request_ttl",
            "sign_in_failure_window",
            "device_code_ttl",
            "device_poll_interval",
        ):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        for name in (
            "max_form_bytes",
            "max_registration_bytes",
            "registrations_per_address",
            "sign_in_failures_per_user",
            "sign_in_failures_per_address",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer")

    def endpoint(self, path: str) -> str:
        """The public URL of the endpoint at `path`."""
        return f"{self.issuer}{path}"
