"""The authorization code grant's records: pending sign-in requests and authorization
codes. The I/O-free operations, and the storage methods that run them.

Key schema (v2: one hash tag per entity, the namespace inside it):

    {<namespace>:authz-request:<sha256(form token)>}:record  `AuthorizationRequest` as JSON;
                                                  expires after the request TTL
    {<namespace>:authz-code:<sha256(code)>}:record   `AuthorizationCode` as JSON; expires
                                                  after the code TTL
    {<namespace>:authz-code:<sha256(code)>}:uses     integer: how often the code was
                                                  presented; expires with the code

A code's two keys share its tag, so one script both reads the record and counts the use.
Its tokens are issued by the OAuth family (`_oauth`) under the family id the code carries:
another slot, so the redemption is two steps. A second presentation revokes that family;
one that arrives between the two steps of the first is seen by the first, which checks the
count again after issuing and then revokes what it issued.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ._authorization_models import (
    AuthorizationAsk,
    AuthorizationCode,
    AuthorizationRequest,
    verifier_matches,
)
from ._base import StorageBase
from ._codec import decode_record, encode_record
from ._errors import CorruptRecordError
from ._keys import KeySchema
from ._oauth import issue, new_family_id, revoke_grant
from ._oauth_models import (
    InvalidGrantError,
    IssuedTokens,
    new_secret,
    plausible_token,
    secret_hash,
)
from ._operations import Operation, ttl_milliseconds

_REDEEM = """
local record = redis.call('GET', KEYS[1])
if not record then
  return false
end
local uses = redis.call('INCR', KEYS[2])
if uses == 1 then
  redis.call('PEXPIRE', KEYS[2], math.max(redis.call('PTTL', KEYS[1]), 1))
