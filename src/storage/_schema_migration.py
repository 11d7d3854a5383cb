"""The key schema version, and the migration of v1 data to v2 at startup. No I/O: the
migration is an operation like any other, driven by `initialize()` / `ainitialize()`.

Key schema v1 put one Redis Cluster hash tag per record family after the namespace
(`<ns>:{oauth}:...`, `<ns>:{mcp}:...`, `<ns>:{routes}:...`, `<ns>:{ports}:...`,
`<ns>:{certs}:...`); v2 (see `_keys`, `_oauth`, `_mcp`) puts the namespace inside the tag,
and one tag per OAuth grant, client, user index and MCP session. Keys without a tag
(`proxy:`, `kv:`, `counter:`, `acme:`, `docker-service:`) are the same in both.

The key `<ns>:schema-version` holds `2` once the data is in v2; it is written last, so a
migration that was killed is simply run again. Until it exists, the first process to SET
NX the lock `<ns>:schema-migration-lock` (with a TTL it renews while it works) migrates;
the others wait for the version key, and take over should the lock expire with the version
still missing (its holder died). The migration is correct without the lock, which only
saves the others the work: every step is idempotent and never overwrites v2 data.

- A string, stream or other single record moves with DUMP, then RESTORE (with its TTL)
  under its v2 key unless that key exists (a v2 record is never overwritten: it is newer),
  then DEL of the v1 key. The bytes move as they are, corrupt or not.
- A set that indexes records (a grant's members, the MCP session indexes, the route index,
  a service's ports) is added to its v2 set (SADD, so nothing written meanwhile is lost),
  keeping the longer TTL, then deleted.
- A token record moves as a record does, into its grant's slot (its family id read from the
  record), and gets the alias `{<ns>:token:<sha256>}:grant` naming its family, expiring with
  it: a v1 token has no family id in it. Its entries in the client's and the user's v2
  indexes (`<family id>:<member>`) are written from the record; the v1 sorted sets, whose
  members name no grant, are deleted once every token has moved.
- A key that cannot be moved (a token record without a readable family id, an index of the
  wrong Redis type, a key of a v1 family that no v1 code wrote) stays under its v1 name and
  is logged and reported; the migration goes on.

Processes of the v1 code must be stopped before the first v2 process starts: what they write
under v1 names afterwards is not read, nor migrated again.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ._codec import ModelT, decode_record, key_text
from ._errors import CorruptRecordError, InvalidKeyError, StorageError, StorageUnavailableError
from ._keys import KeySchema
from ._mcp_keys import events_key, session_key, sessions_index_key
from ._mcp_keys import user_index_key as mcp_user_index_key
from ._oauth_keys import (
    FAMILY_ID,
    MEMBER,
    client_index_key,
    client_key,
    family_key,
    legacy_alias_key,
    registrations_digest_key,
    token_key,
    user_index_key,
)
from ._oauth_models import AccessTokenRecord, RefreshTokenRecord, TokenRecord
from ._operations import Atomic, Command, Operation, Pause, Scan, initialize

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
"""The key schema this code reads and writes."""
LOCK_TTL_MS = 5000
"""How long the migration lock outlives a process that died holding it."""
WAIT_LIMIT_SECONDS = 120.0
"""How long a process waits for another to finish migrating before it gives up."""
_POLL_SECONDS = 0.05
_SET_CHUNK = 1000
"""Members per SADD: a Lua `unpack` of many more would overflow its stack."""

_RESTORE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('RESTORE', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
"""KEYS[1]: the v2 key. ARGV: the TTL (ms, 0: none), the DUMP of the v1 key. Restores it
unless the v2 key exists (then v2 is newer, and wins). Returns 1 if restored, else 0."""

_MERGE_SET = """
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  local current = redis.call('PTTL', KEYS[1])
  if existed == 0 or (current > 0 and current < ttl) then
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
end
return 1
"""
"""KEYS[1]: the v2 set. ARGV: the v1 set's TTL (ms, 0: none), then members. Adds them; the
set keeps the longer TTL (a v2 set that never expires keeps never expiring)."""

_INDEX_ENTRY = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""
"""KEYS[1]: a v2 token index. ARGV: the token's expiry (Unix ms), its entry, its TTL (ms).
As an issue adds an entry: the index lives as long as its longest-lived token."""

_RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(slots=True)
class MigrationReport:
    """What a migration of v1 data did."""

    moved: int = 0
    """v1 keys moved (or merged) into v2 and deleted."""
    left: list[tuple[str, str]] = field(default_factory=list)
    """v1 keys left under their v1 name, with the reason (logged too)."""

    def leave(self, key: str, reason: str) -> None:
        """Record (and log) a v1 key that stays where it is."""
        self.left.append((key, reason))
        # Keys hold hashes of tokens and addresses, never a secret.
        logger.warning("schema migration: %s left under its v1 name: %s", key, reason)


def _eval(script: str, keys: Sequence[str], args: Sequence[object]) -> Command:
    return ("EVAL", script, len(keys), *keys, *args)


def startup(keys: KeySchema) -> Operation[None]:
    """What `initialize()` runs: the data to v2 if it is not, then the defaults."""
    yield from migrate(keys)
    yield from initialize(keys)


def migrate(keys: KeySchema) -> Operation[None]:
    """Bring the data to key schema v2, unless it is (or another process brought it)."""
    owner = secrets.token_hex(16)
    waited = 0.0
    while True:
        if (yield from _current_version(keys)) is not None:
            return
        taken = yield ("SET", keys.migration_lock(), owner, "NX", "PX", LOCK_TTL_MS)
        if taken:
            break
        if waited >= WAIT_LIMIT_SECONDS:
            raise StorageUnavailableError(
                f"another process has held {keys.migration_lock()!r} for over "
                f"{WAIT_LIMIT_SECONDS:.0f} s without finishing the key schema migration"
            )
        yield Pause(_POLL_SECONDS)
        waited += _POLL_SECONDS
    # Taken after a holder finished: the version key tells.
    if (yield from _current_version(keys)) is not None:
        yield _eval(_RELEASE_LOCK, [keys.migration_lock()], [owner])
        return
    lock = _Lock(keys.migration_lock(), owner)
    report = MigrationReport()
    yield from _migrate_v1(keys, report, lock)
    yield ("SET", keys.schema_version(), str(SCHEMA_VERSION))
    yield _eval(_RELEASE_LOCK, [keys.migration_lock()], [owner])
    if report.moved or report.left:
        logger.info(
            "schema migration to v%d: %d v1 keys moved, %d left",
            SCHEMA_VERSION,
            report.moved,
            len(report.left),
        )


def _current_version(keys: KeySchema) -> Operation[int | None]:
    key = keys.schema_version()
    raw = yield ("GET", key)
    if raw is None:
        return None
    try:
        version = int(raw)
    except ValueError:
        raise CorruptRecordError(key, "not a key schema version") from None
    if version != SCHEMA_VERSION:
        raise StorageError(
            f"the data is in key schema v{version} ({key!r}); this gateway reads "
            f"v{SCHEMA_VERSION} only"
        )
    return version


@dataclass(slots=True)
class _Lock:
    key: str
    owner: str
    renewed: float = field(default_factory=time.monotonic)

    def renew(self) -> Operation[None]:
        """Keep the lock, once a third of its TTL has passed. Losing it (it expired during
        a stall) changes nothing: the migration stays correct, another process may only
        repeat some of its steps."""
        if time.monotonic() - self.renewed < LOCK_TTL_MS / 3000:
            return
        yield _eval(_RENEW_LOCK, [self.key], [self.owner, LOCK_TTL_MS])
        self.renewed = time.monotonic()


# Moving keys


def _copy(old: str, new: str) -> Operation[bool]:
    """Copy one record as it is (any Redis type) to `new`, unless v2 has one there
    already; `False` when `old` is gone (expired, or moved by another process)."""
    dumped, pttl = yield Atomic((("DUMP", old), ("PTTL", old)))
    if dumped is None:
        return False
    yield _eval(_RESTORE, [new], [max(int(pttl), 0), dumped])
    return True


def _move(old: str, new: str, report: MigrationReport) -> Operation[None]:
    """Move one record: copy it, then delete the v1 key."""
    if (yield from _copy(old, new)):
        yield ("DEL", old)
        report.moved += 1


def _merge_set(old: str, new: str, report: MigrationReport) -> Operation[None]:
    """Add the members of the v1 set `old` to the v2 set `new`, then delete `old`."""
    try:
        members, pttl = yield Atomic((("SMEMBERS", old), ("PTTL", old)))
    except CorruptRecordError:
        report.leave(old, "not a Redis set")
        return
    ordered = sorted(members)
    for start in range(0, len(ordered), _SET_CHUNK):
        chunk = ordered[start : start + _SET_CHUNK]
        yield _eval(_MERGE_SET, [new], [max(int(pttl), 0), *chunk])
    yield ("DEL", old)
    report.moved += 1


def _move_token(
    keys: KeySchema, old: str, member: str, model: type[TokenRecord], report: MigrationReport
) -> Operation[None]:
    """Move a token record into its grant's slot, with its alias and index entries."""
    try:
        raw, pttl = yield Atomic((("GET", old), ("PTTL", old)))
    except CorruptRecordError:
        report.leave(old, "not a string")
        return
    if raw is None:
        return
    record = _decoded(old, raw, model, report)
    if record is None:
        return
    if not FAMILY_ID.fullmatch(record.family_id):
        report.leave(old, "the record's family id is not a v1 family id")
        return
    family_id, ttl = record.family_id, max(int(pttl), 0)
    if not (yield from _copy(old, token_key(keys, family_id, member))):
        return
    # The alias and the index entries before the v1 key goes: a migration killed in
    # between finds the v1 key again and writes them again.
    alias = legacy_alias_key(keys, member.split(":", 1)[1])
    yield ("SET", alias, family_id, "NX", *(("PX", ttl) if ttl else ()))
    # v1 kept used refresh tokens out of the indexes; v2 does too.
    usable = not (isinstance(record, RefreshTokenRecord) and record.used_at is not None)
    if usable and ttl:
        expiry_ms = round(record.expires_at.timestamp() * 1000)
        indexes = [client_index_key(keys, record.client_id)]
        if record.user is not None:
            indexes.append(user_index_key(keys, record.user))
        for index in indexes:
            yield _eval(_INDEX_ENTRY, [index], [expiry_ms, f"{family_id}:{member}", ttl])
    yield ("DEL", old)
    report.moved += 1


