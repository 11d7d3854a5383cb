"""Certificates with their domain index, ACME challenge tokens, and ACME account keys.

Key schema v2 (`<ns>` is the namespace, empty by default, which drops its `:`):

    {<ns>:certs}:cert:<cert name>      Certificate as JSON, private key included
    {<ns>:certs}:domain:<domain>       the name of the certificate that owns <domain>
    <ns>:acme:challenge:<token>        the key authorization of <token>; expires (PX)
    <ns>:acme:account:<sha256 hex>     AcmeAccount as JSON, private key included; the hash is
                                       of its directory URL and e-mail

A domain belongs to at most one certificate. A certificate and the index entries of its
domains change together in one Lua script (the `{<ns>:certs}` hash tag keeps them in one
Redis Cluster slot), which checks every claimed domain before writing anything. One tag for
the family, not per certificate: a claim checks domains that other certificates may own, so
every certificate and domain key must be in the script's slot. A gateway holds a handful
of certificates, read rarely (the certificate manager), so the one slot carries no load.

A wildcard domain `*.example.com` is keyed as `_wildcard.example.com`: `_` never occurs in a
hostname, so the key cannot collide with a real host's, and no `*` reaches a key or a SCAN
pattern. The account key is a hash because e-mails and URLs hold characters keys must not.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import partial

from ._base import StorageBase
from ._certificate_models import (
    AcmeAccount,
    Certificate,
    covering_wildcard,
    encode_with_secrets,
    is_wildcard,
    validate_certificate_domain,
    validate_directory_url,
    validate_email,
    wildcard_base,
)
from ._codec import decode_record, decode_text, encode_record
from ._errors import CorruptRecordError, InvalidKeyError, StorageError
from ._keys import KeySchema, validate_identifier
from ._models import ProxyTarget
from ._operations import (
    CheckAndSet,
    Command,
    Operation,
    announce_config_change,
    load_all,
    ttl_milliseconds,
)

_ACME_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{1,128}")
# A century: far beyond any certificate, and far from `datetime` overflowing.
_MAX_EXPIRY_DAYS = 36500

_REPLACE = """
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[3] then
  return {'changed'}
end
local claims = tonumber(ARGV[4])
for i = 2, claims + 1 do
  local owner = redis.call('GET', KEYS[i])
  if owner and owner ~= ARGV[1] then
    return {'taken', i - 2, owner}
  end
end
for i = 2, claims + 1 do
  redis.call('SET', KEYS[i], ARGV[1])
end
for i = claims + 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
  end
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return {'done'}
"""
"""KEYS: the certificate, the index keys it claims, then the index keys it gives up.
ARGV: the certificate name, its new record ('' deletes it), the record it must replace
('' when there is none), the number of claimed keys.

