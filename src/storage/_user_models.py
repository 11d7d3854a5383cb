"""The gateway's users and their password hashes. No I/O.

Passwords are hashed with scrypt (`hashlib.scrypt`: memory-hard, in the standard library)
and a random salt per user; the parameters are stored with each hash, so stronger ones can
be adopted later without invalidating the hashes already stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._errors import StorageError
from ._oauth_models import validate_user

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
"""scrypt's parameters for new hashes: N=2^14, r=8, p=1 is the interactive-login setting
of the scrypt paper (16 MiB and some 50 ms of one core per hash): costly for an attacker
with a stolen hash, cheap enough for a gateway that hashes once per sign-in."""
SALT_BYTES = 16
HASH_BYTES = 32
MAX_PASSWORD_LENGTH = 1024
"""Characters of a password at most: enough for any passphrase, and it bounds what a
sign-in makes the gateway hash."""
_MAX_MEMORY = 64 * 1024 * 1024


class UserExistsError(StorageError):
    """A user of that name exists already."""


def _now() -> datetime:
    return datetime.now(UTC)


class PasswordHash(BaseModel):
    """A scrypt hash of a password with its salt and parameters (hex)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(ge=2, le=2**20)
    r: int = Field(ge=1, le=32)
    p: int = Field(ge=1, le=16)
    salt: str = Field(pattern=r"^[0-9a-f]{32,128}$", repr=False)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", repr=False)


class User(BaseModel):
    """A user who may sign in at the gateway's sign-in page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    password: PasswordHash = Field(repr=False)
    created_at: datetime = Field(default_factory=_now)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return validate_user(value)


@dataclass(frozen=True, slots=True)
class SignInFailures:
    """Failed sign-ins in the current windows: of one user, and from one client address."""

    user: int
    address: int


def _check_password(password: object) -> str:
    if not isinstance(password, str) or not 1 <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password is 1-{MAX_PASSWORD_LENGTH} characters")
    return password


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=_MAX_MEMORY,
        dklen=HASH_BYTES,
    )


def hash_password(password: str) -> PasswordHash:
    """A fresh salted scrypt hash of `password`; `ValueError` for an empty or overlong one.
    The error never shows the password."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(_check_password(password), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return PasswordHash(n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, salt=salt.hex(), hash=digest.hex())


def password_matches(password: str, stored: PasswordHash) -> bool:
    """Whether `password` hashes to `stored`, compared in constant time."""
    try:
        _check_password(password)
    except ValueError:
        return False
    digest = _scrypt(password, bytes.fromhex(stored.salt), stored.n, stored.r, stored.p)
    return hmac.compare_digest(digest, bytes.fromhex(stored.hash))


_DUMMY_SALT = secrets.token_bytes(SALT_BYTES)


def unknown_user_check(password: str) -> None:
    """Spend the time of a password check for a user who does not exist, so that a
    sign-in's timing does not tell which names exist."""
    _scrypt(password[:MAX_PASSWORD_LENGTH] or "-", _DUMMY_SALT, SCRYPT_N, SCRYPT_R, SCRYPT_P)
