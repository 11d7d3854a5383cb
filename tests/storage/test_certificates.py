"""Certificates, their domain index, ACME challenges and ACME accounts, sync and async."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from pydantic import SecretStr, ValidationError
from redis.crc import key_slot

from src.storage import (
    AcmeAccount,
    Certificate,
    CertificateDomainConflictError,
    CertificateStatus,
    CorruptRecordError,
    InvalidKeyError,
    ProxyTarget,
    StorageError,
    UnifiedStorage,
)
from tests.keys_v2 import cert_key, domain_key
from tests.redis_topologies import namespace_keys

Call = Callable[..., Any]

CHAIN = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
KEY_MATERIAL = "SECRET-KEY-MATERIAL-7f3a"
PRIVATE_KEY = f"-----BEGIN PRIVATE KEY-----\n{KEY_MATERIAL}\n-----END PRIVATE KEY-----\n"
DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"
TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEY_AUTHORIZATION = f"{TOKEN}.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ"

HOSTILE_DOMAINS = [
    "*",
    "*.",
    "**.example.com",
    "a.*.example.com",
    "*example.com",
    "example.com*",
    "*.*.example.com",
    "ex ample.com",
    "a:b.example.com",
    "a_b.example.com",
    "[ab].example.com",
    "",
    "x" * 300,
]
HOSTILE_NAMES = ["", "*", "a:b", "a b", "-rm", ".hidden", "{certs}", "a\nb", "x" * 200]
HOSTILE_TOKENS = ["", "a b", "a/b", "../x", "*", "a:b", "tok=", "t\u00f6k", "x" * 257, "a\nb"]


def snapshot(raw: redis.Redis, namespace: str) -> dict[bytes, object]:
    """Every key of the namespace with its value, to prove that nothing was written."""
    found: dict[bytes, object] = {}
    for key in namespace_keys(raw, namespace):
        found[key] = raw.dump(key)
    return found


def certificate(
    name: str, domains: list[str], expires_in_days: float | None = None, **fields: Any
) -> Certificate:
    """A pending certificate, or an active one expiring in `expires_in_days` days."""
    if expires_in_days is None:
        return Certificate(
            cert_name=name,
            domains=domains,
            email="ops@example.com",
            acme_directory_url=DIRECTORY,
            **fields,
        )
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days)
    return Certificate(
        cert_name=name,
        domains=domains,
        email="ops@example.com",
        acme_directory_url=DIRECTORY,
        status=CertificateStatus.ACTIVE,
        fullchain_pem=CHAIN,
        private_key_pem=SecretStr(PRIVATE_KEY),
        issued_at=expires_at - timedelta(days=90),
        expires_at=expires_at,
        **fields,
    )


# Certificates


def test_store_get_and_list(call: Call, raw: redis.Redis, namespace: str) -> None:
    site = certificate("site", ["App.Example.com", "*.Example.com"], expires_in_days=60)
    call("store_certificate", site)
    found = call("get_certificate", "site")
    assert found == site
    assert found.domains == ["app.example.com", "*.example.com"]
    assert found.private_key_pem.get_secret_value() == PRIVATE_KEY
    stored = raw.get(cert_key(namespace, "site"))
    assert stored is not None and KEY_MATERIAL.encode() in stored

    api = certificate("api", ["api.example.org"])
    call("store_certificate", api)
    assert call("get_certificate", "api") == api
    assert [c.cert_name for c in call("list_certificates")] == ["api", "site"]
    assert call("get_certificate", "missing") is None


def test_domain_index_keys(call: Call, raw: redis.Redis, namespace: str) -> None:
    call("store_certificate", certificate("site", ["app.example.com", "*.example.com"]))
    keys = {key.decode() for key in namespace_keys(raw, namespace)}
    ours = {key for key in keys if f"{{{namespace}:certs}}" in key}
    assert ours == {
        cert_key(namespace, "site"),
        domain_key(namespace, "app.example.com"),
        domain_key(namespace, "_wildcard.example.com"),
    }
    assert not any("*" in key for key in keys)
    assert raw.get(domain_key(namespace, "_wildcard.example.com")) == b"site"
    assert len({key_slot(key.encode()) for key in ours}) == 1


def test_lookup_by_domain(call: Call) -> None:
    call("store_certificate", certificate("wild", ["*.example.com"]))
    call("store_certificate", certificate("app", ["app.example.com"]))
    call("store_certificate", certificate("apex", ["example.com", "localhost"]))

    def owner(domain: str) -> str | None:
        found = call("get_certificate_for_domain", domain)
        return None if found is None else str(found.cert_name)

    assert owner("app.example.com") == "app"
    assert owner("APP.Example.COM") == "app"
    assert owner("other.example.com") == "wild"
    assert owner("*.example.com") == "wild"
    assert owner("example.com") == "apex"
    assert owner("localhost") == "apex"
    assert owner("a.b.example.com") is None
    assert owner("*.app.example.com") is None
    assert owner("example.org") is None


def test_wildcard_key_does_not_collide_with_a_lookalike_host(call: Call) -> None:
    call("store_certificate", certificate("wild", ["*.example.com"]))
    call("store_certificate", certificate("lookalike", ["wildcard.example.com"]))
    assert call("get_certificate_for_domain", "wildcard.example.com").cert_name == "lookalike"
    assert call("get_certificate_for_domain", "*.example.com").cert_name == "wild"
    assert call("get_certificate_for_domain", "x.example.com").cert_name == "wild"


def test_a_claimed_domain_cannot_be_claimed_again(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    site = certificate("site", ["app.example.com", "*.example.com"])
    call("store_certificate", site)
    before = snapshot(raw, namespace)
    other = certificate("other", ["new.example.org", "APP.example.com"], expires_in_days=30)
    with pytest.raises(CertificateDomainConflictError) as caught:
        call("store_certificate", other)
    error = caught.value
    assert isinstance(error, StorageError)
    assert (error.domain, error.cert_name, error.owner) == ("app.example.com", "other", "site")
    assert str(error) == (
        "domain 'app.example.com' already belongs to certificate 'site'; certificate 'other' "
        "cannot claim it (delete it from 'site' first)"
    )
    assert KEY_MATERIAL not in str(error)
    assert snapshot(raw, namespace) == before
    assert call("get_certificate", "other") is None
    assert call("get_certificate_for_domain", "new.example.org") is None


def test_replacing_a_certificate_moves_its_domains(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    call("store_certificate", certificate("site", ["a.example.com", "b.example.com"]))
    renewed = certificate("site", ["b.example.com", "c.example.com"], expires_in_days=90)
    call("store_certificate", renewed)
    assert call("get_certificate", "site") == renewed
    assert raw.get(domain_key(namespace, "a.example.com")) is None
    assert raw.get(domain_key(namespace, "c.example.com")) == b"site"
    call("store_certificate", certificate("other", ["a.example.com"]))
    with pytest.raises(CertificateDomainConflictError, match=re.escape("'c.example.com'")):
        call("store_certificate", certificate("third", ["c.example.com"]))


def claimant(i: int) -> Certificate:
    return certificate(f"claimant-{i}", ["shared.example.com", f"own-{i}.example.com"])


def check_one_winner(storage: UnifiedStorage, outcomes: list[str]) -> None:
    winners = [outcome for outcome in outcomes if outcome != "conflict"]
    assert len(winners) == 1
    assert outcomes.count("conflict") == 7
    assert [c.cert_name for c in storage.list_certificates()] == winners
    found = storage.get_certificate_for_domain("shared.example.com")
    assert found is not None and found.cert_name == winners[0]
    for i in range(8):
        own = storage.get_certificate_for_domain(f"own-{i}.example.com")
        assert (own is not None) == (f"claimant-{i}" == winners[0])


def test_one_domain_one_certificate_across_threads(storage: UnifiedStorage) -> None:
    storage.initialize()
    start = threading.Barrier(8)

    def claim(i: int) -> str:
        start.wait()
        try:
            storage.store_certificate(claimant(i))
        except CertificateDomainConflictError:
            return "conflict"
        return f"claimant-{i}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(claim, range(8)))
    check_one_winner(storage, outcomes)


def test_one_domain_one_certificate_across_tasks(storage: UnifiedStorage) -> None:
    async def claim(i: int) -> str:
        try:
            await storage.astore_certificate(claimant(i))
        except CertificateDomainConflictError:
            return "conflict"
        return f"claimant-{i}"

    async def claim_all() -> list[str]:
        return list(await asyncio.gather(*(claim(i) for i in range(8))))

    check_one_winner(storage, asyncio.run(claim_all()))


def test_expiring_within(call: Call) -> None:
    call("store_certificate", certificate("later", ["later.example.com"], expires_in_days=40))
    call("store_certificate", certificate("soon", ["soon.example.com"], expires_in_days=5))
    call("store_certificate", certificate("expired", ["old.example.com"], expires_in_days=-2))
    call("store_certificate", certificate("pending", ["new.example.com"]))

    def names(days: float) -> list[str]:
        return [c.cert_name for c in call("list_certificates_expiring_within", days)]

    assert names(30) == ["expired", "soon"]
    assert names(0) == ["expired"]
    assert names(4.5) == ["expired"]
    assert names(60) == ["expired", "soon", "later"]


@pytest.mark.parametrize("days", [-1, float("nan"), float("inf"), True, "30", None, 36501])
def test_expiring_within_rejects_bad_days(call: Call, days: object) -> None:
    with pytest.raises(ValueError, match="days must be a number from 0 to 36500"):
        call("list_certificates_expiring_within", days)


def proxy(hostname: str, cert_name: str | None) -> ProxyTarget:
    return ProxyTarget(
        hostname=hostname,
        target_url=f"http://{hostname}.internal:8080",
        cert_name=cert_name,
        custom_headers={"X-Site": hostname},
    )


def test_delete_detaches_the_proxy_targets_using_it(call: Call) -> None:
    call("store_certificate", certificate("site", ["a.example.com", "c.example.com"]))
    call("store_certificate", certificate("other", ["b.example.com"]))
    targets = {
        "a.example.com": proxy("a.example.com", "site"),
        "b.example.com": proxy("b.example.com", "other"),
        "c.example.com": proxy("c.example.com", "site"),
        "d.example.com": proxy("d.example.com", None),
    }
    for target in targets.values():
        call("store_proxy_target", target)

    assert call("delete_certificate", "site") is True

    for hostname in ("a.example.com", "c.example.com"):
        expected = targets[hostname].model_copy(update={"cert_name": None})
        assert call("get_proxy_target", hostname) == expected
    assert call("get_proxy_target", "b.example.com") == targets["b.example.com"]
    assert call("get_proxy_target", "d.example.com") == targets["d.example.com"]
    assert call("get_certificate", "site") is None
    assert call("get_certificate_for_domain", "a.example.com") is None
    assert call("get_certificate", "other") is not None
    call("store_certificate", certificate("successor", ["a.example.com", "c.example.com"]))
    assert call("delete_certificate", "ghost") is False


def test_delete_detaches_dangling_references(call: Call) -> None:
    call("store_proxy_target", proxy("a.example.com", "ghost"))
    assert call("delete_certificate", "ghost") is False
    assert call("get_proxy_target", "a.example.com").cert_name is None


def test_a_corrupt_proxy_target_stops_detaching_and_a_retry_finishes(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    call("store_certificate", certificate("site", ["a.example.com"]))
    call("store_proxy_target", proxy("a.example.com", "site"))
    raw.set(f"{namespace}:proxy:broken.example.com", b"{not json")
    with pytest.raises(CorruptRecordError) as caught:
        call("delete_certificate", "site")
    assert caught.value.key == f"{namespace}:proxy:broken.example.com"
    assert call("get_certificate", "site") is None
    raw.delete(f"{namespace}:proxy:broken.example.com")
    assert call("delete_certificate", "site") is False
    assert call("get_proxy_target", "a.example.com").cert_name is None


@pytest.mark.parametrize("domain", HOSTILE_DOMAINS)
def test_hostile_domains_are_rejected(
    call: Call, raw: redis.Redis, namespace: str, domain: str
) -> None:
    call("initialize")
    before = snapshot(raw, namespace)
    with pytest.raises(InvalidKeyError, match="invalid"):
        call("get_certificate_for_domain", domain)
    with pytest.raises(ValidationError, match="domains"):
        certificate("site", ["ok.example.com", domain])
    assert snapshot(raw, namespace) == before


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_certificate_names_are_rejected(
    call: Call, raw: redis.Redis, namespace: str, name: str
) -> None:
    call("initialize")
    before = snapshot(raw, namespace)
    for method in ("get_certificate", "delete_certificate"):
        with pytest.raises(InvalidKeyError, match="invalid certificate name"):
            call(method, name)
    with pytest.raises(ValidationError, match="cert_name"):
        certificate(name, ["ok.example.com"])
    assert snapshot(raw, namespace) == before


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"domains": []}, "at least 1 item"),
        ({"domains": [f"d{i}.example.com" for i in range(101)]}, "at most 100 items"),
        ({"domains": ["a.example.com", "A.example.com"]}, "listed twice"),
        ({"status": CertificateStatus.ACTIVE}, "an active certificate needs"),
        ({"fullchain_pem": CHAIN}, "are set together"),
        ({"fullchain_pem": "MIIB", "private_key_pem": PRIVATE_KEY}, "PEM certificates"),
        ({"email": "not-an-address"}, "invalid e-mail address"),
        ({"email": "ops@exa mple.com"}, "invalid e-mail address"),
        ({"acme_directory_url": "http://acme.example.com/dir"}, "an https:// URL"),
        ({"acme_directory_url": "https://u:pw@acme.example.com/"}, "no credentials"),
        ({"acme_directory_url": "https://acme.example.com/d?x=1"}, "no query"),
        ({"acme_directory_url": "https://acme example.com/"}, "printable ASCII"),
        ({"acme_directory_url": "https:///dir"}, "a hostname"),
        ({"status": "revoked"}, "status"),
        ({"unknown": 1}, "Extra inputs"),
    ],
)
def test_invalid_certificates_are_rejected(fields: dict[str, Any], problem: str) -> None:
    values: dict[str, Any] = {
        "cert_name": "site",
        "domains": ["a.example.com"],
        "email": "ops@example.com",
        "acme_directory_url": DIRECTORY,
        **fields,
    }
    with pytest.raises(ValidationError, match=problem):
        Certificate(**values)


@pytest.mark.parametrize(
    ("issued_at", "expires_at", "problem"),
    [
        (datetime(2025, 3, 2, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC), "must be later"),
        (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC), "must be later"),
        (datetime(2025, 3, 1), datetime(2025, 6, 1, tzinfo=UTC), "timezone"),
    ],
)
def test_validity_period_is_checked(
    issued_at: datetime, expires_at: datetime, problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        Certificate(
            cert_name="site",
            domains=["a.example.com"],
            email="ops@example.com",
            acme_directory_url=DIRECTORY,
            fullchain_pem=CHAIN,
            private_key_pem=PRIVATE_KEY,
            issued_at=issued_at,
            expires_at=expires_at,
        )


def test_private_keys_stay_secret(call: Call, raw: redis.Redis, namespace: str) -> None:
    site = certificate("site", ["a.example.com"], expires_in_days=30)
    for shown in (repr(site), str(site), site.model_dump_json(), repr(site.model_dump())):
        assert KEY_MATERIAL not in shown
    not_a_key = f"{KEY_MATERIAL} is no PEM"
    with pytest.raises(ValidationError) as caught:
        Certificate(
            cert_name="site",
            domains=["a.example.com"],
            email="bad",
            acme_directory_url=DIRECTORY,
            fullchain_pem=CHAIN,
            private_key_pem=not_a_key,
            issued_at=datetime.now(UTC),
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    assert "private_key_pem" in str(caught.value)
    assert KEY_MATERIAL not in str(caught.value)
    assert KEY_MATERIAL not in repr(caught.value)

    call("store_certificate", site)
    key = cert_key(namespace, "site")
    stored = raw.get(key)
    assert isinstance(stored, bytes)
    raw.set(key, stored.replace(b'"status":"active"', b'"status":"bogus"'))
    with pytest.raises(CorruptRecordError, match="status") as corrupt:
        call("get_certificate", "site")
    assert KEY_MATERIAL not in str(corrupt.value)


def test_corrupt_certificates_are_reported_and_left_alone(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    key = cert_key(namespace, "site")
    raw.set(key, b"{not json")
    for method, args in [
        ("get_certificate", ("site",)),
        ("list_certificates", ()),
        ("list_certificates_expiring_within", (30,)),
        ("delete_certificate", ("site",)),
        ("store_certificate", (certificate("site", ["a.example.com"]),)),
    ]:
        with pytest.raises(CorruptRecordError) as caught:
            call(method, *args)
        assert caught.value.key == key
    assert raw.get(key) == b"{not json"
    assert raw.get(domain_key(namespace, "a.example.com")) is None


def test_corrupt_domain_index_is_reported(call: Call, raw: redis.Redis, namespace: str) -> None:
    raw.set(domain_key(namespace, "a.example.com"), b"no such name!")
    with pytest.raises(CorruptRecordError, match="not a valid certificate name") as caught:
        call("get_certificate_for_domain", "a.example.com")
    assert caught.value.key == domain_key(namespace, "a.example.com")
    with pytest.raises(CorruptRecordError, match="not a valid certificate name"):
        call("store_certificate", certificate("site", ["a.example.com"]))

    raw.set(domain_key(namespace, "b.example.com"), b"ghost")
    with pytest.raises(CorruptRecordError, match="names certificate 'ghost'"):
        call("get_certificate_for_domain", "b.example.com")
    call("store_certificate", certificate("other", ["c.example.com"]))
    raw.set(domain_key(namespace, "d.example.com"), b"other")
    with pytest.raises(CorruptRecordError, match=re.escape("which does not claim 'd.example.com'")):
        call("get_certificate_for_domain", "d.example.com")


# ACME challenges


def test_challenges(call: Call, raw: redis.Redis, namespace: str) -> None:
    assert call("get_acme_challenge", TOKEN) is None
    call("store_acme_challenge", TOKEN, KEY_AUTHORIZATION, 300)
    assert call("get_acme_challenge", TOKEN) == KEY_AUTHORIZATION
    remaining = raw.pttl(f"{namespace}:acme:challenge:{TOKEN}")
    assert 0 < remaining <= 300_000
    call("store_acme_challenge", TOKEN, KEY_AUTHORIZATION, timedelta(minutes=1))
    assert 0 < raw.pttl(f"{namespace}:acme:challenge:{TOKEN}") <= 60_000
    assert call("delete_acme_challenge", TOKEN) is True
    assert call("delete_acme_challenge", TOKEN) is False
    assert call("get_acme_challenge", TOKEN) is None


def test_challenge_expires(call: Call) -> None:
    call("store_acme_challenge", "short-lived_token", "short-lived_token.thumb", 0.2)
    assert call("get_acme_challenge", "short-lived_token") == "short-lived_token.thumb"
    time.sleep(0.3)
    assert call("get_acme_challenge", "short-lived_token") is None


@pytest.mark.parametrize("token", HOSTILE_TOKENS)
def test_hostile_tokens_are_rejected(
    call: Call, raw: redis.Redis, namespace: str, token: str
) -> None:
    call("initialize")
    before = snapshot(raw, namespace)
    for method, args in [
        ("store_acme_challenge", (token, f"{token}.thumb", 60)),
        ("get_acme_challenge", (token,)),
        ("delete_acme_challenge", (token,)),
    ]:
        with pytest.raises(InvalidKeyError, match="invalid ACME challenge token"):
            call(method, *args)
    assert snapshot(raw, namespace) == before


@pytest.mark.parametrize(
    ("key_authorization", "ttl", "problem"),
    [
        (f"other.{KEY_AUTHORIZATION.split('.')[1]}", 60, "invalid key authorization"),
        (TOKEN, 60, "invalid key authorization"),
        (f"{TOKEN}.", 60, "invalid key authorization"),
        (f"{TOKEN}.thumb print", 60, "invalid key authorization"),
        (f"{TOKEN}.thumb.print", 60, "invalid key authorization"),
        (KEY_AUTHORIZATION, 0, "TTL"),
        (KEY_AUTHORIZATION, -5, "TTL"),
    ],
)
def test_bad_challenges_write_nothing(
    call: Call, raw: redis.Redis, namespace: str, key_authorization: str, ttl: float, problem: str
) -> None:
    call("initialize")
    before = snapshot(raw, namespace)
    with pytest.raises(ValueError, match=problem):
        call("store_acme_challenge", TOKEN, key_authorization, ttl)
    assert snapshot(raw, namespace) == before


# ACME accounts


def account(email: str = "Ops@Example.com", directory: str = DIRECTORY) -> AcmeAccount:
    return AcmeAccount(email=email, directory_url=directory, private_key_pem=PRIVATE_KEY)


def test_accounts(call: Call, raw: redis.Redis, namespace: str) -> None:
    stored = account()
    assert stored.email == "ops@example.com"
    call("store_acme_account", stored)
    assert call("get_acme_account", "OPS@example.COM", DIRECTORY) == stored
    staging = "https://acme-staging-v02.api.letsencrypt.org/directory"
    assert call("get_acme_account", "ops@example.com", staging) is None
    assert call("get_acme_account", "other@example.com", DIRECTORY) is None
    (key,) = [k.decode() for k in raw.scan_iter(match=f"{namespace}:acme:account:*")]
    digest = key.removeprefix(f"{namespace}:acme:account:")
    assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    raw_value = raw.get(key)
    assert raw_value is not None and KEY_MATERIAL.encode() in raw_value
    for shown in (repr(stored), stored.model_dump_json()):
        assert KEY_MATERIAL not in shown
    assert call("delete_acme_account", "ops@example.com", DIRECTORY) is True
    assert call("delete_acme_account", "ops@example.com", DIRECTORY) is False
    assert call("get_acme_account", "ops@example.com", DIRECTORY) is None


@pytest.mark.parametrize(
    ("email", "directory", "problem"),
    [
        ("no-at-sign", DIRECTORY, "invalid e-mail address"),
        ("a b@example.com", DIRECTORY, "invalid e-mail address"),
        ("ops@*.example.com", DIRECTORY, "invalid e-mail address"),
        ("ops@example.com", "ftp://acme.example.com/", "an https:// URL"),
        ("ops@example.com", "https://acme.example.com:99999/", "a hostname"),
        ("ops@example.com", "https://user:secret@acme.example.com/", "no credentials"),
    ],
)
def test_hostile_accounts_are_rejected(
    call: Call, raw: redis.Redis, namespace: str, email: str, directory: str, problem: str
) -> None:
    call("initialize")
    before = snapshot(raw, namespace)
    for method in ("get_acme_account", "delete_acme_account"):
        with pytest.raises(InvalidKeyError, match=problem) as caught:
            call(method, email, directory)
        assert "secret" not in str(caught.value)
    with pytest.raises(ValidationError, match=problem):
        account(email, directory)
    assert snapshot(raw, namespace) == before


def test_account_keys_must_be_pem() -> None:
    with pytest.raises(ValidationError, match="expected a PEM private key") as caught:
        AcmeAccount(email="ops@example.com", directory_url=DIRECTORY, private_key_pem=KEY_MATERIAL)
    assert KEY_MATERIAL not in str(caught.value)


def test_corrupt_account_is_reported(call: Call, raw: redis.Redis, namespace: str) -> None:
    call("store_acme_account", account())
    (key,) = list(raw.scan_iter(match=f"{namespace}:acme:account:*"))
    raw.set(key, b'{"email": "ops@example.com"}')
    with pytest.raises(CorruptRecordError, match="directory_url") as caught:
        call("get_acme_account", "ops@example.com", DIRECTORY)
    assert caught.value.key == key.decode()
