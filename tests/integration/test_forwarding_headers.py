"""What the proxy under uvicorn tells a backend, seen on the backend's socket: the
gateway's credentials stay in the gateway, the identity it checked goes upstream in
headers only it sets, and who the client is comes from the gateway unless a trusted proxy
said so."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from ipaddress import ip_network

import pytest

from src.proxy.settings import ProxySettings
from src.storage import OAuthGrantType, ProxyTarget, UnifiedStorage

from .conftest import LoopbackServer
from .peers import RawBackend, Seen, assert_clean_log, exchange, get, proxy_serving

TRUSTED = "127.0.0.2"
SETTINGS = ProxySettings(trusted_proxies=(ip_network(f"{TRUSTED}/32"),))
COOKIES = b"Cookie: gateway_session=sess10n; theme=dark; gateway_csrf=csrf70ken"
FORGED = (b"X-Auth-User: mallory", b"x-auth-client: evil", b"X-AUTH-SCOPES: admin", b"X-Auth-X: 1")


@pytest.fixture
def backend() -> Iterator[RawBackend]:
    with RawBackend().running() as server:
        yield server


@pytest.fixture
def proxy(storage: UnifiedStorage) -> Iterator[LoopbackServer]:
    with proxy_serving(storage, SETTINGS) as server:
        yield server


@pytest.fixture
async def access_token(storage: UnifiedStorage) -> tuple[str, str]:
    """An access token of alice's, and the id of the client it was issued to."""
    registered = await storage.aregister_oauth_client("app", [OAuthGrantType.REFRESH_TOKEN])
    client_id = registered.client.client_id
    issued = await storage.aissue_token_pair(client_id, "alice", "read write", 60, 600)
    return issued.access_token, client_id


async def forwarded(proxy: LoopbackServer, backend: RawBackend, request: bytes) -> Seen:
    """What reached the backend of a request the proxy answered 200."""
    response = await exchange(proxy.port, request)
    assert response.status == 200
    assert len(backend.seen) == 1
    return backend.seen[0]


