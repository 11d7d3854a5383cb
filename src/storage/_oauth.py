"""OAuth clients and tokens: the I/O-free operations, and the storage methods that run them.

Key schema. Every key carries the Redis Cluster hash tag `{oauth}`: issuing, rotating and
revoking change a token family, its user's index and its client's index together, in one
script, so they must share a slot. One tag for the whole family also keeps tokens plain
random strings (nothing to parse out of them to find a slot); the price is that on a
Cluster all OAuth keys live on one node, which the handful of clients and live tokens of a
gateway never strains.

    <namespace>:{oauth}:client:<client id>       `OAuthClient` as JSON (secret as SHA-256)
    <namespace>:{oauth}:access:<sha256(token)>   `AccessTokenRecord` as JSON; expires with it
    <namespace>:{oauth}:refresh:<sha256(token)>  `RefreshTokenRecord` as JSON; expires with it.
                                                 Kept, marked used, after a rotation, so
                                                 that a second use is recognised
    <namespace>:{oauth}:family:<family id>       set of the members (below) of every token
                                                 of one grant; expires with its last token
    <namespace>:{oauth}:client-tokens:<client id>    sorted set: the client's usable tokens
    <namespace>:{oauth}:user-tokens:<sha256(user)>   sorted set: the user's usable tokens
    <namespace>:{oauth}:registrations:<sha256(address)>  integer: dynamic registrations
                                                 attempted from one client address in
                                                 the current window; expires with it

A member is a token key without its prefix (`access:<hash>`, `refresh:<hash>`); in the
sorted sets its score is the token's expiry (Unix ms). Redis cannot expire a member, so
writes drop the expired ones and readers skip them. User names are hashed into their key:
any printable name is a valid user without ever becoming a key part.

Tokens are found by the SHA-256 of their value only. A value that cannot be a bearer token
(empty, too long, stray characters) is unknown without a round trip. A token record that
cannot be decoded (bad JSON, wrong fields, wrong Redis type) makes its token unknown, like a
missing record: it is logged with its key and left untouched, and no caller sees a
`CorruptRecordError` for a token (a 500 at the token endpoint or the proxy would be worse
than a refused token). A corrupt client record likewise fails the client's authentication.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ._base import StorageBase
from ._codec import ModelT, decode_record, encode_record, key_text
from ._errors import CorruptRecordError, InvalidKeyError
from ._keys import KeySchema, validate_hostname, validate_identifier
from ._oauth_models import (
    AccessTokenRecord,
    AttemptCount,
    InvalidGrantError,
    InvalidScopeError,
    IssuedTokens,
    OAuthClient,
    OAuthGrantType,
    RefreshTokenRecord,
    RegisteredClient,
    TokenCounts,
    TokenEndpointAuthMethod,
    TokenRecord,
    UnknownOAuthClientError,
    new_secret,
    normalize_scope,
    plausible_token,
    scope_within,
    secret_hash,
    secret_matches,
    validate_user,
)
from ._operations import (
    Atomic,
    Command,
    Operation,
    count_attempt,
    load_all,
    ttl_milliseconds,
)

logger = logging.getLogger(__name__)

_MEMBER = re.compile(r"(access|refresh):[0-9a-f]{64}")
_MAX_ADDRESS_LENGTH = 256

_STORE_TOKENS = """
local function extend(key, ttl)
  if redis.call('PTTL', key) < tonumber(ttl) then
    redis.call('PEXPIRE', key, ttl)
  end
end

local function store_tokens(first_arg)
  local indexes = tonumber(ARGV[2])
  local first_token = 3 + indexes
  for i = first_token, #KEYS do
    local a = first_arg + (i - first_token) * 4
    local member, record, ttl, expiry = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
    redis.call('SET', KEYS[i], record, 'PX', ttl)
    redis.call('SADD', KEYS[2], member)
    extend(KEYS[2], ttl)
    for j = 3, first_token - 1 do
      redis.call('ZADD', KEYS[j], expiry, member)
      extend(KEYS[j], ttl)
    end
  end
  for j = 3, first_token - 1 do
    redis.call('ZREMRANGEBYSCORE', KEYS[j], '-inf', ARGV[1])
  end
