"""Reading what a certificate manager needs from PEM text, with the `cryptography` package.

No error here repeats the PEM it was given: the private key is a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)


class InvalidCertificateError(ValueError):
    """A certificate chain or private key cannot be used."""


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What a chain's leaf certificate says about itself."""

    domains: list[str]
    """Its DNS subject alternative names, in certificate order."""
    issued_at: datetime
    """Start of its validity period (UTC)."""
    expires_at: datetime
    """End of its validity period (UTC)."""


def read_private_key(private_key_pem: str) -> PrivateKeyTypes:
    """The key in `private_key_pem`, which must be an unencrypted PEM private key of a type
    `cryptography` supports; else `InvalidCertificateError`."""
    try:
        return load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # TypeError: the key is encrypted.
        raise InvalidCertificateError(
            "the private key is not an unencrypted PEM private key"
        ) from None


def read_certificate(fullchain_pem: str, private_key_pem: str) -> CertificateFacts:
    """The domains and validity period of a chain's first (leaf) certificate, after checking
    that `private_key_pem` is an unencrypted PEM key whose public key is the leaf's.

    Raises `InvalidCertificateError`.
    """
    try:
        chain = x509.load_pem_x509_certificates(fullchain_pem.encode())
    except ValueError:
        raise InvalidCertificateError(
            "the certificate chain is not a sequence of PEM certificates"
        ) from None
    leaf = chain[0]
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        raise InvalidCertificateError(
            "the leaf certificate has no subject alternative names"
        ) from None
    domains = names.value.get_values_for_type(x509.DNSName)
    if not domains:
        raise InvalidCertificateError("the leaf certificate names no DNS domain")
    key = read_private_key(private_key_pem)
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise InvalidCertificateError("the private key does not belong to the leaf certificate")
    return CertificateFacts(domains, leaf.not_valid_before_utc, leaf.not_valid_after_utc)
