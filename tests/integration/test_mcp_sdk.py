"""Real MCP clients sign in: the official MCP Python SDK (`mcp`) against the gateway as
`serve` assembles it (`build_gateway(...).proxy`), served by uvicorn on loopback and
addressed as `localhost`, whose OAuth issuer is `http://localhost:<port>`.

- `OAuthClientProvider` starts from the server URL alone: it follows the 401 to the
  protected-resource metadata and the authorization server's metadata, registers itself
  (a public client), runs the authorization code flow with PKCE (its redirect handler
  signs in by posting the sign-in form with httpx, as a browser would), lists and calls
  the tools, and refreshes once its short-lived access token expires.
- `ClientCredentialsOAuthProvider` starts from a client id, a secret and the issuer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from src.storage import OAuthGrantType, UnifiedStorage

from .conftest import Served, served_gateway
from .sign_in import sign_in

TOOLS = {"list_proxies", "list_routes", "list_certificates", "list_ports", "get_port_owner"}
CALLBACK = "http://127.0.0.1:33418/callback"


@pytest.fixture
async def gateway(redis_url: str, storage: UnifiedStorage) -> AsyncIterator[Served]:
    server, issuer, _ = await served_gateway(redis_url, storage, {})
    with server.running():
        yield Served(issuer)


class MemoryTokens:
    """The SDK's `TokenStorage`, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class SdkClient:
    """The SDK's client-credentials provider for a fresh client, and what it requested."""

    client_id: str
    provider: ClientCredentialsOAuthProvider
    tokens: MemoryTokens
    seen: list[tuple[str, str, int]]

    def http(self) -> httpx2.AsyncClient:
        async def record(response: httpx2.Response) -> None:
            request = response.request
            self.seen.append((request.method, request.url.path, response.status_code))

        return httpx2.AsyncClient(auth=self.provider, event_hooks={"response": [record]})


@pytest.fixture
async def sdk(gateway: Served, storage: UnifiedStorage) -> SdkClient:
    registered = await storage.aregister_oauth_client("sdk", [OAuthGrantType.CLIENT_CREDENTIALS])
    tokens = MemoryTokens()
    provider = ClientCredentialsOAuthProvider(
        server_url=f"{gateway.issuer}/mcp",
        storage=tokens,
        client_id=registered.client.client_id,
        client_secret=registered.client_secret,
        issuer=gateway.issuer,
    )
    return SdkClient(registered.client.client_id, provider, tokens, [])


async def test_client_credentials_provider_signs_in(
    gateway: Served, sdk: SdkClient, storage: UnifiedStorage
) -> None:
    async with (
        sdk.http() as http,
        streamable_http_client(f"{gateway.issuer}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        initialized = await session.initialize()
        listed = await session.list_tools()
        called = await session.call_tool("list_proxies", {})

    assert initialized.server_info.name
    assert {tool.name for tool in listed.tools} == TOOLS
    assert not called.is_error
    assert "localhost" in json.dumps(called.model_dump(mode="json"))
    # The way in: refused, the resource's metadata named by the challenge, the
    # authorization server's metadata, a token, and the request again.
    assert sdk.seen[:5] == [
        ("POST", "/mcp", 401),
        ("GET", "/.well-known/oauth-protected-resource", 200),
        ("GET", "/.well-known/oauth-authorization-server", 200),
        ("POST", "/token", 200),
        ("POST", "/mcp", 200),
    ]
    assert sdk.tokens.tokens is not None
    record = await storage.aget_access_token(sdk.tokens.tokens.access_token)
    assert record is not None and (record.client_id, record.user) == (sdk.client_id, None)


async def test_the_401_and_the_metadata_over_http(gateway: Served) -> None:
    async with httpx.AsyncClient(base_url=gateway.issuer) as http:
        refused = await http.post("/mcp", json={})
        resource = await http.get("/.well-known/oauth-protected-resource/mcp")
        server = await http.get("/.well-known/oauth-authorization-server")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{gateway.issuer}/.well-known/oauth-protected-resource"'
    )
    assert resource.json() == {
        "resource": f"{gateway.issuer}/mcp",
        "authorization_servers": [gateway.issuer],
        "bearer_methods_supported": ["header"],
    }
    assert server.json()["registration_endpoint"] == f"{gateway.issuer}/register"
    assert server.json()["authorization_endpoint"] == f"{gateway.issuer}/authorize"
    assert server.json()["code_challenge_methods_supported"] == ["S256"]


async def test_registration_over_http(redis_url: str, storage: UnifiedStorage) -> None:
    server, issuer, _ = await served_gateway(
        redis_url, storage, {"max_registration_bytes": 1024, "registrations_per_address": 4}
    )
    wanted = {
        "client_name": "editor",
        "grant_types": ["refresh_token"],
        "redirect_uris": [CALLBACK],
    }
    with server.running():
        async with httpx.AsyncClient(base_url=issuer) as http:
            bad_uri = await http.post(
                "/register", json={**wanted, "redirect_uris": ["http://example.com/cb"]}
            )
            oversized = await http.post("/register", json={**wanted, "client_name": "x" * 2000})
            public = await http.post(
                "/register", json={**wanted, "token_endpoint_auth_method": "none"}
            )
            body = public.json()
            # The first tokens come from an administrator for now (`oauth login`); the
            # public client refreshes them by its id alone.
            issued = await storage.aissue_token_pair(body["client_id"], "alice", "", 60, 600)
            refreshed = await http.post(
                "/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": issued.refresh_token,
                    "client_id": body["client_id"],
                },
            )
            access = refreshed.json()["access_token"]
            status = await http.get("/oauth/status", headers={"Authorization": f"Bearer {access}"})
            fourth = await http.post("/register", json=wanted)
            limited = await http.post("/register", json=wanted)

    assert (bad_uri.status_code, bad_uri.json()["error"]) == (400, "invalid_redirect_uri")
    assert (oversized.status_code, oversized.json()["error"]) == (413, "invalid_client_metadata")
    assert public.status_code == 201 and "client_secret" not in body
    assert refreshed.status_code == 200
    listed = {client["client_id"]: client for client in status.json()["clients"]}
    assert listed[body["client_id"]]["token_endpoint_auth_method"] == "none"
    assert fourth.status_code == 201
    assert (limited.status_code, limited.json()["error"]) == (429, "temporarily_unavailable")
    assert int(limited.headers["retry-after"]) > 0
    assert len(await storage.alist_oauth_clients()) == 2


