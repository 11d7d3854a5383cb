"""`AsyncCertificateManager` on real certificates made with `cryptography`, on the test Redis."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from src.certmanager.async_manager import AsyncCertificateManager
from src.certmanager.pem import InvalidCertificateError
from src.storage import (
    CertificateDomainConflictError,
    CertificateStatus,
    ProxyTarget,
    UnifiedStorage,
)
from tests.redis_topologies import namespace_keys

DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"
TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEY_AUTHORIZATION = f"{TOKEN}.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ"


def key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> str:
    encryption = NoEncryption() if password is None else BestAvailableEncryption(password)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption).decode()


def key_body(pem: str) -> str:
    """The base64 body of a PEM key: what must never appear in an error."""
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))[:40]


def issue(
    domains: list[str] | None,
    *,
    valid_days: int = 90,
    age_days: int = 1,
    key: ec.EllipticCurvePrivateKey | None = None,
    ip_only: bool = False,
) -> tuple[str, str, datetime, datetime]:
    """A leaf certificate followed by its issuer, the leaf's key, and its validity period."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    issued_at = (datetime.now(UTC) - timedelta(days=age_days)).replace(microsecond=0)
    expires_at = issued_at + timedelta(days=valid_days)
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    issuer = (
        x509.CertificateBuilder()
        .subject_name(issuer_name)
        .issuer_name(issuer_name)
        .public_key(issuer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued_at)
        .not_valid_after(expires_at + timedelta(days=365))
        .sign(issuer_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued_at)
        .not_valid_after(expires_at)
    )
    if ip_only:
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("192.0.2.1"))]
        leaf = leaf.add_extension(x509.SubjectAlternativeName(names), critical=False)
    elif domains is not None:
        dns: list[x509.GeneralName] = [x509.DNSName(domain) for domain in domains]
        leaf = leaf.add_extension(x509.SubjectAlternativeName(dns), critical=False)
    chain = "".join(
        cert.public_bytes(Encoding.PEM).decode()
        for cert in (leaf.sign(issuer_key, hashes.SHA256()), issuer)
    )
    return chain, key_pem(key), issued_at, expires_at


def ours(raw: redis.Redis, namespace: str) -> dict[bytes, object]:
    """The namespace's certificate and ACME keys with their values."""
    return {
        key: raw.dump(key)
        for key in namespace_keys(raw, namespace)
        if f"{{{namespace}:certs}}".encode() in key or b":acme:" in key
    }


async def test_register_reads_domains_and_validity(storage: UnifiedStorage) -> None:
    manager = AsyncCertificateManager(storage)
    chain, key, issued_at, expires_at = issue(["App.Example.com", "*.example.com"])
    registered = await manager.register_certificate(
        "site", chain, key, email="ops@example.com", acme_directory_url=DIRECTORY
    )
    assert registered.domains == ["app.example.com", "*.example.com"]
    assert (registered.issued_at, registered.expires_at) == (issued_at, expires_at)
    assert registered.status is CertificateStatus.ACTIVE
    assert registered.fullchain_pem == chain
    assert registered.private_key_pem is not None
    assert registered.private_key_pem.get_secret_value() == key
    assert await manager.get_certificate("site") == registered
    assert await manager.certificate_for_domain("api.example.com") == registered
    assert await manager.certificate_for_domain("example.com") is None
    assert await manager.list_certificates() == [registered]


