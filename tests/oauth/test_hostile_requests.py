"""The OAuth endpoints against hostile or unlucky input: oversized bodies, other clients'
tokens, corrupt token records. On a real storage, through `httpx.ASGITransport` and over a
real socket to uvicorn."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis
from fastapi import FastAPI
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request

from src.api.identity import TokenIdentity
from src.api.routers.oauth import BearerAuthBackend, OAuthSettings, oauth_router
from src.api.routers.oauth.settings import DEFAULT_MAX_FORM_BYTES
from src.storage import IssuedTokens, RegisteredClient, UnifiedStorage
from tests.integration.conftest import LoopbackServer
from tests.keys_v2 import client_key, token_key

from .test_endpoints import BOTH, SETTINGS, assert_error, form_auth

SMALL = OAuthSettings(issuer=SETTINGS.issuer, max_form_bytes=512)


def oauth_app(storage: UnifiedStorage, settings: OAuthSettings) -> FastAPI:
    app = FastAPI()
    app.include_router(oauth_router(storage, settings))
    return app


@pytest.fixture
async def api(storage: UnifiedStorage) -> AsyncIterator[httpx.AsyncClient]:
    """The OAuth endpoints with a 512-byte body limit."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(oauth_app(storage, SMALL)), base_url="http://api"
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


# The body limit


def test_the_default_limit_is_16_kib() -> None:
    assert DEFAULT_MAX_FORM_BYTES == 16 * 1024
    assert OAuthSettings(issuer="http://localhost").max_form_bytes == DEFAULT_MAX_FORM_BYTES


@pytest.mark.parametrize("limit", [0, -1, True])
def test_the_limit_must_be_positive(limit: int) -> None:
    with pytest.raises(ValueError, match="max_form_bytes"):
        OAuthSettings(issuer="http://localhost", max_form_bytes=limit)


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
async def test_a_body_at_the_limit_is_read_and_one_past_it_is_413(
    api: httpx.AsyncClient, registered: RegisteredClient, path: str
) -> None:
    base = f"grant_type=client_credentials&token=x&client_id={registered.client.client_id}"
    base += f"&client_secret={registered.client_secret}&pad="
    at_limit = (base + "p" * (512 - len(base))).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    accepted = await api.post(path, content=at_limit, headers=headers)
    assert accepted.status_code == 200, accepted.text
    refused = await api.post(path, content=at_limit + b"p", headers=headers)
    assert_error(refused, 413, "invalid_request")
    assert refused.json()["error_description"] == "the request body exceeds 512 bytes"
    assert refused.headers["connection"] == "close"


