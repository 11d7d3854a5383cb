"""The OAuth records: clients, access tokens and refresh tokens, and what issuing returns.

Secrets (client secrets, tokens) never live in a record: a client keeps the SHA-256 of its
secret, a token is stored under the SHA-256 of its value. The plaintext exists only in the
`RegisteredClient` / `IssuedTokens` handed back once, whose `repr` hides it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ._errors import StorageError
from ._keys import validate_hostname, validate_identifier

_SECRET_BYTES = 32
# What a bearer token may look like on the wire (RFC 6750 `b64token`), bounded: anything
# else cannot be one of ours and is rejected before it is hashed or sent anywhere.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]{1,512}=*")
_MAX_SECRET_LENGTH = 512
# RFC 6749 §3.3: scope tokens are printable ASCII except space, '"' and '\'.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_MAX_SCOPE_LENGTH = 2048
_MAX_USER_LENGTH = 256
_MAX_NAME_LENGTH = 256


class OAuthGrantType(StrEnum):
    """The grants a client may use at the token endpoint."""

    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"
    CLIENT_CREDENTIALS = "client_credentials"
    DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
    """RFC 8628: a device without a browser signs its user in on another one."""


class TokenEndpointAuthMethod(StrEnum):
    """How a client authenticates at the token endpoint (RFC 7591 §2)."""

    CLIENT_SECRET_BASIC = "client_secret_basic"
    CLIENT_SECRET_POST = "client_secret_post"
    NONE = "none"
    """A public client: it holds no secret and names itself by its id alone."""


class InvalidGrantError(StorageError):
    """A refresh token or authorization code is unknown, expired, revoked, already used,
    another client's, or (a code) presented with another redirect URI or PKCE verifier.

    The message never contains the token.
    """


class InvalidScopeError(StorageError, ValueError):
    """A scope is malformed, or asks for more than was granted."""


class UnknownOAuthClientError(StorageError):
    """No OAuth client is registered under the given id."""


def _now() -> datetime:
    return datetime.now(UTC)


def new_secret() -> str:
    """A fresh, unguessable secret (client secret or token)."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def secret_hash(secret: str) -> str:
    """The SHA-256 of a secret, in hex: how client secrets and tokens are stored.

    The secrets are 256 random bits, so a fast unsalted hash cannot be brute-forced.
    """
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def secret_matches(secret: str, expected_hash: str) -> bool:
    """Whether `secret` hashes to `expected_hash`, compared in constant time."""
    if len(secret) > _MAX_SECRET_LENGTH:
        return False
    return hmac.compare_digest(secret_hash(secret), expected_hash)


def plausible_token(token: object) -> bool:
    """Whether `token` has the shape of a bearer token at all (bounded RFC 6750 syntax)."""
    return isinstance(token, str) and _TOKEN.fullmatch(token) is not None


def normalize_scope(scope: str) -> str:
    """`scope` as its space-separated tokens, sorted and without repeats.

    Raises `InvalidScopeError` for characters RFC 6749 does not allow in a scope.
    """
    if len(scope) > _MAX_SCOPE_LENGTH:
        raise InvalidScopeError(f"a scope is at most {_MAX_SCOPE_LENGTH} characters")
    tokens = scope.split(" ")
    if scope and not all(_SCOPE_TOKEN.fullmatch(token) for token in tokens):
        raise InvalidScopeError(
            "invalid scope: expected space-separated tokens of printable ASCII without '\"' or '\\'"
        )
    return " ".join(sorted(set(tokens))) if scope else ""


def scope_within(requested: str, granted: str) -> bool:
    """Whether every token of `requested` is one of `granted` (both normalised)."""
    return set(requested.split()) <= set(granted.split())


def validate_user(user: object) -> str:
    """Return `user` if it can name a token's owner, else raise `ValueError`.

    Users are not key parts as such (their index key uses a hash of the name), so any
    printable name of up to 256 characters without whitespace is accepted.
    """
    if (
        not isinstance(user, str)
        or not 1 <= len(user) <= _MAX_USER_LENGTH
        or not user.isprintable()
        or any(character.isspace() for character in user)
    ):
        raise ValueError(
            f"invalid user {user!r:.40}: expected 1-{_MAX_USER_LENGTH} printable characters "
            "without whitespace"
        )
    return user


Scope = Annotated[str, AfterValidator(normalize_scope)]
"""A field holding a scope, normalised (`normalize_scope`)."""
UserName = Annotated[str, AfterValidator(validate_user)]
"""A field naming a user (`validate_user`)."""
Audience = Annotated[str, AfterValidator(validate_hostname)]
"""A field naming the proxy target (its hostname) that tokens are for (RFC 8707)."""


