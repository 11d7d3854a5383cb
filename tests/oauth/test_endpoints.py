"""The OAuth endpoints on a real storage, driven through `httpx.ASGITransport`."""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from src.api.routers.oauth import OAuthSettings, oauth_router
from src.storage import IssuedTokens, OAuthGrantType, RegisteredClient, UnifiedStorage

SETTINGS = OAuthSettings(
    issuer="https://gateway.example.com",
    access_token_ttl=timedelta(minutes=5),
    refresh_token_ttl=timedelta(days=1),
)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BOTH = [OAuthGrantType.REFRESH_TOKEN, OAuthGrantType.CLIENT_CREDENTIALS]


@pytest.fixture
async def api(storage: UnifiedStorage) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(oauth_router(storage, SETTINGS))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://api"
    ) as client:
        yield client


@pytest.fixture
async def registered(storage: UnifiedStorage) -> RegisteredClient:
    return await storage.aregister_oauth_client("cli", BOTH, scope="read write")


@pytest.fixture
async def issued(storage: UnifiedStorage, registered: RegisteredClient) -> IssuedTokens:
    return await storage.aissue_token_pair(
        registered.client.client_id, "alice", "read write", 60, 600
    )


def basic(client_id: str, secret: str) -> dict[str, str]:
    credentials = f"{quote(client_id)}:{quote(secret)}".encode()
    return {"Authorization": f"Basic {base64.b64encode(credentials).decode()}"}


def form_auth(registered: RegisteredClient) -> dict[str, str]:
    return {"client_id": registered.client.client_id, "client_secret": registered.client_secret}


def assert_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


# POST /token


async def test_refresh_with_basic_auth(
    api: httpx.AsyncClient, registered: RegisteredClient, issued: IssuedTokens
) -> None:
    response = await api.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": issued.refresh_token},
        headers=basic(registered.client.client_id, registered.client_secret),
    )
    assert response.status_code == 200
    assert (response.headers["cache-control"], response.headers["pragma"]) == (
        "no-store",
        "no-cache",
    )
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 300, "read write")
    assert body["refresh_token"] not in (issued.refresh_token, body["access_token"])


async def test_refresh_with_form_auth_and_a_narrower_scope(
    api: httpx.AsyncClient,
    registered: RegisteredClient,
    issued: IssuedTokens,
    storage: UnifiedStorage,
) -> None:
    response = await api.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": issued.refresh_token,
            "scope": "read",
            **form_auth(registered),
        },
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "read"
    record = await storage.aget_access_token(response.json()["access_token"])
    assert record is not None and (record.user, record.scope) == ("alice", "read")


async def test_refresh_ignores_a_bearer_header(
    api: httpx.AsyncClient, registered: RegisteredClient, issued: IssuedTokens
) -> None:
    response = await api.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": issued.refresh_token,
            **form_auth(registered),
        },
        headers={"Authorization": "Bearer expired-or-whatever"},
    )
    assert response.status_code == 200


async def test_reuse_is_invalid_grant_and_revokes(
    api: httpx.AsyncClient,
    registered: RegisteredClient,
    issued: IssuedTokens,
    storage: UnifiedStorage,
) -> None:
    data = {
        "grant_type": "refresh_token",
        "refresh_token": issued.refresh_token,
        **form_auth(registered),
    }
    first = await api.post("/token", data=data)
    assert first.status_code == 200
    again = await api.post("/token", data=data)
    assert_error(again, 400, "invalid_grant")
    assert "already used" in again.json()["error_description"]
    assert await storage.aget_access_token(first.json()["access_token"]) is None


async def test_client_credentials(
    api: httpx.AsyncClient, registered: RegisteredClient, storage: UnifiedStorage
) -> None:
    response = await api.post(
        "/token", data={"grant_type": "client_credentials", **form_auth(registered)}
    )
    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    assert body["scope"] == "read write"
    record = await storage.aget_access_token(body["access_token"])
    assert record is not None and (record.user, record.client_id) == (
        None,
        registered.client.client_id,
    )
    narrowed = await api.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "write", **form_auth(registered)},
    )
    assert narrowed.json()["scope"] == "write"
    for scope in ["admin", "read admin", "read  write"]:
        refused = await api.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": scope, **form_auth(registered)},
        )
        assert_error(refused, 400, "invalid_scope")