def _decoded(key: str, raw: bytes, model: type[ModelT], report: MigrationReport) -> ModelT | None:
    try:
        return decode_record(key, raw, model)
    except CorruptRecordError as exc:
        report.leave(key, str(exc))
        return None


# The v1 families

_Mover = Callable[[str, str, MigrationReport], Operation[None]]
"""How one v1 key (the key, and the part after its family's tag) moves."""


def _oauth_step(keys: KeySchema) -> _Mover:
    def step(old: str, rest: str, report: MigrationReport) -> Operation[None]:
        kind, _, part = rest.partition(":")
        if kind in ("access", "refresh") and MEMBER.fullmatch(rest):
            model = AccessTokenRecord if kind == "access" else RefreshTokenRecord
            yield from _move_token(keys, old, rest, model, report)
        elif kind == "client":
            yield from _move(old, client_key(keys, part), report)
        elif kind == "family":
            yield from _merge_set(old, family_key(keys, part), report)
        elif kind == "registrations":
            yield from _move(old, registrations_digest_key(keys, part), report)
        else:
            report.leave(old, "not a key of the v1 OAuth schema")

    return step


def _mcp_step(keys: KeySchema) -> _Mover:
    def step(old: str, rest: str, report: MigrationReport) -> Operation[None]:
        kind, _, part = rest.partition(":")
        if kind == "session":
            yield from _move(old, session_key(keys, part), report)
        elif kind == "events":
            yield from _move(old, events_key(keys, part), report)
        elif rest == "sessions":
            yield from _merge_set(old, sessions_index_key(keys), report)
        elif kind == "user":
            yield from _merge_set(old, mcp_user_index_key(keys, part), report)
        else:
            report.leave(old, "not a key of the v1 MCP schema")

    return step


