"""The gateway's original bug, end to end: refreshing an expired access token through the
`localhost` proxy target must not need a valid access token.

The proxy serves the API in-process on the `localhost` host, as `serve` does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from src.api.routers.oauth import issue_token, register_client
from src.storage import API_URL, AUTH_EXCLUDED_PATHS, ProxyTarget, UnifiedStorage

EXPIRED_AFTER = timedelta(milliseconds=50)


async def register_and_log_in(storage: UnifiedStorage) -> tuple[str, str, dict[str, Any]]:
    """A client's id and secret, and the token response of alice's login to it, with an
    access token that has already expired. The commands block: they run in a thread, as
    at any boundary between async code and a blocking component."""
    output = await asyncio.to_thread(
        register_client, storage, name="cli", grant_types=["refresh_token"]
    )
    match = re.fullmatch(r"client_id: (\S+)\nclient_secret: (\S+)\n.*", output)
    assert match is not None
    client_id, secret = match[1], match[2]
    tokens = json.loads(
        await asyncio.to_thread(
            issue_token, storage, client_id=client_id, user="alice", access_ttl=EXPIRED_AFTER
        )
    )
    await asyncio.sleep(2 * EXPIRED_AFTER.total_seconds())
    return client_id, secret, tokens


async def refresh_without_a_valid_token(storage: UnifiedStorage, proxy: httpx.AsyncClient) -> None:
    """The whole story: expired token refused, refreshed through the proxy while still
    attached, the new pair used, the old refresh token's reuse revoking the family."""
    client_id, secret, tokens = await register_and_log_in(storage)
    expired = {"Authorization": f"Bearer {tokens['access_token']}"}

    refused = await proxy.get("/oauth/status", headers=expired)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == (
        'Bearer error="invalid_token", '
        'resource_metadata="http://localhost/.well-known/oauth-protected-resource"'
    )

    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": client_id,
        "client_secret": secret,
    }
    refreshed = await proxy.post("/token", data=refresh, headers=expired)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.headers["cache-control"] == "no-store"
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["expires_in"] == 300

    fresh = {"Authorization": f"Bearer {new['access_token']}"}
    status = await proxy.get("/oauth/status", headers=fresh)
    assert status.status_code == 200, status.text
    assert status.json()["clients"][0]["client_id"] == client_id
    assert status.json()["clients"][0]["live_access_tokens"] == 1

    reused = await proxy.post("/token", data=refresh, headers=expired)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    for secret_value in [secret, tokens["refresh_token"], new["access_token"]]:
        assert secret_value not in reused.text
    assert (await proxy.get("/oauth/status", headers=fresh)).status_code == 401
    stale = {**refresh, "refresh_token": new["refresh_token"]}
    assert (await proxy.post("/token", data=stale)).json()["error"] == "invalid_grant"


async def test_refresh_without_a_circular_dependency(
    storage: UnifiedStorage, proxy: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await refresh_without_a_valid_token(storage, proxy)
    # No secret reached any log.
    assert caplog.messages
    assert "Bearer" not in caplog.text and "client_secret" not in caplog.text


async def test_startup_repairs_the_record_the_second_storage_left(
    storage: UnifiedStorage, proxy: httpx.AsyncClient
) -> None:
    # What the second storage instance of the original bug wrote: no auth exclusions.
    broken = ProxyTarget(hostname="localhost", target_url=API_URL, auth_enabled=True)
    await storage.astore_proxy_target(broken)
    repaired = await storage.aget_proxy_target("localhost")
    assert repaired is not None
    assert repaired.auth_excluded_paths == list(AUTH_EXCLUDED_PATHS)
    await refresh_without_a_valid_token(storage, proxy)


async def test_a_record_broken_at_run_time_heals_at_the_next_request(
    storage: UnifiedStorage, proxy: httpx.AsyncClient
) -> None:
    # The broken record written after startup's initialisation, as in the original bug:
    # the proxy's lookup of `localhost` finds it and writes the exclusions again.
    broken = ProxyTarget(
        hostname="localhost", target_url=API_URL, auth_enabled=True, custom_headers={"X-A": "1"}
    )
    await storage.astore_proxy_target(broken)
    await refresh_without_a_valid_token(storage, proxy)
    repaired = await storage.aget_proxy_target("localhost")
    assert repaired is not None and repaired.custom_headers == {"X-A": "1"}
    assert repaired.auth_excluded_paths == list(AUTH_EXCLUDED_PATHS)