async def test_renewal_replaces_and_conflicts_write_nothing(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    manager = AsyncCertificateManager(storage)
    chain, key, _, _ = issue(["a.example.com", "b.example.com"])
    await manager.register_certificate(
        "site", chain, key, email="ops@example.com", acme_directory_url=DIRECTORY
    )
    chain, key, _, expires_at = issue(["b.example.com"], valid_days=80)
    renewed = await manager.register_certificate(
        "site", chain, key, email="ops@example.com", acme_directory_url=DIRECTORY
    )
    assert renewed.expires_at == expires_at
    assert await manager.certificate_for_domain("a.example.com") is None

    before = ours(raw, namespace)
    chain, key, _, _ = issue(["c.example.com", "b.example.com"])
    with pytest.raises(CertificateDomainConflictError, match=re.escape("'b.example.com'")):
        await manager.register_certificate(
            "other", chain, key, email="ops@example.com", acme_directory_url=DIRECTORY
        )
    assert ours(raw, namespace) == before


def bad_registrations() -> list[object]:
    """(chain, key, message) for registrations that must be refused, by case."""
    chain, key, _, _ = issue(["a.example.com"])
    other_key = key_pem(ec.generate_private_key(ec.SECP256R1()))
    secret_key = ec.generate_private_key(ec.SECP256R1())
    encrypted_chain, _, _, _ = issue(["a.example.com"], key=secret_key)
    expired_chain, expired_key, _, expires = issue(["a.example.com"], valid_days=10, age_days=11)
    no_names, no_names_key, _, _ = issue(None)
    ip_only, ip_only_key, _, _ = issue(None, ip_only=True)
    chains = "the certificate chain is not a sequence of PEM certificates"
    keys = "the private key is not an unencrypted PEM private key"
    cases = [
        ("garbage chain", "not a certificate", key, chains),
        ("empty chain", "", key, chains),
        ("no names", no_names, no_names_key, "the leaf certificate has no subject alternative"),
        ("ip only", ip_only, ip_only_key, "the leaf certificate names no DNS domain"),
        ("foreign key", chain, other_key, "the private key does not belong to the leaf"),
        ("encrypted key", encrypted_chain, key_pem(secret_key, b"pw"), keys),
        (
            "garbage key",
            chain,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            keys,
        ),
        ("expired", expired_chain, expired_key, f"expired at {expires.isoformat()}"),
    ]
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


@pytest.mark.parametrize(("chain", "key", "message"), bad_registrations())
async def test_bad_registrations_write_nothing(
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    chain: str,
    key: str,
    message: str,
) -> None:
    manager = AsyncCertificateManager(storage)
    await storage.ainitialize()
    before = ours(raw, namespace)
    with pytest.raises(InvalidCertificateError, match=re.escape(message)) as caught:
        await manager.register_certificate(
            "site", chain, key, email="ops@example.com", acme_directory_url=DIRECTORY
        )
    assert key_body(key) not in str(caught.value)
    assert caught.value.__cause__ is None
    assert ours(raw, namespace) == before


async def test_names_the_storage_refuses_are_refused(storage: UnifiedStorage) -> None:
    manager = AsyncCertificateManager(storage)
    chain, key, _, _ = issue(["_acme.example.com"])
    with pytest.raises(ValidationError, match="invalid hostname") as caught:
        await manager.register_certificate(
            "site", chain, key, email="ops@example.com", acme_directory_url=DIRECTORY
        )
    assert key_body(key) not in str(caught.value)
    chain, key, _, _ = issue(["a.example.com"])
    with pytest.raises(ValidationError, match="invalid certificate name"):
        await manager.register_certificate(
            "-site", chain, key, email="ops@example.com", acme_directory_url=DIRECTORY
        )
    assert await manager.list_certificates() == []


async def test_renewals_due(storage: UnifiedStorage) -> None:
    manager = AsyncCertificateManager(storage)
    for name, days in [("later", 60), ("soon", 10)]:
        chain, key, _, _ = issue([f"{name}.example.com"], valid_days=days, age_days=0)
        await manager.register_certificate(
            name, chain, key, email="ops@example.com", acme_directory_url=DIRECTORY
        )
    assert [c.cert_name for c in await manager.renewals_due()] == ["soon"]
    assert [c.cert_name for c in await manager.renewals_due(90)] == ["soon", "later"]
    assert await manager.renewals_due(1) == []
    with pytest.raises(ValueError, match="days"):
        await manager.renewals_due(-1)


async def test_delete_detaches_proxy_targets(storage: UnifiedStorage) -> None:
    manager = AsyncCertificateManager(storage)
    chain, key, _, _ = issue(["a.example.com"])
    await manager.register_certificate(
        "site", chain, key, email="ops@example.com", acme_directory_url=DIRECTORY
    )
    await storage.astore_proxy_target(
        ProxyTarget(hostname="a.example.com", target_url="http://a:80", cert_name="site")
    )
    assert await manager.delete_certificate("site") is True
    target = await storage.aget_proxy_target("a.example.com")
    assert target is not None and target.cert_name is None
    assert await manager.delete_certificate("site") is False


async def test_challenge_responder(storage: UnifiedStorage) -> None:
    manager = AsyncCertificateManager(storage)
    path = f"/.well-known/acme-challenge/{TOKEN}"
    assert await manager.challenge_response(path) is None
    await manager.add_challenge(TOKEN, KEY_AUTHORIZATION, timedelta(minutes=5))
    assert await manager.challenge_response(path) == KEY_AUTHORIZATION
    for other in [
        "/.well-known/acme-challenge/",
        "/.well-known/acme-challenge/../acme-challenge/x",
        f"/.well-known/acme-challenge/{TOKEN}/x",
        f"/.well-known/acme-challenge/{TOKEN}?x=1",
        "/.well-known/acme-challenge/*",
        f"/{TOKEN}",
        f"/.well-known/acme-challengeX/{TOKEN}",
        f".well-known/acme-challenge/{TOKEN}",
    ]:
        assert await manager.challenge_response(other) is None
    assert await manager.remove_challenge(TOKEN) is True
    assert await manager.remove_challenge(TOKEN) is False
    assert await manager.challenge_response(path) is None


async def test_account_keys(storage: UnifiedStorage, raw: redis.Redis, namespace: str) -> None:
    manager = AsyncCertificateManager(storage)
    account_key = key_pem(ec.generate_private_key(ec.SECP256R1()))
    stored = await manager.store_account_key("Ops@Example.com", DIRECTORY, account_key)
    assert stored.private_key_pem.get_secret_value() == account_key
    assert key_body(account_key) not in repr(stored)
    assert await manager.account_key("ops@example.com", DIRECTORY) == stored

    before = ours(raw, namespace)
    encrypted = key_pem(ec.generate_private_key(ec.SECP256R1()), b"pw")
    for bad in (encrypted, "not a key", f"{account_key[:-40]}"):
        with pytest.raises(InvalidCertificateError, match="not an unencrypted PEM") as caught:
            await manager.store_account_key("ops@example.com", DIRECTORY, bad)
        assert key_body(account_key) not in str(caught.value)
    assert ours(raw, namespace) == before

    assert await manager.delete_account_key("ops@example.com", DIRECTORY) is True
    assert await manager.delete_account_key("ops@example.com", DIRECTORY) is False
    assert await manager.account_key("ops@example.com", DIRECTORY) is None
