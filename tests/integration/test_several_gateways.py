"""Several gateway processes on one Redis agree at once: a target changed elsewhere is
served by both within 100 ms, a revocation through one is refused by the other at the next
request, concurrent refreshes of one token across both have exactly one winner, and
processes starting together on an empty Redis write the defaults once, without errors."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from src.embedded_redis import EmbeddedRedis
from src.storage import AUTH_EXCLUDED_PATHS, OAuthGrantType, ProxyTarget, UnifiedStorage
from tests.integration.conftest import LoopbackServer
from tests.test_serve import STOP_LIMIT, environment, free_port, serving, wait_until_healthy

APP = "app.example.com"
COHERENCE_LIMIT = 0.1
"""Seconds within which a change must be served by every gateway (the issue's bound)."""
POLL_LIMIT = 10.0


def named(name: str) -> ASGIApp:
    """An upstream that answers its name."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": name.encode()})

    return app


@pytest.fixture
def gateways(redis_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """The URLs of two `serve` processes on the test's Redis (namespace ""), both healthy."""
    with ExitStack() as stack:
        urls = []
        processes = []
        for index in range(2):
            cwd = tmp_path / f"gateway-{index}"
            cwd.mkdir()
            port = free_port()
            process = stack.enter_context(serving(cwd, environment(redis_url), port))
            client = stack.enter_context(
                httpx.Client(
                    base_url=f"http://127.0.0.1:{port}",
                    headers={"Host": "localhost"},
                    trust_env=False,
                )
            )
            wait_until_healthy(client, process, cwd / "serve.log")
            urls.append(f"http://127.0.0.1:{port}")
            processes.append(process)
        yield urls
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=STOP_LIMIT)


@pytest.fixture
async def shared(redis_url: str, storage_registry: None) -> AsyncIterator[UnifiedStorage]:
    """A storage on the gateways' namespace: a third process, as an operator's tool is."""
    storage = UnifiedStorage(redis_url)
    yield storage
    await storage.adelete_proxy_target(APP)
    await storage.aclose()


async def test_a_changed_target_is_served_by_every_gateway_at_once(
    gateways: list[str], shared: UnifiedStorage
) -> None:
    with (
        LoopbackServer(named("old")).running() as old,
        LoopbackServer(named("new")).running() as new,
    ):
        await shared.astore_proxy_target(ProxyTarget(hostname=APP, target_url=old.url))
        async with httpx.AsyncClient(headers={"Host": APP}, trust_env=False) as client:
            for url in gateways:  # each caches the target
                assert (await client.get(url)).text == "old"
                assert (await client.get(url)).text == "old"
            await shared.aupdate_proxy_target(APP, {"target_url": new.url})
            changed = time.monotonic()
            seen: dict[str, float] = {}
            while len(seen) < len(gateways) and time.monotonic() - changed < POLL_LIMIT:
                for url in gateways:
                    if url not in seen and (await client.get(url)).text == "new":
                        seen[url] = time.monotonic() - changed
            await shared.adelete_proxy_target(APP)
            deleted = [(await client.get(url)).status_code for url in gateways]
    assert sorted(seen) == sorted(gateways)
    assert max(seen.values()) < COHERENCE_LIMIT, seen
    assert deleted == [404, 404]


async def test_a_revocation_through_one_is_refused_by_the_other(
    gateways: list[str], shared: UnifiedStorage
) -> None:
    with LoopbackServer(named("app")).running() as upstream:
        await shared.astore_proxy_target(
            ProxyTarget(hostname=APP, target_url=upstream.url, auth_enabled=True)
        )
        registered = await shared.aregister_oauth_client("cli", [OAuthGrantType.CLIENT_CREDENTIALS])
        credentials = (registered.client.client_id, registered.client_secret)
        first, second = gateways
        async with httpx.AsyncClient(trust_env=False) as client:
            issued = await client.post(
                f"{first}/token",
                data={"grant_type": "client_credentials"},
                auth=credentials,
                headers={"Host": "localhost"},
            )
            bearer = {"Host": APP, "Authorization": f"Bearer {issued.json()['access_token']}"}
            before = await client.get(second, headers=bearer)
            revoked = await client.post(
                f"{first}/revoke",
                data={"token": issued.json()["access_token"]},
                auth=credentials,
                headers={"Host": "localhost"},
            )
            after = await client.get(second, headers=bearer)
    assert (before.status_code, before.text) == (200, "app")
    assert revoked.status_code == 200
    assert after.status_code == 401


async def test_concurrent_refreshes_across_gateways_have_one_winner(
    gateways: list[str], shared: UnifiedStorage
) -> None:
    registered = await shared.aregister_oauth_client("cli", [OAuthGrantType.REFRESH_TOKEN])
    client_id = registered.client.client_id
    issued = await shared.aissue_token_pair(client_id, "alice", "", 60, 600)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": issued.refresh_token,
        "client_id": client_id,
        "client_secret": registered.client_secret,
    }
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(trust_env=False, limits=limits, timeout=30) as client:
        answers = await asyncio.gather(
            *(
                client.post(f"{gateways[n % 2]}/token", data=form, headers={"Host": "localhost"})
                for n in range(20)
            )
        )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * 19, [answer.text for answer in answers]
    losers = {json.loads(answer.text)["error"] for answer in answers if answer.status_code == 400}
    assert losers == {"invalid_grant"}


def test_processes_starting_together_on_an_empty_redis(
    tmp_path: Path, storage_registry: None
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with (
        EmbeddedRedis(tmp_path / "redis", persist=False) as empty,
        serving(tmp_path, environment(empty.url), port, "--workers", "4") as process,
        httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Host": "localhost"}, trust_env=False
        ) as client,
    ):
        wait_until_healthy(client, process, log)
        deadline = time.monotonic() + POLL_LIMIT
        while log.read_text().count("Application startup complete") < 4:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        with UnifiedStorage(empty.url) as storage:
            report = storage.ensure_defaults()
            routes = storage.list_routes()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=STOP_LIMIT)
    output = log.read_text()
    assert code == 0, output
    # Four startups wrote the defaults together: all there, once, nothing to repair.
    assert report.ok, report
    assert len(routes) == len(AUTH_EXCLUDED_PATHS)
    assert "Traceback" not in output and "reconcile:" not in output, output