async def test_grants_the_client_may_not_use(
    api: httpx.AsyncClient, storage: UnifiedStorage
) -> None:
    only_refresh = await storage.aregister_oauth_client("r", [OAuthGrantType.REFRESH_TOKEN])
    response = await api.post(
        "/token", data={"grant_type": "client_credentials", **form_auth(only_refresh)}
    )
    assert_error(response, 400, "unauthorized_client")


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        # The registered client may not use it.
        ({"grant_type": "authorization_code"}, 400, "unauthorized_client"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "unknown"}, 400, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "a\nb"}, 400, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "x" * 10_000}, 400, "invalid_grant"),
    ],
)
async def test_malformed_token_requests(
    api: httpx.AsyncClient,
    registered: RegisteredClient,
    data: dict[str, str],
    status: int,
    error: str,
) -> None:
    response = await api.post("/token", data={**data, **form_auth(registered)})
    assert_error(response, status, error)
    assert registered.client_secret not in response.text


async def test_wrong_client_secret(
    api: httpx.AsyncClient,
    registered: RegisteredClient,
    issued: IssuedTokens,
    storage: UnifiedStorage,
) -> None:
    data = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token}
    wrong = registered.client_secret[:-1] + ("A" if registered.client_secret[-1] != "A" else "B")
    attempts = [
        await api.post("/token", data=data),
        await api.post(
            "/token",
            data={**data, "client_id": registered.client.client_id, "client_secret": wrong},
        ),
        await api.post("/token", data=data, headers=basic(registered.client.client_id, wrong)),
        await api.post("/token", data=data, headers=basic("nobody", registered.client_secret)),
        await api.post("/token", data={**data, "client_id": registered.client.client_id}),
    ]
    assert issued.refresh_token is not None
    for response in attempts:
        assert_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"] == 'Basic realm="oauth"'
        assert wrong not in response.text and issued.refresh_token not in response.text
    # The refresh token was never consumed.
    assert await storage.aintrospect_token(issued.refresh_token) is not None


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({"Content-Type": "application/json"}, b'{"grant_type": "refresh_token"}'),
        ({}, b"grant_type=refresh_token"),
        (FORM, b"grant_type=refresh_token&grant_type=client_credentials"),
        (FORM, b"grant_type"),
        (FORM, b"grant_type=%ff"),
        (FORM, "grant_type=é".encode()),
        ({**FORM, "Authorization": "Basic !!!"}, b"grant_type=refresh_token"),
        ({**FORM, "Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, b"a=b"),
    ],
    ids=range(8),
)
async def test_malformed_bodies_and_credentials(
    api: httpx.AsyncClient, headers: dict[str, str], content: bytes
) -> None:
    response = await api.post("/token", content=content, headers=headers)
    assert_error(response, 400, "invalid_request")


async def test_two_client_authentication_methods(
    api: httpx.AsyncClient, registered: RegisteredClient, issued: IssuedTokens
) -> None:
    headers = basic(registered.client.client_id, registered.client_secret)
    data = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token}
    both = await api.post("/token", data={**data, **form_auth(registered)}, headers=headers)
    assert_error(both, 400, "invalid_request")
    assert both.json()["error_description"] == "the client authenticated with more than one method"
    contradicting = await api.post(
        "/token", data={**data, "client_id": "someone-else"}, headers=headers
    )
    assert_error(contradicting, 400, "invalid_request")


# POST /revoke and /introspect


async def test_revoke(
    api: httpx.AsyncClient,
    registered: RegisteredClient,
    issued: IssuedTokens,
    storage: UnifiedStorage,
) -> None:
    other = await storage.aregister_oauth_client("other", BOTH)
    not_mine = await api.post("/revoke", data={"token": issued.access_token, **form_auth(other)})
    assert (not_mine.status_code, not_mine.content) == (200, b"")
    assert await storage.aget_access_token(issued.access_token) is not None
    for token in [issued.refresh_token, issued.refresh_token, "unknown", "a\nb"]:
        response = await api.post(
            "/revoke",
            data={"token": token, "token_type_hint": "refresh_token", **form_auth(registered)},
        )
        assert (response.status_code, response.content) == (200, b"")
        assert response.headers["cache-control"] == "no-store"
    assert await storage.aget_access_token(issued.access_token) is None
    assert_error(await api.post("/revoke", data=form_auth(registered)), 400, "invalid_request")
    assert_error(await api.post("/revoke", data={"token": "x"}), 401, "invalid_client")


