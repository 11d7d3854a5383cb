"""The certificate records (certificates, ACME accounts) and how stored records keep secrets.

A private key is a `SecretStr`: its `repr`, `str` and default JSON show `**********`, and
every model holding one hides input values in its validation errors. Only the storage
writes the secret itself, through `encode_with_secrets`, so an API that serialises a record
with `model_dump_json()` still shows the mask.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Self
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

from ._errors import InvalidKeyError
from ._keys import validate_hostname, validate_identifier

_REVEAL_SECRETS = "reveal_secrets"
_WILDCARD_PREFIX = "*."
# RFC 5321 limits; the local part is the RFC 5322 dot-atom character set.
_EMAIL_LOCAL_PART = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}")
_MAX_EMAIL_LENGTH = 254
_MAX_URL_LENGTH = 2048
MAX_CERTIFICATE_DOMAINS = 100
"""Let's Encrypt's limit of names per certificate; it also bounds the domain index script."""


def _now() -> datetime:
    return datetime.now(UTC)


def _shown(value: str) -> str:
    return repr(value[:60] + ("..." if len(value) > 60 else ""))


def encode_with_secrets(record: BaseModel) -> bytes:
    """The stored form of a record: its secrets in clear, unlike `model_dump_json()`."""
    return record.model_dump_json(context={_REVEAL_SECRETS: True}).encode()


def serialized_secret(value: SecretStr, info: FieldSerializationInfo) -> str:
    """A secret in JSON: itself in the stored form (`encode_with_secrets`), masked elsewhere."""
    context = info.context
    if isinstance(context, dict) and context.get(_REVEAL_SECRETS) is True:
        return value.get_secret_value()
    return str(value)


def validate_certificate_domain(domain: str) -> str:
    """The canonical (lower-case) form of a certificate domain, or `InvalidKeyError`.

    A domain is a hostname, or a wildcard `*.` followed by one: the `*` may only be the
    whole first label.
    """
    if domain.startswith(_WILDCARD_PREFIX):
        base = domain[len(_WILDCARD_PREFIX) :]
        if "*" not in base:
            return _WILDCARD_PREFIX + validate_hostname(base)
    elif "*" not in domain:
        return validate_hostname(domain)
    raise InvalidKeyError(
        f"invalid certificate domain {_shown(domain)}: a wildcard is allowed only as the "
        "whole first label, as in '*.example.com'"
    )


def is_wildcard(domain: str) -> bool:
    """Whether a canonical certificate domain is a wildcard (`*.example.com`)."""
    return domain.startswith(_WILDCARD_PREFIX)


def wildcard_base(domain: str) -> str:
    """The hostname a canonical wildcard domain covers the subdomains of."""
    return domain[len(_WILDCARD_PREFIX) :]


def covering_wildcard(hostname: str) -> str | None:
    """The wildcard domain that covers a canonical hostname (`*.example.com` covers
    `app.example.com`, not `example.com` nor `a.app.example.com`), if it has a parent."""
    _, dot, parent = hostname.partition(".")
    return _WILDCARD_PREFIX + parent if dot else None


def validate_email(email: str) -> str:
    """The canonical (lower-case) form of a contact e-mail address, or `InvalidKeyError`."""
    local, _, domain = email.rpartition("@")
    if len(email) <= _MAX_EMAIL_LENGTH and _EMAIL_LOCAL_PART.fullmatch(local):
        try:
            return f"{local.lower()}@{validate_hostname(domain)}"
        except InvalidKeyError:
            pass
    raise InvalidKeyError(f"invalid e-mail address {_shown(email)}: expected local-part@hostname")


def validate_directory_url(url: str) -> str:
    """`url` if it is an ACME directory URL (`https://host[:port][/path]`: RFC 8555 requires
    HTTPS), with its hostname lower-cased; else `InvalidKeyError`.

    The error never repeats the URL, which could carry credentials.
    """

    def invalid(expected: str) -> InvalidKeyError:
        return InvalidKeyError(f"invalid ACME directory URL: expected {expected}")

    if len(url) > _MAX_URL_LENGTH or any(not "!" <= char <= "~" for char in url):
        raise invalid(f"at most {_MAX_URL_LENGTH} printable ASCII characters, no spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
        hostname = validate_hostname(parts.hostname or "")
    except ValueError:
        raise invalid("https://, a hostname and an optional port") from None
    if parts.scheme != "https":
        raise invalid("an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise invalid("no credentials in the URL")
    if parts.query or parts.fragment:
        raise invalid("no query or fragment")
    authority = hostname if port is None else f"{hostname}:{port}"
    return f"https://{authority}{parts.path}"


def _validate_private_key_pem(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if not ("-----BEGIN " in text and "PRIVATE KEY-----" in text):
        # Never echo the value: it is meant to be a private key.
        raise ValueError("expected a PEM private key ('-----BEGIN ... PRIVATE KEY-----')")
    return value


class CertificateStatus(StrEnum):
    """Where a certificate is in its life."""

    PENDING = "pending"
    """Requested, not issued yet: it claims its domains and may have no key material."""
    ACTIVE = "active"
    """Issued: its chain, private key and validity period are set."""
    FAILED = "failed"
    """Issuance or renewal failed; key material, if any, is the last issued."""


class Certificate(BaseModel):
    """A TLS certificate for one or more domains; a domain belongs to at most one certificate.

    The chain, the private key and the validity period are set together or not at all.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)

    cert_name: str
    domains: list[str] = Field(min_length=1, max_length=MAX_CERTIFICATE_DOMAINS)
    email: str
    acme_directory_url: str
    status: CertificateStatus = CertificateStatus.PENDING
    fullchain_pem: str | None = None
    private_key_pem: SecretStr | None = None
    issued_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None

    @field_validator("cert_name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return validate_identifier(value, "certificate name")

    @field_validator("domains")
    @classmethod
    def _valid_domains(cls, value: list[str]) -> list[str]:
        canonical = [validate_certificate_domain(domain) for domain in value]
        seen: set[str] = set()
        for domain in canonical:
            if domain in seen:
                raise ValueError(f"domain {domain!r} is listed twice")
            seen.add(domain)
        return canonical

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        return validate_email(value)

    @field_validator("acme_directory_url")
    @classmethod
    def _valid_directory(cls, value: str) -> str:
        return validate_directory_url(value)

    @field_validator("fullchain_pem")
    @classmethod
    def _pem_chain(cls, value: str | None) -> str | None:
        if value is not None and not value.lstrip().startswith("-----BEGIN CERTIFICATE-----"):
            raise ValueError("expected PEM certificates ('-----BEGIN CERTIFICATE-----')")
        return value

    @field_validator("private_key_pem")
    @classmethod
    def _pem_key(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else _validate_private_key_pem(value)

    @field_serializer("private_key_pem", when_used="json")
    def _secret_key(self, value: SecretStr | None, info: FieldSerializationInfo) -> str | None:
        return None if value is None else serialized_secret(value, info)

    @model_validator(mode="after")
    def _material_together(self) -> Self:
        material = (self.fullchain_pem, self.private_key_pem, self.issued_at, self.expires_at)
        present = [part is not None for part in material]
        if any(present) and not all(present):
            raise ValueError(
                "fullchain_pem, private_key_pem, issued_at and expires_at are set together"
            )
        if self.status is CertificateStatus.ACTIVE and not all(present):
            raise ValueError("an active certificate needs its chain, key and validity period")
        if (
            self.issued_at is not None
            and self.expires_at is not None
            and self.expires_at <= self.issued_at
        ):
            raise ValueError("expires_at must be later than issued_at")
        return self


class AcmeAccount(BaseModel):
    """The account key the gateway uses with one ACME directory for one contact e-mail."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)

    email: str
    directory_url: str
    private_key_pem: SecretStr
    created_at: AwareDatetime = Field(default_factory=_now)

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        return validate_email(value)

    @field_validator("directory_url")
    @classmethod
    def _valid_directory(cls, value: str) -> str:
        return validate_directory_url(value)

    @field_validator("private_key_pem")
    @classmethod
    def _pem_key(cls, value: SecretStr) -> SecretStr:
        return _validate_private_key_pem(value)

    @field_serializer("private_key_pem", when_used="json")
    def _secret_key(self, value: SecretStr, info: FieldSerializationInfo) -> str:
        return serialized_secret(value, info)