def _validate_redirect_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError(
            f"invalid redirect URI {uri!r:.60}: expected an absolute http(s) URI without a fragment"
        )
    return uri


class OAuthClient(BaseModel):
    """A registered OAuth client. A confidential client's secret is kept only as
    `secret_hash`; a public client (`token_endpoint_auth_method` `none`) has none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str
    name: str = Field(min_length=1, max_length=_MAX_NAME_LENGTH)
    secret_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(repr=False)
    token_endpoint_auth_method: TokenEndpointAuthMethod = (
        TokenEndpointAuthMethod.CLIENT_SECRET_BASIC
    )
    """Records from before this field existed are confidential clients: the default."""
    grant_types: list[OAuthGrantType] = Field(min_length=1)
    redirect_uris: list[str] = Field(default_factory=list)
    scope: str = ""
    """The scope the client may be granted (space-separated, normalised)."""
    created_at: datetime = Field(default_factory=_now)

    @field_validator("client_id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return validate_identifier(value, "client id")

    @field_validator("redirect_uris")
    @classmethod
    def _valid_redirect_uris(cls, value: list[str]) -> list[str]:
        return [_validate_redirect_uri(uri) for uri in value]

    @field_validator("scope")
    @classmethod
    def _valid_scope(cls, value: str) -> str:
        return normalize_scope(value)

    @model_validator(mode="after")
    def _public_or_confidential(self) -> OAuthClient:
        if self.is_public != (self.secret_hash is None):
            raise ValueError("exactly the public clients (auth method none) have no secret")
        if self.is_public and OAuthGrantType.CLIENT_CREDENTIALS in self.grant_types:
            raise ValueError("a public client cannot use client_credentials (RFC 6749 §4.4)")
        return self

    @property
    def is_public(self) -> bool:
        """Whether the client holds no secret (RFC 6749 §2.1)."""
        return self.token_endpoint_auth_method is TokenEndpointAuthMethod.NONE

    def allows(self, grant_type: OAuthGrantType) -> bool:
        """Whether the client may use `grant_type`."""
        return grant_type in self.grant_types


class _TokenRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str
    user: UserName | None
    """The user the token was issued to; `None` for a client acting for itself."""
    scope: Scope
    family_id: str
    """The grant the token belongs to: every token issued from one login, and every
    rotation of it, shares this id (and is revoked together)."""
    audience: Audience | None = None
    """The hostname of the proxy target the token is for (RFC 8707); `None`: every
    auth-enabled target (tokens of grants without a resource, and records from before
    audiences existed)."""
    issued_at: datetime
    expires_at: datetime

    @field_validator("client_id")
    @classmethod
    def _valid_client_id(cls, value: str) -> str:
        return validate_identifier(value, "client id")

    @field_validator("family_id")
    @classmethod
    def _valid_family_id(cls, value: str) -> str:
        return validate_identifier(value, "token family id")

    def expired(self, now: datetime) -> bool:
        """Whether the token has expired at `now`."""
        return self.expires_at <= now


class AccessTokenRecord(_TokenRecord):
    """What the storage knows about an access token (never the token itself)."""

    kind: Literal["access"] = "access"


class RefreshTokenRecord(_TokenRecord):
    """What the storage knows about a refresh token (never the token itself)."""

    kind: Literal["refresh"] = "refresh"
    used_at: datetime | None = None
    """When the token was rotated; presenting it again revokes its family."""


TokenRecord = AccessTokenRecord | RefreshTokenRecord


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A client just registered, with its secret in plaintext: shown once, never stored."""

    client: OAuthClient
    client_secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """Tokens just issued, in plaintext: hand them to the client, never store them."""

    access_token: str = field(repr=False)
    access: AccessTokenRecord
    refresh_token: str | None = field(default=None, repr=False)
    """`None` for a grant without refresh (client credentials)."""

    @property
    def expires_in(self) -> int:
        """Seconds the access token lives, as the token response reports it."""
        return max(1, round((self.access.expires_at - self.access.issued_at).total_seconds()))


@dataclass(frozen=True, slots=True)
class AttemptCount:
    """How many attempts one client address made in the current window."""

    count: int
    """This attempt included."""
    resets_in: timedelta
    """When the window ends and the count starts again."""


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """How many live (unexpired, unrevoked, unused) tokens a client or user holds."""

    access: int
    refresh: int
