"""The gateway's own users (who may sign in at `/authorize`), and the count of failed
sign-ins: the I/O-free operations, and the storage methods that run them.

Key schema (v2: one hash tag per entity, the namespace inside it). User names are hashed
into their keys, as the OAuth user indexes are: any printable name is a valid user without
ever becoming a key part.

    {<namespace>:user:<sha256(name)>}:record        `User` as JSON (the scrypt hash of the
                                                    password, never the password); no TTL
    {<namespace>:signin-user:<sha256(name)>}:failures        integer: failed sign-ins of
                                                    one user in the current window
    {<namespace>:signin-address:<sha256(address)>}:failures  integer: failed sign-ins
                                                    from one client address in the window

A failure counter starts its fixed window with its first failure and expires with it.

Hashing a password (scrypt, memory-hard) costs tens of milliseconds of CPU: the async
twins run it on a worker thread, so the event loop keeps serving while it runs.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import timedelta

from ._base import StorageBase
from ._codec import decode_record, encode_record, key_text
from ._keys import KeySchema
from ._oauth_models import validate_user
from ._operations import GetMany, Operation, count_attempt, load_all
from ._user_models import (
    SignInFailures,
    User,
    UserExistsError,
    hash_password,
    password_matches,
    unknown_user_check,
)

_MAX_ADDRESS_LENGTH = 256


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def user_key(keys: KeySchema, name: str) -> str:
    """The key of a user's record."""
    return f"{keys.tagged('user', _digest(validate_user(name)))}:record"


def user_pattern(keys: KeySchema) -> str:
    """The SCAN pattern of every user record (the namespace holds no glob character: it is
    a validated identifier)."""
    return f"{{{keys.prefix}user:*}}:record"


def user_failures_key(keys: KeySchema, name: str) -> str:
    """The key of the count of a user's failed sign-ins in the current window."""
    return f"{keys.tagged('signin-user', _digest(validate_user(name)))}:failures"


def address_failures_key(keys: KeySchema, address: str) -> str:
    """The key of the count of failed sign-ins from a client address in the current window."""
    if not isinstance(address, str) or not 1 <= len(address) <= _MAX_ADDRESS_LENGTH:
        raise ValueError(f"a client address is 1-{_MAX_ADDRESS_LENGTH} characters")
    return f"{keys.tagged('signin-address', _digest(address))}:failures"


# Operations


def store_user(keys: KeySchema, user: User, *, replace: bool) -> Operation[bool]:
    """Write `user`; unless `replace`, only if the name is free. Whether it was written."""
    extra = () if replace else ("NX",)
    written = yield ("SET", user_key(keys, user.name), encode_record(user), *extra)
    return bool(written)


def get_user(keys: KeySchema, name: str) -> Operation[User | None]:
    """Read one user."""
    key = user_key(keys, name)
    raw = yield ("GET", key)
    return decode_record(key, raw, User)


def delete_user(keys: KeySchema, name: str) -> Operation[bool]:
    """Delete one user; whether it existed."""
    deleted = yield ("DEL", user_key(keys, name))
    return bool(deleted)


def list_users(keys: KeySchema) -> Operation[list[User]]:
    """Every user, by name."""
    users = yield from load_all(user_pattern(keys), User)
    return sorted(users, key=lambda user: user.name)


def count_sign_in_failure(
    keys: KeySchema, name: str, address: str, window: float | timedelta
) -> Operation[SignInFailures]:
    """Count one failed sign-in against the user and against the address. Two counters in
    two slots, each changed by one atomic command: they need not change together."""
    user, _ = yield from count_attempt(user_failures_key(keys, name), window)
    by_address, _ = yield from count_attempt(address_failures_key(keys, address), window)
    return SignInFailures(user=user, address=by_address)


def get_sign_in_failures(keys: KeySchema, name: str, address: str) -> Operation[SignInFailures]:
    """The failed sign-ins of the user and of the address in their current windows."""
    user_key_, address_key = user_failures_key(keys, name), address_failures_key(keys, address)
    raws: Sequence[bytes | None] = yield GetMany((user_key_, address_key))
    # A counter that is not a number (someone wrote it by hand) counts as no failure.
    counts = [int(text) if (text := key_text(raw or b"0")).isdigit() else 0 for raw in raws]
    return SignInFailures(user=counts[0], address=counts[1])


