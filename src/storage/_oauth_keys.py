"""The keys of OAuth clients, grants and token indexes (key schema v2), without I/O.

`_oauth` documents the schema; the schema migration builds the same keys from v1 data.
"""

from __future__ import annotations

import hashlib
import re

from ._errors import InvalidKeyError
from ._keys import KeySchema
from ._oauth_models import secret_hash, validate_user

FAMILY_ID = re.compile(r"[0-9a-f]{32}")
"""A token family (grant) id: `secrets.token_hex(16)`, under both key schemas."""
MEMBER = re.compile(r"(access|refresh):[0-9a-f]{64}")
"""A member of a grant's set: the token's kind and SHA-256."""
_MAX_ADDRESS_LENGTH = 256


def validate_family_id(family_id: str) -> str:
    """`family_id` if it is a token family id, else `InvalidKeyError`."""
    if not FAMILY_ID.fullmatch(family_id):
        raise InvalidKeyError("invalid token family id: expected 32 hexadecimal digits")
    return family_id


def grant_tag(keys: KeySchema, family_id: str) -> str:
    """The hash tag of every key of one grant (token family)."""
    return keys.tagged("grant", validate_family_id(family_id))


def client_key(keys: KeySchema, client_id: str) -> str:
    """The key of an OAuth client."""
    return f"{keys.tagged('client', client_id)}:record"


def client_pattern(keys: KeySchema) -> str:
    """The SCAN pattern that matches every client's key."""
    return f"{keys.tagged_pattern('client')}:record"


def family_key(keys: KeySchema, family_id: str) -> str:
    """The key of the set of a grant's members."""
    return f"{grant_tag(keys, family_id)}:members"


def client_index_key(keys: KeySchema, client_id: str) -> str:
    """The key of the sorted set of a client's usable tokens."""
    return f"{keys.tagged('client', client_id)}:tokens"


def user_index_key(keys: KeySchema, user: str) -> str:
    """The key of the sorted set of a user's usable tokens."""
    digest = hashlib.sha256(validate_user(user).encode()).hexdigest()
    return f"{keys.tagged('user-tokens', digest)}:tokens"


def registrations_key(keys: KeySchema, address: str) -> str:
    """The key of the count of dynamic registrations attempted from a client address."""
    if not isinstance(address, str) or not 1 <= len(address) <= _MAX_ADDRESS_LENGTH:
        raise ValueError(f"a client address is 1-{_MAX_ADDRESS_LENGTH} characters")
    return registrations_digest_key(keys, hashlib.sha256(address.encode()).hexdigest())


def registrations_digest_key(keys: KeySchema, digest: str) -> str:
    """The key of the registration count of the address whose SHA-256 is `digest`."""
    return f"{keys.tagged('registrations', digest)}:count"


def legacy_alias_key(keys: KeySchema, token_hash: str) -> str:
    """The key naming the family id of a token issued under key schema v1, by its hash."""
    return f"{keys.tagged('token', token_hash)}:grant"


def token_member(kind: str, token: str) -> str:
    """The member naming a token in its grant's set: `<kind>:<sha256(token)>`."""
    return f"{kind}:{secret_hash(token)}"


def token_key(keys: KeySchema, family_id: str, member: str) -> str:
    """The key of the token `member` of the grant `family_id`."""
    return f"{grant_tag(keys, family_id)}:{member}"
