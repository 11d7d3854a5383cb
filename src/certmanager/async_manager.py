"""`AsyncCertificateManager`: certificates, ACME challenge answers and account keys. It makes
no ACME network calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from ..storage import (
    AcmeAccount,
    Certificate,
    CertificateStatus,
    InvalidKeyError,
    UnifiedStorage,
)
from .pem import InvalidCertificateError, read_certificate, read_private_key

ACME_CHALLENGE_PATH = "/.well-known/acme-challenge/"
"""The path prefix an ACME server fetches HTTP-01 key authorizations from (RFC 8555, 8.3)."""


class AsyncCertificateManager:
    """Keeps the gateway's certificates, ACME HTTP-01 challenge answers and ACME account keys.

    It makes no ACME network calls: ordering, validating and downloading certificates at an
    ACME server is another component's work. This one registers the results (parsing the
    domains and validity period from the PEM with `cryptography`), tells which certificates
    are due for renewal, keeps the key authorizations the challenge responder serves, and
    keeps the account keys.

    Args:
        storage: the process's storage, from the composition root.
    """

    def __init__(self, storage: UnifiedStorage) -> None:
        self._storage = storage

    # Certificates

    async def register_certificate(
        self,
        cert_name: str,
        fullchain_pem: str,
        private_key_pem: str,
        *,
        email: str,
        acme_directory_url: str,
    ) -> Certificate:
        """Store an issued certificate as active, its domains and validity period read from
        the chain's leaf certificate; replaces an earlier `cert_name` (a renewal).

        Raises `InvalidCertificateError` for an unreadable or expired chain, or a key that
        is not the leaf's; `CertificateDomainConflictError` (nothing written) when one of
        its domains belongs to another certificate.
        """
        facts = read_certificate(fullchain_pem, private_key_pem)
        if facts.expires_at <= datetime.now(UTC):
            raise InvalidCertificateError(
                f"the certificate expired at {facts.expires_at.isoformat()}"
            )
        certificate = Certificate(
            cert_name=cert_name,
            domains=facts.domains,
            email=email,
            acme_directory_url=acme_directory_url,
            status=CertificateStatus.ACTIVE,
            fullchain_pem=fullchain_pem,
            private_key_pem=SecretStr(private_key_pem),
            issued_at=facts.issued_at,
            expires_at=facts.expires_at,
        )
        await self._storage.astore_certificate(certificate)
        return certificate

    async def get_certificate(self, cert_name: str) -> Certificate | None:
        """The certificate `cert_name`, or `None`."""
        return await self._storage.aget_certificate(cert_name)

    async def certificate_for_domain(self, domain: str) -> Certificate | None:
        """The certificate to serve for `domain`: its own, else its covering wildcard's."""
        return await self._storage.aget_certificate_for_domain(domain)

    async def list_certificates(self) -> list[Certificate]:
        """Every certificate, sorted by name."""
        return await self._storage.alist_certificates()

    async def renewals_due(self, within_days: float = 30) -> list[Certificate]:
        """The certificates expiring within `within_days` days, or expired, soonest first."""
        return await self._storage.alist_certificates_expiring_within(within_days)

    async def delete_certificate(self, cert_name: str) -> bool:
        """Delete `cert_name`, freeing its domains and detaching the proxy targets using it;
        `True` if it existed."""
        return await self._storage.adelete_certificate(cert_name)

    # HTTP-01 challenges

    async def add_challenge(
        self, token: str, key_authorization: str, ttl: float | timedelta
    ) -> None:
        """Serve `key_authorization` for `token` for `ttl` seconds."""
        await self._storage.astore_acme_challenge(token, key_authorization, ttl)

    async def remove_challenge(self, token: str) -> bool:
        """Stop serving `token`; `True` if it was served."""
        return await self._storage.adelete_acme_challenge(token)

    async def challenge_response(self, path: str) -> str | None:
        """The body to answer a request for `path` with, when it is
        `/.well-known/acme-challenge/<token>` for a token being served; else `None` (404).

        Any other path, including one whose token is not base64url, gets `None`: the
        responder faces the internet and answers what it cannot serve with a 404.
        """
        token = path.removeprefix(ACME_CHALLENGE_PATH)
        if token == path:
            return None
        try:
            return await self._storage.aget_acme_challenge(token)
        except InvalidKeyError:
            return None

    # ACME account keys

    async def store_account_key(
        self, email: str, directory_url: str, private_key_pem: str
    ) -> AcmeAccount:
        """Keep the account key of `email` at the ACME directory `directory_url`, replacing
        an earlier one; `InvalidCertificateError` unless it is an unencrypted PEM key."""
        read_private_key(private_key_pem)
        account = AcmeAccount(
            email=email, directory_url=directory_url, private_key_pem=SecretStr(private_key_pem)
        )
        await self._storage.astore_acme_account(account)
        return account

    async def account_key(self, email: str, directory_url: str) -> AcmeAccount | None:
        """The account of `email` at `directory_url`, or `None`."""
        return await self._storage.aget_acme_account(email, directory_url)

    async def delete_account_key(self, email: str, directory_url: str) -> bool:
        """Forget the account of `email` at `directory_url`; `True` if it existed."""
        return await self._storage.adelete_acme_account(email, directory_url)