end
return {record, uses}
"""
"""KEYS[1]: a code's record; KEYS[2]: its use count. Counts one presentation of a code
that exists (the count expires with the record) and returns the record and the count;
false for a code that is unknown or expired."""


def _now() -> datetime:
    return datetime.now(UTC)


def request_key(keys: KeySchema, token: str) -> str:
    """The key of the pending request whose form token is `token`."""
    return f"{keys.tagged('authz-request', secret_hash(token))}:record"


def code_key(keys: KeySchema, code: str) -> str:
    """The key of the record of the authorization code `code`."""
    return f"{keys.tagged('authz-code', secret_hash(code))}:record"


def code_uses_key(keys: KeySchema, code: str) -> str:
    """The key of the count of presentations of the authorization code `code`."""
    return f"{keys.tagged('authz-code', secret_hash(code))}:uses"


def _fields(ask: AuthorizationAsk) -> dict[str, object]:
    return {
        "client_id": ask.client_id,
        "redirect_uri": ask.redirect_uri,
        "state": ask.state,
        "code_challenge": ask.code_challenge,
        "scope": ask.scope,
        "resource": ask.resource,
        "audience": ask.audience,
    }


def create_request(
    keys: KeySchema, ask: AuthorizationAsk, browser_nonce: str, ttl: float | timedelta
) -> Operation[str]:
    """Store a pending request; its form token (returned once)."""
    ttl_ms = ttl_milliseconds(ttl)
    record = AuthorizationRequest.model_validate(
        {
            **_fields(ask),
            "browser_hash": secret_hash(browser_nonce),
            "expires_at": _now() + timedelta(milliseconds=ttl_ms),
        }
    )
    token = new_secret()
    yield ("SET", request_key(keys, token), encode_record(record), "PX", ttl_ms)
    return token


def _request(keys: KeySchema, token: str, command: str) -> Operation[AuthorizationRequest | None]:
    if not plausible_token(token):
        return None
    key = request_key(keys, token)
    raw = yield (command, key)
    return decode_record(key, raw, AuthorizationRequest)


def get_request(keys: KeySchema, token: str) -> Operation[AuthorizationRequest | None]:
    """The pending request of a form token; `None` when unknown or expired."""
    return (yield from _request(keys, token, "GET"))


def take_request(keys: KeySchema, token: str) -> Operation[AuthorizationRequest | None]:
    """The pending request of a form token, deleted in the same command (GETDEL): of two
    concurrent completions, one gets it."""
    return (yield from _request(keys, token, "GETDEL"))


def issue_code(
    keys: KeySchema, request: AuthorizationRequest, user: str, ttl: float | timedelta
) -> Operation[str]:
    """Store a code for `request`, signed in as `user`; the code (returned once)."""
    ttl_ms = ttl_milliseconds(ttl)
    fields = request.model_dump(exclude={"browser_hash", "expires_at"})
    record = AuthorizationCode.model_validate(
        {
            **fields,
            "user": user,
            "family_id": new_family_id(),
            "expires_at": _now() + timedelta(milliseconds=ttl_ms),
        }
    )
    code = new_secret()
    yield ("SET", code_key(keys, code), encode_record(record), "PX", ttl_ms)
    return code


def redeem_code(
    keys: KeySchema,
    code: str,
    client_id: str,
    redirect_uri: str | None,
    code_verifier: str | None,
    lifetimes: tuple[float | timedelta, float | timedelta],
) -> Operation[IssuedTokens]:
    """Exchange a code for tokens; see `AuthorizationRecords.redeem_authorization_code`."""
    unknown = InvalidGrantError("the authorization code is unknown, expired or revoked")
    if not plausible_token(code):
        raise unknown
    key, uses_key = code_key(keys, code), code_uses_key(keys, code)
    reply = yield ("EVAL", _REDEEM, 2, key, uses_key)
    if not reply:
        raise unknown
    raw, uses = reply
    try:
        record = decode_record(key, raw, AuthorizationCode)
    except CorruptRecordError:
        raise unknown from None
    if record is None or record.expires_at <= _now():
        raise unknown
    if int(uses) > 1:
        yield from revoke_grant(keys, record.family_id, record.client_id, record.user)
        raise InvalidGrantError(
            "the authorization code was already used; the tokens issued from it are revoked"
        )
    if record.client_id != client_id:
        raise InvalidGrantError("the authorization code was issued to another client")
    if redirect_uri != record.redirect_uri:
        raise InvalidGrantError("redirect_uri is not the one the code was issued for")
    if not verifier_matches(code_verifier, record.code_challenge):
        raise InvalidGrantError("the code_verifier does not match the code_challenge")
    access_ttl, refresh_ttl = lifetimes
    issued = yield from issue(
        keys,
        record.client_id,
        record.user,
        record.scope,
        access_ttl,
        refresh_ttl,
        family_id=record.family_id,
        audience=record.audience,
    )
    # Presented again while the tokens were being issued: that presentation found no
    # tokens to revoke, so revoke them here.
    uses_now = yield ("GET", uses_key)
    if uses_now is not None and int(uses_now) > 1:
        yield from revoke_grant(keys, record.family_id, record.client_id, record.user)
        raise InvalidGrantError(
            "the authorization code was already used; the tokens issued from it are revoked"
        )
    return issued


def get_code(keys: KeySchema, code: str) -> Operation[AuthorizationCode | None]:
    """The record of a code, without counting a use (to see what it was issued for)."""
    if not plausible_token(code):
        return None
    key = code_key(keys, code)
    raw = yield ("GET", key)
    try:
        return decode_record(key, raw, AuthorizationCode)
    except CorruptRecordError:
        return None


class AuthorizationRecords(StorageBase):
    """Pending sign-in requests and authorization codes (see the module docstring of
    `_authorization`)."""

    def create_authorization_request(
        self, ask: AuthorizationAsk, browser_nonce: str, ttl: float | timedelta
    ) -> str:
        """Store what the client asked for while the user signs in, expiring after `ttl`,
        bound to the browser holding `browser_nonce` (only its hash is stored); the form
        token that names it (returned once, stored only as its hash)."""
        return self._run(
            create_request(self._keys, ask, browser_nonce, ttl), "create_authorization_request"
        )

    async def acreate_authorization_request(
        self, ask: AuthorizationAsk, browser_nonce: str, ttl: float | timedelta
    ) -> str:
        """Async twin of `create_authorization_request()`."""
        return await self._arun(create_request(self._keys, ask, browser_nonce, ttl))

    def get_authorization_request(self, token: str) -> AuthorizationRequest | None:
        """The pending request of the form token `token`; `None` when unknown or expired
        (or when `token` cannot be one)."""
        return self._run(get_request(self._keys, token), "get_authorization_request")

    async def aget_authorization_request(self, token: str) -> AuthorizationRequest | None:
        """Async twin of `get_authorization_request()`."""
        return await self._arun(get_request(self._keys, token))

    def take_authorization_request(self, token: str) -> AuthorizationRequest | None:
        """Like `get_authorization_request()`, deleting it atomically: a request completes
        once."""
        return self._run(take_request(self._keys, token), "take_authorization_request")

    async def atake_authorization_request(self, token: str) -> AuthorizationRequest | None:
        """Async twin of `take_authorization_request()`."""
        return await self._arun(take_request(self._keys, token))

    def issue_authorization_code(
        self, request: AuthorizationRequest, user: str, ttl: float | timedelta
    ) -> str:
        """Issue a random authorization code for `request`, `user` having signed in; it
        lives `ttl` and is bound to the client, redirect URI, challenge and resource. The
        code is returned once; only its hash is stored."""
        return self._run(issue_code(self._keys, request, user, ttl), "issue_authorization_code")

    async def aissue_authorization_code(
        self, request: AuthorizationRequest, user: str, ttl: float | timedelta
    ) -> str:
        """Async twin of `issue_authorization_code()`."""
        return await self._arun(issue_code(self._keys, request, user, ttl))

    def get_authorization_code(self, code: str) -> AuthorizationCode | None:
        """What the code `code` was issued for, without using it; `None` when unknown."""
        return self._run(get_code(self._keys, code), "get_authorization_code")

    async def aget_authorization_code(self, code: str) -> AuthorizationCode | None:
        """Async twin of `get_authorization_code()`."""
        return await self._arun(get_code(self._keys, code))

    def redeem_authorization_code(
        self,
        code: str,
        client_id: str,
        redirect_uri: str | None,
        code_verifier: str | None,
        access_ttl: float | timedelta,
        refresh_ttl: float | timedelta,
    ) -> IssuedTokens:
        """Exchange the code for an access and a refresh token of the code's user, scope
        and audience.

        Each presentation uses the code up, whatever its outcome. Raises
        `InvalidGrantError` for a code that is unknown or expired, another client's,
        presented with another redirect URI or a verifier that does not match its S256
        challenge, or presented before: then every token issued from it is revoked
        (RFC 6749 §4.1.2).
        """
        return self._run(
            redeem_code(
                self._keys, code, client_id, redirect_uri, code_verifier, (access_ttl, refresh_ttl)
            ),
            "redeem_authorization_code",
        )

    async def aredeem_authorization_code(
        self,
        code: str,
        client_id: str,
        redirect_uri: str | None,
        code_verifier: str | None,
        access_ttl: float | timedelta,
        refresh_ttl: float | timedelta,
    ) -> IssuedTokens:
        """Async twin of `redeem_authorization_code()`."""
        return await self._arun(
            redeem_code(
                self._keys, code, client_id, redirect_uri, code_verifier, (access_ttl, refresh_ttl)
            )
        )