class BrowserSignIn:
    """The SDK's redirect and callback handlers: the redirect handler signs in at the
    page (posting its form with httpx, cookies kept as a browser keeps them), and the
    callback handler hands the SDK what the redirect to the client carried."""

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self._result: AuthorizationCodeResult | None = None
        self.authorization_urls: list[str] = []

    async def redirect(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        async with httpx.AsyncClient() as browser:
            redirect = await sign_in(browser, authorization_url, self._username, self._password)
        assert redirect.location.startswith(f"{CALLBACK}?")
        self._result = AuthorizationCodeResult.model_validate(redirect.parameters)

    async def callback(self) -> AuthorizationCodeResult:
        assert self._result is not None
        return self._result


async def test_oauth_client_provider_signs_in_with_pkce_and_refreshes(
    redis_url: str, storage: UnifiedStorage
) -> None:
    access_ttl = timedelta(seconds=2)
    server, issuer, _ = await served_gateway(redis_url, storage, {"access_token_ttl": access_ttl})
    await storage.aadd_user("alice", "wonderland")
    tokens = MemoryTokens()
    browser = BrowserSignIn("alice", "wonderland")
    provider = OAuthClientProvider(
        server_url=f"{issuer}/mcp",
        client_metadata=OAuthClientMetadata.model_validate(
            {
                "client_name": "sdk editor",
                "redirect_uris": [CALLBACK],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }
        ),
        storage=tokens,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
    )
    seen: list[tuple[str, str, int]] = []

    async def record(response: httpx2.Response) -> None:
        seen.append((response.request.method, response.request.url.path, response.status_code))

    with server.running():
        async with (
            httpx2.AsyncClient(auth=provider, event_hooks={"response": [record]}) as http,
            streamable_http_client(f"{issuer}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            listed = await session.list_tools()
            called = await session.call_tool("list_proxies", {})
            assert tokens.tokens is not None
            first = tokens.tokens
            # Past the access token's life: the SDK refreshes before its next request.
            await asyncio.sleep(access_ttl.total_seconds() + 1)
            called_again = await session.call_tool("list_routes", {})

    assert {tool.name for tool in listed.tools} == TOOLS
    assert not called.is_error and not called_again.is_error
    assert "localhost" in json.dumps(called.model_dump(mode="json"))
    # Discovery from the 401, registration, the code exchanged, then the MCP requests.
    assert seen[:6] == [
        ("POST", "/mcp", 401),
        ("GET", "/.well-known/oauth-protected-resource", 200),
        ("GET", "/.well-known/oauth-authorization-server", 200),
        ("POST", "/register", 201),
        ("POST", "/token", 200),
        ("POST", "/mcp", 200),
    ]
    assert ("POST", "/token", 200) in seen[6:]  # the refresh
    assert tokens.client_info is not None and tokens.tokens is not None
    client = await storage.aget_oauth_client(tokens.client_info.client_id)
    assert client is not None and client.is_public and client.name == "sdk editor"
    # The SDK asked for the resource it was pointed at, with S256.
    [authorization_url] = browser.authorization_urls
    assert "code_challenge_method=S256" in authorization_url
    assert "resource=" in authorization_url
    assert tokens.tokens.access_token != first.access_token
    assert await storage.aget_access_token(first.access_token) is None  # expired
    record_now = await storage.aget_access_token(tokens.tokens.access_token)
    assert record_now is not None
    assert (record_now.user, record_now.audience) == ("alice", "localhost")