end
"""
"""Shared by the two scripts that add tokens. KEYS[2]: the family set; KEYS[3 ..
2 + ARGV[2]]: the indexes; the remaining KEYS: the new tokens' keys. ARGV[1]: now (Unix
ms); from ARGV[first_arg], four values per new token: member, record, TTL (ms), expiry
(Unix ms). The family set and the indexes live as long as their longest-lived token."""

_ISSUE = (
    _STORE_TOKENS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
store_tokens(3)
return 1
"""
)
"""KEYS[1]: the client, which must exist. Returns 1, or 0 (nothing written) without it."""

_ROTATE = (
    _STORE_TOKENS
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[3] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
for j = 3, 2 + tonumber(ARGV[2]) do
  redis.call('ZREM', KEYS[j], ARGV[5])
end
store_tokens(6)
return 1
"""
)
"""KEYS[1]: the refresh token presented. ARGV[3]: its record as read; ARGV[4]: the record
marked used; ARGV[5]: its member. Applies only if the record is still the one read (so it
was neither used nor revoked meanwhile): marks it used, takes it out of the indexes and
adds the new pair. Returns 1, or 0 (nothing written) when the record changed."""

_REVOKE_FAMILY = """
local indexes = tonumber(ARGV[1])
local first_token = 2 + indexes
if redis.call('SCARD', KEYS[1]) ~= #KEYS - first_token + 1 then
  return -1
end
for i = first_token, #KEYS do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i - first_token + 2]) == 0 then
    return -1
  end
end
local deleted = 0
for i = first_token, #KEYS do
  deleted = deleted + redis.call('DEL', KEYS[i])
  for j = 2, first_token - 1 do
    redis.call('ZREM', KEYS[j], ARGV[i - first_token + 2])
  end
end
redis.call('DEL', KEYS[1])
return deleted
"""
"""KEYS[1]: the family set; KEYS[2 .. 1 + ARGV[1]]: its indexes; the rest: the keys of the
family's members, which follow in ARGV. Deletes every token of the family and the family,
and returns how many token keys existed; returns -1 (nothing deleted) when the members
passed are not exactly the family's, because a rotation added tokens since they were read."""

_DELETE_CLIENT = """
if redis.call('ZCARD', KEYS[2]) ~= #KEYS - 2 then
  return -1
end
for i = 3, #KEYS do
  if not redis.call('ZSCORE', KEYS[2], ARGV[i - 2]) then
    return -1
  end
end
local existed = redis.call('DEL', KEYS[1])
for i = 3, #KEYS do
  redis.call('DEL', KEYS[i])
end
redis.call('DEL', KEYS[2])
return existed
"""
"""KEYS[1]: the client; KEYS[2]: its token index; the rest: the keys of the index's
members, which follow in ARGV. Deletes the client, those tokens and the index; returns 1
if the client existed, else 0; returns -1 (nothing deleted) when the members passed are not
exactly the index's, because tokens were issued since they were read. Once the client is
gone no token can be issued to it (`_ISSUE` checks), and its refresh tokens are gone, so
no rotation can add any either."""

# Keys


def _tagged(keys: KeySchema, rest: str) -> str:
    return f"{keys.prefix}{{oauth}}:{rest}"


def client_key(keys: KeySchema, client_id: str) -> str:
    """The key of an OAuth client."""
    return _tagged(keys, f"client:{validate_identifier(client_id, 'client id')}")


def family_key(keys: KeySchema, family_id: str) -> str:
    """The key of the set of a token family's members."""
    return _tagged(keys, f"family:{validate_identifier(family_id, 'token family id')}")


def client_index_key(keys: KeySchema, client_id: str) -> str:
    """The key of the sorted set of a client's usable tokens."""
    return _tagged(keys, f"client-tokens:{validate_identifier(client_id, 'client id')}")


def user_index_key(keys: KeySchema, user: str) -> str:
    """The key of the sorted set of a user's usable tokens."""
    digest = hashlib.sha256(validate_user(user).encode()).hexdigest()
    return _tagged(keys, f"user-tokens:{digest}")


def registrations_key(keys: KeySchema, address: str) -> str:
    """The key of the count of dynamic registrations attempted from a client address."""
    if not isinstance(address, str) or not 1 <= len(address) <= _MAX_ADDRESS_LENGTH:
        raise ValueError(f"a client address is 1-{_MAX_ADDRESS_LENGTH} characters")
    return _tagged(keys, f"registrations:{hashlib.sha256(address.encode()).hexdigest()}")


def token_member(kind: str, token: str) -> str:
    """The member naming a token in its family and indexes: `<kind>:<sha256(token)>`."""
    return f"{kind}:{secret_hash(token)}"


def member_key(keys: KeySchema, member: str) -> str:
    """The key of the token a member names."""
    return _tagged(keys, member)


def _index_keys(keys: KeySchema, client_id: str, user: str | None) -> list[str]:
    indexes = [client_index_key(keys, client_id)]
    if user is not None:
        indexes.append(user_index_key(keys, user))
    return indexes


def _members(key: str, replies: Iterable[bytes]) -> list[str]:
    members = sorted(key_text(reply) for reply in replies)
    if not all(_MEMBER.fullmatch(member) for member in members):
        raise CorruptRecordError(key, "a member is not a token reference")
    return members


def _ignored(exc: CorruptRecordError) -> None:
    # The key holds a hash of the token, never the token; the message never the record.
    logger.warning("%s; treated as absent", exc)


def _read_record(key: str, model: type[ModelT]) -> Operation[tuple[bytes | None, ModelT | None]]:
    """The stored bytes at `key` and their record; the record is `None` when it is absent
    or corrupt (logged)."""
    try:
        raw = yield ("GET", key)
    except CorruptRecordError as exc:  # not a string at all
        _ignored(exc)
        return None, None
    return raw, _decoded(key, raw, model)


def _decoded(key: str, raw: bytes | None, model: type[ModelT]) -> ModelT | None:
    """`raw` decoded, or `None` when it is absent or corrupt (logged)."""
    try:
        return decode_record(key, raw, model)
    except CorruptRecordError as exc:
        _ignored(exc)
        return None


# Issuing


def _now() -> datetime:
    return datetime.now(UTC)


def _unix_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _eval(script: str, keys: Sequence[str], args: Iterable[object]) -> Command:
    return ("EVAL", script, len(keys), *keys, *args)


@dataclass(frozen=True, slots=True)
class _Grant:
    """Who tokens are issued to, for what, and when."""

    client_id: str
    user: str | None
    scope: str
    family_id: str
    now: datetime
    audience: str | None = None


@dataclass(frozen=True, slots=True)
class _NewToken:
    member: str
    record: bytes
    ttl_ms: int
    expiry_ms: int


def _token_fields(grant: _Grant, ttl_ms: int) -> dict[str, object]:
    return {
        "client_id": grant.client_id,
        "user": grant.user,
        "scope": grant.scope,
        "family_id": grant.family_id,
        "audience": grant.audience,
        "issued_at": grant.now,
        "expires_at": grant.now + timedelta(milliseconds=ttl_ms),
    }


def _stored(token: str, record: TokenRecord, ttl_ms: int) -> _NewToken:
    return _NewToken(
        token_member(record.kind, token), encode_record(record), ttl_ms, _unix_ms(record.expires_at)
    )


def _new_access_token(grant: _Grant, ttl_ms: int) -> tuple[str, AccessTokenRecord, _NewToken]:
    token = new_secret()
    record = AccessTokenRecord.model_validate(_token_fields(grant, ttl_ms))
    return token, record, _stored(token, record, ttl_ms)


def _new_refresh_token(grant: _Grant, ttl_ms: int) -> tuple[str, _NewToken]:
    token = new_secret()
    record = RefreshTokenRecord.model_validate(_token_fields(grant, ttl_ms))
    return token, _stored(token, record, ttl_ms)


def _store_args(keys: KeySchema, tokens: Sequence[_NewToken]) -> tuple[list[str], list[object]]:
    token_keys = [member_key(keys, token.member) for token in tokens]
    args: list[object] = []
    for token in tokens:
        args += [token.member, token.record, token.ttl_ms, token.expiry_ms]
    return token_keys, args


def new_family_id() -> str:
    """A fresh token family id: one grant's tokens share it."""
    return secrets.token_hex(16)


def issue(
    keys: KeySchema,
    client_id: str,
    user: str | None,
    scope: str,
    access_ttl: float | timedelta,
    refresh_ttl: float | timedelta | None,
    *,
    family_id: str | None = None,
    audience: str | None = None,
) -> Operation[IssuedTokens]:
    """Issue an access token (and a refresh token, given `refresh_ttl`) of the family
    `family_id` (default: a new one), for `audience` (a proxy target's hostname; `None`:
    every target)."""
    grant = _Grant(
        client_id=validate_identifier(client_id, "client id"),
        user=None if user is None else validate_user(user),
        scope=normalize_scope(scope),
        family_id=new_family_id() if family_id is None else family_id,
        now=_now(),
        audience=None if audience is None else validate_hostname(audience),
    )
    access_token, access, stored_access = _new_access_token(grant, ttl_milliseconds(access_ttl))
    tokens = [stored_access]
    refresh_token = None
    if refresh_ttl is not None:
        refresh_token, stored_refresh = _new_refresh_token(grant, ttl_milliseconds(refresh_ttl))
        tokens.append(stored_refresh)
    indexes = _index_keys(keys, grant.client_id, grant.user)
    token_keys, token_args = _store_args(keys, tokens)
    applied = yield _eval(
        _ISSUE,
        [client_key(keys, client_id), family_key(keys, grant.family_id), *indexes, *token_keys],
        [_unix_ms(grant.now), len(indexes), *token_args],
    )
    if not applied:
        raise UnknownOAuthClientError(f"no OAuth client {client_id!r} is registered")
    return IssuedTokens(access_token, access, refresh_token)


# Operations


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """What a client is registered with, besides its id and secret."""

    name: str
    grant_types: Sequence[OAuthGrantType]
    redirect_uris: Sequence[str]
    scope: str
    auth_method: TokenEndpointAuthMethod


def register_oauth_client(
    keys: KeySchema, metadata: ClientMetadata, secret: str | None
) -> Operation[OAuthClient]:
    """Register a client under a fresh id; `secret` is `None` for a public client."""
    client = OAuthClient(
        client_id=secrets.token_hex(16),
        name=metadata.name,
        secret_hash=None if secret is None else secret_hash(secret),
        token_endpoint_auth_method=metadata.auth_method,
        grant_types=list(metadata.grant_types),
        redirect_uris=list(metadata.redirect_uris),
        scope=metadata.scope,
    )
    yield ("SET", client_key(keys, client.client_id), encode_record(client))
    return client


def _confidential(keys: KeySchema, metadata: ClientMetadata) -> Operation[RegisteredClient]:
    if metadata.auth_method is TokenEndpointAuthMethod.NONE:
        raise ValueError("a public client has no secret: register it as a public client")
    secret = new_secret()
    client = yield from register_oauth_client(keys, metadata, secret)
    return RegisteredClient(client, secret)


def _public(keys: KeySchema, metadata: ClientMetadata) -> Operation[OAuthClient]:
    return (yield from register_oauth_client(keys, metadata, None))


def delete_oauth_client(keys: KeySchema, client_id: str) -> Operation[bool]:
    """Delete a client and its usable tokens; see `OAuthRecords.delete_oauth_client`."""
    client = client_key(keys, client_id)
    index = client_index_key(keys, client_id)
    while True:
        members = _members(index, (yield ("ZRANGE", index, 0, -1)))
        existed = yield _eval(
            _DELETE_CLIENT, [client, index, *(member_key(keys, m) for m in members)], members
        )
        if existed >= 0:
            return bool(existed)
        # Tokens were issued since ZRANGE: read the index again.


def count_registration_attempt(
    keys: KeySchema, address: str, window: float | timedelta
) -> Operation[AttemptCount]:
    """Count an attempt of `address`; see `OAuthRecords.count_registration_attempt`."""
    key = registrations_key(keys, address)
    count, left_ms = yield from count_attempt(key, window)
    return AttemptCount(count, timedelta(milliseconds=left_ms))


def get_oauth_client(keys: KeySchema, client_id: str) -> Operation[OAuthClient | None]:
    """Read one client."""
    key = client_key(keys, client_id)
    raw = yield ("GET", key)
    return decode_record(key, raw, OAuthClient)


def list_oauth_clients(keys: KeySchema) -> Operation[list[OAuthClient]]:
    """Every client, by id."""
    clients = yield from load_all(_tagged(keys, "client:*"), OAuthClient)
    return sorted(clients, key=lambda client: client.client_id)


def verify_client_secret(
    keys: KeySchema, client_id: str, secret: str
) -> Operation[OAuthClient | None]:
    """The client, if `secret` is its secret; `None` for any other id or secret."""
    try:
        key = client_key(keys, client_id)
    except InvalidKeyError:
        return None
    _, client = yield from _read_record(key, OAuthClient)
    if client is None or client.secret_hash is None:
        return None
    if not secret_matches(secret, client.secret_hash):
        return None
    return client


def get_access_token(keys: KeySchema, token: str) -> Operation[AccessTokenRecord | None]:
    """The record of a live access token; `None` when unknown, expired or revoked."""
    if not plausible_token(token):
        return None
    key = member_key(keys, token_member("access", token))
    _, record = yield from _read_record(key, AccessTokenRecord)
    if record is None or record.expired(_now()):
        return None
    return record


def _read_token(
    keys: KeySchema, token: str
) -> Operation[tuple[AccessTokenRecord | None, RefreshTokenRecord | None]]:
    access_key = member_key(keys, token_member("access", token))
    refresh_key = member_key(keys, token_member("refresh", token))
    # MGET answers nil for a key of another type: such a record counts as absent too.
    raw_access, raw_refresh = yield ("MGET", access_key, refresh_key)
    return (
        _decoded(access_key, raw_access, AccessTokenRecord),
        _decoded(refresh_key, raw_refresh, RefreshTokenRecord),
    )


def introspect_token(keys: KeySchema, token: str) -> Operation[TokenRecord | None]:
    """The record of a live access token or usable refresh token; `None` otherwise."""
    if not plausible_token(token):
        return None
    access, refresh = yield from _read_token(keys, token)
    now = _now()
    if access is not None and not access.expired(now):
        return access
    if refresh is not None and not refresh.expired(now) and refresh.used_at is None:
        return refresh
    return None


def _revoke_family(keys: KeySchema, record: TokenRecord) -> Operation[int]:
    return (yield from revoke_grant(keys, record.family_id, record.client_id, record.user))


def revoke_grant(
    keys: KeySchema, family_id: str, client_id: str, user: str | None
) -> Operation[int]:
    """Revoke every token of the family `family_id` (issued to `client_id` for `user`);
    how many token keys existed."""
    family = family_key(keys, family_id)
    indexes = _index_keys(keys, client_id, user)
    while True:
        members = _members(family, (yield ("SMEMBERS", family)))
        deleted = yield _eval(
            _REVOKE_FAMILY,
            [family, *indexes, *(member_key(keys, member) for member in members)],
            [len(indexes), *members],
        )
        if deleted >= 0:
            return int(deleted)
        # A rotation added tokens since SMEMBERS: read the family again.


def rotate_refresh_token(
    keys: KeySchema,
    token: str,
    client_id: str,
    access_ttl: float | timedelta,
    refresh_ttl: float | timedelta,
    scope: str | None,
) -> Operation[IssuedTokens]:
    """Exchange a refresh token for a new pair; see `OAuthRecords.rotate_refresh_token`."""
    access_ms, refresh_ms = ttl_milliseconds(access_ttl), ttl_milliseconds(refresh_ttl)
    requested = None if scope is None else normalize_scope(scope)
    if not plausible_token(token):
        raise InvalidGrantError("the refresh token is unknown, expired or revoked")
    member = token_member("refresh", token)
    key = member_key(keys, member)
    while True:
        raw, record = yield from _read_record(key, RefreshTokenRecord)
        now = _now()
        if record is None or record.expired(now):
            raise InvalidGrantError("the refresh token is unknown, expired or revoked")
        if record.client_id != client_id:
            raise InvalidGrantError("the refresh token was issued to another client")
        if record.used_at is not None:
            yield from _revoke_family(keys, record)
            raise InvalidGrantError(
                "the refresh token was already used; every token of its grant is now revoked"
            )
        if requested is not None and not scope_within(requested, record.scope):
            raise InvalidScopeError("the requested scope exceeds the scope originally granted")
        grant = _Grant(
            record.client_id, record.user, record.scope, record.family_id, now, record.audience
        )
        # RFC 6749 §6: the new refresh token keeps the scope of the one it replaces; only
        # the access token may be narrowed.
        refresh_token, stored_refresh = _new_refresh_token(grant, refresh_ms)
        if requested is not None:
            grant = _Grant(
                record.client_id, record.user, requested, record.family_id, now, record.audience
            )
        access_token, access, stored_access = _new_access_token(grant, access_ms)
        tokens = [stored_access, stored_refresh]
        indexes = _index_keys(keys, record.client_id, record.user)
        token_keys, token_args = _store_args(keys, tokens)
        used = record.model_copy(update={"used_at": now})
        applied = yield _eval(
            _ROTATE,
            [key, family_key(keys, record.family_id), *indexes, *token_keys],
            [_unix_ms(now), len(indexes), raw, encode_record(used), member, *token_args],
        )
        if applied:
            return IssuedTokens(access_token, access, refresh_token)
        # Used or revoked since it was read: read it again, and treat it as such.


def revoke_token(keys: KeySchema, token: str, client_id: str) -> Operation[bool]:
    """Revoke a token of `client_id`; see `OAuthRecords.revoke_token`."""
    if not plausible_token(token):
        return False
    access, refresh = yield from _read_token(keys, token)
    if refresh is not None and refresh.client_id == client_id:
        deleted = yield from _revoke_family(keys, refresh)
        return deleted > 0
    if access is None or access.client_id != client_id:
        return False
    member = token_member("access", token)
    replies = yield Atomic(
        (
            ("DEL", member_key(keys, member)),
            ("SREM", family_key(keys, access.family_id), member),
            *(
                ("ZREM", index, member)
                for index in _index_keys(keys, access.client_id, access.user)
            ),
        )
    )
    return bool(replies[0])


def _live_members(index: str) -> Operation[list[str]]:
    replies = yield ("ZRANGEBYSCORE", index, f"({_unix_ms(_now())}", "+inf")
    return _members(index, replies)


def list_user_tokens(keys: KeySchema, user: str) -> Operation[list[TokenRecord]]:
    """The user's live access tokens and usable refresh tokens, oldest first."""
    members = yield from _live_members(user_index_key(keys, user))
    if not members:
        return []
    token_keys = [member_key(keys, member) for member in members]
    raws = yield ("MGET", *token_keys)
    now = _now()
    records: list[TokenRecord] = []
    for member, key, raw in zip(members, token_keys, raws, strict=True):
        record: TokenRecord | None
        if member.startswith("access:"):
            record = decode_record(key, raw, AccessTokenRecord)
        else:
            record = decode_record(key, raw, RefreshTokenRecord)
        if record is not None and not record.expired(now):
            records.append(record)
    return sorted(records, key=lambda record: (record.issued_at, record.kind))


def count_client_tokens(keys: KeySchema, client_id: str) -> Operation[TokenCounts]:
    """How many live access tokens and usable refresh tokens the client holds."""
    members = yield from _live_members(client_index_key(keys, client_id))
    access = sum(member.startswith("access:") for member in members)
    return TokenCounts(access=access, refresh=len(members) - access)


class OAuthRecords(StorageBase):
    """OAuth clients and tokens under `{oauth}:...` (see the module docstring of `_oauth`)."""

    def register_oauth_client(
        self,
        name: str,
        grant_types: Sequence[OAuthGrantType],
        redirect_uris: Sequence[str] = (),
        scope: str = "",
        auth_method: TokenEndpointAuthMethod = TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
    ) -> RegisteredClient:
        """Register a confidential client under a fresh id with a fresh secret, returned
        once in plaintext; `auth_method` is how it says it will send the secret.

        Only the SHA-256 of the secret is stored. Raises `ValueError` for an empty name, no
        grant type, a redirect URI that is not absolute http(s), a malformed scope, or the
        auth method `none` (see `register_public_oauth_client`).
        """
        metadata = ClientMetadata(name, grant_types, redirect_uris, scope, auth_method)
        return self._run(_confidential(self._keys, metadata), "register_oauth_client")

    async def aregister_oauth_client(
        self,
        name: str,
        grant_types: Sequence[OAuthGrantType],
        redirect_uris: Sequence[str] = (),
        scope: str = "",
        auth_method: TokenEndpointAuthMethod = TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
    ) -> RegisteredClient:
        """Async twin of `register_oauth_client()`."""
        metadata = ClientMetadata(name, grant_types, redirect_uris, scope, auth_method)
        return await self._arun(_confidential(self._keys, metadata))

    def register_public_oauth_client(
        self,
        name: str,
        grant_types: Sequence[OAuthGrantType],
        redirect_uris: Sequence[str] = (),
        scope: str = "",
    ) -> OAuthClient:
        """Register a public client (RFC 6749 §2.1: no secret, auth method `none`) under a
        fresh id. Raises `ValueError` as `register_oauth_client()` does, and for the
        `client_credentials` grant, which needs a secret."""
        metadata = ClientMetadata(
            name, grant_types, redirect_uris, scope, TokenEndpointAuthMethod.NONE
        )
        return self._run(_public(self._keys, metadata), "register_public_oauth_client")

    async def aregister_public_oauth_client(
        self,
        name: str,
        grant_types: Sequence[OAuthGrantType],
        redirect_uris: Sequence[str] = (),
        scope: str = "",
    ) -> OAuthClient:
        """Async twin of `register_public_oauth_client()`."""
        metadata = ClientMetadata(
            name, grant_types, redirect_uris, scope, TokenEndpointAuthMethod.NONE
        )
        return await self._arun(_public(self._keys, metadata))

    def delete_oauth_client(self, client_id: str) -> bool:
        """Delete the client and every usable token issued to it, atomically; `True` if the
        client existed.

        Its access tokens stop working at once. What stays until it expires: used refresh
        tokens (kept to recognise a reuse; presenting one still fails), the family sets and
        the entries of user indexes, which readers skip once their token is gone. MCP
        sessions the client opened stay until they expire; without a token nobody can use
        them.
        """
        return self._run(delete_oauth_client(self._keys, client_id), "delete_oauth_client")

    async def adelete_oauth_client(self, client_id: str) -> bool:
        """Async twin of `delete_oauth_client()`."""
        return await self._arun(delete_oauth_client(self._keys, client_id))

    def count_registration_attempt(self, address: str, window: float | timedelta) -> AttemptCount:
        """Count one dynamic registration attempt from the client address `address`, in a
        fixed window of `window` (seconds or timedelta) that its first attempt starts; the
        count so far, this one included. The caller decides what is too many."""
        return self._run(
            count_registration_attempt(self._keys, address, window), "count_registration_attempt"
        )

    async def acount_registration_attempt(
        self, address: str, window: float | timedelta
    ) -> AttemptCount:
        """Async twin of `count_registration_attempt()`."""
        return await self._arun(count_registration_attempt(self._keys, address, window))

    def get_oauth_client(self, client_id: str) -> OAuthClient | None:
        """The client `client_id`, or `None`."""
        return self._run(get_oauth_client(self._keys, client_id), "get_oauth_client")

    async def aget_oauth_client(self, client_id: str) -> OAuthClient | None:
        """Async twin of `get_oauth_client()`."""
        return await self._arun(get_oauth_client(self._keys, client_id))

    def list_oauth_clients(self) -> list[OAuthClient]:
        """Every registered client, by id."""
        return self._run(list_oauth_clients(self._keys), "list_oauth_clients")

    async def alist_oauth_clients(self) -> list[OAuthClient]:
        """Async twin of `list_oauth_clients()`."""
        return await self._arun(list_oauth_clients(self._keys))

    def verify_client_secret(self, client_id: str, secret: str) -> OAuthClient | None:
        """The client if `secret` is its secret (compared in constant time), else `None`.

        Any id that names no client, even one that could not be a key, gives `None`.
        """
        return self._run(
            verify_client_secret(self._keys, client_id, secret), "verify_client_secret"
        )

    async def averify_client_secret(self, client_id: str, secret: str) -> OAuthClient | None:
        """Async twin of `verify_client_secret()`."""
        return await self._arun(verify_client_secret(self._keys, client_id, secret))

    def issue_token_pair(
        self,
        client_id: str,
        user: str,
        scope: str,
        access_ttl: float | timedelta,
        refresh_ttl: float | timedelta,
    ) -> IssuedTokens:
        """Issue an access and a refresh token of a new family to `user` of the client.

        The tokens are returned once, in plaintext; only their hashes are stored, expiring
        after the TTLs (seconds or timedelta). Raises `UnknownOAuthClientError` for a client
        that is not registered, `ValueError` for a bad user, scope or TTL. Which grants and
        scopes the client may have is the caller's policy.
        """
        return self._run(
            issue(self._keys, client_id, user, scope, access_ttl, refresh_ttl),
            "issue_token_pair",
        )

    async def aissue_token_pair(
        self,
        client_id: str,
        user: str,
        scope: str,
        access_ttl: float | timedelta,
        refresh_ttl: float | timedelta,
    ) -> IssuedTokens:
        """Async twin of `issue_token_pair()`."""
        return await self._arun(issue(self._keys, client_id, user, scope, access_ttl, refresh_ttl))

    def issue_client_token(
        self, client_id: str, scope: str, access_ttl: float | timedelta
    ) -> IssuedTokens:
        """Issue an access token (no refresh token) to the client acting for itself, as the
        client credentials grant does. Errors as for `issue_token_pair()`."""
        return self._run(
            issue(self._keys, client_id, None, scope, access_ttl, None), "issue_client_token"
        )

    async def aissue_client_token(
        self, client_id: str, scope: str, access_ttl: float | timedelta
    ) -> IssuedTokens:
        """Async twin of `issue_client_token()`."""
        return await self._arun(issue(self._keys, client_id, None, scope, access_ttl, None))

    def get_access_token(self, token: str) -> AccessTokenRecord | None:
        """The record of the access token `token`; `None` when unknown, expired or revoked
        (or when `token` cannot be a token at all)."""
        return self._run(get_access_token(self._keys, token), "get_access_token")

    async def aget_access_token(self, token: str) -> AccessTokenRecord | None:
        """Async twin of `get_access_token()`."""
        return await self._arun(get_access_token(self._keys, token))

    def introspect_token(self, token: str) -> TokenRecord | None:
        """The record of `token` if it is a live access token or a usable (unexpired,
        unused, unrevoked) refresh token, else `None`."""
        return self._run(introspect_token(self._keys, token), "introspect_token")

    async def aintrospect_token(self, token: str) -> TokenRecord | None:
        """Async twin of `introspect_token()`."""
        return await self._arun(introspect_token(self._keys, token))

    def rotate_refresh_token(
        self,
        token: str,
        client_id: str,
        access_ttl: float | timedelta,
        refresh_ttl: float | timedelta,
        scope: str | None = None,
    ) -> IssuedTokens:
        """Exchange the refresh token `token` of `client_id` for a new pair, atomically.

        The presented token is marked used; presenting it again revokes its whole family
        (every access and refresh token issued from the same login) and fails. The new
        access token gets `scope` when given (it must lie within the original scope, else
        `InvalidScopeError`); the new refresh token keeps the original scope. Raises
        `InvalidGrantError` for a token that is unknown, expired, revoked, reused or another
        client's; of two concurrent rotations of one token, one succeeds and the other
        counts as a reuse.
        """
        return self._run(
            rotate_refresh_token(self._keys, token, client_id, access_ttl, refresh_ttl, scope),
            "rotate_refresh_token",
        )

    async def arotate_refresh_token(
        self,
        token: str,
        client_id: str,
        access_ttl: float | timedelta,
        refresh_ttl: float | timedelta,
        scope: str | None = None,
    ) -> IssuedTokens:
        """Async twin of `rotate_refresh_token()`."""
        return await self._arun(
            rotate_refresh_token(self._keys, token, client_id, access_ttl, refresh_ttl, scope)
        )

    def revoke_token(self, token: str, client_id: str) -> bool:
        """Revoke `token` if it was issued to `client_id`; `True` if something was revoked.

        A refresh token (used or not) revokes its whole family, as RFC 7009 recommends; an
        access token only itself. Another client's token, or an unknown one, is left alone.
        """
        return self._run(revoke_token(self._keys, token, client_id), "revoke_token")

    async def arevoke_token(self, token: str, client_id: str) -> bool:
        """Async twin of `revoke_token()`."""
        return await self._arun(revoke_token(self._keys, token, client_id))

    def list_user_tokens(self, user: str) -> list[TokenRecord]:
        """The live access tokens and usable refresh tokens of `user`, oldest first."""
        return self._run(list_user_tokens(self._keys, user), "list_user_tokens")

    async def alist_user_tokens(self, user: str) -> list[TokenRecord]:
        """Async twin of `list_user_tokens()`."""
        return await self._arun(list_user_tokens(self._keys, user))

    def count_client_tokens(self, client_id: str) -> TokenCounts:
        """How many live access tokens and usable refresh tokens the client holds."""
        return self._run(count_client_tokens(self._keys, client_id), "count_client_tokens")

    async def acount_client_tokens(self, client_id: str) -> TokenCounts:
        """Async twin of `count_client_tokens()`."""
        return await self._arun(count_client_tokens(self._keys, client_id))