async def test_a_chunked_body_is_read_only_up_to_the_limit(api: httpx.AsyncClient) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(10_000):  # 10 MB at most, should the limit not hold
            sent += 1
            yield b"a=" + b"x" * 998

    response = await api.post(
        "/token", content=endless(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error(response, 413, "invalid_request")
    # 512 bytes are passed within the first chunk; nothing after it was asked for.
    assert sent == 1


@pytest.fixture
def oauth_server(storage: UnifiedStorage) -> Iterator[LoopbackServer]:
    with LoopbackServer(oauth_app(storage, SETTINGS)).running() as server:
        yield server


def test_an_announced_length_past_the_limit_is_refused_before_the_body(
    oauth_server: LoopbackServer,
) -> None:
    # 100 MB announced, none sent: the answer comes at once, without waiting for the body.
    with socket.create_connection(("127.0.0.1", oauth_server.port), timeout=10) as connection:
        connection.sendall(
            b"POST /token HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100000000\r\n\r\ngrant_type=client"
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large", answer


# Other clients' tokens


async def test_another_client_introspects_only_inactive(
    api: httpx.AsyncClient,
    storage: UnifiedStorage,
    registered: RegisteredClient,
    issued: IssuedTokens,
) -> None:
    other = await storage.aregister_oauth_client("other", BOTH)
    for token in [issued.access_token, issued.refresh_token]:
        theirs = await api.post("/introspect", data={"token": token, **form_auth(other)})
        assert (theirs.status_code, theirs.json()) == (200, {"active": False})
        mine = await api.post("/introspect", data={"token": token, **form_auth(registered)})
        assert mine.json()["active"] is True


async def test_another_client_cannot_revoke(
    api: httpx.AsyncClient,
    storage: UnifiedStorage,
    registered: RegisteredClient,
    issued: IssuedTokens,
) -> None:
    assert issued.refresh_token is not None
    other = await storage.aregister_oauth_client("other", BOTH)
    for token in [issued.refresh_token, issued.access_token]:
        response = await api.post("/revoke", data={"token": token, **form_auth(other)})
        # RFC 7009 §2.2: the same answer as for a revoked token, and nothing done.
        assert (response.status_code, response.content) == (200, b"")
    assert await storage.aget_access_token(issued.access_token) is not None
    assert await storage.aintrospect_token(issued.refresh_token) is not None


# Corrupt token records


def corrupt(raw: redis.Redis, key: str, how: str) -> None:
    raw.delete(key)
    if how == "bad-json":
        raw.set(key, b"{not json")
    elif how == "wrong-shape":
        raw.set(key, b'{"client_id": 7, "scope": []}')
    else:
        raw.hset(key, "client_id", "x")


@pytest.mark.parametrize("how", ["bad-json", "wrong-shape", "wrong-type"])
async def test_a_corrupt_token_record_is_an_invalid_token(
    storage: UnifiedStorage,
    raw: redis.Redis,
    namespace: str,
    registered: RegisteredClient,
    issued: IssuedTokens,
    how: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert issued.refresh_token is not None
    access_key = token_key(namespace, "access", issued.access_token)
    refresh_key = token_key(namespace, "refresh", issued.refresh_token)
    corrupt(raw, access_key, how)
    corrupt(raw, refresh_key, how)
    app = oauth_app(storage, SETTINGS)

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, bool]:
        return {"authenticated": request.user.is_authenticated}

    wrapped = AuthenticationMiddleware(app, backend=BearerAuthBackend(storage))
    auth = form_auth(registered)
    with caplog.at_level(logging.WARNING):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(wrapped), base_url="http://api"
        ) as api:
            bearer = await api.get(
                "/whoami", headers={"Authorization": f"Bearer {issued.access_token}"}
            )
            status = await api.get(
                "/oauth/status", headers={"Authorization": f"Bearer {issued.access_token}"}
            )
            introspected = [
                await api.post("/introspect", data={"token": token, **auth})
                for token in (issued.access_token, issued.refresh_token)
            ]
            revoked = [
                await api.post("/revoke", data={"token": token, **auth})
                for token in (issued.access_token, issued.refresh_token)
            ]
            refreshed = await api.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": issued.refresh_token, **auth},
            )

    assert (bearer.status_code, bearer.json()) == (200, {"authenticated": False})
    assert status.status_code == 401
    assert [(r.status_code, r.json()) for r in introspected] == [(200, {"active": False})] * 2
    assert [(r.status_code, r.content) for r in revoked] == [(200, b"")] * 2
    assert_error(refreshed, 400, "invalid_grant")
    # Left as found, for an operator to look at; logged by key, never by token.
    assert raw.exists(access_key) and raw.exists(refresh_key)
    assert access_key in caplog.text
    for secret in (issued.access_token, issued.refresh_token, registered.client_secret):
        assert secret not in caplog.text


async def test_a_corrupt_client_record_fails_authentication(
    api: httpx.AsyncClient, raw: redis.Redis, namespace: str, registered: RegisteredClient
) -> None:
    raw.set(client_key(namespace, registered.client.client_id), b"[]")
    response = await api.post(
        "/token", data={"grant_type": "client_credentials", **form_auth(registered)}
    )
    assert_error(response, 401, "invalid_client")


def test_the_storage_sees_no_corrupt_token_either(
    storage: UnifiedStorage, raw: redis.Redis, namespace: str, registered: RegisteredClient
) -> None:
    issued = storage.issue_token_pair(registered.client.client_id, "alice", "", 60, 600)
    assert issued.refresh_token is not None
    corrupt(raw, token_key(namespace, "access", issued.access_token), "wrong-type")
    assert storage.get_access_token(issued.access_token) is None
    assert storage.introspect_token(issued.access_token) is None
    assert storage.revoke_token(issued.access_token, registered.client.client_id) is False
    assert asyncio.run(storage.aget_access_token(issued.access_token)) is None


def test_identity_class_is_what_bearer_auth_sets() -> None:
    identity = TokenIdentity(client_id="c1", user=None)
    assert identity.is_authenticated and identity.display_name == "c1"
    assert TokenIdentity(client_id="c1", user="alice").display_name == "alice"
