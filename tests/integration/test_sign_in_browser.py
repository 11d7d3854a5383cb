"""The sign-in page in a real headless Chromium: Debian's `chromium` (`/usr/bin/chromium`,
which `.ci/run` installs), driven by `playwright` with that executable (never a browser
playwright downloads). It opens the authorization URL, signs in and allows, and must land
on the client's redirect URI with a code; a screenshot of the page is saved under the
test's tmp dir. Without a Chromium the test is skipped, saying why.

The client's redirect URI is a loopback server of the test's own, as a native MCP client
listens on one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from src.storage import OAuthGrantType, UnifiedStorage

from .conftest import LoopbackServer, served_gateway

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def chromium_or_skip() -> str:
    found = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if found is None:
        pytest.skip(
            f"no Chromium at {CHROMIUM} or on PATH: install Debian's chromium package "
            "(.ci/run does) to run the sign-in page in a real browser"
        )
    return found


async def callback(request: Request) -> PlainTextResponse:
    return PlainTextResponse("signed in; you may close this window")


@pytest.fixture
def client_callback() -> Iterator[LoopbackServer]:
    server = LoopbackServer(Starlette(routes=[Route("/callback", callback)]))
    with server.running():
        yield server


async def test_sign_in_and_consent_in_chromium(
    redis_url: str,
    storage: UnifiedStorage,
    client_callback: LoopbackServer,
    tmp_path: Path,
) -> None:
    executable = chromium_or_skip()
    from playwright.async_api import async_playwright

    redirect_uri = f"{client_callback.url}/callback"
    server, issuer, _ = await served_gateway(redis_url, storage, {})
    client = await storage.aregister_public_oauth_client(
        "Browser test", [OAuthGrantType.AUTHORIZATION_CODE], [redirect_uri]
    )
    await storage.aadd_user("alice", "through the looking glass")
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "state": "browser-state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": f"{issuer}/mcp",
        }
    )
    screenshot = tmp_path / "sign-in.png"
    with server.running():
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=executable, headless=True, args=["--no-sandbox"]
            )
            try:
                page = await browser.new_page()
                await page.goto(f"{issuer}/authorize?{query}")
                assert "Browser test" in await page.inner_text("body")
                assert f"{issuer}/mcp" in await page.inner_text("body")
                await page.fill("#username", "alice")
                await page.fill("#password", "through the looking glass")
                await page.screenshot(path=str(screenshot), full_page=True)
                async with page.expect_navigation(url=f"{redirect_uri}?**"):
                    await page.click("button[value=approve]")
                landed = page.url
                assert "signed in" in await page.inner_text("body")
            finally:
                await browser.close()

    assert landed.startswith(f"{redirect_uri}?")
    parameters = parse_qs(urlsplit(landed).query)
    assert parameters["state"] == ["browser-state"]
    assert parameters["iss"] == [issuer]
    [code] = parameters["code"]
    issued = await storage.aredeem_authorization_code(
        code, client.client_id, redirect_uri, verifier, 60, 600
    )
    assert (issued.access.user, issued.access.audience) == ("alice", "localhost")
    assert screenshot.stat().st_size > 1000
