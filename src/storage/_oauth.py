"""OAuth clients and tokens: the I/O-free operations, and the storage methods that run them.

Key schema v2 (`<ns>` is the namespace, empty by default, which drops its `:`). Each grant
(the tokens of one login, and of every rotation since), each client and each user index
has a hash tag of its own, so on a Redis Cluster they spread over the slots:

    {<ns>:grant:<family id>}:access:<sha256(token)>   `AccessTokenRecord` as JSON; expires
                                                      with the token
    {<ns>:grant:<family id>}:refresh:<sha256(token)>  `RefreshTokenRecord` as JSON; expires
                                                      with it. Kept, marked used, after a
                                                      rotation, to recognise a second use
    {<ns>:grant:<family id>}:members    set of the members (`access:<sha256>`,
                                        `refresh:<sha256>`) of the grant's tokens; expires
                                        with its last token
    {<ns>:client:<client id>}:record    `OAuthClient` as JSON (secret as SHA-256)
    {<ns>:client:<client id>}:tokens    sorted set: the client's usable tokens
    {<ns>:user-tokens:<sha256(user)>}:tokens   sorted set: the user's usable tokens
    {<ns>:registrations:<sha256(address)>}:count   integer: dynamic registrations
                                        attempted from one address in the current window
    {<ns>:token:<sha256(token)>}:grant  the family id of a token issued under key schema v1
                                        (written by the migration, expiring with the token)

A token issued under v2 is `<family id>.<random>`: the proxy finds its grant's slot from
the token itself and checks it with one GET of `sha256(token)` (the whole token). A v1 token
(plain random, no family id) costs a GET of its alias first, so two round trips, until it
expires or is rotated into a v2 pair.

The sorted sets' members are index entries, `<family id>:<member>`, scored by the token's
expiry (Unix ms). Redis cannot expire a member, so writes drop the expired ones and readers
skip them. User names are hashed into their key: any printable name is a valid user without
ever becoming a key part.

Atomicity. What must be atomic happens in the grant's slot, in one script or MULTI/EXEC:
issuing the tokens, rotating (one winner of any number of concurrent rotations, in any
number of processes: the script applies only to the record as read), reuse detection
revoking the family, revocation. The indexes live in other slots, so they change in steps
of their own, after the grant's: an index can name a token that is gone (revoked, or its
step's process died between the two), never miss a usable one; readers skip and prune such
entries. Deleting a client deletes its record first, then revokes every grant its index
names: an issue adds its index entry in one script with the check that the client exists,
so either the deletion sees the entry (and revokes the grant) or the issue sees the client
gone (and revokes its own grant); a rotation needs a refresh token of a grant the index
names, and that grant is revoked (see `delete_oauth_client`).

Tokens are found by the SHA-256 of their value only. A value that cannot be a bearer token
(empty, too long, stray characters) is unknown without a round trip. A token record that
cannot be decoded (bad JSON, wrong fields, wrong Redis type) makes its token unknown, like a
missing record: it is logged with its key and left untouched, and no caller sees a
`CorruptRecordError` for a token (a 500 at the token endpoint or the proxy would be worse
than a refused token). A corrupt client record likewise fails the client's authentication.
"""

from __future__ import annotations

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
from ._oauth_keys import (
    FAMILY_ID,
    MEMBER,
    client_index_key,
    client_key,
    client_pattern,
    family_key,
    legacy_alias_key,
    registrations_key,
    token_key,
    token_member,
    user_index_key,
)
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
    GetMany,
    Operation,
    Replicated,
    count_attempt,
    load_all,
    ttl_milliseconds,
)

logger = logging.getLogger(__name__)

_ENTRY = re.compile(r"([0-9a-f]{32}):((?:access|refresh):[0-9a-f]{64})")
_V2_TOKEN = re.compile(r"([0-9a-f]{32})\.[A-Za-z0-9_-]+")

_ROTATE = """
local function extend(key, ttl)
  if redis.call('PTTL', key) < tonumber(ttl) then
    redis.call('PEXPIRE', key, ttl)
  end
end

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
for i = 3, #KEYS do
  local a = 3 + (i - 3) * 3
  redis.call('SET', KEYS[i], ARGV[a + 1], 'PX', ARGV[a + 2])
  redis.call('SADD', KEYS[2], ARGV[a])
  extend(KEYS[2], ARGV[a + 2])
end
return 1
"""
"""KEYS[1]: the refresh token presented; KEYS[2]: its grant's member set; the rest: the new
tokens' keys. ARGV[1]: the presented record as read; ARGV[2]: the record marked used; from
ARGV[3], three values per new token: member, record, TTL (ms). Applies only if the record is
still the one read (so it was neither used nor revoked meanwhile): marks it used and adds
the new tokens. Returns 1, or 0 (nothing written) when the record changed."""