async def test_introspect(
    api: httpx.AsyncClient, registered: RegisteredClient, issued: IssuedTokens
) -> None:
    access = await api.post(
        "/introspect", data={"token": issued.access_token, **form_auth(registered)}
    )
    assert access.status_code == 200
    assert access.headers["cache-control"] == "no-store"
    assert access.json() == {
        "active": True,
        "scope": "read write",
        "client_id": registered.client.client_id,
        "exp": int(issued.access.expires_at.timestamp()),
        "iat": int(issued.access.issued_at.timestamp()),
        "sub": "alice",
        "username": "alice",
        "iss": "https://gateway.example.com",
        "token_type": "Bearer",
    }
    refresh = await api.post(
        "/introspect", data={"token": issued.refresh_token, **form_auth(registered)}
    )
    assert refresh.json()["token_type"] == "refresh_token"
    for token in ["unknown", "x" * 5000, "a\nb"]:
        inactive = await api.post("/introspect", data={"token": token, **form_auth(registered)})
        assert inactive.json() == {"active": False}
    assert_error(
        await api.post("/introspect", data={"token": issued.access_token}), 401, "invalid_client"
    )
    assert_error(await api.post("/introspect", data=form_auth(registered)), 400, "invalid_request")


# Metadata, health, status


async def test_metadata(api: httpx.AsyncClient) -> None:
    response = await api.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.json() == {
        "issuer": "https://gateway.example.com",
        "authorization_endpoint": "https://gateway.example.com/authorize",
        "token_endpoint": "https://gateway.example.com/token",
        "registration_endpoint": "https://gateway.example.com/register",
        "device_authorization_endpoint": "https://gateway.example.com/device/authorize",
        "revocation_endpoint": "https://gateway.example.com/revoke",
        "introspection_endpoint": "https://gateway.example.com/introspect",
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
    }


async def test_health(api: httpx.AsyncClient, storage: UnifiedStorage) -> None:
    response = await api.get("/health")
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ok", "storage": True, "defaults": True},
    )


async def test_status(
    api: httpx.AsyncClient,
    registered: RegisteredClient,
    issued: IssuedTokens,
    storage: UnifiedStorage,
) -> None:
    metadata = "http://api/.well-known/oauth-protected-resource"
    anonymous = await api.get("/oauth/status")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata}"'
    refused = await api.get("/oauth/status", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", resource_metadata="{metadata}"'
    )
    response = await api.get(
        "/oauth/status", headers={"Authorization": f"Bearer {issued.access_token}"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "clients": [
            {
                "client_id": registered.client.client_id,
                "name": "cli",
                "grant_types": ["refresh_token", "client_credentials"],
                "token_endpoint_auth_method": "client_secret_basic",
                "redirect_uris": [],
                "live_access_tokens": 1,
                "live_refresh_tokens": 1,
            }
        ],
        "storage": {"healthy": True},
    }
    assert registered.client_secret not in response.text
    assert registered.client.secret_hash is not None
    assert registered.client.secret_hash not in response.text


async def test_storage_down(storage_registry: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    down = UnifiedStorage(f"redis://127.0.0.1:{closed_port}/0", connect_timeout=0.5)
    app = FastAPI()
    app.include_router(oauth_router(down, SETTINGS))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as api:
        health = await api.get("/health")
        token = await api.post(
            "/token",
            data={"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"},
        )
        status = await api.get("/oauth/status", headers={"Authorization": "Bearer abc"})
    await down.aclose()
    assert (health.status_code, health.json()) == (
        503,
        {"status": "unavailable", "storage": False, "defaults": None},
    )
    assert_error(token, 503, "temporarily_unavailable")
    assert (status.status_code, status.json()) == (503, {"storage": {"healthy": False}})


async def test_secrets_never_in_logs(
    api: httpx.AsyncClient,
    registered: RegisteredClient,
    issued: IssuedTokens,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        data = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token}
        await api.post("/token", data={**data, **form_auth(registered)})
        await api.post("/token", data={**data, **form_auth(registered)})
        await api.post("/token", data={**data, "client_id": "x", "client_secret": "y"})
        await api.post("/introspect", data={"token": issued.access_token, **form_auth(registered)})
    logged = caplog.text
    for secret in [registered.client_secret, issued.access_token, issued.refresh_token]:
        assert secret is not None and secret not in logged
