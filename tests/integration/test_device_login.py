"""The device authorization grant end to end: `python -m src oauth login` as the process a
user starts, against the gateway served on loopback; the user approves the code it shows
on the verification page (posted with httpx, as a browser would); then the CLI's tokens
work through the proxy. And the refusals: an expired device code, a denied one, polling
too fast, a client that may not use the grant.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from src.storage import OAuthGrantType, UnifiedStorage

from .conftest import Served, served_gateway

ROOT = Path(__file__).resolve().parents[2]
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def gateway_with(
    redis_url: str, storage: UnifiedStorage, settings: dict[str, object]
) -> AsyncIterator[Served]:
    server, issuer, _ = await served_gateway(redis_url, storage, settings)
    await storage.aadd_user("alice", "alice-password")
    with server.running():
        yield Served(issuer)


@pytest.fixture
async def gateway(redis_url: str, storage: UnifiedStorage) -> AsyncIterator[Served]:
    settings: dict[str, object] = {"device_poll_interval": timedelta(seconds=1)}
    async for served in gateway_with(redis_url, storage, settings):
        yield served


@pytest.fixture
async def client_id(storage: UnifiedStorage) -> str:
    client = await storage.aregister_public_oauth_client(
        "terminal", [OAuthGrantType.DEVICE_CODE, OAuthGrantType.REFRESH_TOKEN]
    )
    return client.client_id


async def test_oauth_login_signs_in_by_device_code(
    gateway: Served, client_id: str, storage: UnifiedStorage
) -> None:
    login = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "src", "oauth", "login", "--gateway", gateway.issuer,
        "--client-id", client_id, "--resource", f"{gateway.issuer}/mcp",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"},  # it needs no storage
    )  # fmt: skip
    assert login.stderr is not None
    first = (await asyncio.wait_for(login.stderr.readline(), 30)).decode()
    second = (await asyncio.wait_for(login.stderr.readline(), 5)).decode()
    assert first.startswith(f"To sign in, open {gateway.issuer}/device/verify?user_code=")
    found = re.search(r"enter the code ([A-Z]{4}-[A-Z]{4})", second)
    assert found is not None, second
    async with httpx.AsyncClient(base_url=gateway.issuer) as browser:
        page = await browser.get(f"/device/verify?user_code={found[1]}")
        assert page.status_code == 200 and found[1] in page.text
        wrong = await browser.post(
            "/device/verify",
            data={"user_code": found[1], "username": "alice", "password": "guess"},
        )
        assert wrong.status_code == 401
        approved = await browser.post(
            "/device/verify",
            data={"user_code": found[1], "username": "alice", "password": "alice-password"},
        )
        assert approved.status_code == 200 and "signed in" in approved.text
        stdout, stderr = await asyncio.wait_for(login.communicate(), 30)
        assert login.returncode == 0, stderr
        tokens = httpx.Response(200, content=stdout).json()
        status = await browser.get(
            "/oauth/status", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
    assert status.status_code == 200
    record = await storage.aget_access_token(tokens["access_token"])
    assert record is not None and (record.user, record.audience) == ("alice", "localhost")
    assert "alice-password" not in stderr.decode() + stdout.decode()


@pytest.fixture
async def short_lived(redis_url: str, storage: UnifiedStorage) -> AsyncIterator[Served]:
    settings: dict[str, object] = {
        "device_code_ttl": timedelta(milliseconds=400),
        "device_poll_interval": timedelta(milliseconds=100),
    }
    async for served in gateway_with(redis_url, storage, settings):
        yield served


async def test_an_expired_device_code_is_refused(short_lived: Served, client_id: str) -> None:
    async with httpx.AsyncClient(base_url=short_lived.issuer) as http:
        started = (await http.post("/device/authorize", data={"client_id": client_id})).json()
        assert (started["expires_in"], started["interval"]) == (1, 1)
        await asyncio.sleep(0.5)
        late = await http.post(
            "/device/verify",
            data={"user_code": started["user_code"], "username": "alice",
                  "password": "alice-password"},
        )  # fmt: skip
        assert late.status_code == 400 and "unknown, expired or used" in late.text
        polled = await http.post(
            "/token",
            data={"grant_type": DEVICE_GRANT, "device_code": started["device_code"],
                  "client_id": client_id},
        )  # fmt: skip
    assert (polled.status_code, polled.json()["error"]) == (400, "expired_token")


async def test_denied_too_fast_and_unauthorized(
    gateway: Served, client_id: str, storage: UnifiedStorage
) -> None:
    code_only = await storage.aregister_public_oauth_client(
        "web", [OAuthGrantType.AUTHORIZATION_CODE], ["http://127.0.0.1:1/cb"]
    )
    async with httpx.AsyncClient(base_url=gateway.issuer) as http:
        refused = await http.post("/device/authorize", data={"client_id": code_only.client_id})
        assert (refused.status_code, refused.json()["error"]) == (400, "unauthorized_client")
        started = (await http.post("/device/authorize", data={"client_id": client_id})).json()
        poll = {"grant_type": DEVICE_GRANT, "device_code": started["device_code"],
                "client_id": client_id}  # fmt: skip
        pending = await http.post("/token", data=poll)
        assert pending.json()["error"] == "authorization_pending"
        fast = await http.post("/token", data=poll)
        assert fast.json()["error"] == "slow_down"
        other_site = await http.post(
            "/device/verify",
            data={"user_code": started["user_code"], "username": "alice",
                  "password": "alice-password", "action": "approve"},
            headers={"Origin": "https://attacker.example"},
        )  # fmt: skip
        assert other_site.status_code == 400
        denied = await http.post(
            "/device/verify",
            data={"user_code": started["user_code"], "username": "alice",
                  "password": "alice-password", "action": "deny"},
        )  # fmt: skip
        assert denied.status_code == 200 and "Denied" in denied.text
        await asyncio.sleep(1.1)
        answer = await http.post("/token", data=poll)
    assert (answer.status_code, answer.json()["error"]) == (400, "access_denied")