_REVOKE_FAMILY = """
if redis.call('SCARD', KEYS[1]) ~= #KEYS - 1 then
  return -1
end
for i = 2, #KEYS do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i - 1]) == 0 then
    return -1
  end
end
local deleted = 0
for i = 2, #KEYS do
  deleted = deleted + redis.call('DEL', KEYS[i])
end
redis.call('DEL', KEYS[1])
return deleted
"""
"""KEYS[1]: a grant's member set; the rest: the keys of its members, which follow in ARGV.
Deletes every token of the grant and the set, and returns how many token keys existed;
returns -1 (nothing deleted) when the members passed are not exactly the set's, because a
rotation added tokens since they were read."""

_REVOKE_ACCESS = """
redis.call('SREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""
"""KEYS: an access token, its grant's member set; ARGV[1]: its member. Deletes it and takes it
out of the set; returns 1 if it existed. (A script, not MULTI/EXEC: a grant-critical write is
one command, which `WAIT` can follow on its connection.)"""

_INDEX = """
local removals = tonumber(ARGV[2])
if #KEYS > 1 and redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
for i = 3, 2 + removals do
  redis.call('ZREM', KEYS[1], ARGV[i])
end
for a = 3 + removals, #ARGV, 3 do
  redis.call('ZADD', KEYS[1], ARGV[a + 1], ARGV[a])
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[a + 2]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[a + 2])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return 1
"""
"""KEYS[1]: a token index; KEYS[2], optional: a key that must exist (the client record, in
the client's slot) for anything to be written. ARGV[1]: now (Unix ms); ARGV[2]: how many
entries to remove, which follow; then three values per entry to add: entry, expiry (Unix
ms), TTL (ms). The index lives as long as its longest-lived token; expired entries are
dropped. Returns 1, or 0 (nothing written) when KEYS[2] does not exist."""


def _index_keys(keys: KeySchema, client_id: str, user: str | None) -> list[str]:
    indexes = [client_index_key(keys, client_id)]
    if user is not None:
        indexes.append(user_index_key(keys, user))
    return indexes


def _members(key: str, replies: Iterable[bytes]) -> list[str]:
    members = sorted(key_text(reply) for reply in replies)
    if not all(MEMBER.fullmatch(member) for member in members):
        raise CorruptRecordError(key, "a member is not a token reference")
    return members


def _entries(key: str, replies: Iterable[bytes]) -> list[tuple[str, str]]:
    """The (family id, member) of each entry of a token index."""
    entries = []
    for reply in replies:
        entry = _ENTRY.fullmatch(key_text(reply))
        if entry is None:
            raise CorruptRecordError(key, "an entry is not a token reference")
        entries.append((entry[1], entry[2]))
    return sorted(entries)


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


def _family_of(keys: KeySchema, token: str) -> Operation[str | None]:
    """The family id of a plausible token: from the token itself (v2), else from its
    legacy alias (v1, one GET); `None` for a token of no known grant."""
    issued_v2 = _V2_TOKEN.fullmatch(token)
    if issued_v2 is not None:
        return issued_v2[1]
    key = legacy_alias_key(keys, secret_hash(token))
    try:
        raw = yield ("GET", key)
    except CorruptRecordError as exc:
        _ignored(exc)
        return None
    family_id = None if raw is None else key_text(raw)
    if family_id is not None and not FAMILY_ID.fullmatch(family_id):
        _ignored(CorruptRecordError(key, "not a token family id"))
        return None
    return family_id


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


def _new_token(grant: _Grant) -> str:
    # The family id first: it names the grant's hash tag, so the token alone finds its slot.
    return f"{grant.family_id}.{new_secret()}"


def _stored(token: str, record: TokenRecord, ttl_ms: int) -> _NewToken:
    return _NewToken(
        token_member(record.kind, token), encode_record(record), ttl_ms, _unix_ms(record.expires_at)
    )


def _new_access_token(grant: _Grant, ttl_ms: int) -> tuple[str, AccessTokenRecord, _NewToken]:
    token = _new_token(grant)
    record = AccessTokenRecord.model_validate(_token_fields(grant, ttl_ms))
    return token, record, _stored(token, record, ttl_ms)


def _new_refresh_token(grant: _Grant, ttl_ms: int) -> tuple[str, _NewToken]:
    token = _new_token(grant)
    record = RefreshTokenRecord.model_validate(_token_fields(grant, ttl_ms))
    return token, _stored(token, record, ttl_ms)


def _index_args(
    now_ms: int, family_id: str, removed: Sequence[str], added: Sequence[_NewToken]
) -> list[object]:
    args: list[object] = [now_ms, len(removed), *(f"{family_id}:{m}" for m in removed)]
    for token in added:
        args += [f"{family_id}:{token.member}", token.expiry_ms, token.ttl_ms]
    return args


def _update_index(
    index: str,
    now_ms: int,
    family_id: str,
    removed: Sequence[str] = (),
    added: Sequence[_NewToken] = (),
    must_exist: str | None = None,
) -> Operation[bool]:
    """Remove and add entries of one token index; `False` (nothing written) when
    `must_exist` (a key of the index's slot) does not exist."""
    condition = [] if must_exist is None else [must_exist]
    applied = yield _eval(
        _INDEX, [index, *condition], _index_args(now_ms, family_id, removed, added)
    )
    return bool(applied)


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
    family = family_key(keys, grant.family_id)
    # A fresh family: its set lives as long as its longest-lived token.
    yield Atomic(
        (
            *(
                ("SET", token_key(keys, grant.family_id, t.member), t.record, "PX", t.ttl_ms)
                for t in tokens
            ),
            ("SADD", family, *(t.member for t in tokens)),
            ("PEXPIRE", family, max(t.ttl_ms for t in tokens)),
        )
    )
    now_ms = _unix_ms(grant.now)
    indexed = yield from _update_index(
        client_index_key(keys, grant.client_id),
        now_ms,
        grant.family_id,
        added=tokens,
        must_exist=client_key(keys, grant.client_id),
    )
    if not indexed:
        # No such client (or deleted meanwhile, after its deletion read the index): the
        # tokens must not stay usable.
        yield from _revoke_grant(keys, grant.family_id)
        raise UnknownOAuthClientError(f"no OAuth client {client_id!r} is registered")
    if grant.user is not None:
        yield from _update_index(
            user_index_key(keys, grant.user), now_ms, grant.family_id, added=tokens
        )
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
    index = client_index_key(keys, client_id)
    # The record first: from then on no issue can index a token of the client (`_INDEX`
    # checks the record in the index's slot), so the index read next names every grant
    # that can hold a usable token of the client.
    existed = yield ("DEL", client_key(keys, client_id))
    entries = _entries(index, (yield ("ZRANGE", index, 0, -1)))
    for family_id in sorted({family_id for family_id, _ in entries}):
        yield from _revoke_grant(keys, family_id)
    yield ("DEL", index)
    return bool(existed)


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
    """Every client, by id (SCAN: on a Cluster, every primary's)."""
    clients = yield from load_all(client_pattern(keys), OAuthClient)
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
    """The record of a live access token; `None` when unknown, expired or revoked. One GET
    for a v2 token, two for a v1 one (its alias first)."""
    if not plausible_token(token):
        return None
    family_id = yield from _family_of(keys, token)
    if family_id is None:
        return None
    key = token_key(keys, family_id, token_member("access", token))
    _, record = yield from _read_record(key, AccessTokenRecord)
    if record is None or record.expired(_now()):
        return None
    return record


def _read_token(
    keys: KeySchema, token: str
) -> Operation[tuple[AccessTokenRecord | None, RefreshTokenRecord | None]]:
    family_id = yield from _family_of(keys, token)
    if family_id is None:
        return None, None
    access_key = token_key(keys, family_id, token_member("access", token))
    refresh_key = token_key(keys, family_id, token_member("refresh", token))
    # One slot (the grant's). MGET answers nil for a key of another type: such a record
    # counts as absent too.
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


def _revoke_grant(keys: KeySchema, family_id: str) -> Operation[list[str]]:
    """Delete every token of the grant, atomically in its slot; the members that were in
    its set (their index entries are the caller's to remove)."""
    family = family_key(keys, family_id)
    while True:
        members = _members(family, (yield ("SMEMBERS", family)))
        deleted = yield Replicated(
            _eval(
                _REVOKE_FAMILY,
                [family, *(token_key(keys, family_id, member) for member in members)],
                members,
            )
        )
        if deleted >= 0:
            return members
        # A rotation added tokens since SMEMBERS: read the set again.


def _unindex(
    keys: KeySchema, family_id: str, client_id: str, user: str | None, members: Sequence[str]
) -> Operation[None]:
    """Remove the entries of a grant's `members` from its client's and its user's indexes."""
    if not members:
        return
    now_ms = _unix_ms(_now())
    for index in _index_keys(keys, client_id, user):
        yield from _update_index(index, now_ms, family_id, removed=members)


def revoke_grant(
    keys: KeySchema, family_id: str, client_id: str, user: str | None
) -> Operation[int]:
    """Revoke every token of the grant `family_id` (issued to `client_id` for `user`), and
    remove them from the indexes; how many tokens the grant had."""
    members = yield from _revoke_grant(keys, family_id)
    yield from _unindex(keys, family_id, client_id, user, members)
    return len(members)


def _revoke_family(keys: KeySchema, record: TokenRecord) -> Operation[int]:
    return (yield from revoke_grant(keys, record.family_id, record.client_id, record.user))


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
    unknown = InvalidGrantError("the refresh token is unknown, expired or revoked")
    if not plausible_token(token):
        raise unknown
    family_id = yield from _family_of(keys, token)
    if family_id is None:
        raise unknown
    member = token_member("refresh", token)
    key = token_key(keys, family_id, member)
    while True:
        raw, record = yield from _read_record(key, RefreshTokenRecord)
        now = _now()
        if record is None or record.expired(now) or record.family_id != family_id:
            raise unknown
        if record.client_id != client_id:
            raise InvalidGrantError("the refresh token was issued to another client")
        if record.used_at is not None:
            yield from _revoke_family(keys, record)
            raise InvalidGrantError(
                "the refresh token was already used; every token of its grant is now revoked"
            )
        if requested is not None and not scope_within(requested, record.scope):
            raise InvalidScopeError("the requested scope exceeds the scope originally granted")
        grant = _Grant(record.client_id, record.user, record.scope, family_id, now, record.audience)
        # RFC 6749 §6: the new refresh token keeps the scope of the one it replaces; only
        # the access token may be narrowed.
        refresh_token, stored_refresh = _new_refresh_token(grant, refresh_ms)
        if requested is not None:
            grant = _Grant(
                record.client_id, record.user, requested, family_id, now, record.audience
            )
        access_token, access, stored_access = _new_access_token(grant, access_ms)
        tokens = [stored_access, stored_refresh]
        args: list[object] = [raw, encode_record(record.model_copy(update={"used_at": now}))]
        for new in tokens:
            args += [new.member, new.record, new.ttl_ms]
        applied = yield Replicated(
            _eval(
                _ROTATE,
                [
                    key,
                    family_key(keys, family_id),
                    *(token_key(keys, family_id, t.member) for t in tokens),
                ],
                args,
            )
        )
        if applied:
            for index in _index_keys(keys, record.client_id, record.user):
                yield from _update_index(
                    index, _unix_ms(now), family_id, removed=[member], added=tokens
                )
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
    deleted = yield Replicated(
        _eval(
            _REVOKE_ACCESS,
            [token_key(keys, access.family_id, member), family_key(keys, access.family_id)],
            [member],
        )
    )
    yield from _unindex(keys, access.family_id, access.client_id, access.user, [member])
    return bool(deleted)


def _indexed_tokens(index: str, keys: KeySchema) -> Operation[list[TokenRecord]]:
    """The live, usable tokens an index names, oldest first; entries whose token is gone
    (revoked, used) are pruned."""
    now = _now()
    entries = _entries(index, (yield ("ZRANGEBYSCORE", index, f"({_unix_ms(now)}", "+inf")))
    if not entries:
        return []
    # Each grant has its own slot.
    raws = yield GetMany(tuple(token_key(keys, family, member) for family, member in entries))
    records: list[TokenRecord] = []
    stale: list[str] = []
    for (family_id, member), raw in zip(entries, raws, strict=True):
        key = token_key(keys, family_id, member)
        record: TokenRecord | None
        if member.startswith("access:"):
            record = decode_record(key, raw, AccessTokenRecord)
        else:
            record = decode_record(key, raw, RefreshTokenRecord)
            if record is not None and record.used_at is not None:
                record = None  # a rotation whose index step did not run
        if record is None:
            stale.append(f"{family_id}:{member}")
        elif not record.expired(now):
            records.append(record)
    if stale:
        yield ("ZREM", index, *stale)
    return sorted(records, key=lambda record: (record.issued_at, record.kind))


def list_user_tokens(keys: KeySchema, user: str) -> Operation[list[TokenRecord]]:
    """The user's live access tokens and usable refresh tokens, oldest first."""
    return (yield from _indexed_tokens(user_index_key(keys, user), keys))


def count_client_tokens(keys: KeySchema, client_id: str) -> Operation[TokenCounts]:
    """How many live access tokens and usable refresh tokens the client holds."""
    records = yield from _indexed_tokens(client_index_key(keys, client_id), keys)
    access = sum(record.kind == "access" for record in records)
    return TokenCounts(access=access, refresh=len(records) - access)


class OAuthRecords(StorageBase):
    """OAuth clients, grants and token indexes (see the module docstring of `_oauth`)."""

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
        """Delete the client and every token issued to it; `True` if the client existed.

        The record goes first, then every grant the client's index names, each atomically
        in its own slot; once this returns no token of the client works, and none can be
        issued or rotated into existence (see the module docstring of `_oauth`). What stays
        until it expires or a reader prunes it: the entries of user indexes, which readers
        skip once their token is gone. MCP sessions the client opened stay until they
        expire; without a token nobody can use them.
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