def _family_step(keys: KeySchema, family: str, sets: Callable[[str], bool]) -> _Mover:
    """Routes, ports, certificates: the same key after the tag, which now holds the
    namespace; `sets` tells the index sets (merged) from the records (moved)."""

    def step(old: str, rest: str, report: MigrationReport) -> Operation[None]:
        new = f"{keys.family_tagged(family)}:{rest}"
        if sets(rest):
            yield from _merge_set(old, new, report)
        else:
            yield from _move(old, new, report)

    return step


def _v1_families(keys: KeySchema) -> list[tuple[str, _Mover]]:
    """Each v1 family's key prefix, and how its keys move; tokens last of the OAuth keys
    but before the v1 token indexes, which are deleted once every token moved."""
    families: list[tuple[str, _Mover]] = [
        ("oauth", _oauth_step(keys)),
        ("mcp", _mcp_step(keys)),
        ("routes", _family_step(keys, "routes", lambda rest: rest == "index")),
        ("ports", _family_step(keys, "ports", lambda rest: rest.startswith("service:"))),
        ("certs", _family_step(keys, "certs", lambda rest: False)),
    ]
    # Without a namespace the v1 and v2 keys of routes, ports and certificates coincide.
    return [
        (f"{keys.prefix}{{{family}}}:", step)
        for family, step in families
        if f"{keys.prefix}{{{family}}}" != keys.family_tagged(family)
    ]


def _migrate_v1(keys: KeySchema, report: MigrationReport, lock: _Lock) -> Operation[None]:
    token_indexes: list[str] = []
    for prefix, step in _v1_families(keys):
        found: list[bytes] = yield Scan(f"{prefix}*")
        for raw_key in found:
            old = key_text(raw_key)
            rest = old.removeprefix(prefix)
            if rest.startswith(("client-tokens:", "user-tokens:")) and prefix.endswith("{oauth}:"):
                token_indexes.append(old)
                continue
            try:
                yield from step(old, rest, report)
            except InvalidKeyError:
                report.leave(old, "its id cannot be a v2 key part")
            yield from lock.renew()
    # Rebuilt from the token records above; their v1 members name no grant.
    for index in token_indexes:
        yield ("DEL", index)
        report.moved += 1
