"""The device authorization grant's records (RFC 8628): the I/O-free operations, and the
storage methods that run them.

Key schema (v2: one hash tag per entity, the namespace inside it):

    {<namespace>:device:<sha256(device code)>}:record   `DeviceAuthorization` as JSON;
                                                  expires with the device code
    {<namespace>:device:<sha256(device code)>}:poll     present while the client must wait
                                                  before polling again (the interval)
    {<namespace>:device-user-code:<user code>}:device   the SHA-256 of the device code the
                                                  user code names; expires with it

The user code is what a person types, so it is short (8 letters, about 2^34 values) and
its key is claimed with SET NX: two pending authorizations never share one. The sign-in
page's failure limits bound guessing; the device code itself is a full-length secret.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._base import StorageBase
from ._codec import decode_record, encode_record, key_text
from ._errors import CorruptRecordError, StorageError
from ._keys import KeySchema, validate_identifier
from ._oauth import issue, new_family_id
from ._oauth_models import (
    Audience,
    IssuedTokens,
    Scope,
    UserName,
    new_secret,
    plausible_token,
    secret_hash,
    validate_user,
)
from ._operations import CheckAndSet, Operation, ttl_milliseconds

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
"""RFC 8628 §6.1: consonants only (no words, no look-alike vowels and digits)."""
_USER_CODE = re.compile(rf"[{USER_CODE_ALPHABET}]{{8}}")


class DeviceGrantError(StorageError):
    """A device code poll that yields no tokens; `error` is the RFC 8628 §3.5 code
    (`authorization_pending`, `slow_down`, `access_denied`, `expired_token`) or
    `invalid_grant`. The message never shows the code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def _now() -> datetime:
    return datetime.now(UTC)


def normalize_user_code(user_code: str) -> str | None:
    """The user code as stored (upper case, no separators), or `None` if it cannot be one."""
    cleaned = re.sub(r"[\s-]", "", user_code).upper()
    return cleaned if _USER_CODE.fullmatch(cleaned) else None


def shown_user_code(user_code: str) -> str:
    """The user code as a person reads it: `BCDF-GHJK`."""
    return f"{user_code[:4]}-{user_code[4:]}"