Returns {'changed'} when the record is not the expected one, {'taken', i, owner} when the
claimed domain i (0-based) belongs to another certificate (nothing is written then), and
{'done'} once the record and the index are updated. Index keys given up are deleted only
while they still name this certificate.
"""


class CertificateDomainConflictError(StorageError):
    """A certificate claims a domain that belongs to another certificate."""

    def __init__(self, domain: str, cert_name: str, owner: str) -> None:
        super().__init__(
            f"domain {domain!r} already belongs to certificate {owner!r}; certificate "
            f"{cert_name!r} cannot claim it (delete it from {owner!r} first)"
        )
        self.domain = domain
        self.cert_name = cert_name
        self.owner = owner


# Keys


def validate_acme_token(token: str) -> str:
    """`token` if it is an ACME challenge token (1-256 base64url characters, no padding),
    else `InvalidKeyError`."""
    if not _ACME_TOKEN.fullmatch(token):
        raise InvalidKeyError(
            f"invalid ACME challenge token {token[:40]!r}: expected 1-256 base64url "
            "characters (A-Z, a-z, 0-9, '-', '_')"
        )
    return token


def _certificate_key(keys: KeySchema, cert_name: str) -> str:
    name = validate_identifier(cert_name, "certificate name")
    return f"{keys.family_tagged('certs')}:cert:{name}"


def _certificate_pattern(keys: KeySchema) -> str:
    return f"{keys.family_tagged('certs')}:cert:*"


def _domain_key(keys: KeySchema, domain: str) -> str:
    canonical = validate_certificate_domain(domain)
    part = f"_wildcard.{wildcard_base(canonical)}" if is_wildcard(canonical) else canonical
    return f"{keys.family_tagged('certs')}:domain:{part}"


def _challenge_key(keys: KeySchema, token: str) -> str:
    return f"{keys.prefix}acme:challenge:{validate_acme_token(token)}"


def _account_key(keys: KeySchema, email: str, directory_url: str) -> str:
    identity = f"{validate_directory_url(directory_url)}\n{validate_email(email)}"
    return f"{keys.prefix}acme:account:{hashlib.sha256(identity.encode()).hexdigest()}"


def _eval(script: str, keys: list[str], args: Iterable[object]) -> Command:
    return ("EVAL", script, len(keys), *keys, *args)


def _owner_name(index_key: str, raw: bytes) -> str:
    """The certificate name an index entry holds, or `CorruptRecordError`."""
    try:
        return validate_identifier(raw.decode("utf-8"), "certificate name")
    except (UnicodeDecodeError, InvalidKeyError):
        raise CorruptRecordError(index_key, "the owner is not a valid certificate name") from None


# Certificates


def _replace_certificate(
    keys: KeySchema, cert_name: str, replacement: Certificate | None
) -> Operation[Certificate | None]:
    """Write `replacement` as certificate `cert_name` (delete it when `None`), with its domain
    index, atomically; the certificate it replaced.

    Optimistic: the script applies the change only if the record is still the one read;
    otherwise the record is read again.
    """
    key = _certificate_key(keys, cert_name)
    record = b"" if replacement is None else encode_with_secrets(replacement)
    claimed_domains = [] if replacement is None else replacement.domains
    claimed = [_domain_key(keys, domain) for domain in claimed_domains]
    while True:
        raw = yield ("GET", key)
        # A corrupt record cannot tell which index entries are its own: it stays as it is.
        current = decode_record(key, raw, Certificate)
        if current is None and replacement is None:
            return None
        held = [] if current is None else [_domain_key(keys, d) for d in current.domains]
        released = [index_key for index_key in held if index_key not in claimed]
        reply = yield _eval(
            _REPLACE,
            [key, *claimed, *released],
            [cert_name, record, raw or b"", len(claimed)],
        )
        outcome = reply[0]
        if outcome == b"done":
            return current
        if outcome == b"taken":
            position, owner = int(reply[1]), reply[2]
            raise CertificateDomainConflictError(
                claimed_domains[position], cert_name, _owner_name(claimed[position], owner)
            )


def store_certificate(keys: KeySchema, certificate: Certificate) -> Operation[None]:
    """Create or replace a certificate and claim its domains, atomically."""
    yield from _replace_certificate(keys, certificate.cert_name, certificate)


def get_certificate(keys: KeySchema, cert_name: str) -> Operation[Certificate | None]:
    """Read one certificate."""
    key = _certificate_key(keys, cert_name)
    raw = yield ("GET", key)
    return decode_record(key, raw, Certificate)


def get_certificate_for_domain(keys: KeySchema, domain: str) -> Operation[Certificate | None]:
    """The certificate that owns `domain`, else the one owning the wildcard that covers it."""
    canonical = validate_certificate_domain(domain)
    wildcard = None if is_wildcard(canonical) else covering_wildcard(canonical)
    candidates = [canonical] if wildcard is None else [canonical, wildcard]
    index_keys = [_domain_key(keys, candidate) for candidate in candidates]
    while True:
        owners = yield ("MGET", *index_keys)
        found = next(
            (
                entry
                for entry in zip(candidates, index_keys, owners, strict=True)
                if entry[2] is not None
            ),
            None,
        )
        if found is None:
            return None
        candidate, index_key, owner = found
        cert_name = _owner_name(index_key, owner)
        certificate = yield from get_certificate(keys, cert_name)
        if certificate is not None and candidate in certificate.domains:
            return certificate
        # The certificate changed between the two reads: read the index again. An index
        # entry that stays put while naming a certificate that does not claim it is corrupt.
        again = yield ("GET", index_key)
        if again == owner:
            raise CorruptRecordError(
                index_key, f"it names certificate {cert_name!r}, which does not claim {candidate!r}"
            )


def list_certificates(keys: KeySchema) -> Operation[list[Certificate]]:
    """Every certificate, by name."""
    certificates = yield from load_all(_certificate_pattern(keys), Certificate)
    return sorted(certificates, key=lambda certificate: certificate.cert_name)


def list_certificates_expiring_within(keys: KeySchema, days: float) -> Operation[list[Certificate]]:
    """Every certificate that expires within `days` days from now (or has expired), soonest
    first; certificates without a validity period (pending) are not listed."""
    if (
        isinstance(days, bool)
        or not isinstance(days, int | float)
        or not math.isfinite(days)
        or not 0 <= days <= _MAX_EXPIRY_DAYS
    ):
        raise ValueError(f"days must be a number from 0 to {_MAX_EXPIRY_DAYS}, got {days!r:.40}")
    deadline = datetime.now(UTC) + timedelta(days=days)
    certificates = yield from list_certificates(keys)
    expiring = [
        (certificate.expires_at, certificate)
        for certificate in certificates
        if certificate.expires_at is not None and certificate.expires_at <= deadline
    ]
    return [certificate for _, certificate in sorted(expiring, key=lambda pair: pair[0])]


def _detached(key: str, cert_name: str, raw: bytes | None) -> bytes | None:
    """The proxy target at `key` without its certificate, if it still uses `cert_name`."""
    target = decode_record(key, raw, ProxyTarget)
    if target is None or target.cert_name != cert_name:
        return None
    return encode_record(target.model_copy(update={"cert_name": None}))


def delete_certificate(keys: KeySchema, cert_name: str) -> Operation[bool]:
    """Delete a certificate with its domain index, then detach the proxy targets using it.

    The certificate and its index go atomically. Proxy targets live in other hash slots,
    so each is detached afterwards by its own check-and-set, which clears `cert_name` only
    if it still names this certificate. Detaching runs even when the certificate was
    already gone, so a second call finishes what an interrupted one started.
    """
    deleted = yield from _replace_certificate(keys, cert_name, None)
    targets = yield from load_all(keys.proxy_pattern(), ProxyTarget)
    detached = [target for target in targets if target.cert_name == cert_name]
    for target in detached:
        key = keys.proxy(target.hostname)
        yield CheckAndSet(key, partial(_detached, key, cert_name))
    if detached:
        yield from announce_config_change(keys)
    return deleted is not None


# ACME challenges


def store_acme_challenge(
    keys: KeySchema, token: str, key_authorization: str, ttl: float | timedelta
) -> Operation[None]:
    """Keep the key authorization of an HTTP-01 challenge token for `ttl`."""
    key = _challenge_key(keys, token)
    thumbprint = key_authorization.removeprefix(f"{token}.")
    if thumbprint == key_authorization or not _THUMBPRINT.fullmatch(thumbprint):
        raise ValueError(
            "invalid key authorization: expected '<token>.<base64url account key thumbprint>' "
            "for this token (RFC 8555, section 8.1)"
        )
    yield ("SET", key, key_authorization.encode(), "PX", ttl_milliseconds(ttl))


def get_acme_challenge(keys: KeySchema, token: str) -> Operation[str | None]:
    """The key authorization of a challenge token, or `None` (unknown or expired)."""
    key = _challenge_key(keys, token)
    raw = yield ("GET", key)
    return decode_text(key, raw)


def delete_acme_challenge(keys: KeySchema, token: str) -> Operation[bool]:
    """Forget a challenge token; tell whether it was there."""
    deleted = yield ("DEL", _challenge_key(keys, token))
    return bool(deleted)


# ACME accounts


def store_acme_account(keys: KeySchema, account: AcmeAccount) -> Operation[None]:
    """Create or replace the account of `account.email` at `account.directory_url`."""
    key = _account_key(keys, account.email, account.directory_url)
    yield ("SET", key, encode_with_secrets(account))


def get_acme_account(
    keys: KeySchema, email: str, directory_url: str
) -> Operation[AcmeAccount | None]:
    """Read the account of `email` at `directory_url`."""
    key = _account_key(keys, email, directory_url)
    raw = yield ("GET", key)
    return decode_record(key, raw, AcmeAccount)


def delete_acme_account(keys: KeySchema, email: str, directory_url: str) -> Operation[bool]:
    """Delete the account of `email` at `directory_url`; tell whether it existed."""
    deleted = yield ("DEL", _account_key(keys, email, directory_url))
    return bool(deleted)


class CertificateRecords(StorageBase):
    """Certificates under `{<ns>:certs}:cert:<name>`, indexed by `{<ns>:certs}:domain:<d>`; ACME
    challenges under `acme:challenge:<token>`; ACME accounts under `acme:account:<hash>`."""

    def store_certificate(self, certificate: Certificate) -> None:
        """Create or replace `certificate.cert_name`, claiming its domains and releasing the
        ones its previous version had, atomically.

        Raises `CertificateDomainConflictError`, writing nothing, when a domain belongs to
        another certificate.
        """
        self._run(store_certificate(self._keys, certificate), "store_certificate")

    async def astore_certificate(self, certificate: Certificate) -> None:
        """Async twin of `store_certificate()`."""
        await self._arun(store_certificate(self._keys, certificate))

    def get_certificate(self, cert_name: str) -> Certificate | None:
        """The certificate `cert_name`, or `None`."""
        return self._run(get_certificate(self._keys, cert_name), "get_certificate")

    async def aget_certificate(self, cert_name: str) -> Certificate | None:
        """Async twin of `get_certificate()`."""
        return await self._arun(get_certificate(self._keys, cert_name))

    def get_certificate_for_domain(self, domain: str) -> Certificate | None:
        """The certificate owning `domain` (case-insensitive), else the one owning the
        wildcard covering it (`*.example.com` for `app.example.com`), else `None`."""
        return self._run(
            get_certificate_for_domain(self._keys, domain), "get_certificate_for_domain"
        )

    async def aget_certificate_for_domain(self, domain: str) -> Certificate | None:
        """Async twin of `get_certificate_for_domain()`."""
        return await self._arun(get_certificate_for_domain(self._keys, domain))

    def list_certificates(self) -> list[Certificate]:
        """Every certificate, sorted by name."""
        return self._run(list_certificates(self._keys), "list_certificates")

    async def alist_certificates(self) -> list[Certificate]:
        """Async twin of `list_certificates()`."""
        return await self._arun(list_certificates(self._keys))

    def list_certificates_expiring_within(self, days: float) -> list[Certificate]:
        """The certificates expiring within `days` (0-36500) days or already expired,
        soonest first; `ValueError` for another `days`."""
        return self._run(
            list_certificates_expiring_within(self._keys, days),
            "list_certificates_expiring_within",
        )

    async def alist_certificates_expiring_within(self, days: float) -> list[Certificate]:
        """Async twin of `list_certificates_expiring_within()`."""
        return await self._arun(list_certificates_expiring_within(self._keys, days))

    def delete_certificate(self, cert_name: str) -> bool:
        """Delete `cert_name` and free its domains; every proxy target whose `cert_name` is
        it then gets `cert_name = None`. `True` if the certificate existed.

        The certificate and its domain index are deleted atomically; the proxy targets are
        detached afterwards, each by a check-and-set (they live in other hash slots).
        """
        return self._run(delete_certificate(self._keys, cert_name), "delete_certificate")

    async def adelete_certificate(self, cert_name: str) -> bool:
        """Async twin of `delete_certificate()`."""
        return await self._arun(delete_certificate(self._keys, cert_name))

    def store_acme_challenge(
        self, token: str, key_authorization: str, ttl: float | timedelta
    ) -> None:
        """Keep the HTTP-01 key authorization (`<token>.<thumbprint>`) of `token` for `ttl`
        seconds; `InvalidKeyError` for a token that is not base64url."""
        self._run(
            store_acme_challenge(self._keys, token, key_authorization, ttl),
            "store_acme_challenge",
        )

    async def astore_acme_challenge(
        self, token: str, key_authorization: str, ttl: float | timedelta
    ) -> None:
        """Async twin of `store_acme_challenge()`."""
        await self._arun(store_acme_challenge(self._keys, token, key_authorization, ttl))

    def get_acme_challenge(self, token: str) -> str | None:
        """The key authorization of `token`, or `None` when unknown or expired."""
        return self._run(get_acme_challenge(self._keys, token), "get_acme_challenge")

    async def aget_acme_challenge(self, token: str) -> str | None:
        """Async twin of `get_acme_challenge()`."""
        return await self._arun(get_acme_challenge(self._keys, token))

    def delete_acme_challenge(self, token: str) -> bool:
        """Forget `token`; `True` if it was there."""
        return self._run(delete_acme_challenge(self._keys, token), "delete_acme_challenge")

    async def adelete_acme_challenge(self, token: str) -> bool:
        """Async twin of `delete_acme_challenge()`."""
        return await self._arun(delete_acme_challenge(self._keys, token))

    def store_acme_account(self, account: AcmeAccount) -> None:
        """Create or replace the account key of `account.email` at `account.directory_url`."""
        self._run(store_acme_account(self._keys, account), "store_acme_account")

    async def astore_acme_account(self, account: AcmeAccount) -> None:
        """Async twin of `store_acme_account()`."""
        await self._arun(store_acme_account(self._keys, account))

    def get_acme_account(self, email: str, directory_url: str) -> AcmeAccount | None:
        """The account of `email` (case-insensitive) at `directory_url`, or `None`."""
        return self._run(get_acme_account(self._keys, email, directory_url), "get_acme_account")

    async def aget_acme_account(self, email: str, directory_url: str) -> AcmeAccount | None:
        """Async twin of `get_acme_account()`."""
        return await self._arun(get_acme_account(self._keys, email, directory_url))

    def delete_acme_account(self, email: str, directory_url: str) -> bool:
        """Delete the account of `email` at `directory_url`; `True` if it existed."""
        return self._run(
            delete_acme_account(self._keys, email, directory_url), "delete_acme_account"
        )

    async def adelete_acme_account(self, email: str, directory_url: str) -> bool:
        """Async twin of `delete_acme_account()`."""
        return await self._arun(delete_acme_account(self._keys, email, directory_url))