class UserRecords(StorageBase):
    """The gateway's users and their failed sign-ins (see the module docstring of `_users`)."""

    def add_user(self, name: str, password: str, *, replace: bool = False) -> User:
        """Add the user `name` with `password` (hashed with scrypt and a salt of its own;
        the password is never stored). Raises `UserExistsError` if the name is taken and
        not `replace` (then the password is changed), `ValueError` for a bad name or
        password."""
        user = User(name=validate_user(name), password=hash_password(password))
        if not self._run(store_user(self._keys, user, replace=replace), "add_user"):
            raise UserExistsError(f"a user {name!r:.60} exists already")
        return user

    async def aadd_user(self, name: str, password: str, *, replace: bool = False) -> User:
        """Async twin of `add_user()`; the password is hashed on a worker thread."""
        validate_user(name)
        hashed = await asyncio.to_thread(hash_password, password)
        user = User(name=name, password=hashed)
        if not await self._arun(store_user(self._keys, user, replace=replace)):
            raise UserExistsError(f"a user {name!r:.60} exists already")
        return user

    def get_user(self, name: str) -> User | None:
        """The user `name`, or `None`."""
        return self._run(get_user(self._keys, name), "get_user")

    async def aget_user(self, name: str) -> User | None:
        """Async twin of `get_user()`."""
        return await self._arun(get_user(self._keys, name))

    def remove_user(self, name: str) -> bool:
        """Remove the user `name`; `True` if it existed. Tokens issued to the user stay
        valid until they expire or are revoked."""
        return self._run(delete_user(self._keys, name), "remove_user")

    async def aremove_user(self, name: str) -> bool:
        """Async twin of `remove_user()`."""
        return await self._arun(delete_user(self._keys, name))

    def list_users(self) -> list[User]:
        """Every user, by name."""
        return self._run(list_users(self._keys), "list_users")

    async def alist_users(self) -> list[User]:
        """Async twin of `list_users()`."""
        return await self._arun(list_users(self._keys))

    def verify_user(self, name: str, password: str) -> User | None:
        """The user if `password` is theirs (compared in constant time), else `None`.

        An unknown name costs the same hashing as a known one, so the time taken does not
        tell which names exist. Any name that cannot be a user gives `None`.
        """
        try:
            validate_user(name)
        except ValueError:
            return None
        user = self._run(get_user(self._keys, name), "verify_user")
        return _checked(user, password)

    async def averify_user(self, name: str, password: str) -> User | None:
        """Async twin of `verify_user()`; the password is hashed on a worker thread."""
        try:
            validate_user(name)
        except ValueError:
            return None
        user = await self._arun(get_user(self._keys, name))
        return await asyncio.to_thread(_checked, user, password)

    def count_sign_in_failure(
        self, name: str, address: str, window: float | timedelta
    ) -> SignInFailures:
        """Count one failed sign-in of the user `name` from the client address `address`,
        each in a fixed window of `window` (seconds or timedelta) that its first failure
        starts; the counts so far, this one included. The caller decides what is too many."""
        return self._run(
            count_sign_in_failure(self._keys, name, address, window), "count_sign_in_failure"
        )

    async def acount_sign_in_failure(
        self, name: str, address: str, window: float | timedelta
    ) -> SignInFailures:
        """Async twin of `count_sign_in_failure()`."""
        return await self._arun(count_sign_in_failure(self._keys, name, address, window))

    def get_sign_in_failures(self, name: str, address: str) -> SignInFailures:
        """The failed sign-ins of the user `name` and from `address` in their current
        windows (0 where the window has ended)."""
        return self._run(get_sign_in_failures(self._keys, name, address), "get_sign_in_failures")

    async def aget_sign_in_failures(self, name: str, address: str) -> SignInFailures:
        """Async twin of `get_sign_in_failures()`."""
        return await self._arun(get_sign_in_failures(self._keys, name, address))


def _checked(user: User | None, password: str) -> User | None:
    if user is None:
        unknown_user_check(password)
        return None
    return user if password_matches(password, user.password) else None
