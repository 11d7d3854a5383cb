"""The records of the authorization code grant (RFC 6749 §4.1, OAuth 2.1): a pending
sign-in request and an issued code; and PKCE (RFC 7636, S256 only). No I/O.

Neither record holds a secret in clear: a pending request is keyed by the hash of its
form token, a code by the hash of its value, and a request keeps only the hash of the
browser nonce that binds it to the browser that opened it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._keys import validate_identifier
from ._oauth_models import Audience, Scope, UserName

_CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
"""RFC 7636 §4.1: 43-128 unreserved characters."""
_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
"""An S256 challenge: the unpadded base64url of a SHA-256, 43 characters."""
_MAX_STATE_LENGTH = 1024
_MAX_URI_LENGTH = 2048


def valid_code_challenge(challenge: object) -> bool:
    """Whether `challenge` can be an S256 code challenge."""
    return isinstance(challenge, str) and _CODE_CHALLENGE.fullmatch(challenge) is not None


def s256_challenge(verifier: str) -> str:
    """The S256 code challenge of `verifier` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifier_matches(verifier: object, challenge: str) -> bool:
    """Whether `verifier` is a well-formed code verifier whose S256 challenge is
    `challenge`, compared in constant time."""
    if not isinstance(verifier, str) or not _CODE_VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256_challenge(verifier), challenge)


@dataclass(frozen=True, slots=True)
class AuthorizationAsk:
    """What a client asks for at `/authorize`, once the endpoint has checked it: the
    client, one of its registered redirect URIs, the S256 challenge, the scope to grant,
    and the resource (RFC 8707) with the hostname of the proxy target it names."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    scope: str
    state: str | None = field(default=None, repr=False)
    resource: str | None = None
    audience: str | None = None


class _Authorization(BaseModel):
    """What a client asked for at `/authorize`, as checked there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str
    redirect_uri: str = Field(max_length=_MAX_URI_LENGTH)
    """Exactly one of the client's registered redirect URIs."""
    state: str | None = Field(default=None, max_length=_MAX_STATE_LENGTH, repr=False)
    code_challenge: str
    scope: Scope
    resource: str | None = Field(default=None, max_length=_MAX_URI_LENGTH)
    """The resource indicator (RFC 8707) as the client sent it; `None` when it sent none."""
    audience: Audience | None = None
    """The hostname of the proxy target `resource` names: the audience of the tokens."""
    expires_at: datetime

    @field_validator("client_id")
    @classmethod
    def _valid_client_id(cls, value: str) -> str:
        return validate_identifier(value, "client id")

    @field_validator("code_challenge")
    @classmethod
    def _valid_challenge(cls, value: str) -> str:
        if not valid_code_challenge(value):
            raise ValueError("an S256 code challenge is 43 base64url characters")
        return value


class AuthorizationRequest(_Authorization):
    """A sign-in in progress: the page is shown, the user has not signed in yet."""

    browser_hash: str = Field(pattern=r"^[0-9a-f]{64}$", repr=False)
    """The SHA-256 of the nonce in the cookie of the browser the page was shown to: the
    form is accepted only from that browser."""


class AuthorizationCode(_Authorization):
    """An issued authorization code (never the code itself): who signed in, for what."""

    user: UserName
    family_id: str
    """The token family its tokens will belong to, chosen when the code is issued: a code
    presented twice revokes this family (RFC 6749 §4.1.2)."""

    @field_validator("family_id")
    @classmethod
    def _valid_family_id(cls, value: str) -> str:
        return validate_identifier(value, "token family id")