async def test_an_auth_target_gets_the_identity_not_the_credentials(
    storage: UnifiedStorage,
    proxy: LoopbackServer,
    backend: RawBackend,
    access_token: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    token, client_id = access_token
    await storage.astore_proxy_target(
        ProxyTarget(hostname="auth.example", target_url=backend.url, auth_enabled=True)
    )
    seen = await forwarded(
        proxy,
        backend,
        get(b"/me", b"auth.example", b"Authorization: Bearer " + token.encode(), COOKIES, *FORGED),
    )
    assert seen.header("authorization") == []
    assert seen.header("cookie") == ["theme=dark"]
    assert seen.header("x-auth-user") == ["alice"]
    assert seen.header("x-auth-client") == [client_id]
    assert seen.header("x-auth-scopes") == ["read write"]
    assert seen.header("x-auth-x") == []
    assert token.encode() not in seen.head
    assert_clean_log(caplog, token, "sess10n", "csrf70ken")


async def test_an_excluded_path_of_an_auth_target_gets_no_credentials(
    storage: UnifiedStorage,
    proxy: LoopbackServer,
    backend: RawBackend,
    access_token: tuple[str, str],
) -> None:
    token, _ = access_token
    await storage.astore_proxy_target(
        ProxyTarget(
            hostname="auth.example",
            target_url=backend.url,
            auth_enabled=True,
            auth_excluded_paths=["/public"],
        )
    )
    seen = await forwarded(
        proxy,
        backend,
        get(b"/public", b"auth.example", b"Authorization: Bearer " + token.encode(), COOKIES),
    )
    assert seen.header("authorization") == []
    assert seen.header("cookie") == ["theme=dark"]
    # No token was checked, so no identity is claimed.
    assert [name for name, _ in seen.headers() if name.startswith("x-auth-")] == []


async def test_only_gateway_cookies_go_and_the_header_too_when_none_is_left(
    storage: UnifiedStorage,
    proxy: LoopbackServer,
    backend: RawBackend,
    access_token: tuple[str, str],
) -> None:
    token, _ = access_token
    await storage.astore_proxy_target(
        ProxyTarget(hostname="auth.example", target_url=backend.url, auth_enabled=True)
    )
    seen = await forwarded(
        proxy,
        backend,
        get(
            b"/",
            b"auth.example",
            b"Authorization: Bearer " + token.encode(),
            b"Cookie: gateway_session=sess10n;gateway_csrf=x",
        ),
    )
    assert seen.header("cookie") == []


async def test_a_target_that_opted_in_gets_the_credentials(
    storage: UnifiedStorage,
    proxy: LoopbackServer,
    backend: RawBackend,
    access_token: tuple[str, str],
) -> None:
    token, client_id = access_token
    await storage.astore_proxy_target(
        ProxyTarget(
            hostname="trusting.example",
            target_url=backend.url,
            auth_enabled=True,
            forward_credentials=True,
        )
    )
    seen = await forwarded(
        proxy,
        backend,
        get(b"/", b"trusting.example", b"Authorization: Bearer " + token.encode(), COOKIES),
    )
    assert seen.header("authorization") == [f"Bearer {token}"]
    assert seen.header("cookie") == [COOKIES.decode().removeprefix("Cookie: ")]
    assert (seen.header("x-auth-user"), seen.header("x-auth-client")) == (["alice"], [client_id])


async def test_a_target_without_auth_gets_no_forged_identity(
    storage: UnifiedStorage, proxy: LoopbackServer, backend: RawBackend
) -> None:
    await storage.astore_proxy_target(ProxyTarget(hostname="open.example", target_url=backend.url))
    seen = await forwarded(proxy, backend, get(b"/", b"open.example", *FORGED))
    assert [name for name, _ in seen.headers() if name.startswith("x-auth-")] == []


CLIENT_SAID = (
    b"Forwarded: for=198.51.100.7;proto=https",
    b"X-Forwarded-For: 198.51.100.7",
    b"X-Forwarded-Proto: https",
    b"X-Forwarded-Host: public.example",
    b"X-Forwarded-Prefix: /evil",
    b"X-Real-IP: 198.51.100.7",
)


async def test_an_untrusted_client_cannot_say_who_it_is(
    storage: UnifiedStorage, proxy: LoopbackServer, backend: RawBackend
) -> None:
    await storage.astore_proxy_target(ProxyTarget(hostname="app.example", target_url=backend.url))
    seen = await forwarded(proxy, backend, get(b"/", b"app.example", *CLIENT_SAID))
    told = {name: value for name, value in seen.headers() if name != "host"}
    assert {name: value for name, value in told.items() if "forward" in name or "real" in name} == {
        "forwarded": 'for=127.0.0.1;host="app.example";proto=http',
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-proto": "http",
        "x-forwarded-host": "app.example",
        "x-real-ip": "127.0.0.1",
    }


async def test_a_trusted_proxy_is_believed_and_extended(
    storage: UnifiedStorage, proxy: LoopbackServer, backend: RawBackend
) -> None:
    await storage.astore_proxy_target(ProxyTarget(hostname="app.example", target_url=backend.url))
    response = await exchange(proxy.port, get(b"/", b"app.example", *CLIENT_SAID), TRUSTED)
    assert response.status == 200
    seen = backend.seen[0]
    assert seen.header("forwarded") == [
        f'for=198.51.100.7;proto=https, for={TRUSTED};host="app.example";proto=http'
    ]
    assert seen.header("x-forwarded-for") == [f"198.51.100.7, {TRUSTED}"]
    assert seen.header("x-forwarded-proto") == ["https"]
    assert seen.header("x-forwarded-host") == ["public.example"]
    assert seen.header("x-forwarded-prefix") == ["/evil"]
    assert seen.header("x-real-ip") == ["198.51.100.7"]
