"""The authorization code grant over real HTTP: the gateway served on loopback (its own
host `localhost`), two protected targets `a.test` and `b.test` in front of one loopback
backend, the sign-in page driven as a browser would drive it (httpx, cookies kept).

What must be refused is refused: a PKCE mismatch, a reused code (its tokens revoked), a
wrong or unregistered redirect URI (an error page, never a redirect), a token for `a.test`
at `b.test`, a user the target does not admit, a form posted from another browser, and
sign-ins past the failure limits.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from src.api.routers.oauth import OAuthSettings
from src.storage import OAuthGrantType, ProxyTarget, UnifiedStorage

from .conftest import LoopbackServer, served_gateway
from .sign_in import post_form, redirect_of, request_token, sign_in

CALLBACK = "http://127.0.0.1:33418/callback"


async def backend_app(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"backend saw {request.headers.get('host')}")


@pytest.fixture
def backend() -> Iterator[LoopbackServer]:
    server = LoopbackServer(Starlette(routes=[Route("/", backend_app)]))
    with server.running():
        yield server


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Flow:
    issuer: str
    client_id: str
    browser: httpx.AsyncClient
    storage: UnifiedStorage

    def authorization_url(self, **overrides: str | None) -> str:
        parameters: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": CALLBACK,
            "state": "the-state",
            "code_challenge_method": "S256",
            "resource": "http://a.test/",
        }
        parameters.update(overrides)
        present = {name: value for name, value in parameters.items() if value is not None}
        return f"{self.issuer}/authorize?{urlencode(present)}"

    async def code(self, challenge: str, user: str = "alice", **overrides: str | None) -> str:
        url = self.authorization_url(code_challenge=challenge, **overrides)
        redirect = await sign_in(self.browser, url, user, f"{user}-password")
        assert redirect.location.startswith(f"{CALLBACK}?")
        assert redirect.parameters["state"] == "the-state"
        assert redirect.parameters["iss"] == self.issuer
        return redirect.parameters["code"]

    async def exchange(self, code: str, verifier: str, **overrides: str) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": CALLBACK,
            "client_id": self.client_id,
            **overrides,
        }
        return await self.browser.post(f"{self.issuer}/token", data=form)

    async def at(self, host: str, token: str) -> httpx.Response:
        return await self.browser.get(
            f"{self.issuer}/", headers={"Host": host, "Authorization": f"Bearer {token}"}
        )


async def _flow(
    redis_url: str, storage: UnifiedStorage, backend: LoopbackServer, settings: dict[str, object]
) -> AsyncIterator[Flow]:
    server, issuer, _ = await served_gateway(redis_url, storage, settings)
    for host in ("a.test", "b.test"):
        await storage.astore_proxy_target(
            ProxyTarget(hostname=host, target_url=backend.url, auth_enabled=True)
        )
    client = await storage.aregister_public_oauth_client(
        "<b>Editor</b> & co",
        [OAuthGrantType.AUTHORIZATION_CODE, OAuthGrantType.REFRESH_TOKEN],
        [CALLBACK],
    )
    for user in ("alice", "bob"):
        await storage.aadd_user(user, f"{user}-password")
    with server.running():
        async with httpx.AsyncClient() as browser:
            yield Flow(issuer, client.client_id, browser, storage)


@pytest.fixture
async def flow(
    redis_url: str, storage: UnifiedStorage, backend: LoopbackServer
) -> AsyncIterator[Flow]:
    async for made in _flow(redis_url, storage, backend, {}):
        yield made


async def test_the_page_shows_client_and_resource_escaped(flow: Flow) -> None:
    _, challenge = pkce()
    page = await flow.browser.get(flow.authorization_url(code_challenge=challenge))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "&lt;b&gt;Editor&lt;/b&gt; &amp; co" in page.text and "<b>Editor" not in page.text
    assert "<code>http://a.test/</code>" in page.text
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert "<script" not in page.text
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/authorize" in cookie


async def test_a_token_for_a_works_at_a_only(flow: Flow) -> None:
    verifier, challenge = pkce()
    code = await flow.code(challenge)
    exchanged = await flow.exchange(code, verifier)
    assert exchanged.status_code == 200, exchanged.text
    tokens = exchanged.json()
    at_a = await flow.at("a.test", tokens["access_token"])
    assert (at_a.status_code, at_a.text.startswith("backend saw")) == (200, True)
    at_b = await flow.at("b.test", tokens["access_token"])
    assert at_b.status_code == 401
    assert at_b.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    # The refreshed token keeps the audience.
    refreshed = await flow.browser.post(
        f"{flow.issuer}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": flow.client_id,
        },
    )
    assert refreshed.status_code == 200
    assert (await flow.at("b.test", refreshed.json()["access_token"])).status_code == 401
    assert (await flow.at("a.test", refreshed.json()["access_token"])).status_code == 200
    # A refresh may name the grant's resource, never another one.
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": refreshed.json()["refresh_token"],
        "client_id": flow.client_id,
    }
    for other in ("http://b.test/", "http://nowhere.test/"):
        elsewhere = await flow.browser.post(
            f"{flow.issuer}/token", data={**refresh, "resource": other}
        )
        assert (elsewhere.status_code, elsewhere.json()["error"]) == (400, "invalid_target")
    same = await flow.browser.post(
        f"{flow.issuer}/token", data={**refresh, "resource": "http://a.test/mcp"}
    )
    assert same.status_code == 200, same.text


async def test_a_reused_code_is_refused_and_revokes_its_tokens(flow: Flow) -> None:
    verifier, challenge = pkce()
    code = await flow.code(challenge)
    tokens = (await flow.exchange(code, verifier)).json()
    assert (await flow.at("a.test", tokens["access_token"])).status_code == 200
    again = await flow.exchange(code, verifier)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    assert code not in again.text
    assert (await flow.at("a.test", tokens["access_token"])).status_code == 401
    assert await flow.storage.aintrospect_token(tokens["refresh_token"]) is None


async def test_a_pkce_mismatch_is_refused(flow: Flow) -> None:
    _, challenge = pkce()
    code = await flow.code(challenge)
    other_verifier, _ = pkce()
    refused = await flow.exchange(code, other_verifier)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    assert "code_verifier" in refused.json()["error_description"]
    assert await flow.storage.alist_user_tokens("alice") == []


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"resource": "http://nowhere.test/"}, "invalid_target"),
        ({"resource": "not a url"}, "invalid_target"),
        ({"scope": "admin"}, "invalid_scope"),
        (
            {"resource": "http://a.test/", "extra": "&resource=http%3A%2F%2Fb.test%2F"},
            "invalid_request",
        ),
    ],
)
async def test_errors_go_back_to_the_redirect_uri(
    flow: Flow, overrides: dict[str, str | None], error: str
) -> None:
    _, challenge = pkce()
    overrides = dict(overrides)
    extra = overrides.pop("extra", None) or ""
    url = flow.authorization_url(**{"code_challenge": challenge, **overrides}) + extra
    redirect = redirect_of(await flow.browser.get(url))
    assert redirect.location.startswith(f"{CALLBACK}?")
    assert redirect.parameters["error"] == error
    assert redirect.parameters["state"] == "the-state"
    assert "code" not in redirect.parameters


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "http://127.0.0.1:33418/other"},
        {"redirect_uri": CALLBACK + "/"},
        {"redirect_uri": "https://attacker.example/callback"},
        {"client_id": "unknown-client"},
        {"client_id": None},
        {"client_id": "../*"},
    ],
)
async def test_an_unknown_client_or_redirect_uri_gets_an_error_page(
    flow: Flow, overrides: dict[str, str | None]
) -> None:
    _, challenge = pkce()
    page = await flow.browser.get(flow.authorization_url(code_challenge=challenge, **overrides))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")
    assert "Sign-in failed" in page.text


async def test_the_token_endpoint_wants_the_same_redirect_uri(flow: Flow) -> None:
    verifier, challenge = pkce()
    code = await flow.code(challenge)
    refused = await flow.exchange(code, verifier, redirect_uri="http://127.0.0.1:33418/other")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


async def test_a_resource_at_the_token_endpoint_must_be_the_codes(flow: Flow) -> None:
    verifier, challenge = pkce()
    code = await flow.code(challenge)
    refused = await flow.exchange(code, verifier, resource="http://b.test/")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_target")
    # Checked before the exchange: the code still works with the right resource.
    assert (await flow.exchange(code, verifier, resource="http://a.test/")).status_code == 200


async def test_a_user_the_target_does_not_admit_gets_403(flow: Flow) -> None:
    await flow.storage.aupdate_proxy_target("a.test", {"allowed_users": ["bob"]})
    await flow.storage.aupdate_proxy_target("b.test", {"required_scopes": ["mcp"]})
    verifier, challenge = pkce()
    alice = (await flow.exchange(await flow.code(challenge), verifier)).json()
    refused = await flow.at("a.test", alice["access_token"])
    assert refused.status_code == 403
    assert refused.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    verifier, challenge = pkce()
    bob = (await flow.exchange(await flow.code(challenge, "bob"), verifier)).json()
    assert (await flow.at("a.test", bob["access_token"])).status_code == 200
    # b.test needs the scope `mcp`, which no token here has.
    verifier, challenge = pkce()
    code = await flow.code(challenge, "bob", resource="http://b.test/")
    scoped = await flow.at("b.test", (await flow.exchange(code, verifier)).json()["access_token"])
    assert scoped.status_code == 403
    assert scoped.headers["www-authenticate"].startswith(
        'Bearer error="insufficient_scope", scope="mcp"'
    )


async def test_a_form_from_another_browser_is_refused(flow: Flow) -> None:
    _, challenge = pkce()
    page = await flow.browser.get(flow.authorization_url(code_challenge=challenge))
    async with httpx.AsyncClient() as other_browser:
        refused = await post_form(other_browser, page, "alice", "alice-password")
    assert refused.status_code == 400 and "location" not in refused.headers
    assert "not opened in this browser" in refused.text
    # A made-up token is refused too.
    forged = await flow.browser.post(
        f"{flow.issuer}/authorize",
        data={"request": "x" * 43, "username": "alice", "password": "alice-password"},
    )
    assert forged.status_code == 400 and "location" not in forged.headers
    # The page still works in its own browser, once.
    assert redirect_of(await post_form(flow.browser, page, "alice", "alice-password"))
    again = await post_form(flow.browser, page, "alice", "alice-password")
    assert again.status_code == 400 and "location" not in again.headers


async def test_deny_goes_back_with_access_denied(flow: Flow) -> None:
    _, challenge = pkce()
    page = await flow.browser.get(flow.authorization_url(code_challenge=challenge))
    redirect = redirect_of(await post_form(flow.browser, page, "", "", action="deny"))
    assert redirect.parameters["error"] == "access_denied"
    assert redirect.parameters["state"] == "the-state"


async def test_a_wrong_password_shows_the_page_again(flow: Flow) -> None:
    _, challenge = pkce()
    page = await flow.browser.get(flow.authorization_url(code_challenge=challenge))
    wrong = await post_form(flow.browser, page, "alice", "guess")
    assert wrong.status_code == 401
    assert "Wrong user name or password." in wrong.text and "guess" not in wrong.text
    assert request_token(wrong) == request_token(page)
    assert redirect_of(await post_form(flow.browser, wrong, "alice", "alice-password"))


@pytest.fixture
async def limited(
    redis_url: str, storage: UnifiedStorage, backend: LoopbackServer
) -> AsyncIterator[Flow]:
    settings: dict[str, object] = {
        "sign_in_failures_per_user": 2,
        "sign_in_failures_per_address": 3,
    }
    async for made in _flow(redis_url, storage, backend, settings):
        yield made


async def test_sign_ins_past_the_failure_limits_get_429(limited: Flow) -> None:
    _, challenge = pkce()
    page = await limited.browser.get(limited.authorization_url(code_challenge=challenge))
    for _ in range(2):
        assert (await post_form(limited.browser, page, "alice", "guess")).status_code == 401
    # alice is paused, even with her password; bob is not, yet.
    paused = await post_form(limited.browser, page, "alice", "alice-password")
    assert paused.status_code == 429
    assert "Too many attempts" in paused.text and int(paused.headers["retry-after"]) > 0
    assert (await post_form(limited.browser, page, "bob", "guess")).status_code == 401
    # Three failures from this address: nobody signs in from it any more.
    blocked = await post_form(limited.browser, page, "bob", "bob-password")
    assert blocked.status_code == 429
    assert await limited.storage.alist_user_tokens("bob") == []


async def test_dynamic_registration_of_a_code_client(flow: Flow) -> None:
    registered = await flow.browser.post(
        f"{flow.issuer}/register",
        json={"client_name": "native", "redirect_uris": [CALLBACK],
              "token_endpoint_auth_method": "none"},
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["grant_types"] == ["authorization_code"]  # the RFC 7591 default
    assert body["response_types"] == ["code"]
    no_uri = await flow.browser.post(
        f"{flow.issuer}/register", json={"grant_types": ["authorization_code"]}
    )
    assert (no_uri.status_code, no_uri.json()["error"]) == (400, "invalid_redirect_uri")
    confidential = await flow.browser.post(
        f"{flow.issuer}/register",
        json={"redirect_uris": ["https://app.example/cb"], "grant_types": ["authorization_code"]},
    )
    assert confidential.status_code == 201 and "client_secret" in confidential.json()


def test_sign_in_settings_have_their_documented_defaults_and_are_checked() -> None:
    defaults = OAuthSettings(issuer="http://localhost")
    assert (
        defaults.authorization_code_ttl,
        defaults.authorization_request_ttl,
        defaults.sign_in_failures_per_user,
        defaults.sign_in_failures_per_address,
        defaults.sign_in_failure_window,
    ) == (timedelta(seconds=60), timedelta(minutes=10), 5, 20, timedelta(minutes=15))
    for name in ("sign_in_failures_per_user", "sign_in_failures_per_address"):
        for bad in (0, -1, True):
            with pytest.raises(ValueError, match=name):
                OAuthSettings(issuer="http://localhost", **{name: bad})  # type: ignore[arg-type]
    for name in ("authorization_code_ttl", "authorization_request_ttl", "sign_in_failure_window"):
        with pytest.raises(ValueError, match=name):
            OAuthSettings(issuer="http://localhost", **{name: timedelta(0)})  # type: ignore[arg-type]


@pytest.fixture
async def short_lived(
    redis_url: str, storage: UnifiedStorage, backend: LoopbackServer
) -> AsyncIterator[Flow]:
    settings: dict[str, object] = {
        "authorization_code_ttl": timedelta(milliseconds=300),
        "authorization_request_ttl": timedelta(milliseconds=300),
    }
    async for made in _flow(redis_url, storage, backend, settings):
        yield made


async def test_pages_and_codes_expire_after_their_ttls(short_lived: Flow) -> None:
    _, challenge = pkce()
    page = await short_lived.browser.get(short_lived.authorization_url(code_challenge=challenge))
    await asyncio.sleep(0.5)
    expired = await post_form(short_lived.browser, page, "alice", "alice-password")
    assert expired.status_code == 400 and "location" not in expired.headers
    assert "expired" in expired.text

    verifier, challenge = pkce()
    code = await short_lived.code(challenge)
    await asyncio.sleep(0.5)
    refused = await short_lived.exchange(code, verifier)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
