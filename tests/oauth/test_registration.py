"""`POST /register` (RFC 7591) on a real storage, through `httpx.ASGITransport`: what is
accepted, what is refused and why, the bounds, and public clients at the token endpoint."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from src.api.routers.oauth import OAuthSettings, oauth_router
from src.api.routers.oauth.settings import (
    DEFAULT_MAX_REGISTRATION_BYTES,
    DEFAULT_REGISTRATION_WINDOW,
    DEFAULT_REGISTRATIONS_PER_ADDRESS,
)
from src.storage import TokenEndpointAuthMethod, UnifiedStorage

SETTINGS = OAuthSettings(issuer="https://gateway.example.com")
CALLBACK = "http://127.0.0.1:33418/callback"
Client = Callable[..., AsyncIterator[httpx.AsyncClient]]


def api_client(
    storage: UnifiedStorage, settings: OAuthSettings = SETTINGS, address: str = "192.0.2.10"
) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(oauth_router(storage, settings))
    transport = httpx.ASGITransport(app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


@pytest.fixture
async def api(storage: UnifiedStorage) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(storage) as client:
        yield client


def metadata(**fields: Any) -> dict[str, Any]:
    return {
        "client_name": "editor",
        "redirect_uris": [CALLBACK],
        "grant_types": ["refresh_token"],
    } | fields


def assert_refused(response: httpx.Response, status: int, error: str, says: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert says in body["error_description"]
    assert response.headers["cache-control"] == "no-store"


async def test_confidential_client(api: httpx.AsyncClient, storage: UnifiedStorage) -> None:
    response = await api.post("/register", json=metadata(scope="read"))
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    client = await storage.aget_oauth_client(body["client_id"])
    assert client is not None
    assert body == {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_secret": body["client_secret"],
        "client_secret_expires_at": 0,
        "client_name": "editor",
        "redirect_uris": [CALLBACK],
        "grant_types": ["refresh_token"],
        "response_types": [],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "read",
    }
    # The secret works, and only its hash is stored.
    assert await storage.averify_client_secret(client.client_id, body["client_secret"]) == client
    assert body["client_secret"] not in client.model_dump_json()


async def test_public_client_at_the_token_endpoint(
    api: httpx.AsyncClient, storage: UnifiedStorage
) -> None:
    response = await api.post(
        "/register", json=metadata(token_endpoint_auth_method="none", response_types=["code"])
    )
    assert response.status_code == 201
    body = response.json()
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    # Asked for the `code` response type: replaced by none, and the answer says so.
    assert (body["token_endpoint_auth_method"], body["response_types"]) == ("none", [])
    client_id = body["client_id"]
    issued = await storage.aissue_token_pair(client_id, "alice", "", 60, 600)

    refresh = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token}
    refreshed = await api.post("/token", data={**refresh, "client_id": client_id})
    assert refreshed.status_code == 200, refreshed.text
    tokens = refreshed.json()
    # A secret is no way in for a client that has none; nor is another client's id.
    again = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    guessed = await api.post("/token", data={**again, "client_id": client_id, "client_secret": "x"})
    assert_refused(guessed, 401, "invalid_client", "authentication failed")
    # Introspection tells a token's details to an authenticated client only.
    introspect = {"token": tokens["access_token"], "client_id": client_id}
    assert (await api.post("/introspect", data=introspect)).status_code == 401
    revoked = await api.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": client_id}
    )
    assert revoked.status_code == 200
    assert await storage.aintrospect_token(tokens["refresh_token"]) is None


async def test_a_confidential_client_needs_its_secret(
    api: httpx.AsyncClient, storage: UnifiedStorage
) -> None:
    client_id = (await api.post("/register", json=metadata())).json()["client_id"]
    issued = await storage.aissue_token_pair(client_id, "alice", "", 60, 600)
    form = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token}
    for named in ({"client_id": client_id}, {"client_id": "no:such client"}):
        response = await api.post("/token", data={**form, **named})
        assert_refused(response, 401, "invalid_client", "authentication failed")


async def test_defaults_and_repeats(api: httpx.AsyncClient, storage: UnifiedStorage) -> None:
    response = await api.post(
        "/register",
        json={"grant_types": ["refresh_token", "refresh_token"], "logo_uri": "ignored"},
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["client_name"], body["redirect_uris"], body["grant_types"]) == (
        "unnamed client",
        [],
        ["refresh_token"],
    )
    client = await storage.aget_oauth_client(body["client_id"])
    assert client is not None
    assert client.token_endpoint_auth_method is TokenEndpointAuthMethod.CLIENT_SECRET_BASIC


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8765/callback?x=1",
        "http://[::1]:8765/cb",
        "http://localhost:1234/cb",
        "http://LOCALHOST/cb",
        "https://127.0.0.1/cb",
        "https://localhost/oauth/callback",
    ],
)
async def test_accepted_redirect_uris(api: httpx.AsyncClient, uri: str) -> None:
    response = await api.post("/register", json=metadata(redirect_uris=[uri, uri]))
    assert response.status_code == 201, response.text
    assert response.json()["redirect_uris"] == [uri]


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("http://example.com/cb", "https, or http on a loopback host"),
        ("http://127.0.0.2/cb", "https, or http on a loopback host"),
        ("http://127.0.0.1.example.com/cb", "https, or http on a loopback host"),
        ("http://localhost.example.com/cb", "https, or http on a loopback host"),
        ("http://[::2]/cb", "https, or http on a loopback host"),
        ("ftp://127.0.0.1/cb", "https, or http on a loopback host"),
        ("com.example.app:/callback", "https, or http on a loopback host"),
        ("javascript:alert(1)", "https, or http on a loopback host"),
        ("/relative/cb", "https, or http on a loopback host"),
        ("https:///cb", "https, or http on a loopback host"),
        ("http://127.0.0.1/cb#fragment", "no fragment"),
        ("http://user:pw@127.0.0.1/cb", "no user information"),
        ("http://localhost@example.com/cb", "no user information"),
        ("http://127.0.0.1:99999/cb", "malformed"),
        ("http://127.0.0.1:x/cb", "malformed"),
        ("http://[::1/cb", "malformed"),
        ("http://127.0.0.1/c b", "printable ASCII"),
        ("http://127.0.0.1/\u00e9", "printable ASCII"),
        ("", "printable ASCII"),
        (42, "array of strings"),
    ],
)
async def test_refused_redirect_uris(
    api: httpx.AsyncClient, storage: UnifiedStorage, uri: object, says: str
) -> None:
    response = await api.post("/register", json=metadata(redirect_uris=[CALLBACK, uri]))
    error = "invalid_client_metadata" if isinstance(uri, int) else "invalid_redirect_uri"
    assert_refused(response, 400, error, says)
    assert await storage.alist_oauth_clients() == []


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"grant_types": []}, "at least one grant type"),
        ({"grant_types": ["implicit", "refresh_token"]}, "'implicit'"),
        ({"grant_types": ["password"]}, "unsupported grant type 'password'"),
        ({"grant_types": ["client_credentials"]}, "registered by an administrator"),
        ({"grant_types": "refresh_token"}, "grant_types must be an array of strings"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "unsupported token_endpoint_auth"),
        ({"token_endpoint_auth_method": 1}, "unsupported token_endpoint_auth_method"),
        ({"client_name": ""}, "name: String should have at least 1 character"),
        ({"client_name": "x" * 257}, "name: String should have at most 256 characters"),
        ({"client_name": "a\nb"}, "client_name must be a string of printable characters"),
        ({"client_name": ["x"]}, "client_name must be a string of printable characters"),
        ({"scope": 7}, "scope must be a string"),
        ({"scope": 'a "b"'}, "invalid scope"),
        ({"redirect_uris": "http://127.0.0.1/cb"}, "redirect_uris must be an array"),
    ],
)
async def test_refused_metadata(
    api: httpx.AsyncClient, storage: UnifiedStorage, fields: dict[str, Any], says: str
) -> None:
    document = {name: value for name, value in metadata(**fields).items() if value is not None}
    response = await api.post("/register", json=document)
    assert_refused(response, 400, "invalid_client_metadata", says)
    assert await storage.alist_oauth_clients() == []


@pytest.mark.parametrize(
    ("content_type", "body", "says"),
    [
        ("application/x-www-form-urlencoded", b"client_name=x", "must be application/json"),
        (None, b"{}", "must be application/json"),
        ("application/json", b"{", "not well-formed JSON"),
        ("application/json", b"\xff", "not well-formed JSON"),
        ("application/json", b"[" * 8000 + b"]" * 8000, "not well-formed JSON"),
        ("application/json", b"[]", "must be a JSON object"),
        ("application/json", b"null", "must be a JSON object"),
        ("application/json; charset=utf-8", b'{"grant_types": 1}', "array of strings"),
    ],
)
async def test_malformed_bodies(
    api: httpx.AsyncClient, content_type: str | None, body: bytes, says: str
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await api.post("/register", content=body, headers=headers)
    assert_refused(response, 400, "invalid_client_metadata", says)


async def test_body_limit(storage: UnifiedStorage) -> None:
    settings = OAuthSettings(issuer=SETTINGS.issuer, max_registration_bytes=200)
    fits = json.dumps(metadata()).encode()
    too_big = json.dumps(metadata(client_name="x" * 200)).encode()
    assert len(fits) <= 200 < len(too_big)

    async def chunked() -> AsyncIterator[bytes]:
        yield too_big[:150]
        yield too_big[150:]

    async with api_client(storage, settings) as api:
        ok = await api.post("/register", content=fits, headers={"Content-Type": "application/json"})
        assert ok.status_code == 201
        for content in (too_big, chunked()):
            response = await api.post(
                "/register", content=content, headers={"Content-Type": "application/json"}
            )
            assert_refused(response, 413, "invalid_client_metadata", "exceeds 200 bytes")
            assert response.headers["connection"] == "close"
    assert len(await storage.alist_oauth_clients()) == 1


async def test_rate_limit_per_address(storage: UnifiedStorage) -> None:
    settings = OAuthSettings(
        issuer=SETTINGS.issuer,
        registrations_per_address=2,
        registration_window=timedelta(minutes=5),
    )
    async with api_client(storage, settings, "192.0.2.20") as api:
        # Refused attempts count too.
        assert (await api.post("/register", json={"grant_types": []})).status_code == 400
        assert (await api.post("/register", json=metadata())).status_code == 201
        limited = await api.post("/register", json=metadata())
        assert_refused(limited, 429, "temporarily_unavailable", "too many registrations")
        assert 290 < int(limited.headers["retry-after"]) <= 300
    async with api_client(storage, settings, "2001:db8::20") as other:
        assert (await other.post("/register", json=metadata())).status_code == 201
    assert len(await storage.alist_oauth_clients()) == 2


def test_registration_settings() -> None:
    defaults = OAuthSettings(issuer="http://localhost")
    assert (
        defaults.max_registration_bytes,
        defaults.registrations_per_address,
        defaults.registration_window,
    ) == (16 * 1024, 20, timedelta(hours=1))
    assert (16 * 1024, 20, timedelta(hours=1)) == (
        DEFAULT_MAX_REGISTRATION_BYTES,
        DEFAULT_REGISTRATIONS_PER_ADDRESS,
        DEFAULT_REGISTRATION_WINDOW,
    )
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="max_registration_bytes"):
            OAuthSettings(issuer="http://localhost", max_registration_bytes=bad)
        with pytest.raises(ValueError, match="registrations_per_address"):
            OAuthSettings(issuer="http://localhost", registrations_per_address=bad)
    with pytest.raises(ValueError, match="registration_window"):
        OAuthSettings(issuer="http://localhost", registration_window=timedelta(0))


async def test_registered_clients_show_up_in_the_status(
    api: httpx.AsyncClient, storage: UnifiedStorage
) -> None:
    body = (await api.post("/register", json=metadata(token_endpoint_auth_method="none"))).json()
    issued = await storage.aissue_token_pair(body["client_id"], "alice", "", 60, 600)
    status = await api.get(
        "/oauth/status", headers={"Authorization": f"Bearer {issued.access_token}"}
    )
    assert status.json()["clients"] == [
        {
            "client_id": body["client_id"],
            "name": "editor",
            "grant_types": ["refresh_token"],
            "token_endpoint_auth_method": "none",
            "redirect_uris": [CALLBACK],
            "live_access_tokens": 1,
            "live_refresh_tokens": 1,
        }
    ]