class DeviceAuthorization(BaseModel):
    """A device authorization (never the device code): what the client asked for, and
    whether a user approved or denied it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str
    user_code: str
    scope: Scope
    resource: str | None = Field(default=None, max_length=2048)
    audience: Audience | None = None
    interval_ms: int = Field(ge=1)
    expires_at: datetime
    family_id: str
    user: UserName | None = None
    """Who approved it; `None` while pending or once denied."""
    denied: bool = False

    @field_validator("client_id", "family_id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return validate_identifier(value)

    @field_validator("user_code")
    @classmethod
    def _valid_user_code(cls, value: str) -> str:
        if not _USER_CODE.fullmatch(value):
            raise ValueError("a user code is 8 of " + USER_CODE_ALPHABET)
        return value

    @property
    def pending(self) -> bool:
        """Whether nobody approved or denied it yet."""
        return self.user is None and not self.denied


def _record_key(keys: KeySchema, device_hash: str) -> str:
    return f"{keys.tagged('device', device_hash)}:record"


def _poll_key(keys: KeySchema, device_hash: str) -> str:
    return f"{keys.tagged('device', device_hash)}:poll"


def _user_code_key(keys: KeySchema, user_code: str) -> str:
    return f"{keys.tagged('device-user-code', user_code)}:device"


def start(
    keys: KeySchema,
    client_id: str,
    scope: str,
    target: tuple[str | None, str | None],
    ttl: float | timedelta,
    interval: float | timedelta,
) -> Operation[tuple[str, DeviceAuthorization]]:
    """Store a new authorization; its device code (returned once) and record."""
    ttl_ms = ttl_milliseconds(ttl)
    device_code = new_secret()
    device_hash = secret_hash(device_code)
    resource, audience = target
    while True:
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
        claimed = yield ("SET", _user_code_key(keys, user_code), device_hash, "PX", ttl_ms, "NX")
        if claimed:
            break
        # Taken by a pending authorization: draw another.
    record = DeviceAuthorization(
        client_id=client_id,
        user_code=user_code,
        scope=scope,
        resource=resource,
        audience=audience,
        interval_ms=ttl_milliseconds(interval),
        expires_at=_now() + timedelta(milliseconds=ttl_ms),
        family_id=new_family_id(),
    )
    yield ("SET", _record_key(keys, device_hash), encode_record(record), "PX", ttl_ms)
    return device_code, record


def _by_user_code(keys: KeySchema, user_code: str) -> Operation[str | None]:
    """The key of the record the user code names, or `None`."""
    normalized = normalize_user_code(user_code)
    if normalized is None:
        return None
    device_hash = yield ("GET", _user_code_key(keys, normalized))
    return None if device_hash is None else _record_key(keys, key_text(device_hash))


def get_by_user_code(keys: KeySchema, user_code: str) -> Operation[DeviceAuthorization | None]:
    """The pending or decided authorization a user code names; `None` when unknown."""
    key = yield from _by_user_code(keys, user_code)
    if key is None:
        return None
    raw = yield ("GET", key)
    try:
        return decode_record(key, raw, DeviceAuthorization)
    except CorruptRecordError:
        return None


def decide(keys: KeySchema, user_code: str, user: str | None) -> Operation[bool]:
    """Approve (as `user`) or deny (`None`) a pending authorization; whether it was
    pending. A WATCHed read-modify-write: of two decisions, one applies."""
    key = yield from _by_user_code(keys, user_code)
    if key is None:
        return False
    record_key = key

    def decided(raw: bytes | None) -> bytes | None:
        try:
            current = decode_record(record_key, raw, DeviceAuthorization)
        except CorruptRecordError:
            return None
        if current is None or not current.pending:
            return None
        changes = {"denied": True} if user is None else {"user": validate_user(user)}
        return encode_record(current.model_copy(update=changes))

    written = yield CheckAndSet(key, decided)
    return written is not None


def poll(
    keys: KeySchema,
    device_code: str,
    client_id: str,
    lifetimes: tuple[float | timedelta, float | timedelta],
) -> Operation[IssuedTokens]:
    """One poll of the token endpoint; see `DeviceRecords.poll_device_code`."""
    if not plausible_token(device_code):
        raise DeviceGrantError("invalid_grant", "the device code is unknown")
    device_hash = secret_hash(device_code)
    key = _record_key(keys, device_hash)
    raw = yield ("GET", key)
    try:
        record = decode_record(key, raw, DeviceAuthorization)
    except CorruptRecordError:
        record = None
    if record is None or record.expires_at <= _now():
        raise DeviceGrantError("expired_token", "the device code is unknown or has expired")
    if record.client_id != client_id:
        raise DeviceGrantError("invalid_grant", "the device code was issued to another client")
    waiting = yield ("SET", _poll_key(keys, device_hash), b"1", "PX", record.interval_ms, "NX")
    if not waiting:
        raise DeviceGrantError("slow_down", "polled again before the interval passed")
    if record.pending:
        raise DeviceGrantError("authorization_pending", "the user has not decided yet")
    # Decided: the record is used up, by exactly one poll.
    taken = yield ("GETDEL", key)
    yield ("DEL", _user_code_key(keys, record.user_code))
    if taken != raw:
        raise DeviceGrantError("expired_token", "the device code was used already")
    if record.user is None:
        raise DeviceGrantError("access_denied", "the user denied the request")
    access_ttl, refresh_ttl = lifetimes
    return (
        yield from issue(
            keys,
            record.client_id,
            record.user,
            record.scope,
            access_ttl,
            refresh_ttl,
            family_id=record.family_id,
            audience=record.audience,
        )
    )


class DeviceRecords(StorageBase):
    """Device authorizations (see the module docstring of `_device`)."""

    def start_device_authorization(
        self,
        client_id: str,
        scope: str,
        target: tuple[str | None, str | None],
        ttl: float | timedelta,
        interval: float | timedelta,
    ) -> tuple[str, DeviceAuthorization]:
        """Start a device authorization of the client for `scope` and `target` (the
        resource and its audience, or `(None, None)`), living `ttl`, polled at most every
        `interval`; the device code (returned once, stored as a hash) and the record with
        its fresh user code."""
        return self._run(
            start(self._keys, client_id, scope, target, ttl, interval),
            "start_device_authorization",
        )

    async def astart_device_authorization(
        self,
        client_id: str,
        scope: str,
        target: tuple[str | None, str | None],
        ttl: float | timedelta,
        interval: float | timedelta,
    ) -> tuple[str, DeviceAuthorization]:
        """Async twin of `start_device_authorization()`."""
        return await self._arun(start(self._keys, client_id, scope, target, ttl, interval))

    def get_device_authorization(self, user_code: str) -> DeviceAuthorization | None:
        """The authorization the user code names (any case, `-` and spaces ignored)."""
        return self._run(get_by_user_code(self._keys, user_code), "get_device_authorization")

    async def aget_device_authorization(self, user_code: str) -> DeviceAuthorization | None:
        """Async twin of `get_device_authorization()`."""
        return await self._arun(get_by_user_code(self._keys, user_code))

    def decide_device_authorization(self, user_code: str, user: str | None) -> bool:
        """Approve the pending authorization as `user`, or deny it (`None`); whether it was
        pending."""
        return self._run(decide(self._keys, user_code, user), "decide_device_authorization")

    async def adecide_device_authorization(self, user_code: str, user: str | None) -> bool:
        """Async twin of `decide_device_authorization()`."""
        return await self._arun(decide(self._keys, user_code, user))

    def poll_device_code(
        self,
        device_code: str,
        client_id: str,
        access_ttl: float | timedelta,
        refresh_ttl: float | timedelta,
    ) -> IssuedTokens:
        """The tokens of an approved authorization, once (the record is then gone).
        Raises `DeviceGrantError`: `authorization_pending`, `slow_down` (polled within the
        interval), `access_denied`, `expired_token` (unknown, expired or used), or
        `invalid_grant` (another client's)."""
        return self._run(
            poll(self._keys, device_code, client_id, (access_ttl, refresh_ttl)),
            "poll_device_code",
        )

    async def apoll_device_code(
        self,
        device_code: str,
        client_id: str,
        access_ttl: float | timedelta,
        refresh_ttl: float | timedelta,
    ) -> IssuedTokens:
        """Async twin of `poll_device_code()`."""
        return await self._arun(poll(self._keys, device_code, client_id, (access_ttl, refresh_ttl)))
